#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# IPv6 through an attached interface, with real traffic: neighbour
# discovery, SSH to the interface's own addresses, the host's own
# connections and pings, redirects to a [::1] listener, source prefixes,
# a scanner, path-MTU discovery, and crafted extension headers and
# fragments. Dual stack: the IPv4 tests run with IPv6 off, these with both.

load helpers
load lib/hostile

F_IP6=fd00:77::2 # the far host, behind the client (make_far6)
F_GW6=fd00:77::1
G_IP6=2001:db8:99::1 # a global address of the router's vr (ssh test)

setup() {
	common_setup
	enable_ipv6
	R_MAC=$(mac_of "$NS_R" vr)
}

teardown() {
	common_teardown
	if [ -n "${NS_F:-}" ]; then
		timeout 10 ip netns del "$NS_F" 2>/dev/null || true
	fi
}

# snapshot6: vr's IPv6 packet counters as one flat JSON object, like
# snapshot's ({"passed.nd": N, ..., "dropped.ext_header": N}).
snapshot6() {
	local js
	js=$(splicer -j stats) || return 1
	jq -Sc '.interfaces[] | select(.name == "vr") | .ipv6 |
		[(.passed | to_entries[] | {key: ("passed." + .key), value: .value.packets}),
		 (.dropped | to_entries[] | {key: ("dropped." + .key), value: .value.packets}),
		 {key: "redirected", value: .redirected.packets}] | from_entries' <<<"$js"
}

# moved6 BEFORE: the IPv6 counters that changed since BEFORE; neighbour
# discovery (passed.nd) is left out, it comes and goes on its own.
moved6() {
	local now
	now=$(snapshot6) || return 1
	jq -nSc --argjson a "$1" --argjson b "$now" \
		'$b | with_entries(.value -= ($a[.key] // 0))
		| with_entries(select(.value != 0 and .key != "passed.nd"))'
}
moved6_is() { [ "$(moved6 "$2")" = "$1" ]; }

# expect_moved6 BEFORE WANT: the IPv6 counters moved by exactly WANT.
expect_moved6() {
	local want
	want=$(jq -Sc . <<<"$2") || {
		fail "expect_moved6: bad JSON $2"
		return 1
	}
	if ! wait_for -t 3 moved6_is "$want" "$1"; then
		fail "IPv6 counters moved $(moved6 "$1"), expected $want"
		return 1
	fi
}

# expect_dropped6 BEFORE [REASON]: since BEFORE, IPv6 drops (of REASON, or
# of any one reason) and nothing else moved; how many depends on
# retransmissions, so at least one.
expect_dropped6() {
	local filter='keys | length == 1 and (.[0] | startswith("dropped."))'
	[ -n "${2:-}" ] && filter="keys == [\"dropped.$2\"]"
	if ! wait_for -t 3 "moved6 '$1' | jq -e '$filter' >/dev/null"; then
		fail "IPv6 counters moved $(moved6 "$1"), expected drops${2:+ of $2}"
		return 1
	fi
}

# scapy6 PYTHON: runs scapy in the client namespace with the client's and
# router's addresses and the router's MAC at hand: E is the Ethernet
# header towards the router, out(pkts) sends frames on vc.
scapy6() {
	timeout 60 ip netns exec "$NS_C" /usr/bin/python3 -c "
import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import *
C, R, X = '$C_IP6', '$R_IP6', '$X_IP6'
E = Ether(dst='$R_MAC')
def out(pkts):
    sendp(pkts, iface='vc', verbose=0)
$1"
}

# make_far6: a third namespace behind the client, which forwards IPv6:
#
#   NS_R vr fd00:99::1 -- vc fd00:99::2 NS_C cf fd00:77::1 -- fc fd00:77::2 NS_F
#                                            mtu 1280          mtu 1500
#
# The router's full-sized segments (1500 bytes) cannot leave the client
# towards the far host: the client answers them with packet too big (mtu
# 1280), and IPv6 routers never fragment.
make_far6() {
	NS_F="spl-c-$ID-far"
	timeout 10 ip netns add "$NS_F"
	in_ns "$NS_F" sysctl -q -w net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	run -0 in_c sysctl -q -w net.ipv6.conf.all.forwarding=1
	timeout 10 ip link add cf netns "$NS_C" type veth peer name fc netns "$NS_F"
	in_c sysctl -q -w net.ipv6.conf.cf.accept_dad=0
	timeout 10 ip -n "$NS_C" -batch - <<-EOF
		addr add $F_GW6/64 dev cf nodad
		link set cf mtu 1280
		link set cf up
	EOF
	timeout 10 ip -n "$NS_F" -batch - <<-EOF
		link set lo up
		addr add $F_IP6/64 dev fc nodad
		link set fc up
		route add default via $F_GW6
	EOF
	timeout 10 ip -n "$NS_R" route add fd00:77::/64 via "$C_IP6"
	wait_for link_up "$NS_C" cf
	wait_for link_up "$NS_F" fc
}

neigh_state() {
	timeout 10 ip -n "$1" -6 -j neigh show dev "$2" to "$3" | jq -r '.[0].state[0] // "NONE"'
}

@test "neighbour discovery works across an attach: both sides resolve each other and talk" {
	tcp_server "$NS_R" ssh --port 22 --bind ::
	tcp_server "$NS_C" srv --port 7000 --bind ::
	attach_router
	run -0 timeout 10 ip -n "$NS_C" -6 neigh flush dev vc
	run -0 timeout 10 ip -n "$NS_R" -6 neigh flush dev vr
	local before
	before=$(snapshot6)
	# the client solicits the router (multicast), the router advertises
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:22"
	assert_output --regexp "^local=\[$R_IP6\]:22 peer=\[$C_IP6\]:[0-9]+$"
	# the router solicits the client: its advertisement must get in
	run -0 tcp_client "$NS_R" --connect "[$C_IP6]:7000"
	assert_output --regexp "^local=\[$C_IP6\]:7000 "
	run -0 neigh_state "$NS_R" vr "$C_IP6"
	assert_output --regexp '^(REACHABLE|STALE|DELAY|PROBE)$'
	run -0 snapshot6
	[ "$(jq -n --argjson a "$before" --argjson b "$output" \
		'$b["passed.nd"] - ($a["passed.nd"] // 0)')" -ge 1 ]
}

@test "neighbour discovery messages are checked: hop limit other than 255, a redirect, a router solicitation are dropped" {
	attach_router
	local before
	before=$(snapshot6)
	# a solicitation for the router's address with hop limit 64: forged
	# from off-link, as RFC 4861 says a host must ignore
	run -0 scapy6 "out(E/IPv6(src=C, dst=R, hlim=64)/ICMPv6ND_NS(tgt=R))"
	expect_dropped6 "$before"
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst=R, hlim=255)/ICMPv6ND_NS(tgt=R, code=1))"
	expect_dropped6 "$before"
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst=R, hlim=255)/ICMPv6ND_Redirect(tgt=C, dst=X))"
	expect_dropped6 "$before" no_rule
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst='ff02::2', hlim=255)/ICMPv6ND_RS())"
	expect_dropped6 "$before" no_rule
	# router advertisements with hop limit 64, or from an address that is
	# not link-local, fail RFC 4861's checks
	local ll
	ll=$(timeout 10 ip -n "$NS_C" -6 -o addr show dev vc scope link |
		grep -o 'fe80::[0-9a-f:]*')
	before=$(snapshot6)
	run -0 scapy6 "ra = ICMPv6ND_RA(routerlifetime=0)
out(E/IPv6(src='$ll', dst='ff02::1', hlim=64)/ra)
out(E/IPv6(src=C, dst='ff02::1', hlim=255)/ra)"
	expect_moved6 "$before" '{"dropped.malformed": 2}'
	# the well-formed solicitation passes and is answered
	before=$(snapshot6)
	run -0 scapy6 "
a = srp1(E/IPv6(src=C, dst=R, hlim=255)/ICMPv6ND_NS(tgt=R)/ICMPv6NDOptSrcLLAddr(lladdr=get_if_hwaddr('vc')), iface='vc', timeout=3, verbose=0)
print('answer', a and a.haslayer(ICMPv6ND_NA))"
	assert_output "answer True"
	run -0 snapshot6
	[ "$(jq -n --argjson a "$before" --argjson b "$output" '$b["passed.nd"] - ($a["passed.nd"] // 0)')" -ge 1 ]
}

@test "router advertisements reach the host: SLAAC gives vr an address from the advertised prefix" {
	run -0 in_r sysctl -q -w net.ipv6.conf.vr.accept_ra=2 net.ipv6.conf.vr.forwarding=0 \
		net.ipv6.conf.all.forwarding=0
	attach_router
	run -0 scapy6 "out(E/IPv6(src='fe80::99', dst='ff02::1', hlim=255)/ICMPv6ND_RA()/ICMPv6NDOptPrefixInfo(prefix='2001:db8:5::', prefixlen=64, L=1, A=1, validlifetime=600, preferredlifetime=300))"
	wait_for "timeout 10 ip -n '$NS_R' -6 addr show dev vr | grep -q 'inet6 2001:db8:5:'"
	# and one with a hop limit below 255 is not taken
	local before
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src='fe80::99', dst='ff02::1', hlim=64)/ICMPv6ND_RA()/ICMPv6NDOptPrefixInfo(prefix='2001:db8:6::', prefixlen=64, L=1, A=1, validlifetime=600, preferredlifetime=300))"
	expect_dropped6 "$before"
	run -0 timeout 10 ip -n "$NS_R" -6 addr show dev vr
	refute_output --partial "2001:db8:6:"
}

@test "ssh over IPv6 reaches vr's own global, ULA and link-local addresses, not another address of the router" {
	timeout 10 ip -n "$NS_R" addr add "$G_IP6/64" dev vr nodad
	timeout 10 ip -n "$NS_C" route add 2001:db8:99::/64 dev vc
	tcp_server "$NS_R" ssh --port 22 --bind ::
	attach_router
	local ll
	ll=$(timeout 10 ip -n "$NS_R" -6 -o addr show dev vr scope link | awk '{ sub("/.*", "", $4); print $4 }')
	[ -n "$ll" ]
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:22"
	run -0 tcp_client "$NS_C" --connect "[$G_IP6]:22"
	wait_for "splicer -j stats | jq -e '.interfaces[] | select(.name == \"vr\") | .addresses | index(\"$G_IP6\")'"
	run -0 tcp_client "$NS_C" --connect "[$ll%vc]:22"
	# X_IP6 is the router's, but on xr: reached through vr it is dropped
	local before
	before=$(snapshot6)
	run -2 tcp_client "$NS_C" --connect "[$X_IP6]:22" --timeout 1
	expect_dropped6 "$before" no_rule
}

@test "dhcpv6 replies (udp 547 to 546) reach the host's client; from another source port they are dropped" {
	udp_server "$NS_R" dhcp6 --port 546 --bind :: --silent
	udp_server "$NS_R" other --port 5460 --bind :: --silent
	attach_router
	run -2 udp_client "$NS_C" --src "[$C_IP6]:547" --connect "[$R_IP6]:546" --timeout 0.5
	wait_for "grep -q 'peer=\[$C_IP6\]:547 ' '$BATS_TEST_TMPDIR/dhcp6.log'"
	local before
	before=$(snapshot6)
	run -2 udp_client "$NS_C" --src "[$C_IP6]:548" --connect "[$R_IP6]:546" --timeout 0.5
	run -2 udp_client "$NS_C" --src "[$C_IP6]:547" --connect "[$R_IP6]:5460" --timeout 0.5
	expect_moved6 "$before" '{"dropped.no_rule": 2}'
	run -1 grep -q 'peer=\[$C_IP6\]:548 ' "$BATS_TEST_TMPDIR/dhcp6.log"
	run -1 grep -q 'recv ' "$BATS_TEST_TMPDIR/other.log"
}

@test "the router's own IPv6 connections and pings get their replies; pings to it need icmp-echo on" {
	tcp_server "$NS_C" srv --port 7000 --bind ::
	udp_server "$NS_C" dns --port 5353 --bind ::
	attach_router
	run -0 tcp_client "$NS_R" --connect "[$C_IP6]:7000"
	run -0 udp_client "$NS_R" --connect "[$C_IP6]:5353"
	assert_output --partial "peer=[$R_IP6]:"
	local before
	before=$(snapshot6)
	run -0 in_r ping -6 -c 1 -W 2 "$C_IP6"
	assert_output --partial "1 received"
	expect_moved6 "$before" '{"passed.icmp": 1}'
	# an echo reply to no ping of the router's
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst=R)/ICMPv6EchoReply(id=0x5c1, seq=1))"
	expect_moved6 "$before" '{"dropped.no_rule": 1}'
	before=$(snapshot6)
	run -1 in_c ping -6 -c 1 -W 1 "$R_IP6"
	expect_moved6 "$before" '{"dropped.no_rule": 1}'
	run -0 splicer attach vr icmp-echo on
	before=$(snapshot6)
	run -0 in_c ping -6 -c 2 -i 0.2 -W 1 "$R_IP6"
	assert_output --partial "2 received"
	expect_moved6 "$before" '{"passed.icmp": 2}'
	# an echo request to another address of the router, through vr: no
	before=$(snapshot6)
	run -1 in_c ping -6 -c 1 -W 1 "$X_IP6"
	expect_moved6 "$before" '{"dropped.no_rule": 1}'
}

@test "an IPv6 redirect hands curl's fetch to the listener on [::1], with the original destination as its local address" {
	tcp_server "$NS_R" web --port 9999 --bind ::1 --http
	attach_router
	run -0 --separate-stderr splicer add "$VNET6" proto tcp port 80 redirect 9999 route
	run -0 in_c curl -sS -g --max-time 5 "http://[$VIP6]/"
	assert_output --regexp "^local=\[$VIP6\]:80 peer=\[$C_IP6\]:[0-9]+$"
	run -0 rule_field ".dst == \"$VNET6\"" to
	assert_output "[::1]:9999"
	run -0 timeout 10 ip -n "$NS_R" -6 -j route show table local
	run -0 jq -ec --arg d "$VNET6" '[.[] | select(.dst == $d) | {type, dev, protocol}]' <<<"$output"
	assert_output '[{"type":"local","dev":"lo","protocol":"158"}]'
}

@test "an IPv6 client reusing its 4-tuple while the server side is in TIME_WAIT reaches the listener again" {
	tcp_server "$NS_R" web --port 9999 --bind ::1
	attach_router
	run -0 splicer add "$VNET6" proto tcp port 80 redirect 9999 route
	run -0 tcp_client "$NS_C" --src "[$C_IP6]:40000" --reuseaddr --connect "[$VIP6]:80"
	assert_output "local=[$VIP6]:80 peer=[$C_IP6]:40000"
	# the server closed first: the router holds a TIME_WAIT socket for the
	# 4-tuple, the client has nothing left
	wait_for "in_r ss -Htan state time-wait | grep -F '[$VIP6]:80' | grep -qF '[$C_IP6]:40000'"
	wait_for "! in_c ss -Htan | grep -q ':40000 '"
	run -0 tcp_client "$NS_C" --src "[$C_IP6]:40000" --reuseaddr --connect "[$VIP6]:80"
	assert_output "local=[$VIP6]:80 peer=[$C_IP6]:40000"
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/web.log")" -eq 2 ]
}

@test "on lo only IPv6 redirects apply and all other IPv6 loopback traffic passes" {
	tcp_server "$NS_R" web --port 9999 --bind ::1 --tag
	tcp_server "$NS_R" plain --port 8000 --bind ::1 --tag
	run -0 splicer attach lo
	run -0 splicer add "$VNET6" proto tcp port 80 redirect 9999 route
	run -0 splicer add ::1 proto tcp port 8000 drop
	# a connection of the router to the redirected prefix goes over lo
	run -0 tcp_client "$NS_R" --connect "[$VIP6]:80"
	assert_output --regexp "^local=\[$VIP6\]:80 peer=\[[0-9a-f:]+\]:[0-9]+ listener=\[::1\]:9999$"
	# the drop rule does not apply on lo; no rule is needed either
	run -0 tcp_client "$NS_R" --connect "[::1]:8000"
	assert_output --regexp "^local=\[::1\]:8000 .* listener=\[::1\]:8000$"
	run -0 iface_counter lo ipv6.redirected.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter lo ipv6.dropped.rule_drop.packets
	assert_output 0
}

@test "an IPv6 flow is never handed to an IPv4 socket: a redirect whose only listener is 127.0.0.1 drops as no_listener" {
	tcp_server "$NS_R" web4 --port 9998 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET6" proto tcp port 81 redirect 9998 route
	local before
	before=$(snapshot6)
	run -2 tcp_client "$NS_C" --connect "[$VIP6]:81" --timeout 1
	expect_dropped6 "$before" no_listener
	# a dual-stack listener on [::] takes it
	tcp_server "$NS_R" web6 --port 9997 --bind ::
	run -0 splicer add "$VNET6" proto tcp port 81 redirect 9997 route
	run -0 tcp_client "$NS_C" --connect "[$VIP6]:81"
	assert_output --regexp "^local=\[$VIP6\]:81 "
}

@test "an IPv6 udp redirect reaches a transparent [::1] listener, which answers from the original destination" {
	udp_tproxy_server "$NS_R" dns6 --port 5300 --bind ::1
	attach_router
	run -0 splicer add "$VNET6" proto udp port 53 redirect 5300 route
	run -0 splicer add "$VNET" proto udp port 54 redirect 5300 route
	run -0 udp_client "$NS_C" --connect "[$VIP6]:53"
	assert_output --regexp "^orig=\[$VIP6\]:53 peer=\[$C_IP6\]:[0-9]+"
	# the IPv4 rule of port 54 does not apply to IPv6
	local before
	before=$(snapshot6)
	run -2 udp_client "$NS_C" --connect "[$VIP6]:54" --timeout 1
	expect_moved6 "$before" '{"dropped.no_rule": 1}'
}

@test "an IPv6 source prefix admits its sources only; the longest destination wins as for IPv4" {
	tcp_server "$NS_R" app --port 8080 --bind ::
	attach_router
	run -0 splicer add "$R_IP6/128" proto tcp port 8080 pass from "$C_IP6/128"
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --src "[$C_IP6]"
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --src "[$C_IP6_2]" --timeout 1
	# a longer prefix's drop beats a shorter prefix's pass
	run -0 splicer add fd00:99::/64 proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --src "[$C_IP6_2]"
	run -0 splicer add "$R_IP6/128" proto tcp port 8080 drop
	run -2 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --src "[$C_IP6_2]" --timeout 1
	run -0 tcp_client "$NS_C" --connect "[$R_IP6]:8080" --src "[$C_IP6]"
}

@test "nmap -6 sees only what the policy opens: ssh and the passed port" {
	tcp_server "$NS_R" ports --port 22 --port 80 --port 443 --port 8080 --bind ::
	scan() {
		timeout 60 ip netns exec "$NS_C" nmap -6 -n -Pn -e vc --max-retries 1 \
			--host-timeout 30s -sS -p 22,80,443,8080 -oG - "$R_IP6"
	}
	run -0 scan
	assert_output --regexp "22/open/tcp.*80/open/tcp.*443/open/tcp.*8080/open/tcp"
	attach_router
	run -0 splicer add "$R_IP6" proto tcp port 8080 pass
	run -0 scan
	assert_output --regexp "22/open/tcp"
	assert_output --regexp "80/filtered/tcp"
	assert_output --regexp "443/filtered/tcp"
	assert_output --regexp "8080/open/tcp"
}

@test "path mtu discovery over IPv6: packet too big gets in and the router's 2 MB upload completes" {
	make_far6
	tcp_server "$NS_F" sink --port 5001 --bind "$F_IP6" --sink
	attach_router
	run -0 in_r ip -6 route get "$F_IP6"
	refute_output --partial "mtu"
	local before
	before=$(snapshot6)
	run -0 tcp_client "$NS_R" --connect "[$F_IP6]:5001" --send-size 2000000 --timeout 10
	assert_output "received=2000000"
	run -0 in_r ip -6 route get "$F_IP6"
	assert_output --partial "mtu 1280"
	run -0 moved6 "$before"
	json_true "$output" '(keys - ["passed.established"]) == ["passed.icmp"] and .["passed.icmp"] >= 1'
}

@test "packet too big about no socket of the router is dropped and changes no route" {
	udp_server "$NS_C" peer --port 5998 --bind "$C_IP6" --silent
	attach_router
	# the router's connected socket R:40000 -> C:5998 waits for an answer
	start_bg "$NS_R" rclient "$PY" "$PROBE" udp-client --src "[$R_IP6]:40000" \
		--connect "[$C_IP6]:5998" --timeout 110
	wait_for "grep -q '^recv ' '$BATS_TEST_TMPDIR/peer.log'"
	local before
	before=$(snapshot6)
	# about another source port, and about the tuple turned around
	run -0 scapy6 "
q = lambda s, sp, d, dp: IPv6(src=s, dst=d)/UDP(sport=sp, dport=dp)/Raw(b'x' * 8)
out(E/IPv6(src=C, dst=R)/ICMPv6PacketTooBig(mtu=1280)/q(R, 40001, C, 5998))
out(E/IPv6(src=C, dst=R)/ICMPv6PacketTooBig(mtu=1280)/q(C, 5998, R, 40000))"
	expect_moved6 "$before" '{"dropped.no_rule": 2}'
	run -0 in_r ip -6 route get "$C_IP6" from "$R_IP6"
	refute_output --partial "mtu"
	# about the live socket: it gets in and the route learns the mtu
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst=R)/ICMPv6PacketTooBig(mtu=1280)/IPv6(src=R, dst=C)/UDP(sport=40000, dport=5998)/Raw(b'x' * 8))"
	expect_moved6 "$before" '{"passed.icmp": 1}'
	wait_for "timeout 10 ip -n '$NS_R' -6 route get '$C_IP6' from '$R_IP6' | grep -q 'mtu 1280'"
}

@test "extension headers: hop-by-hop and destination options reach a rule; routing with segments left, type 0, unknown and too many are dropped" {
	udp_server "$NS_R" app --port 5353 --bind :: --silent
	attach_router
	run -0 splicer add "$R_IP6" proto udp port 5353 pass
	local u="UDP(sport=4000, dport=5353)"
	run -0 scapy6 "
out(E/IPv6(src=C, dst=R)/IPv6ExtHdrHopByHop()/$u/Raw(b'hbh'))
out(E/IPv6(src=C, dst=R)/IPv6ExtHdrDestOpt()/$u/Raw(b'dst'))
out(E/IPv6(src=C, dst=R)/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/$u/Raw(b'both'))"
	wait_for "[ \$(grep -c '^recv ' '$BATS_TEST_TMPDIR/app.log') -eq 3 ]"
	local before
	before=$(snapshot6)
	run -0 scapy6 "
out(E/IPv6(src=C, dst=R)/IPv6ExtHdrRouting(type=0, segleft=0, addresses=[R])/$u/Raw(b'rt0'))
out(E/IPv6(src=C, dst=R)/IPv6ExtHdrSegmentRouting(segleft=1, addresses=[R, X])/$u/Raw(b'srh'))
out(E/IPv6(src=C, dst=R, nh=253)/Raw(b'unknown' * 4))
p = $u/Raw(b'deep')
for i in range(7):
    p = IPv6ExtHdrDestOpt()/p
out(E/IPv6(src=C, dst=R)/p)"
	expect_moved6 "$before" '{"dropped.ext_header": 4}'
	run -0 grep -c '^recv ' "$BATS_TEST_TMPDIR/app.log"
	assert_output 3
}

@test "IPv6 fragments: a datagram whose first fragment passes is delivered whole; a rest alone, a tiny first, a redirect are dropped" {
	udp_server "$NS_R" app --port 5353 --bind :: --silent
	udp_server "$NS_R" red --port 5300 --bind ::1 --silent
	attach_router
	run -0 splicer add "$R_IP6" proto udp port 5353 pass
	run -0 splicer add "$R_IP6" proto udp port 53 redirect 5300
	run -0 scapy6 "out([E/f for f in fragment6(IPv6(src=C, dst=R)/IPv6ExtHdrFragment(id=7)/UDP(sport=4000, dport=5353)/Raw(b'y' * 3000), 1280)])"
	wait_for "grep -q 'len=3000' '$BATS_TEST_TMPDIR/app.log'"
	local before
	before=$(snapshot6)
	# the rest of a datagram whose first fragment never came
	run -0 scapy6 "out(E/IPv6(src=C, dst=R)/IPv6ExtHdrFragment(id=8, offset=160, m=0, nh=17)/Raw(b'z' * 64))"
	expect_moved6 "$before" '{"dropped.fragment": 1}'
	# a first fragment too short to hold the udp header
	before=$(snapshot6)
	run -0 scapy6 "out(E/IPv6(src=C, dst=R)/IPv6ExtHdrFragment(id=9, offset=0, m=1, nh=17)/Raw(b'abcd'))"
	expect_moved6 "$before" '{"dropped.malformed": 1}'
	# a redirected datagram cannot be fragmented
	before=$(snapshot6)
	run -0 scapy6 "out([E/f for f in fragment6(IPv6(src=C, dst=R)/IPv6ExtHdrFragment(id=10)/UDP(sport=4000, dport=53)/Raw(b'w' * 3000), 1280)])"
	wait_for -t 3 "[ \"\$(moved6 '$before' | jq '.\"dropped.fragment\" // 0')\" -ge 1 ]"
	run -1 grep -q 'len=' "$BATS_TEST_TMPDIR/red.log"
}
