#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Rules: pass, drop, port ranges, source prefixes, interface scope, the
# precedence among overlapping rules, replacing and deleting rules.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# Listeners on 127.0.0.1:9001-9004 that name themselves in the answer.
start_listeners() {
	tcp_server "$NS_R" listeners --bind 127.0.0.1 --tag \
		--port 9001 --port 9002 --port 9003 --port 9004
}

# lands SRC DST:PORT N: a connection from SRC to DST:PORT reaches 127.0.0.1:N
lands() {
	run -0 tcp_client "$NS_C" --src "$1" --connect "$2"
	assert_output --regexp "^local=$2 peer=$1:[0-9]+ listener=127.0.0.1:$3$"
}

@test "a pass rule opens exactly its protocol, address and port" {
	tcp_server "$NS_R" tcp --port 8080 --port 8081
	udp_server "$NS_R" udp --port 8080 --bind "$R_IP"
	attach_router
	run -0 --separate-stderr splicer add "$R_IP" proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP:[0-9]+$"
	run -0 iface_counter vr passed.rule_pass.packets
	[ "$output" -ge 1 ]
	run -0 rule_field 'is_dst("10.99.0.1/32")' packets
	[ "$output" -ge 1 ]
	# another port, another protocol, another address of the router
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
	run -2 udp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -2 tcp_client "$NS_C" --connect "$X_IP:8080" --timeout 1
}

@test "a drop rule for a longer prefix beats a pass rule, and del brings the pass back" {
	udp_server "$NS_R" udp --port 5000 --bind "$R_IP"
	attach_router
	run -0 splicer add 10.99.0.0/24 proto udp port 5000 pass
	run -0 udp_client "$NS_C" --connect "$R_IP:5000"
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	run -2 udp_client "$NS_C" --connect "$R_IP:5000" --timeout 1
	wait_counter vr dropped.rule_drop.packets 1
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output drop
	run -0 splicer del "$R_IP" proto udp port 5000
	run -0 udp_client "$NS_C" --connect "$R_IP:5000"
	assert_output --regexp "^local=$R_IP:5000 "
}

@test "a port range admits both edges and the inside, nothing outside" {
	udp_server "$NS_R" udp --bind "$R_IP" \
		--port 6999 --port 7000 --port 7005 --port 7010 --port 7011
	attach_router
	run -0 splicer add "$R_IP" proto udp port 7000-7010 pass
	run -0 rule_field 'is_dst("10.99.0.1/32")' '"\(.port_low)-\(.port_high)"'
	assert_output 7000-7010
	local p
	for p in 7000 7005 7010; do
		run -0 udp_client "$NS_C" --connect "$R_IP:$p"
		assert_output --regexp "^local=$R_IP:$p "
	done
	run -2 udp_client "$NS_C" --connect "$R_IP:6999" --timeout 1
	run -2 udp_client "$NS_C" --connect "$R_IP:7011" --timeout 1
}

@test "the longest destination prefix wins over a rule with a longer source prefix" {
	start_listeners
	attach_router
	run -0 splicer add 172.16.240.10 proto tcp port 80 redirect 9002 route
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 from "$C_IP" route
	lands "$C_IP" "$VIP:80" 9002
	lands "$C_IP" 172.16.240.11:80 9001
}

@test "among rules for the same destination the longest source prefix wins" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9003 from "$C_IP2"
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9002 from 10.99.0.0/24
	lands "$C_IP" "$VIP:80" 9002
	lands "$C_IP2" "$VIP:80" 9003
	run -0 splicer del "$VNET" proto tcp port 80 from "$C_IP2"
	lands "$C_IP2" "$VIP:80" 9002
	run -0 splicer del "$VNET" proto tcp port 80 from 10.99.0.0/24
	lands "$C_IP2" "$VIP:80" 9001
}

@test "a longer source prefix wins over a narrower port range" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 85 redirect 9002 route
	run -0 splicer add "$VNET" proto tcp port 80-90 redirect 9001 from "$C_IP"
	lands "$C_IP" "$VIP:85" 9001
	lands "$C_IP2" "$VIP:85" 9002
	lands "$C_IP" "$VIP:86" 9001
	run -2 tcp_client "$NS_C" --src "$C_IP2" --connect "$VIP:86" --timeout 1
}

@test "among rules with equal prefixes the narrowest port range wins" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 85 redirect 9003 route
	run -0 splicer add "$VNET" proto tcp port 80-90 redirect 9001
	run -0 splicer add "$VNET" proto tcp port 84-86 redirect 9002
	lands "$C_IP" "$VIP:85" 9003
	lands "$C_IP" "$VIP:84" 9002
	lands "$C_IP" "$VIP:86" 9002
	lands "$C_IP" "$VIP:80" 9001
	lands "$C_IP" "$VIP:88" 9001
	lands "$C_IP" "$VIP:90" 9001
}

@test "among overlapping ranges of equal width the lower low port wins" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 85-94 redirect 9002 route
	run -0 splicer add "$VNET" proto tcp port 80-89 redirect 9001
	lands "$C_IP" "$VIP:87" 9001
	lands "$C_IP" "$VIP:82" 9001
	lands "$C_IP" "$VIP:92" 9002
	# the other way round: the lower range added first
	run -0 splicer del "$VNET" proto tcp port 80-89
	run -0 splicer add "$VNET" proto tcp port 75-84 redirect 9003
	lands "$C_IP" "$VIP:84" 9003
	lands "$C_IP" "$VIP:85" 9002
}

@test "an interface-scoped rule beats an unscoped one that ties, but not a longer prefix" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9002 dev vr
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9003 dev xr
	lands "$C_IP" "$VIP:80" 9002
	run -0 splicer add 172.16.240.10 proto tcp port 80 redirect 9004
	lands "$C_IP" "$VIP:80" 9004
	lands "$C_IP" 172.16.240.11:80 9002
	run -0 rule_field '.dev == "vr"' to
	assert_output 127.0.0.1:9002
	# without the vr rule the unscoped one applies, never the xr one
	run -0 splicer del "$VNET" proto tcp port 80 dev vr
	lands "$C_IP" 172.16.240.11:80 9001
}

@test "a rule scoped to another interface does not apply to traffic arriving on vr" {
	tcp_server "$NS_R" tcp --port 8080 --bind "$R_IP"
	attach_router
	run -0 splicer add 0.0.0.0/0 proto tcp port 8080 pass dev xr
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -0 splicer add 0.0.0.0/0 proto tcp port 8080 pass dev vr
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 splicer -j list
	run -0 jq -ec '[.rules[] | .dev] | sort' <<<"$output"
	assert_output '["vr","xr"]'
}

@test "a from rule admits only its source" {
	tcp_server "$NS_R" tcp --port 8080 --bind "$R_IP"
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass from "$C_IP2"
	run -0 rule_field 'is_dst("10.99.0.1/32")' src
	[[ $output == "$C_IP2/32" || $output == "$C_IP2" ]]
	run -0 tcp_client "$NS_C" --src "$C_IP2" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP2:[0-9]+$"
	local before
	before=$(iface_counter vr dropped.no_rule.packets)
	run -2 tcp_client "$NS_C" --src "$C_IP" --connect "$R_IP:8080" --timeout 1
	wait_counter vr dropped.no_rule.packets $((before + 1))
}

@test "a second add with the same match replaces the action instead of adding a rule" {
	udp_server "$NS_R" udp --port 5000 --bind "$R_IP"
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	run -0 udp_client "$NS_C" --connect "$R_IP:5000"
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	run -0 rule_count
	assert_output 1
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output drop
	run -2 udp_client "$NS_C" --connect "$R_IP:5000" --timeout 1
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	run -0 rule_count
	assert_output 1
	run -0 udp_client "$NS_C" --connect "$R_IP:5000"
	# a different match (here: a source) is a second rule
	run -0 splicer add "$R_IP" proto udp port 5000 drop from "$C_IP2"
	run -0 rule_count
	assert_output 2
	run -2 udp_client "$NS_C" --src "$C_IP2" --connect "$R_IP:5000" --timeout 1
	run -0 udp_client "$NS_C" --src "$C_IP" --connect "$R_IP:5000"
}

@test "del stops the flow, removes the rule and the route it added" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	run -0 splicer_routes
	assert_output --partial "$VNET"
	run -0 --separate-stderr splicer del "$VNET" proto tcp port 80
	run -0 rule_count
	assert_output 0
	run -0 splicer_routes
	refute_output --partial "$VNET"
	run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
	run -3 --separate-stderr splicer del "$VNET" proto tcp port 80
	assert_error "no such rule"
}

@test "the local route stays while another rule that asked for it remains" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add "$VNET" proto udp port 53 redirect 9953 route
	run -0 splicer add "$VNET" proto tcp port 81 redirect 9999
	run -0 splicer_routes
	[ "$(grep -c "$VNET" <<<"$output")" -eq 1 ]
	run -0 splicer del "$VNET" proto tcp port 80
	run -0 splicer_routes
	assert_output --partial "$VNET"
	run -0 tcp_client "$NS_C" --connect "$VIP:81"
	assert_output --regexp "^local=$VIP:81 "
	# the last rule that asked for it goes: so does the route, although a
	# rule without route for the prefix remains
	run -0 splicer del "$VNET" proto udp port 53
	run -0 splicer_routes
	refute_output --partial "$VNET"
	run -0 rule_count
	assert_output 1
	run -2 tcp_client "$NS_C" --connect "$VIP:81" --timeout 1
}

@test "del needs the whole match: from, dev and the port range pick the rule" {
	start_listeners
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9002 from "$C_IP2"
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9003 dev vr
	run -3 --separate-stderr splicer del "$VNET" proto tcp port 80-81
	assert_error "no such rule"
	run -3 --separate-stderr splicer del "$VNET" proto udp port 80
	assert_error "no such rule"
	run -3 --separate-stderr splicer del "$VNET" proto tcp port 80 from "$C_IP"
	assert_error "no such rule"
	run -0 rule_count
	assert_output 3
	run -0 splicer del "$VNET" proto tcp port 80 from "$C_IP2"
	run -0 splicer del "$VNET" proto tcp port 80 dev vr
	run -0 rule_count
	assert_output 1
	lands "$C_IP2" "$VIP:80" 9001
}

@test "route over an equal local route already there: the rule is added and works" {
	start_listeners
	attach_router
	# a route another program (a router) added itself
	timeout 10 ip -n "$NS_R" route add local 172.16.240.0/24 dev lo table local
	run -0 --separate-stderr splicer add "$VNET" proto tcp port 80 redirect 9001 route
	[ -z "$stderr" ] || fail "stderr: $stderr"
	[ "$(rule_count)" -eq 1 ]
	lands "$C_IP" "$VIP:80" 9001
	# the kernel's own local route for an interface address
	run -0 --separate-stderr splicer add "$R_IP" proto tcp port 81 redirect 9002 route
	lands "$C_IP" "$R_IP:81" 9002
	# neither route is splicer's: deleting the rules leaves both
	run -0 splicer del "$VNET" proto tcp port 80
	run -0 splicer del "$R_IP" proto tcp port 81
	run -0 timeout 10 ip -n "$NS_R" route show table local 172.16.240.0/24
	assert_output --partial "local 172.16.240.0/24 dev lo"
	run -0 splicer_routes
	assert_output ""
}
