// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rule index compiler alone: reads a batch file of add lines, gives
 * the rules ids 1..N, and builds the index N times over (median wall time
 * printed). Needs no attached interface; `dev` names must exist.
 *
 *   compile FILE [TIMES]
 *
 * Prints one JSON object: rules (and how many are IPv6), index records,
 * bytes, build time. A file may hold rules of both families
 * (gen-rules.py --family 6 or mix).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "grammar.h"
#include "index.h"
#include "store.h"
#include "state.h"
#include "out.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct rule_change *ch = NULL;
	unsigned int flags = 0, times = argc > 2 ? atoi(argv[2]) : 5, t;
	struct ix_build b = {};
	struct rule *r;
	double ms[64];
	size_t n, i, n6 = 0;
	size_t chunks, bytes;
	FILE *f;

	if (argc < 2 || !times || times > 64) {
		fprintf(stderr, "usage: compile FILE [TIMES <= 64]\n");
		return 1;
	}
	f = fopen(argv[1], "r");
	if (!f || batch_read(f, true, NULL, &ch, &n, &flags))
		return 1;
	r = calloc(n + 1, sizeof(*r));
	if (!r)
		return 2;
	for (i = 0; i < n; i++) {
		r[i] = ch[i].r;
		r[i].v.id = i + 1;
		n6 += r[i].k.family == AF_INET6;
	}
	for (t = 0; t < times; t++) {
		double start = now_ms();

		index_build_free(&b);
		if (index_compile(r, n, NULL, 0, 1, 0, &b))
			return 2;
		ms[t] = now_ms() - start;
	}
	qsort(ms, times, sizeof(ms[0]), cmp_double);
	chunks = (b.n + SPLICER_IX_CHUNK - 1) / SPLICER_IX_CHUNK;
	bytes = b.n * sizeof(union ix_rec);
	printf("{\"rules\":%zu,\"ipv6_rules\":%zu,\"records\":%zu,"
	       "\"chunks\":%zu,\"bytes\":%zu,\"bytes_per_rule\":%.0f,"
	       "\"build_ms\":%.1f}\n",
	       n, n6, b.n, chunks, bytes, n ? (double)bytes / n : 0.0,
	       ms[times / 2]);
	return 0;
}
