/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A rule change as a delta over the live base. The base is the rule set
 * as last compiled whole, sorted by match; the delta's entries say what
 * changed since, one per match (a rule, or a removal: id 0). A change
 * costs what it touches: a binary search in the base per match it
 * names, and then, for the delta index, the rules near every prefix the
 * entries name (README "Rule index"). Pure, like plan.c: its unit test
 * runs without root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "util.h"

/* The first position in s whose match is not below k. */
static size_t lower(const struct rule_seq *s, const struct rule_key *k)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rule_match_cmp(&seq_at(s, mid)->k, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The rule of match k in s, or NULL. */
static const struct rule *exact(const struct rule_seq *s,
				const struct rule_key *k)
{
	size_t i = lower(s, k);
	const struct rule *r = i < s->n ? seq_at(s, i) : NULL;

	return r && !rule_match_cmp(&r->k, k) ? r : NULL;
}

/* Rules in memory as a sequence. */
static struct rule_seq mem(const struct rule *r, size_t n)
{
	return (struct rule_seq){ .r = r, .n = n };
}

/* ---------------------------------------------------------- the plan */

/* The live rule of match k: the entry's if there is one, else the base's. */
static const struct rule *find(const struct delta_in *in,
			       const struct delta_plan *p,
			       const struct rule_key *k)
{
	struct rule_seq entries = mem(p->e, p->n);
	const struct rule *e = exact(&entries, k);

	if (e)
		return e->v.id ? e : NULL;
	return exact(&in->base, k);
}

/* Makes r the entry of its match. */
static int put(struct delta_plan *p, const struct rule *r)
{
	struct rule_seq entries = mem(p->e, p->n);
	size_t i = lower(&entries, &r->k);

	if (i < p->n && !rule_match_cmp(&p->e[i].k, &r->k)) {
		p->e[i] = *r;
		return 0;
	}
	if (grow(&p->e, &p->cap, p->n + 1, sizeof(*p->e)))
		return -ENOMEM;
	memmove(&p->e[i + 1], &p->e[i], (p->n - i) * sizeof(*p->e));
	p->e[i] = *r;
	p->n++;
	return 0;
}

/*
 * The live rule of match k goes: an entry of id 0 says so. It keeps the
 * id in .pad and the slot until the plan is done, so that the same match
 * added again by this plan gets its id and counter back, as plan.c does.
 */
static int drop(const struct delta_in *in, struct delta_plan *p,
		const struct rule *live)
{
	struct rule gone = { .k = live->k,
			     .pad = live->v.id,
			     .slot = live->slot };

	if (live->v.id <= in->max_id) {
		if (grow(&p->gone, &p->cap_gone, p->n_gone + 1,
			 sizeof(*p->gone)))
			return -ENOMEM;
		p->gone[p->n_gone++] = live->v.id;
	}
	p->n_rules--;
	p->same = false;
	return put(p, &gone);
}

/* A rule this plan dropped is back: it is not gone after all. */
static void revive(struct delta_plan *p, __u32 id)
{
	size_t i;

	for (i = 0; i < p->n_gone; i++)
		if (p->gone[i] == id) {
			p->gone[i] = p->gone[--p->n_gone];
			break;
		}
	p->n_rules++;
}

/*
 * The wildcard deletes of the old tools: every live rule of the prefix
 * (either protocol), or of the match but for the high port. Its base
 * candidates are together in the sorted base: found by one search each.
 */
static int del_wild(const struct delta_in *in, struct delta_plan *p,
		    const struct rule_change *c, size_t *hits)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct rule_key k = { .family = c->r.k.family,
			      .dst_len = c->r.k.dst_len };
	const struct rule *live;
	struct rule_key *keys = NULL;
	size_t n = 0, cap = 0, i, j;
	int err = 0;

	memcpy(k.dst, c->r.k.dst, sizeof(k.dst));
	if (c->kind == CHANGE_DEL_ANY_HIGH) {
		k = c->r.k;
		k.port_hi = 0;
	}
	for (j = 0; j < 2; j++) {
		if (c->kind == CHANGE_DEL_PREFIX)
			k.proto = protos[j];
		else if (j)
			break;
		for (i = lower(&in->base, &k);
		     !err && i < in->base.n &&
		     plan_wild_takes(c, &seq_at(&in->base, i)->k);
		     i++) {
			err = grow(&keys, &cap, n + 1, sizeof(*keys));
			if (!err)
				keys[n++] = seq_at(&in->base, i)->k;
		}
	}
	for (i = 0; !err && i < p->n; i++)
		if (p->e[i].v.id && plan_wild_takes(c, &p->e[i].k) &&
		    !exact(&in->base, &p->e[i].k)) {
			err = grow(&keys, &cap, n + 1, sizeof(*keys));
			if (!err)
				keys[n++] = p->e[i].k;
		}
	for (i = 0; !err && i < n; i++) {
		live = find(in, p, &keys[i]);
		if (!live)
			continue;
		(*hits)++;
		err = drop(in, p, live);
	}
	free(keys);
	return err;
}

static int one_change(const struct delta_in *in, struct delta_plan *p,
		      const struct rule_change *c)
{
	struct rule_seq entries = mem(p->e, p->n);
	const struct rule *live;
	struct rule r;
	size_t hits = 0;
	int err;

	if (c->kind == CHANGE_DEL_ANY_HIGH || c->kind == CHANGE_DEL_PREFIX) {
		err = del_wild(in, p, c, &hits);
		return err ?: hits ? 0 : PLAN_NO_RULE;
	}
	live = find(in, p, &c->r.k);
	if (c->kind == CHANGE_DEL)
		return live ? drop(in, p, live) : PLAN_NO_RULE;
	if (live) {
		if (plan_same_action(&live->v, &c->r.v))
			return 0;
		r = *live;
	} else if ((live = exact(&entries, &c->r.k)) && live->pad) {
		/* dropped by this plan: back with its id */
		r = (struct rule){ .k = c->r.k, .slot = live->slot };
		r.v.id = live->pad;
		revive(p, r.v.id);
	} else {
		r = (struct rule){ .k = c->r.k };
		r.v.id = ++p->max_id;
		p->n_rules++;
	}
	plan_take_action(&r, &c->r);
	p->same = false;
	return put(p, &r);
}

int delta_plan_make(const struct delta_in *in, const struct rule_change *ch,
		    size_t n_ch, struct delta_plan *p)
{
	size_t i, k;
	int err = 0;

	memset(p, 0, sizeof(*p));
	p->same = true;
	p->n_rules = in->n_rules;
	p->max_id = in->max_id;
	if (grow(&p->e, &p->cap, in->n_entries + n_ch + 1, sizeof(*p->e)))
		return -ENOMEM;
	memcpy(p->e, in->entries, in->n_entries * sizeof(*p->e));
	p->n = in->n_entries;
	for (i = 0; i < p->n; i++)
		p->e[i].pad = 0;
	for (i = 0; i < n_ch && !err; i++) {
		p->failed = i;
		err = one_change(in, p, &ch[i]);
	}
	if (!err)
		p->failed = 0;
	/*
	 * A removal says that the base's rule of its match is gone. One of
	 * a match the base does not hold (a rule only the delta had) says
	 * nothing: it goes, so that adding and deleting services does not
	 * grow the delta until the next whole build.
	 */
	for (i = 0, k = 0; i < p->n; i++) {
		p->e[i].pad = 0;
		if (!p->e[i].v.id) {
			p->e[i].slot = 0;
			if (!exact(&in->base, &p->e[i].k))
				continue;
		}
		p->e[k++] = p->e[i];
	}
	p->n = k;
	return err;
}

void delta_plan_free(struct delta_plan *p)
{
	free(p->e);
	free(p->gone);
	memset(p, 0, sizeof(*p));
}

/* --------------------------------------------------------- the index */

/* Did an entry replace or remove base rule b? */
static bool replaced(const struct delta_plan *p, const struct rule *b)
{
	struct rule_seq entries = mem(p->e, p->n);

	return exact(&entries, &b->k) != NULL;
}

static int add_to(struct rule **set, size_t *n, size_t *cap,
		  const struct rule *r, size_t max)
{
	if (*n >= max)
		return DELTA_TOO_LARGE;
	if (grow(set, cap, *n + 1, sizeof(**set)))
		return -ENOMEM;
	(*set)[(*n)++] = *r;
	return 0;
}

/* The last address of prefix a/len of family: its host bits set. */
static void prefix_end(const __be32 a[ADDR_WORDS], unsigned int len, int family,
		       __be32 end[ADDR_WORDS])
{
	unsigned int w, words = family_bits(family) / 32, cut;

	for (w = 0; w < ADDR_WORDS; w++) {
		cut = len > 32 * w ? len - 32 * w : 0;
		end[w] = a[w];
		if (w < words && cut < 32)
			end[w] = htonl(ntohl(a[w]) | ~mask4(cut));
	}
}

/*
 * The base rules near region g, into d->base_near: of every shorter
 * prefix holding it (one search per length: up to 32 for IPv4, 128 for
 * IPv6), and of g and every prefix it holds (one range).
 */
static int near_base(const struct delta_in *in, const struct ix_region *g,
		     size_t max_near, struct delta_index *d)
{
	struct rule_key k = { .family = g->family, .proto = g->proto };
	const struct rule_seq *b = &in->base;
	const struct rule *r;
	__be32 end[ADDR_WORDS];
	unsigned int len;
	size_t i;
	int err = 0;

	prefix_end(g->dst, g->len, g->family, end);
	for (len = 0; len < g->len && !err; len++) {
		memcpy(k.dst, g->dst, sizeof(k.dst));
		prefix_mask(k.dst, len);
		k.dst_len = len;
		for (i = lower(b, &k); !err && i < b->n; i++) {
			r = seq_at(b, i);
			if (r->k.family != g->family ||
			    r->k.proto != g->proto ||
			    addr_cmp(r->k.dst, k.dst) || r->k.dst_len != len)
				break;
			err = add_to(&d->base_near, &d->n_base_near,
				     &d->cap_base_near, r, max_near);
		}
	}
	memcpy(k.dst, g->dst, sizeof(k.dst));
	k.dst_len = 0;
	for (i = lower(b, &k); !err && i < b->n; i++) {
		r = seq_at(b, i);
		if (r->k.family != g->family || r->k.proto != g->proto ||
		    addr_cmp(r->k.dst, end) > 0)
			break;
		if (r->k.dst_len >= g->len)
			err = add_to(&d->base_near, &d->n_base_near,
				     &d->cap_base_near, r, max_near);
	}
	return err;
}

static bool same_region(const struct ix_region *g, const struct rule_key *k)
{
	return g->family == k->family && g->proto == k->proto &&
	       !addr_cmp(g->dst, k->dst) && g->len == k->dst_len;
}

/*
 * The distinct prefixes of entries e[0..n) (sorted by match, so that a
 * prefix's are together) into reg; returns how many.
 */
static size_t regions_of(const struct rule *e, size_t n, struct ix_region *reg)
{
	size_t i, n_reg = 0;

	for (i = 0; i < n; i++) {
		if (n_reg && same_region(&reg[n_reg - 1], &e[i].k))
			continue;
		memcpy(reg[n_reg].dst, e[i].k.dst, sizeof(reg[n_reg].dst));
		reg[n_reg].len = e[i].k.dst_len;
		reg[n_reg].proto = e[i].k.proto;
		reg[n_reg].family = e[i].k.family;
		n_reg++;
	}
	return n_reg;
}

/* Sorts set[0..*n) by match and keeps one rule of each match. */
static void unique(struct rule *set, size_t *n)
{
	size_t i, k;

	qsort(set, *n, sizeof(*set), rule_sort_match);
	for (i = 0, k = 0; i < *n; i++)
		if (!k || rule_match_cmp(&set[k - 1].k, &set[i].k))
			set[k++] = set[i];
	*n = k;
}

/* Is base rule b near region g: does either prefix hold the other? */
static bool near_region(const struct rule *b, const struct ix_region *g)
{
	unsigned int len = b->k.dst_len < g->len ? b->k.dst_len : g->len;

	return b->k.family == g->family && b->k.proto == g->proto &&
	       prefix_holds(g->dst, len, b->k.dst, len);
}

/* Is any of reg[0..n) near b? */
static bool near_any(const struct rule *b, const struct ix_region *reg,
		     size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (near_region(b, &reg[i]))
			return true;
	return false;
}

/* Does the delta now lack a region it had before? */
static bool region_lost(const struct delta_in *in, const struct ix_region *reg,
			size_t n_reg)
{
	size_t i, j = 0;

	/* both in match order: a merge */
	for (i = 0; i < in->n_entries; i++) {
		while (j < n_reg && !same_region(&reg[j], &in->entries[i].k))
			j++;
		if (j == n_reg)
			return true;
	}
	return false;
}

/* Did the delta before have region g? */
static bool known_region(const struct delta_in *in, const struct ix_region *g)
{
	struct rule_key k = { .family = g->family,
			      .proto = g->proto,
			      .dst_len = g->len };
	struct rule_seq old = mem(in->entries, in->n_entries);
	size_t i;

	memcpy(k.dst, g->dst, sizeof(k.dst));
	i = lower(&old, &k);
	return i < old.n && same_region(g, &old.r[i].k);
}

int delta_index_make(const struct delta_in *in, const struct delta_plan *p,
		     size_t max_entries, size_t max_near, struct delta_index *d)
{
	bool lost;
	size_t i;
	int err = 0;

	memset(d, 0, sizeof(*d));
	if (p->n > max_entries)
		return DELTA_TOO_LARGE;
	d->reg = calloc(p->n + 1, sizeof(*d->reg));
	if (!d->reg)
		return -ENOMEM;
	d->n_reg = regions_of(p->e, p->n, d->reg);
	/*
	 * The base is searched only for regions the delta before did not
	 * have: the rest of what is near is in what it recorded.
	 */
	if (in->near_known) {
		/* what was near only a region now gone goes with it */
		lost = region_lost(in, d->reg, d->n_reg);
		for (i = 0; i < in->n_near && !err; i++)
			if (!lost || near_any(&in->near[i], d->reg, d->n_reg))
				err = add_to(&d->base_near, &d->n_base_near,
					     &d->cap_base_near, &in->near[i],
					     max_near);
	}
	for (i = 0; i < d->n_reg && !err; i++)
		if (!in->near_known || !known_region(in, &d->reg[i]))
			err = near_base(in, &d->reg[i], max_near, d);
	if (err)
		return err;
	/* a rule near two regions was taken twice */
	unique(d->base_near, &d->n_base_near);
	for (i = 0; i < d->n_base_near && !err; i++)
		if (!replaced(p, &d->base_near[i]))
			err = add_to(&d->near, &d->n_near, &d->cap_near,
				     &d->base_near[i], max_near);
	/* every entry is in the region of its own prefix */
	for (i = 0; i < p->n && !err; i++)
		if (p->e[i].v.id)
			err = add_to(&d->near, &d->n_near, &d->cap_near,
				     &p->e[i], max_near);
	if (err)
		return err;
	unique(d->near, &d->n_near);
	return 0;
}

void delta_index_free(struct delta_index *d)
{
	free(d->reg);
	free(d->near);
	free(d->base_near);
	memset(d, 0, sizeof(*d));
}

bool delta_wants_route(const struct rule_seq *base, const struct rule *entries,
		       size_t n_entries, const __be32 dst[ADDR_WORDS], __u8 len,
		       __u8 family)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct rule_key k = { .family = family, .dst_len = len };
	struct rule_seq es = mem(entries, n_entries);
	const struct rule *b;
	size_t i, j;

	memcpy(k.dst, dst, sizeof(k.dst));
	for (i = 0; i < n_entries; i++)
		if (entries[i].v.id && entries[i].k.family == family &&
		    !addr_cmp(entries[i].k.dst, dst) &&
		    entries[i].k.dst_len == len &&
		    (entries[i].v.flags & SPLICER_RULE_ROUTE))
			return true;
	for (j = 0; j < 2; j++) {
		k.proto = protos[j];
		for (i = lower(base, &k); i < base->n; i++) {
			b = seq_at(base, i);
			if (b->k.family != family || b->k.proto != k.proto ||
			    addr_cmp(b->k.dst, dst) || b->k.dst_len != len)
				break;
			/* a replaced one was looked at above */
			if ((b->v.flags & SPLICER_RULE_ROUTE) &&
			    !exact(&es, &b->k))
				return true;
		}
	}
	return false;
}
