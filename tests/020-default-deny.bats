#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# What an attached interface lets in without any rule: ARP, DHCP replies,
# SSH to its own addresses, packets of the host's own sockets. Everything
# else is dropped and counted by reason.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "a listening tcp port reachable before attach is silently dropped after, counted as no_rule" {
	tcp_server "$NS_R" srv --port 8080 --bind "$R_IP"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "^local=$R_IP:8080 peer=$C_IP:[0-9]+$"
	attach_router
	local before
	before=$(iface_counter vr dropped.no_rule.packets)
	# exit 2: timeout, no RST came back either
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	wait_counter vr dropped.no_rule.packets $((before + 1))
	# the server never saw a second connection
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/srv.log")" -eq 1 ]
}

@test "a udp datagram to a listening but unlisted port is dropped and counted as no_rule" {
	udp_server "$NS_R" srv --port 5000 --bind "$R_IP"
	run -0 udp_client "$NS_C" --connect "$R_IP:5000"
	attach_router
	local before
	before=$(iface_counter vr dropped.no_rule.packets)
	run -2 udp_client "$NS_C" --connect "$R_IP:5000" --timeout 1
	wait_counter vr dropped.no_rule.packets $((before + 1))
	run -0 iface_counter vr dropped.no_rule.packets
	assert_output $((before + 1))
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/srv.log")" -eq 1 ]
}

@test "arp requests from the peer are answered while attached and counted as arp" {
	attach_router
	run -0 timeout 10 ip -n "$NS_C" neigh flush dev vc
	local before
	before=$(iface_counter vr passed.arp.packets)
	run -0 timeout 10 ip netns exec "$NS_C" arping -c 1 -w 3 -i vc "$R_IP"
	assert_output --partial "1 packets received"
	wait_counter vr passed.arp.packets $((before + 1))
	# and ordinary neighbour resolution works: the peer learns the MAC
	run -0 timeout 10 ip -n "$NS_C" neigh flush dev vc
	run -2 udp_client "$NS_C" --connect "$R_IP:5000" --timeout 1
	run -0 timeout 10 ip -n "$NS_C" neigh show "$R_IP" dev vc
	assert_output --partial "$(mac_of "$NS_R" vr)"
}

@test "tcp to port 22 on the interface's own address passes right after attach, with no rule" {
	tcp_server "$NS_R" ssh --port 22
	run -0 splicer attach vr
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	assert_output --regexp "^local=$R_IP:22 peer=$C_IP:[0-9]+$"
	run -0 rule_count
	assert_output 0
	run -0 iface_counter vr passed.ssh.packets
	[ "$output" -ge 1 ]
}

@test "tcp to port 22 on another local address of the router is dropped" {
	tcp_server "$NS_R" ssh --port 22
	# reachable through vr before attach: the router's stack would answer
	run -0 tcp_client "$NS_C" --connect "$X_IP:22"
	assert_output --regexp "^local=$X_IP:22 "
	attach_router
	local before
	before=$(iface_counter vr dropped.no_rule.packets)
	run -2 tcp_client "$NS_C" --connect "$X_IP:22" --timeout 1
	wait_counter vr dropped.no_rule.packets $((before + 1))
	# while the interface's own address still works
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
}

@test "udp from port 67 to port 68 (dhcp replies) passes, from other source ports to 68 it is dropped" {
	udp_server "$NS_R" dhcp --port 68 --port 69 --bind "$R_IP"
	attach_router
	run -0 udp_client "$NS_C" --src "$C_IP:67" --connect "$R_IP:68"
	assert_output --regexp "^local=$R_IP:68 peer=$C_IP:67$"
	run -0 iface_counter vr passed.dhcp.packets
	assert_output 1
	run -2 udp_client "$NS_C" --src "$C_IP:66" --connect "$R_IP:68" --timeout 1
	run -2 udp_client "$NS_C" --src "$C_IP:67" --connect "$R_IP:69" --timeout 1
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/dhcp.log")" -eq 1 ]
}

@test "the router's own outgoing tcp connection to the peer works while attached" {
	tcp_server "$NS_C" peer --port 8081 --bind "$C_IP"
	attach_router
	run -0 tcp_client "$NS_R" --connect "$C_IP:8081"
	assert_output --regexp "^local=$C_IP:8081 peer=$R_IP:[0-9]+$"
	run -0 iface_counter vr passed.established.packets
	[ "$output" -ge 1 ]
	# while the peer cannot open one the other way
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
}

@test "the router's connected udp exchange with the peer works while attached" {
	udp_server "$NS_C" peer --port 5353 --bind "$C_IP"
	attach_router
	local before
	before=$(iface_counter vr passed.established.packets)
	run -0 udp_client "$NS_R" --connect "$C_IP:5353" --count 3
	[ "${#lines[@]}" -eq 3 ]
	assert_line --index 0 --regexp "^local=$C_IP:5353 peer=$R_IP:[0-9]+$"
	wait_counter vr passed.established.packets $((before + 3))
	run -0 iface_counter vr passed.established.packets
	assert_output $((before + 3))
}

@test "answers to the router's unconnected udp socket are dropped" {
	udp_server "$NS_C" peer --port 5353 --bind "$C_IP"
	# works without splicer
	run -0 udp_client "$NS_R" --connect "$C_IP:5353" --unconnected
	attach_router
	local before
	before=$(iface_counter vr dropped.no_rule.packets)
	run -2 udp_client "$NS_R" --connect "$C_IP:5353" --unconnected --timeout 1
	# the peer did answer, the answer was dropped on vr
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/peer.log")" -eq 2 ]
	wait_counter vr dropped.no_rule.packets $((before + 1))
}

@test "ipv6 from the peer is dropped once attached and counted as not_ip" {
	run -0 in_r sysctl -q -w net.ipv6.conf.vr.disable_ipv6=0
	run -0 in_c sysctl -q -w net.ipv6.conf.vc.disable_ipv6=0
	run -0 timeout 10 ip -n "$NS_R" addr add fd99::1/64 dev vr nodad
	run -0 timeout 10 ip -n "$NS_C" addr add fd99::2/64 dev vc nodad
	wait_for "in_c ping -6 -c 1 -W 1 fd99::1 >/dev/null"
	attach_router
	local before
	before=$(iface_counter vr dropped.not_ip.packets)
	run -1 in_c ping -6 -c 1 -W 1 fd99::1
	wait_counter vr dropped.not_ip.packets $((before + 1))
	# IPv4 to the same interface is still subject to the rules, not this
	run -0 iface_counter vr dropped.no_rule.packets
	assert_output 0
}

@test "frames of another ethertype are dropped and counted as not_ip" {
	attach_router
	local mac before
	mac=$(mac_of "$NS_R" vr)
	before=$(iface_counter vr dropped.not_ip.packets)
	run -0 in_c "$PY" "$PROBE" raw-frame --dev vc --dst-mac "$mac" \
		--ethertype 0x88b5 --count 3
	wait_counter vr dropped.not_ip.packets $((before + 3))
	run -0 iface_counter vr dropped.not_ip.packets
	assert_output $((before + 3))
}

@test "a truncated ipv4 header is dropped and counted as malformed" {
	attach_router
	local mac before
	mac=$(mac_of "$NS_R" vr)
	before=$(iface_counter vr dropped.malformed.packets)
	# 10 bytes of an IPv4 header: version 4, IHL 5, then nothing
	run -0 in_c "$PY" "$PROBE" raw-frame --dev vc --dst-mac "$mac" \
		--ethertype 0x0800 --payload-hex 4500001c000040004011
	wait_counter vr dropped.malformed.packets $((before + 1))
	run -0 iface_counter vr dropped.malformed.packets
	assert_output $((before + 1))
}

@test "a fragmented udp datagram to a pass rule is delivered whole; to a redirect it is dropped as fragment" {
	udp_server "$NS_R" srv --port 5000 --bind "$R_IP" --silent
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	# 3000 bytes leave the peer as 3 fragments (MTU 1500): the first is
	# judged by the rule, the rest follow it, the kernel reassembles
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --size 3000 --fragment --no-wait
	wait_for "grep -q 'len=3000' '$BATS_TEST_TMPDIR/srv.log'"
	run -0 iface_counter vr passed.rule_pass.packets
	assert_output 3
	run -0 iface_counter vr dropped.fragment.packets
	assert_output 0
	# reassembly after tc would lose the socket assignment: a fragmented
	# datagram cannot be redirected, and its fragments are dropped
	run -0 splicer add "$VNET" proto udp port 53 redirect 5000 route
	run -0 udp_client "$NS_C" --connect "$VIP:53" --size 3000 --fragment --no-wait
	wait_counter vr dropped.fragment.packets 3
	run -0 iface_counter vr redirected.packets
	assert_output 0
}
