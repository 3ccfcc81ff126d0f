/* SPDX-License-Identifier: GPL-2.0-only */
/* The rule store: the rule set as immutable snapshots beside its index. */
#ifndef SPLICER_STORE_H
#define SPLICER_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "rule.h"

struct state;

/*
 * A rule set as an array of rules: the live one, read-only (rules_view),
 * or a new one being written (rules_stage).
 */
struct rule_set {
	struct rule *r;
	size_t n;
	void *map; /* the mmap()ed snapshot, if r points into one */
	size_t bytes;
	int fd; /* a staged snapshot, or -1 */
	bool published; /* the live rule set, as rules_view() read it */
	/* a large base of rules_live(), read rule by rule: r is NULL */
	struct rule_reader *reader;
	/* a delta's record of the base rules near its regions (delta.h) */
	const struct rule *near;
	size_t n_near;
	bool near_known;
};
#define RULE_SET_INIT    \
	{                \
		.fd = -1 \
	}
/* The rule set the live index was compiled from: the only way to read it. */
int rules_view(const struct state *st, struct rule_set *set);
/* The same as a malloc()ed copy. */
int rules_load(const struct state *st, struct rule **out, size_t *n);
/*
 * Room for cap rules of a new rule set, to be published by rules_commit()
 * (publish) or only looked at (!publish: plain memory).
 */
int rules_stage(struct rule_set *set, size_t cap, bool publish);
/*
 * Makes set->r[0..set->n) the rule set: records it beside the live one,
 * then compiles and publishes its index, which names it. That publish is
 * the commit point. set->r stays readable (not writable) until released.
 */
int rules_commit(const struct state *st, struct rule_set *set);
void rules_release(struct rule_set *set);

struct arena;
struct ix_region;
struct ix_meta;
/*
 * The live rule set as its snapshots, mapped: the base, sorted by match
 * (rule_match_cmp), and the delta over it (delta->n 0 if none), whose
 * entries replace the base rule of their match or remove it (id 0).
 */
int rules_live(const struct state *st, const struct arena *a,
	       struct rule_set *base, struct rule_set *delta);
/* A set as a sequence: a large base of rules_live() is read as it goes. */
struct rule_seq rules_seq(const struct rule_set *set);
/* 0, or the error of the first read of set that failed (its line said). */
int rules_read_error(const struct rule_set *set);
/*
 * Makes the live base with entries (staged, of any order) over it the
 * rule set: records the entries, and their entries->near after them,
 * then publishes the delta index of the rules near[0..n_near) and the
 * regions reg[0..n_reg) with meta. That publish is the commit point.
 */
int rules_commit_delta(const struct state *st, struct arena *a,
		       struct rule_set *entries, const struct rule *near,
		       size_t n_near, const struct ix_region *reg, size_t n_reg,
		       const struct ix_meta *meta);
/* Stages, compiles and commits r[]. */
int rules_publish(const struct state *st, const struct rule *r, size_t n);
/*
 * Removes rule sets left by writers killed before they published; *live
 * says whether an index (and so its rule set) is published.
 */
int rules_tidy(const struct state *st, bool *live);
/*
 * Publishes the rule set into the arena if nothing is published there:
 * on a fresh pin root an empty one, on a pin root of splicer 0.1.0 the
 * rule set its index names (ids, services and so counters kept). Before
 * a program of this build goes live on any interface.
 */
int rules_adopt(const struct state *st);
/* How many rules the published index holds, the pin root's maps unopened. */
__u32 rules_count(const struct state *st);
/* The highest rule id ever given on this pin root (0: none known). */
__u32 rules_max_id(const struct state *st);
/* Fails, with what to do, on the pin root of an older splicer. */
int rules_check_layout(const struct state *st);

#endif /* SPLICER_STORE_H */
