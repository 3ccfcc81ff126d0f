/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The pure half of a rule change: what plan_make() makes of an old rule
 * set and a list of changes. No kernel, no root: cases written out, then
 * random change sequences against a plain list model, through both the
 * scan and the hash-table lookups.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "plan.h"
#include "util.h"
#include "rng.h"

static unsigned long checks, failed;

#define CHECK(cond)                                                        \
	do {                                                               \
		checks++;                                                  \
		if (!(cond)) {                                             \
			failed++;                                          \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                    \
		}                                                          \
	} while (0)

static struct rule_change add(const char *dst, int len, int port, int action)
{
	struct rule_change c = { .kind = CHANGE_ADD };

	c.r.k.family = AF_INET;
	inet_pton(AF_INET, dst, c.r.k.dst);
	c.r.k.dst_len = len;
	c.r.k.proto = IPPROTO_TCP;
	c.r.k.port_lo = c.r.k.port_hi = port;
	c.r.v.action = action;
	return c;
}

static struct rule_change del(const char *dst, int len, int port)
{
	struct rule_change c = add(dst, len, port, 0);

	c.kind = CHANGE_DEL;
	return c;
}

/* Makes the plan, into a buffer of exactly plan_cap() rules. */
static int plan(const struct rule *old, size_t n_old,
		const struct rule_change *ch, size_t n_ch, bool replace,
		struct plan *p)
{
	size_t cap = plan_cap(n_old, n_ch, replace);
	struct rule *out = calloc(cap + 1, sizeof(*out));

	return plan_make(old, n_old, ch, n_ch, replace, 0, out, p);
}

static void done(struct plan *p)
{
	free(p->r);
	plan_free(p);
}

static bool has_id(const __u32 *ids, size_t n, __u32 id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void cases(void)
{
	struct rule_change c[4];
	struct rule old[3];
	struct plan p;

	/* A first rule: id 1, its counters start at zero. */
	c[0] = add("10.0.0.0", 8, 80, SPLICER_ACT_PASS);
	CHECK(!plan(NULL, 0, c, 1, false, &p));
	CHECK(p.n == 1 && p.r[0].v.id == 1 && p.origin[0] == SIZE_MAX);
	CHECK(p.n_fresh == 1 && p.fresh[0] == 1 && !p.n_gone && !p.same);
	old[0] = p.r[0];
	done(&p);

	/* The same add again: nothing changes, nothing to publish. */
	CHECK(!plan(old, 1, c, 1, false, &p));
	CHECK(p.n == 1 && p.same && !p.n_fresh && !p.n_gone);
	done(&p);

	/* An equal match with another action: same id and counters. */
	c[0].r.v.action = SPLICER_ACT_DROP;
	CHECK(!plan(old, 1, c, 1, false, &p));
	CHECK(p.n == 1 && p.r[0].v.id == 1 && !p.same);
	CHECK(p.r[0].v.action == SPLICER_ACT_DROP && !p.n_fresh && !p.n_gone);
	done(&p);

	/* A second rule gets an id above every old one. */
	old[0].v.id = 7;
	c[0] = add("10.1.0.0", 16, 80, SPLICER_ACT_PASS);
	CHECK(!plan(old, 1, c, 1, false, &p));
	CHECK(p.n == 2 && p.r[0].v.id == 7 && p.r[1].v.id == 8);
	CHECK(p.n_fresh == 1 && p.fresh[0] == 8);
	old[1] = p.r[1];
	done(&p);

	/* A delete: the rule goes, and so do its counters. */
	c[0] = del("10.0.0.0", 8, 80);
	CHECK(!plan(old, 2, c, 1, false, &p));
	CHECK(p.n == 1 && p.r[0].v.id == 8);
	CHECK(p.n_gone == 1 && p.gone[0] == 7 && !p.n_fresh);
	done(&p);

	/* A delete of nothing fails and names its change. */
	c[0] = add("10.9.0.0", 16, 80, SPLICER_ACT_PASS);
	c[1] = del("10.2.0.0", 16, 80);
	CHECK(plan(old, 2, c, 2, false, &p) == PLAN_NO_RULE && p.failed == 1);
	done(&p);

	/* ... and so does deleting one rule twice. */
	c[0] = del("10.1.0.0", 16, 80);
	c[1] = c[0];
	CHECK(plan(old, 2, c, 2, false, &p) == PLAN_NO_RULE && p.failed == 1);
	done(&p);

	/* Deleted and added again in one change: the rule never left. */
	c[1] = add("10.1.0.0", 16, 80, SPLICER_ACT_DROP);
	CHECK(!plan(old, 2, c, 2, false, &p));
	CHECK(p.n == 2 && p.r[1].v.id == 8 && p.origin[1] == 1);
	CHECK(!p.n_fresh && !p.n_gone && !p.same);
	done(&p);

	/*
	 * A replace keeps the id of every match the old set had, gives new
	 * matches ids above the old ones, and drops the rest.
	 */
	c[0] = add("10.1.0.0", 16, 80, SPLICER_ACT_PASS);
	c[1] = add("10.3.0.0", 16, 80, SPLICER_ACT_PASS);
	CHECK(!plan(old, 2, c, 2, true, &p));
	CHECK(p.n == 2 && p.r[0].v.id == 8 && p.r[1].v.id == 9);
	CHECK(p.n_fresh == 1 && p.fresh[0] == 9);
	CHECK(p.n_gone == 1 && p.gone[0] == 7);
	done(&p);

	/* A replace by the same set, in another order, changes nothing. */
	c[0] = add("10.1.0.0", 16, 80, SPLICER_ACT_PASS);
	c[1] = add("10.0.0.0", 8, 80, SPLICER_ACT_PASS);
	CHECK(!plan(old, 2, c, 2, true, &p));
	CHECK(p.n == 2 && p.same);
	done(&p);

	/* A replace by nothing (flush) drops every rule. */
	CHECK(!plan(old, 2, NULL, 0, true, &p));
	CHECK(p.n == 0 && p.n_gone == 2 && !p.same);
	done(&p);

	/* The old tools' deletes: any high port, or a whole prefix. */
	c[0] = add("10.0.0.0", 8, 80, SPLICER_ACT_PASS);
	c[0].r.k.port_hi = 90;
	c[1] = add("10.0.0.0", 8, 81, SPLICER_ACT_PASS);
	c[2] = add("10.0.0.0", 8, 80, SPLICER_ACT_PASS);
	c[2].r.k.proto = IPPROTO_UDP;
	CHECK(!plan(NULL, 0, c, 3, false, &p));
	CHECK(p.n == 3);
	memcpy(old, p.r, 3 * sizeof(*old));
	done(&p);
	c[0] = del("10.0.0.0", 8, 80);
	c[0].kind = CHANGE_DEL_ANY_HIGH;
	CHECK(!plan(old, 3, c, 1, false, &p));
	CHECK(p.n == 2 && p.n_gone == 1 && p.gone[0] == old[0].v.id);
	done(&p);
	c[1] = c[0];
	CHECK(plan(old, 3, c, 2, false, &p) == PLAN_NO_RULE && p.failed == 1);
	done(&p);
	c[0] = del("10.0.0.0", 8, 0);
	c[0].kind = CHANGE_DEL_PREFIX;
	CHECK(!plan(old, 3, c, 1, false, &p));
	CHECK(p.n == 0 && p.n_gone == 3);
	done(&p);
	c[0] = del("10.0.0.0", 16, 0);
	c[0].kind = CHANGE_DEL_PREFIX;
	CHECK(plan(old, 3, c, 1, false, &p) == PLAN_NO_RULE);
	done(&p);
}

/*
 * The model: plain lists of rules, changed one at a time. A rule deleted
 * earlier in the same change (or, for a replace, any old rule) lies in
 * the grave, and an add of its match brings it back with its id.
 */
struct model {
	struct rule r[512];
	size_t n;
};

static int model_find(const struct model *m, const struct rule_key *k)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!memcmp(&m->r[i].k, k, sizeof(*k)))
			return i;
	return -1;
}

static struct rule model_take(struct model *m, int i)
{
	struct rule r = m->r[i];

	m->r[i] = m->r[--m->n];
	return r;
}

static __u32 model_max_id(const struct model *m)
{
	__u32 max = 0;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].v.id > max)
			max = m->r[i].v.id;
	return max;
}

/* One change; false if it is a delete of nothing. */
static bool model_apply(struct model *m, struct model *grave, __u32 *max_id,
			const struct rule_change *c)
{
	int i = model_find(m, &c->r.k), j;

	if (c->kind == CHANGE_DEL) {
		if (i < 0)
			return false;
		grave->r[grave->n++] = model_take(m, i);
		return true;
	}
	if (i < 0) {
		i = m->n++;
		j = model_find(grave, &c->r.k);
		if (j >= 0)
			m->r[i] = model_take(grave, j);
		else
			m->r[i] =
				(struct rule){ .k = c->r.k, .v.id = ++*max_id };
	}
	m->r[i].v.action = c->r.v.action;
	return true;
}

/* The families of the random changes: IPv4, IPv6 (v6) or both (mix). */
static enum { FAM_V4, FAM_V6, FAM_MIX } fam_mode;

static bool random_v6(void)
{
	return fam_mode == FAM_V6 || (fam_mode == FAM_MIX && rnd() % 2);
}

static struct rule_change random_change(void)
{
	struct rule_change c = {};

	/* few matches, so adds meet equal matches and deletes find rules */
	c.r.k.family = AF_INET;
	c.r.k.dst[0] = htonl(0x0a000000 | (rnd() % 8) << 16);
	c.r.k.dst_len = 16;
	if (random_v6()) {
		c.r.k.family = AF_INET6;
		c.r.k.dst[0] = htonl(0xfd000000);
		c.r.k.dst[1] = htonl((rnd() % 8) << 16);
		c.r.k.dst_len = 48;
	}
	c.r.k.proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
	c.r.k.port_lo = c.r.k.port_hi = 80 + rnd() % 4;
	c.r.v.action = 1 + rnd() % 3;
	c.kind = rnd() % 3 ? CHANGE_ADD : CHANGE_DEL;
	return c;
}

/* The set as a plan leaves it equals the model, in any order. */
static bool same_set(const struct plan *p, const struct model *m)
{
	size_t i;
	int j;

	if (p->n != m->n)
		return false;
	for (i = 0; i < p->n; i++) {
		j = model_find(m, &p->r[i].k);
		if (j < 0 || m->r[j].v.id != p->r[i].v.id ||
		    m->r[j].v.action != p->r[i].v.action)
			return false;
	}
	return true;
}

/* Fresh and gone ids are exactly the difference of the id sets. */
static bool right_ids(const struct rule *old, size_t n_old,
		      const struct plan *p)
{
	size_t i, j, in_new, in_old;

	for (i = 0, in_new = 0; i < p->n; i++) {
		for (j = 0; j < n_old && old[j].v.id != p->r[i].v.id; j++)
			;
		if ((j == n_old) != has_id(p->fresh, p->n_fresh, p->r[i].v.id))
			return false;
		in_new += j == n_old;
	}
	for (i = 0, in_old = 0; i < n_old; i++) {
		for (j = 0; j < p->n && p->r[j].v.id != old[i].v.id; j++)
			;
		if ((j == p->n) != has_id(p->gone, p->n_gone, old[i].v.id))
			return false;
		in_old += j == p->n;
	}
	return in_new == p->n_fresh && in_old == p->n_gone;
}

/*
 * Random changes, some short (scanned), some long (hashed), some replaces,
 * each applied to the set the last one left; a failed change must leave
 * the set as it was, as the real update leaves the live set.
 */
static void sequences(unsigned long long seed, int steps)
{
	static struct rule_change ch[64];
	static struct model m, before, grave;
	struct rule old[512];
	size_t n_old = 0, n, i;
	bool ok, replace;
	struct plan p;
	__u32 max_id;
	int step, err;

	rnd_seed(seed);
	for (step = 0; step < steps; step++) {
		n = rnd() % 3 ? 1 + rnd() % 4 : 17 + rnd() % 40;
		replace = !(rnd() % 8);
		before = m;
		max_id = model_max_id(&m);
		grave.n = 0;
		if (replace) {
			grave = m;
			m.n = 0;
		}
		ok = true;
		for (i = 0; i < n; i++) {
			ch[i] = random_change();
			if (ok && !model_apply(&m, &grave, &max_id, &ch[i]))
				ok = false;
		}
		err = plan(old, n_old, ch, n, replace, &p);
		CHECK(ok ? !err : err == PLAN_NO_RULE);
		if (!ok) {
			m = before;
			done(&p);
			continue;
		}
		CHECK(same_set(&p, &m));
		CHECK(right_ids(old, n_old, &p));
		memcpy(old, p.r, p.n * sizeof(*old));
		n_old = p.n;
		done(&p);
	}
}

/* ------------------------------------------------------------ deltas */

/* base[0..nb) with entries over it, as the store merges them. */
static size_t merged(const struct rule *b, size_t nb, const struct rule *e,
		     size_t ne, struct rule *out)
{
	size_t i, j, n = 0;

	for (i = 0; i < nb; i++) {
		for (j = 0; j < ne; j++)
			if (!rule_match_cmp(&b[i].k, &e[j].k))
				break;
		if (j == ne)
			out[n++] = b[i];
	}
	for (j = 0; j < ne; j++)
		if (e[j].v.id)
			out[n++] = e[j];
	qsort(out, n, sizeof(*out), rule_sort_match);
	return n;
}

/* Like random_change(), with prefixes that nest and the wildcards. */
static struct rule_change random_delta_change(void)
{
	static const __u8 lens[] = { 8, 16, 24, 32 };
	struct rule_change c = random_change();
	__u8 len = lens[rnd() % 4];

	if (c.r.k.family == AF_INET6) {
		static const __u8 lens6[] = { 0, 16, 32, 48, 64, 96, 127, 128 };

		/* one bit in each stretch the lengths cut: 44 prefixes */
		len = lens6[rnd() % 8];
		c.r.k.dst[0] = htonl(0xfd000000 | rnd() % 2);
		c.r.k.dst[1] = htonl((rnd() % 2) << 16);
		c.r.k.dst[2] = htonl(rnd() % 2);
		c.r.k.dst[3] = htonl(rnd() % 2);
		prefix_mask(c.r.k.dst, len);
	} else {
		c.r.k.dst[0] = htonl((0x0a000000 | (rnd() % 3) << 16 |
				      (rnd() % 3) << 8 | rnd() % 3) &
				     mask4(len));
	}
	c.r.k.dst_len = len;
	c.r.v.flags = rnd() % 4 ? 0 : SPLICER_RULE_ROUTE;
	switch (rnd() % 12) {
	case 0:
		c.kind = CHANGE_DEL_PREFIX;
		break;
	case 1:
		c.kind = CHANGE_DEL_ANY_HIGH;
		break;
	}
	return c;
}

static bool near_ok(const struct rule *set, size_t n,
		    const struct delta_index *d)
{
	size_t i, j, want = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < d->n_reg; j++) {
			const struct ix_region *g = &d->reg[j];
			__u8 len = set[i].k.dst_len < g->len ?
					   set[i].k.dst_len :
					   g->len;

			if (set[i].k.family == g->family &&
			    set[i].k.proto == g->proto &&
			    prefix_holds(g->dst, len, set[i].k.dst, len))
				break;
		}
		if (j == d->n_reg)
			continue;
		want++;
		if (!bsearch(&set[i], d->near, d->n_near, sizeof(*d->near),
			     rule_sort_match))
			return false;
	}
	return want == d->n_near;
}

/*
 * Does delta_wants_route() over base and entries say what the merged set
 * says: some rule of k's prefix and family asks for a route?
 */
static bool route_ok(const struct rule *base, size_t nb, const struct rule *e,
		     size_t ne, const struct rule *set, size_t n,
		     const struct rule_key *k)
{
	bool want = false;
	size_t i;

	for (i = 0; i < n; i++)
		want |= set[i].k.family == k->family &&
			!addr_cmp(set[i].k.dst, k->dst) &&
			set[i].k.dst_len == k->dst_len &&
			(set[i].v.flags & SPLICER_RULE_ROUTE);
	struct rule_seq b = { .r = base, .n = nb };

	return want ==
	       delta_wants_route(&b, e, ne, k->dst, k->dst_len, k->family);
}

/* The base read a rule at a time, as a large one is (store.c). */
static const struct rule *base_at(void *ctx, size_t i)
{
	return &((const struct rule *)ctx)[i];
}

/*
 * Random change sequences through delta_plan_make() over a base, beside
 * plan_make() over the whole set: the same rules, actions and labels,
 * the ids of kept rules kept, the counters' ids right, and the delta
 * index's rules exactly those near its regions, whether the base rules
 * near the regions of the delta before come from its record (mostly) or
 * from the base again, also once a region is gone; and removals only of
 * rules the base holds. Now and then the set becomes the base, as a
 * rebuild makes it.
 */
static void deltas(unsigned long long seed, int steps)
{
	static struct rule base[512], ent[512], whole[512], mine[512];
	static struct rule near[512];
	size_t n_near = 0;
	static struct rule_change ch[16];
	size_t nb = 0, ne = 0, nw = 0, nm, n, i, j;
	struct delta_index d;
	struct delta_plan dp;
	struct delta_in in;
	struct plan p;
	__u32 max_id = 0;
	int step, e1, e2;

	rnd_seed(seed);
	for (step = 0; step < steps; step++) {
		n = 1 + rnd() % (rnd() % 4 ? 3 : 12);
		for (i = 0; i < n; i++)
			ch[i] = random_delta_change();
		e1 = plan(whole, nw, ch, n, false, &p);
		in = (struct delta_in){
			.base = { .r = base, .n = nb },
			.entries = ent,
			.n_entries = ne,
			.n_rules = nw,
			.max_id = max_id,
			.near = near,
			.n_near = n_near,
			.near_known = rnd() % 8,
		};
		if (rnd() % 2)
			in.base = (struct rule_seq){ .at = base_at,
						     .ctx = base,
						     .n = nb };
		e2 = delta_plan_make(&in, ch, n, &dp);
		CHECK(e1 == e2);
		if (e1 || e2 || dp.n > 500) {
			done(&p);
			delta_plan_free(&dp);
			continue;
		}
		CHECK(dp.n_rules == p.n);
		nm = merged(base, nb, dp.e, dp.n, mine);
		CHECK(nm == p.n);
		qsort(p.r, p.n, sizeof(*p.r), rule_sort_match);
		for (i = 0; i < nm && i < p.n; i++) {
			CHECK(!rule_match_cmp(&mine[i].k, &p.r[i].k));
			CHECK(mine[i].v.action == p.r[i].v.action &&
			      mine[i].v.flags == p.r[i].v.flags);
			/* a rule that was there keeps its id in both */
			for (j = 0; j < nw; j++)
				if (!rule_match_cmp(&whole[j].k, &mine[i].k))
					break;
			if (j < nw)
				CHECK(mine[i].v.id == whole[j].v.id &&
				      p.r[i].v.id == whole[j].v.id);
			else
				CHECK(mine[i].v.id > max_id &&
				      mine[i].v.id <= dp.max_id);
		}
		CHECK(dp.n_gone == p.n_gone);
		for (i = 0; i < dp.n_gone; i++)
			CHECK(has_id(p.gone, p.n_gone, dp.gone[i]));
		/* a removal only of a base rule: churn does not grow it */
		for (i = 0; i < dp.n; i++)
			if (!dp.e[i].v.id)
				CHECK(bsearch(&dp.e[i], base, nb, sizeof(*base),
					      rule_sort_match) != NULL);
		CHECK(!delta_index_make(&in, &dp, 512, 1 << 20, &d));
		CHECK(near_ok(mine, nm, &d));
		CHECK(route_ok(base, nb, dp.e, dp.n, mine, nm, &ch[0].r.k));
		CHECK(d.n_base_near <= 512);
		n_near = d.n_base_near < 512 ? d.n_base_near : 0;
		memcpy(near, d.base_near, n_near * sizeof(*near));
		delta_index_free(&d);
		memcpy(ent, dp.e, dp.n * sizeof(*ent));
		ne = dp.n;
		max_id = dp.max_id;
		memcpy(whole, mine, nm * sizeof(*whole));
		nw = nm;
		if (!(rnd() % 16)) {
			memcpy(base, mine, nm * sizeof(*base));
			nb = nm;
			ne = 0;
			n_near = 0;
		}
		done(&p);
		delta_plan_free(&dp);
	}
}

int main(int argc, char **argv)
{
	unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	int steps = argc > 2 ? atoi(argv[2]) : 2000;

	/* plan_test SEED STEPS [v6|mix] */
	if (argc > 3)
		fam_mode = !strcmp(argv[3], "v6")  ? FAM_V6 :
			   !strcmp(argv[3], "mix") ? FAM_MIX :
						     FAM_V4;
	cases();
	sequences(seed, steps);
	deltas(seed, steps);
	printf("plan_test: %lu checks, %lu failed\n", checks, failed);
	return failed ? 1 : 0;
}
