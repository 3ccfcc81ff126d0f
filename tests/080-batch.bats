#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# batch, apply, save and flush: whole files checked before anything
# changes, errors that name the line, and a save that restores exactly.

load helpers

setup() {
	common_setup
	attach_router
}
teardown() { common_teardown; }

# The rule set without what a restore may renumber or reset, sorted.
rules_only() {
	local js
	js=$(splicer -j list) || return 1
	jq -S '[.rules[] | del(.id, .packets, .bytes)] | sort' <<<"$js"
}

# A rule set that uses every part of the grammar.
add_varied_rules() {
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route service web
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9002 from "$C_IP2"
	run -0 splicer add "$VNET" proto udp port 5000-5010 pass from 10.99.0.0/24 dev vr
	run -0 splicer add 172.16.241.0/24 proto tcp port 81 redirect "$X_IP:7777" dev xr route
	run -0 splicer add "$R_IP" proto udp port 53 drop service dns-block
	run -0 splicer add 0.0.0.0/0 proto tcp port 8080 pass
}

# bad_batch CODE TEXT: the file $f is refused by batch and batch --check
# with exit CODE and one error line containing TEXT; nothing changes.
bad_batch() {
	local code=$1 want=$2 before after
	before=$(state_snapshot)
	run "-$code" --separate-stderr splicer batch -f "$f"
	assert_error "$want"
	run "-$code" --separate-stderr splicer batch --check "$f"
	assert_error "$want"
	after=$(state_snapshot)
	assert_equal "$after" "$before"
}

@test "batch applies a file: comments, blank lines, add and del in order" {
	tcp_server "$NS_R" svc --bind 127.0.0.1 --tag --port 9001
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	local f="$BATS_TEST_TMPDIR/rules"
	cat >"$f" <<-EOF
		# the web service

		add $VNET proto tcp port 80 redirect 9001 route service web  # comment
		   add $R_IP proto tcp port 8080 pass
		add $R_IP proto tcp port 8081 drop
		del $R_IP proto tcp port 8081
		del $R_IP proto udp port 5000
	EOF
	run -0 --separate-stderr splicer batch -f "$f"
	[ -z "$output$stderr" ]
	run -0 splicer -j list
	run -0 jq -c '[.rules[] | [.dst, .proto, .port_low, .action, .service]]' <<<"$output"
	assert_output '[["172.16.240.0/24","tcp",80,"redirect","web"],["10.99.0.1/32","tcp",8080,"pass",null]]'
	run -0 splicer_routes
	assert_output --partial "local $VNET dev lo"
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "listener=127.0.0.1:9001$"
}

@test "batch reads standard input without a file and with -; an empty file changes nothing" {
	run -0 splicer batch <<<"add $R_IP proto tcp port 8080 pass"
	run -0 splicer batch - <<<"add $R_IP proto tcp port 8081 pass"
	run -0 rule_count
	assert_output 2
	local before
	before=$(state_snapshot)
	run -0 splicer batch </dev/null
	run -0 splicer batch <<<"# nothing but a comment"
	[ "$(state_snapshot)" = "$before" ]
}

@test "batch --check validates the whole file and changes nothing" {
	run -0 splicer add "$R_IP" proto udp port 5000 pass
	local f="$BATS_TEST_TMPDIR/rules" before
	cat >"$f" <<-EOF
		add $VNET proto tcp port 80 redirect 9001 route
		del $R_IP proto udp port 5000
	EOF
	before=$(state_snapshot)
	run -0 --separate-stderr splicer batch --check -f "$f"
	[ -z "$output$stderr" ]
	[ "$(state_snapshot)" = "$before" ]
	# the same file applies
	run -0 splicer batch "$f"
	run -0 rule_count
	assert_output 1
	# and now its del is of an absent rule
	run -3 --separate-stderr splicer batch --check "$f"
	assert_error "line 2: no such rule"
}

@test "a bad batch file is refused whole, with its line number, and changes nothing" {
	add_varied_rules
	local f="$BATS_TEST_TMPDIR/bad"

	# a bad prefix on line 3 of 5
	cat >"$f" <<-EOF
		add 10.1.0.0/16 proto tcp port 80 pass
		add 10.2.0.0/16 proto tcp port 80 pass
		add 10.3.0 proto tcp port 80 pass
		add 10.4.0.0/16 proto tcp port 80 pass
		add 10.5.0.0/16 proto tcp port 80 pass
	EOF
	bad_batch 1 "line 3: 10.3.0: invalid IPv4 prefix"

	# an unknown keyword after a comment and a blank line
	printf '# x\n\nadd 10.1.0.0/16 proto tcp port 80 pass bogus\n' >"$f"
	bad_batch 1 "line 3: bogus: unknown keyword"

	# an unknown command
	printf 'add 10.1.0.0/16 proto tcp port 80 pass\nreplace 10.1.0.0/16\n' >"$f"
	bad_batch 1 "line 2: replace: unknown command"

	# del of a rule that is not there, after good lines
	cat >"$f" <<-EOF
		add 10.1.0.0/16 proto tcp port 80 pass
		del $VNET proto tcp port 80
		add 10.2.0.0/16 proto tcp port 80 pass
		del $VNET proto tcp port 443
	EOF
	bad_batch 3 "line 4: no such rule"

	# del of a rule the file itself deleted already
	printf 'del %s proto tcp port 8080\ndel %s proto tcp port 8080\n' 0.0.0.0/0 0.0.0.0/0 >"$f"
	bad_batch 3 "line 2: no such rule"

	# port out of range
	printf 'add 10.1.0.0/16 proto tcp port 70000 pass\n' >"$f"
	bad_batch 1 "line 1: 70000: port must be 1-65535"

	# host bits, a bad range, a missing action, an unknown interface
	printf 'add 10.1.0.5/16 proto tcp port 80 pass\n' >"$f"
	bad_batch 1 "line 1: 10.1.0.5/16: host bits set; did you mean 10.1.0.0/16?"
	printf '\n\nadd 10.1.0.0/16 proto udp port 90-80 pass\n' >"$f"
	bad_batch 1 "line 3: 90-80: low port above high port"
	printf 'add 10.1.0.0/16 proto tcp port 80\n' >"$f"
	bad_batch 1 "line 1: missing action"
	printf 'add 10.1.0.0/16 proto tcp port 80 pass dev nosuch0\n' >"$f"
	bad_batch 1 "line 1: nosuch0: no such interface"

	# flush anywhere but first
	printf 'add 10.1.0.0/16 proto tcp port 80 pass\nflush\n' >"$f"
	bad_batch 1 "line 2: flush must be the first command"

	# a good file of 40 lines with one bad line at the end
	local i
	: >"$f"
	for i in $(seq 1 39); do
		echo "add 10.$i.0.0/16 proto tcp port 80 redirect 9001 route" >>"$f"
	done
	echo "add 10.40.0.0/16 proto tcp port 80 redirect" >>"$f"
	bad_batch 1 "line 40: redirect: missing value"

	# under -j the error is JSON and still names the line
	run -1 --separate-stderr splicer -j batch "$f"
	run -0 jq -er .error <<<"$stderr"
	assert_output "line 40: redirect: missing value"
}

@test "batch with flush as its first command replaces the whole set" {
	add_varied_rules
	run -0 splicer batch <<-EOF
		flush
		add $R_IP proto tcp port 8080 pass
	EOF
	run -0 splicer -j list
	run -0 jq -c '[.rules[] | [.dst, .port_low, .action]]' <<<"$output"
	assert_output '[["10.99.0.1/32",8080,"pass"]]'
	run -0 splicer_routes
	assert_output ""
}

@test "batch rejects bad arguments and a missing file" {
	run -1 --separate-stderr splicer batch -f "$BATS_TEST_TMPDIR/none"
	assert_error "$BATS_TEST_TMPDIR/none: No such file or directory"
	run -1 --separate-stderr splicer batch -f
	assert_error "-f: missing FILE"
	run -1 --separate-stderr splicer batch --bogus
	assert_error "--bogus: unknown option"
	run -1 --separate-stderr splicer batch a b
	assert_error "b: only one file"
}

@test "save prints add lines in id order, and save, flush, batch, save is the identity" {
	add_varied_rules
	run -0 --separate-stderr splicer save
	local saved=$output
	assert_output - <<-EOF
		add $VNET proto tcp port 80 redirect 9001 route service web
		add $VNET proto tcp port 80 redirect 9002 from $C_IP2/32
		add $VNET proto udp port 5000-5010 pass from 10.99.0.0/24 dev vr
		add 172.16.241.0/24 proto tcp port 81 redirect $X_IP:7777 dev xr route
		add $R_IP/32 proto udp port 53 drop service dns-block
		add 0.0.0.0/0 proto tcp port 8080 pass
	EOF
	local list_before routes_before
	list_before=$(rules_only)
	routes_before=$(splicer_routes)

	run -0 --separate-stderr splicer flush
	[ -z "$output$stderr" ]
	run -0 rule_count
	assert_output 0
	run -0 splicer_routes
	assert_output ""

	run -0 splicer batch <<<"$saved"
	run -0 splicer save
	assert_equal "$output" "$saved"
	assert_equal "$(rules_only)" "$list_before"
	assert_equal "$(splicer_routes)" "$routes_before"

	# apply restores it too, from any state
	run -0 splicer add 10.7.0.0/16 proto tcp port 1 pass
	run -0 splicer del "$VNET" proto tcp port 80
	run -0 splicer apply - <<<"$saved"
	assert_equal "$(rules_only)" "$list_before"
}

splicer_routes6() {
	timeout 10 ip -6 -n "$NS_R" route show table local proto "$SPLICER_RTPROTO"
}

@test "both families: save, flush, batch, save is the identity, routes included" {
	enable_ipv6
	add_varied_rules
	run -0 splicer add "$VNET6" proto tcp port 80 redirect 9001 route service web6
	run -0 splicer add "$VNET6" proto tcp port 80 redirect "[$R_IP6]:9002" from "$C_IP6_2"
	run -0 splicer add "$VNET6" proto udp port 5000-5010 pass from fd00:99::/64 dev vr
	run -0 splicer add fd00:172:16:241::/64 proto udp port 53 redirect 5353 dev xr route
	run -0 splicer add "$R_IP6" proto tcp port 8443 drop
	run -0 splicer add ::/0 proto tcp port 8080 pass
	run -0 --separate-stderr splicer save
	local saved=$output
	assert_output - <<-EOF
		add $VNET proto tcp port 80 redirect 9001 route service web
		add $VNET proto tcp port 80 redirect 9002 from $C_IP2/32
		add $VNET proto udp port 5000-5010 pass from 10.99.0.0/24 dev vr
		add 172.16.241.0/24 proto tcp port 81 redirect $X_IP:7777 dev xr route
		add $R_IP/32 proto udp port 53 drop service dns-block
		add 0.0.0.0/0 proto tcp port 8080 pass
		add $VNET6 proto tcp port 80 redirect 9001 route service web6
		add $VNET6 proto tcp port 80 redirect [$R_IP6]:9002 from $C_IP6_2/128
		add $VNET6 proto udp port 5000-5010 pass from fd00:99::/64 dev vr
		add fd00:172:16:241::/64 proto udp port 53 redirect 5353 dev xr route
		add $R_IP6/128 proto tcp port 8443 drop
		add ::/0 proto tcp port 8080 pass
	EOF
	run -0 --separate-stderr splicer -j list
	json_true "$output" '[.rules[] | select(.family == "ipv6")] | length == 6'
	json_true "$output" '[.rules[] | select(.dst == "'"$VNET6"'" and .port_low == 80 and .src == "::/0")][0].to == "[::1]:9001"'
	local list_before routes_before routes6_before
	list_before=$(rules_only)
	routes_before=$(splicer_routes)
	routes6_before=$(splicer_routes6)
	[ "$(grep -c . <<<"$routes6_before")" -eq 2 ]
	run -0 timeout 10 ip -6 -n "$NS_R" route show table local "$VNET6"
	assert_output --partial "local $VNET6 dev lo proto $SPLICER_RTPROTO"

	run -0 --separate-stderr splicer flush
	run -0 rule_count
	assert_output 0
	run -0 splicer_routes
	assert_output ""
	run -0 splicer_routes6
	assert_output ""

	run -0 splicer batch <<<"$saved"
	run -0 splicer save
	assert_equal "$output" "$saved"
	assert_equal "$(rules_only)" "$list_before"
	assert_equal "$(splicer_routes)" "$routes_before"
	assert_equal "$(splicer_routes6)" "$routes6_before"

	# a batch mixing families: del of an IPv6 rule and its route, add one
	run -0 splicer batch <<-EOF
		del fd00:172:16:241::/64 proto udp port 53 dev xr
		del $VNET6 proto tcp port 80
		add fd00:172:16:242::/64 proto tcp port 443 redirect 9443 route
		del $VNET proto tcp port 80
	EOF
	run -0 splicer_routes6
	assert_output --regexp "^local fd00:172:16:242::/64 dev lo"
	[ "${#lines[@]}" -eq 1 ]
	run -0 splicer_routes
	assert_output --partial "172.16.241.0/24"
	refute_output --partial "$VNET"

	# apply restores both families from there
	run -0 splicer apply - <<<"$saved"
	assert_equal "$(rules_only)" "$list_before"
	assert_equal "$(splicer_routes6)" "$routes6_before"
}

@test "save -j wraps the lines in a versioned object; save on no rules prints nothing" {
	run -0 --separate-stderr splicer save
	assert_output ""
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer -j save
	json_true "$output" '.schema == 1 and .batch == ["add 172.16.240.0/24 proto tcp port 80 redirect 9001 route"]'
}

@test "flush removes every rule and splicer's routes, and leaves other routes alone" {
	add_varied_rules
	run -0 timeout 10 ip -n "$NS_R" route add local 172.16.250.0/24 dev lo
	run -0 splicer_routes
	[ -n "$output" ]
	run -0 splicer flush
	run -0 rule_count
	assert_output 0
	run -0 splicer_routes
	assert_output ""
	run -0 timeout 10 ip -n "$NS_R" route show table local 172.16.250.0/24
	assert_output --partial "local 172.16.250.0/24 dev lo"
	# flush of an empty set is fine; arguments are not
	run -0 splicer flush
	run -1 --separate-stderr splicer flush now
	assert_error "now: unknown argument"
	# traffic the rules let in is dropped again
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
}

@test "apply replaces the set: unchanged rules keep ids and counters, others go" {
	tcp_server "$NS_R" host --bind "$R_IP" --port 8080
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer add "$R_IP" proto udp port 53 drop
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	wait_rule_counter 'is_dst("10.99.0.1/32") and .proto == "tcp"' packets 1
	local id packets
	id=$(rule_field 'is_dst("10.99.0.1/32") and .proto == "tcp"' id)
	packets=$(rule_field 'is_dst("10.99.0.1/32") and .proto == "tcp"' packets)
	local udp_id
	udp_id=$(rule_field 'is_dst("10.99.0.1/32") and .proto == "udp"' id)

	local f="$BATS_TEST_TMPDIR/rules"
	cat >"$f" <<-EOF
		# the pass rule unchanged, the drop turned into a pass, a new rule
		add $R_IP proto tcp port 8080 pass
		add $R_IP proto udp port 53 pass
		add 172.16.241.0/24 proto tcp port 443 redirect 9002
	EOF
	run -0 --separate-stderr splicer apply "$f"
	[ -z "$output$stderr" ]
	run -0 splicer -j list
	run -0 jq -c '[.rules[] | [.dst, .proto, .port_low, .action]] | sort' <<<"$output"
	assert_output '[["10.99.0.1/32","tcp",8080,"pass"],["10.99.0.1/32","udp",53,"pass"],["172.16.241.0/24","tcp",443,"redirect"]]'
	run -0 rule_field 'is_dst("10.99.0.1/32") and .proto == "tcp"' id
	assert_output "$id"
	run -0 rule_field 'is_dst("10.99.0.1/32") and .proto == "tcp"' packets
	[ "$output" -ge "$packets" ]
	run -0 rule_field 'is_dst("10.99.0.1/32") and .proto == "udp"' id
	assert_output "$udp_id"
	# the removed rule's route went with it
	run -0 splicer_routes
	assert_output ""
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
}

@test "apply takes add lines only and a file, and a bad file changes nothing" {
	add_varied_rules
	local f="$BATS_TEST_TMPDIR/rules" before
	before=$(state_snapshot)
	printf 'add %s proto tcp port 8080 pass\ndel %s proto tcp port 8080\n' "$R_IP" "$R_IP" >"$f"
	run -1 --separate-stderr splicer apply "$f"
	assert_error "line 2: del: apply takes add and attach lines only"
	printf 'flush\n' >"$f"
	run -1 --separate-stderr splicer apply "$f"
	assert_error "line 1: flush: apply takes add and attach lines only"
	printf 'add %s proto tcp port 8080 pass\nadd 10.0.0.0/33 proto tcp port 1 pass\n' "$R_IP" >"$f"
	run -1 --separate-stderr splicer apply --check "$f"
	assert_error "line 2: 10.0.0.0/33: prefix length must be 0-32"
	run -1 --separate-stderr splicer apply "$f"
	assert_error "line 2: 10.0.0.0/33"
	run -1 --separate-stderr splicer apply
	assert_error "missing FILE"
	[ "$(state_snapshot)" = "$before" ]
}

@test "a batch of 2000 rules is one update and every rule works" {
	local f="$BATS_TEST_TMPDIR/many" i j
	for i in $(seq 0 7); do
		for j in $(seq 0 249); do
			echo "add 10.$((100 + i)).$j.0/24 proto tcp port $((1000 + j)) pass"
		done
	done >"$f"
	echo "add $R_IP proto tcp port 8080 pass" >>"$f"
	tcp_server "$NS_R" host --bind "$R_IP" --port 8080
	run -0 splicer batch "$f"
	run -0 rule_count
	assert_output 2001
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 splicer save
	[ "${#lines[@]}" -eq 2001 ]
}
