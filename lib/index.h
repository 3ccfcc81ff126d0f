/* SPDX-License-Identifier: GPL-2.0-only */
/* The index compiler: a rule set as the tries the datapath walks. */
#ifndef SPLICER_INDEX_H
#define SPLICER_INDEX_H

#include <stddef.h>

#include "rule.h"

/*
 * A destination prefix that changed since the base: a delta compiled
 * with it knows the answer for every address in it (SPLICER_IX_AUTH).
 */
struct ix_region {
	__be32 dst[4];
	__u8 len;
	__u8 proto;
	__u8 family;
};

/* Records compiled to be arena records at .. at + n - 1. */
struct ix_build {
	union ix_rec *rec;
	size_t n, cap;
	__u32 at;
	struct ix_part part; /* IPv4's tries, and lo = at, hi = at + n */
	struct ix_part part6; /* IPv6's tries; lo = hi = 0 */
};

/*
 * Compiles r[0..n) of both families, with the regions reg[0..n_reg) for
 * a delta, into records for arena position at: the IPv4 part, then the
 * IPv6 part; the first `reserve` records are left zero (the header
 * block). The size does not depend on at.
 */
int index_compile(const struct rule *r, size_t n, const struct ix_region *reg,
		  size_t n_reg, __u32 at, __u32 reserve, struct ix_build *out);
void index_build_free(struct ix_build *b);

#endif /* SPLICER_INDEX_H */
