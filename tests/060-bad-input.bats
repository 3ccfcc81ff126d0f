#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Bad input: one line "Error: ..." on stderr, the documented exit code, and
# no change to any rule, route, qdisc or filter.

load helpers

setup() {
	common_setup
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 splicer add "$R_IP" proto udp port 5000 pass
}
teardown() { common_teardown; }

# rejects CODE TEXT ARGS...: `splicer ARGS` exits CODE with one error line
# containing TEXT and changes nothing.
rejects() {
	local code=$1 want=$2 before after
	shift 2
	before=$(state_snapshot)
	run "-$code" --separate-stderr splicer "$@"
	assert_error "$want"
	after=$(state_snapshot)
	assert_equal "$after" "$before"
}

@test "add rejects an address that is not IPv4: exit 1, invalid IPv4 prefix" {
	rejects 1 "10.1.1: invalid IPv4 prefix" add 10.1.1 proto tcp port 80 pass
	rejects 1 "300.1.1.1: invalid IPv4 prefix" add 300.1.1.1 proto tcp port 80 pass
	rejects 1 "invalid IPv4 prefix" add 10.1.1.1.1/8 proto tcp port 80 pass
	rejects 1 "invalid IPv4 prefix" add example proto tcp port 80 pass
}

@test "add rejects a prefix with host bits set and suggests the network: exit 1" {
	rejects 1 "10.1.1.5/24: host bits set; did you mean 10.1.1.0/24?" \
		add 10.1.1.5/24 proto tcp port 80 pass
}

@test "add rejects a from prefix with host bits set: exit 1" {
	rejects 1 "10.99.0.2/24: host bits set; did you mean 10.99.0.0/24?" \
		add "$R_IP" proto tcp port 80 pass from 10.99.0.2/24
}

@test "add rejects a prefix length above 32: exit 1" {
	rejects 1 "10.0.0.0/33: prefix length must be 0-32" \
		add 10.0.0.0/33 proto tcp port 80 pass
}

@test "add rejects port 0, 65536 and 22x: exit 1, port must be 1-65535" {
	rejects 1 "0: port must be 1-65535" add "$R_IP" proto tcp port 0 pass
	rejects 1 "65536: port must be 1-65535" add "$R_IP" proto tcp port 65536 pass
	rejects 1 "22x: port must be 1-65535" add "$R_IP" proto tcp port 22x pass
}

@test "add rejects a redirect to port 0 or 65536: exit 1" {
	rejects 1 "0: port must be 1-65535" add "$VNET" proto tcp port 81 redirect 0 route
	rejects 1 "65536: port must be 1-65535" add "$VNET" proto tcp port 81 redirect 127.0.0.1:65536
}

@test "add rejects a port range whose low port is above its high port: exit 1" {
	rejects 1 "90-80: low port above high port" add "$R_IP" proto tcp port 90-80 pass
}

@test "add rejects an unknown protocol: exit 1" {
	rejects 1 "icmp: unknown protocol" add "$R_IP" proto icmp port 80 pass
}

@test "add rejects an unknown action: exit 1" {
	rejects 1 "forward: unknown action" add "$R_IP" proto tcp port 80 forward
}

@test "add rejects an unknown keyword: exit 1" {
	rejects 1 "bogus: unknown keyword" add "$R_IP" proto tcp port 80 pass bogus
}

@test "add with missing arguments exits 1" {
	rejects 1 "" add
	rejects 1 "" add "$R_IP" proto tcp
	rejects 1 "" add "$R_IP" proto tcp port 80
	rejects 1 "" add "$R_IP" proto tcp port 80 redirect
}

@test "add rejects a bad IPv6 prefix: invalid IPv6 prefix, length 0-128, host bits" {
	rejects 1 "fd00::zz: invalid IPv6 prefix" add fd00::zz proto tcp port 80 pass
	rejects 1 "fd00:::1/64: invalid IPv6 prefix" add fd00:::1/64 proto tcp port 80 pass
	rejects 1 "fd00::/129: prefix length must be 0-128" add fd00::/129 proto tcp port 80 pass
	rejects 1 "fd00::/x: invalid IPv6 prefix" add fd00::/x proto tcp port 80 pass
	rejects 1 "fd00:77::5/64: host bits set; did you mean fd00:77::/64?" \
		add fd00:77::5/64 proto tcp port 80 pass
	rejects 1 "fd00:99::2/120: host bits set; did you mean fd00:99::/120?" \
		add fd00:77::/64 proto tcp port 80 pass from fd00:99::2/120
}

@test "a family mismatch between destination, source and listener is one error: exit 1" {
	rejects 1 "from 10.0.0.0/8: an IPv4 source for an IPv6 rule (fd00:77::/64)" \
		add fd00:77::/64 proto tcp port 80 pass from 10.0.0.0/8
	rejects 1 "from fd00::/8: an IPv6 source for an IPv4 rule ($VNET)" \
		add "$VNET" proto tcp port 80 pass from fd00::/8
	rejects 1 "redirect [::1]:9999: an IPv6 listener for an IPv4 rule ($VNET)" \
		add "$VNET" proto tcp port 80 redirect "[::1]:9999"
	rejects 1 "redirect 127.0.0.1:9999: an IPv4 listener for an IPv6 rule (fd00:77::/64)" \
		add fd00:77::/64 proto tcp port 80 redirect 127.0.0.1:9999
	rejects 1 "from 10.0.0.0/8: an IPv4 source for an IPv6 rule" \
		del fd00:77::/64 proto tcp port 80 from 10.0.0.0/8
}

@test "a bad IPv6 redirect target is refused: brackets, address, port" {
	rejects 1 "::1:9999: invalid redirect address (an IPv6 one goes in brackets" \
		add fd00:77::/64 proto tcp port 80 redirect ::1:9999
	rejects 1 "[::1]9999: invalid redirect target ([ADDRESS]:PORT)" \
		add fd00:77::/64 proto tcp port 80 redirect "[::1]9999"
	rejects 1 "[fd00::zz]:9999: invalid redirect address" \
		add fd00:77::/64 proto tcp port 80 redirect "[fd00::zz]:9999"
	rejects 1 "[127.0.0.1]:9999: invalid redirect address" \
		add fd00:77::/64 proto tcp port 80 redirect "[127.0.0.1]:9999"
	rejects 1 "0: port must be 1-65535" \
		add fd00:77::/64 proto tcp port 80 redirect "[::1]:0"
}

@test "an IPv6 batch line with a mismatch is refused whole, with its line" {
	printf 'add %s pass\nadd fd00:77::/64 proto udp port 53 pass from 10.0.0.0/8\n' \
		"$R_IP proto tcp port 22" >"$BATS_TEST_TMPDIR/mix.batch"
	rejects 1 "line 2: from 10.0.0.0/8: an IPv4 source for an IPv6 rule" \
		batch "$BATS_TEST_TMPDIR/mix.batch"
}

@test "attach of a missing interface exits 1: no such interface" {
	rejects 1 "eth9: no such interface" attach eth9
}

@test "attach rejects a bad icmp-echo setting or keyword: exit 1" {
	rejects 1 "maybe: icmp-echo takes on or off" attach vr icmp-echo maybe
	rejects 1 "icmp-echo: missing value" attach vr icmp-echo
	rejects 1 "bogus: unknown keyword" attach vr bogus on
}

@test "attach with a bad SPLICER_MAX_RULES exits 1 and makes no pin root" {
	local v base=$PIN
	PIN=$base-fresh
	for v in 0 262145 abc -5 1x; do
		SPLICER_MAX_RULES=$v run -1 --separate-stderr splicer attach vr
		assert_equal "$stderr" "Error: SPLICER_MAX_RULES=$v: not a number of rules (1 to 262144)"
		[ ! -e "$PIN" ] || fail "SPLICER_MAX_RULES=$v left $PIN"
	done
	PIN=$base
}

@test "add with dev of a missing interface exits 1: no such interface" {
	rejects 1 "eth9: no such interface" add "$R_IP" proto tcp port 80 pass dev eth9
}

@test "del rejects bad input like add: exit 1" {
	rejects 1 "10.1.1.5/24: host bits set; did you mean 10.1.1.0/24?" \
		del 10.1.1.5/24 proto tcp port 80
	rejects 1 "90-80: low port above high port" del "$VNET" proto tcp port 90-80
	rejects 1 "icmp: unknown protocol" del "$VNET" proto icmp port 80
}

@test "del of a rule that does not exist exits 3: no such rule" {
	rejects 3 "no such rule" del "$VNET" proto tcp port 81
	rejects 3 "no such rule" del "$VNET" proto udp port 80
	rejects 3 "no such rule" del 172.16.240.0/25 proto tcp port 80
}

@test "an unknown command exits 1 and changes nothing" {
	rejects 1 "frobnicate" frobnicate vr
}

@test "under -j an error is one JSON object on stderr" {
	local before after
	before=$(state_snapshot)
	run -1 --separate-stderr splicer -j add 10.1.1 proto tcp port 80 pass
	[ "${#stderr_lines[@]}" -eq 1 ]
	run -0 jq -er '.error' <<<"$stderr"
	assert_output --partial "10.1.1: invalid IPv4 prefix"
	after=$(state_snapshot)
	assert_equal "$after" "$before"
}

# Without any capability (uid 0 kept, so only capabilities are missing).
assert_unprivileged_error() {
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "expected one stderr line: $stderr"
	[[ ${stderr_lines[0]} == "Error: "* ]] || fail "no 'Error: ': $stderr"
	grep -qi "permission denied" <<<"$stderr" || fail "no 'permission denied': $stderr"
}

@test "without privileges add with route, detach and attach exit 2: permission denied, nothing changes" {
	local before after
	before=$(state_snapshot)
	run -2 --separate-stderr splicer_unprivileged add 172.16.241.0/24 proto tcp port 80 redirect 9999 route
	assert_unprivileged_error
	run -2 --separate-stderr splicer_unprivileged detach vr
	assert_unprivileged_error
	run -2 --separate-stderr splicer_unprivileged attach xr
	assert_unprivileged_error
	after=$(state_snapshot)
	assert_equal "$after" "$before"
}

@test "without privileges a first attach exits 2 and leaves nothing attached" {
	# a pin root of its own, so nothing is attached there yet
	local pin2="$PIN-unpriv"
	run -2 --separate-stderr timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		setpriv --reuid=0 --regid=0 --clear-groups --inh-caps=-all \
		--bounding-set=-all -- "$SPLICER" --pin-root "$pin2" attach xr
	assert_unprivileged_error
	run -3 --separate-stderr timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$pin2" list
	assert_error "not attached (no maps under $pin2"
	run -0 tc -n "$NS_R" qdisc show dev xr
	refute_output --partial clsact
}

@test "every rule keyword given twice is refused, in add, del and batch files: exit 1" {
	local rule="$VNET proto tcp port 80"
	rejects 1 "proto: given twice" add $rule proto udp pass
	rejects 1 "port: given twice" add $rule port 90 pass
	rejects 1 "from: given twice" add $rule from 10.0.0.0/8 from 10.1.0.0/16 pass
	rejects 1 "dev: given twice" add $rule dev vr dev vr pass
	rejects 1 "service: given twice" add $rule service a service b pass
	rejects 1 "route: given twice" add $rule redirect 9999 route route
	rejects 1 "pass: more than one action" add $rule pass pass
	rejects 1 "redirect: more than one action" add $rule redirect 1 redirect 2
	rejects 1 "proto: given twice" del $rule proto tcp
	rejects 1 "port: given twice" del $rule port 80
	rejects 1 "from: given twice" del $rule from 10.0.0.0/8 from 10.0.0.0/8
	rejects 1 "dev: given twice" del $rule dev vr dev vr
	printf 'add %s pass\nadd %s port 81 pass\n' "$R_IP proto tcp port 22" "$rule" \
		>"$BATS_TEST_TMPDIR/twice.batch"
	rejects 1 "line 2: port: given twice" batch "$BATS_TEST_TMPDIR/twice.batch"
}

@test "the compatibility mode refuses an option given twice, -N excepted: exit 1" {
	local before
	ln -s "$(readlink -f "$SPLICER")" "$BATS_TEST_TMPDIR/map_update"
	before=$(state_snapshot)
	local o
	for o in "-c 172.16.241.0" "-m 24" "-p udp" "-l 81" "-h 82" "-t 9998" \
		"-o 10.0.0.0" "-n 8" "-s svc2" "-r"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr timeout 10 \
			env SPLICER_PIN_ROOT="$PIN" "$BATS_TEST_TMPDIR/map_update" \
			-I -c 172.16.240.0 -m 24 -p tcp -l 80 -h 80 -t 9999 \
			-o 0.0.0.0 -n 0 -s svc -r $o
		assert_error "-${o:1:1}: given twice"
	done
	assert_equal "$(state_snapshot)" "$before"
}
