/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Rule changes, and what they make of a rule set: plain memory in, plain
 * memory out, no kernel. update.c publishes the result.
 */
#ifndef SPLICER_PLAN_H
#define SPLICER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "rule.h"

enum change_kind {
	CHANGE_ADD, /* insert, or replace the action of an equal match */
	CHANGE_DEL, /* delete the rule with exactly this match */
	CHANGE_DEL_ANY_HIGH, /* ... whatever its high port (old tools) */
	CHANGE_DEL_PREFIX, /* every rule for this destination prefix */
};

struct rule_change {
	struct rule r;
	enum change_kind kind;
	unsigned int line; /* in a batch file; 0 on the command line */
};

/*
 * The rule set that changes make of an old one. A rule whose match is in
 * both keeps its id (so its counters); a new match gets an id above every
 * old one.
 */
struct plan {
	struct rule *r; /* the new set, in the caller's buffer */
	size_t n;
	size_t *origin; /* r[j] is old[origin[j]], or SIZE_MAX: new */
	__u32 *fresh; /* ids of the new matches: their counters start at 0 */
	size_t n_fresh;
	__u32 *gone; /* ids of old rules not in the new set */
	size_t n_gone;
	bool same; /* the new set is the old one, actions and labels too */
	size_t failed; /* on PLAN_NO_RULE: the change that found none */
	__u32 max_id; /* the highest id given, max_id's or a new match's */
};

/* A delete that matched no rule: plan.failed says which change. */
#define PLAN_NO_RULE 1

/*
 * Applies ch[0..n_ch) in order to old[0..n_old), or to an empty set if
 * replace, writing the new set into out[0..cap): cap must be at least
 * plan_cap(). New matches get ids above every old one and above
 * max_id, the highest ever given: no id is given twice. Returns 0,
 * PLAN_NO_RULE, or -ENOMEM; plan_free() after, also on failure.
 */
size_t plan_cap(size_t n_old, size_t n_ch, bool replace);
int plan_make(const struct rule *old, size_t n_old,
	      const struct rule_change *ch, size_t n_ch, bool replace,
	      __u32 max_id, struct rule *out, struct plan *p);
void plan_free(struct plan *p);

/*
 * Does the wildcard delete c (CHANGE_DEL_PREFIX: every rule of the
 * prefix; CHANGE_DEL_ANY_HIGH: the match whatever its high port) take
 * the rule of match k?
 */
bool plan_wild_takes(const struct rule_change *c, const struct rule_key *k);
/* The action and labels of a change, onto the rule it names. */
void plan_take_action(struct rule *to, const struct rule *from);
/* Do a and b have the same action and labels? */
bool plan_same_action(const struct rule_val *a, const struct rule_val *b);

#endif /* SPLICER_PLAN_H */
