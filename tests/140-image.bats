#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The minimal image: 'make rootfs' builds the tree the Containerfile
# copies, and splicer runs inside that tree alone (chroot in a private
# mount namespace, with only /sys bind-mounted for bpffs), in the test's
# router namespace: no shell, no tc, no ip in there.

load helpers

setup() {
	common_setup
	ROOTFS="$BATS_TEST_TMPDIR/rootfs"
	timeout 600 make -s -C "$REPO" rootfs ROOTFS="$ROOTFS" \
		>"$BATS_TEST_TMPDIR/make.log" 2>&1 ||
		fail "make rootfs: $(cat "$BATS_TEST_TMPDIR/make.log")"
}
teardown() { common_teardown; }

# The command line of splicer inside the tree: /sys (and bpffs under it)
# is bind-mounted in a mount namespace of its own, which goes away with
# the process. The sh here runs outside, before chroot: in the tree only
# /usr/sbin/splicer runs.
in_rootfs() {
	timeout 20 nsenter --net="/run/netns/$NS_R" -- \
		unshare --mount --propagation private -- \
		sh -c 'mount --rbind /sys "$0/sys" && exec chroot "$0" "$@"' \
		"$ROOTFS" /usr/sbin/splicer --pin-root "$PIN" "$@"
}

@test "the tree holds splicer and exactly the shared objects ldd lists, and nothing to run besides" {
	local want
	want=$( (echo /usr/sbin/splicer; ldd "$REPO/splicer" | grep -o '/[^ ]*') | sort)
	run -0 bash -c "cd '$ROOTFS' && find . -type f -o -type l | sed 's/^\.//' | sort"
	assert_output "$want"
	# what a shell-less image still has to have: the loader, libc, libmnl
	assert_output --regexp 'ld-linux'
	assert_output --partial 'libc.so.6'
	assert_output --partial 'libmnl.so.0'
	run -0 find "$ROOTFS" -type d -empty
	assert_output - <<-EOF
		$ROOTFS/etc/splicer
		$ROOTFS/proc
		$ROOTFS/sys
	EOF
	# there is nothing else to run in it
	run -127 timeout 10 chroot "$ROOTFS" /bin/sh -c true
	# the Containerfile copies exactly what make rootfs builds by default
	run -0 grep -E '^(FROM|COPY|ENTRYPOINT|CMD) ' "$REPO/Containerfile"
	assert_output - <<-'EOF'
		FROM scratch
		COPY build/rootfs/ /
		ENTRYPOINT ["/usr/sbin/splicer"]
		CMD ["watch"]
	EOF
	run -0 make -s -n -C "$REPO" rootfs
	assert_output --partial "build/rootfs/usr/sbin/splicer"
}

@test "attach, add, list, stats and detach run inside the tree alone, and a redirect carries traffic" {
	run -0 --separate-stderr in_rootfs attach vr
	assert_output "attached to vr (ifindex $(timeout 10 ip -n "$NS_R" -j link show dev vr | jq -r '.[0].ifindex'))"
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_output --regexp "pref 1 .*handle 0x5c1"
	run -0 --separate-stderr in_rootfs add "$VNET" proto tcp port 80 redirect 9001 route
	run -0 --separate-stderr in_rootfs -j list
	json_true "$output" '.rules | length == 1 and .[0].to == "127.0.0.1:9001" and .[0].route'
	run -0 splicer_routes
	assert_output --partial "local $VNET dev lo"

	tcp_server "$NS_R" proxy --bind 127.0.0.1 --tag --port 9001
	tcp_server "$NS_R" host --port 8080
	run -0 tcp_client "$NS_C" --connect "$VIP:80"
	assert_output --regexp "listener=127.0.0.1:9001$"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -0 --separate-stderr in_rootfs -j stats
	json_true "$output" '.interfaces[0].name == "vr" and .interfaces[0].redirected.packets >= 1 and .interfaces[0].dropped.no_rule.packets >= 1'
	run -0 --separate-stderr in_rootfs stats
	assert_output --partial "vr (ifindex"

	run -0 --separate-stderr in_rootfs detach vr --purge
	assert_output "detached from vr, state purged"
	[ ! -e "$PIN" ]
	run -0 tc -n "$NS_R" qdisc show dev vr
	refute_output --partial clsact
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
}

@test "the image's default command, watch, applies a mounted configuration and follows addresses" {
	local conf="$BATS_TEST_TMPDIR/splicer.conf"
	printf 'attach vr\nadd %s proto tcp port 8080 pass\n' "$R_IP" >"$conf"
	tcp_server "$NS_R" host --port 22 --port 8080
	# the configuration bind-mounted where the image expects it, as -v does
	timeout --foreground 120 nsenter --net="/run/netns/$NS_R" -- \
		unshare --mount --propagation private -- sh -c \
		'mount --rbind /sys "$0/sys" && mount --bind "$1" "$0/etc/splicer" &&
		 exec chroot "$0" /usr/sbin/splicer --pin-root "$2" watch' \
		"$ROOTFS" "$BATS_TEST_TMPDIR" "$PIN" \
		>"$BATS_TEST_TMPDIR/watch.log" 2>&1 3>&- &
	WATCH_PID=$!
	echo "$WATCH_PID" >>"$PIDFILE"
	wait_for watch_logged '^<6>watching vr; configuration /etc/splicer/splicer.conf' ||
		fail "$(watch_log)"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	timeout 10 ip -n "$NS_R" addr add 10.99.0.5/24 dev vr
	wait_for watch_logged '^<6>vr: 10.99.0.5/24 added; SSH allowed to 10.99.0.1 10.99.0.5' ||
		fail "$(watch_log)"
	run -0 tcp_client "$NS_C" --connect "10.99.0.5:22"
	kill -TERM "$WATCH_PID"
	local rc=0
	wait "$WATCH_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(watch_log)"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
}

@test "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN are all splicer needs; without CAP_PERFMON it says so" {
	limited() {
		local caps=$1
		shift
		timeout 20 nsenter --net="/run/netns/$NS_R" -- \
			setpriv --bounding-set="-all,$caps" -- \
			"$SPLICER" --pin-root "$PIN" "$@"
	}
	run -2 --separate-stderr limited +bpf,+net_admin attach vr
	assert_error "permission denied: splicer needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
	[ ! -e "$PIN" ]
	local caps=+bpf,+perfmon,+net_admin
	run -0 limited "$caps" attach vr
	run -0 limited "$caps" add "$R_IP" proto tcp port 8080 pass
	run -0 limited "$caps" list
	run -0 limited "$caps" stats
	run -0 limited "$caps" detach vr --purge
	[ ! -e "$PIN" ]
}
