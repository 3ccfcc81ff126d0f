/* SPDX-License-Identifier: GPL-2.0-only */
/* Changing the rule set: one or many changes, checked, then published. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "index.h"
#include "out.h"
#include "routes.h"
#include "state.h"
#include "store.h"
#include "update.h"

/*
 * Up to this many lookups, scanning the rule array beats hashing all of
 * it first: one `add` to a big rule set builds no table.
 */
#define SCAN_LOOKUPS 16

/* Finds rules by their match in r[0..n): a hash table, or a scan. */
struct key_table {
	const struct rule *r;
	size_t n;
	size_t *slot; /* open addressing, position + 1, 0 empty; NULL: scan */
	size_t mask;
};

static __u64 key_hash(const struct rule_key *k)
{
	const unsigned char *p = (const void *)k;
	__u64 h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Makes r[t->n] findable: the caller has just written it there. */
static void table_add(struct key_table *t)
{
	size_t i;

	if (t->slot) {
		i = key_hash(&t->r[t->n].k) & t->mask;
		while (t->slot[i])
			i = (i + 1) & t->mask;
		t->slot[i] = t->n + 1;
	}
	t->n++;
}

/* A table over r[0..n) with room for cap rules, for this many lookups. */
static int table_init(struct key_table *t, const struct rule *r, size_t n,
		      size_t cap, size_t lookups)
{
	size_t size = 16;

	t->r = r;
	t->n = 0;
	if (lookups > SCAN_LOOKUPS) {
		while (size < 2 * cap)
			size <<= 1;
		t->slot = calloc(size, sizeof(*t->slot));
		t->mask = size - 1;
		if (!t->slot)
			return err_kernel(-ENOMEM, "rule table");
	}
	while (t->n < n)
		table_add(t);
	return 0;
}

/* Position of the rule matching k, or SIZE_MAX. */
static size_t table_find(const struct key_table *t, const struct rule_key *k)
{
	size_t i;

	if (!t->slot) {
		for (i = 0; i < t->n; i++)
			if (!memcmp(&t->r[i].k, k, sizeof(*k)))
				return i;
		return SIZE_MAX;
	}
	for (i = key_hash(k) & t->mask; t->slot[i]; i = (i + 1) & t->mask)
		if (!memcmp(&t->r[t->slot[i] - 1].k, k, sizeof(*k)))
			return t->slot[i] - 1;
	return SIZE_MAX;
}

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

/* The wildcard deletes of the old tools; how many rules they took. */
static size_t del_matching(const struct rule_change *c, const struct rule *r,
			   size_t n, bool *gone)
{
	const struct rule_key *w = &c->r.k;
	size_t i, hits = 0;

	for (i = 0; i < n; i++) {
		const struct rule_key *k = &r[i].k;

		if (gone[i] || k->dst != w->dst || k->dst_len != w->dst_len)
			continue;
		if (c->kind == CHANGE_DEL_ANY_HIGH &&
		    (k->src != w->src || k->src_len != w->src_len ||
		     k->proto != w->proto || k->port_lo != w->port_lo ||
		     k->ifindex != w->ifindex))
			continue;
		gone[i] = true;
		hits++;
	}
	return hits;
}

static const char *at_line(unsigned int line, char *buf, size_t size)
{
	if (!line)
		return "";
	snprintf(buf, size, "line %u: ", line);
	return buf;
}

/*
 * The counters to zero and to delete: those of new rules (no origin in
 * the old set), then those of old rules nothing in the new set came from.
 * Returns how many of each in *n_fresh and *n_gone; ids has room for all.
 */
static void changed_ids(const struct rule *old, size_t n_old,
			const struct rule *new, const size_t *origin,
			size_t n_new, bool *kept, __u32 *ids, size_t *n_fresh,
			size_t *n_gone)
{
	size_t i, n = 0;

	for (i = 0; i < n_new; i++) {
		if (origin[i] == SIZE_MAX)
			ids[n++] = new[i].v.id;
		else
			kept[origin[i]] = true;
	}
	*n_fresh = n;
	for (i = 0; i < n_old; i++)
		if (!kept[i])
			ids[n++] = old[i].v.id;
	*n_gone = n - *n_fresh;
}

/* Does every rule of new that was in old keep its action and labels? */
static bool same_actions(const struct rule *old, const struct rule *new,
			 const size_t *origin, size_t n_new)
{
	const struct rule_val *a, *b;
	size_t i;

	for (i = 0; i < n_new; i++) {
		if (origin[i] == SIZE_MAX)
			return false;
		a = &new[i].v;
		b = &old[origin[i]].v;
		if (a->id != b->id || a->flags != b->flags ||
		    a->action != b->action || a->to_addr != b->to_addr ||
		    a->to_port != b->to_port ||
		    memcmp(a->service, b->service, sizeof(a->service)))
			return false;
	}
	return true;
}

/*
 * Applies the changes in order to the current rule set (or to an empty
 * one with UPDATE_REPLACE), then publishes the result as one new index.
 * A rule whose match survives keeps its id and counters.
 */
int rules_update(const struct rule_change *ch, size_t n_ch, unsigned int flags)
{
	struct rule_set live = RULE_SET_INIT, next = RULE_SET_INIT;
	bool replace = flags & UPDATE_REPLACE;
	struct routes *rt = NULL;
	struct key_table old_t = {}, new_t = {};
	const struct rule *old;
	struct rule *new;
	size_t *origin = NULL; /* new[j] is old[origin[j]], or SIZE_MAX */
	bool *gone = NULL, *kept = NULL;
	__u32 *ids = NULL;
	size_t n_old, n_new = 0, cap, n_fresh, n_gone, i, j, k;
	__u32 max_id = 0;
	struct state st;
	char buf[32];
	int err, trie = -1;

	err = state_open(&st, !(flags & UPDATE_CHECK));
	if (!err && !(flags & UPDATE_CHECK))
		err = rules_check_layout(&st);
	if (!err)
		err = rules_view(&st, &live);
	if (err)
		goto out;
	old = live.r;
	n_old = live.n;
	/*
	 * The new set is written straight into the snapshot that will hold
	 * it: at most the old rules plus one per change.
	 */
	cap = (replace ? 0 : n_old) + n_ch;
	err = rules_stage(&next, cap, !(flags & UPDATE_CHECK));
	if (err)
		goto out;
	new = next.r;
	origin = calloc(cap + 1, sizeof(*origin));
	gone = calloc(cap + 1, sizeof(*gone));
	if (!origin || !gone) {
		err = err_kernel(-ENOMEM, "rule table");
		goto out;
	}
	for (i = 0; i < n_old; i++)
		if (old[i].v.id > max_id)
			max_id = old[i].v.id;
	if (!replace) {
		memcpy(new, old, n_old * sizeof(*new));
		for (n_new = 0; n_new < n_old; n_new++)
			origin[n_new] = n_new;
	}
	err = table_init(&new_t, new, n_new, cap, n_ch);
	if (!err && replace)
		err = table_init(&old_t, old, n_old, n_old, n_ch);
	if (err)
		goto out;

	for (i = 0; i < n_ch; i++) {
		const struct rule *r = &ch[i].r;

		j = table_find(&new_t, &r->k);
		if (ch[i].kind == CHANGE_DEL_ANY_HIGH ||
		    ch[i].kind == CHANGE_DEL_PREFIX) {
			if (!del_matching(&ch[i], new, n_new, gone)) {
				err = err_absent("%sno such rule",
						 at_line(ch[i].line, buf,
							 sizeof(buf)));
				goto out;
			}
			continue;
		}
		if (ch[i].kind == CHANGE_DEL) {
			if (j == SIZE_MAX || gone[j]) {
				err = err_absent("%sno such rule",
						 at_line(ch[i].line, buf,
							 sizeof(buf)));
				goto out;
			}
			gone[j] = true;
			continue;
		}
		if (j == SIZE_MAX) {
			/* Without replace, every old match is in new already. */
			j = n_new++;
			new[j].k = r->k;
			k = replace ? table_find(&old_t, &r->k) : SIZE_MAX;
			origin[j] = k;
			new[j].v.id = k == SIZE_MAX ? ++max_id : old[k].v.id;
			table_add(&new_t);
		}
		gone[j] = false;
		new[j].v.flags = r->v.flags;
		new[j].v.action = r->v.action;
		new[j].v.to_addr = r->v.to_addr;
		new[j].v.to_port = r->v.to_port;
		memcpy(new[j].v.service, r->v.service, sizeof(r->v.service));
	}
	if (flags & UPDATE_CHECK)
		goto out;

	for (i = 0, k = 0; i < n_new; i++) {
		if (gone[i])
			continue;
		new[k] = new[i];
		origin[k++] = origin[i];
	}
	next.n = n_new = k;
	if (n_new > SPLICER_MAX_RULES) {
		err = err_failed("rule table is full: %zu rules, at most %u",
				 n_new, SPLICER_MAX_RULES);
		goto out;
	}
	ids = calloc(n_old + n_new + 1, sizeof(*ids));
	kept = calloc(n_old + 1, sizeof(*kept));
	if (!ids || !kept) {
		err = err_kernel(-ENOMEM, "rule table");
		goto out;
	}
	changed_ids(old, n_old, new, origin, n_new, kept, ids, &n_fresh,
		    &n_gone);
	/*
	 * The live rule set again (a file applied twice): nothing to
	 * publish, so no new index and no new snapshot.
	 */
	if (live.map && !n_fresh && !n_gone &&
	    same_actions(old, new, origin, n_new))
		goto out;

	/*
	 * Build (and so check that it fits) before anything changes; add
	 * routes and zero the counters of new rules before the new set goes
	 * live, remove what only the old set used after.
	 */
	err = index_build(new, n_new, &trie);
	if (!err)
		err = routes_open(&rt);
	if (!err)
		err = routes_want(rt, new, n_new);
	if (!err)
		err = routes_add(rt);
	if (!err)
		err = counters_zero(&st, ids, n_fresh);
	if (!err)
		err = rules_commit(&st, &next, trie);
	if (err) {
		/* Take back routes only the new set asked for. */
		if (rt && !routes_want(rt, old, n_old))
			routes_remove(rt);
		goto out;
	}
	counters_forget(&st, ids + n_fresh, n_gone);
	err = routes_remove(rt);
out:
	routes_close(rt);
	if (trie >= 0)
		close(trie);
	free(old_t.slot);
	free(new_t.slot);
	free(ids);
	free(kept);
	free(gone);
	free(origin);
	rules_release(&next);
	rules_release(&live);
	state_close(&st);
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
