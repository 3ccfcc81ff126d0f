#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Hostile and unusual packets against a real datapath: IP options,
# fragments, broken headers, TCP flag scans, the built-in allowances'
# edges, VLAN tags, and redirects whose target socket cannot take the flow.
#
# Most packets here are built byte by byte (probe.py raw-ip) and sent from
# the client through AF_PACKET on vc, so the kernel's own checks on the
# sending side are bypassed. The router's stack would drop many of them
# anyway, so "nothing came back" alone proves little: every test states
# which counter moved, by exactly how much, and that no other did.

load helpers
load lib/hostile

setup() {
	common_setup
	R_MAC=$(mac_of "$NS_R" vr)
}
teardown() { common_teardown; }

# The first fragment of a 32-byte udp datagram 40000 -> 5000 (checksum 0:
# none): the header and 16 bytes; the rest is 8 bytes at offset 3 (24).
FIRST24=9c40138800200000$(printf '00%.0s' {1..16})

# A SYN with IP options must be judged by its TCP header at ihl*4, not at
# offset 20 and not dropped for having options.
@test "tcp syns with ip options (ihl 6 and the longest header, ihl 15) are redirected to the listener" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	local before
	before=$(snapshot)
	# NOP NOP NOP EOL: ihl 6. The SYN-ACK can only come from the listener:
	# without the redirect nothing on the router listens on $VIP:80.
	run -0 raw --dst "$VIP" --sport 40001 --dport 80 --flags S \
		--options 01010100 --wait 3 --first
	assert_line "reply tcp 80>40001 flags=SA"
	# record route with room for 9 addresses: 40 bytes of options
	run -0 raw --dst "$VIP" --sport 40002 --dport 80 --flags S \
		--options "072704$(printf '00%.0s' {1..37})" --wait 3 --first
	assert_line "reply tcp 80>40002 flags=SA"
	# the client's kernel resets the two half-open connections it knows
	# nothing about: those RSTs find the request sockets (established)
	expect_moved "$before" '{"redirected": 2}' passed.established
}

@test "a kernel tcp connection carrying ip options (IP_OPTIONS) is redirected end to end" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	# record route, one slot, then EOL: every packet of the connection
	# carries 8 bytes of options
	run -0 tcp_client "$NS_C" --connect "$VIP:80" --ip-options 0707040000000000
	assert_output --regexp "^local=$VIP:80 peer=$C_IP:[0-9]+$"
	run -0 iface_counter vr redirected.packets
	assert_output 1
	run -0 iface_counter vr dropped.malformed.packets
	assert_output 0
}

@test "non-first fragments without their first fragment are dropped as fragment; offsets below 24 bytes as malformed" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	local before syn
	# the fragments' first bytes look like a SYN to the redirect: as
	# payload they must never be read as ports
	syn=9c400050000003e8000000005002faf000000000
	before=$(snapshot)
	run -0 raw --dst "$VIP" --id 0x100 --frag-off 185 --l4-hex "$syn"
	expect_moved "$before" '{"dropped.fragment": 1}'
	# offset 3 (24 bytes) is the first one allowed, offsets 1 and 2 would
	# overwrite the ports or the TCP flags the first fragment was judged by
	before=$(snapshot)
	run -0 raw --dst "$VIP" --id 0x101 --frag-off 3 --mf --l4-hex "$syn"
	expect_moved "$before" '{"dropped.fragment": 1}'
	before=$(snapshot)
	run -0 raw --dst "$VIP" --id 0x102 --frag-off 1 --l4-hex "$syn"
	expect_moved "$before" '{"dropped.malformed": 1}'
	before=$(snapshot)
	run -0 raw --dst "$VIP" --id 0x103 --frag-off 2 --mf --l4-hex "$syn"
	expect_moved "$before" '{"dropped.malformed": 1}'
	# an overlapping fragment of a datagram whose first fragment passed is
	# still malformed; the well-placed rest follows the first
	before=$(snapshot)
	run -0 raw --proto udp --id 0x200 --mf \
		--l4-hex "$FIRST24"
	expect_moved "$before" '{"passed.rule_pass": 1}'
	run -0 raw --proto udp --id 0x200 --frag-off 1 --l4-hex 0000000000000000
	expect_moved "$before" '{"passed.rule_pass": 1, "dropped.malformed": 1}'
	run -0 raw --proto udp --id 0x200 --frag-off 3 --l4-hex 0000000000000000
	expect_moved "$before" '{"passed.rule_pass": 2, "dropped.malformed": 1}'
	# the same id from another source or with another protocol is another
	# datagram, whose first fragment never came
	run -0 raw --proto udp --id 0x200 --frag-off 3 --src "$C_IP2" \
		--l4-hex 0000000000000000
	run -0 raw --proto tcp --id 0x200 --frag-off 3 --l4-hex 0000000000000000
	expect_moved "$before" '{"passed.rule_pass": 2, "dropped.malformed": 1, "dropped.fragment": 2}'
}

@test "a non-first fragment whose first fragment was dropped is dropped" {
	udp_server "$NS_R" srv --port 5000 --bind "$R_IP" --silent
	attach_router
	local before
	before=$(snapshot)
	# first fragment: udp 40000 -> 5000, no rule
	run -0 raw --proto udp --id 0x300 --mf \
		--l4-hex "$FIRST24"
	run -0 raw --proto udp --id 0x300 --frag-off 3 --l4-hex 0000000000000000
	expect_moved "$before" '{"dropped.no_rule": 1, "dropped.fragment": 1}'
	# the same pair once a rule passes the first: delivered whole
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	before=$(snapshot)
	run -0 raw --proto udp --id 0x301 --mf \
		--l4-hex "$FIRST24"
	run -0 raw --proto udp --id 0x301 --frag-off 3 --l4-hex 0000000000000000
	expect_moved "$before" '{"passed.rule_pass": 2}'
	wait_for "grep -q 'len=24' '$BATS_TEST_TMPDIR/srv.log'"
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/srv.log")" -eq 1 ]
}

@test "a first fragment to a redirect is dropped as fragment; one too short for the tcp header as malformed" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	local before
	before=$(snapshot)
	# a whole SYN, but with more fragments to come: reassembly after tc
	# would lose the assignment, so it cannot be redirected
	run -2 raw --dst "$VIP" --sport 40003 --dport 80 --flags S --mf --wait 1
	expect_moved "$before" '{"dropped.fragment": 1}'
	# a first fragment holding 8 bytes of TCP header: ports, no flags
	before=$(snapshot)
	run -0 raw --dst "$VIP" --mf --l4-hex 9c400050000003e8
	expect_moved "$before" '{"dropped.malformed": 1}'
	# and a whole datagram that short
	before=$(snapshot)
	run -0 raw --dst "$VIP" --l4-hex 9c400050000003e8
	expect_moved "$before" '{"dropped.malformed": 1}'
	run -0 iface_counter vr redirected.packets
	assert_output 0
}

# Each broken packet is a SYN to the router's own address, port 22: well
# formed, the SSH allowance would pass it (the first check shows that).
@test "broken ipv4 and tcp headers are dropped as malformed, even on the ssh port" {
	attach_router
	local before
	before=$(snapshot)
	# the control: a well-formed SYN to port 22 passes (nothing listens,
	# so the router's stack answers with a reset)
	run -0 raw --dport 22 --flags S --wait 3 --first
	assert_line "reply tcp 22>40000 flags=RA"
	expect_moved "$before" '{"passed.ssh": 1}'
	local bad
	for bad in "--ihl 4" "--ihl 3" "--version 6" "--tot-len 1000" \
		"--tot-len 16" "--tot-len 30" "--truncate 30" "--doff 4" \
		"--doff 0" "--doff 6" "--doff 15"; do
		echo "# raw-ip $bad"
		before=$(snapshot)
		# shellcheck disable=SC2086 # split on purpose
		run -0 raw --dport 22 --flags S $bad
		expect_moved "$before" '{"dropped.malformed": 1}'
	done
	# truncated udp and icmp headers
	before=$(snapshot)
	run -0 raw --proto udp --l4-hex 00430044
	run -0 raw --proto icmp --l4-hex 08000000
	expect_moved "$before" '{"dropped.malformed": 2}'
	# a dhcp reply whose tot_len ends inside the udp header: the rest of
	# the header is in the frame, as padding beyond tot_len
	before=$(snapshot)
	run -0 raw --proto udp --sport 67 --dport 68 --tot-len 24
	expect_moved "$before" '{"dropped.malformed": 1}'
}

@test "tcp flag scans get no answer from a listening or a closed port and are counted as no_rule" {
	tcp_server "$NS_R" srv --port 8080 --bind "$R_IP"
	local flags=(--flags none --flags FPU --flags SF --flags SR --flags A --flags S)
	# without splicer the router's stack answers some of them: a SYN-ACK
	# and a reset from the listening port, resets from the closed one
	run -0 raw --dport 8080 "${flags[@]}" --wait 1
	assert_line "reply tcp 8080>40000 flags=SA"
	assert_line "reply tcp 8080>40000 flags=R"
	run -0 raw --dport 8081 "${flags[@]}" --wait 1
	assert_line "reply tcp 8081>40000 flags=RA"
	attach_router
	local before
	before=$(snapshot)
	run -2 raw --dport 8080 "${flags[@]}" --wait 1
	run -2 raw --dport 8081 "${flags[@]}" --wait 1
	expect_moved "$before" '{"dropped.no_rule": 12}'
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/srv.log")" -eq 0 ]
}

@test "nmap ack, null and xmas scans see filtered ports once attached" {
	tcp_server "$NS_R" srv --port 8080 --bind "$R_IP"
	nmap_scan() {
		timeout 20 ip netns exec "$NS_C" nmap -n -Pn -e vc --max-retries 0 \
			--max-rtt-timeout 300ms --host-timeout 10s "$@" \
			-p 8080,8081 "$R_IP"
	}
	# unattached: an ACK scan gets resets (unfiltered), a NULL scan a
	# reset from the closed port
	run -0 nmap_scan -sA
	assert_output --regexp "8080/tcp +unfiltered"
	assert_output --regexp "8081/tcp +unfiltered"
	run -0 nmap_scan -sN
	assert_output --regexp "8081/tcp +closed"
	attach_router
	local before
	before=$(snapshot)
	run -0 nmap_scan -sA
	assert_output --regexp "8080/tcp +filtered"
	assert_output --regexp "8081/tcp +filtered"
	run -0 nmap_scan -sN
	assert_output --regexp "8081/tcp +open\|filtered"
	run -0 nmap_scan -sX
	assert_output --regexp "8080/tcp +open\|filtered"
	assert_output --regexp "8081/tcp +open\|filtered"
	# two ports, three scans, one probe each
	expect_moved "$before" '{"dropped.no_rule": 6}'
}

@test "the built-in allowances stay narrow: source ports 22, 53 and 67, udp to 22, tcp 67 to 68" {
	tcp_server "$NS_R" tsrv --port 8080 --port 68 --bind "$R_IP"
	udp_server "$NS_R" usrv --port 5000 --port 22 --bind "$R_IP"
	attach_router
	local before
	before=$(snapshot)
	run -2 raw --sport 22 --dport 8080 --flags S --flags A --wait 1
	run -2 raw --sport 53 --dport 8080 --flags S --flags A --wait 1
	run -2 raw --sport 67 --dport 68 --flags S --wait 1
	expect_moved "$before" '{"dropped.no_rule": 5}'
	before=$(snapshot)
	run -0 raw --proto udp --sport 22 --dport 5000
	run -0 raw --proto udp --sport 53 --dport 5000
	run -0 raw --proto udp --sport 67 --dport 5000
	run -0 raw --proto udp --sport 40000 --dport 22
	expect_moved "$before" '{"dropped.no_rule": 4}'
	# non-first fragments whose payload reads as a dhcp reply or as ssh
	before=$(snapshot)
	run -0 raw --proto udp --frag-off 3 --l4-hex 0043004400100000
	run -0 raw --proto tcp --frag-off 3 --l4-hex 9c400016000003e8000000005002faf000000000
	expect_moved "$before" '{"dropped.fragment": 2}'
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/tsrv.log")" -eq 0 ]
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/usrv.log")" -eq 0 ]
}

# This kernel has no 802.1Q device support (CONFIG_VLAN_8021Q), so the tags
# are written into raw frames. The receiving veth moves the outer tag into
# skb metadata before tc (vlan_present); a QinQ frame's inner tag stays in
# the data.
@test "vlan-tagged and qinq frames are dropped and counted as vlan; untagged traffic still passes" {
	attach_router
	local before
	before=$(snapshot)
	# each would pass untagged: a SYN to the ssh port of vr's address
	run -2 raw --vlan 0x8100:100 --dport 22 --flags S --wait 1
	expect_moved "$before" '{"dropped.vlan": 1}'
	before=$(snapshot)
	run -0 raw --vlan 0x88a8:10 --vlan 0x8100:100 --dport 22 --flags S
	run -0 raw --vlan 0x88a8:10 --dport 22 --flags S
	run -0 raw --vlan 0x8100:0 --dport 22 --flags S
	expect_moved "$before" '{"dropped.vlan": 3}'
	before=$(snapshot)
	run -0 raw --dport 22 --flags S --wait 3 --first
	assert_line "reply tcp 22>40000 flags=RA"
	expect_moved "$before" '{"passed.ssh": 1}'
}

@test "a tcp redirect to a port where only a udp socket listens, and the reverse, drop as no_listener" {
	udp_server "$NS_R" usrv --port 9997 --bind 127.0.0.1 --silent
	tcp_server "$NS_R" tsrv --port 9996 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9997 route
	run -0 splicer add "$VNET" proto udp port 53 redirect 9996 route
	local before
	before=$(snapshot)
	run -2 raw --dst "$VIP" --dport 80 --flags S --wait 1
	run -0 raw --dst "$VIP" --proto udp --sport 40000 --dport 53 --payload-len 8
	expect_moved "$before" '{"dropped.no_listener": 2}'
	# a real client too: silence, not a reset
	run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
	[ "$(grep -c '^recv ' "$BATS_TEST_TMPDIR/usrv.log")" -eq 0 ]
	[ "$(grep -c '^accept ' "$BATS_TEST_TMPDIR/tsrv.log")" -eq 0 ]
}

@test "a redirect whose listener went away after the rule was added drops as no_listener, no reset" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "^local=$VIP:80 "
	stop_bg
	wait_for "! listening '$NS_R' tcp 9999"
	local before
	before=$(snapshot)
	run -2 raw --dst "$VIP" --sport 40004 --dport 80 --flags S --wait 1
	expect_moved "$before" '{"dropped.no_listener": 1}'
	run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
	run -0 iface_counter vr redirected.packets
	assert_output 1
}

# Since Linux 6.5 bpf_sk_assign accepts a socket of a SO_REUSEPORT group
# and the stack picks the group member; before, it refused with
# -ESOCKTNOSUPPORT. Either way splicer must not hand the SYN to the stack
# unassigned: the flow reaches one of the listeners (redirected) or is
# dropped (no_listener), never passed and never reset.
@test "a redirect to a SO_REUSEPORT listener group reaches a member or drops; it never passes unassigned" {
	tcp_server "$NS_R" rp1 --port 9995 --bind 127.0.0.1 --reuseport --tag
	tcp_server "$NS_R" rp2 --port 9995 --bind 127.0.0.1 --reuseport --tag
	wait_for "[ \$(in_r ss -Hltn 'sport = :9995' | wc -l) -eq 2 ]"
	attach_router
	run -0 splicer add "$VNET" proto tcp port 82 redirect 9995 route
	local before i ok=0 dropped=0
	before=$(snapshot)
	for i in 1 2 3 4; do
		run tcp_client "$NS_C" --connect "$VIP:82" --timeout 1
		case $status in
		0)
			assert_output --regexp "^local=$VIP:82 peer=$C_IP:[0-9]+ listener=127.0.0.1:9995$"
			ok=$((ok + 1))
			;;
		2) dropped=$((dropped + 1)) ;;
		*) fail "connection $i: exit $status (3: reset, the SYN reached the stack unassigned): $output" ;;
		esac
	done
	echo "# reuseport: $ok connected, $dropped dropped" >&3
	run -0 moved "$before" passed.established
	if [ "$dropped" -eq 0 ]; then
		# every SYN was redirected (once: no retransmission needed)
		assert_output '{"redirected":4}'
		[ $(($(grep -c '^accept ' "$BATS_TEST_TMPDIR/rp1.log") +
			$(grep -c '^accept ' "$BATS_TEST_TMPDIR/rp2.log"))) -eq 4 ]
	else
		[ "$ok" -eq 0 ] || fail "mixed outcome: $ok connected, $dropped dropped"
		json_true "$output" '(keys == ["dropped.no_listener"]) and .["dropped.no_listener"] >= 4'
		run -0 iface_counter vr passed.established.packets
		assert_output 0
	fi
}
