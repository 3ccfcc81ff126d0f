#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# redirect: new flows steered to a local listening socket (bpf_sk_assign),
# the original destination kept as the socket's local address.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "tcp redirect delivers a curl fetch of 172.16.240.10:80 to the listener on 127.0.0.1:9999" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --http
	attach_router
	run -0 --separate-stderr splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 in_c curl -sS --max-time 5 "http://$VIP/"
	# the listener's accepted socket has the original destination as its
	# local address
	assert_output --regexp "^local=$VIP:80 peer=$C_IP:[0-9]+$"
	run -0 iface_counter vr redirected.packets
	[ "$output" -ge 1 ]
	run -0 rule_field "is_dst(\"$VNET\")" to
	assert_output "127.0.0.1:9999"
}

@test "route adds a local route for the prefix on lo with protocol 158 in table local" {
	attach_router
	run -0 splicer_routes
	assert_output ""
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 timeout 10 ip -n "$NS_R" -j route show table local
	run -0 jq -ec --arg d "$VNET" \
		'[.[] | select(.dst == $d) | {type, dev, protocol, scope}]' <<<"$output"
	assert_output '[{"type":"local","dev":"lo","protocol":"158","scope":"host"}]'
	run -0 rule_field "is_dst(\"$VNET\")" route
	assert_output true
	# a rule without route adds none
	run -0 splicer add 172.16.241.0/24 proto tcp port 80 redirect 9999
	run -0 splicer_routes
	refute_output --partial 172.16.241.0
	run -0 rule_field 'is_dst("172.16.241.0/24")' route
	assert_output false
}

@test "without the local route a redirect for a non-local prefix does not reach the listener" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999
	run -0 splicer_routes
	assert_output ""
	run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
	# the same rule works once the prefix is local
	run -0 timeout 10 ip -n "$NS_R" route add local "$VNET" dev lo
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "^local=$VIP:80 "
}

@test "a redirect for one of the router's own addresses needs no route" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 redirect 9999
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP:[0-9]+$"
}

@test "udp redirect reaches a transparent listener that answers from the original destination" {
	udp_tproxy_server "$NS_R" dns --port 9953
	attach_router
	run -0 splicer add "$VNET" proto udp port 53 redirect 9953 route
	# a connected client only accepts the answer from 172.16.240.10:53
	run -0 udp_client "$NS_C" --connect "$VIP:53"
	assert_output --regexp "^orig=$VIP:53 peer=$C_IP:[0-9]+$"
	run -0 udp_client "$NS_C" --connect 172.16.240.77:53 --src "$C_IP2"
	assert_output --regexp "^orig=172.16.240.77:53 peer=$C_IP2:[0-9]+$"
	# and socat, a client that knows nothing about splicer
	run -0 bash -c "echo hi | timeout 5 ip netns exec '$NS_C' socat -t 1 -T 3 - UDP:$VIP:53"
	assert_output --regexp "^orig=$VIP:53 "
}

@test "redirect IPV4:PORT steers to a listener on another local address" {
	tcp_server "$NS_R" other --port 7777 --bind "$X_IP" --tag
	tcp_server "$NS_R" lo9999 --port 7777 --bind 127.0.0.1 --tag
	attach_router
	run -0 splicer add "$VNET" proto tcp port 81 redirect "$X_IP:7777" route
	run -0 rule_field "is_dst(\"$VNET\")" to
	assert_output "$X_IP:7777"
	run -0 tcp_client "$NS_C" --connect "$VIP:81"
	assert_output --regexp "^local=$VIP:81 peer=$C_IP:[0-9]+ listener=$X_IP:7777$"
}

@test "a redirect without a listener drops the flow and counts no_listener" {
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9998 route
	run -0 splicer add "$VNET" proto udp port 53 redirect 9998 route
	local before
	before=$(iface_counter vr dropped.no_listener.packets)
	# dropped, not reset: the client hears nothing
	run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
	wait_counter vr dropped.no_listener.packets $((before + 1))
	before=$(iface_counter vr dropped.no_listener.packets)
	run -0 udp_client "$NS_C" --connect "$VIP:53" --count 4 --no-wait
	wait_counter vr dropped.no_listener.packets $((before + 4))
	run -0 iface_counter vr dropped.no_listener.packets
	assert_output $((before + 4))
	run -0 iface_counter vr redirected.packets
	assert_output 0
}

@test "a client reusing its 4-tuple while the server side is in TIME_WAIT reaches the listener again" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 tcp_client "$NS_C" --src "$C_IP:40000" --reuseaddr --connect "$VIP:80"
	assert_output "local=$VIP:80 peer=$C_IP:40000"
	# the server closed first: the router holds a TIME_WAIT socket for the
	# 4-tuple, the client has nothing left
	wait_for "in_r ss -Htan state time-wait | grep -q '$VIP:80 *$C_IP:40000'"
	wait_for "! in_c ss -Htan | grep -q ':40000 '"
	run -0 tcp_client "$NS_C" --src "$C_IP:40000" --reuseaddr --connect "$VIP:80"
	assert_output "local=$VIP:80 peer=$C_IP:40000"
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/web.log")" -eq 2 ]
}

@test "on lo only redirects apply and all other loopback traffic passes" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" plain --port 8000 --bind 127.0.0.1 --tag
	run -0 splicer attach lo
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add 127.0.0.1 proto tcp port 8000 drop
	# a connection of the router to the redirected prefix goes over lo
	run -0 tcp_client "$NS_R" --connect "$VIP:80"
	assert_output --regexp "^local=$VIP:80 peer=[0-9.]+:[0-9]+ listener=127.0.0.1:9999$"
	# the drop rule does not apply on lo; no rule is needed either
	run -0 tcp_client "$NS_R" --connect 127.0.0.1:8000
	assert_output --regexp "^local=127.0.0.1:8000 .* listener=127.0.0.1:8000$"
	run -0 iface_counter lo passed.loopback.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter lo redirected.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter lo dropped.rule_drop.packets
	assert_output 0
}
