#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The command line: help, version, global options, pin root, exit 3 before
# attach.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "version, -V and --version print 'splicer X.Y.Z' matching the Makefile and exit 0" {
	local want
	want=$(sed -n 's/^VERSION := *//p' "$REPO/Makefile")
	[ -n "$want" ]
	local form
	for form in version -V --version; do
		run -0 --separate-stderr splicer "$form"
		assert_output "splicer $want"
		[[ $output =~ ^splicer\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	done
}

@test "help, -h and --help exit 0 and list every command and the exit codes" {
	local form cmd
	for form in help -h --help; do
		run -0 --separate-stderr splicer "$form"
		for cmd in attach detach add del list stats batch apply save flush help version; do
			assert_output --regexp "(^|[[:space:]])$cmd([[:space:]]|$)"
		done
		assert_output --regexp '[Ee]xit'
		local code
		for code in 0 1 2 3; do
			assert_output --regexp "(^|[[:space:]])$code([[:space:]:,.]|$)"
		done
	done
}

@test "COMMAND help exits 0 for every command and describes that command" {
	local cmd
	for cmd in attach detach add del list stats batch apply save flush help version; do
		run -0 --separate-stderr splicer "$cmd" help
		assert_output --partial "Usage: splicer $cmd"
		local text=$output
		# help COMMAND is the same text
		run -0 --separate-stderr splicer help "$cmd"
		assert_equal "$output" "$text"
	done
	run -0 --separate-stderr splicer batch help
	assert_output --partial "--check"
	assert_output --partial "line"
	run -0 --separate-stderr splicer apply help
	assert_output --partial "counters"
	run -0 --separate-stderr splicer add help
	assert_output --partial redirect
	assert_output --partial route
}

@test "an unknown command exits 1 with one Error line pointing at splicer help" {
	run -1 --separate-stderr splicer frobnicate
	assert_error "frobnicate: unknown command; see 'splicer help'"
	[ -z "$output" ]
	run -1 --separate-stderr splicer help frobnicate
	assert_error "frobnicate: unknown command; see 'splicer help'"
	# a prefix of nothing, and a word longer than a command
	run -1 --separate-stderr splicer listing
	assert_error "listing: unknown command"
}

@test "a unique prefix names a command, as in ip" {
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 --separate-stderr splicer list
	local full=$output
	run -0 --separate-stderr splicer li
	assert_equal "$output" "$full"
	run -0 --separate-stderr splicer -j l
	json_true "$output" '.schema == 1 and (.rules | length) == 1'
	run -0 --separate-stderr splicer ver
	assert_output --regexp '^splicer [0-9.]+$'
	run -0 --separate-stderr splicer he sa
	assert_output --partial "Usage: splicer save"
	run -0 --separate-stderr splicer sa
	assert_output "add $R_IP/32 proto tcp port 8080 pass"
	run -0 splicer fl
	run -0 rule_count
	assert_output 0
	run -0 --separate-stderr splicer at vr
	assert_output --partial "already attached to vr"
}

@test "an ambiguous prefix exits 1 and names the commands it could be" {
	run -1 --separate-stderr splicer de
	assert_error "de: ambiguous command (detach, del); see 'splicer help'"
	[ -z "$output" ]
	run -1 --separate-stderr splicer a
	assert_error "a: ambiguous command (attach, add, apply)"
	run -1 --separate-stderr splicer s
	assert_error "s: ambiguous command (stats, save)"
	run -1 --separate-stderr splicer help de
	assert_error "de: ambiguous command"
	run -1 --separate-stderr splicer -j de
	run -0 jq -er .error <<<"$stderr"
	assert_output --partial "ambiguous command (detach, del)"
}

@test "commands other than attach exit 3 before attach: not attached (no maps under DIR)" {
	[ ! -e "$PIN" ]
	run -3 --separate-stderr splicer list
	assert_error "not attached (no maps under $PIN"
	run -3 --separate-stderr splicer stats
	assert_error "not attached (no maps under $PIN"
	run -3 --separate-stderr splicer add 10.99.0.1 proto tcp port 80 pass
	assert_error "not attached (no maps under $PIN"
	run -3 --separate-stderr splicer del 10.99.0.1 proto tcp port 80
	assert_error "not attached (no maps under $PIN"
	run -3 --separate-stderr splicer detach vr
	assert_error "not attached (no maps under $PIN"
	# and none of them attached anything
	run -0 tc -n "$NS_R" qdisc show dev vr
	refute_output --partial clsact
}

@test "the not-attached error under -j is a JSON object on stderr" {
	run -3 --separate-stderr splicer -j list
	[ "${#stderr_lines[@]}" -eq 1 ]
	run -0 jq -er '.error' <<<"$stderr"
	assert_output --partial "not attached (no maps under $PIN"
}

@test "SPLICER_PIN_ROOT moves the pin root like --pin-root" {
	run -0 timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" "$SPLICER" attach vr
	# the state is pinned there, not in the default place
	[ -d "$PIN" ]
	[ -n "$(ls -A "$PIN")" ]
	run -0 timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" "$SPLICER" add "$R_IP" proto tcp port 8080 pass
	# --pin-root sees the same state
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output pass
	run -0 timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" "$SPLICER" -j list
	run -0 jq -er '.rules | length' <<<"$output"
	assert_output 1
}

@test "list prints the rules in text form" {
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add "$R_IP" proto udp port 7000-7010 drop
	run -0 --separate-stderr splicer list
	assert_output --partial "$VNET"
	assert_output --partial "127.0.0.1:9999"
	assert_output --partial "7000-7010"
	assert_output --partial redirect
	assert_output --partial drop
}

@test "stats prints the attached interface in text form" {
	attach_router
	run -0 --separate-stderr splicer stats
	assert_output --partial vr
	assert_output --partial "$R_IP"
}

@test "-q and -v are accepted and -q add still adds the rule" {
	attach_router
	run -0 --separate-stderr splicer -q add "$R_IP" proto tcp port 8080 pass
	[ -z "$output" ]
	run -0 splicer -v list
	run -0 rule_field 'is_dst("10.99.0.1/32")' action
	assert_output pass
}

@test "-p pretty-prints the same JSON as -j" {
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 --separate-stderr splicer -j list
	local compact=$output
	run -0 --separate-stderr splicer -j -p list
	local pretty=$output
	[ "${#lines[@]}" -gt 1 ]
	[ "$(jq -S . <<<"$compact")" = "$(jq -S . <<<"$pretty")" ]
	run -0 --separate-stderr splicer -j -p stats
	[ "${#lines[@]}" -gt 1 ]
	json_true "$output" '.schema == 2'
}

@test "-j: every command that prints answers one JSON object on stdout" {
	run -0 --separate-stderr splicer -j attach vr
	json_true "$output" '.attached == "vr" and .already == false and (.ifindex | type) == "number"'
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 service web
	local cmd
	for cmd in list stats save version; do
		run -0 --separate-stderr splicer -j "$cmd"
		[ "${#lines[@]}" -eq 1 ] || fail "$cmd: ${#lines[@]} lines"
		run -0 jq -e 'type == "object"' <<<"$output"
	done
	run -0 --separate-stderr splicer -j save
	json_true "$output" '.schema == 1 and (.batch | length) == 1'
	# the commands that change state print nothing, under -j too
	run -0 --separate-stderr splicer -j add "$R_IP" proto tcp port 22 pass
	[ -z "$output$stderr" ]
	run -0 --separate-stderr splicer -j flush
	[ -z "$output$stderr" ]
	run -0 --separate-stderr splicer -j detach vr --purge
	json_true "$output" '.detached == "vr" and .purged == true'
}
