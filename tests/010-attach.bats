#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# attach / detach: the clsact qdisc and bpf filter, as the kernel shows them
# and as splicer reports them; pinned state across detach; --purge.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# The kernel's view of splicer's filter on vr ingress.
assert_splicer_filter() {
	run -0 tc -n "$NS_R" qdisc show dev vr
	assert_output --partial "qdisc clsact"
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_output --partial "bpf"
	assert_output --partial "direct-action"
	assert_output --regexp "pref 1 .*handle 0x5c1"
	# exactly one splicer filter
	[ "$(grep -c 'handle 0x5c1' <<<"$output")" -eq 1 ]
}

refute_splicer_filter() {
	run -0 tc -n "$NS_R" filter show dev vr ingress
	refute_output --partial "handle 0x5c1"
}

@test "attach creates a clsact qdisc and a direct-action bpf filter (handle 0x5c1, pref 1) on ingress" {
	run -0 tc -n "$NS_R" qdisc show dev vr
	refute_output --partial clsact
	run -0 --separate-stderr splicer attach vr
	assert_splicer_filter
	# splicer's own view
	run -0 --separate-stderr splicer -j stats
	run -0 jq -ec '.interfaces[] | select(.name == "vr") | .attached' <<<"$output"
	assert_output true
}

@test "stats -j shows the attached interface with its ifindex, addresses and loopback false" {
	attach_router
	local ifindex
	ifindex=$(ip -n "$NS_R" -j link show dev vr | jq -r '.[0].ifindex')
	run -0 --separate-stderr splicer -j stats
	local js=$output
	run -0 jq -ec '.schema' <<<"$js"
	assert_output 2
	run -0 jq -ec '.interfaces[] | select(.name == "vr") | [.ifindex, .loopback, .attached, .addresses]' <<<"$js"
	assert_output "[$ifindex,false,true,[\"$R_IP\"]]"
	# only the interface that was attached
	run -0 jq -ec '[.interfaces[] | select(.attached) | .name]' <<<"$js"
	assert_output '["vr"]'
}

@test "detach removes the filter and the clsact qdisc it created and lets traffic through again" {
	tcp_server "$NS_R" srv --port 8080 --bind "$R_IP"
	attach_router
	assert_splicer_filter
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -0 --separate-stderr splicer detach vr
	refute_splicer_filter
	run -0 tc -n "$NS_R" qdisc show dev vr
	refute_output --partial clsact
	# nothing filters vr any more
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP:[0-9]+$"
}

@test "re-attach after detach restores the pinned rules" {
	tcp_server "$NS_R" srv --port 8080 --port 8081 --bind "$R_IP"
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 splicer detach vr
	refute_splicer_filter
	# the rules stay pinned while detached
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output pass
	run -0 splicer attach vr
	assert_splicer_filter
	# same policy as before: the rule's port is open, the rest denied
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 "
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
}

@test "detach keeps a clsact qdisc and a foreign filter that existed before attach" {
	run -0 tc -n "$NS_R" qdisc add dev vr clsact
	# a classic-BPF filter that never matches (the only classifier this
	# kernel may have is cls_bpf)
	run -0 tc -n "$NS_R" filter add dev vr ingress pref 10 handle 0x77 \
		protocol all bpf bytecode '1,6 0 0 0,'
	attach_router
	assert_splicer_filter
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_output --partial "handle 0x77"
	run -0 splicer detach vr
	refute_splicer_filter
	run -0 tc -n "$NS_R" qdisc show dev vr
	assert_output --partial "qdisc clsact"
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_output --regexp "pref 10 .*handle 0x77"
}

@test "detach keeps a clsact qdisc that existed before attach" {
	run -0 tc -n "$NS_R" qdisc add dev vr clsact
	attach_router
	assert_splicer_filter
	run -0 splicer detach vr
	refute_splicer_filter
	run -0 tc -n "$NS_R" qdisc show dev vr
	assert_output --partial "qdisc clsact"
}

@test "a second attach succeeds, keeps one filter and the rules, and refreshes the address list" {
	tcp_server "$NS_R" ssh --port 22
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 tc -n "$NS_R" filter show dev vr ingress
	local before=$output
	run -0 timeout 10 ip -n "$NS_R" addr add 10.99.0.5/24 dev vr
	run -0 --separate-stderr splicer attach vr
	assert_splicer_filter
	# same filter, same program
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_equal "$output" "$before"
	run -0 rule_count
	assert_output 1
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output pass
	# the new address is the interface's now: listed and open for ssh
	run -0 --separate-stderr splicer -j stats
	run -0 jq -ec '.interfaces[] | select(.name == "vr") | .addresses | sort' <<<"$output"
	assert_output '["10.99.0.1","10.99.0.5"]'
	run -0 tcp_client "$NS_C" --connect 10.99.0.5:22
	assert_output --regexp "^local=10.99.0.5:22 "
}

@test "detach --purge on the last interface removes the pin root" {
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	[ -d "$PIN" ]
	run -0 --separate-stderr splicer detach vr --purge
	[ ! -e "$PIN" ]
	refute_splicer_filter
	run -0 tc -n "$NS_R" qdisc show dev vr
	refute_output --partial clsact
	run -3 --separate-stderr splicer list
	assert_error "not attached (no maps under $PIN"
}

@test "detach --purge keeps the pin root while another interface is attached" {
	attach_router
	run -0 splicer attach xr
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 --separate-stderr splicer detach xr --purge
	[ -d "$PIN" ]
	assert_splicer_filter
	run -0 tc -n "$NS_R" filter show dev xr ingress
	refute_output --partial "handle 0x5c1"
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output pass
	run -0 splicer detach vr --purge
	[ ! -e "$PIN" ]
}

@test "attach of lo in the namespace reports a loopback interface" {
	run -0 splicer attach lo
	run -0 tc -n "$NS_R" filter show dev lo ingress
	assert_output --partial "handle 0x5c1"
	run -0 --separate-stderr splicer -j stats
	run -0 jq -ec '.interfaces[] | select(.name == "lo") | [.loopback, .attached]' <<<"$output"
	assert_output '[true,true]'
}

@test "icmp-echo on|off is kept per interface and a plain re-attach leaves it" {
	attach_router
	run -0 iface_counter vr icmp_echo
	assert_output false
	run -0 splicer attach vr icmp-echo on
	run -0 iface_counter vr icmp_echo
	assert_output true
	run -0 splicer attach vr
	run -0 iface_counter vr icmp_echo
	assert_output true
	run -0 splicer attach vr icmp-echo off
	run -0 iface_counter vr icmp_echo
	assert_output false
}

# A second link between the namespaces with a fixed ifindex, made again
# after it is deleted: tr (router, or the name given) and tc (client),
# 10.98.0.0/24.
make_tr() {
	local name=${1:-tr}
	timeout 10 ip -n "$NS_R" link add "$name" index 4242 type veth peer name tc netns "$NS_C" || return 1
	timeout 10 ip -n "$NS_R" addr add 10.98.0.1/24 dev "$name" || return 1
	timeout 10 ip -n "$NS_C" addr add 10.98.0.2/24 dev tc || return 1
	timeout 10 ip -n "$NS_R" link set "$name" up || return 1
	timeout 10 ip -n "$NS_C" link set tc up || return 1
	wait_for link_up "$NS_R" "$name"
}

@test "an interface made again with the same ifindex starts from the defaults" {
	attach_router
	make_tr
	run -0 splicer attach tr icmp-echo on
	run -0 in_c ping -c 1 -W 2 10.98.0.1
	timeout 10 ip -n "$NS_R" link del tr
	make_tr
	run -0 --separate-stderr splicer attach tr
	assert_output "attached to tr (ifindex 4242)"
	run -0 iface_counter tr icmp_echo
	assert_output false
	run -1 in_c ping -c 1 -W 1 10.98.0.1
	run -0 iface_counter tr dropped.no_rule.packets
	[ "$output" -ge 1 ] || fail "the ping was not dropped as no_rule: $output"
}

@test "a dev rule of a deleted interface does not apply to the next one given its ifindex" {
	attach_router
	make_tr
	run -0 splicer attach tr
	run -0 splicer add 10.98.0.1 proto tcp port 8080 pass dev tr
	tcp_server "$NS_R" web --port 8080 --bind 10.98.0.1
	run -0 tcp_client "$NS_C" --connect 10.98.0.1:8080
	stop_bg web
	timeout 10 ip -n "$NS_R" link del tr
	make_tr ts
	tcp_server "$NS_R" web --port 8080 --bind 10.98.0.1
	run -0 --separate-stderr splicer attach ts
	assert_output "attached to ts (ifindex 4242)"
	run -2 tcp_client "$NS_C" --connect 10.98.0.1:8080 --timeout 1
	run -0 iface_counter ts dropped.no_rule.packets
	[ "$output" -ge 1 ] || fail "the syn was not dropped as no_rule: $output"
	# The rule waits for its own interface, and says so.
	run -0 --separate-stderr splicer list
	assert_output --regexp "8080 +if4242 +pass"
	run -0 --separate-stderr splicer save
	assert_output "# add 10.98.0.1/32 proto tcp port 8080 pass dev if4242  # interface 4242 is gone"
	# del names it as save does.
	run -0 splicer del 10.98.0.1 proto tcp port 8080 dev if4242
	run -0 --separate-stderr splicer save
	assert_output ""
}

@test "300 short-lived interfaces attached in turn: the slots of those gone are reused" {
	attach_router
	# not i: bats' run uses a variable of that name
	local k
	for k in $(seq 1 300); do
		timeout 10 ip -n "$NS_R" link add "d$k" type veth peer name "e$k" || fail "link d$k"
		run -0 --separate-stderr splicer attach "d$k"
		timeout 10 ip -n "$NS_R" link del "d$k" || fail "del d$k"
	done
	run -0 --separate-stderr splicer -j stats
	[ "$(jq '.interfaces | length' <<<"$output")" -le 2 ] ||
		fail "gone interfaces kept: $(jq -c '[.interfaces[].name]' <<<"$output")"
}
