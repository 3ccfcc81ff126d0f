#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The compiled rule index against a reference classifier, packet by packet,
# through the verifier-loaded program (BPF_PROG_TEST_RUN). Each run is in a
# fresh, empty network namespace so that no socket can answer a lookup.

bats_require_minimum_version 1.5.0

UNIT="${BATS_TEST_DIRNAME}/../build/index_test"

@test "random overlapping rule sets classify exactly like the reference" {
	for seed in 1 2 3 4 5; do
		run -0 timeout 120 unshare --net "$UNIT" "$seed" 20 40 400
		[[ "$output" == *", 0 mismatches"* ]]
	done
}

@test "large rule sets with many overlaps classify exactly like the reference" {
	run -0 timeout 300 unshare --net "$UNIT" 99 4 400 1500
	[[ "$output" == *", 0 mismatches"* ]]
}

@test "20,000 /32 rules: each is found at its address, also in a second bucket of the table" {
	run -0 timeout 300 unshare --net "$UNIT" exact 1 20000
	[[ "$output" == *", 0 mismatches"* ]]
	# the test proves the second-bucket path only if some rules are there
	[[ "$output" =~ \(([0-9]+)\ in\ a\ second\ bucket\) ]]
	[ "${BASH_REMATCH[1]}" -gt 0 ]
}

@test "changes published as deltas over a base classify like the reference after every step, and like a rebuild" {
	for seed in 1 2 3; do
		run -0 timeout 300 unshare --net "$UNIT" delta "$seed" 3 25 40 200
		[[ "$output" == *", 0 mismatches"* ]]
		# deltas were published, not only rebuilds
		[[ "$output" =~ ,\ ([0-9]+)\ deltas ]]
		[ "${BASH_REMATCH[1]}" -gt 20 ]
	done
}

@test "thousands of publishes reuse the arena's records after grace periods and classify like the reference throughout" {
	run -0 timeout 300 unshare --net "$UNIT" 7 3000 6 8
	[[ "$output" == *", 0 mismatches"* ]]
	# the free extent ran out and was chosen anew, more than once
	[[ "$output" =~ ,\ ([0-9]+)\ free\ extents\ chosen\ anew ]]
	[ "${BASH_REMATCH[1]}" -ge 2 ]
}

@test "random IPv6 rule sets (/0 to /128, sources, interfaces) classify exactly like the reference, redirect address included" {
	for seed in 1 2 3 4 5; do
		run -0 timeout 120 unshare --net "$UNIT" v6 "$seed" 20 40 400
		[[ "$output" == *", 0 mismatches"* ]]
	done
	run -0 timeout 300 unshare --net "$UNIT" v6 98 4 400 1500
	[[ "$output" == *", 0 mismatches"* ]]
}

@test "rule sets of both families at once classify exactly like the reference" {
	for seed in 1 2 3; do
		run -0 timeout 120 unshare --net "$UNIT" mix "$seed" 20 60 400
		[[ "$output" == *", 0 mismatches"* ]]
	done
	run -0 timeout 300 unshare --net "$UNIT" mix 97 4 400 1500
	[[ "$output" == *", 0 mismatches"* ]]
}

@test "20,000 /128 rules: each is found at its address, also in a second bucket of the table" {
	run -0 timeout 300 unshare --net "$UNIT" v6 exact 1 20000
	[[ "$output" == *", 0 mismatches"* ]]
	[[ "$output" =~ \(([0-9]+)\ in\ a\ second\ bucket\) ]]
	[ "${BASH_REMATCH[1]}" -gt 0 ]
}

@test "IPv6 and mixed changes published as deltas classify like the reference after every step, and like a rebuild" {
	for fam in v6 mix; do
		for seed in 1 2 3; do
			run -0 timeout 300 unshare --net "$UNIT" "$fam" delta "$seed" 3 25 40 200
			[[ "$output" == *", 0 mismatches"* ]]
			[[ "$output" =~ ,\ ([0-9]+)\ deltas ]]
			[ "${BASH_REMATCH[1]}" -gt 20 ]
		done
	done
}
