/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The rule lookup: the walk of the compiled index (bpf/splicer.h) that
 * gives the winning rule for a packet. Included by splicer.bpf.c after
 * struct pkt and the maps.
 */
#ifndef SPLICER_LOOKUP_BPF_H
#define SPLICER_LOOKUP_BPF_H

/* What rule_find gives: the winning rule and where it redirects. */
struct hit {
	__u32 id;
	__u32 slot; /* its counter's */
	__be32 to_addr[4]; /* of the packet's family; IPv4: the first word */
	__be16 to_port;
	__u8 action;
	__u8 pad;
};

static __always_inline __u32 popcount(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/* Where a walk is: the index and the chunk last looked up. */
struct ix_cursor {
	void *ix;
	struct ix_chunk *chunk;
	__u32 chunk_no;
};

static __always_inline union ix_rec *ix_get(struct ix_cursor *c, __u32 idx)
{
	__u32 no = idx / SPLICER_IX_CHUNK;

	if (!c->chunk || no != c->chunk_no) {
		c->chunk = bpf_map_lookup_elem(c->ix, &no);
		c->chunk_no = no;
		if (!c->chunk)
			return NULL;
	}
	return &c->chunk->rec[idx % SPLICER_IX_CHUNK];
}

/*
 * Walks one trie of the index from its root node with key hi:lo (taken
 * from the top bit of hi; the root node takes `first` bits, every later
 * one 6, at most `levels` nodes) and returns the leaf. A key of 64 bits
 * or fewer is all in hi, lo 0. NULL only if the index is corrupt: no
 * rule, and the packet is dropped.
 */
static __always_inline union ix_rec *ix_walk(struct ix_cursor *c, __u32 idx,
					     __u64 hi, __u64 lo, __u32 first,
					     __u32 levels)
{
	__u32 stride = first, i, slot;
	union ix_rec *n;
	__u64 bit, upto;

	for (i = 0; i < levels && i < SPLICER_IX_MAX_LEVELS; i++) {
		n = ix_get(c, idx);
		if (!n)
			return NULL;
		/* stride is 1 to 6: no shift here reaches 64 */
		slot = (hi >> (64 - stride)) & 63;
		hi = (hi << (stride & 63)) | (lo >> ((64 - stride) & 63));
		lo <<= stride & 63;
		bit = 1ULL << slot;
		upto = bit | (bit - 1);
		stride = SPLICER_IX_STRIDE;
		if (n->node.vec & bit) {
			idx = n->node.base1 + popcount(n->node.vec & upto) - 1;
			continue;
		}
		idx = n->node.base0 + popcount(n->node.leafvec & upto) - 1;
		return ix_get(c, idx);
	}
	return NULL;
}

/* An address as a 128-bit key: its first and last 64 bits. */
static __always_inline __u64 addr6_hi(const __be32 *a)
{
	return (__u64)bpf_ntohl(a[0]) << 32 | bpf_ntohl(a[1]);
}

static __always_inline __u64 addr6_lo(const __be32 *a)
{
	return (__u64)bpf_ntohl(a[2]) << 32 | bpf_ntohl(a[3]);
}

/* A source trie's leaf for the packet's source. */
static __always_inline union ix_rec *
source_walk(struct ix_cursor *c, __u32 root, const struct pkt *p, const int v6)
{
	if (v6)
		return ix_walk(c, root, addr6_hi(p->saddr), addr6_lo(p->saddr),
			       SPLICER_IX_FIRST(SPLICER_IX_ADDR6_BITS),
			       SPLICER_IX_LEVELS(SPLICER_IX_ADDR6_BITS));
	return ix_walk(c, root, (__u64)bpf_ntohl(p->saddr[0]) << 32, 0,
		       SPLICER_IX_FIRST(SPLICER_IX_ADDR_BITS),
		       SPLICER_IX_LEVELS(SPLICER_IX_ADDR_BITS));
}

/*
 * The scoped answer: IPv4 walks the (ifindex, source) trie; IPv6 the
 * ifindex trie, then the source trie its leaf may name. NULL or id 0:
 * no scoped candidate wins, ask the unscoped ones.
 */
static __always_inline union ix_rec *scoped_walk(struct ix_cursor *c,
						 __u32 root,
						 const struct pkt *p,
						 __u32 ifindex, const int v6)
{
	union ix_rec *s;

	if (!v6)
		return ix_walk(c, root,
			       ((__u64)ifindex << 32) | bpf_ntohl(p->saddr[0]),
			       0, SPLICER_IX_FIRST(SPLICER_IX_SCOPED_BITS),
			       SPLICER_IX_LEVELS(SPLICER_IX_SCOPED_BITS));
	s = ix_walk(c, root, (__u64)ifindex << 32, 0,
		    SPLICER_IX_FIRST(SPLICER_IX_IFINDEX_BITS),
		    SPLICER_IX_LEVELS(SPLICER_IX_IFINDEX_BITS));
	if (s && (s->v.flags & SPLICER_IX_SOURCES))
		s = source_walk(c, s->v.sources, p, v6);
	return s;
}

/* The winner among one class's rules for this port, source, interface. */
static __always_inline struct ix_verdict *
class_lookup(struct ix_cursor *c, __u32 root, const struct pkt *p,
	     __u32 ifindex, const int v6)
{
	union ix_rec *r;

	if (!root)
		return NULL;
	r = ix_walk(c, root, (__u64)bpf_ntohs(p->dport) << 48, 0,
		    SPLICER_IX_FIRST(SPLICER_IX_PORT_BITS),
		    SPLICER_IX_LEVELS(SPLICER_IX_PORT_BITS));
	if (!r)
		return NULL;
	if (r->v.flags & SPLICER_IX_SCOPED) {
		union ix_rec *s = scoped_walk(c, r->v.scoped, p, ifindex, v6);

		if (s && s->v.id)
			return &s->v;
	}
	if (r->v.flags & SPLICER_IX_SOURCES)
		r = source_walk(c, r->v.sources, p, v6);
	return r && r->v.id ? &r->v : NULL;
}

/* The destination leaf of a /32 rule prefix equal to the address, if any. */
static __always_inline union ix_rec *
exact_find(struct ix_cursor *c, const struct pkt *p, __u32 exact, __u32 bits)
{
	__u32 addr = bpf_ntohl(p->daddr[0]), t, j, b;
	union ix_rec *k;

	if (!exact || bits < 1 || bits > SPLICER_IX_EXACT_MAX_BITS)
		return NULL;
	for (t = 0; t < 2; t++) {
		b = exact + SPLICER_IX_BUCKET_RECS *
				    splicer_ix_hash(addr, p->proto, t, bits);
		k = ix_get(c, b);
		if (!k)
			return NULL;
		for (j = 0; j < SPLICER_IX_BUCKET; j++)
			if (k->keys.addr[j] == p->daddr[0] &&
			    k->keys.proto[j] == p->proto)
				return ix_get(c, b + 1 + j);
		/* only a full first bucket sends addresses to the second */
		if (!k->keys.proto[SPLICER_IX_BUCKET - 1])
			break;
	}
	return NULL;
}

/* The same for a /128 rule prefix: buckets of one key and its leaf. */
static __always_inline union ix_rec *
exact6_find(struct ix_cursor *c, const struct pkt *p, __u32 exact, __u32 bits)
{
	__u32 fold, t, b;
	union ix_rec *k;

	if (!exact || bits < 1 || bits > SPLICER_IX_EXACT_MAX_BITS)
		return NULL;
	fold = splicer_ix_fold6(bpf_ntohl(p->daddr[0]), bpf_ntohl(p->daddr[1]),
				bpf_ntohl(p->daddr[2]), bpf_ntohl(p->daddr[3]));
	for (t = 0; t < 2; t++) {
		b = exact + SPLICER_IX_BUCKET6_RECS *
				    splicer_ix_hash(fold, p->proto, t, bits);
		k = ix_get(c, b);
		if (!k)
			return NULL;
		if (k->keys6.proto == p->proto &&
		    k->keys6.addr[0] == p->daddr[0] &&
		    k->keys6.addr[1] == p->daddr[1] &&
		    k->keys6.addr[2] == p->daddr[2] &&
		    k->keys6.addr[3] == p->daddr[3])
			return ix_get(c, b + 1);
		/* only a taken first bucket sends addresses to the second */
		if (!k->keys6.proto)
			break;
	}
	return NULL;
}

/*
 * The destination leaf of one part of the index (base or delta): the
 * longest of its rule prefixes holding the address, or NULL.
 */
static __always_inline union ix_rec *dst_leaf(struct ix_cursor *c, __u32 part,
					      const struct pkt *p, const int v6)
{
	union ix_rec *r = ix_get(c, part), *leaf;
	__u32 root;

	if (!r)
		return NULL;
	root = r->part.root[p->proto == IPPROTO_UDP];
	if (v6) {
		leaf = exact6_find(c, p, r->part.exact, r->part.exact_bits);
		if (leaf || !root)
			return leaf;
		return ix_walk(c, root, addr6_hi(p->daddr), addr6_lo(p->daddr),
			       SPLICER_IX_FIRST(SPLICER_IX_ADDR6_BITS),
			       SPLICER_IX_LEVELS(SPLICER_IX_ADDR6_BITS));
	}
	leaf = exact_find(c, p, r->part.exact, r->part.exact_bits);
	if (leaf || !root)
		return leaf;
	return ix_walk(c, root, (__u64)bpf_ntohl(p->daddr[0]) << 32, 0,
		       SPLICER_IX_FIRST(SPLICER_IX_ADDR_BITS),
		       SPLICER_IX_LEVELS(SPLICER_IX_ADDR_BITS));
}

/*
 * Copies a winner's redirect address to *out: IPv4 holds it, IPv6 names
 * the record of its struct ix_target (0: none). 0 if that record is
 * missing (a corrupt index: no rule).
 */
static __always_inline int hit_addr(struct ix_cursor *c, __be32 to_addr,
				    struct hit *out, const int v6)
{
	union ix_rec *t;

	if (!v6 || !to_addr) {
		out->to_addr[0] = to_addr;
		return 1;
	}
	t = ix_get(c, to_addr);
	if (!t)
		return 0;
	out->to_addr[0] = t->target.addr[0];
	out->to_addr[1] = t->target.addr[1];
	out->to_addr[2] = t->target.addr[2];
	out->to_addr[3] = t->target.addr[3];
	return 1;
}

/* rule_find of one family, over the header block hdr. */
static __always_inline int rule_find_in(struct ix_cursor *c, __u32 hdr,
					const struct pkt *p, __u32 ifindex,
					struct hit *out, const int v6)
{
	union ix_rec *r;
	struct ix_verdict *v;
	__u32 root;

	r = dst_leaf(c,
		     hdr + (v6 ? SPLICER_IX_HDR_DELTA6 : SPLICER_IX_HDR_DELTA),
		     p, v6);
	if (!r || !(r->cls.flags & SPLICER_IX_AUTH))
		r = dst_leaf(c,
			     hdr + (v6 ? SPLICER_IX_HDR_BASE6 :
					 SPLICER_IX_HDR_BASE),
			     p, v6);
	if (!r)
		return 0;
	root = r->cls.fallback;
	if (r->cls.id) {
		__u16 port = bpf_ntohs(p->dport);

		if (port >= r->cls.port_lo && port <= r->cls.port_hi) {
			out->id = r->cls.id;
			out->slot = r->cls.slot;
			out->action = r->cls.action;
			out->to_port = r->cls.to_port;
			return hit_addr(c, r->cls.to_addr, out, v6);
		}
		v = NULL;
	} else {
		v = class_lookup(c, r->cls.own, p, ifindex, v6);
	}
	if (!v)
		v = class_lookup(c, root, p, ifindex, v6);
	if (!v)
		return 0;
	out->id = v->id;
	out->slot = v->slot;
	out->action = v->action;
	out->to_port = v->to_port;
	return hit_addr(c, v->to_addr, out, v6);
}

/*
 * Finds the winning rule and copies its verdict to *out. The compiled
 * index already resolved precedence; the work is a bounded number of
 * record reads whatever the number of rules and prefix lengths: the
 * destination in the delta, and in the base unless the delta knows it;
 * then the own class of the longest rule prefix holding the destination,
 * then at most once the class of every shorter prefix. IPv6 packets read
 * the IPv6 parts of the same header block. One header block for the
 * whole packet. A global function, so the verifier checks its loops once
 * rather than on every path that leads here.
 */
__noinline int rule_find(const struct pkt *p, __u32 ifindex, struct hit *out)
{
	struct ix_cursor c = {};
	union ix_rec *r;
	__u32 zero = 0, hdr;

	if (!p || !out)
		return 0;
	c.ix = bpf_map_lookup_elem(&rule_arena, &zero);
	if (!c.ix)
		return 0;
	r = ix_get(&c, 0);
	if (!r)
		return 0;
	hdr = r->anchor.header;
	if (!hdr)
		return 0;
	if (p->v6)
		return rule_find_in(&c, hdr, p, ifindex, out, 1);
	return rule_find_in(&c, hdr, p, ifindex, out, 0);
}

#endif /* SPLICER_LOOKUP_BPF_H */
