/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counter slots. The datapath counts a rule's packets in rule_counters,
 * a preallocated per-CPU array, at the slot the index gives beside the
 * rule's id: an array lookup the verifier inlines, where a per-CPU hash
 * keyed by id cost a hash and a walk on every packet, and a counter made
 * at a rule's first packet. Nothing is allocated per rule, by the kernel
 * or by a change.
 *
 * A rule is given its slot with its id and keeps it as long as its id:
 * a rule whose match survives a change keeps both, and its counter.
 * Slot 0 is no rule's (the index's records of a set without slots name
 * it). A slot is given again only once no packet can count in it for its
 * old rule: new slots come from a free extent [slot_bump, slot_limit)
 * kept in the arena's anchor, as the arena keeps its records' (arena.c).
 * It holds no live rule's slot, and no slot a packet may still count in:
 * slots given from it are above the bump from then on, and slots freed
 * later are below it. When it is too short, a grace period (arena.c)
 * ends every packet that read an older index, and then every slot no
 * rule of the live set holds is free: the slots given are taken in
 * order from those, and the largest run left becomes the extent. A slot
 * given again is zeroed first; slots from slot_fresh on were never
 * given, so their counters are still zero from the map's making.
 *
 * A single change (delta.c) gives from the extent only; when it is short
 * the change goes the whole way, which may reclaim. A writer killed
 * after giving slots but before publishing leaves them below the bump,
 * free at the next reclaim; the extent is emptied before it is moved, so
 * a kill in between leaves none rather than a wrong one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "arena.h"
#include "out.h"
#include "rule.h"
#include "slots.h"
#include "state.h"
#include "store.h"

/* Counters move in batches of this many: few syscalls, small buffers. */
#define SLOT_BATCH 4096

static int counters_cap(const struct state *st, __u32 *cap)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(st->rule_counters, &info, &len))
		return err_kernel(-errno, "rule counters");
	*cap = info.max_entries;
	return 0;
}

size_t slots_rules_max(const struct state *st)
{
	__u32 cap;

	if (st->rule_counters < 0 || counters_cap(st, &cap) || cap < 3)
		return SPLICER_MAX_RULES;
	return (cap - 1) / 2;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Zeroes the counters of slot[0..n). */
static int zero(const struct state *st, const __u32 *slot, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	size_t ncpu = libbpf_num_possible_cpus(), i;
	__u32 cnt;
	void *z;
	int err = 0;

	if (!n)
		return 0;
	z = calloc((n < SLOT_BATCH ? n : SLOT_BATCH) * ncpu,
		   sizeof(struct counter));
	if (!z)
		return err_kernel(-ENOMEM, "rule counters");
	for (i = 0; i < n && !err; i += cnt) {
		cnt = n - i < SLOT_BATCH ? n - i : SLOT_BATCH;
		if (bpf_map_update_batch(st->rule_counters, &slot[i], z, &cnt,
					 &bo))
			err = err_kernel(-errno, "zero rule counters");
	}
	free(z);
	return err;
}

/*
 * The slots taken after a grace period, sorted: the live set's and those
 * r[0..n) keeps. *n_out of them.
 */
static int taken_slots(const struct state *st, const struct rule *r, size_t n,
		       __u32 cap, __u32 **out, size_t *n_out)
{
	struct rule *live = NULL;
	size_t n_live = 0, i, k = 0;
	__u32 *t;
	int err;

	err = rules_load(st, &live, &n_live);
	if (err)
		return err;
	t = malloc((n_live + n + 1) * sizeof(*t));
	if (!t) {
		free(live);
		return err_kernel(-ENOMEM, "rule counters");
	}
	for (i = 0; i < n_live; i++)
		if (live[i].slot && live[i].slot < cap)
			t[k++] = live[i].slot;
	for (i = 0; i < n; i++)
		if (r[i].slot && r[i].slot < cap)
			t[k++] = r[i].slot;
	free(live);
	qsort(t, k, sizeof(*t), cmp_u32);
	*out = t;
	*n_out = k;
	return 0;
}

/*
 * After a grace period: the need slots given in order from those of
 * [1, cap) nothing in taken[0..n_taken) holds, into given[]; the largest
 * run of free slots left in [*lo, *hi).
 */
static void reclaim(const __u32 *taken, size_t n_taken, __u32 cap, size_t need,
		    __u32 *given, __u32 *lo, __u32 *hi)
{
	size_t k = 0, n_given = 0;
	__u32 s = 1, end;

	*lo = *hi = 1;
	while (s < cap) {
		while (k < n_taken && taken[k] < s)
			k++;
		end = k < n_taken ? taken[k] : cap;
		while (s < end && n_given < need)
			given[n_given++] = s++;
		if (end - s > *hi - *lo) {
			*lo = s;
			*hi = end;
		}
		s = end + 1;
	}
}

int slots_give(const struct state *st, struct arena *a, struct rule *r,
	       size_t n, bool reclaim_ok)
{
	struct ix_anchor *an;
	__u32 cap = 0, lo, hi, fresh, *given = NULL, *taken = NULL;
	size_t need = 0, n_taken = 0, i, k, n_zero;
	int err;

	if (st->rule_counters < 0)
		return 0;
	err = counters_cap(st, &cap);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (!r[i].v.id)
			r[i].slot = 0; /* a delta's removal: no rule */
		else if (!r[i].slot || r[i].slot >= cap)
			need++;
	if (!need)
		return 0;
	an = arena_anchor(a);
	lo = an->slot_bump;
	hi = an->slot_limit < cap ? an->slot_limit : cap;
	fresh = an->slot_fresh;
	given = malloc(need * sizeof(*given));
	if (!given)
		return err_kernel(-ENOMEM, "rule counters");
	if (lo && hi > lo && hi - lo >= need) {
		for (k = 0; k < need; k++)
			given[k] = lo + k;
		lo += need;
	} else if (!reclaim_ok) {
		free(given);
		return SLOTS_SHORT;
	} else {
		err = arena_grace(st, a);
		if (!err)
			err = taken_slots(st, r, n, cap, &taken, &n_taken);
		for (i = 1, k = 0; !err && i < n_taken; i++)
			k += taken[i] == taken[i - 1];
		/*
		 * Slot 0 is none's. slots_rules_max() leaves room for the
		 * new rules beside those they replace: no change gets here.
		 */
		if (!err && (size_t)cap - 1 - (n_taken - k) < need)
			err = err_failed("rule table is full: no counter slot "
					 "left for %zu new rules",
					 need);
		if (err) {
			free(taken);
			free(given);
			return err;
		}
		reclaim(taken, n_taken, cap, need, given, &lo, &hi);
		free(taken);
		/* no extent while it moves: a kill leaves none, not a wrong one */
		__atomic_store_n(&an->slot_limit, 0, __ATOMIC_RELEASE);
	}
	/* given[] ascends: those below fresh were given before */
	for (n_zero = 0; n_zero < need && given[n_zero] < fresh; n_zero++)
		;
	err = zero(st, given, n_zero);
	if (!err) {
		for (i = 0, k = 0; i < n; i++)
			if (r[i].v.id && (!r[i].slot || r[i].slot >= cap))
				r[i].slot = given[k++];
		if (given[need - 1] >= fresh)
			an->slot_fresh = given[need - 1] + 1;
		an->slot_bump = lo;
		__atomic_store_n(&an->slot_limit, hi, __ATOMIC_RELEASE);
	}
	free(given);
	return err;
}

static void legacy_path(const struct state *st, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", st->root, SPLICER_MAP_RULE_STATS_V1);
}

bool slots_legacy(const struct state *st)
{
	char path[4200];

	legacy_path(st, path, sizeof(path));
	return !access(path, F_OK);
}

static int cmp_rule_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->v.id < y->v.id ? -1 : x->v.id > y->v.id;
}

/*
 * Copies every counter of the per-id map to its rule's slot: the map is
 * walked in batches (it holds a counter only for rules that saw a
 * packet), each id found among the live rules by binary search.
 */
int slots_legacy_copy(const struct state *st)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	size_t ncpu = libbpf_num_possible_cpus(), n = 0, i;
	struct rule *r = NULL, key = {}, *hit;
	__u32 *keys = NULL, cnt, batch = 0, *from = NULL;
	char path[4200], *vals = NULL;
	int fd, err = 0, more = 0;

	if (st->rule_counters < 0)
		return 0;
	legacy_path(st, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_kernel(-errno, "%s", path);
	err = rules_load(st, &r, &n);
	keys = malloc(SLOT_BATCH * sizeof(*keys));
	vals = malloc(SLOT_BATCH * ncpu * sizeof(struct counter));
	if (!err && (!keys || !vals))
		err = err_kernel(-ENOMEM, "rule counters");
	if (!err)
		qsort(r, n, sizeof(*r), cmp_rule_id);
	while (!err && !more) {
		cnt = SLOT_BATCH;
		/* ENOENT: the last batch, or none */
		more = bpf_map_lookup_batch(fd, from, &batch, keys, vals, &cnt,
					    &bo);
		if (more && errno != ENOENT)
			err = err_kernel(-errno, "%s", path);
		from = &batch;
		for (i = 0; i < cnt && !err; i++) {
			key.v.id = keys[i];
			hit = bsearch(&key, r, n, sizeof(*r), cmp_rule_id);
			if (hit && hit->slot &&
			    bpf_map_update_elem(
				    st->rule_counters, &hit->slot,
				    vals + i * ncpu * sizeof(struct counter),
				    BPF_ANY))
				err = err_kernel(-errno, "rule counters");
		}
	}
	free(vals);
	free(keys);
	free(r);
	close(fd);
	return err;
}

int slots_legacy_drop(const struct state *st)
{
	char path[4200];

	legacy_path(st, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return err_kernel(-errno, "%s", path);
	return 0;
}
