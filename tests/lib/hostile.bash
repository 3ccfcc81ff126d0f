# SPDX-License-Identifier: GPL-2.0-only
# For the hostile-packet suites (100-hostile, 101-icmp): a raw IPv4 sender
# on the client, and exact counter deltas. `load lib/hostile` after helpers.

# raw [raw-ip options]: an IPv4 packet built field by field (probe.py
# raw-ip) from the client's address to the router's, sent through
# AF_PACKET on vc, so the client's kernel checks nothing. Later options
# override these defaults. Needs R_MAC (setup: R_MAC=$(mac_of "$NS_R" vr)).
raw() {
	in_c "$PY" "$PROBE" raw-ip --dev vc --dst-mac "$R_MAC" \
		--src "$C_IP" --dst "$R_IP" "$@"
}

# snapshot: vr's packet counters as one flat JSON object,
# {"passed.ssh": N, ..., "redirected": N, "dropped.no_rule": N, ...}
snapshot() {
	local js
	js=$(splicer -j stats) || return 1
	jq -Sc '.interfaces[] | select(.name == "vr") |
		[(.passed | to_entries[] | {key: ("passed." + .key), value: .value.packets}),
		 (.dropped | to_entries[] | {key: ("dropped." + .key), value: .value.packets}),
		 {key: "redirected", value: .redirected.packets}] | from_entries' <<<"$js"
}

# moved BEFORE [KEY...]: the counters that changed since the snapshot
# BEFORE, and by how much; passed.arp and the KEYs are left out.
moved() {
	local before=$1 now
	shift
	now=$(snapshot) || return 1
	jq -nSc --argjson a "$before" --argjson b "$now" \
		'$ARGS.positional as $skip | $b
		| with_entries(.value -= ($a[.key] // 0))
		| with_entries(select(.value != 0 and .key != "passed.arp"
			and ([.key] | inside($skip) | not)))' --args "$@"
}

moved_is() {
	local want=$1
	shift
	[ "$(moved "$@")" = "$want" ]
}

# expect_moved BEFORE WANT [KEY...]: the counters moved from BEFORE by
# exactly WANT (a JSON object, e.g. '{"dropped.malformed":1}'), passed.arp
# and the KEYs aside. Counting runs in the router's softirq, which may
# trail the sender: wait up to 3 s for it.
expect_moved() {
	local before=$1 want
	want=$(jq -Sc . <<<"$2") || {
		fail "expect_moved: bad JSON $2"
		return 1
	}
	shift 2
	if ! wait_for -t 3 moved_is "$want" "$before" "$@"; then
		fail "counters moved $(moved "$before" "$@"), expected $want"
		return 1
	fi
}
