/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The arena: the array of index records the datapath reads, and how a
 * compiled index is put in it without a packet seeing half of it.
 */
#ifndef SPLICER_ARENA_H
#define SPLICER_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "index.h"

struct state;

/*
 * The live arena, mapped read-only, or read-write for a writer. Only
 * the pages a command reads or writes are mapped (arena_rec()): the
 * kernel maps every page of a BPF array's mapping up front.
 */
#define ARENA_WINDOWS 8
struct arena {
	int fd; /* the inner map; -1 before the first publish */
	size_t cap; /* records */
	bool write;
	struct {
		void *mem;
		size_t off, len; /* bytes of the map */
	} win[ARENA_WINDOWS];
	size_t n_win;
	__u32 header; /* the live header block; 0: nothing published */
	struct ix_part base, delta; /* IPv4's: their records hold IPv6's */
	struct ix_part base6, delta6;
	struct ix_meta meta;
};

/* Opens the live arena; a writer (the lock held) makes one if none. */
int arena_open(const struct state *st, bool write, struct arena *a);
void arena_close(struct arena *a);

/*
 * What a publish puts in place: a new base (base != NULL) or the live
 * one kept, and the delta over it (regions: the prefixes it knows).
 */
struct arena_pub {
	const struct rule *base;
	size_t n_base;
	const struct rule *delta;
	size_t n_delta;
	const struct ix_region *regions;
	size_t n_regions;
	struct ix_meta meta; /* gen is set by arena_publish() */
};

/*
 * Compiles and publishes pub: new records go where no packet reads,
 * then one store of the anchor makes them live. Records freed by it are
 * written again only after a grace period. On failure nothing a packet
 * reads has changed.
 */
int arena_publish(const struct state *st, struct arena *a,
		  const struct arena_pub *pub);

/* Publishes r[0..n) as the base, naming no snapshot: for tests. */
int arena_publish_rules(const struct state *st, const struct rule *r, size_t n);

/* Record 0: a writer's free extents (records, counter slots). */
struct ix_anchor *arena_anchor(struct arena *a);

/*
 * Waits until no packet can read anything but what the live index names
 * (an RCU grace period).
 */
int arena_grace(const struct state *st, const struct arena *a);

/* Records lo .. lo + n - 1, mapped; NULL (with an error line) if not. */
union ix_rec *arena_rec(struct arena *a, __u32 lo, size_t n);

#endif /* SPLICER_ARENA_H */
