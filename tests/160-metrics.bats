#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# stats --format prometheus (stdout and --textfile) held against a strict
# parser and against stats -j / list -j; stats --watch rates on a pipe and
# on a terminal; their bad input.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

PROM_CHECK="$BATS_TEST_DIRNAME/lib/prom_check.py"

prom_check() { timeout 10 "$PY" "$PROM_CHECK" "$@"; }

# promtool (Debian's prometheus package) is the reference when installed;
# the strict parser above always runs.
promtool_check() {
	command -v promtool >/dev/null || return 0
	timeout 10 promtool check metrics <"$1"
}

# The Prometheus samples must be exactly the counters stats -j and list -j
# show: one series per interface, family and reason (stats -j's ipv4 and
# ipv6 objects, and family "none" for the totals' not_ip and vlan), per
# rule, and the monitor's; summed over family, the totals.
JQ_SAME='
	def groups($g): ($g.passed | to_entries[] | {verdict: "pass", reason: .key, c: .value}),
		{verdict: "redirect", reason: "redirected", c: $g.redirected},
		($g.dropped | to_entries[] | {verdict: "drop", reason: .key, c: .value});
	def iface_want: [$s.interfaces[] as $i |
		(groups($i.ipv4) | .family = "ipv4"),
		(groups($i.ipv6) | .family = "ipv6"),
		({verdict: "drop", reason: ("not_ip", "vlan")} | .c = $i.dropped[.reason]
			| .family = "none")
		| {iface: $i.name, family, verdict, reason, c}];
	def totals: [$s.interfaces[] as $i | groups($i) | {iface: $i.name, verdict, reason, c}];
	def got($name): [$p[] | select(.name == $name)];
	def value($name; $labels): [got($name)[] | select(.labels == $labels) | .value];
	def sum_of($name; $t): [got($name)[] | select(.labels.iface == $t.iface and
		.labels.verdict == $t.verdict and .labels.reason == $t.reason) | .value] | add;
	iface_want as $w |
	($w | length) > 0 and
	(got("splicer_packets_total") | length) == ($w | length) and
	(got("splicer_bytes_total") | length) == ($w | length) and
	all($w[]; value("splicer_packets_total"; {iface, family, verdict, reason}) == [.c.packets] and
		value("splicer_bytes_total"; {iface, family, verdict, reason}) == [.c.bytes]) and
	all(totals[]; sum_of("splicer_packets_total"; .) == .c.packets and
		sum_of("splicer_bytes_total"; .) == .c.bytes) and
	(got("splicer_rule_packets_total") | length) == ($l.rules | length) and
	(got("splicer_rule_bytes_total") | length) == ($l.rules | length) and
	all($l.rules[]; . as $r |
		([got("splicer_rule_packets_total")[] | select(.labels.rule == ($r.id | tostring))]
			| length == 1 and .[0].value == $r.packets and
			.[0].labels.action == ($r.action + (if $r.to then " " + $r.to else "" end)) and
			.[0].labels.service == ($r.service // "") and
			.[0].labels.family == $r.family and
			(.[0].labels.match | startswith($r.proto + " " + $r.dst))) and
		[got("splicer_rule_bytes_total")[] | select(.labels.rule == ($r.id | tostring)) | .value]
			== [$r.bytes]) and
	value("splicer_rules"; {}) == [$l.rules | length] and
	value("splicer_monitor_events_total"; {}) == [$s.monitor.events] and
	value("splicer_monitor_events_lost_total"; {}) == [$s.monitor.lost] and
	value("splicer_monitor_listening"; {}) == [if $s.monitor.listening then 1 else 0 end] and
	all($s.interfaces[]; value("splicer_interface_attached"; {iface: .name})
		== [if .attached then 1 else 0 end])'

# prom_equals_json FILE-OR-COMMAND: takes stats -j and list -j before and
# after the Prometheus text, until nothing moved in between (ARP may), and
# then holds the text against them.
prom_equals_json() {
	local tries=0 s1 l1 s2 l2 prom
	while ((tries++ < 10)); do
		s1=$(splicer -j stats) && l1=$(splicer -j list) || return 1
		"$@" >"$BATS_TEST_TMPDIR/now.prom" || return 1
		s2=$(splicer -j stats) && l2=$(splicer -j list) || return 1
		[ "$s1" = "$s2" ] && [ "$l1" = "$l2" ] && break
	done
	prom=$(prom_check "$BATS_TEST_TMPDIR/now.prom") || return 1
	jq -en --argjson p "$prom" --argjson s "$s1" --argjson l "$l1" "$JQ_SAME" >/dev/null ||
		{ echo "prometheus differs from stats -j / list -j:" >&2; cat "$BATS_TEST_TMPDIR/now.prom" >&2; return 1; }
}

traffic() {
	tcp_server "$NS_R" proxy --port 9999 --bind 127.0.0.1
	tcp_server "$NS_R" ssh --port 22 --bind "$R_IP"
	attach_router
	run -0 splicer attach xr
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route service 'web"1\x'
	run -0 splicer add "$R_IP" proto udp port 5000-5010 drop from 10.99.0.0/24 dev vr
	run -0 splicer add 10.77.0.0/16 proto tcp port 443 pass
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	run -0 tcp_client "$NS_C" --connect "$R_IP:22"
	run -0 udp_client "$NS_C" --connect "$R_IP:5003" --count 4 --size 100 --no-wait
	run -0 udp_client "$NS_C" --connect "$R_IP:6000" --count 2 --no-wait
	wait_counter vr dropped.rule_drop.packets 4
	wait_counter vr dropped.no_rule.packets 2
}

# traffic, and IPv6 datagrams: 3 to an IPv6 drop rule
traffic6() {
	enable_ipv6
	traffic
	run -0 timeout 10 ip -n "$NS_C" -6 neigh replace "$R_IP6" \
		lladdr "$(mac_of "$NS_R" vr)" dev vc nud permanent
	run -0 splicer add "$R_IP6" proto udp port 5000 drop service v6
	timeout 15 ip netns exec "$NS_C" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(b"x" * 100, ("'"$R_IP6"'", 5000))'
	wait_counter vr ipv6.dropped.rule_drop.packets 3
}

@test "the test's prometheus checker rejects what the format forbids" {
	local bad
	for bad in 'x 1' $'# TYPE a counter\na 1' $'# TYPE a_total counter\na_total{x="1"} 1\na_total{x="1"} 2' \
		$'# TYPE g gauge\ng{x="\\q"} 1' $'# TYPE g gauge\ng 1\n# TYPE h gauge\nh 1\ng 2' \
		$'# TYPE g gauge\ng{x="1",x="2"} 1' $'# TYPE g gauge\ng{__x="1"} 1' $'# note\n# TYPE g gauge\ng 1' \
		$'# TYPE g gauge\ng{x="1} 1' $'# TYPE a_total counter\na_total -1' $'# TYPE g gauge\ng 1 x' \
		$'# TYPE g gauge\n# TYPE g gauge\ng 1' $'# TYPE g gauge\ng{x="1"}  1' $'# TYPE 1g gauge\n1g 1'; do
		run -1 prom_check <<<"$bad"
	done
	run -1 prom_check < <(printf '# TYPE g gauge\ng 1')
	run -0 prom_check <<<$'# HELP g A "gauge" \\\\ too.\n# TYPE g gauge\ng{a="x\\"y\\\\z\\n",b=""} -1.5e3\ng{a="2"} +Inf'
	assert_output '[{"name": "g", "labels": {"a": "x\"y\\z\n", "b": ""}, "value": -1500.0}, {"name": "g", "labels": {"a": "2"}, "value": Infinity}]'
}

@test "stats --format prometheus parses strictly and its numbers equal stats -j and list -j" {
	traffic6
	prom_equals_json splicer stats --format prometheus
	promtool_check "$BATS_TEST_TMPDIR/now.prom"
	# the traffic is there, not only zeros
	run -0 grep -c '^splicer_rule_packets_total{rule="[0-9]*",family="ipv4",match="udp 10.99.0.1/32 from 10.99.0.0/24 port 5000-5010 dev vr",action="drop",service=""} 4$' \
		"$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -c '^splicer_rule_packets_total{rule="[0-9]*",family="ipv6",match="udp '"$R_IP6"'/128 port 5000",action="drop",service="v6"} 3$' \
		"$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -F 'splicer_packets_total{iface="vr",family="ipv4",verdict="redirect",reason="redirected"} 1' \
		"$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -F 'splicer_packets_total{iface="vr",family="ipv6",verdict="drop",reason="rule_drop"} 3' \
		"$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -F 'splicer_packets_total{iface="vr",family="none",verdict="drop",reason="not_ip"} ' \
		"$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -F 'splicer_packets_total{iface="xr",family="ipv4",verdict="drop",reason="no_rule"} 0' \
		"$BATS_TEST_TMPDIR/now.prom"
	# every family has HELP and TYPE
	run -0 grep -c '^# HELP ' "$BATS_TEST_TMPDIR/now.prom"
	local helps=$output
	run -0 grep -c '^# TYPE ' "$BATS_TEST_TMPDIR/now.prom"
	assert_equal "$output" "$helps"
}

@test "prometheus label values escape quote and backslash: the service reads back as list shows it" {
	traffic
	splicer stats --format prometheus >"$BATS_TEST_TMPDIR/p.prom"
	run -0 grep -F 'service="web\"1\\x"' "$BATS_TEST_TMPDIR/p.prom"
	run -0 prom_check "$BATS_TEST_TMPDIR/p.prom"
	run -0 jq -r '[.[] | select(.name == "splicer_rule_packets_total" and (.labels.match | startswith("tcp 172.16.240.0/24"))) | .labels.service] | unique[]' <<<"$output"
	assert_output "$(rule_field "is_dst(\"$VNET\")" service)"
	assert_output 'web"1\x'
}

@test "the monitor's counters are in the prometheus text too" {
	attach_router
	timeout 60 nsenter --net="/run/netns/$NS_R" -- "$SPLICER" --pin-root "$PIN" monitor \
		>/dev/null 2>&1 3>&- &
	echo "$!" >>"$PIDFILE"
	wait_for "[ \"\$(splicer -j stats | jq .monitor.listening)\" = true ]"
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 3 --no-wait
	wait_for "[ \"\$(splicer -j stats | jq .monitor.events)\" -ge 3 ]"
	prom_equals_json splicer stats --format prometheus
	run -0 grep -E '^splicer_monitor_listening 1$' "$BATS_TEST_TMPDIR/now.prom"
	run -0 grep -E '^splicer_monitor_events_total [1-9][0-9]*$' "$BATS_TEST_TMPDIR/now.prom"
}

@test "--textfile DIR replaces DIR/splicer.prom atomically, readable by all, and leaves no temporary file" {
	traffic
	local dir="$BATS_TEST_TMPDIR/textfile" inode
	mkdir "$dir"
	echo stale >"$dir/splicer.prom"
	inode=$(stat -c %i "$dir/splicer.prom")
	run -0 --separate-stderr splicer stats --format prometheus --textfile "$dir"
	[ -z "$output$stderr" ]
	run -0 ls -A "$dir"
	assert_output splicer.prom
	# renamed over the old file, not written into it
	[ "$(stat -c %i "$dir/splicer.prom")" != "$inode" ]
	[ "$(stat -c %a "$dir/splicer.prom")" = 644 ]
	prom_equals_json cat "$dir/splicer.prom"
	promtool_check "$dir/splicer.prom"
}

@test "stats --watch with --textfile rewrites the file each interval; a reader only ever sees whole files" {
	traffic
	local dir="$BATS_TEST_TMPDIR/textfile" i inodes=""
	mkdir "$dir"
	timeout 60 nsenter --net="/run/netns/$NS_R" -- "$SPLICER" --pin-root "$PIN" \
		stats --format prometheus --textfile "$dir" --watch 0.1 \
		>"$BATS_TEST_TMPDIR/w.out" 2>&1 3>&- &
	local pid=$!
	echo "$pid" >>"$PIDFILE"
	wait_for "[ -e '$dir/splicer.prom' ]"
	# every read parses in full while the writer keeps replacing the file
	for i in $(seq 1 40); do
		cp "$dir/splicer.prom" "$BATS_TEST_TMPDIR/read.prom"
		prom_check "$BATS_TEST_TMPDIR/read.prom" >/dev/null ||
			fail "read $i: $(cat "$BATS_TEST_TMPDIR/read.prom")"
		grep -q '^splicer_rules 3$' "$BATS_TEST_TMPDIR/read.prom" ||
			fail "read $i is not whole"
		inodes+="$(stat -c %i "$dir/splicer.prom") "
	done
	# it was replaced meanwhile
	[ "$(tr ' ' '\n' <<<"$inodes" | sort -u | grep -c .)" -gt 1 ]
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$BATS_TEST_TMPDIR/w.out")"
	run -0 ls -A "$dir"
	assert_output splicer.prom
	[ ! -s "$BATS_TEST_TMPDIR/w.out" ]
}

@test "stats --watch on a pipe prints plain blocks with rates until SIGINT, then exits 0" {
	attach_router
	run -0 splicer add "$R_IP" proto udp port 5000 drop
	timeout 60 nsenter --net="/run/netns/$NS_R" -- "$SPLICER" --pin-root "$PIN" \
		stats --watch 0.2 >"$BATS_TEST_TMPDIR/w.out" 2>&1 3>&- &
	local pid=$!
	echo "$pid" >>"$PIDFILE"
	blocks() { grep -c '^splicer stats, every 0.2 s, ' "$BATS_TEST_TMPDIR/w.out"; }
	wait_for "[ \$(blocks) -ge 1 ]"
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 7 --size 100 --no-wait
	wait_counter vr dropped.rule_drop.packets 7
	local seen
	seen=$(blocks)
	wait_for "[ \$(blocks) -ge $((seen + 2)) ]"
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	run -0 cat "$BATS_TEST_TMPDIR/w.out"
	# no terminal: no escape sequences
	refute_output --partial $'\033'
	# the first block has no rates yet; the last shows totals and rates
	run -0 awk '/^splicer stats,/ { n++ } n == 1' "$BATS_TEST_TMPDIR/w.out"
	assert_line --regexp '^INTERFACE +VERDICT +REASON +PKTS/S +BYTES/S +PACKETS +BYTES$'
	refute_output --regexp ' [0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$'
	run -0 awk -v last="$(blocks)" '/^splicer stats,/ { n++ } n == last' "$BATS_TEST_TMPDIR/w.out"
	assert_line --regexp '^vr +drop +rule_drop +[0-9.]+k? +[0-9.]+k? +7 +(896|994)$'
	assert_line --regexp '^RULE +MATCH +ACTION +PKTS/S +BYTES/S +PACKETS +BYTES$'
	assert_line --regexp '^[0-9]+ +udp 10\.99\.0\.1/32 port 5000 +drop +[0-9.]+k? +[0-9.]+k? +7 +(896|994)$'
	assert_line "1 rules, 0 without packets"
}

@test "stats --watch on a terminal redraws in place like top and stops on SIGTERM with exit 0" {
	attach_router
	local cmd
	cmd="timeout --preserve-status -s TERM 3 nsenter --net=/run/netns/$NS_R -- $SPLICER --pin-root $PIN stats --watch 0.5; echo rc=\$?"
	run -0 timeout 20 script -qec "$cmd" /dev/null
	assert_output --partial $'\033[H\033[2J''splicer stats, every 0.5 s, '
	assert_output --partial "rc=0"
	[ "$(grep -o $'\033\\[H' <<<"$output" | wc -l)" -ge 2 ]
}

@test "stats -j --watch prints one stats object per line and interval" {
	attach_router
	timeout 60 nsenter --net="/run/netns/$NS_R" -- "$SPLICER" --pin-root "$PIN" \
		-j stats --watch 0.2 >"$BATS_TEST_TMPDIR/w.out" 2>&1 3>&- &
	local pid=$!
	echo "$pid" >>"$PIDFILE"
	wait_for "[ \$(wc -l <'$BATS_TEST_TMPDIR/w.out') -ge 3 ]"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	run -0 jq -ce '.schema == 2 and (.interfaces | length) == 1 and .monitor.events == 0' "$BATS_TEST_TMPDIR/w.out"
	refute_output --partial false
}

@test "stats options: bad input is one error line and exit 1, and writes nothing" {
	attach_router
	local dir="$BATS_TEST_TMPDIR/textfile"
	mkdir "$dir"
	run -1 --separate-stderr splicer stats --format xml
	assert_error "xml: unknown format (text, json or prometheus)"
	run -1 --separate-stderr splicer stats --watch 0
	assert_error "0: --watch takes seconds, 0.1 to 86400"
	run -1 --separate-stderr splicer stats --watch abc
	assert_error "abc: --watch takes seconds"
	run -1 --separate-stderr splicer stats --watch
	assert_error "--watch: missing value"
	run -1 --separate-stderr splicer stats --textfile "$dir"
	assert_error "--textfile writes the prometheus format"
	run -1 --separate-stderr splicer -j stats --format prometheus
	run -0 jq -er .error <<<"$stderr"
	assert_output "-j and --format prometheus disagree"
	run -1 --separate-stderr splicer stats --format prometheus --watch 1
	assert_error "--watch with --format prometheus needs --textfile DIR"
	run -1 --separate-stderr splicer stats --format prometheus --textfile "$dir/nope"
	assert_error "$dir/nope: no such directory"
	run -1 --separate-stderr splicer stats --bogus
	assert_error "--bogus: unknown argument"
	run -0 ls -A "$dir"
	assert_output ""
	run -3 --separate-stderr timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN-none" stats --format prometheus
	assert_error "not attached"
}
