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
	__be32 dst;
	__u8 len;
	__u8 proto;
};

/* Records compiled to be arena records at .. at + n - 1. */
struct ix_build {
	union ix_rec *rec;
	size_t n, cap;
	__u32 at;
	struct ix_part part; /* its tries, and lo = at, hi = at + n */
};

/*
 * Compiles r[0..n), with the regions reg[0..n_reg) for a delta, into
 * records for arena position at; the first `reserve` records are left
 * zero (the header block). The size does not depend on at.
 */
int index_compile(const struct rule *r, size_t n, const struct ix_region *reg,
		  size_t n_reg, __u32 at, __u32 reserve, struct ix_build *out);
void index_build_free(struct ix_build *b);

#endif /* SPLICER_INDEX_H */
