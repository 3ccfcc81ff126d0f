/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A rule change as a delta over the live base: what it makes of the
 * delta's entries, and which rules the delta index must hold. Plain
 * memory in, plain memory out, no kernel; update.c publishes it.
 */
#ifndef SPLICER_DELTA_H
#define SPLICER_DELTA_H

#include <stdbool.h>
#include <stddef.h>

#include "index.h"
#include "plan.h"

/*
 * The base and the delta's entries over it, sorted the same way: an
 * entry replaces the base rule of its match, or removes it (id 0). near
 * is what the delta before recorded of the base: its rules near the
 * regions of the entries, replaced or not (delta_index.base_near); with
 * near_known false, the change looks them up in the base again.
 */
struct delta_in {
	struct rule_seq base;
	const struct rule *entries;
	size_t n_entries;
	size_t n_rules; /* in the rule set they make */
	__u32 max_id; /* the highest id given so far */
	const struct rule *near;
	size_t n_near;
	bool near_known;
};

struct delta_plan {
	struct rule *e; /* the new entries, sorted by match */
	size_t n, cap;
	size_t n_rules; /* in the new rule set */
	__u32 max_id; /* above in->max_id: ids of new matches */
	__u32 *gone; /* ids of rules no longer in the set */
	size_t n_gone, cap_gone;
	bool same; /* no rule, action or label changed */
	size_t failed; /* on PLAN_NO_RULE: the change that found none */
};

/*
 * Applies ch[0..n_ch) in order. 0, PLAN_NO_RULE (p->failed says which),
 * or -ENOMEM; delta_plan_free() after, also on failure.
 */
int delta_plan_make(const struct delta_in *in, const struct rule_change *ch,
		    size_t n_ch, struct delta_plan *p);
void delta_plan_free(struct delta_plan *p);

/*
 * What the delta index of p holds: the distinct destination prefixes of
 * its entries (regions), and every rule of the new set whose prefix
 * holds or is held by one of them (near). DELTA_TOO_LARGE when that is
 * more than max_near rules, or p has more than max_entries entries: then
 * the whole set is better compiled as a new base.
 */
#define DELTA_TOO_LARGE 2
struct delta_index {
	struct ix_region *reg;
	size_t n_reg;
	struct rule *near;
	size_t n_near, cap_near;
	/*
	 * The base rules near the regions, replaced or not, sorted by match:
	 * recorded with the entries, so that the next change searches the
	 * base only for regions it adds.
	 */
	struct rule *base_near;
	size_t n_base_near, cap_base_near;
};
int delta_index_make(const struct delta_in *in, const struct delta_plan *p,
		     size_t max_entries, size_t max_near,
		     struct delta_index *d);
void delta_index_free(struct delta_index *d);

/*
 * Does a rule of the set that base and entries make have prefix (dst,
 * len) of family, of either protocol, and ask for a route?
 */
bool delta_wants_route(const struct rule_seq *base, const struct rule *entries,
		       size_t n_entries, const __be32 dst[4], __u8 len,
		       __u8 family);

#endif /* SPLICER_DELTA_H */
