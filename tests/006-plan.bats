#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The pure half of a rule change (lib/plan.c): what a list of changes makes
# of a rule set, ids and counters to keep. It needs no kernel, so it runs
# as an unprivileged user, which proves it.

bats_require_minimum_version 1.5.0

PLAN_TEST="${BATS_TEST_DIRNAME}/../build/plan_test"

@test "rule changes: written cases and random sequences match the model, without root" {
	for seed in 1 2 3; do
		run -0 timeout 120 setpriv --reuid=65534 --regid=65534 \
			--clear-groups "$PLAN_TEST" "$seed" 3000
		[[ "${lines[-1]}" =~ ^plan_test:\ ([0-9]+)\ checks,\ 0\ failed$ ]]
		[ "${BASH_REMATCH[1]}" -gt 1000 ]
	done
}

@test "IPv6 and mixed rule changes: random sequences and deltas match the model, without root" {
	for fam in v6 mix; do
		for seed in 1 2; do
			run -0 timeout 120 setpriv --reuid=65534 --regid=65534 \
				--clear-groups "$PLAN_TEST" "$seed" 3000 "$fam"
			[[ "${lines[-1]}" =~ ^plan_test:\ ([0-9]+)\ checks,\ 0\ failed$ ]]
			[ "${BASH_REMATCH[1]}" -gt 1000 ]
		done
	done
}
