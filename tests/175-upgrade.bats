#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Upgrading in place: splicer 0.1.0, built from this repository's history,
# attaches and holds the rules; the new binary's attach replaces the
# programs, pins and filters on every interface, under a long-lived flow,
# with rules, ids, counters and settings kept; killed at each step of the
# upgrade, it leaves every interface filtered, and the next attach
# finishes it.

load helpers

OLD_COMMIT=847c08b # splicer 0.1.0, as routers in the field run it

# 0.1.0 is built once for the file, from `git archive` of its commit.
setup_file() {
	export OLD_DIR="$BATS_FILE_TMPDIR/splicer-$OLD_COMMIT"
	export OLD_SPLICER="$OLD_DIR/splicer"
	export OLD_MISSING=""
	if ! timeout 10 git -C "$REPO" cat-file -e "$OLD_COMMIT^{commit}" 2>/dev/null; then
		OLD_MISSING="commit $OLD_COMMIT (splicer 0.1.0) is not in $REPO's history (a shallow clone, or no git checkout): cannot build the old splicer"
		return 0
	fi
	mkdir -p "$OLD_DIR"
	timeout 60 git -C "$REPO" archive "$OLD_COMMIT" | timeout 60 tar -x -C "$OLD_DIR" ||
		fail "git archive $OLD_COMMIT failed"
	timeout 600 make -C "$OLD_DIR" -j2 splicer >"$OLD_DIR.log" 2>&1 ||
		fail "building $OLD_COMMIT failed: $(tail -n 20 "$OLD_DIR.log")"
	[ "$("$OLD_SPLICER" version)" = "splicer 0.1.0" ] ||
		fail "$OLD_COMMIT built a splicer that is not 0.1.0: $("$OLD_SPLICER" version)"
}

teardown_file() {
	if [ -n "${OLD_DIR:-}" ] && [[ $OLD_DIR == "$BATS_FILE_TMPDIR"/* ]]; then
		rm -rf "$OLD_DIR" "$OLD_DIR.log"
	fi
}

setup() {
	common_setup
	STOP="$BATS_TEST_TMPDIR/stop"
	TRACE="$BATS_TEST_TMPDIR/trace"
}
teardown() { common_teardown; }

# The tests that run splicer 0.1.0 start with this.
need_old() {
	[ -z "$OLD_MISSING" ] || skip "$OLD_MISSING"
}

# The old binary, as splicer() runs the new one.
old() {
	timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		"$OLD_SPLICER" --pin-root "$PIN" "$@"
}

# pinned_id ingress|egress [DIR]: the id of the program pinned there
pinned_id() {
	timeout 10 bpftool -j prog show pinned "${2:-$PIN}/$1" | jq -er .id
}

# filter_ids DEV ingress|egress: the program ids of splicer's filters there
filter_ids() {
	timeout 10 tc -n "$NS_R" -j filter show dev "$1" "$2" |
		jq -r '.[] | select(.options.handle == "0x5c1") | .options.prog.id'
}

# on_programs INGRESS-ID EGRESS-ID: both hooks of vr and xr run exactly
# those programs, one splicer filter each
on_programs() {
	local dev
	for dev in vr xr; do
		[ "$(filter_ids "$dev" ingress)" = "$1" ] || {
			echo "$dev ingress runs $(filter_ids "$dev" ingress), not $1" >&2
			return 1
		}
		[ "$(filter_ids "$dev" egress)" = "$2" ] || {
			echo "$dev egress runs $(filter_ids "$dev" egress), not $2" >&2
			return 1
		}
	done
}

# The rules as list shows them, counters left out.
rules_shown() {
	splicer -j list | jq -c '[.rules[] | del(.packets, .bytes)]'
}

# A router as 0.1.0 left it: vr and xr attached (xr answering pings),
# a redirected web service and a redirected stream service; then a
# long-lived numbered stream through the redirect, and a probe of a
# port no rule opens, both running until $STOP exists.
old_router() {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" closed --port 8081 --bind "$R_IP" --tag
	probe_server seq-server tcp "$NS_R" seq --port 9998 --bind 127.0.0.1
	run -0 old version
	assert_output "splicer 0.1.0"
	run -0 old attach vr
	run -0 old attach xr icmp-echo on
	run -0 old add "$VNET" proto tcp port 80 redirect 9999 route service web
	run -0 old add "$VNET" proto tcp port 81 redirect 9998 route service stream
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "listener=127.0.0.1:9999$"
	OLD_IN=$(pinned_id ingress)
	OLD_EG=$(pinned_id egress)
	on_programs "$OLD_IN" "$OLD_EG"

	start_bg "$NS_C" stream "$PY" "$PROBE" seq-client --connect "$VIP:81" \
		--until "$STOP"
	start_bg "$NS_C" syn "$PY" "$PROBE" syn-probe --connect "$R_IP:8081" \
		--until "$STOP" --interval 0.005
	wait_for seq_beyond 100 || fail "the stream does not flow: $(bg_log seq) $(bg_log stream)"
}

# Ends the stream and the probe: every line arrived, in order, on one
# connection; no connection to the closed port ever got through.
flows_held() {
	touch "$STOP"
	wait_for -t 10 "grep -q '^syns=' '$BATS_TEST_TMPDIR/syn.log'" ||
		fail "the syn probe did not end: $(bg_log syn)"
	wait_for -t 10 "grep -q '^end ' '$BATS_TEST_TMPDIR/stream.log'" ||
		fail "the stream did not end: $(bg_log stream) / $(bg_log seq)"
	echo "# stream: $(grep -h '^sent=' "$BATS_TEST_TMPDIR/stream.log")," \
		"probe: $(bg_log syn)" >&3
	run -0 grep -c '^accept ' "$BATS_TEST_TMPDIR/seq.log"
	assert_output 1 # one connection from start to end: no reset, no reconnect
	run -0 grep -E '^(end|error)' "$BATS_TEST_TMPDIR/seq.log"
	assert_output --regexp '^end lines=[0-9]+ gaps=0$'
	local sent
	sent=$(sed -n 's/^sent=\([0-9]*\) .*/\1/p' "$BATS_TEST_TMPDIR/stream.log")
	assert_output "end lines=$sent gaps=0"
	run -0 grep -E '^syns=' "$BATS_TEST_TMPDIR/syn.log"
	assert_output --regexp '^syns=[1-9][0-9]* connected=0$'
	run -1 grep '^accept ' "$BATS_TEST_TMPDIR/closed.log"
}

@test "attach of the new splicer over 0.1.0's pin root replaces the programs on every interface in place, under a running flow" {
	need_old
	old_router
	local before counters dropped
	before=$(rules_shown)
	counters=$(splicer -j list | jq -c '[.rules[] | .packets]')
	dropped=$(iface_counter vr dropped.no_rule.packets)
	[ "$dropped" -gt 0 ] # the probe's SYNs
	local at
	at=$(seq_at)

	# the upgrade, naming vr only
	run -0 --separate-stderr splicer attach vr
	assert_output --regexp "^already attached to vr \(ifindex [0-9]+\)$"
	[[ $stderr == *"replaced the programs of another splicer build in place (ingress $OLD_IN -> "*"filters replaced on 2 interfaces" ]] ||
		fail "no word of the upgrade: $stderr"

	# (a) new programs pinned, and on both hooks of both interfaces
	local new_in new_eg
	new_in=$(pinned_id ingress)
	new_eg=$(pinned_id egress)
	[ "$new_in" != "$OLD_IN" ] && [ "$new_eg" != "$OLD_EG" ]
	on_programs "$new_in" "$new_eg"
	# nothing runs the old programs any more: the kernel freed them
	wait_for "! timeout 5 bpftool prog show id $OLD_IN >/dev/null 2>&1" ||
		fail "program $OLD_IN still lives"
	wait_for "! timeout 5 bpftool prog show id $OLD_EG >/dev/null 2>&1"
	run -0 ls "$PIN"
	refute_output --partial -next
	assert_line build

	# (b) the stream goes on through the new program
	wait_for -t 10 seq_beyond $((at + 300)) ||
		fail "the stream stalled at $(seq_at) after the upgrade: $(bg_log stream)"

	# (c) the redirect: new connections reach the listener, counted by
	# the same rule's counter as before
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "^local=$VIP:80 peer=$C_IP:[0-9]+ listener=127.0.0.1:9999$"
	run -0 splicer -j list
	json_true "$output" "[.rules[] | .packets] as \$p | $counters as \$b |
		\$p[0] > \$b[0] and \$p[1] >= \$b[1]"

	# (d) default deny held: a port without a rule is dropped, and the
	# drops are counted on in the same counters
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
	run -0 iface_counter vr dropped.no_rule.packets
	[ "$output" -gt "$dropped" ]

	# (e) the same rules, with the same ids; the interfaces' settings too
	run -0 rules_shown
	assert_output "$before"
	run -0 splicer -j stats
	json_true "$output" '[.interfaces[] | select(.attached) | [.name, .icmp_echo]] | sort ==
		[["vr", false], ["xr", true]]'

	flows_held

	# once upgraded, attach and add load no program (no verifier run)
	run -0 --separate-stderr timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o "$TRACE" -e trace=bpf "$SPLICER" --pin-root "$PIN" attach xr
	assert_output --regexp "^already attached to xr "
	[ -z "$stderr" ] || fail "attach said: $stderr"
	# (libbpf's feature probes load nameless programs of a few insns)
	run -1 grep -c 'BPF_PROG_LOAD.*prog_name="splicer_' "$TRACE"
	run -0 timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o "$TRACE" -e trace=bpf "$SPLICER" --pin-root "$PIN" \
		add 10.99.0.1 proto tcp port 8082 pass
	run -1 grep -c 'BPF_PROG_LOAD.*prog_name="splicer_' "$TRACE"
	[ "$(pinned_id ingress)" = "$new_in" ]
	on_programs "$new_in" "$new_eg"
}

@test "apply with the file's attach lines, as the service's start runs it, upgrades 0.1.0 in place" {
	need_old
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --tag
	run -0 old attach vr
	run -0 old attach xr
	run -0 old add "$VNET" proto tcp port 80 redirect 9999 route service web
	run -0 old add "$R_IP" proto tcp port 8080 pass
	local conf="$BATS_TEST_TMPDIR/splicer.conf" before old_in
	{
		echo "attach vr"
		old save
	} >"$conf"
	before=$(rules_shown)
	old_in=$(pinned_id ingress)

	run -0 --separate-stderr splicer apply "$conf"
	[[ $stderr == *"replaced the programs of another splicer build in place"*"on 2 interfaces" ]] ||
		fail "apply said: $stderr"
	[ "$(pinned_id ingress)" != "$old_in" ]
	on_programs "$(pinned_id ingress)" "$(pinned_id egress)"
	run -0 rules_shown
	assert_output "$before"
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "listener=127.0.0.1:9999$"
}

# revert: the old programs back in their pins (renamed over the new, as
# an upgrade does) and, through the old binary's attach, in every filter:
# the pin root as 0.1.0 had it, rules, flows and counters untouched.
revert() {
	local p dev
	for p in ingress egress; do
		timeout 10 bpftool prog pin pinned "$PIN-keep/$p" "$PIN/$p-old" &&
			timeout 10 mv "$PIN/$p-old" "$PIN/$p" || return 1
	done
	# by hand, as 0.1.0 would: its attach would also put back its own
	# index layout, which the rule set has left
	for dev in vr xr; do
		for p in egress ingress; do
			timeout 10 nsenter --net="/run/netns/$NS_R" -- tc filter replace \
				dev "$dev" "$p" pref 1 handle 0x5c1 bpf da pinned "$PIN/$p" || return 1
		done
	done
	on_programs "$OLD_IN" "$OLD_EG"
}

# The moments to kill an upgrade at, from the trace of one: "SYSCALL N
# WHAT" lines. Before the programs load; before each rename of a pin;
# before each netlink socket of the filters' replacement (a query or a
# replace of one hook); before the record is written; after it.
kill_points() {
	awk '
	{ sub(/^[0-9]+ +/, ""); sc = $0; sub(/\(.*/, "", sc); n[sc]++ }
	sc == "bpf" && /^bpf\(BPF_PROG_LOAD/ && !loaded {
		print "bpf", n[sc], "before-load"; loaded = 1 }
	sc == "rename" { renames++; print "rename", n[sc], "before-rename-" renames }
	sc == "socket" && renames == 2 && !recorded {
		print "socket", n[sc], "filters-" ++filters }
	sc == "bpf" && renames == 2 && /^bpf\(BPF_MAP_UPDATE_ELEM/ && !recorded {
		print "bpf", n[sc], "before-record"; recorded = 1 }
	sc == "socket" && recorded && !after {
		print "socket", n[sc], "after-record"; after = 1 }
	' "$1"
}

# Every interface, both hooks: one splicer filter, running the old
# program or the one pinned now; and both pins are there.
all_filtered() {
	local dev hook id ok pin
	for hook in ingress egress; do
		pin=$(pinned_id "$hook") || return 1
		ok=$OLD_IN
		[ "$hook" = egress ] && ok=$OLD_EG
		for dev in vr xr; do
			id=$(filter_ids "$dev" "$hook")
			[ "$id" = "$ok" ] || [ "$id" = "$pin" ] || {
				echo "$dev $hook runs '$id': neither old ($ok) nor pinned ($pin)" >&2
				return 1
			}
		done
	done
}

@test "an upgrade killed with SIGKILL at each of its steps leaves every interface filtered, and the next attach finishes it" {
	need_old
	old_router
	local before
	before=$(rules_shown)
	# the old programs, kept alive to go back to
	mkdir "$PIN-keep"
	run -0 timeout 10 bpftool prog pin pinned "$PIN/ingress" "$PIN-keep/ingress"
	run -0 timeout 10 bpftool prog pin pinned "$PIN/egress" "$PIN-keep/egress"
	# one whole upgrade first: from then on the pin root has a record
	# (one that names other programs), as at every step below
	run -0 splicer attach vr
	revert || fail "cannot go back to the old programs"
	run -0 --separate-stderr timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o "$TRACE" -e trace=bpf,rename,socket \
		"$SPLICER" --pin-root "$PIN" attach vr
	# (an upgrade loads the two programs; the pattern finds them)
	run -0 grep -c 'BPF_PROG_LOAD.*prog_name="splicer_' "$TRACE"
	assert_output 2
	local points
	points=$(kill_points "$TRACE")
	# before the load, 2 renames, 2 interfaces x 2 hooks x (query,
	# replace), before and after the record
	[ "$(grep -c filters- <<<"$points")" -ge 8 ] &&
		[ "$(grep -c 'before-rename-' <<<"$points")" -eq 2 ] &&
		grep -q before-record <<<"$points" && grep -q after-record <<<"$points" ||
		fail "unexpected steps: $points"

	local sc n what kills=0
	while read -r sc n what; do
		revert || fail "$what: cannot go back to the old programs"
		run -137 killed_at "$sc" "$n" attach vr
		kills=$((kills + 1))
		all_filtered || fail "killed $what ($sc #$n): an interface lost its filter"
		run -0 tcp_client "$NS_C" --connect "$VIP:80"
		assert_output --regexp "listener=127.0.0.1:9999$"
		# the next attach finishes the upgrade
		run -0 splicer attach vr
		[ "$(pinned_id ingress)" != "$OLD_IN" ] && [ "$(pinned_id egress)" != "$OLD_EG" ] ||
			fail "killed $what: the rerun left the old programs pinned"
		on_programs "$(pinned_id ingress)" "$(pinned_id egress)" ||
			fail "killed $what: the rerun left an interface on another program"
		run -0 ls "$PIN"
		refute_output --partial -next
	done <<<"$points"
	echo "# $kills kills: $(tr '\n' ' ' <<<"$points" | sed 's/[a-z]* [0-9]* //g')" >&3

	run -0 rules_shown
	assert_output "$before"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
	flows_held
}

# 0.1.0's pin root with a redirect and a pass rule, on vr and xr.
old_rules() {
	run -0 old attach vr
	run -0 old attach xr
	run -0 old add "$VNET" proto tcp port 80 redirect 9999 route service web
	run -0 old add "$R_IP" proto tcp port 8080 pass
	OLD_IN=$(pinned_id ingress)
	OLD_EG=$(pinned_id egress)
}

@test "an upgrade killed while it carries 0.1.0's rule set over leaves 0.1.0 filtering; the next attach finishes it" {
	need_old
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --tag
	old_rules
	local before
	before=$(rules_shown)
	# where the rule set moves: its snapshot pinned, the arena put in its
	# slot, 0.1.0's index unpinned
	run -0 --separate-stderr timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o "$TRACE" -e trace=bpf,unlink "$SPLICER" --pin-root "$PIN" attach vr
	local points
	points=$(awk '
		{ sub(/^[0-9]+ +/, ""); sc = $0; sub(/\(.*/, "", sc); n[sc]++ }
		sc == "bpf" && /BPF_OBJ_PIN.*rules-/ && !pin { print "bpf", n[sc], "snapshot"; pin = 1 }
		sc == "bpf" && /BPF_MAP_UPDATE_ELEM/ && pin && !slot { print "bpf", n[sc], "arena-slot"; slot = 1 }
		sc == "unlink" && /rule_index/ && !ul { print "unlink", n[sc], "old-index"; ul = 1 }
		' "$TRACE")
	[ "$(wc -l <<<"$points")" -eq 3 ] || fail "unexpected steps: $points"
	local sc n what
	while read -r sc n what; do
		run -0 splicer detach vr
		run -0 splicer detach xr --purge
		old_rules
		run -137 killed_at "$sc" "$n" attach vr
		# 0.1.0's programs still filter, with its rules
		on_programs "$OLD_IN" "$OLD_EG" || fail "killed at $what: filters changed"
		run -0 tcp_client "$NS_C" --connect "$VIP:80"
		assert_output --regexp "listener=127.0.0.1:9999$"
		run -2 tcp_client "$NS_C" --connect "$R_IP:8081" --timeout 1
		run -0 rules_shown
		assert_output "$before"
		# the next attach finishes: new programs, the same rules
		run -0 splicer attach vr
		on_programs "$(pinned_id ingress)" "$(pinned_id egress)"
		[ "$(pinned_id ingress)" != "$OLD_IN" ] || fail "killed at $what: still 0.1.0"
		run -0 rules_shown
		assert_output "$before"
		run -0 tcp_client "$NS_C" --connect "$VIP:80"
		assert_output --regexp "listener=127.0.0.1:9999$"
		[ ! -e "$PIN/rule_index" ] || fail "killed at $what: 0.1.0's index still pinned"
	done <<<"$points"
}

# The record says another build loaded the pinned programs, as it would
# after the binary was upgraded and another splicer attached.
forge_record() {
	local ids
	ids=$(timeout 10 bpftool -j map dump pinned "$PIN/build" |
		jq -er '.[0].value[8:] | map(ltrimstr("0x")) | join(" ")') || return 1
	timeout 10 bpftool map update pinned "$PIN/build" key hex 00 00 00 00 \
		value hex 00 00 00 00 00 00 00 00 $ids
}

@test "a running watcher keeps another build's programs; its start replaces them" {
	local conf="$BATS_TEST_TMPDIR/splicer.conf" in eg
	printf 'attach vr\nattach xr icmp-echo on\n' >"$conf"
	start_watch --config "$conf"
	in=$(pinned_id ingress)
	eg=$(pinned_id egress)
	on_programs "$in" "$eg"
	run -0 forge_record

	# SIGHUP (systemctl reload, after the new binary's apply): the
	# watcher, perhaps the older of the two, leaves the programs alone
	kill -HUP "$WATCH_PID"
	wait_for watch_logged '^<6>watching' 2 || fail "no reload: $(watch_log)"
	[ "$(pinned_id ingress)" = "$in" ] && [ "$(pinned_id egress)" = "$eg" ]
	on_programs "$in" "$eg"
	run -0 watch_log
	assert_line --partial "<5>$PIN: the programs pinned are another splicer build's; kept until this splicer starts again"
	refute_line --partial "replaced the programs"

	# started again, it puts its own in place, as splicer apply does
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID" || fail "the watcher exited $?: $(watch_log)"
	start_watch --config "$conf"
	run -0 watch_log
	assert_line --regexp "^<5>replaced the programs of another splicer build in place \(ingress $in -> [0-9]+, egress $eg -> [0-9]+\); filters replaced on 2 interfaces$"
	[ "$(pinned_id ingress)" != "$in" ] && [ "$(pinned_id egress)" != "$eg" ]
	on_programs "$(pinned_id ingress)" "$(pinned_id egress)"
	run -0 splicer -j stats
	json_true "$output" '[.interfaces[] | select(.attached) | [.name, .icmp_echo]] | sort ==
		[["vr", false], ["xr", true]]'
}
