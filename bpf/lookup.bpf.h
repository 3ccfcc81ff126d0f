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
 * Walks one trie of the index from its root node with key (taken from
 * its top bit; the root node takes `first` bits, every later one 6, at
 * most `levels` nodes) and returns the leaf. NULL only if the index is
 * corrupt: no rule, and the packet is dropped.
 */
static __always_inline union ix_rec *
ix_walk(struct ix_cursor *c, __u32 idx, __u64 key, __u32 first, __u32 levels)
{
	__u32 stride = first, i, slot;
	union ix_rec *n;
	__u64 bit, upto;

	for (i = 0; i < levels && i < SPLICER_IX_MAX_LEVELS; i++) {
		n = ix_get(c, idx);
		if (!n)
			return NULL;
		slot = (key >> (64 - stride)) & 63;
		key <<= stride & 63;
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

/* The winner among one class's rules for this port, source, interface. */
static __always_inline struct ix_verdict *class_lookup(struct ix_cursor *c,
						       __u32 root,
						       const struct pkt *p,
						       __u32 ifindex)
{
	union ix_rec *r;
	__u64 src = bpf_ntohl(p->saddr[0]);

	if (!root)
		return NULL;
	r = ix_walk(c, root, (__u64)bpf_ntohs(p->dport) << 48,
		    SPLICER_IX_FIRST(SPLICER_IX_PORT_BITS),
		    SPLICER_IX_LEVELS(SPLICER_IX_PORT_BITS));
	if (!r)
		return NULL;
	if (r->v.flags & SPLICER_IX_SCOPED) {
		union ix_rec *s =
			ix_walk(c, r->v.scoped, ((__u64)ifindex << 32) | src,
				SPLICER_IX_FIRST(SPLICER_IX_SCOPED_BITS),
				SPLICER_IX_LEVELS(SPLICER_IX_SCOPED_BITS));

		if (s && s->v.id)
			return &s->v;
	}
	if (r->v.flags & SPLICER_IX_SOURCES)
		r = ix_walk(c, r->v.sources, src << 32,
			    SPLICER_IX_FIRST(SPLICER_IX_ADDR_BITS),
			    SPLICER_IX_LEVELS(SPLICER_IX_ADDR_BITS));
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

/*
 * The destination leaf of one part of the index (base or delta): the
 * longest of its rule prefixes holding the address, or NULL.
 */
static __always_inline union ix_rec *dst_leaf(struct ix_cursor *c, __u32 part,
					      const struct pkt *p)
{
	union ix_rec *r = ix_get(c, part), *leaf;
	__u32 root;

	if (!r)
		return NULL;
	root = r->part.root[p->proto == IPPROTO_UDP];
	leaf = exact_find(c, p, r->part.exact, r->part.exact_bits);
	if (leaf || !root)
		return leaf;
	return ix_walk(c, root, (__u64)bpf_ntohl(p->daddr[0]) << 32,
		       SPLICER_IX_FIRST(SPLICER_IX_ADDR_BITS),
		       SPLICER_IX_LEVELS(SPLICER_IX_ADDR_BITS));
}

/*
 * Finds the winning rule and copies its verdict to *out. The compiled
 * index already resolved precedence; the work is a bounded number of
 * record reads whatever the number of rules and prefix lengths: the
 * destination in the delta, and in the base unless the delta knows it;
 * then the own class of the longest rule prefix holding the destination,
 * then at most once the class of every shorter prefix. One header block
 * for the whole packet. A global function, so the verifier checks its
 * loops once rather than on every path that leads here.
 */
__noinline int rule_find(const struct pkt *p, __u32 ifindex, struct hit *out)
{
	struct ix_cursor c = {};
	union ix_rec *r;
	struct ix_verdict *v;
	__u32 zero = 0, hdr, root;

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
	r = dst_leaf(&c, hdr + SPLICER_IX_HDR_DELTA, p);
	if (!r || !(r->cls.flags & SPLICER_IX_AUTH))
		r = dst_leaf(&c, hdr + SPLICER_IX_HDR_BASE, p);
	if (!r)
		return 0;
	root = r->cls.fallback;
	if (r->cls.id) {
		__u16 port = bpf_ntohs(p->dport);

		if (port >= r->cls.port_lo && port <= r->cls.port_hi) {
			out->id = r->cls.id;
			out->action = r->cls.action;
			out->to_addr[0] = r->cls.to_addr;
			out->to_port = r->cls.to_port;
			return 1;
		}
		v = NULL;
	} else {
		v = class_lookup(&c, r->cls.own, p, ifindex);
	}
	if (!v)
		v = class_lookup(&c, root, p, ifindex);
	if (!v)
		return 0;
	out->id = v->id;
	out->action = v->action;
	out->to_addr[0] = v->to_addr;
	out->to_port = v->to_port;
	return 1;
}

#endif /* SPLICER_LOOKUP_BPF_H */
