#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# ICMP through an attached interface: echo requests only where enabled,
# echo replies only to the host's own pings, and errors (destination
# unreachable, fragmentation needed, time exceeded) only about packets of
# the host's own sockets or pings: what path-MTU discovery, traceroute and
# connected UDP need, and nothing a forger can use.

load helpers
load lib/hostile

F_IP=10.77.0.2 # the far host, behind the client (make_far)
F_GW=10.77.0.1

setup() {
	common_setup
	R_MAC=$(mac_of "$NS_R" vr)
}

teardown() {
	common_teardown
	if [ -n "${NS_F:-}" ]; then
		timeout 10 ip netns del "$NS_F" 2>/dev/null || true
	fi
}

# make_far: a third namespace behind the client, which forwards:
#
#   NS_R vr 10.99.0.1 -- vc 10.99.0.2 NS_C cf 10.77.0.1 -- fc 10.77.0.2 NS_F
#                                          mtu 1280         mtu 1500
#
# cf's MTU is 1280 and fc's stays 1500, so the far host still advertises an
# MSS of 1460 and the router's full-sized segments (1500 bytes, DF set)
# cannot leave the client towards it: the client answers them with ICMP
# fragmentation needed (mtu 1280). The name starts like the others so that
# tests/run reports it if it is ever left behind.
make_far() {
	NS_F="spl-c-$ID-far"
	timeout 10 ip netns add "$NS_F"
	in_ns "$NS_F" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	run -0 in_c sysctl -q -w net.ipv4.ip_forward=1
	timeout 10 ip link add cf netns "$NS_C" type veth peer name fc netns "$NS_F"
	timeout 10 ip -n "$NS_C" -batch - <<-EOF
		addr add $F_GW/24 dev cf
		link set cf mtu 1280
		link set cf up
	EOF
	timeout 10 ip -n "$NS_F" -batch - <<-EOF
		link set lo up
		addr add $F_IP/24 dev fc
		link set fc up
		route add default via $F_GW
	EOF
	timeout 10 ip -n "$NS_R" route add 10.77.0.0/24 via "$C_IP"
	wait_for link_up "$NS_C" cf
	wait_for link_up "$NS_F" fc
	[ "$(timeout 10 ip -n "$NS_F" -j link show dev fc | jq '.[0].mtu')" -eq 1500 ]
}

icmp_echo_is() {
	local js
	js=$(splicer -j stats) || return 1
	json_true "$js" "[.interfaces[] | select(.name == \"vr\") | .icmp_echo] == [$1]"
}

# echo_ids PEER: the echo ids the router's egress program noted for PEER,
# one a line (the echo_out map: peer address, id, both network order).
echo_ids() {
	local peer_hex
	peer_hex=$(printf '0x%02x ' ${1//./ })
	timeout 10 bpftool -j map dump pinned "$PIN/echo_out" |
		jq -r --arg p "$peer_hex" '.[] | select((.key[0:4] | join(" ")) + " " == $p)
			| (.key[4:6] | map(ltrimstr("0x")) | join("")) | "0x" + . ' |
		while read -r id; do echo $((id)); done
}

@test "echo requests to the router are answered only with icmp-echo on; a plain re-attach keeps the setting" {
	attach_router
	icmp_echo_is false
	local before
	before=$(snapshot)
	run -1 in_c ping -c 1 -W 1 "$R_IP"
	expect_moved "$before" '{"dropped.no_rule": 1}'

	run -0 splicer attach vr icmp-echo on
	icmp_echo_is true
	before=$(snapshot)
	run -0 in_c ping -c 2 -i 0.2 -W 1 "$R_IP"
	assert_output --partial "2 received"
	expect_moved "$before" '{"passed.icmp": 2}'

	run -0 splicer attach vr
	icmp_echo_is true
	run -0 in_c ping -c 1 -W 1 "$R_IP"

	run -0 splicer attach vr icmp-echo off
	icmp_echo_is false
	before=$(snapshot)
	run -1 in_c ping -c 1 -W 1 "$R_IP"
	expect_moved "$before" '{"dropped.no_rule": 1}'
}

@test "the router's own pings are answered while attached; forged and unsolicited echo replies are dropped" {
	attach_router
	local before id
	# an echo reply before the router ever pinged anyone
	before=$(snapshot)
	run -0 raw --proto icmp --icmp-type 0 --icmp-id 0x5c1 --icmp-seq 1
	expect_moved "$before" '{"dropped.no_rule": 1}'

	before=$(snapshot)
	run -0 in_r ping -c 2 -i 0.2 -W 1 "$C_IP"
	assert_output --partial "2 received"
	expect_moved "$before" '{"passed.icmp": 2}'

	# the id the router's ping used, as the egress program noted it
	run -0 echo_ids "$C_IP"
	[ "${#lines[@]}" -eq 1 ] || fail "echo ids noted for $C_IP: $output"
	id=${lines[0]}
	before=$(snapshot)
	# another id from the pinged peer; the right id from another address
	run -0 raw --proto icmp --icmp-type 0 --icmp-id $(((id + 1) % 65536))
	run -0 raw --proto icmp --icmp-type 0 --icmp-id "$id" --src "$C_IP2"
	expect_moved "$before" '{"dropped.no_rule": 2}'
	# the control: the same forged reply with the right id and peer is
	# what a real reply looks like, and passes
	before=$(snapshot)
	run -0 raw --proto icmp --icmp-type 0 --icmp-id "$id"
	expect_moved "$before" '{"passed.icmp": 1}'
}

@test "port unreachable for the router's connected udp socket gets in: the application sees ECONNREFUSED" {
	attach_router
	local before
	before=$(snapshot)
	# nothing listens on the peer's port 5999: its stack answers with
	# ICMP port unreachable, which the connected socket reports on recv
	run -3 udp_client "$NS_R" --connect "$C_IP:5999" --timeout 3
	assert_output --partial "Connection refused"
	expect_moved "$before" '{"passed.icmp": 1}'
	# an unconnected socket is not looked up for replies, nor for errors
	before=$(snapshot)
	run -2 udp_client "$NS_R" --connect "$C_IP:5999" --unconnected --timeout 1
	expect_moved "$before" '{"dropped.no_rule": 1}'
}

@test "forged icmp errors about flows the router does not have are dropped; the same about a live socket gets in" {
	udp_server "$NS_C" peer --port 5998 --bind "$C_IP" --silent
	tcp_server "$NS_R" srv --port 8080 --bind "$R_IP"
	attach_router
	# the router's connected udp socket R:40000 -> C:5998, waiting for an
	# answer that never comes. Its wait must outlast every forgery below
	# (each a new scapy process, seconds apiece on an emulated machine):
	# if it gave up first, the control would find no socket to reach.
	start_bg "$NS_R" rclient "$PY" "$PROBE" udp-client --src "$R_IP:40000" \
		--connect "$C_IP:5998" --timeout 110
	wait_for "grep -q '^recv ' '$BATS_TEST_TMPDIR/peer.log'"
	local live="udp:$R_IP:40000:$C_IP:5998" before
	before=$(snapshot)
	# port unreachable about: another source port, another protocol, the
	# tuple turned around
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 3 --quote "udp:$R_IP:40001:$C_IP:5998"
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 3 --quote "tcp:$R_IP:40000:$C_IP:5998"
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 3 --quote "udp:$C_IP:5998:$R_IP:40000"
	# host unreachable about a connection from the router's listening
	# port: a listener is not a flow
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 1 --quote "tcp:$R_IP:8080:$C_IP:5555"
	# fragmentation needed about a tcp flow that does not exist
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 4 --icmp-id 0 \
		--icmp-seq 576 --quote "tcp:$R_IP:40000:$C_IP:80"
	# time exceeded about an echo request the router never sent
	run -0 raw --proto icmp --icmp-type 11 --quote "icmp:$R_IP:4242:$C_IP:0"
	# other types, even about the live socket: source quench, redirect,
	# parameter problem; and requests: timestamp, address mask
	run -0 raw --proto icmp --icmp-type 4 --quote "$live"
	run -0 raw --proto icmp --icmp-type 5 --icmp-code 1 --quote "$live"
	run -0 raw --proto icmp --icmp-type 12 --quote "$live"
	run -0 raw --proto icmp --icmp-type 13 --payload-len 12
	run -0 raw --proto icmp --icmp-type 17 --payload-len 4
	expect_moved "$before" '{"dropped.no_rule": 11}'
	# a quote too short to hold an IPv4 header and 8 bytes
	before=$(snapshot)
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 3 --payload-len 20
	expect_moved "$before" '{"dropped.malformed": 1}'
	# still waiting: none of that reached the socket
	run -0 bg_log rclient
	assert_output ""
	# the control: port unreachable about the live socket gets in, and
	# the application hears of it
	before=$(snapshot)
	run -0 raw --proto icmp --icmp-type 3 --icmp-code 3 --quote "$live"
	expect_moved "$before" '{"passed.icmp": 1}'
	wait_for "grep -q 'Connection refused' '$BATS_TEST_TMPDIR/rclient.log'"
}

@test "path mtu discovery through the firewall: fragmentation needed gets in and the router's 2 MB upload completes" {
	make_far
	tcp_server "$NS_F" sink --port 5001 --bind "$F_IP" --sink
	attach_router
	run -0 in_r ip route get "$F_IP"
	refute_output --partial "mtu"
	local before
	before=$(snapshot)
	run -0 tcp_client "$NS_R" --connect "$F_IP:5001" --send-size 2000000 --timeout 10
	assert_output "received=2000000"
	# the router learnt the path MTU from the client's ICMP
	run -0 in_r ip route get "$F_IP"
	assert_output --partial "mtu 1280"
	# and that ICMP was let in as icmp; nothing was dropped
	run -0 moved "$before" passed.established
	json_true "$output" '(keys == ["passed.icmp"]) and .["passed.icmp"] >= 1'
}

@test "icmp errors about the router's own pings get in: ping hears fragmentation needed and time exceeded" {
	make_far
	attach_router
	local before
	before=$(snapshot)
	run -1 in_r ping -c 1 -W 1 -M do -s 1400 "$F_IP"
	assert_output --partial "Frag needed and DF set (mtu = 1280)"
	run -1 in_r ping -c 1 -W 1 -t 1 "$F_IP"
	assert_output --partial "Time to live exceeded"
	run -0 in_r ping -c 1 -W 1 -s 1200 "$F_IP"
	assert_output --partial "1 received"
	expect_moved "$before" '{"passed.icmp": 3}'
}

# A redirected connection's socket has the original destination as its
# local address: the client's fragmentation needed is addressed to that
# address and quotes it, and must find the socket the same way.
@test "path mtu discovery for a redirected flow: the listener's 2 MB download to the far host completes" {
	make_far
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --bulk 2000000
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	local before
	before=$(snapshot)
	run -0 tcp_client "$NS_F" --connect "$VIP:80" --count-bytes --timeout 10
	assert_output "received=2000000"
	run -0 in_r ip route get "$F_IP" from "$VIP"
	assert_output --partial "mtu 1280"
	run -0 moved "$before" passed.established
	json_true "$output" '(keys == ["passed.icmp", "redirected"]) and .["passed.icmp"] >= 1 and .redirected == 1'
}

@test "the router's large ping gets its fragmented reply: the rest follows the first fragment" {
	attach_router
	local before
	before=$(snapshot)
	# 3000 bytes of echo reply come back as 3 fragments (MTU 1500)
	run -0 in_r ping -c 1 -W 2 -s 3000 "$C_IP"
	assert_output --partial "1 received"
	expect_moved "$before" '{"passed.icmp": 3}'
}
