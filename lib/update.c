/* SPDX-License-Identifier: GPL-2.0-only */
/* Changing the rule set: one or many changes, checked, then published. */
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "arena.h"
#include "delta.h"
#include "index.h"
#include "plan.h"
#include "out.h"
#include "routes.h"
#include "slots.h"
#include "state.h"
#include "store.h"
#include "update.h"
#include "util.h"

/*
 * A delta holds the changes since the base was compiled whole: at most
 * this many matches, and at most this many rules near them, or the next
 * change compiles the whole set as a new base (README "Rule index").
 */
#define DELTA_MAX_ENTRIES 512
#define DELTA_MAX_NEAR 8192
/* update_delta(): the change goes the whole way instead */
#define UPDATE_WHOLE 1

/*
 * Publishes plan p over the live set old[0..n_old) as a new base: adds
 * the routes new rules ask for before the new set goes live (a failed
 * commit takes them back), removes the routes only the old set used
 * after.
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
	if (!err) {
		next->n = p->n;
		err = rules_commit(st, next);
	}
	if (err) {
		/* Take back routes only the new set asked for. */
		if (rt && !routes_want(rt, old, n_old))
			routes_remove(rt);
	} else {
		err = routes_remove(rt);
	}
	routes_close(rt);
	return err;
}

/* A plan's outcome as the error line it deserves; max: the most rules. */
static int plan_error(int err, const struct rule_change *ch, size_t failed,
		      size_t n_rules, size_t max)
{
	if (err == PLAN_NO_RULE && ch[failed].line)
		return err_absent("line %u: no such rule", ch[failed].line);
	if (err == PLAN_NO_RULE)
		return err_absent("no such rule");
	if (err == -ENOMEM)
		return err_kernel(err, "rule table");
	if (!err && n_rules > max)
		return err_failed("rule table is full: %zu rules, at most %zu",
				  n_rules, max);
	return err;
}

/*
 * Do entries a and b say the same: match, id, action and label? (A false
 * "no" only costs a look at that prefix's route.)
 */
static bool same_entry(const struct rule *a, const struct rule *b)
{
	return !rule_match_cmp(&a->k, &b->k) &&
	       !memcmp(&a->v, &b->v, sizeof(a->v));
}

/*
 * Adds (add) or removes the routes of the prefixes whose entries differ
 * before and after, where the wish for a route differs with them: a
 * merge of the two sorted entry lists, and the base asked only about
 * what changed.
 */
static int delta_routes(const struct rule_seq *base, const struct rule *before,
			size_t n_before, const struct rule *after,
			size_t n_after, bool add)
{
	const struct rule_key *k, *last = NULL;
	size_t i = 0, j = 0;
	bool was, will;
	int c, err = 0;

	while (!err && (i < n_before || j < n_after)) {
		c = i == n_before ? 1 :
		    j == n_after  ? -1 :
				    rule_match_cmp(&before[i].k, &after[j].k);
		if (!c && same_entry(&before[i], &after[j])) {
			i++;
			j++;
			continue;
		}
		k = c <= 0 ? &before[i].k : &after[j].k;
		i += c <= 0;
		j += c >= 0;
		/* a prefix of both protocols is one route: look once */
		if (last && last->family == k->family &&
		    !addr_cmp(last->dst, k->dst) && last->dst_len == k->dst_len)
			continue;
		last = k;
		was = delta_wants_route(base, before, n_before, k->dst,
					k->dst_len, k->family);
		will = delta_wants_route(base, after, n_after, k->dst,
					 k->dst_len, k->family);
		if (was != will && will == add)
			err = route_local(add, k->family, k->dst, k->dst_len);
	}
	return err;
}

/*
 * A change as a delta over the live base: it touches the base snapshot
 * only by binary search, writes a snapshot of the delta's entries, and
 * compiles only the rules near what it changes. UPDATE_WHOLE when there
 * is no base yet, or the delta has grown too large: then the change
 * goes the whole way, and compiles the set as a new base.
 */
static int update_delta(const struct state *st, const struct rule_change *ch,
			size_t n_ch, bool check)
{
	struct rule_set base = RULE_SET_INIT, entries = RULE_SET_INIT;
	struct rule_set staged = RULE_SET_INIT;
	struct delta_plan p = {};
	struct delta_index d = {};
	struct delta_in in;
	struct ix_meta meta;
	struct arena a;
	int err;

	err = arena_open(st, !check, &a);
	if (!err && (!a.header || !a.meta.base_set))
		err = UPDATE_WHOLE;
	if (!err)
		err = rules_live(st, &a, &base, &entries);
	if (err)
		goto out;
	in = (struct delta_in){
		.base = rules_seq(&base),
		.entries = entries.r,
		.n_entries = entries.n,
		.n_rules = a.meta.rules,
		.max_id = a.meta.max_id,
		.near = entries.near,
		.n_near = entries.n_near,
		.near_known = entries.near_known,
	};
	err = delta_plan_make(&in, ch, n_ch, &p);
	/* what a failed read of the base made of the plan is worthless */
	err = rules_read_error(&base) ?:
					plan_error(err, ch, p.failed, p.n_rules,
						   slots_rules_max(st));
	if (err || check || p.same)
		goto out;
	/*
	 * New rules' counter slots, from the free extent only: when it is
	 * short, the whole way reclaims. (Slots given to a change that goes
	 * the whole way after all are free again at the next reclaim.)
	 */
	err = slots_give(st, &a, p.e, p.n, false);
	if (err == SLOTS_SHORT)
		err = UPDATE_WHOLE;
	if (err)
		goto out;
	err = delta_index_make(&in, &p, DELTA_MAX_ENTRIES, DELTA_MAX_NEAR, &d);
	if (err == DELTA_TOO_LARGE)
		err = UPDATE_WHOLE;
	else if (err)
		err = err_kernel(err, "rule index");
	if (!err)
		err = delta_routes(&in.base, entries.r, entries.n, p.e, p.n,
				   true);
	if (!err)
		err = rules_read_error(&base);
	/* the entries, and after them what the next change starts from */
	if (!err)
		err = rules_stage(&staged, p.n + d.n_base_near, true);
	if (err)
		goto out;
	memcpy(staged.r, p.e, p.n * sizeof(*p.e));
	staged.n = p.n;
	memcpy(staged.r + p.n, d.base_near, d.n_base_near * sizeof(*p.e));
	staged.near = staged.r + p.n;
	staged.n_near = d.n_base_near;
	staged.near_known = true;
	meta = a.meta;
	meta.rules = p.n_rules;
	meta.max_id = p.max_id;
	err = rules_commit_delta(st, &a, &staged, d.near, d.n_near, d.reg,
				 d.n_reg, &meta);
	if (err) {
		/* take back the routes only the new set asked for */
		delta_routes(&in.base, p.e, p.n, entries.r, entries.n, false);
		goto out;
	}
	err = delta_routes(&in.base, entries.r, entries.n, p.e, p.n, false);
out:
	arena_close(&a);
	delta_index_free(&d);
	delta_plan_free(&p);
	rules_release(&staged);
	rules_release(&entries);
	rules_release(&base);
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
		err = state_refuse_v1(st);
	if (!err && !replace) {
		err = update_delta(st, ch, n_ch, check);
		if (err != UPDATE_WHOLE)
			return err;
		err = 0;
	}
	if (!err)
		err = rules_view(st, &live);
	/* The new set is written straight into the snapshot that holds it. */
	if (!err)
		err = rules_stage(&next, plan_cap(live.n, n_ch, replace),
				  !check);
	if (!err) {
		err = plan_make(live.r, live.n, ch, n_ch, replace,
				rules_max_id(st), next.r, &p);
		err = plan_error(err, ch, p.failed, p.n, slots_rules_max(st));
	}
	/*
	 * Nothing to publish for a check, or for the live rule set again
	 * (a file applied twice): no new index and no new snapshot.
	 */
	if (!err && !check && !(live.published && p.same))
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
