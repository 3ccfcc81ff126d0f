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
		(keys == (["id","proto","dst","src","port_low","port_high","dev",
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

@test "stats -j follows schema 1 with every documented counter" {
	attach_router
	run -0 --separate-stderr splicer -j stats
	local js=$output
	json_true "$js" '.schema == 1'
	json_true "$js" '[.interfaces[] | select(.name == "vr")] | length == 1'
	json_true "$js" '.interfaces[] | select(.name == "vr") |
		(keys | contains(["name","ifindex","loopback","attached","icmp_echo",
			"addresses","passed","redirected","dropped"])) and
		(.passed | keys == (["arp","dhcp","ssh","established","rule_pass","loopback","icmp"] | sort)) and
		(.dropped | keys == (["no_rule","rule_drop","no_listener","not_ip","malformed","fragment","vlan"] | sort)) and
		all(.passed[], .dropped[], .redirected;
			keys == ["bytes","packets"] and (.packets | type) == "number" and (.bytes | type) == "number")'
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
