# SPDX-License-Identifier: GPL-2.0-only
# Shared code for the splicer bats tests: `load helpers` from a test file.
#
# Every test gets its own pair of network namespaces and its own pin root:
#
#   NS_C (client)                      NS_R (router, splicer attached to vr)
#   vc 10.99.0.2/24, 10.99.0.3/24 ---- vr 10.99.0.1/24
#   routes 172.16.240.0/24, 10.88.0.0/24    xr 10.88.0.1/24 -- xp  (a second
#          via 10.99.0.1                    link inside NS_R: "another local
#                                           address" and "another interface")
#
# Interface names live only inside the test namespaces (veths are created
# there directly), so only namespace and pin names need to be unique.
# Nothing here touches the root namespace's interfaces.

bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
SPLICER="${SPLICER:-$REPO/splicer}"
PY=/usr/bin/python3
PROBE="$BATS_TEST_DIRNAME/lib/probe.py"

R_IP=10.99.0.1
C_IP=10.99.0.2
C_IP2=10.99.0.3
X_IP=10.88.0.1
VIP=172.16.240.10
VNET=172.16.240.0/24
SPLICER_RTPROTO=158

# IPv6 twins of the above, in place once a test calls enable_ipv6.
R_IP6=fd00:99::1
C_IP6=fd00:99::2
C_IP6_2=fd00:99::3
X_IP6=fd00:88::1
VIP6=fd00:172:16:240::10
VNET6=fd00:172:16:240::/64

# ------------------------------------------------------------- lifecycle

common_setup() {
	ID="$$-$BATS_TEST_NUMBER"
	NS_R="spl-r-$ID"
	NS_C="spl-c-$ID"
	PIN="/sys/fs/bpf/splicer-test-$ID"
	PIDFILE="$BATS_TEST_TMPDIR/bg.pids"
	: >"$PIDFILE"
	[ -x "$SPLICER" ] || fail "splicer binary not found at $SPLICER (run make)"
	make_topology
}

common_teardown() {
	stop_bg
	local ns
	for ns in "${NS_R:-}" "${NS_C:-}"; do
		[ -n "$ns" ] || continue
		timeout 10 ip netns del "$ns" 2>/dev/null || true
	done
	# the test's pin root, and any "$PIN-something" a test made beside it
	if [ -n "${PIN:-}" ] && [[ $PIN == /sys/fs/bpf/splicer-test-* ]]; then
		timeout 10 rm -rf "$PIN" "$PIN"-* 2>/dev/null || true
	fi
}

# Run a command inside a test namespace, bounded.
in_ns() {
	local ns=$1
	shift
	timeout 10 ip netns exec "$ns" "$@"
}
in_r() { in_ns "$NS_R" "$@"; }
in_c() { in_ns "$NS_C" "$@"; }

make_topology() {
	local ns
	for ns in "$NS_R" "$NS_C"; do
		timeout 10 ip netns add "$ns"
		in_ns "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 \
			net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
	done
	timeout 10 ip -n "$NS_R" -batch - <<-EOF
		link set lo up
		link add xr type veth peer name xp
		addr add $X_IP/24 dev xr
		link set xr up
		link set xp up
	EOF
	timeout 10 ip -n "$NS_C" link set lo up
	make_vr_vc
}

# The veth pair between the namespaces, with its addresses and the
# client's routes (also to make it again after a test deleted it).
make_vr_vc() {
	timeout 10 ip link add vr netns "$NS_R" type veth peer name vc netns "$NS_C"
	timeout 10 ip -n "$NS_R" -batch - <<-EOF
		addr add $R_IP/24 dev vr
		link set vr up
	EOF
	timeout 10 ip -n "$NS_C" -batch - <<-EOF
		addr add $C_IP/24 dev vc
		addr add $C_IP2/24 dev vc
		link set vc up
		route add $VNET via $R_IP
		route add 10.88.0.0/24 via $R_IP
	EOF
	wait_for link_up "$NS_R" vr
	wait_for link_up "$NS_C" vc
}

# IPv6 on both namespaces (make_topology turns it off): the addresses
# above, without duplicate address detection, and the client's routes.
# The client is made quiet first: no router solicitations, and its
# multicast listener reports all sent at once, as IPv6 comes up, rather
# than repeated over the next seconds, so that they never land among the
# counters a test is reading (a host drops both, and counts them).
enable_ipv6() {
	local ns
	in_c sysctl -q -w net.ipv6.conf.vc.accept_dad=0 \
		net.ipv6.conf.vc.dad_transmits=0 \
		net.ipv6.conf.vc.router_solicitations=0 \
		net.ipv6.conf.vc.mldv1_unsolicited_report_interval=0 \
		net.ipv6.conf.vc.mldv2_unsolicited_report_interval=0
	in_r sysctl -q -w net.ipv6.conf.vr.accept_dad=0 \
		net.ipv6.conf.vr.dad_transmits=0 net.ipv6.conf.xr.accept_dad=0
	for ns in "$NS_R" "$NS_C"; do
		in_ns "$ns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.disable_ipv6=0 \
			net.ipv6.conf.default.disable_ipv6=0
	done
	timeout 10 ip -n "$NS_R" -batch - <<-EOF
		addr add $R_IP6/64 dev vr nodad
		addr add $X_IP6/64 dev xr nodad
	EOF
	timeout 10 ip -n "$NS_C" -batch - <<-EOF
		addr add $C_IP6/64 dev vc nodad
		addr add $C_IP6_2/64 dev vc nodad preferred_lft 0
		route add $VNET6 via $R_IP6
		route add fd00:88::/64 via $R_IP6
	EOF
	wait_for link_local "$NS_R" vr
	wait_for link_local "$NS_C" vc
}

# Has the interface its link-local address, usable (not tentative)?
link_local() {
	timeout 10 ip -n "$1" -6 -o addr show dev "$2" scope link |
		grep -v tentative | grep -q fe80
}

link_up() {
	timeout 10 ip -n "$1" -o link show dev "$2" | grep -q 'state UP'
}

# splicer runs in the router's network namespace but in the root mount
# namespace, where bpffs and the pin root live (ip netns exec would remount
# /sys and hide the pins).
splicer() {
	timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" "$@"
}

# start_watch ARGS...: splicer watch in the router namespace, as splicer()
# runs commands, logging to watch.log; returns once it logged that it is
# watching. WATCH_PID is the process to signal: timeout passes TERM, INT
# and HUP on and exits with the watcher's status (--foreground: without
# it, timeout ignores every signal after the first it passed on).
start_watch() {
	timeout --foreground 120 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" watch "$@" \
		>"$BATS_TEST_TMPDIR/watch.log" 2>&1 3>&- &
	WATCH_PID=$!
	echo "$WATCH_PID" >>"$PIDFILE"
	wait_for watch_logged '^<6>watching' ||
		fail "splicer watch did not start: $(watch_log)"
}
watch_log() { cat "$BATS_TEST_TMPDIR/watch.log"; }
# watch_logged REGEX [N]: the watcher's log has at least N (1) such lines
watch_logged() {
	[ "$(grep -cE -- "$1" "$BATS_TEST_TMPDIR/watch.log")" -ge "${2:-1}" ]
}

# The same without CAP_BPF / CAP_NET_ADMIN / anything else.
splicer_unprivileged() {
	timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		setpriv --reuid=0 --regid=0 --clear-groups --inh-caps=-all \
		--bounding-set=-all -- "$SPLICER" --pin-root "$PIN" "$@"
}

attach_router() {
	run -0 splicer attach vr
}

# ------------------------------------------------------------ polling

# wait_for [-t SECONDS] COMMAND...   (a single argument is eval'ed)
# Polls every 50 ms; fails after SECONDS (default 5).
wait_for() {
	local secs=5
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	local tries=$((secs * 20))
	while true; do
		if [ $# -eq 1 ]; then
			eval "$1" && return 0
		else
			"$@" && return 0
		fi
		if ((--tries <= 0)); then
			echo "wait_for: timed out after ${secs}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# ------------------------------------------------- background processes

# start_bg NS NAME COMMAND...: runs COMMAND in NS (bounded to 120 s), logs
# to $BATS_TEST_TMPDIR/NAME.log and remembers the pid for teardown.
start_bg() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" timeout 120 "$@" \
		>"$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- &
	echo "$!" >>"$PIDFILE"
}

bg_log() { cat "$BATS_TEST_TMPDIR/$1.log"; }

stop_bg() {
	[ -s "${PIDFILE:-}" ] || return 0
	local pid tries
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done <"$PIDFILE"
	while read -r pid; do
		tries=40
		while ((tries-- > 0)); do
			case "$(ps -o stat= -p "$pid" 2>/dev/null)" in
			"" | Z*) break ;;
			esac
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done <"$PIDFILE"
	: >"$PIDFILE"
}

# listening NS tcp|udp PORT...: every port has a listening socket in NS.
listening() {
	local ns=$1 proto=$2 flag port
	shift 2
	case $proto in
	tcp) flag=-Hltn ;;
	udp) flag=-Hlun ;;
	esac
	for port in "$@"; do
		[ -n "$(timeout 5 ip netns exec "$ns" ss $flag "sport = :$port")" ] ||
			return 1
	done
}

# probe_server KIND PROTO NS NAME [probe args]: start probe.py KIND in NS
# and wait until every --port is listening.
probe_server() {
	local kind=$1 proto=$2 ns=$3 name=$4
	shift 4
	start_bg "$ns" "$name" "$PY" "$PROBE" "$kind" "$@"
	wait_for listening "$ns" "$proto" $(ports_of "$@") ||
		fail "$kind $name did not start: $(bg_log "$name")"
}

tcp_server() { probe_server tcp-server tcp "$@"; }
udp_server() { probe_server udp-server udp "$@"; }
udp_tproxy_server() { probe_server udp-tproxy-server udp "$@"; }

ports_of() {
	while [ $# -gt 0 ]; do
		[ "$1" = --port ] && echo "$2"
		shift
	done
}

# Clients: exit 0 answer, 2 timeout (silent drop), 3 refused/reset.
tcp_client() {
	local ns=$1
	shift
	timeout 15 ip netns exec "$ns" "$PY" "$PROBE" tcp-client "$@"
}
udp_client() {
	local ns=$1
	shift
	timeout 15 ip netns exec "$ns" "$PY" "$PROBE" udp-client "$@"
}

# ----------------------------------------------------------- counters

stats_json() { splicer -j stats; }
list_json() { splicer -j list; }

# iface_counter IFACE PATH, e.g. iface_counter vr dropped.no_rule.packets
iface_counter() {
	local js
	js=$(splicer -j stats) || return 1
	jq -r --arg n "$1" "[.interfaces[] | select(.name == \$n)] |
		if length == 1 then .[0].$2 else error(\"\(length) interfaces named \(\$n)\") end" <<<"$js"
}

# rule_field JQ-SELECT FILTER: FILTER (a field name, or any jq filter
# starting with "." or a string) of the one rule that JQ-SELECT picks, e.g.
#   rule_field 'is_dst("10.99.0.1/32")' packets
# is_dst accepts a /32 shown with or without its length.
JQ_DEFS='def is_dst($p): .dst == $p or (.dst + "/32") == $p;'
rule_field() {
	local js filter=$2
	case $filter in
	.* | \"*) ;;
	*) filter=".$filter" ;;
	esac
	js=$(splicer -j list) || return 1
	jq -r "$JQ_DEFS [.rules[] | select($1)] | if length == 1 then .[0] | ($filter) else error(\"\(length) rules match\") end" <<<"$js"
}

# json_true JSON FILTER: FILTER applied to JSON yields exactly `true`
# (jq -e alone passes on empty input).
json_true() {
	local out
	if [ -z "$1" ]; then
		echo "json_true: empty input for $2" >&2
		return 1
	fi
	out=$(jq -c "$JQ_DEFS $2" <<<"$1") || return 1
	if [ "$out" != true ]; then
		echo "json_true: $2 gave: $out" >&2
		return 1
	fi
}

rule_count() {
	local js
	js=$(splicer -j list) || return 1
	jq -er '.rules | length' <<<"$js"
}

# counter_at_least CMD... TARGET: true when the number CMD prints >= TARGET
counter_at_least() {
	local want=$1 got
	shift
	got=$("$@") || return 1
	[ "$got" -ge "$want" ]
}

# -------------------------------------------------------------- errors

# After `run --separate-stderr -N ...`: exactly one stderr line, starting
# with "Error: " and containing the given text.
assert_error() {
	local want=$1
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		fail "expected exactly one line on stderr, got ${#stderr_lines[@]}: $stderr"
	fi
	case "${stderr_lines[0]}" in
	"Error: "*) ;;
	*) fail "stderr does not start with 'Error: ': $stderr" ;;
	esac
	case "${stderr_lines[0]}" in
	*"$want"*) ;;
	*) fail "stderr lacks '$want': $stderr" ;;
	esac
}

# Everything bad input must leave alone: rules, local routes, qdiscs and
# filters of the router namespace.
state_snapshot() {
	local js
	js=$(splicer -j list) || { echo "state_snapshot: list failed" >&2; return 1; }
	[ -n "$js" ] || { echo "state_snapshot: list printed nothing" >&2; return 1; }
	echo "== list"
	jq -S . <<<"$js" || return 1
	js=$(splicer -j stats) || { echo "state_snapshot: stats failed" >&2; return 1; }
	echo "== interfaces"
	jq -c '[.interfaces[] | {name, ifindex, attached, addresses}]' <<<"$js" || return 1
	echo "== routes"
	timeout 10 ip -n "$NS_R" route show table local || return 1
	echo "== qdiscs"
	timeout 10 tc -n "$NS_R" qdisc show || return 1
	echo "== filters"
	local dev
	for dev in vr xr lo; do
		timeout 10 tc -n "$NS_R" filter show dev "$dev" ingress || return 1
	done
}

splicer_routes() {
	timeout 10 ip -n "$NS_R" route show table local proto "$SPLICER_RTPROTO"
}

mac_of() {
	timeout 10 ip -n "$1" -j link show dev "$2" | jq -r '.[0].address'
}

# wait_counter IFACE PATH N: wait until the interface counter reaches N
# (counting is asynchronous to the sender: the peer's backlog runs later).
wait_counter() {
	wait_for counter_at_least "$3" iface_counter "$1" "$2" ||
		fail "counter $1 $2 did not reach $3 (is $(iface_counter "$1" "$2"))"
}

# wait_rule_counter JQ-SELECT FIELD N
wait_rule_counter() {
	wait_for counter_at_least "$3" rule_field "$1" "$2" ||
		fail "rule ($1) $2 did not reach $3 (is $(rule_field "$1" "$2"))"
}

# kill_points TRACE: "SYSCALL N" for every bpf, unlink and rename call of
# a traced writer (strace counts each system call on its own)
kill_points() {
	awk '{ sub(/^[0-9]+ +/, ""); sc = $0; sub(/\(.*/, "", sc);
		if (sc == "bpf" || sc == "unlink" || sc == "rename") print sc, ++n[sc] }' "$1"
}

# killed_at SYSCALL N ARGS...: splicer ARGS, SIGKILLed as it enters its
# N-th call of SYSCALL (strace fault injection: the call is not made)
killed_at() {
	local sc=$1 n=$2
	shift 2
	timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		strace -f -o /dev/null -e trace="$sc" \
		-e inject="$sc:signal=KILL:when=$n" "$SPLICER" --pin-root "$PIN" "$@"
}

# The seq-server's count of lines received, by hundreds.
seq_at() {
	grep '^at ' "$BATS_TEST_TMPDIR/seq.log" | tail -n 1 | cut -d' ' -f2
}
seq_beyond() {
	local at
	at=$(seq_at)
	[ -n "$at" ] && [ "$at" -ge "$1" ]
}
