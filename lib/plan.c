/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What changes make of a rule set. Pure: it reads and writes memory only,
 * so its unit test runs without root and without BPF.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "util.h"

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

static size_t key_slot(const struct key_table *t, const struct rule_key *k)
{
	return fnv1a(FNV_SEED, k, sizeof(*k)) & t->mask;
}

/* Makes r[t->n] findable: the caller has just written it there. */
static void table_add(struct key_table *t)
{
	size_t i;

	if (t->slot) {
		i = key_slot(t, &t->r[t->n].k);
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
	t->slot = NULL;
	if (lookups > SCAN_LOOKUPS) {
		while (size < 2 * cap)
			size <<= 1;
		t->slot = calloc(size, sizeof(*t->slot));
		t->mask = size - 1;
		if (!t->slot)
			return -ENOMEM;
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
	for (i = key_slot(t, k); t->slot[i]; i = (i + 1) & t->mask)
		if (!memcmp(&t->r[t->slot[i] - 1].k, k, sizeof(*k)))
			return t->slot[i] - 1;
	return SIZE_MAX;
}

bool plan_wild_takes(const struct rule_change *c, const struct rule_key *k)
{
	const struct rule_key *w = &c->r.k;

	if (k->family != w->family || addr_cmp(k->dst, w->dst) ||
	    k->dst_len != w->dst_len)
		return false;
	return c->kind == CHANGE_DEL_PREFIX ||
	       (!addr_cmp(k->src, w->src) && k->src_len == w->src_len &&
		k->proto == w->proto && k->port_lo == w->port_lo &&
		k->ifindex == w->ifindex);
}

/* The wildcard deletes of the old tools; how many rules they took. */
static size_t del_matching(const struct rule_change *c, const struct rule *r,
			   size_t n, bool *gone)
{
	size_t i, hits = 0;

	for (i = 0; i < n; i++) {
		if (gone[i] || !plan_wild_takes(c, &r[i].k))
			continue;
		gone[i] = true;
		hits++;
	}
	return hits;
}

void plan_take_action(struct rule *to, const struct rule *from)
{
	to->v.flags = from->v.flags;
	to->v.action = from->v.action;
	memcpy(to->v.to_addr, from->v.to_addr, sizeof(to->v.to_addr));
	to->v.to_port = from->v.to_port;
	memcpy(to->v.service, from->v.service, sizeof(to->v.service));
}

/*
 * Runs the changes over out[0..*n), which starts as the old set (or
 * empty), marking deletes in gone[]; old_t finds old matches for replace.
 */
static int run_changes(const struct rule *old, size_t n_old,
		       const struct rule_change *ch, size_t n_ch,
		       struct key_table *old_t, struct key_table *new_t,
		       bool *gone, struct plan *p)
{
	__u32 max_id = p->max_id;
	size_t i, j, k;

	for (i = 0; i < n_old; i++)
		if (old[i].v.id > max_id)
			max_id = old[i].v.id;
	for (i = 0; i < n_ch; i++) {
		const struct rule *r = &ch[i].r;

		p->failed = i;
		if (ch[i].kind == CHANGE_DEL_ANY_HIGH ||
		    ch[i].kind == CHANGE_DEL_PREFIX) {
			if (!del_matching(&ch[i], p->r, new_t->n, gone))
				return PLAN_NO_RULE;
			continue;
		}
		j = table_find(new_t, &r->k);
		if (ch[i].kind == CHANGE_DEL) {
			if (j == SIZE_MAX || gone[j])
				return PLAN_NO_RULE;
			gone[j] = true;
			continue;
		}
		if (j == SIZE_MAX) {
			/* Without replace, every old match is in new already. */
			j = new_t->n;
			p->r[j] = (struct rule){ .k = r->k };
			k = old_t->r ? table_find(old_t, &r->k) : SIZE_MAX;
			p->origin[j] = k;
			p->r[j].v.id = k == SIZE_MAX ? ++max_id : old[k].v.id;
			/* a counter slot goes with its id (slots.c) */
			p->r[j].slot = k == SIZE_MAX ? 0 : old[k].slot;
			table_add(new_t);
		}
		gone[j] = false;
		plan_take_action(&p->r[j], r);
	}
	p->n = new_t->n;
	p->max_id = max_id;
	return 0;
}

/* Drops the rules marked gone, keeping the order of the rest. */
static void compact(struct plan *p, const bool *gone)
{
	size_t i, k;

	for (i = 0, k = 0; i < p->n; i++) {
		if (gone[i])
			continue;
		p->r[k] = p->r[i];
		p->origin[k++] = p->origin[i];
	}
	p->n = k;
}

bool plan_same_action(const struct rule_val *a, const struct rule_val *b)
{
	return a->flags == b->flags && a->action == b->action &&
	       !memcmp(a->to_addr, b->to_addr, sizeof(a->to_addr)) &&
	       a->to_port == b->to_port &&
	       !memcmp(a->service, b->service, sizeof(a->service));
}

/*
 * The ids whose counters change: those of new matches (no origin in the
 * old set), then those of old rules nothing in the new set came from;
 * and whether the new set is the old one.
 */
static int changed_ids(const struct rule *old, size_t n_old, struct plan *p)
{
	bool *kept = calloc(n_old + 1, sizeof(*kept));
	__u32 *ids = calloc(n_old + p->n + 1, sizeof(*ids));
	size_t i, n = 0;

	if (!kept || !ids) {
		free(kept);
		free(ids);
		return -ENOMEM;
	}
	p->same = p->n == n_old;
	for (i = 0; i < p->n; i++) {
		if (p->origin[i] == SIZE_MAX) {
			ids[n++] = p->r[i].v.id;
			p->same = false;
			continue;
		}
		kept[p->origin[i]] = true;
		if (p->r[i].v.id != old[p->origin[i]].v.id ||
		    !plan_same_action(&p->r[i].v, &old[p->origin[i]].v))
			p->same = false;
	}
	p->fresh = ids;
	p->n_fresh = n;
	for (i = 0; i < n_old; i++)
		if (!kept[i])
			ids[n++] = old[i].v.id;
	p->gone = ids + p->n_fresh;
	p->n_gone = n - p->n_fresh;
	free(kept);
	return 0;
}

size_t plan_cap(size_t n_old, size_t n_ch, bool replace)
{
	return (replace ? 0 : n_old) + n_ch;
}

int plan_make(const struct rule *old, size_t n_old,
	      const struct rule_change *ch, size_t n_ch, bool replace,
	      __u32 max_id, struct rule *out, struct plan *p)
{
	size_t cap = plan_cap(n_old, n_ch, replace), n = 0;
	struct key_table old_t = {}, new_t = {};
	bool *gone;
	int err;

	memset(p, 0, sizeof(*p));
	p->r = out;
	p->max_id = max_id;
	p->origin = calloc(cap + 1, sizeof(*p->origin));
	gone = calloc(cap + 1, sizeof(*gone));
	if (!p->origin || !gone) {
		err = -ENOMEM;
		goto out;
	}
	if (!replace) {
		memcpy(out, old, n_old * sizeof(*out));
		for (n = 0; n < n_old; n++)
			p->origin[n] = n;
	}
	err = table_init(&new_t, out, n, cap, n_ch);
	if (!err && replace)
		err = table_init(&old_t, old, n_old, n_old, n_ch);
	if (!err)
		err = run_changes(old, n_old, ch, n_ch, &old_t, &new_t, gone,
				  p);
	if (err)
		goto out;
	p->failed = 0;
	compact(p, gone);
	err = changed_ids(old, n_old, p);
out:
	if (err)
		p->n = 0;
	free(old_t.slot);
	free(new_t.slot);
	free(gone);
	return err;
}

void plan_free(struct plan *p)
{
	free(p->origin);
	free(p->fresh);
	memset(p, 0, sizeof(*p));
}
