#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The rule store at scale: bulk changes that packets see in one step,
# writers killed with SIGKILL at any moment, the writers' lock, 100,000
# rules, and TIME_WAIT reuse under load.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

GEN="$BATS_TEST_DIRNAME/../bench/gen-rules.py"

# splicer with room for big rule sets (the helper allows 10 s).
splicer_slow() {
	timeout 300 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" "$@"
}

# filler N SEED [6]: N distinct generated rules (add lines; IPv6 ones
# with 6) whose destinations stay clear of the test's own prefixes
# (10.0.0.0/8 and 172.16.0.0/12; IPv6: fd00:99::/64, fd00:88::/64 and
# VNET6), so none of them decides the test's own traffic.
filler() {
	local family=${3:-4} mine="10.0.0.0/8 172.16.0.0/12"
	[ "$family" = 6 ] && mine="fd00:99::/64 fd00:88::/64 $VNET6"
	"$PY" "$GEN" $(($1 + $1 / 20 + 16)) "$2" --family "$family" | "$PY" -c '
import ipaddress, sys
mine = [ipaddress.ip_network(n) for n in sys.argv[2].split()]
want, got = int(sys.argv[1]), 0
for line in sys.stdin:
    dst = ipaddress.ip_network(line.split()[1])
    if got < want and not any(dst.overlaps(m) for m in mine):
        sys.stdout.write(line)
        got += 1
sys.exit(got != want)' "$1" "$mine"
}

# The rule set as `save` prints it, sorted.
saved_sorted() {
	splicer_slow save | LC_ALL=C sort
}

rule_count_slow() {
	local js
	js=$(splicer_slow -j list) || return 1
	jq -er '.rules | length' <<<"$js"
}

# Packets vr dropped for any reason.
drops() {
	local js
	js=$(splicer -j stats) || return 1
	jq -e '[.interfaces[] | select(.name == "vr") | .dropped[].packets] | add' <<<"$js"
}

snapshot_pins() {
	find "$PIN" -maxdepth 1 -name 'rules-*' | wc -l
}

# A TCP connection to VIP:80 answers from listener 127.0.0.1:$1.
answers_from() {
	local out
	out=$(tcp_client "$NS_C" --connect "$VIP:80") || return 1
	[[ $out == *" listener=127.0.0.1:$1" ]]
}

@test "a packet stream during repeated apply of two rule sets sees only their two answers" {
	tcp_server "$NS_R" a --port 9001 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" b --port 9002 --bind 127.0.0.1 --tag
	attach_router
	local a="$BATS_TEST_TMPDIR/a.rules" b="$BATS_TEST_TMPDIR/b.rules"
	local log="$BATS_TEST_TMPDIR/outcomes" stop="$BATS_TEST_TMPDIR/stop"
	{
		echo "add $VNET proto tcp port 80 redirect 9001 route"
		filler 4000 11
	} >"$a"
	{
		echo "add $VNET proto tcp port 80 redirect 9002 route"
		filler 4000 12
	} >"$b"
	run -0 splicer_slow apply "$a"
	local dropped_before
	dropped_before=$(drops)

	start_bg "$NS_C" stream "$PY" "$PROBE" tcp-loop --connect "$VIP:80" \
		--until "$stop" --log "$log" --max-seconds 110
	wait_for -t 10 "grep -q 'listener=127.0.0.1:9001' '$log'"
	local round seen
	for round in 1 2 3; do
		# after each apply returns, new connections reach the other
		# listener: the stream really crosses every swap
		seen=$(wc -l <"$log")
		run -0 splicer_slow apply "$b"
		wait_for -t 10 "tail -n +$((seen + 1)) '$log' | grep -q 'listener=127.0.0.1:9002'"
		seen=$(wc -l <"$log")
		run -0 splicer_slow apply "$a"
		wait_for -t 10 "tail -n +$((seen + 1)) '$log' | grep -q 'listener=127.0.0.1:9001'"
	done
	touch "$stop"
	wait_for -t 15 "grep -q '^ok=' '$BATS_TEST_TMPDIR/stream.log'"

	# every connection was answered by A or by B: no drop, no reset, no
	# connection refused, no third listener
	run -1 grep -v '^ok listener=127.0.0.1:900[12] ' "$log"
	[ "$(grep -c 'listener=127.0.0.1:9001 ' "$log")" -ge 4 ]
	[ "$(grep -c 'listener=127.0.0.1:9002 ' "$log")" -ge 3 ]
	run -0 cat "$BATS_TEST_TMPDIR/stream.log"
	assert_line --regexp '^ok=[0-9]+ timeout=0 refused=0 error=0 '
	# nothing at all was dropped on vr meanwhile (no_rule, rule_drop,
	# no_listener...): the datapath never saw a mix or an empty table
	run -0 drops
	assert_output "$dropped_before"
}

@test "apply killed with SIGKILL at any moment leaves the old or the new rule set, and the next command converges" {
	tcp_server "$NS_R" a --port 9001 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" b --port 9002 --bind 127.0.0.1 --tag
	attach_router
	local old="$BATS_TEST_TMPDIR/old.rules" new="$BATS_TEST_TMPDIR/new.rules"
	{
		echo "add $VNET proto tcp port 80 redirect 9001 route"
		echo "add 172.16.241.0/24 proto tcp port 81 pass route"
		filler 20000 21
	} >"$old"
	{
		echo "add $VNET proto tcp port 80 redirect 9002 route"
		filler 20000 22
	} >"$new"
	LC_ALL=C sort "$old" >"$old.sorted"
	LC_ALL=C sort "$new" >"$new.sorted"

	# how long an apply of new over old takes, to spread the kills over
	run -0 splicer_slow apply "$old"
	local t0 t1 ms
	t0=$(date +%s%N)
	run -0 splicer_slow apply "$new"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	run -0 saved_sorted
	[ "$output" = "$(cat "$new.sorted")" ]

	local pct pid state olds=0 news=0
	for pct in 0 5 20 40 60 75 90 100 120; do
		if [ "$(saved_sorted)" != "$(cat "$old.sorted")" ]; then
			run -0 splicer_slow apply "$old"
		fi
		nsenter --net="/run/netns/$NS_R" -- \
			"$SPLICER" --pin-root "$PIN" apply "$new" 3>&- &
		pid=$!
		echo "$pid" >>"$PIDFILE"
		# the sleep picks the moment of the kill; nothing waits on it
		sleep "$(printf '%d.%03d' $((ms * pct / 100000)) $((ms * pct / 100 % 1000)))"
		kill -KILL "$pid" 2>/dev/null || true
		{ wait "$pid"; } 2>/dev/null || true

		run -0 saved_sorted
		if [ "$output" = "$(cat "$old.sorted")" ]; then
			state=old
			olds=$((olds + 1))
		elif [ "$output" = "$(cat "$new.sorted")" ]; then
			state=new
			news=$((news + 1))
		else
			fail "kill at ${pct}% of ${ms} ms left neither rule set ($(wc -l <<<"$output") rules)"
		fi
		# list and the datapath agree with save
		run -0 rule_count_slow
		assert_output "$(wc -l <"${!state}")"
		if [ "$state" = old ]; then
			answers_from 9001 || fail "kill at ${pct}%: old set, traffic disagrees"
			# routes are added before a commit, removed only after
			run -0 splicer_routes
			assert_output --partial "172.16.241.0/24"
		else
			answers_from 9002 || fail "kill at ${pct}%: new set, traffic disagrees"
		fi
		[ "$(snapshot_pins)" -le 2 ]
	done
	echo "# kills that left the old set: $olds, the new set: $news" >&3

	# any next writer tidies up what a killed one left: the stale
	# snapshot and routes only the other set asked for
	run -0 splicer_slow attach vr
	[ "$(snapshot_pins)" -eq 1 ]
	if [ "$(saved_sorted)" = "$(cat "$new.sorted")" ]; then
		run -0 splicer_routes
		refute_output --partial "172.16.241.0/24"
	fi
	# and a rerun of the apply converges on the new set
	run -0 splicer_slow apply "$new"
	run -0 saved_sorted
	[ "$output" = "$(cat "$new.sorted")" ]
	answers_from 9002
	run -0 splicer_routes
	assert_output --partial "local $VNET dev lo"
	refute_output --partial "172.16.241.0/24"
	[ "$(snapshot_pins)" -eq 1 ]
}

@test "a writer that cannot get the lock fails after SPLICER_LOCK_TIMEOUT, says so and changes nothing" {
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	local fifo="$BATS_TEST_TMPDIR/release" f="$BATS_TEST_TMPDIR/apply.rules"
	echo "add $R_IP proto tcp port 8080 pass" >"$f"
	mkfifo "$fifo"
	# another writer: holds the pin root's lock until the fifo is written
	timeout 60 flock "$PIN" cat "$fifo" >/dev/null 3>&- &
	echo "$!" >>"$PIDFILE"
	wait_for "! flock -n '$PIN' true"

	local before
	before=$(state_snapshot)
	SPLICER_LOCK_TIMEOUT=0.3 run -2 --separate-stderr splicer add "$R_IP" proto tcp port 22 drop
	assert_error "$PIN: another splicer holds the lock (waited 0.3 s); nothing was changed"
	SPLICER_LOCK_TIMEOUT=0 run -2 --separate-stderr splicer apply "$f"
	assert_error "another splicer holds the lock"
	SPLICER_LOCK_TIMEOUT=0.2 run -2 --separate-stderr splicer del "$VNET" proto tcp port 80
	assert_error "another splicer holds the lock"
	SPLICER_LOCK_TIMEOUT=0.2 run -2 --separate-stderr splicer flush
	assert_error "another splicer holds the lock"
	SPLICER_LOCK_TIMEOUT=0.2 run -2 --separate-stderr splicer attach xr
	assert_error "another splicer holds the lock"
	SPLICER_LOCK_TIMEOUT=0.2 run -2 --separate-stderr splicer -j detach vr
	[ "$(jq -r .error <<<"$stderr")" = "$PIN: another splicer holds the lock (waited 0.2 s); nothing was changed" ]
	# a bad timeout is bad usage
	SPLICER_LOCK_TIMEOUT=soon run -1 --separate-stderr splicer add "$R_IP" proto tcp port 22 drop
	assert_error "SPLICER_LOCK_TIMEOUT=soon: not a number of seconds"
	SPLICER_LOCK_TIMEOUT=-1 run -1 --separate-stderr splicer add "$R_IP" proto tcp port 22 drop
	assert_error "SPLICER_LOCK_TIMEOUT=-1: not a number of seconds"
	# readers take no lock
	run -0 splicer save
	assert_output "add $VNET proto tcp port 80 redirect 9001 route"
	[ "$(state_snapshot)" = "$before" ]

	# a writer waiting within its timeout goes ahead once the lock is free
	SPLICER_LOCK_TIMEOUT=50 timeout 60 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" apply "$f" 3>&- &
	local waiter=$!
	echo "$waiter" >>"$PIDFILE"
	echo go >"$fifo"
	wait "$waiter"
	run -0 splicer save
	assert_output "add $R_IP/32 proto tcp port 8080 pass"
}

@test "adds racing an apply end in a table that some serial order of them makes" {
	attach_router
	run -0 splicer add "$R_IP" proto tcp port 8080 pass
	run -0 splicer add 172.16.250.100 proto udp port 53 drop
	local f="$BATS_TEST_TMPDIR/apply.rules"
	{
		echo "add $VNET proto tcp port 80 redirect 9001 route"
		filler 3000 31
	} >"$f"
	local i pids=()
	SPLICER_LOCK_TIMEOUT=120 timeout 150 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" apply "$f" 3>&- &
	pids+=("$!")
	for i in 1 2 3 4 5 6; do
		SPLICER_LOCK_TIMEOUT=120 timeout 150 nsenter --net="/run/netns/$NS_R" -- \
			"$SPLICER" --pin-root "$PIN" add "172.16.250.$i" proto tcp port 80 pass 3>&- &
		pids+=("$!")
	done
	# the same match as the apply's first line, another action
	SPLICER_LOCK_TIMEOUT=120 timeout 150 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" add "$VNET" proto tcp port 80 redirect 9002 route 3>&- &
	pids+=("$!")
	printf '%s\n' "${pids[@]}" >>"$PIDFILE"
	for i in "${pids[@]}"; do
		wait "$i" || fail "a writer failed"
	done

	run -0 splicer_slow -j list
	local js=$output
	# the apply's rules are all there, the rules it replaced are gone
	run -0 jq -r '.rules[] | select(.dst != "172.16.250.1/32" and .dst != "172.16.250.2/32" and .dst != "172.16.250.3/32" and .dst != "172.16.250.4/32" and .dst != "172.16.250.5/32" and .dst != "172.16.250.6/32") | .id' <<<"$js"
	[ "${#lines[@]}" -eq 3001 ]
	run -0 saved_sorted
	local saved=$output
	diff <(grep -v '^add 172.16.240.0/24 ' "$f" | LC_ALL=C sort) \
		<(grep -v '^add 172.16.250.[1-6]/32 \|^add 172.16.240.0/24 ' <<<"$saved")
	# the racing add of the same match either came before the apply
	# (which set 9001 again) or after it
	run -0 grep '^add 172.16.240.0/24 ' <<<"$saved"
	assert_output --regexp "^add $VNET proto tcp port 80 redirect 900[12] route$"
	# an add that survived came after the apply: its id is above every
	# id the apply handed out; one that ran before was replaced
	local apply_max
	apply_max=$(jq '[.rules[] | select(.dst | startswith("172.16.250.") | not) | .id] | max' <<<"$js")
	run -0 jq -r --argjson m "$apply_max" \
		'[.rules[] | select(.dst | startswith("172.16.250.")) | select(.id <= $m)] | length' <<<"$js"
	assert_output 0
	run -0 jq -r '[.rules[] | select(.dst | startswith("172.16.250.")) | select(.proto != "tcp" or .port_low != 80 or .action != "pass")] | length' <<<"$js"
	assert_output 0
}

@test "attach and writers refuse the pin root of an older splicer, say what to do, and save still reads it" {
	attach_router
	# what an older splicer left: the rule set in a hash map named
	# "rules" (key: dst, src, ifindex, ports, lengths, proto; value: id,
	# flags, target, action, service), no snapshots
	rm -f "$PIN"/rules-*
	run -0 timeout 10 bpftool map create "$PIN/rules" type hash key 20 value 80 \
		entries 64 name rules flags 1
	run -0 timeout 10 bpftool map update pinned "$PIN/rules" \
		key hex ac 10 f0 00 00 00 00 00 00 00 00 00 50 00 50 00 18 00 06 00 \
		value hex 01 00 00 00 00 00 00 00 7f 00 00 01 23 29 02 00 \
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
	run -0 splicer save
	assert_output "add $VNET proto tcp port 80 redirect 9001"
	local before
	before=$(state_snapshot)
	run -2 --separate-stderr splicer attach vr
	assert_error "$PIN: made by an older splicer; keep the rules with 'splicer save > FILE'"
	run -2 --separate-stderr splicer add "$R_IP" proto tcp port 8080 pass
	assert_error "made by an older splicer"
	run -2 --separate-stderr splicer flush
	assert_error "made by an older splicer"
	[ "$(state_snapshot)" = "$before" ]
	# what the message says works
	run -0 splicer detach vr --purge
	[ ! -e "$PIN" ]
	attach_router
	run -0 splicer apply - <<<"add $VNET proto tcp port 80 redirect 9001"
	run -0 splicer save
	assert_output "add $VNET proto tcp port 80 redirect 9001"
}

@test "100,000 rules: apply, list and the right verdict for sampled rules" {
	local n=${SPLICER_SCALE_RULES:-100000}
	tcp_server "$NS_R" redir --port 9001 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" own --port 8080 --bind "$R_IP" --tag
	attach_router
	local f="$BATS_TEST_TMPDIR/big.rules"
	{
		echo "add 172.16.240.10/32 proto tcp port 80 redirect 9001 route"
		echo "add 172.16.240.11/32 proto tcp port 80 drop"
		echo "add $R_IP/32 proto tcp port 8080 pass"
		echo "add 172.16.240.0/24 proto tcp port 81 redirect 9001 route"
		filler $((n - 4)) 41
	} >"$f"
	run -0 splicer_slow apply "$f"
	run -0 rule_count_slow
	assert_output "$n"

	run -0 tcp_client "$NS_C" --connect 172.16.240.10:80
	assert_output --regexp "^local=172.16.240.10:80 peer=$C_IP:[0-9]+ listener=127.0.0.1:9001$"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	assert_output --regexp "listener=$R_IP:8080$"
	run -2 tcp_client "$NS_C" --connect 172.16.240.11:80 --timeout 1
	wait_counter vr dropped.rule_drop.packets 1
	run -0 iface_counter vr passed.rule_pass.packets
	[ "$output" -ge 1 ]
	run -0 iface_counter vr redirected.packets
	[ "$output" -ge 1 ]
	# each sampled rule counted its own packets
	run -0 splicer_slow -j list
	run -0 jq -r '[.rules[] | select(.dst == "172.16.240.10/32" or .dst == "172.16.240.11/32" or .dst == "10.99.0.1/32") | select(.packets > 0)] | length' <<<"$output"
	assert_output 3

	# single changes read a base this large rule by rule, and map it
	# whole when a broad prefix reads much of it (a new base, then)
	run -0 splicer_slow add 172.16.240.12/32 proto tcp port 80 redirect 9001 route
	run -0 tcp_client "$NS_C" --connect 172.16.240.12:80
	assert_output --regexp "^local=172.16.240.12:80 peer=$C_IP:[0-9]+ listener=127.0.0.1:9001$"
	# the base's /24 rule was found near the new /32, rule by rule
	run -0 tcp_client "$NS_C" --connect 172.16.240.12:81
	assert_output --regexp "^local=172.16.240.12:81 peer=$C_IP:[0-9]+ listener=127.0.0.1:9001$"
	run -0 splicer_slow add 0.0.0.0/1 proto tcp port 7 drop
	run -0 splicer_slow del 172.16.240.12/32 proto tcp port 80
	run -0 splicer_slow save
	assert_line "add 0.0.0.0/1 proto tcp port 7 drop"
	refute_line --partial "add 172.16.240.12/32 proto tcp port 80 "
	assert_equal "${#lines[@]}" "$((n + 1))"
	run -0 tcp_client "$NS_C" --connect 172.16.240.10:80
	assert_output --regexp "listener=127.0.0.1:9001$"
}

# A TCP connection from the client to [$1]:$2: what the server said.
tcp6_answer() {
	timeout 10 ip netns exec "$NS_C" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.makefile().readline().strip())' "$1" "$2"
}

# An IPv6 server on [::1]:$1 (in the router) that answers every
# connection with the address the client asked for: "local=[ADDR]:PORT".
tcp6_server() {
	start_bg "$NS_R" "srv6-$1" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    a = c.getsockname()
    c.sendall(("local=[%s]:%d\n" % (a[0], a[1])).encode())
    c.close()' "$1"
	wait_for listening "$NS_R" tcp "$1"
}

@test "100,000 IPv6 rules: apply, and a redirect to [::1] and a drop still exact" {
	local n=${SPLICER_SCALE_RULES:-100000} a
	enable_ipv6
	# neighbours known both ways: the test is about the rules, not ND
	run -0 timeout 10 ip -n "$NS_C" -6 neigh replace "$R_IP6" \
		lladdr "$(mac_of "$NS_R" vr)" dev vc nud permanent
	for a in "$C_IP6" "$C_IP6_2"; do
		run -0 timeout 10 ip -n "$NS_R" -6 neigh replace "$a" \
			lladdr "$(mac_of "$NS_C" vc)" dev vr nud permanent
	done
	# the listener says which address the client asked for
	tcp6_server 9001
	attach_router
	local f="$BATS_TEST_TMPDIR/big6.rules"
	{
		echo "add $VIP6/128 proto tcp port 80 redirect 9001 route"
		echo "add fd00:172:16:240::11/128 proto tcp port 80 drop"
		echo "add fd00:172:16:240::/64 proto tcp port 81 redirect 9001 route"
		filler $((n - 3)) 43 6
	} >"$f"
	run -0 splicer_slow apply "$f"
	run -0 rule_count_slow
	assert_output "$n"

	run -0 tcp6_answer "$VIP6" 80
	assert_output "local=[$VIP6]:80"
	# a /64 rule: found by the trie walk, not the /128 table
	run -0 tcp6_answer fd00:172:16:240::12 81
	assert_output "local=[fd00:172:16:240::12]:81"
	run ! tcp6_answer fd00:172:16:240::11 80
	wait_counter vr ipv6.dropped.rule_drop.packets 1
	# one add at 100,000 rules (a delta over the base) takes effect
	run -0 splicer add fd00:172:16:240::13/128 proto tcp port 80 redirect 9001
	run -0 tcp6_answer fd00:172:16:240::13 80
	assert_output "local=[fd00:172:16:240::13]:80"
	run -0 iface_counter vr ipv6.redirected.packets
	[ "$output" -ge 3 ]
	run -0 rule_field "is_dst(\"$VIP6/128\")" packets
	[ "$output" -ge 1 ]
}

@test "a client cycling 8 source ports through a redirect whose server closes first never stalls" {
	tcp_server "$NS_R" web --port 9999 --bind 127.0.0.1 --tag
	attach_router
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9999 route
	local log="$BATS_TEST_TMPDIR/outcomes"
	# 300 connections over 8 4-tuples: from the 9th on, every SYN finds
	# the server's TIME_WAIT socket of an earlier connection
	run -0 timeout 200 ip netns exec "$NS_C" "$PY" "$PROBE" tcp-loop \
		--connect "$VIP:80" --src "$C_IP" --ports 40100-40107 --count 300 \
		--timeout 5 --max-seconds 180 --log "$log"
	assert_line --regexp '^ok=300 timeout=0 refused=0 error=0 retrans=[0-9]+$'
	assert_line "listener=127.0.0.1:9999 300"
	# no stall: a SYN the old tools handed to the TIME_WAIT socket was
	# answered only after the client retransmitted it, a second later
	local retrans
	retrans=$(sed -n 's/.* retrans=\([0-9]*\)$/\1/p' <<<"${lines[0]}")
	[ "$retrans" -le 10 ] || fail "$retrans retransmissions in 300 connections"
	wait_for "[ \"\$(grep -c '^accept ' '$BATS_TEST_TMPDIR/web.log')\" -eq 300 ]"
	# the router really held TIME_WAIT sockets of those 4-tuples
	run -0 in_r ss -Htan state time-wait
	assert_output --regexp "$VIP:80 +$C_IP:401(0[0-7])"
}

# kills_leave_old_or_new OLD NEW ARGS...: splicer ARGS killed before each
# of its system calls in turn, from rule set OLD (a sorted save); each
# time the set is OLD or NEW and port 80 of the VIP answers as it says.
kills_leave_old_or_new() {
	local old=$1 new=$2 trace="$BATS_TEST_TMPDIR/trace" sc n state
	shift 2
	# traced from where every kill below starts
	run -0 splicer_slow apply "$old"
	run -0 timeout 20 nsenter --net="/run/netns/$NS_R" -- strace -f -o "$trace" \
		-e trace=bpf,unlink,rename "$SPLICER" --pin-root "$PIN" "$@"
	[ "$(saved_sorted)" = "$(cat "$new")" ] || fail "$* did not make the new set"
	local points
	points=$(kill_points "$trace")
	[ "$(wc -l <<<"$points")" -ge 10 ] || fail "too few system calls: $points"
	while read -r sc n; do
		run -0 splicer_slow apply "$old"
		# (a run that tidies less than the traced one may end first)
		run killed_at "$sc" "$n" "$@"
		[ "$status" -eq 137 ] || [ "$status" -eq 0 ] ||
			fail "killed at $sc #$n: exit $status: $output"
		run -0 saved_sorted
		if [ "$output" = "$(cat "$old")" ]; then
			state=old
		elif [ "$output" = "$(cat "$new")" ]; then
			state=new
		else
			fail "killed at $sc #$n: neither set: $(diff <(echo "$output") "$new" | head)"
		fi
		if grep -qF "add $VNET proto tcp port 80 " "${!state}"; then
			answers_from 9001 || fail "killed at $sc #$n: $state set, port 80 does not answer"
		else
			run -2 tcp_client "$NS_C" --connect "$VIP:80" --timeout 1
		fi
		# from the old set, the same command again converges
		if [ "$state" = old ]; then
			run -0 splicer_slow "$@"
			[ "$(saved_sorted)" = "$(cat "$new")" ] ||
				fail "killed at $sc #$n: the rerun did not converge"
		fi
	done <<<"$points"
	echo "# $(wc -l <<<"$points") kills of: $*" >&3
}

@test "one add or one del killed with SIGKILL before any of its system calls leaves the old or the new rule set" {
	tcp_server "$NS_R" a --port 9001 --bind 127.0.0.1 --tag
	attach_router
	local without="$BATS_TEST_TMPDIR/without" with="$BATS_TEST_TMPDIR/with"
	{
		echo "add 172.16.241.0/24 proto tcp port 81 pass"
		filler 2000 23
	} >"$without"
	run -0 splicer_slow apply "$without"
	saved_sorted >"$without.sorted"
	run -0 splicer_slow add "$VNET" proto tcp port 80 redirect 9001 route
	saved_sorted >"$with.sorted"
	# a single insert, a delta over the base
	kills_leave_old_or_new "$without.sorted" "$with.sorted" \
		add "$VNET" proto tcp port 80 redirect 9001 route
	# and its delete
	kills_leave_old_or_new "$with.sorted" "$without.sorted" \
		del "$VNET" proto tcp port 80
}

@test "a long sequence of single changes around a live service: its flow never stops, its connections never go astray" {
	tcp_server "$NS_R" a --port 9001 --bind 127.0.0.1 --tag
	tcp_server "$NS_R" b --port 9002 --bind 127.0.0.1 --tag
	probe_server seq-server tcp "$NS_R" seq --port 9998 --bind 127.0.0.1
	attach_router
	filler 2000 24 >"$BATS_TEST_TMPDIR/filler"
	run -0 splicer_slow apply "$BATS_TEST_TMPDIR/filler"
	run -0 splicer add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 splicer add "$VNET" proto tcp port 81 redirect 9998 route
	local stop="$BATS_TEST_TMPDIR/stop"
	start_bg "$NS_C" stream "$PY" "$PROBE" seq-client --connect "$VIP:81" --until "$stop"
	wait_for seq_beyond 100 || fail "the stream does not flow: $(bg_log seq) $(bg_log stream)"
	# 300 changes, one process each: narrower and broader prefixes over
	# the service, its own port 82, the other port of its prefix
	local i net
	for i in $(seq 1 75); do
		net="172.16.$((i % 3 + 240)).$((i % 250 + 1))"
		run -0 splicer add "$net" proto tcp port 82 redirect 9002
		run -0 splicer add 172.16.0.0/12 proto tcp port 80-81 drop
		answers_from 9001 || fail "change $i: VIP:80 went astray"
		run -0 splicer del "$net" proto tcp port 82
		run -0 splicer del 172.16.0.0/12 proto tcp port 80-81
	done
	answers_from 9001
	touch "$stop"
	wait_for -t 10 "grep -q '^end ' '$BATS_TEST_TMPDIR/stream.log'" ||
		fail "the stream did not end: $(bg_log stream) / $(bg_log seq)"
	run -0 grep -c '^accept ' "$BATS_TEST_TMPDIR/seq.log"
	assert_output 1 # one connection from start to end
	run -0 grep -E '^(end|error)' "$BATS_TEST_TMPDIR/seq.log"
	assert_output --regexp '^end lines=[0-9]+ gaps=0$'
}

@test "an apply that moves to a fresh arena, killed before and after it takes the slot, leaves a working store" {
	tcp_server "$NS_R" a --port 9001 --bind 127.0.0.1 --tag
	attach_router
	local big="$BATS_TEST_TMPDIR/big" trace="$BATS_TEST_TMPDIR/trace"
	{
		echo "add $VNET proto tcp port 80 redirect 9001 route"
		filler 20000 25
	} >"$big"
	# where a whole build goes to a fresh arena: pinned as arena-next,
	# put in the slot, renamed to arena
	run -0 timeout 60 nsenter --net="/run/netns/$NS_R" -- strace -f -o "$trace" \
		-e trace=bpf,rename "$SPLICER" --pin-root "$PIN" apply "$big"
	local points
	points=$(awk '
		{ sub(/^[0-9]+ +/, ""); sc = $0; sub(/\(.*/, "", sc); n[sc]++ }
		sc == "bpf" && /BPF_OBJ_PIN.*arena-next/ { pinned = 1 }
		sc == "bpf" && pinned && /BPF_MAP_UPDATE_ELEM/ && !slot { print "bpf", n[sc], "slot"; slot = 1 }
		sc == "rename" && slot && !ren { print "rename", n[sc], "rename"; ren = 1 }
		' "$trace")
	[ "$(wc -l <<<"$points")" -eq 2 ] || fail "no fresh arena in the trace: $points"
	echo "# kills: $(tr "\n" " " <<<"$points")" >&3
	local sc n what
	while read -r sc n what; do
		run -0 splicer_slow apply - <<<"add 172.16.241.0/24 proto tcp port 81 pass"
		run -137 killed_at "$sc" "$n" apply "$big"
		# every writer and reader goes on: old or new set, then a change
		run -0 splicer add 172.16.242.0/24 proto tcp port 82 pass
		run -0 rule_count_slow
		[ "$output" -eq 2 ] || [ "$output" -eq 20002 ] || fail "killed at $what: $output rules"
		run -0 splicer_slow apply "$big"
		answers_from 9001 || fail "killed at $what: the rerun does not redirect"
		[ ! -e "$PIN/arena-next" ] || fail "killed at $what: arena-next left"
	done <<<"$points"
}
