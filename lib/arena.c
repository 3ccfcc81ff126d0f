/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The arena holds the live index and room to spare. A publish compiles
 * into free records, writes the header block, then stores its record
 * number in the anchor (record 0): the one word a packet starts from.
 *
 * New records go to the free extent [bump, limit) named by the anchor,
 * and the bump moves past them. Records an index no longer uses are
 * never in that extent: they were handed out from it earlier (below the
 * bump now), or were live when the extent was chosen (outside it). A
 * packet that read the anchor before a publish may still be walking
 * them. When the extent is too small, a grace period (every packet that
 * could hold such a pointer is done) frees everything but the live
 * records, and the largest gap between those becomes the extent. When
 * even that is too small, the arena grows: a larger copy replaces it in
 * the outer map's slot, the one step that waits for the kernel's grace
 * period inside the system call. A whole build large beside the arena
 * goes straight to a fresh one of its size and half again, with nothing
 * copied, so the arena stays near the size of one index. Writers hold
 * the pin root's lock, so there is one at a time, and the bump and limit
 * are written before the header that makes their records live, so a
 * writer killed at any point leaves an extent that holds nothing live.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "arena.h"
#include "out.h"
#include "state.h"

/*
 * The arena in the slot is pinned too, so that a writer or reader opens
 * it by path: opening a map by its id needs CAP_SYS_ADMIN. A new arena
 * is pinned as "arena-next" before it takes the slot, and renamed to
 * "arena" after, so the one in the slot always has one of the two pins.
 */
#define ARENA_PIN "arena"
#define ARENA_NEXT_PIN "arena-next"
/* The smallest arena: 4 chunks, 768 KiB. */
#define ARENA_MIN_CHUNKS 4
/* Readers retry when a publish moves the anchor under them. */
#define ARENA_READ_TRIES 64

union ix_rec *arena_rec(struct arena *a, __u32 lo, size_t n)
{
	size_t page = sysconf(_SC_PAGESIZE), i;
	size_t from = (size_t)lo * sizeof(union ix_rec);
	size_t to = ((size_t)lo + n) * sizeof(union ix_rec);
	size_t off = from & ~(page - 1),
	       len = ((to + page - 1) & ~(page - 1)) - off;
	int prot = PROT_READ | (a->write ? PROT_WRITE : 0);
	void *mem;

	for (i = 0; i < a->n_win; i++)
		if (a->win[i].off <= from &&
		    to <= a->win[i].off + a->win[i].len)
			return (void *)((char *)a->win[i].mem + from -
					a->win[i].off);
	if (lo + n > a->cap || a->n_win == ARENA_WINDOWS) {
		err_failed("rule index: records %u..%zu out of reach", lo,
			   lo + n);
		return NULL;
	}
	mem = mmap(NULL, len, prot, MAP_SHARED, a->fd, off);
	if (mem == MAP_FAILED) {
		err_kernel(-errno, "map rule index");
		return NULL;
	}
	a->win[a->n_win].mem = mem;
	a->win[a->n_win].off = off;
	a->win[a->n_win++].len = len;
	return (void *)((char *)mem + from - off);
}

/* Record 0, mapped when the arena is opened. */
static struct ix_anchor *anchor(struct arena *a)
{
	return &((union ix_rec *)a->win[0].mem)->anchor;
}

struct ix_anchor *arena_anchor(struct arena *a)
{
	return anchor(a);
}

static int arena_map(struct arena *a, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return err_kernel(-errno, "rule index info");
	if (info.value_size != sizeof(struct ix_chunk) || !info.max_entries)
		return err_failed("rule index: not an arena of this version");
	a->fd = fd;
	a->cap = (size_t)info.max_entries * SPLICER_IX_CHUNK;
	a->n_win = 0;
	if (!arena_rec(a, 0, 1)) {
		a->fd = -1;
		return -EINVAL;
	}
	return 0;
}

static void arena_unmap(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->n_win; i++)
		munmap(a->win[i].mem, a->win[i].len);
	if (a->fd >= 0)
		close(a->fd);
	a->n_win = 0;
	a->fd = -1;
	a->cap = 0;
}

/*
 * The live header block. A writer holds the lock, so it reads once; a
 * reader rereads until the anchor stayed put around its copy.
 */
static int read_live(struct arena *a)
{
	union ix_rec *hdr;
	__u32 h, again;
	int i;

	for (i = 0; i < ARENA_READ_TRIES; i++) {
		h = __atomic_load_n(&anchor(a)->header, __ATOMIC_ACQUIRE);
		a->header = 0;
		memset(&a->base, 0, sizeof(a->base));
		memset(&a->delta, 0, sizeof(a->delta));
		memset(&a->base6, 0, sizeof(a->base6));
		memset(&a->delta6, 0, sizeof(a->delta6));
		memset(&a->meta, 0, sizeof(a->meta));
		if (!h || h + SPLICER_IX_HDR_RECS > a->cap)
			return 0;
		hdr = arena_rec(a, h, SPLICER_IX_HDR_RECS);
		if (!hdr)
			return -ENOMEM;
		a->base = hdr[SPLICER_IX_HDR_BASE].part;
		a->delta = hdr[SPLICER_IX_HDR_DELTA].part;
		a->base6 = hdr[SPLICER_IX_HDR_BASE6].part;
		a->delta6 = hdr[SPLICER_IX_HDR_DELTA6].part;
		a->meta = hdr[SPLICER_IX_HDR_META].meta;
		a->header = h;
		again = __atomic_load_n(&anchor(a)->header, __ATOMIC_ACQUIRE);
		if (a->write || again == h)
			return 0;
	}
	return err_failed("rule index: changed too often while reading");
}

/*
 * A new, empty arena of chunks chunks, not yet in the slot: all of it is
 * the free extent.
 */
static int arena_new(struct arena *a, size_t chunks)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts,
		    .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	int fd, err;

	if (chunks * SPLICER_IX_CHUNK > SPLICER_IX_MAX_RECORDS)
		return err_kernel(-ENOSPC,
				  "rule index is full (%zu records needed, at "
				  "most %u): rules with source prefixes on "
				  "overlapping port ranges multiply",
				  chunks * SPLICER_IX_CHUNK,
				  SPLICER_IX_MAX_RECORDS);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "splicer_arena", sizeof(__u32),
			    sizeof(struct ix_chunk), chunks, &mopts);
	if (fd < 0)
		return err_kernel(-errno, "create rule index (%zu records)",
				  chunks * SPLICER_IX_CHUNK);
	err = arena_map(a, fd);
	if (err) {
		close(fd);
		return err;
	}
	anchor(a)->bump = 1;
	anchor(a)->limit = a->cap;
	/* every counter slot free, up to the map's size (slots.c) */
	anchor(a)->slot_bump = 1;
	anchor(a)->slot_limit = UINT32_MAX;
	anchor(a)->slot_fresh = 1;
	return 0;
}

/* Puts a's map in the outer slot: waits for the kernel's grace period. */
static int arena_install(const struct state *st, const struct arena *a)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(st->rule_index, &zero, &a->fd, BPF_ANY))
		return err_kernel(-errno, "publish rule index");
	return 0;
}

static void arena_path(const struct state *st, const char *name, char *buf,
		       size_t size)
{
	snprintf(buf, size, "%s/%s", st->root, name);
}

/* The pinned arena name names, if it is the map of id id; else -1. */
static int pinned_arena(const struct state *st, const char *name, __u32 id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[4200];
	int fd;

	arena_path(st, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.id != id) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Unpins an "arena-next" that never took the slot. */
static int arena_next_drop(const struct state *st)
{
	char path[4200];

	arena_path(st, ARENA_NEXT_PIN, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return err_kernel(-errno, "%s", path);
	return 0;
}

/* "arena-next" is the one in the slot now: it becomes "arena". */
static int arena_pin_done(const struct state *st)
{
	char from[4200], to[4200];

	arena_path(st, ARENA_NEXT_PIN, from, sizeof(from));
	arena_path(st, ARENA_PIN, to, sizeof(to));
	if (rename(from, to) && errno != ENOENT)
		return err_kernel(-errno, "%s", to);
	return 0;
}

/* a's map takes the slot: pinned as "arena-next", put in, renamed. */
static int arena_take_slot(const struct state *st, const struct arena *a)
{
	char path[4200];
	int err;

	err = arena_next_drop(st);
	if (err)
		return err;
	arena_path(st, ARENA_NEXT_PIN, path, sizeof(path));
	if (bpf_obj_pin(a->fd, path))
		return err_kernel(-errno, "%s", path);
	err = arena_install(st, a);
	return err ?: arena_pin_done(st);
}

int arena_open(const struct state *st, bool write, struct arena *a)
{
	__u32 zero = 0, id;
	bool next;
	int fd, i, err;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->write = write;
	if (st->rule_index < 0 && !write)
		return 0; /* splicer 0.1.0's pin root: no arena yet */
	if (st->rule_index < 0)
		return state_refuse_v1(st);
	for (i = 0; i < ARENA_READ_TRIES; i++) {
		if (bpf_map_lookup_elem(st->rule_index, &zero, &id)) {
			if (errno != ENOENT)
				return err_kernel(-errno, "read rule index");
			if (!write)
				return 0; /* nothing published yet */
			err = arena_new(a, ARENA_MIN_CHUNKS);
			return err ?: arena_take_slot(st, a);
		}
		fd = pinned_arena(st, ARENA_PIN, id);
		next = fd < 0;
		if (next)
			fd = pinned_arena(st, ARENA_NEXT_PIN, id);
		if (fd < 0)
			continue; /* replaced by a larger one as we looked */
		err = arena_map(a, fd);
		if (err) {
			close(fd);
			return err;
		}
		err = read_live(a);
		if (err || !write)
			return err;
		/*
		 * A writer killed between the slot and the rename left the
		 * live arena as "arena-next": it becomes "arena". One killed
		 * before the slot left an arena no packet uses: it goes.
		 */
		if (next)
			return arena_pin_done(st);
		return arena_next_drop(st);
	}
	return err_failed("rule index: the arena in use is not pinned under "
			  "%s",
			  st->root);
}

void arena_close(struct arena *a)
{
	arena_unmap(a);
}

/* ------------------------------------------------------------ placing */

/* Records the publish must not write: the live parts and its own. */
struct taken {
	__u32 lo[4], hi[4];
	size_t n;
};

static void take(struct taken *t, __u32 lo, __u32 hi)
{
	if (hi > lo) {
		t->lo[t->n] = lo;
		t->hi[t->n++] = hi;
	}
}

/* The largest extent of [1, cap) that nothing in t takes. */
static void largest_gap(const struct arena *a, const struct taken *t, __u32 *lo,
			__u32 *hi)
{
	__u64 p = 1, next, end;
	size_t i;

	*lo = *hi = 1;
	while (p < a->cap) {
		/* the next taken range at or after p, and where p's gap ends */
		end = a->cap;
		next = p;
		for (i = 0; i < t->n; i++) {
			if (t->lo[i] <= p && p < t->hi[i])
				next = t->hi[i] > next ? t->hi[i] : next;
			else if (t->lo[i] > p && t->lo[i] < end)
				end = t->lo[i];
		}
		if (next > p) {
			p = next;
			continue;
		}
		if (end - p > (__u64)(*hi - *lo)) {
			*lo = p;
			*hi = end;
		}
		p = end;
	}
}

/*
 * Waits until no packet can still read a record that is not live: every
 * tc program runs inside an RCU read-side section, and a global
 * membarrier is an RCU grace period. Where the kernel refuses it
 * (nohz_full) or skips it (one online CPU, where a preempted softirq
 * thread could still be reading), storing the slot again waits for one.
 */
int arena_grace(const struct state *st, const struct arena *a)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
	    !syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		return 0;
	return arena_install(st, a);
}

/*
 * A larger copy of the arena, every record where it was, so the live
 * header block stays valid in it. Nothing reads it yet: every record
 * but those in t is free. It takes the slot after the publish.
 */
static int arena_grow(struct arena *a, size_t need)
{
	struct arena big = { .fd = -1, .write = true };
	size_t chunks = 2 * a->cap / SPLICER_IX_CHUNK;
	union ix_rec *from, *to;
	int err;

	while (chunks * SPLICER_IX_CHUNK < 2 * need)
		chunks *= 2;

	err = arena_new(&big, chunks);
	if (err)
		return err;
	from = arena_rec(a, 0, a->cap);
	to = arena_rec(&big, 0, a->cap);
	if (!from || !to) {
		arena_unmap(&big);
		return -ENOMEM;
	}
	memcpy(to, from, a->cap * sizeof(*to));
	big.header = a->header;
	big.base = a->base;
	big.delta = a->delta;
	big.base6 = a->base6;
	big.delta6 = a->delta6;
	big.meta = a->meta;
	arena_unmap(a);
	*a = big;
	return 0;
}

/*
 * An empty arena for a whole build of n records, with room for half as
 * much again (deltas, the next build's overlap) and at least the room
 * of the smallest. It takes the slot after the publish; the records of
 * the old one are nobody's then, so nothing is copied.
 */
static int arena_fresh(struct arena *a, size_t n)
{
	struct arena fresh = { .fd = -1, .write = true };
	size_t want = 1 + n + n / 2 + ARENA_MIN_CHUNKS * SPLICER_IX_CHUNK;
	int err;

	err = arena_new(&fresh,
			(want + SPLICER_IX_CHUNK - 1) / SPLICER_IX_CHUNK);
	if (err)
		return err;
	fresh.meta = a->meta;
	/* the counter slots' extent is the pin root's, not the arena's */
	anchor(&fresh)->slot_bump = anchor(a)->slot_bump;
	anchor(&fresh)->slot_limit = anchor(a)->slot_limit;
	anchor(&fresh)->slot_fresh = anchor(a)->slot_fresh;
	arena_unmap(a);
	*a = fresh;
	return 0;
}

/* The free extent chosen anew: every record but those in t is free. */
static void new_extent(struct arena *a, const struct taken *t)
{
	__u32 lo, hi;

	largest_gap(a, t, &lo, &hi);
	anchor(a)->bump = lo;
	anchor(a)->limit = hi;
}

/*
 * Where n records go: at the bump, else after a grace period, else in a
 * larger arena (*grown). The bump moves past them.
 */
static int place(const struct state *st, struct arena *a, struct taken *t,
		 size_t n, bool whole, bool *graced, bool *grown, __u32 *pos)
{
	struct ix_anchor *an = anchor(a);
	size_t used = n, i;
	int err;

	/*
	 * A whole build that does not fit and is large beside the arena
	 * goes to a fresh one: neither a grace period nor a copy of the
	 * records it replaces.
	 */
	if ((__u64)an->bump + n > an->limit && whole && n > a->cap / 4) {
		err = arena_fresh(a, n);
		if (err)
			return err;
		*grown = true;
		t->n = 0; /* nothing of the old arena lives in the new one */
		an = anchor(a);
	}
	if ((__u64)an->bump + n > an->limit && !*graced && !*grown) {
		err = arena_grace(st, a);
		if (err)
			return err;
		*graced = true;
		new_extent(a, t);
	}
	if ((__u64)an->bump + n > an->limit) {
		for (i = 0; i < t->n; i++)
			used += t->hi[i] - t->lo[i];
		err = arena_grow(a, used);
		if (err)
			return err;
		*grown = true;
		an = anchor(a);
		new_extent(a, t);
		if ((__u64)an->bump + n > an->limit)
			return err_kernel(-ENOSPC,
					  "rule index: no room after growing");
	}
	*pos = an->bump;
	an->bump += n;
	return 0;
}

/*
 * Compiles one part into free records: first where the bump says, then,
 * if its size does not fit there, again where it does (the size does
 * not depend on the place).
 */
static int compile_into(const struct state *st, struct arena *a,
			struct taken *t, const struct rule *r, size_t n,
			const struct ix_region *reg, size_t n_reg,
			__u32 reserve, bool whole, bool *graced, bool *grown,
			struct ix_build *b)
{
	__u32 at = anchor(a)->bump, pos = 0;
	union ix_rec *to;
	int err;

	err = index_compile(r, n, reg, n_reg, at, reserve, b);
	if (err)
		return err;
	err = place(st, a, t, b->n ? b->n : 1, whole, graced, grown, &pos);
	if (!err && pos != at) {
		index_build_free(b);
		err = index_compile(r, n, reg, n_reg, pos, reserve, b);
	}
	if (err)
		return err;
	to = b->n ? arena_rec(a, b->at, b->n) : NULL;
	if (b->n && !to)
		return -ENOMEM;
	if (b->n)
		memcpy(to, b->rec, b->n * sizeof(*b->rec));
	take(t, b->part.lo, b->part.hi);
	return 0;
}

int arena_publish(const struct state *st, struct arena *a,
		  const struct arena_pub *pub)
{
	struct ix_build base = {}, delta = {};
	bool graced = false, grown = false;
	struct taken t = {};
	struct ix_meta meta = pub->meta;
	union ix_rec *hdr;
	int err = 0;

	take(&t, a->base.lo, a->base.hi);
	take(&t, a->delta.lo, a->delta.hi);
	if (pub->base)
		err = compile_into(st, a, &t, pub->base, pub->n_base, NULL, 0,
				   0, true, &graced, &grown, &base);
	if (!err)
		err = compile_into(st, a, &t, pub->delta, pub->n_delta,
				   pub->regions, pub->n_regions,
				   SPLICER_IX_HDR_RECS, false, &graced, &grown,
				   &delta);
	if (err)
		goto out;
	meta.gen = a->meta.gen + 1;
	hdr = arena_rec(a, delta.at, SPLICER_IX_HDR_RECS);
	if (!hdr) {
		err = -ENOMEM;
		goto out;
	}
	hdr[SPLICER_IX_HDR_BASE].part = pub->base ? base.part : a->base;
	hdr[SPLICER_IX_HDR_DELTA].part = delta.part;
	hdr[SPLICER_IX_HDR_META].meta = meta;
	/* IPv6's parts are in the records of IPv4's (lo, hi cover both) */
	hdr[SPLICER_IX_HDR_BASE6].part = pub->base ? base.part6 : a->base6;
	hdr[SPLICER_IX_HDR_DELTA6].part = delta.part6;
	/* The commit point: one aligned store, after every record it names. */
	__atomic_store_n(&anchor(a)->header, delta.at, __ATOMIC_RELEASE);
	/* ... or, for a new arena, taking the slot */
	if (grown)
		err = arena_take_slot(st, a);
	if (err)
		goto out; /* the old arena is still in the slot */
	a->header = delta.at;
	a->base = hdr[SPLICER_IX_HDR_BASE].part;
	a->delta = delta.part;
	a->base6 = hdr[SPLICER_IX_HDR_BASE6].part;
	a->delta6 = delta.part6;
	a->meta = meta;
out:
	index_build_free(&base);
	index_build_free(&delta);
	return err;
}

int arena_publish_rules(const struct state *st, const struct rule *r, size_t n)
{
	struct arena_pub pub = { .base = r, .n_base = n };
	struct arena a;
	int err;

	err = arena_open(st, true, &a);
	if (!err)
		err = arena_publish(st, &a, &pub);
	arena_close(&a);
	return err;
}
