#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# splicer demo (run as root, e.g. `sudo make demo` after `make all`).
#
#   client ns (10.99.0.2, fd00:99::2) --veth-- router ns (10.99.0.1,
#   fd00:99::1, splicer on "vr")
#
# A web server listens on 127.0.0.1:9999 and [::1]:9999 in the router
# namespace; splicer steers the client's connections to 172.16.240.10:80
# and [fd00:172:16:240::10]:80 to it, while a port with no rule stays
# closed. Everything is removed on exit.
set -u

cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
SPLICER="${SPLICER:-$PWD/splicer}"
PROBE="$PWD/tests/lib/probe.py"
PY=/usr/bin/python3

NS_R="splicer-demo-r-$$"
NS_C="splicer-demo-c-$$"
PIN="/sys/fs/bpf/splicer-demo-$$"
PIDS=()

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() {
	printf '$ %s\n' "$*"
	"$@"
}
die() {
	echo "demo: $*" >&2
	exit 1
}

cleanup() {
	set +e
	step "cleaning up"
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ -d "$PIN" ]; then
		timeout 10 nsenter --net="/run/netns/$NS_R" -- \
			"$SPLICER" --pin-root "$PIN" detach vr --purge 2>/dev/null
	fi
	timeout 10 ip netns del "$NS_R" 2>/dev/null
	timeout 10 ip netns del "$NS_C" 2>/dev/null
	rm -rf "$PIN"
	echo "removed namespaces $NS_R, $NS_C and pin root $PIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "needs root"
[ -x "$SPLICER" ] || die "$SPLICER not built (run make)"

# splicer runs in the router's network namespace, but in the root mount
# namespace where bpffs and its pins are.
splicer() {
	printf '$ splicer %s\n' "$*"
	timeout 10 nsenter --net="/run/netns/$NS_R" -- \
		"$SPLICER" --pin-root "$PIN" "$@"
}
in_r() { timeout 10 ip netns exec "$NS_R" "$@"; }
in_c() { timeout 10 ip netns exec "$NS_C" "$@"; }

wait_listening() { # NS PORT [SOCKETS]
	local i
	for i in $(seq 100); do
		[ "$(timeout 5 ip netns exec "$1" ss -Hltn "sport = :$2" | wc -l)" -ge "${3:-1}" ] &&
			return 0
		sleep 0.05
	done
	return 1
}

step "creating namespaces: router $NS_R and client $NS_C, joined by a veth"
timeout 10 ip netns add "$NS_R" || die "ip netns add failed"
timeout 10 ip netns add "$NS_C" || die "ip netns add failed"
for ns in "$NS_R" "$NS_C"; do
	timeout 10 ip netns exec "$ns" sysctl -q -w \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	timeout 10 ip -n "$ns" link set lo up
done
timeout 10 ip link add vr netns "$NS_R" type veth peer name vc netns "$NS_C" ||
	die "creating the veth failed"
timeout 10 ip -n "$NS_R" addr add 10.99.0.1/24 dev vr
timeout 10 ip -n "$NS_R" addr add fd00:99::1/64 dev vr nodad
timeout 10 ip -n "$NS_C" addr add 10.99.0.2/24 dev vc
timeout 10 ip -n "$NS_C" addr add fd00:99::2/64 dev vc nodad
timeout 10 ip -n "$NS_R" link set vr up
timeout 10 ip -n "$NS_C" link set vc up
timeout 10 ip -n "$NS_C" route add 172.16.240.0/24 via 10.99.0.1
timeout 10 ip -n "$NS_C" route add fd00:172:16:240::/64 via fd00:99::1
echo "router: vr 10.99.0.1/24 fd00:99::1/64"
echo "client: vc 10.99.0.2/24 fd00:99::2/64, 172.16.240.0/24 via 10.99.0.1,"
echo "        fd00:172:16:240::/64 via fd00:99::1"

step "attaching splicer to the router's vr (default deny from now on)"
splicer attach vr || die "attach failed"
show tc -n "$NS_R" filter show dev vr ingress

step "starting a web server on 127.0.0.1:9999 and [::1]:9999 in the router namespace"
for addr in 127.0.0.1 ::1; do
	ip netns exec "$NS_R" timeout 300 "$PY" "$PROBE" tcp-server --bind $addr \
		--port 9999 --http >/dev/null 2>&1 &
	PIDS+=($!)
done
wait_listening "$NS_R" 9999 2 || die "the web servers did not start"
in_r ss -Hltn "sport = :9999"

step "redirecting tcp port 80 of 172.16.240.0/24 and fd00:172:16:240::/64 to it, with local routes"
splicer add 172.16.240.0/24 proto tcp port 80 redirect 9999 route || die "add failed"
splicer add fd00:172:16:240::/64 proto tcp port 80 redirect 9999 route || die "add failed"
show ip -n "$NS_R" route show table local proto 158
show ip -n "$NS_R" -6 route show table local proto 158

step "the client fetches http://172.16.240.10/ (no such host exists)"
printf '$ curl http://172.16.240.10/\n'
if ! answer=$(in_c curl -sS --max-time 5 http://172.16.240.10/); then
	die "the redirected fetch failed"
fi
echo "$answer"
case $answer in
local=172.16.240.10:80\ *) echo "-> the server on 127.0.0.1:9999 saw the original destination 172.16.240.10:80 as its local address" ;;
*) die "unexpected answer: $answer" ;;
esac

step "the same over IPv6: http://[fd00:172:16:240::10]/ (neighbour discovery passes)"
printf '$ curl -g http://[fd00:172:16:240::10]/\n'
if ! answer=$(in_c curl -sS -g --max-time 5 "http://[fd00:172:16:240::10]/"); then
	die "the redirected IPv6 fetch failed"
fi
echo "$answer"
case $answer in
"local=[fd00:172:16:240::10]:80 "*) echo "-> the server on [::1]:9999 saw the original destination [fd00:172:16:240::10]:80" ;;
*) die "unexpected answer: $answer" ;;
esac

step "a port with no rule is dropped, even with a server listening on it"
ip netns exec "$NS_R" timeout 300 "$PY" "$PROBE" tcp-server --bind 10.99.0.1 \
	--port 8080 >/dev/null 2>&1 &
PIDS+=($!)
wait_listening "$NS_R" 8080 || die "the second server did not start"
printf '$ tcp connect 10.99.0.1:8080 (2 s timeout)\n'
in_c "$PY" "$PROBE" tcp-client --connect 10.99.0.1:8080 --timeout 2
rc=$?
case $rc in
2) echo "-> no answer at all: the SYN was dropped" ;;
*) die "expected the connection to time out, client exited $rc" ;;
esac

step "splicer list"
splicer list
step "splicer stats"
splicer stats
echo
echo "demo: OK"
