#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The program packet by packet through BPF_PROG_TEST_RUN: the verifier's
# budget, a table of stated verdicts, a fuzzer held against the reference
# classifier, and the events a monitor gets. Each run has its own network
# namespace with the world's addresses on lo, two of each family
# (tests/unit/world.h), and nothing else.

bats_require_minimum_version 1.5.0

PROG_TEST="${BATS_TEST_DIRNAME}/../build/prog_test"
BUDGET="${BATS_TEST_DIRNAME}/unit/verifier-budget"

in_world() {
	timeout "$1" unshare --net bash -c '
		ip link set lo up &&
		ip addr add 10.0.0.1/32 dev lo &&
		ip addr add 10.0.0.2/32 dev lo &&
		sysctl -q -w net.ipv6.conf.lo.disable_ipv6=0 &&
		ip addr add fd00::1/128 dev lo nodad &&
		ip addr add fd00::2/128 dev lo nodad &&
		exec "$0" "$@"' "${@:2}"
}

@test "the program stays within its verifier instruction budget" {
	run -0 env SPLICER_VERIFIER_BUDGET="$BUDGET" timeout 60 "$PROG_TEST" verifier
	echo "# $output" >&3
	[[ "$output" == "verifier: splicer_ingress: "*" processed instructions (budget "* ]]
}

@test "every line of the packet table gets its stated verdict, counter, rule and event" {
	run -0 in_world 120 "$PROG_TEST" cases
	echo "# ${lines[-1]}" >&3
	[[ "${lines[-1]}" == "prog_test: "*" cases, 0 failed" ]]
}

@test "100,000 random and mutated frames get the reference classifier's verdict, and events that tell it" {
	run -0 in_world 600 "$PROG_TEST" fuzz 1 100000
	echo "# ${lines[-1]}" >&3
	[[ "${lines[-1]}" == "fuzz: seed 1: 100000 frames"*", 0 mismatches;"* ]]
}

@test "events are emitted only while a heartbeat is fresh, and a full ring counts them lost" {
	run -0 in_world 120 "$PROG_TEST" monitor
	echo "# ${lines[-1]}" >&3
	[[ "${lines[-1]}" == "prog_test: monitor, 0 failed" ]]
}

@test "the datapath has no bpf_printk: neither in the source nor as a helper call" {
	run -1 grep -rn 'bpf_printk\|bpf_trace_printk\|bpf_trace_vprintk' \
		"$BATS_TEST_DIRNAME/../bpf"
	# helper 6 is trace_printk, 177 trace_vprintk
	run -0 llvm-objdump -d --no-show-raw-insn "$BATS_TEST_DIRNAME/../build/splicer.bpf.o"
	local code=$output
	grep -Eq 'call 5$' <<<"$code" # helper 5, bpf_ktime_get_ns: the code is there
	run -1 grep -Eq 'call (6|177)$' <<<"$code"
}
