#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# list -j / stats -j: the schema, and counters that move by exactly the
# packets sent.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# A UDP datagram with a 100-byte payload is 128 bytes of IPv4, 142 with
# the Ethernet header splicer may or may not count: either is exact.
PAYLOAD=100

# assert_bytes BYTES PACKETS: every packet counted with 128 or 142 bytes
assert_bytes() {
	local bytes=$1 packets=$2
	[ "$packets" -gt 0 ]
	if [ "$bytes" -ne $((packets * (PAYLOAD + 28))) ] &&
		[ "$bytes" -ne $((packets * (PAYLOAD + 42))) ]; then
		fail "$bytes bytes for $packets datagrams of $PAYLOAD bytes"
	fi
}

@test "list -j follows schema 1 with every documented field" {
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add "$R_IP" proto udp port 7000-7010 drop from 10.99.0.0/24 dev vr
	run -0 splicer add 0.0.0.0/0 proto tcp port 8080 pass service svc-3EfIhX
	run -0 --separate-stderr splicer -j list
	local js=$output
	json_true "$js" '.schema == 1 and (.rules | length) == 3'
	# field names and types of every rule
	json_true "$js" 'all(.rules[];
		(keys == (["id","family","proto","dst","src","port_low","port_high","dev",
			"action","to","route","service","packets","bytes"] | sort)) and
		(.id | type) == "number" and (.packets | type) == "number" and
		(.bytes | type) == "number" and (.route | type) == "boolean")'
	json_true "$js" '[.rules[].id] | unique | length == 3'
	run -0 jq -ec "$JQ_DEFS"' .rules[] | select(is_dst("172.16.240.0/24"))
		| [.proto, .src, .port_low, .port_high, .dev, .action, .to, .route]' <<<"$js"
	assert_output '["tcp","0.0.0.0/0",80,80,null,"redirect","127.0.0.1:9999",true]'
	run -0 jq -ec "$JQ_DEFS"' .rules[] | select(is_dst("10.99.0.1/32"))
		| [.proto, .src, .port_low, .port_high, .dev, .action, .to, .route]' <<<"$js"
	assert_output '["udp","10.99.0.0/24",7000,7010,"vr","drop",null,false]'
	run -0 jq -ec '.rules[] | select(.dst == "0.0.0.0/0") | [.action, .to, .service, .packets, .bytes]' <<<"$js"
	assert_output '["pass",null,"svc-3EfIhX",0,0]'
}

@test "stats -j follows schema 2: totals of both families, ipv4 and ipv6 objects" {
	attach_router
	run -0 --separate-stderr splicer -j stats
	local js=$output
	json_true "$js" '.schema == 2'
	json_true "$js" '[.interfaces[] | select(.name == "vr")] | length == 1'
	local v4='["arp","dhcp","ssh","established","rule_pass","loopback","icmp"]'
	local d4='["no_rule","rule_drop","no_listener","malformed","fragment"]'
	json_true "$js" '.interfaces[] | select(.name == "vr") |
		(keys | contains(["name","ifindex","loopback","attached","icmp_echo",
			"addresses","passed","redirected","dropped","ipv4","ipv6"])) and
		(.passed | keys == ('"$v4"' + ["nd"] | sort)) and
		(.dropped | keys == ('"$d4"' + ["not_ip","vlan","ext_header"] | sort)) and
		(.ipv4 | keys == ["dropped","passed","redirected"]) and
		(.ipv4.passed | keys == ('"$v4"' | sort)) and
		(.ipv4.dropped | keys == ('"$d4"' | sort)) and
		(.ipv6.passed | keys == ('"$v4"' + ["nd"] | sort)) and
		(.ipv6.dropped | keys == ('"$d4"' + ["ext_header"] | sort)) and
		all(.passed[], .dropped[], .redirected, .ipv4.passed[], .ipv4.dropped[],
			.ipv4.redirected, .ipv6.passed[], .ipv6.dropped[], .ipv6.redirected;
			keys == ["bytes","packets"] and (.packets | type) == "number" and (.bytes | type) == "number")'
}

# udp6_send NS ADDR PORT N: N IPv6 datagrams of PAYLOAD bytes, unanswered
udp6_send() {
	timeout 15 ip netns exec "$1" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    s.sendto(b"x" * int(sys.argv[4]), (sys.argv[1], int(sys.argv[2])))
' "$2" "$3" "$4" "$PAYLOAD"
}

@test "stats counts each family apart and the totals are their sum" {
	enable_ipv6
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	run -0 splicer add "$R_IP6" proto udp port 5000 drop
	# the peer's neighbour entry for R_IP6, so no solicitation is needed
	run -0 timeout 10 ip -n "$NS_C" -6 neigh replace "$R_IP6" \
		lladdr "$(mac_of "$NS_R" vr)" dev vc nud permanent
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 3 --size $PAYLOAD --no-wait
	run -0 udp6_send "$NS_C" "$R_IP6" 5000 4
	wait_counter vr dropped.rule_drop.packets 7
	run -0 iface_counter vr ipv4.dropped.rule_drop.packets
	assert_output 3
	run -0 iface_counter vr ipv6.dropped.rule_drop.packets
	assert_output 4
	run -0 rule_field "is_dst(\"$R_IP6/128\")" packets
	assert_output 4
	run -0 rule_field "is_dst(\"$R_IP6/128\")" family
	assert_output ipv6
	# the interface's addresses, both families, IPv4 first
	run -0 iface_counter vr 'addresses | map(select(test(":")|not)) | length'
	assert_output 1
	run -0 iface_counter vr 'addresses | index("'"$R_IP6"'") != null'
	assert_output true
	run -0 iface_counter vr 'addresses | any(startswith("fe80:"))'
	assert_output true
	run -0 splicer stats
	assert_output --regexp "dropped +rule_drop +7 +[0-9]+ +3 +[0-9]+ +4 +[0-9]+"
	assert_output --regexp "dropped +not_ip +[0-9]+ +[0-9]+ +- +- +- +-"
	assert_output --regexp "passed +nd +[0-9]+ +[0-9]+ +- +- +[0-9]+ +[0-9]+"
}

@test "n udp datagrams to a drop rule count n packets and their bytes on the rule and as rule_drop" {
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	run -0 splicer add "$R_IP" proto udp port 5001 drop
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 7 --size $PAYLOAD --no-wait
	run -0 udp_client "$NS_C" --connect "$R_IP:5001" --count 2 --size $PAYLOAD --no-wait
	wait_counter vr dropped.rule_drop.packets 9
	run -0 rule_field 'is_dst("10.99.0.1/32") and .port_low == 5000' packets
	assert_output 7
	run -0 rule_field 'is_dst("10.99.0.1/32") and .port_low == 5000' bytes
	assert_bytes "$output" 7
	run -0 rule_field 'is_dst("10.99.0.1/32") and .port_low == 5001' packets
	assert_output 2
	run -0 iface_counter vr dropped.rule_drop.packets
	assert_output 9
	run -0 iface_counter vr dropped.rule_drop.bytes
	assert_bytes "$output" 9
	run -0 iface_counter vr dropped.no_rule.packets
	assert_output 0
}

@test "n unlisted udp datagrams count n no_rule drops and no rule packets" {
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5001 pass
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 5 --size $PAYLOAD --no-wait
	wait_counter vr dropped.no_rule.packets 5
	run -0 iface_counter vr dropped.no_rule.packets
	assert_output 5
	run -0 iface_counter vr dropped.no_rule.bytes
	assert_bytes "$output" 5
	run -0 rule_field 'is_dst("10.99.0.1/32")' packets
	assert_output 0
	run -0 iface_counter vr passed.rule_pass.packets
	assert_output 0
}

@test "n redirected udp datagrams count n redirected and n on the rule" {
	udp_tproxy_server "$NS_R" dns --port 9953
	attach_router
	run -0 splicer add "$VNET" proto udp port 53 redirect 9953 route
	run -0 udp_client "$NS_C" --connect "$VIP:53" --count 6 --size $PAYLOAD
	[ "${#lines[@]}" -eq 6 ]
	run -0 iface_counter vr redirected.packets
	assert_output 6
	run -0 iface_counter vr redirected.bytes
	assert_bytes "$output" 6
	run -0 rule_field "is_dst(\"$VNET\")" packets
	assert_output 6
	run -0 rule_field "is_dst(\"$VNET\")" bytes
	assert_bytes "$output" 6
}

@test "n udp datagrams to a pass rule count n rule_pass and n on the rule" {
	udp_server "$NS_R" udp --port 5000 --bind "$R_IP" --silent
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 4 --size $PAYLOAD --no-wait
	wait_counter vr passed.rule_pass.packets 4
	wait_for "[ \$(grep -c '^recv ' '$BATS_TEST_TMPDIR/udp.log') -eq 4 ]"
	run -0 iface_counter vr passed.rule_pass.packets
	assert_output 4
	run -0 rule_field 'is_dst("10.99.0.1/32")' packets
	assert_output 4
	run -0 rule_field 'is_dst("10.99.0.1/32")' bytes
	assert_bytes "$output" 4
}

@test "a tcp connection through a pass rule counts its first packet on the rule, the rest as established" {
	tcp_server "$NS_R" tcp --port 8080 --bind "$R_IP"
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	# SYN on the rule; handshake ACK and the FIN/ACKs of the same flow
	# belong to the accepted socket
	wait_counter vr passed.established.packets 2
	run -0 rule_field 'is_dst("10.99.0.1/32")' packets
	assert_output 1
	run -0 iface_counter vr passed.rule_pass.packets
	assert_output 1
}

@test "ssh, established and arp passes are counted by reason" {
	tcp_server "$NS_R" ssh --port 22
	tcp_server "$NS_C" peer --port 8081 --bind "$C_IP"
	attach_router
	run -0 timeout 10 ip -n "$NS_C" neigh flush dev vc
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	run -0 tcp_client "$NS_R" --connect "$C_IP:8081"
	run -0 iface_counter vr passed.ssh.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter vr passed.established.packets
	[ "$output" -ge 2 ]
	run -0 iface_counter vr passed.arp.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter vr dropped.no_rule.packets
	assert_output 0
}

@test "counters are per interface: traffic on vr does not move xr's" {
	attach_router
	run -0 splicer attach xr
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 3 --no-wait
	wait_counter vr dropped.no_rule.packets 3
	run -0 --separate-stderr splicer -j stats
	json_true "$output" '[.interfaces[] | select(.name == "xr" and .attached)] | length == 1'
	json_true "$output" '.interfaces[] | select(.name == "xr") |
		[.passed[], .redirected, .dropped[]] | map(.packets) | add == 0'
}

# The packets counter of the rule on udp port PORT of R_IP.
udp_rule_packets() {
	rule_field "is_dst(\"$R_IP/32\") and .port_low == $1" packets
}

@test "with SPLICER_MAX_RULES=3 a fourth rule is refused, and a counter slot given again starts from zero" {
	local p before
	export SPLICER_MAX_RULES=3
	run -0 splicer attach vr
	unset SPLICER_MAX_RULES
	for p in 5000 5001 5002; do
		run -0 splicer add "$R_IP" proto udp port $p drop
	done
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 2 --size $PAYLOAD --no-wait
	wait_counter vr dropped.rule_drop.packets 2
	run -0 udp_rule_packets 5000
	assert_output 2
	# full: one line, and the rules stay as they were
	before=$(splicer save)
	run -2 --separate-stderr splicer add "$R_IP" proto udp port 5003 drop
	assert_equal "$stderr" "Error: rule table is full: 4 rules, at most 3"
	run -0 splicer save
	assert_output "$before"
	# 3 rules have 7 slots (0 is none's): the next three adds take the
	# last never given, the fourth reclaims, and 5000's is the lowest free
	run -0 splicer del "$R_IP" proto udp port 5000
	for p in 5003 5004 5005; do
		run -0 splicer add "$R_IP" proto udp port $p drop
		run -0 splicer del "$R_IP" proto udp port $p
	done
	run -0 splicer add "$R_IP" proto udp port 5006 drop
	run -0 udp_rule_packets 5006
	assert_output 0
	run -0 udp_client "$NS_C" --connect "$R_IP:5006" --count 1 --size $PAYLOAD --no-wait
	wait_counter vr dropped.rule_drop.packets 3
	run -0 udp_rule_packets 5006
	assert_output 1
	run -0 udp_rule_packets 5001
	assert_output 0
}

# udp_each PORT...: one datagram from the client to R_IP on each port.
udp_each() {
	timeout 15 ip netns exec "$NS_C" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in sys.argv[2:]:
    s.sendto(b"x" * 100, (sys.argv[1], int(p)))
' "$R_IP" "$@"
}

@test "with SPLICER_MAX_RULES=6 under churn, every rule counts only its own packets and a new rule starts from zero" {
	export SPLICER_MAX_RULES=6
	run -0 splicer attach vr
	unset SPLICER_MAX_RULES
	local -A want=()
	local step p ports js dropped=0 f="$BATS_TEST_TMPDIR/rules"
	RANDOM=1
	for step in $(seq 1 40); do
		p=$((5000 + RANDOM % 12))
		if [ $((step % 10)) = 0 ]; then
			# an apply: a rule it names again keeps its counter
			: >"$f"
			local -A was=()
			for p in "${!want[@]}"; do
				was[$p]=${want[$p]}
				[ $((RANDOM % 2)) = 0 ] || unset "want[$p]"
			done
			while [ "${#want[@]}" -lt 5 ]; do
				p=$((5000 + RANDOM % 12))
				[ -n "${want[$p]:-}" ] || want[$p]=${was[$p]:-0}
			done
			unset was
			for p in "${!want[@]}"; do
				echo "add $R_IP proto udp port $p drop" >>"$f"
			done
			run -0 splicer apply "$f"
		elif [ -n "${want[$p]:-}" ]; then
			run -0 splicer del "$R_IP" proto udp port "$p"
			unset "want[$p]"
		elif [ "${#want[@]}" -lt 6 ]; then
			run -0 splicer add "$R_IP" proto udp port "$p" drop
			want[$p]=0
		fi
		# a datagram to every rule: each counts one more, no other
		ports=("${!want[@]}")
		[ "${#ports[@]}" -gt 0 ] || continue
		run -0 udp_each "${ports[@]}"
		dropped=$((dropped + ${#ports[@]}))
		wait_counter vr dropped.rule_drop.packets "$dropped"
		js=$(splicer -j list)
		for p in "${ports[@]}"; do
			want[$p]=$((want[$p] + 1))
			run -0 jq -r ".rules[] | select(.port_low == $p) | .packets" <<<"$js"
			[ "$output" = "${want[$p]}" ] ||
				fail "step $step: port $p counted $output packets, not ${want[$p]}: $js"
		done
	done
}

# reclaim_setup: a pin root of 2 rules (5 counter slots, 1 to 4) whose
# free extent is used up, udp 5001 left and udp 5000's slot, which
# counted 2 packets, free: the next add must reclaim.
reclaim_setup() {
	local p
	export SPLICER_MAX_RULES=2
	run -0 splicer attach vr
	unset SPLICER_MAX_RULES
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	run -0 udp_each 5000 5000
	wait_counter vr dropped.rule_drop.packets 2
	run -0 splicer add "$R_IP" proto udp port 5001 drop
	run -0 splicer del "$R_IP" proto udp port 5000
	for p in 5002 5003; do
		run -0 splicer add "$R_IP" proto udp port $p drop
		run -0 splicer del "$R_IP" proto udp port $p
	done
}

@test "an add that reclaims counter slots, killed with SIGKILL before any of its system calls, leaves every rule counting its own packets" {
	local base=$PIN trace="$BATS_TEST_TMPDIR/trace" sc n kills=0 points js p old new
	PIN=$base-traced
	reclaim_setup
	old=$(splicer save)
	run -0 timeout 20 nsenter --net="/run/netns/$NS_R" -- strace -f -o "$trace" \
		-e trace=bpf,unlink,rename,membarrier "$SPLICER" --pin-root "$PIN" \
		add "$R_IP" proto udp port 5004 drop
	grep -q '^[0-9]* *membarrier' "$trace" || fail "the add did not reclaim"
	new=$(splicer save)
	points=$(kill_points "$trace")
	run -0 splicer detach vr --purge
	# (the points on a descriptor of their own: a command may read stdin)
	while read -r -u 4 sc n; do
		kills=$((kills + 1))
		PIN=$base-$kills
		reclaim_setup
		run killed_at "$sc" "$n" add "$R_IP" proto udp port 5004 drop
		[ "$status" -eq 137 ] || [ "$status" -eq 0 ] ||
			fail "killed at $sc #$n: exit $status: $output"
		# the old set or the new; the add again converges
		run -0 splicer save
		[ "$output" = "$old" ] || [ "$output" = "$new" ] ||
			fail "killed at $sc #$n: neither set: $output"
		run -0 splicer add "$R_IP" proto udp port 5004 drop
		# both rules count from where they were: 0, and then one each
		js=$(splicer -j list)
		for p in 5001 5004; do
			run -0 jq -r ".rules[] | select(.port_low == $p) | .packets" <<<"$js"
			[ "$output" = 0 ] || fail "killed at $sc #$n: port $p counted $output: $js"
		done
		run -0 udp_each 5001 5004
		wait_counter vr dropped.rule_drop.packets 4
		js=$(splicer -j list)
		for p in 5001 5004; do
			run -0 jq -r ".rules[] | select(.port_low == $p) | .packets" <<<"$js"
			[ "$output" = 1 ] || fail "killed at $sc #$n: port $p counted $output: $js"
		done
		run -0 splicer detach vr --purge
	done 4<<<"$points"
	PIN=$base
	[ "$kills" -ge 20 ] || fail "only $kills kill points"
	echo "# $kills kills" >&3
}
