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

@test "ipv6 to an unlisted port is dropped and counted as no_rule in the ipv6 counters, not the ipv4 ones" {
	enable_ipv6
	tcp_server "$NS_R" srv --port 8080 --bind "::"
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:8080"
	attach_router
	# forgotten neighbours: the client must solicit the router again
	run -0 timeout 10 ip -n "$NS_C" -6 neigh flush dev vc
	local before
	before=$(iface_counter vr ipv6.dropped.no_rule.packets)
	# exit 2: timeout, no RST came back either
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --timeout 1
	wait_counter vr ipv6.dropped.no_rule.packets $((before + 1))
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/srv.log")" -eq 1 ]
	# neighbour discovery kept working, as nd; IPv4 saw none of it
	run -0 iface_counter vr ipv6.passed.nd.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter vr ipv4.dropped.no_rule.packets
	assert_output 0
	run -0 iface_counter vr dropped.not_ip.packets
	assert_output 0
}

@test "ipv6 ssh to the interface's own addresses passes (global and link-local); to another address of the router it is dropped" {
	enable_ipv6
	tcp_server "$NS_R" ssh --port 22 --bind "::"
	local ll
	ll=$(timeout 10 ip -n "$NS_R" -6 -o addr show dev vr scope link |
		grep -o 'fe80::[0-9a-f:]*')
	# reachable through vr before attach: the router's stack would answer
	run -0 tcp_client "$NS_C" --connect "[$X_IP6]:22"
	attach_router
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:22"
	assert_output --regexp "^local=\[$R_IP6\]:22 "
	run -0 tcp_client "$NS_C" --connect "[$ll%vc]:22"
	run -0 iface_counter vr ipv6.passed.ssh.packets
	[ "$output" -ge 2 ]
	local before
	before=$(iface_counter vr ipv6.dropped.no_rule.packets)
	run -2 tcp_client "$NS_C" --connect "[$X_IP6]:22" --timeout 1
	wait_counter vr ipv6.dropped.no_rule.packets $((before + 1))
	run -0 rule_count
	assert_output 0
}

@test "udp from port 547 to port 546 (dhcpv6 replies) passes, from other source ports to 546 it is dropped" {
	enable_ipv6
	udp_server "$NS_R" dhcp --port 546 --port 547 --bind "::"
	attach_router
	run -0 udp_client "$NS_C" --src "[$C_IP6]:547" --connect "[$R_IP6]:546"
	run -0 iface_counter vr ipv6.passed.dhcp.packets
	assert_output 1
	run -2 udp_client "$NS_C" --src "[$C_IP6]:548" --connect "[$R_IP6]:546" --timeout 1
	run -2 udp_client "$NS_C" --src "[$C_IP6]:547" --connect "[$R_IP6]:547" --timeout 1
	# DHCP for IPv4's ports mean nothing here
	run -2 udp_client "$NS_C" --src "[$C_IP6]:67" --connect "[$R_IP6]:546" --timeout 1
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/dhcp.log")" -eq 1 ]
}

@test "the router's own ipv6 tcp connection and connected udp exchange with the peer work while attached" {
	enable_ipv6
	tcp_server "$NS_C" peer --port 8081 --bind "::"
	udp_server "$NS_C" upeer --port 5353 --bind "::"
	attach_router
	run -0 tcp_client "$NS_R" --connect "[$C_IP6]:8081"
	run -0 udp_client "$NS_R" --connect "[$C_IP6]:5353" --count 3
	[ "${#lines[@]}" -eq 3 ]
	run -0 iface_counter vr ipv6.passed.established.packets
	[ "$output" -ge 4 ]
	# while the peer cannot open one the other way
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8081" --timeout 1
	# nor reach the router's unconnected socket
	run -2 udp_client "$NS_R" --connect "[$C_IP6]:5353" --unconnected --timeout 1
}

@test "ipv6 rules: a pass rule opens its port, a drop rule counts, an IPv4 rule on the same port does nothing for ipv6" {
	enable_ipv6
	tcp_server "$NS_R" srv --port 8080 --port 8081 --bind "::"
	attach_router
	run -0 splicer add 0.0.0.0/0 proto tcp port 8080 pass
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --timeout 1
	run -0 splicer add "$R_IP6/128" proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:8080"
	assert_output --regexp "^local=\[$R_IP6\]:8080 "
	run -0 splicer add fd00:99::/64 proto tcp port 8081 drop
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8081" --timeout 1
	wait_counter vr ipv6.dropped.rule_drop.packets 1
	run -0 iface_counter vr ipv6.passed.rule_pass.packets
	[ "$output" -ge 1 ]
}

@test "ipv6 extension headers: destination options are walked, a routing header with segments left and AH are dropped as ext_header" {
	enable_ipv6
	udp_server "$NS_R" srv --port 5000 --bind "::" --silent
	attach_router
	run -0 splicer add "$R_IP6/128" proto udp port 5000 pass
	local mac
	mac=$(mac_of "$NS_R" vr)
	run -0 in_c "$PY" -c '
import sys
from scapy.all import Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, AH, UDP, sendp
mac, src, dst = sys.argv[1:4]
base = Ether(dst=mac) / IPv6(src=src, dst=dst)
udp = UDP(sport=40000, dport=5000) / (b"x" * 8)
sendp(base / IPv6ExtHdrDestOpt() / udp, iface="vc", verbose=0)
sendp(base / IPv6ExtHdrRouting(type=4, segleft=1, addresses=[dst]) / udp, iface="vc", verbose=0)
sendp(base / AH(nh=17, payloadlen=2, icv=b"\0" * 4) / udp, iface="vc", verbose=0)
' "$mac" "$C_IP6" "$R_IP6"
	wait_for "grep -q 'len=8' '$BATS_TEST_TMPDIR/srv.log'"
	wait_counter vr ipv6.dropped.ext_header.packets 2
	run -0 iface_counter vr ipv6.passed.rule_pass.packets
	assert_output 1
}

@test "a fragmented ipv6 udp datagram to a pass rule is delivered whole; to a redirect it is dropped as fragment" {
	enable_ipv6
	udp_server "$NS_R" srv --port 5000 --bind "::" --silent
	attach_router
	run -0 splicer add "$R_IP6/128" proto udp port 5000 pass
	# 3000 bytes leave the peer as 3 fragments (MTU 1500)
	run -0 udp_client "$NS_C" --connect "[$R_IP6]:5000" --size 3000 --fragment --no-wait
	wait_for "grep -q 'len=3000' '$BATS_TEST_TMPDIR/srv.log'"
	run -0 iface_counter vr ipv6.passed.rule_pass.packets
	assert_output 3
	run -0 iface_counter vr ipv6.dropped.fragment.packets
	assert_output 0
	run -0 splicer add "$VNET6" proto udp port 53 redirect 5000 route
	run -0 udp_client "$NS_C" --connect "[$VIP6]:53" --size 3000 --fragment --no-wait
	wait_counter vr ipv6.dropped.fragment.packets 3
	run -0 iface_counter vr ipv6.redirected.packets
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
