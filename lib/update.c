/* SPDX-License-Identifier: GPL-2.0-only */
/* Changing the rule set: one or many changes, checked, then published. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "index.h"
#include "plan.h"
#include "out.h"
#include "routes.h"
#include "state.h"
#include "store.h"
#include "update.h"

/* Counters move in batches of this many rules: few syscalls, small buffers. */
#define COUNTER_BATCH 4096

/*
 * Zeroes the counters of ids[] (overwriting any a killed writer left).
 * Runs before the commit: new rules count from their first packet.
 */
static int counters_zero(const struct state *st, __u32 *ids, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
	int ncpu = libbpf_num_possible_cpus();
	struct counter *zero;
	size_t i;
	__u32 cnt;
	int err = 0;

	if (ncpu < 0)
		return err_kernel(ncpu, "rule counters");
	zero = calloc((size_t)COUNTER_BATCH * ncpu, sizeof(*zero));
	if (!zero)
		return err_kernel(-ENOMEM, "rule counters");
	for (i = 0; i < n && !err; i += cnt) {
		cnt = n - i < COUNTER_BATCH ? n - i : COUNTER_BATCH;
		if (bpf_map_update_batch(st->rule_stats, ids + i, zero, &cnt,
					 &bo))
			err = err_kernel(-errno,
					 errno == E2BIG ?
						 "rule counters are full" :
						 "rule counters");
	}
	free(zero);
	return err;
}

/* Deletes the counters of ids[]; one that is not there is skipped. */
static void counters_forget(const struct state *st, __u32 *ids, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	size_t i;
	__u32 cnt;

	for (i = 0; i < n; i += cnt) {
		cnt = n - i < COUNTER_BATCH ? n - i : COUNTER_BATCH;
		/* A batch stops at the first failure: skip that id. */
		if (bpf_map_delete_batch(st->rule_stats, ids + i, &cnt, &bo))
			cnt++;
	}
}

/*
 * Publishes plan p over the live set old[0..n_old): builds the index
 * (and so checks that it fits) before anything changes, adds routes and
 * zeroes the counters of new rules before the new set goes live, removes
 * what only the old set used after.
 */
static int publish(const struct state *st, struct rule_set *next,
		   const struct plan *p, const struct rule *old, size_t n_old)
{
	struct routes *rt = NULL;
	int err;

	err = routes_open(&rt);
	if (!err)
		err = routes_want(rt, p->r, p->n);
	if (!err)
		err = routes_add(rt);
	if (!err)
		err = counters_zero(st, p->fresh, p->n_fresh);
	if (!err) {
		next->n = p->n;
		err = rules_commit(st, next);
	}
	if (err) {
		/* Take back routes only the new set asked for. */
		if (rt && !routes_want(rt, old, n_old))
			routes_remove(rt);
	} else {
		counters_forget(st, p->gone, p->n_gone);
		err = routes_remove(rt);
	}
	routes_close(rt);
	return err;
}

/*
 * Applies the changes in order to the current rule set (or to an empty
 * one with UPDATE_REPLACE), then publishes the result as one new index.
 * A rule whose match survives keeps its id and counters. st is open, for
 * writing (the lock held) unless UPDATE_CHECK.
 */
static int update_in(const struct state *st, const struct rule_change *ch,
		     size_t n_ch, unsigned int flags)
{
	struct rule_set live = RULE_SET_INIT, next = RULE_SET_INIT;
	bool replace = flags & UPDATE_REPLACE;
	bool check = flags & UPDATE_CHECK;
	struct plan p = {};
	int err = 0;

	if (!check)
		err = rules_check_layout(st);
	if (!err && !check && st->rule_index < 0)
		err = err_failed("%s: made by splicer 0.1.0; 'splicer attach' "
				 "upgrades it in place, keeping its rules",
				 st->root);
	if (!err)
		err = rules_view(st, &live);
	/* The new set is written straight into the snapshot that holds it. */
	if (!err)
		err = rules_stage(&next, plan_cap(live.n, n_ch, replace),
				  !check);
	if (!err)
		err = plan_make(live.r, live.n, ch, n_ch, replace, next.r, &p);
	if (err == PLAN_NO_RULE && ch[p.failed].line) {
		err = err_absent("line %u: no such rule", ch[p.failed].line);
	} else if (err == PLAN_NO_RULE) {
		err = err_absent("no such rule");
	} else if (err == -ENOMEM) {
		err = err_kernel(err, "rule table");
	} else if (!err && p.n > SPLICER_MAX_RULES) {
		err = err_failed("rule table is full: %zu rules, at most %u",
				 p.n, SPLICER_MAX_RULES);
	}
	/*
	 * Nothing to publish for a check, or for the live rule set again
	 * (a file applied twice): no new index and no new snapshot.
	 */
	if (!err && !check && !(live.map && p.same))
		err = publish(st, &next, &p, live.r, live.n);
	plan_free(&p);
	rules_release(&next);
	rules_release(&live);
	return err;
}

int rules_update(const struct rule_change *ch, size_t n_ch, unsigned int flags)
{
	struct state st;
	int err;

	err = state_open(&st, !(flags & UPDATE_CHECK));
	if (!err)
		err = update_in(&st, ch, n_ch, flags);
	state_close(&st);
	return err;
}

int rules_park(const struct state *st, __u32 ifindex)
{
	struct rule_change *ch = NULL;
	struct rule *r;
	size_t n, i, k = 0;
	int err;

	err = rules_load(st, &r, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (r[i].k.ifindex == ifindex)
			r[k++] = r[i];
	if (k && !(ch = calloc(2 * k, sizeof(*ch))))
		err = err_kernel(-ENOMEM, "rules");
	for (i = 0; i < k && !err; i++) {
		ch[2 * i] =
			(struct rule_change){ .r = r[i], .kind = CHANGE_DEL };
		ch[2 * i + 1] = ch[2 * i];
		ch[2 * i + 1].r.k.ifindex |= SPLICER_IFINDEX_GONE;
		ch[2 * i + 1].kind = CHANGE_ADD;
	}
	if (k && !err)
		err = update_in(st, ch, 2 * k, 0);
	free(ch);
	free(r);
	return err;
}

/*
 * Converges whatever an interrupted writer left: rule sets it did not
 * publish go, the routes are reconciled, and a pin root without an index
 * gets one.
 */
int sync_rules(const struct state *st)
{
	struct rule *r;
	bool live;
	size_t n;
	int err;

	err = rules_tidy(st, &live);
	if (!err)
		err = rules_load(st, &r, &n);
	if (err)
		return err;
	/* A published index is its rule set's: only routes may lag. */
	err = routes_sync(r, n, true, false);
	if (!err && !live)
		err = rules_publish(st, r, n);
	if (!err)
		err = routes_sync(r, n, false, true);
	free(r);
	return err;
}
