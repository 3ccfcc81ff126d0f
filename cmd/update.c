/* SPDX-License-Identifier: GPL-2.0-only */
/* Changing the rule set: one or many changes, checked, then published. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmd.h"

/* Open-addressing table from rule match to position in an array. */
struct key_table {
	size_t *slot; /* position + 1; 0 is empty */
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

static int table_init(struct key_table *t, size_t n)
{
	size_t size = 16;

	while (size < 2 * n)
		size <<= 1;
	t->slot = calloc(size, sizeof(*t->slot));
	t->mask = size - 1;
	return t->slot ? 0 : err_kernel(-ENOMEM, "rule table");
}

/* Position of k in r[], or SIZE_MAX; *where receives the slot to fill. */
static size_t table_find(const struct key_table *t, const struct rule *r,
			 const struct rule_key *k, size_t *where)
{
	size_t i = key_hash(k) & t->mask;

	for (; t->slot[i]; i = (i + 1) & t->mask)
		if (!memcmp(&r[t->slot[i] - 1].k, k, sizeof(*k)))
			return t->slot[i] - 1;
	if (where)
		*where = i;
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

/*
 * The ids of the rules of a[] whose match b[] lacks, or holds under
 * another id.
 */
static size_t ids_not_in(const struct rule *a, size_t n_a, const struct rule *b,
			 const struct key_table *b_t, __u32 *ids)
{
	size_t i, j, n = 0;

	for (i = 0; i < n_a; i++) {
		j = table_find(b_t, b, &a[i].k, NULL);
		if (j == SIZE_MAX || b[j].v.id != a[i].v.id)
			ids[n++] = a[i].v.id;
	}
	return n;
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
 * Applies the changes in order to the current rule set (or to an empty
 * one with UPDATE_REPLACE), then publishes the result as one new index.
 * A rule whose match survives keeps its id and counters.
 */
int rules_update(const struct rule_change *ch, size_t n_ch, unsigned int flags)
{
	struct key_table old_t = {}, new_t = {};
	struct rule *old = NULL, *new = NULL;
	bool *gone = NULL;
	__u32 *ids = NULL;
	size_t n_old = 0, n_new = 0, i, j, k, where;
	__u32 max_id = 0;
	struct state st;
	char buf[32];
	int err, trie = -1;

	err = state_open(&st, !(flags & UPDATE_CHECK));
	if (!err && !(flags & UPDATE_CHECK))
		err = rules_check_layout(&st);
	if (!err)
		err = rules_load(&st, &old, &n_old);
	if (!err)
		err = table_init(&old_t, n_old);
	if (!err)
		err = table_init(&new_t, n_old + n_ch);
	if (err)
		goto out;
	new = calloc(n_old + n_ch + 1, sizeof(*new));
	gone = calloc(n_old + n_ch + 1, sizeof(*gone));
	if (!new || !gone) {
		err = err_kernel(-ENOMEM, "rule table");
		goto out;
	}
	for (i = 0; i < n_old; i++) {
		if (old[i].v.id > max_id)
			max_id = old[i].v.id;
		table_find(&old_t, old, &old[i].k, &where);
		old_t.slot[where] = i + 1;
		if (flags & UPDATE_REPLACE)
			continue;
		new[n_new] = old[i];
		table_find(&new_t, new, &new[n_new].k, &where);
		new_t.slot[where] = ++n_new;
	}

	for (i = 0; i < n_ch; i++) {
		const struct rule *r = &ch[i].r;

		j = table_find(&new_t, new, &r->k, &where);
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
			j = n_new++;
			new_t.slot[where] = j + 1;
			new[j].k = r->k;
			k = table_find(&old_t, old, &r->k, NULL);
			new[j].v.id = k == SIZE_MAX ? ++max_id : old[k].v.id;
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

	/* Compact away deleted rules and rebuild the lookup table. */
	memset(new_t.slot, 0, (new_t.mask + 1) * sizeof(*new_t.slot));
	for (i = 0, k = 0; i < n_new; i++) {
		if (gone[i])
			continue;
		new[k] = new[i];
		table_find(&new_t, new, &new[k].k, &where);
		new_t.slot[where] = ++k;
	}
	n_new = k;

	if (n_new > SPLICER_MAX_RULES) {
		err = err_failed("rule table is full: %zu rules, at most %u",
				 n_new, SPLICER_MAX_RULES);
		goto out;
	}
	ids = calloc(n_old + n_new + 1, sizeof(*ids));
	if (!ids) {
		err = err_kernel(-ENOMEM, "rule table");
		goto out;
	}

	/*
	 * Build (and so check that it fits) before anything changes; add
	 * routes and zero the counters of new rules before the new set goes
	 * live, remove what only the old set used after.
	 */
	err = index_build(new, n_new, &trie);
	if (!err)
		err = routes_sync(new, n_new, true, false);
	if (err)
		goto out;
	err = counters_zero(&st, ids, ids_not_in(new, n_new, old, &old_t, ids));
	if (!err)
		err = rules_commit(&st, new, n_new, trie);
	if (err) {
		/* Take back routes only the new set asked for. */
		routes_sync(old, n_old, false, true);
		goto out;
	}
	counters_forget(&st, ids, ids_not_in(old, n_old, new, &new_t, ids));
	err = routes_sync(new, n_new, false, true);
out:
	if (trie >= 0)
		close(trie);
	free(old_t.slot);
	free(new_t.slot);
	free(ids);
	free(gone);
	free(new);
	free(old);
	state_close(&st);
	return err;
}
