#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Boot: apply of a configuration file (attach lines and rules) on a fresh
# pin root, in the order that keeps the firewall closed; a broken file;
# the same file twice; and the systemd unit's commands as systemd runs
# them. The order of changes is read from the system calls themselves.

load helpers

setup() {
	common_setup
	CONF="$BATS_TEST_TMPDIR/splicer.conf"
	TRACE="$BATS_TEST_TMPDIR/trace"
}
teardown() { common_teardown; }

good_conf() {
	cat >"$CONF" <<-EOF
		# the router's policy
		attach vr icmp-echo on
		add $R_IP proto tcp port 8080 pass
		add $VNET proto tcp port 80 redirect 9001 route service web
	EOF
}

# traced ARGS...: splicer ARGS under strace; CHANGES then holds the state
# changes it made, in order (tests/lib/changes.py)
traced() {
	timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o "$TRACE" -e trace=bpf,close,sendto,sendmsg \
		-e signal=none "$SPLICER" --pin-root "$PIN" "$@"
}
changes() {
	"$PY" "$BATS_TEST_DIRNAME/lib/changes.py" "$TRACE"
}

# first_line REGEX / last_line REGEX: the line number in $CHANGES
first_line() { grep -nE -m1 -- "$1" <<<"$CHANGES" | cut -d: -f1; }
last_line() { grep -nE -- "$1" <<<"$CHANGES" | tail -n1 | cut -d: -f1; }

ingress_prog_id() {
	timeout 10 tc -n "$NS_R" -j filter show dev vr ingress |
		jq -r '[.[] | select(.options.handle == "0x5c1") | .options.prog.id] | .[0]'
}

@test "apply on a fresh pin root: state, then rules and routes, then the filters; the policy works" {
	good_conf
	[ ! -e "$PIN" ]
	run -0 --separate-stderr traced apply "$CONF"
	[ -z "$output$stderr" ] || fail "apply said: $output$stderr"
	CHANGES=$(changes)
	# the rule set, its index and its route were written ...
	local rules index route filter
	rules=$(last_line '^pin rules-[0-9]+$')
	index=$(last_line '^map rule_arena update$')
	route=$(last_line '^nl RTM_NEWROUTE$')
	filter=$(first_line '^nl RTM_NEWTFILTER$')
	[ -n "$rules" ] && [ -n "$index" ] && [ -n "$route" ] && [ -n "$filter" ] ||
		fail "missing changes: $CHANGES"
	# (the file's rule set is published by a store into the arena, which
	# no trace shows: its snapshot, pinned just before, stands for it)
	# ... every one of them before the first filter went live
	[ "$rules" -lt "$filter" ] && [ "$index" -lt "$filter" ] && [ "$route" -lt "$filter" ] ||
		fail "a filter before the rules: $CHANGES"
	# egress (notes) and ingress (the firewall): two filters, nothing removed
	[ "$(grep -c '^nl RTM_NEWTFILTER$' <<<"$CHANGES")" -eq 2 ]
	refute_line_in_changes '^nl RTM_DEL'

	# and the policy is the file's
	run -0 splicer -j list
	run -0 jq -c '[.rules[] | [.id, .dst, .port_low, .action, .service]]' <<<"$output"
	assert_output '[[1,"10.99.0.1/32",8080,"pass",null],[2,"172.16.240.0/24",80,"redirect","web"]]'
	tcp_server "$NS_R" host --port 22 --port 8080 --port 8081
	tcp_server "$NS_R" proxy --bind 127.0.0.1 --tag --port 9001
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "listener=127.0.0.1:9001$"
	run -0 timeout 5 ip netns exec "$NS_C" ping -c 1 -W 2 "$R_IP"
}

refute_line_in_changes() {
	if grep -qE -- "$1" <<<"$CHANGES"; then
		fail "unexpected change $1 in: $CHANGES"
	fi
}

@test "the same file applied twice changes nothing: no filter replaced, rules keep ids and counters" {
	good_conf
	run -0 splicer apply "$CONF"
	tcp_server "$NS_R" host --port 8080
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	wait_rule_counter '.port_low == 8080' packets 1
	local list prog qdisc
	list=$(splicer -j list | jq -S .)
	prog=$(ingress_prog_id)
	[ -n "$prog" ] && [ "$prog" != null ]
	qdisc=$(timeout 10 tc -n "$NS_R" qdisc show dev vr)

	run -0 --separate-stderr traced apply "$CONF"
	[ -z "$output$stderr" ]
	CHANGES=$(changes)
	# no window: no filter or qdisc was removed or replaced, and not one
	# write to the rule set or its counters
	refute_line_in_changes '^nl RTM_(NEW|DEL)TFILTER$'
	refute_line_in_changes '^nl RTM_DELQDISC$'
	refute_line_in_changes '^map (rule_arena|rule_counters) '
	refute_line_in_changes '^pin rules-'
	assert_equal "$(splicer -j list | jq -S .)" "$list"
	assert_equal "$(ingress_prog_id)" "$prog"
	assert_equal "$(timeout 10 tc -n "$NS_R" qdisc show dev vr)" "$qdisc"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	wait_rule_counter '.port_low == 8080' packets 2
}

@test "a broken file changes nothing of the policy in force and names its line" {
	good_conf
	run -0 splicer apply "$CONF"
	local before
	before=$(state_snapshot)
	# a new interface and a new rule, then a bad line
	cat >"$CONF" <<-EOF
		attach vr
		attach xr
		add $R_IP proto tcp port 8081 pass
		add $R_IP proto tcp port 8082 pass fast
	EOF
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 4: fast: unknown keyword"
	assert_equal "$(state_snapshot)" "$before"
	# bad attach lines, each with its line
	printf 'attach vr\nattach vr icmp-echo maybe\n' >"$CONF"
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 2: maybe: icmp-echo takes on or off"
	printf '\nattach vr\nattach vr\n' >"$CONF"
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 3: vr: attached on line 2 already"
	printf 'attach\n' >"$CONF"
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 1: attach: missing IFACE"
	printf 'attach a/b\n' >"$CONF"
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 1: a/b: invalid interface name"
	printf 'add %s proto tcp port 1 pass\nflush\n' "$R_IP" >"$CONF"
	run -1 --separate-stderr splicer apply "$CONF"
	assert_error "line 2: flush: apply takes add and attach lines only"
	assert_equal "$(state_snapshot)" "$before"
	# --check says the same and creates nothing either
	run -1 --separate-stderr splicer apply --check "$CONF"
	assert_error "line 2: flush"
}

@test "a broken file on a fresh pin root attaches its interfaces without rules: default deny with SSH" {
	cat >"$CONF" <<-EOF
		attach vr icmp-echo on
		add $R_IP proto tcp port 8080 pass
		add $R_IP proto tcp port 8081 pass dev nosuch0
		attach xr
	EOF
	[ ! -e "$PIN" ]
	run -1 --separate-stderr splicer apply "$CONF"
	[ "${#stderr_lines[@]}" -eq 2 ] || fail "stderr: $stderr"
	assert_equal "${stderr_lines[0]}" "Error: line 3: nosuch0: no such interface"
	assert_equal "${stderr_lines[1]}" "splicer: warning: nothing was in place: attached 2 interfaces without rules (default deny, SSH allowed)"
	run -0 rule_count
	assert_output 0
	# both interfaces, even the one named after the bad line; icmp-echo off
	run -0 splicer -j stats
	json_true "$output" '[.interfaces[] | select(.attached) | .name] | sort == ["vr", "xr"]'
	json_true "$output" '[.interfaces[] | .icmp_echo] | all(. == false)'
	tcp_server "$NS_R" host --port 22 --port 8080
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -1 timeout 5 ip netns exec "$NS_C" ping -c 1 -W 1 "$R_IP"

	# fixed, the file applies over it
	sed -i '/nosuch0/d' "$CONF"
	run -0 splicer apply "$CONF"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 timeout 5 ip netns exec "$NS_C" ping -c 1 -W 2 "$R_IP"
}

@test "apply warns about a missing interface and attaches the others; --check on a fresh pin root creates nothing" {
	printf 'attach nosuch0\nattach vr\nadd %s proto tcp port 8080 pass\n' "$R_IP" >"$CONF"
	run -0 --separate-stderr splicer apply --check "$CONF"
	assert_equal "$stderr" "splicer: warning: line 1: nosuch0: no such interface; not attached"
	[ ! -e "$PIN" ]
	run -0 --separate-stderr splicer apply "$CONF"
	assert_equal "$stderr" "splicer: warning: line 1: nosuch0: no such interface; not attached"
	run -0 --separate-stderr splicer -j apply "$CONF"
	run -0 jq -er .warning <<<"$stderr"
	assert_output "line 1: nosuch0: no such interface; not attached"
	run -0 splicer -j stats
	json_true "$output" '[.interfaces[] | select(.attached) | .name] == ["vr"]'
	# an empty file is an empty rule set; no interface is ever detached
	run -0 splicer apply /dev/null
	run -0 rule_count
	assert_output 0
	run -0 splicer -j stats
	json_true "$output" '[.interfaces[] | select(.attached) | .name] == ["vr"]'
}

# The unit as make install writes it, with paths in this test's directory.
install_unit() {
	ROOT="$BATS_TEST_TMPDIR/root"
	timeout 600 make -s -C "$REPO" install DESTDIR="$ROOT" PREFIX=/usr \
		>"$BATS_TEST_TMPDIR/make.log" 2>&1 || fail "$(cat "$BATS_TEST_TMPDIR/make.log")"
	UNIT_FILE="$ROOT/usr/lib/systemd/system/splicer.service"
}

# exec_lines KEY: the unit's KEY= command lines, "-" prefix dropped,
# the installed paths made the test's
exec_lines() {
	sed -n "s/^$1=-\\?//p" "$UNIT_FILE" |
		sed -e "s|/usr/sbin/splicer|$ROOT/usr/sbin/splicer|" -e "s|/etc/splicer/splicer.conf|$CONF|g"
}

@test "splicer.service passes systemd-analyze verify and runs before network-pre.target" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (make deps installs systemd)"
	install_unit
	run -0 --separate-stderr env MANPATH="$ROOT/usr/share/man" \
		timeout 60 systemd-analyze verify --root="$ROOT" splicer.service
	[ -z "$output$stderr" ] || fail "verify: $output$stderr"
	run -0 grep -E '^(Before|Wants|DefaultDependencies|ExecStartPre|ExecStart|ExecReload)=' "$UNIT_FILE"
	assert_line "DefaultDependencies=no"
	assert_line --regexp '^Before=.*network-pre.target'
	assert_line --regexp '^Wants=.*network-pre.target'
	assert_line "ExecStartPre=-/usr/sbin/splicer apply /etc/splicer/splicer.conf"
	assert_line "ExecStart=/usr/sbin/splicer watch --config /etc/splicer/splicer.conf"
	assert_line "ExecReload=/usr/sbin/splicer apply /etc/splicer/splicer.conf"
	assert_line 'ExecReload=/bin/kill -HUP $MAINPID'
}

@test "the unit's commands in systemd's order: policy before watch, reload, stop leaves it in place" {
	install_unit
	good_conf
	local pre start reload
	pre=$(exec_lines ExecStartPre)
	start=$(exec_lines ExecStart)
	reload=$(exec_lines ExecReload | head -n1)
	# ExecStartPre: the whole policy, synchronously
	run -0 timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" $pre
	tcp_server "$NS_R" host --port 22 --port 8080 --port 8081
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	# ExecStart: the watcher applies the same file: nothing changes
	local before
	before=$(state_snapshot)
	[[ $start == *" watch --config $CONF" ]]
	start_watch --config "$CONF"
	assert_equal "$(state_snapshot)" "$before"
	# ExecReload: a changed file, then SIGHUP for the watcher
	sed -i 's/port 8080 pass/port 8081 pass/' "$CONF"
	run -0 timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		env SPLICER_PIN_ROOT="$PIN" $reload
	kill -HUP "$WATCH_PID"
	wait_for watch_logged "^<6>$CONF: applied" 2 || fail "$(watch_log)"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	# stop: SIGTERM; the firewall stays as it is
	before=$(state_snapshot)
	kill -TERM "$WATCH_PID"
	local rc=0
	wait "$WATCH_PID" || rc=$?
	[ "$rc" -eq 0 ]
	assert_equal "$(state_snapshot)" "$before"
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
}
