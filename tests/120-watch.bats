#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# splicer watch: the SSH allowance follows address changes, a re-created
# interface gets its policy back, signals, and its bad arguments. Every
# claim is checked with traffic through the kernel, not with list alone.

load helpers

setup() {
	common_setup
	CONF="$BATS_TEST_TMPDIR/splicer.conf"
	# deleting vr's primary address must keep the other one on vr
	in_r sysctl -q -w net.ipv4.conf.all.promote_secondaries=1 \
		net.ipv4.conf.vr.promote_secondaries=1
}
teardown() { common_teardown; }

NEW_IP=10.99.0.5

addresses_of() {
	local js
	js=$(splicer -j stats) || return 1
	jq -c --arg n "$1" '[.interfaces[] | select(.name == $n) | .addresses[]] | sort' <<<"$js"
}

ifindex_of() {
	timeout 10 ip -n "$NS_R" -j link show dev "$1" | jq -r '.[0].ifindex'
}

# ssh_passes ADDR / ssh_dropped ADDR: a connection to ADDR:22 from the
# client is answered / silently dropped (the listener is there either way)
ssh_passes() {
	run -0 tcp_client "$NS_C" --connect "$1:22"
	assert_output --regexp "^local=$1:22 "
}
ssh_dropped() {
	run -2 tcp_client "$NS_C" --connect "$1:22" --timeout 1
}

@test "watch applies the file; SSH follows a moved address within about a second and the old one stops passing" {
	printf 'attach vr\n' >"$CONF"
	tcp_server "$NS_R" ssh --port 22
	start_watch --config "$CONF"
	run -0 watch_log
	assert_output --partial "<6>$CONF: applied (0 rules, 1 interface)"
	ssh_passes "$R_IP"

	# The old address stays local to the host (on xr): only splicer's
	# per-interface allowance can keep SSH to it from passing on vr.
	local t0 t1
	t0=$(date +%s%N)
	timeout 10 ip -n "$NS_R" addr add "$NEW_IP/24" dev vr
	timeout 10 ip -n "$NS_R" addr del "$R_IP/24" dev vr
	timeout 10 ip -n "$NS_R" addr add "$R_IP/32" dev xr
	wait_for -t 3 "[ \"\$(addresses_of vr)\" = '[\"$NEW_IP\"]' ]" ||
		fail "allowance is $(addresses_of vr); log: $(watch_log)"
	t1=$(date +%s%N)
	echo "# SSH allowance followed the address in $(((t1 - t0) / 1000000)) ms (3 changes, polled)" >&3

	ssh_passes "$NEW_IP"
	local drops
	drops=$(iface_counter vr dropped.no_rule.packets)
	ssh_dropped "$R_IP"
	wait_counter vr dropped.no_rule.packets $((drops + 1))
	run -0 watch_log
	assert_output --partial "<6>vr: $NEW_IP/24 added; SSH allowed to $R_IP $NEW_IP"
	assert_output --partial "<6>vr: $R_IP/24 removed; SSH allowed to $NEW_IP"
	# nothing was logged for xr, which is not attached
	refute_output --partial "xr"

	# and back
	timeout 10 ip -n "$NS_R" addr del "$R_IP/32" dev xr
	timeout 10 ip -n "$NS_R" addr add "$R_IP/24" dev vr
	wait_for -t 3 "[ \"\$(addresses_of vr)\" = '[\"$R_IP\",\"$NEW_IP\"]' ]" ||
		fail "allowance is $(addresses_of vr)"
	ssh_passes "$R_IP"
}

@test "the addresses of an interface attached by hand are followed too" {
	: >"$CONF"
	tcp_server "$NS_R" ssh --port 22
	run -0 splicer attach vr
	start_watch --config "$CONF"
	timeout 10 ip -n "$NS_R" addr add "$NEW_IP/24" dev vr
	wait_for -t 3 "[ \"\$(addresses_of vr)\" = '[\"$R_IP\",\"$NEW_IP\"]' ]" ||
		fail "allowance is $(addresses_of vr)"
	ssh_passes "$NEW_IP"
}

# has_addr IFACE ADDR: ADDR is in IFACE's SSH allowance
has_addr() {
	local js
	js=$(splicer -j stats) || return 1
	jq -e --arg n "$1" --arg a "$2" \
		'[.interfaces[] | select(.name == $n) | .addresses[]] | index($a) != null' \
		<<<"$js" >/dev/null
}

# tentative ADDR: vr's ADDR is still in duplicate address detection
tentative() {
	timeout 10 ip -n "$NS_R" -6 -o addr show dev vr | grep -F " $1/" | grep -q tentative
}

@test "IPv6: the allowance follows address add, DAD, deprecation, removal and expiry" {
	enable_ipv6
	printf 'attach vr\n' >"$CONF"
	start_watch --config "$CONF"
	# link-local and the global address from the start
	wait_for has_addr vr "$R_IP6" || fail "allowance: $(addresses_of vr)"
	local ll
	ll=$(timeout 10 ip -n "$NS_R" -6 -o addr show dev vr scope link |
		awk '{ sub("/.*", "", $4); print $4 }')
	has_addr vr "$ll"
	has_addr vr "$R_IP"

	# a manual address, as a DHCPv6 client adds one
	timeout 10 ip -n "$NS_R" addr add fd00:99::5/64 dev vr nodad
	wait_for -t 3 has_addr vr fd00:99::5 || fail "not added: $(watch_log)"
	wait_for watch_logged "vr: fd00:99::5/64 added; SSH allowed to .*fd00:99::5"

	# an address in DAD is not the host's yet; it is once DAD is done
	in_r sysctl -q -w net.ipv6.conf.vr.accept_dad=1 net.ipv6.conf.vr.dad_transmits=2
	timeout 10 ip -n "$NS_R" addr add fd00:99::6/64 dev vr
	tentative fd00:99::6 || fail "fd00:99::6 is not tentative"
	# (allowed, and still tentative after that look: DAD only ends, so
	# it was tentative when allowed; the other order races DAD's end)
	while tentative fd00:99::6; do
		if has_addr vr fd00:99::6 && tentative fd00:99::6; then
			fail "a tentative address is allowed"
		fi
		sleep 0.1
	done
	wait_for -t 3 has_addr vr fd00:99::6 || fail "not added after DAD: $(watch_log)"

	# deprecated (preferred lifetime 0): still the host's
	timeout 10 ip -n "$NS_R" addr change fd00:99::5/64 dev vr preferred_lft 0
	wait_for "timeout 10 ip -n $NS_R -6 addr show dev vr | grep -A1 fd00:99::5 | grep -q deprecated"
	sleep 0.5
	has_addr vr fd00:99::5

	# removal
	timeout 10 ip -n "$NS_R" addr del fd00:99::5/64 dev vr
	wait_for -t 3 "! has_addr vr fd00:99::5" || fail "not removed: $(watch_log)"
	wait_for watch_logged "vr: fd00:99::5/64 removed; SSH allowed to"

	# expiry of the valid lifetime, as a SLAAC address that is not renewed
	timeout 10 ip -n "$NS_R" addr add fd00:99::7/64 dev vr nodad valid_lft 2 preferred_lft 1
	wait_for -t 3 has_addr vr fd00:99::7
	wait_for -t 6 "! has_addr vr fd00:99::7" || fail "not expired: $(addresses_of vr)"
	has_addr vr "$R_IP6"
	has_addr vr fd00:99::6
	run -0 addresses_of vr
	refute_output --partial "fd00:99::5"
}

@test "a deleted and re-created interface is attached again: its rules, dev rules too, and SSH work again" {
	cat >"$CONF" <<-EOF
		attach vr icmp-echo on
		add $R_IP proto tcp port 8080 pass dev vr
		add $R_IP proto tcp port 8081 pass
	EOF
	tcp_server "$NS_R" srv --port 22 --port 8080 --port 8081 --port 8082
	start_watch --config "$CONF"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8082" --timeout 1
	local old new
	old=$(ifindex_of vr)

	timeout 10 ip -n "$NS_R" link del vr
	wait_for watch_logged "^<4>vr: gone \\(ifindex $old\\)" ||
		fail "no gone line: $(watch_log)"
	# while vr is gone, its rule waits under the old index
	run -0 rule_field '.port_low == 8080' dev
	assert_output "if$old"

	make_vr_vc
	new=$(ifindex_of vr)
	[ "$new" != "$old" ]
	wait_for watch_logged "^<5>vr: attached \\(ifindex $new, icmp-echo on\\); 1 rule scoped to it moved from ifindex $old" ||
		fail "no attach line: $(watch_log)"
	wait_for -t 3 "[ \"\$(addresses_of vr)\" = '[\"$R_IP\"]' ]" ||
		fail "allowance is $(addresses_of vr)"
	run -0 splicer -j stats
	json_true "$output" ".interfaces[] | select(.name == \"vr\") | .ifindex == $new and .attached and .icmp_echo"

	# the policy is back, decided by the new filter
	ssh_passes "$R_IP"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	wait_rule_counter '.port_low == 8080' packets 1
	run -0 rule_field '.port_low == 8080' dev
	assert_output vr
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8082" --timeout 1
	wait_counter vr dropped.no_rule.packets 1
	run -0 timeout 5 ip netns exec "$NS_C" ping -c 1 -W 2 "$R_IP"

	# the file applied again finds its rules as they are now
	local ids
	ids=$(splicer -j list | jq -c '[.rules[].id] | sort')
	run -0 splicer apply "$CONF"
	assert_equal "$(splicer -j list | jq -c '[.rules[].id] | sort')" "$ids"
}

@test "a configured interface that does not exist yet is attached when it appears" {
	printf 'attach vr\nattach late0\n' >"$CONF"
	start_watch --config "$CONF"
	run -0 watch_log
	assert_output --partial "<4>line 2: late0: no such interface; not attached"
	timeout 10 ip -n "$NS_R" link add late0 type veth peer name late1
	wait_for watch_logged '^<5>late0: attached \(ifindex [0-9]+\)' ||
		fail "late0 not attached: $(watch_log)"
	run -0 tc -n "$NS_R" filter show dev late0 ingress
	assert_output --regexp "pref 1 .*handle 0x5c1"
	# its peer is not configured and stays alone
	run -0 tc -n "$NS_R" qdisc show dev late1
	refute_output --partial clsact
}

@test "an interface it cannot attach is reported once; SIGHUP tries again" {
	printf 'attach vr\nattach late0\n' >"$CONF"
	start_watch --config "$CONF"
	# a writer stuck on the pin root's lock for longer than attach waits
	timeout 60 flock "$PIN" sleep 50 3>&- &
	local holder=$!
	echo "$holder" >>"$PIDFILE"
	wait_for "! flock -n '$PIN' true" || fail "the lock was not taken"
	timeout 10 ip -n "$NS_R" link add late0 type veth peer name late1
	wait_for -t 40 watch_logged '^<3>late0: cannot attach \(ifindex [0-9]+\): .*another splicer holds the lock \(waited' ||
		fail "no error line: $(watch_log)"
	kill "$holder"
	wait "$holder" || true
	# more events of late0: no new attempt; the address line of vr shows
	# that the watcher has read past them
	timeout 10 ip -n "$NS_R" link set late0 up
	timeout 10 ip -n "$NS_R" addr add "$NEW_IP/24" dev vr
	wait_for watch_logged "^<6>vr: $NEW_IP/24 added" || fail "$(watch_log)"
	[ "$(grep -c 'cannot attach' "$BATS_TEST_TMPDIR/watch.log")" -eq 1 ]
	run -0 tc -n "$NS_R" qdisc show dev late0
	refute_output --partial clsact
	kill -HUP "$WATCH_PID"
	wait_for watch_logged '^<5>late0: attached' || fail "$(watch_log)"
	run -0 tc -n "$NS_R" filter show dev late0 ingress
	assert_output --regexp "pref 1 .*handle 0x5c1"
}

@test "a configured interface detached by hand stays detached until it is made again or SIGHUP" {
	printf 'attach vr\n' >"$CONF"
	tcp_server "$NS_R" host --port 8080
	start_watch --config "$CONF"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
	run -0 splicer detach vr
	# link changes of vr are not an appearance
	timeout 10 ip -n "$NS_R" link set vr down
	timeout 10 ip -n "$NS_R" link set vr up
	wait_for link_up "$NS_R" vr
	timeout 10 ip -n "$NS_R" link set vr mtu 1400
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
	run -0 tc -n "$NS_R" filter show dev vr ingress
	refute_output --partial "handle 0x5c1"
	kill -HUP "$WATCH_PID"
	wait_for watch_logged "^<6>$CONF: applied" 2 || fail "$(watch_log)"
	run -0 tc -n "$NS_R" filter show dev vr ingress
	assert_output --regexp "pref 1 .*handle 0x5c1"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1
}

@test "SIGTERM and SIGINT stop the watcher with exit 0 and change no traffic decision" {
	cat >"$CONF" <<-EOF
		attach vr
		add $R_IP proto tcp port 8080 pass
	EOF
	tcp_server "$NS_R" srv --port 22 --port 8080 --port 8082
	local sig
	for sig in TERM INT; do
		start_watch --config "$CONF"
		local before after
		before=$(state_snapshot)
		kill -"$sig" "$WATCH_PID"
		local rc=0
		wait "$WATCH_PID" || rc=$?
		[ "$rc" -eq 0 ] || fail "SIG$sig: exit $rc: $(watch_log)"
		run -0 watch_log
		assert_output --partial "<6>SIG$sig: exiting; filters and rules stay"
		after=$(state_snapshot)
		assert_equal "$after" "$before"
		ssh_passes "$R_IP"
		run -0 tcp_client "$NS_C" --connect "$R_IP:8080"
		run -2 tcp_client "$NS_C" --connect "$R_IP:8082" --timeout 1
	done
	# no watcher now: an address change is no longer followed
	timeout 10 ip -n "$NS_R" addr add "$NEW_IP/24" dev vr
	ssh_dropped "$NEW_IP"
}

@test "SIGHUP applies the file again; a broken file keeps the policy in force and names its line" {
	printf 'attach vr\nadd %s proto tcp port 8080 pass\n' "$R_IP" >"$CONF"
	tcp_server "$NS_R" srv --port 8080 --port 8081
	start_watch --config "$CONF"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8080"

	printf 'attach vr\nadd %s proto tcp port 8081 pass\n' "$R_IP" >"$CONF"
	kill -HUP "$WATCH_PID"
	wait_for watch_logged "^<6>$CONF: applied" 2 || fail "$(watch_log)"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	run -2 tcp_client "$NS_C" --connect "$R_IP:8080" --timeout 1

	local before
	before=$(state_snapshot)
	printf 'attach vr\nadd %s proto tcp port 8080 pass\nadd 10.1.0.5/16 proto tcp port 1 pass\n' "$R_IP" >"$CONF"
	kill -HUP "$WATCH_PID"
	wait_for watch_logged "^<3>$CONF: line 3: 10.1.0.5/16: host bits set; did you mean 10.1.0.0/16\\?; not applied" ||
		fail "$(watch_log)"
	assert_equal "$(state_snapshot)" "$before"
	run -0 tcp_client "$NS_C" --connect "$R_IP:8081"
	# still watching
	kill -0 "$WATCH_PID"
}

@test "watch refuses bad arguments with one error line, and has help" {
	run -1 --separate-stderr splicer watch --bogus
	assert_error "--bogus: unknown option"
	run -1 --separate-stderr splicer watch --config
	assert_error "--config: missing FILE"
	run -1 --separate-stderr splicer watch --config "$BATS_TEST_TMPDIR/none"
	assert_error "$BATS_TEST_TMPDIR/none: No such file or directory"
	run -1 --separate-stderr splicer watch "a/b"
	assert_error "a/b: invalid interface name"
	run -1 --separate-stderr splicer watch 0123456789abcdefg
	assert_error "invalid interface name"
	run -0 --separate-stderr splicer watch help
	assert_output --partial "Usage: splicer watch [--config FILE] [IFACE...]"
	run -2 --separate-stderr splicer_unprivileged watch --config /dev/null
	assert_error "permission denied"
	# none of them attached anything
	[ ! -e "$PIN" ]
}
