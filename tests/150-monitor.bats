#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# splicer monitor: the events of real connections, told while a monitor
# runs and never otherwise; a monitor killed with SIGKILL stops emission
# by itself; filters, one monitor at a time, lost events, bad input.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# start_monitor NAME [ARGS...]: `splicer monitor ARGS` in the router's
# namespace, in the background, stdout to $BATS_TEST_TMPDIR/NAME.out and
# stderr to NAME.err; returns once the datapath sees it listening.
start_monitor() {
	local name=$1
	shift
	timeout 120 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" monitor "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	echo "$!" >>"$PIDFILE"
	MONITOR_PID=$!
	wait_for monitor_listening ||
		fail "monitor did not start: $(cat "$BATS_TEST_TMPDIR/$name.err")"
}

monitor_listening() {
	[ "$(splicer -j stats | jq -r .monitor.listening)" = true ]
}

# The pid of splicer itself (under timeout), as the heartbeat names it.
monitor_pid() {
	splicer -j stats | jq -er '.monitor.pid'
}

emitted() { splicer -j stats | jq -er .monitor.events; }
lost() { splicer -j stats | jq -er .monitor.lost; }

# stop_monitor SIGNAL: signals the monitor and waits for it to exit; its
# exit code is in MONITOR_RC.
stop_monitor() {
	kill -"$1" "$MONITOR_PID"
	MONITOR_RC=0
	wait "$MONITOR_PID" || MONITOR_RC=$?
}

# out_lines NAME: the number of lines the monitor printed so far.
out_lines() { wc -l <"$BATS_TEST_TMPDIR/$1.out"; }

# Only what the tests assert on, without time and length; ARP events are
# left out: the kernel resolves neighbours when it likes.
EVENT_FIELDS='select(.reason != "arp") | {iface, proto, src, sport, dst, dport,
	tcp_flags, verdict, reason,
	rule: (if .rule then .rule | {id, dst, port_low, action, to} else null end)}'

@test "a monitor sees exactly the events of a redirected connection, a dropped probe and an ssh connect" {
	tcp_server "$NS_R" proxy --port 9999 --bind 127.0.0.1
	tcp_server "$NS_R" ssh --port 22 --bind "$R_IP"
	attach_router
	run -0 splicer add 10.77.0.0/16 proto tcp port 443 pass
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	local id
	id=$(rule_field "is_dst(\"$VNET\")" id)
	start_monitor mon -j

	run -0 tcp_client "$NS_C" --connect "$VIP:80" --src "$C_IP:41001"
	assert_output "local=$VIP:80 peer=$C_IP:41001"
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --src "$C_IP:41002" --no-wait
	run -0 tcp_client "$NS_C" --connect "$R_IP:22" --src "$C_IP:41003"
	wait_counter vr dropped.no_rule.packets 1
	wait_for "[ \$(jq -c '$EVENT_FIELDS' '$BATS_TEST_TMPDIR/mon.out' | wc -l) -ge 3 ]" ||
		fail "events: $(cat "$BATS_TEST_TMPDIR/mon.out")"
	stop_monitor INT
	[ "$MONITOR_RC" -eq 0 ]

	run -0 jq -c "$EVENT_FIELDS" "$BATS_TEST_TMPDIR/mon.out"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" "{\"iface\":\"vr\",\"proto\":\"tcp\",\"src\":\"$C_IP\",\"sport\":41001,\"dst\":\"$VIP\",\"dport\":80,\"tcp_flags\":[\"syn\"],\"verdict\":\"redirect\",\"reason\":\"redirected\",\"rule\":{\"id\":$id,\"dst\":\"$VNET\",\"port_low\":80,\"action\":\"redirect\",\"to\":\"127.0.0.1:9999\"}}"
	assert_equal "${lines[1]}" "{\"iface\":\"vr\",\"proto\":\"udp\",\"src\":\"$C_IP\",\"sport\":41002,\"dst\":\"$R_IP\",\"dport\":5000,\"tcp_flags\":null,\"verdict\":\"drop\",\"reason\":\"no_rule\",\"rule\":null}"
	assert_equal "${lines[2]}" "{\"iface\":\"vr\",\"proto\":\"tcp\",\"src\":\"$C_IP\",\"sport\":41003,\"dst\":\"$R_IP\",\"dport\":22,\"tcp_flags\":[\"syn\"],\"verdict\":\"pass\",\"reason\":\"ssh\",\"rule\":null}"
	# every object carries every documented field; ARP, if any, is a pass
	run -0 jq -se 'all(.[]; keys == (["time","iface","ifindex","proto","family",
		"src","sport","dst","dport","tcp_flags","icmp_type","icmp_name","len",
		"verdict","reason","rule"] | sort) and (.len | type) == "number" and
		(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z$")))
		and all(.[] | select(.reason == "arp"); .verdict == "pass" and .proto == "arp")' \
		"$BATS_TEST_TMPDIR/mon.out"
	# stopped cleanly: the heartbeat is gone at once, and -j says nothing on stderr
	run -0 splicer -j stats
	json_true "$output" '.monitor.listening == false and .monitor.pid == null'
	[ ! -s "$BATS_TEST_TMPDIR/mon.err" ]
}

@test "the text line names time, interface, addresses, verdict, reason and the rule as list shows it" {
	tcp_server "$NS_R" proxy --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	start_monitor mon proto tcp
	run -0 tcp_client "$NS_C" --connect "$VIP:80" --src "$C_IP:41011"
	wait_for "grep -q redirected '$BATS_TEST_TMPDIR/mon.out'"
	stop_monitor TERM
	[ "$MONITOR_RC" -eq 0 ]
	run -0 cat "$BATS_TEST_TMPDIR/mon.out"
	assert_equal "${#lines[@]}" 1
	assert_regex "${lines[0]}" "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} vr tcp $C_IP:41011 -> $VIP:80 \[S\] redirect redirected rule [0-9]+: tcp $VNET port 80 redirect 127\.0\.0\.1:9999$"
	run -0 cat "$BATS_TEST_TMPDIR/mon.err"
	assert_line --index 0 "monitor: listening on all attached interfaces; interrupt to stop"
	assert_line --index 1 --regexp "^monitor: [0-9]+ events, 1 shown, 0 lost$"
}

# send6 PORT...: one IPv6 datagram from the client to R_IP6 per port
send6() {
	timeout 15 ip netns exec "$NS_C" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("'"$C_IP6"'", 41020))
for p in sys.argv[1:]:
    s.sendto(b"x" * 64, ("'"$R_IP6"'", int(p)))
' "$@"
}

IPV6_FIELDS='select(.family == "ipv6" and .reason != "nd") | {proto, family, src, sport, dst,
	dport, icmp_type, icmp_name, verdict, reason, rule: (if .rule then .rule.id else null end)}'

@test "IPv6 events: addresses whole, ICMPv6 type names, the rule that decided" {
	enable_ipv6
	attach_router
	# the peer's neighbour entry, so no solicitation is needed
	run -0 timeout 10 ip -n "$NS_C" -6 neigh replace "$R_IP6" \
		lladdr "$(mac_of "$NS_R" vr)" dev vc nud permanent
	run -0 splicer add "$R_IP6" proto udp port 5000 drop
	local id
	id=$(rule_field 'select(.family == "ipv6")' id)
	start_monitor mon6 -j
	run timeout 10 ip netns exec "$NS_C" ping -6 -c 1 -W 1 -I "$C_IP6" "$R_IP6"
	run -0 send6 5000 6000
	wait_for "[ \$(jq -c '$IPV6_FIELDS' '$BATS_TEST_TMPDIR/mon6.out' | wc -l) -ge 3 ]" ||
		fail "events: $(cat "$BATS_TEST_TMPDIR/mon6.out")"
	stop_monitor INT
	run -0 jq -c "$IPV6_FIELDS" "$BATS_TEST_TMPDIR/mon6.out"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" "{\"proto\":\"icmpv6\",\"family\":\"ipv6\",\"src\":\"$C_IP6\",\"sport\":null,\"dst\":\"$R_IP6\",\"dport\":null,\"icmp_type\":128,\"icmp_name\":\"echo-request\",\"verdict\":\"drop\",\"reason\":\"no_rule\",\"rule\":null}"
	assert_equal "${lines[1]}" "{\"proto\":\"udp\",\"family\":\"ipv6\",\"src\":\"$C_IP6\",\"sport\":41020,\"dst\":\"$R_IP6\",\"dport\":5000,\"icmp_type\":null,\"icmp_name\":null,\"verdict\":\"drop\",\"reason\":\"rule_drop\",\"rule\":$id}"
	assert_equal "${lines[2]}" "{\"proto\":\"udp\",\"family\":\"ipv6\",\"src\":\"$C_IP6\",\"sport\":41020,\"dst\":\"$R_IP6\",\"dport\":6000,\"icmp_type\":null,\"icmp_name\":null,\"verdict\":\"drop\",\"reason\":\"no_rule\",\"rule\":null}"

	# the text form: [ADDR6]:PORT, and the type's name
	start_monitor mon6t
	run timeout 10 ip netns exec "$NS_C" ping -6 -c 1 -W 1 -I "$C_IP6" "$R_IP6"
	run -0 send6 5000
	wait_for "grep -q rule_drop '$BATS_TEST_TMPDIR/mon6t.out'"
	stop_monitor TERM
	run -0 grep -F "$C_IP6" "$BATS_TEST_TMPDIR/mon6t.out"
	assert_line --regexp "^[0-9:.]+ vr icmpv6 $C_IP6 -> $R_IP6 \[type 128 echo-request\] drop no_rule$"
	assert_line --regexp "^[0-9:.]+ vr udp \[$C_IP6\]:41020 -> \[$R_IP6\]:5000 drop rule_drop rule $id: udp $R_IP6/128 port 5000 drop$"
}

@test "rules added or changed while a monitor runs are named as they are now" {
	tcp_server "$NS_R" web --port 8080 --port 8081 --bind "$R_IP"
	attach_router
	start_monitor mon -j proto tcp
	run -0 splicer add "$R_IP" proto tcp port 8080 pass service web-1
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	# the same match with another action keeps the rule's id
	run -0 splicer add "$R_IP" proto tcp port 8080 drop service web-1
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -0 splicer add "$R_IP" proto tcp port 8081 pass service web-2
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	wait_for "grep -q web-2 '$BATS_TEST_TMPDIR/mon.out'"
	stop_monitor INT
	# (a dropped SYN may have been sent again)
	run -0 bash -c "jq -c '[.reason, .dport, .rule.action, .rule.service]' \
		'$BATS_TEST_TMPDIR/mon.out' | uniq"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '["rule_pass",8080,"pass","web-1"]'
	assert_equal "${lines[1]}" '["rule_drop",8080,"drop","web-1"]'
	assert_equal "${lines[2]}" '["rule_pass",8081,"pass","web-2"]'
}

@test "a monitor's filters show only the matching events" {
	udp_server "$NS_R" udp --port 6000 --bind "$R_IP" --silent
	attach_router
	run -0 splicer attach xr
	run -0 splicer add "$R_IP" proto udp port 6000 pass
	start_monitor mon -j dev vr verdict drop proto udp
	run -0 udp_client "$NS_C" --connect "$R_IP:6000" --no-wait # udp pass
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --src "$C_IP:41021" --no-wait # udp drop
	run -2 tcp_client "$NS_C" --connect "$R_IP:5000" --timeout 1 # tcp drop
	wait_counter vr passed.rule_pass.packets 1
	wait_counter vr dropped.no_rule.packets 2
	wait_for "[ \$(wc -l <'$BATS_TEST_TMPDIR/mon.out') -ge 1 ]"
	stop_monitor INT
	[ "$MONITOR_RC" -eq 0 ]
	run -0 jq -c '[.iface, .proto, .sport, .verdict, .reason]' "$BATS_TEST_TMPDIR/mon.out"
	assert_output '["vr","udp",41021,"drop","no_rule"]'
}

@test "a monitor killed with SIGKILL stops the datapath's emission within seconds" {
	attach_router
	start_monitor mon
	local pid
	pid=$(monitor_pid)
	[ "$(cat /proc/"$pid"/comm)" = splicer ]
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --no-wait
	wait_for counter_at_least 1 emitted
	kill -KILL "$pid"
	# new flows keep coming; the counter must stop moving by itself
	local drops=1 before
	emission_stopped() {
		before=$(emitted) || return 1
		udp_client "$NS_C" --connect "$R_IP:5000" --no-wait || return 1
		drops=$((drops + 1))
		wait_counter vr dropped.no_rule.packets "$drops"
		[ "$(emitted)" = "$before" ]
	}
	wait_for -t 15 emission_stopped || fail "events are still emitted: $(emitted)"
	before=$(emitted)
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 5 --no-wait
	tcp_server "$NS_R" web --port 8080 --bind "$R_IP"
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	wait_counter vr dropped.no_rule.packets $((drops + 5))
	wait_counter vr passed.rule_pass.packets 1
	run -0 emitted
	assert_output "$before"
	run -0 splicer -j stats
	json_true "$output" '.monitor.listening == false and .monitor.pid == null and .monitor.lost == 0'
	# and a new monitor may start at once
	start_monitor again
}

@test "with no monitor ever started, traffic produces no event" {
	tcp_server "$NS_R" proxy --port 9999 --bind 127.0.0.1
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	run -0 udp_client "$NS_C" --connect "$R_IP:5000" --count 3 --no-wait
	wait_counter vr dropped.no_rule.packets 3
	wait_counter vr redirected.packets 1
	run -0 splicer -j stats
	json_true "$output" '.monitor == {"listening": false, "pid": null, "events": 0, "lost": 0}'
}

@test "one monitor at a time: a second is refused while the first runs, welcome after it stops" {
	attach_router
	start_monitor first
	run -2 --separate-stderr splicer monitor
	assert_error "another monitor is running (pid $(monitor_pid))"
	run -2 --separate-stderr splicer -j monitor
	run -0 jq -er .error <<<"$stderr"
	assert_output --partial "another monitor is running"
	# the refused one did not take the heartbeat over
	run -0 monitor_pid
	[ -d /proc/"$output" ]
	stop_monitor TERM
	[ "$MONITOR_RC" -eq 0 ]
	start_monitor second
	stop_monitor INT
	[ "$MONITOR_RC" -eq 0 ]
}

@test "events lost to a full ring are counted and reported by the monitor" {
	attach_router
	start_monitor mon
	local pid mac tries=0 lost0
	pid=$(monitor_pid)
	mac=$(mac_of "$NS_R" vr)
	lost0=$(lost)
	# A stopped monitor reads nothing: its heartbeat stays fresh for 3 s,
	# long enough to overflow 256 KiB of events with dropped frames.
	while [ "$(lost)" -eq "$lost0" ]; do
		((tries++ < 5)) || fail "the ring never overflowed"
		wait_for monitor_listening
		kill -STOP "$pid"
		in_c "$PY" "$PROBE" raw-frame --dev vc --dst-mac "$mac" \
			--ethertype 0x88b5 --count 8000 >/dev/null
		kill -CONT "$pid"
	done
	local emitted_total lost_total
	wait_for "[ \$(out_lines mon) -gt 0 ] && grep -q 'events lost' '$BATS_TEST_TMPDIR/mon.err'"
	stop_monitor INT
	[ "$MONITOR_RC" -eq 0 ]
	lost_total=$(($(lost) - lost0))
	[ "$lost_total" -gt 0 ]
	# the periodic reports and the summary add up to the datapath's count
	run -0 awk '/events lost \(ring buffer full\)$/ { n += $2 } END { print n }' \
		"$BATS_TEST_TMPDIR/mon.err"
	assert_output "$lost_total"
	run -0 grep -E "^monitor: [0-9]+ events, [0-9]+ shown, $lost_total lost$" \
		"$BATS_TEST_TMPDIR/mon.err"
	# every event the datapath emitted was shown
	emitted_total=$(emitted)
	[ "$(out_lines mon)" -eq "$emitted_total" ]
}

@test "monitor: bad input is one error line and exit 1; not attached is exit 3" {
	run -3 --separate-stderr splicer monitor
	assert_error "not attached"
	attach_router
	run -1 --separate-stderr splicer monitor verdict maybe
	assert_error "maybe: unknown verdict (redirect, pass or drop)"
	run -1 --separate-stderr splicer monitor reason nope
	assert_error "nope: unknown reason"
	run -1 --separate-stderr splicer monitor proto sctp
	assert_error "sctp: unknown protocol (tcp, udp, icmp or icmpv6)"
	run -1 --separate-stderr splicer monitor dev nosuch0
	assert_error "nosuch0: no such interface"
	run -1 --separate-stderr splicer monitor dev
	assert_error "dev: missing value"
	run -1 --separate-stderr splicer monitor dev vr dev vr
	assert_error "dev: given twice"
	run -1 --separate-stderr splicer monitor verdict pass reason no_rule
	assert_error "no reason has that verdict"
	run -1 --separate-stderr splicer monitor bogus
	assert_error "bogus: unknown argument"
	# nothing was left listening
	run -0 splicer -j stats
	json_true "$output" '.monitor.listening == false'
}
