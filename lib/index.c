/* SPDX-License-Identifier: GPL-2.0-only */
/* Compiles the rule set into the datapath's lookup index and publishes it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "index.h"
#include "util.h"
#include "out.h"
#include "state.h"

/*
 * How the index answers "which rule wins?" (the records are described in
 * bpf/splicer.h):
 *
 * 1. A hash table of the /32 rule prefixes, then a destination trie per
 *    protocol, map an address to the longest rule prefix holding it.
 *    That prefix's leaf names two classes (or holds its one plain rule):
 *    its own rules, and every rule of a shorter prefix holding it (the
 *    fallback). Precedence puts the longest destination first, so an own
 *    rule that matches always wins, and the fallback is asked only when
 *    none does.
 * 2. A class is a port trie: the candidates' port ranges cut 0-65535 into
 *    stretches, each with the winner of the candidates covering it.
 * 3. Where a candidate has a source prefix or an interface scope, the
 *    stretch's leaf points to source tries instead, whose leaves hold the
 *    winner among the candidates holding that source.
 *
 * A rule costs records in its own class, in the destination trie and, for
 * a prefix that holds others, in the one fallback class shared by all of
 * them: index size grows with the rules, not with their overlaps.
 */

/*
 * Trie keys are up to 128 bits (an IPv6 address), taken from their top
 * bit: a key of width w bits is a number below 2^w.
 */
typedef unsigned __int128 ixkey;

/* The largest key of a width-bit key space. */
static ixkey key_max(unsigned int width)
{
	return width == 128 ? ~(ixkey)0 : ((ixkey)1 << width) - 1;
}

/* An address of family as a key of family_bits(family) bits. */
static ixkey addr_key(const __be32 a[ADDR_WORDS], int family)
{
	ixkey k = 0;
	unsigned int w;

	if (family != AF_INET6)
		return ntohl(a[0]);
	for (w = 0; w < ADDR_WORDS; w++)
		k = k << 32 | ntohl(a[w]);
	return k;
}

/* Negative when a beats b: the documented precedence, then the older id. */
static int precedence(const struct rule *a, const struct rule *b)
{
	__u32 wa = a->k.port_hi - a->k.port_lo;
	__u32 wb = b->k.port_hi - b->k.port_lo;

	if (a->k.dst_len != b->k.dst_len)
		return b->k.dst_len - a->k.dst_len;
	if (a->k.src_len != b->k.src_len)
		return b->k.src_len - a->k.src_len;
	if (wa != wb)
		return wa < wb ? -1 : 1;
	if (a->k.port_lo != b->k.port_lo)
		return a->k.port_lo < b->k.port_lo ? -1 : 1;
	if (!a->k.ifindex != !b->k.ifindex)
		return a->k.ifindex ? -1 : 1;
	return a->v.id < b->v.id ? -1 : a->v.id > b->v.id;
}

static int cmp_precedence(const void *a, const void *b)
{
	return precedence(*(const struct rule *const *)a,
			  *(const struct rule *const *)b);
}

/* ------------------------------------------------------------ records */

/*
 * Leaf values live outside the record array (which moves as it grows)
 * until a trie copies them in; `values` owns them.
 */
struct compiler {
	union ix_rec *rec; /* rec[i] becomes arena record at + i */
	size_t n_rec, cap_rec;
	__u32 at;
	int family; /* of the part being compiled */
	unsigned int bits; /* its addresses' */
	union ix_rec **values;
	size_t n_values, cap_values;
	/* candidate sets that need source tries, shared when equal */
	struct srcset *sets;
	size_t n_sets, cap_sets;
	size_t *set_slot; /* hash: index + 1, 0 empty */
	size_t set_mask;
	/* /32 (/128) destinations, for the exact table */
	struct exact *exact;
	size_t n_exact, cap_exact;
	/* IPv6 redirect addresses: their struct ix_target records */
	struct target *targets; /* hash, rec 0 empty */
	size_t n_targets, target_mask;
};

struct exact {
	__be32 addr[ADDR_WORDS];
	__u8 proto;
	const union ix_rec *leaf;
};

struct target {
	__be32 addr[ADDR_WORDS];
	__u32 rec;
};

struct srcset {
	const struct rule **rules; /* in precedence order */
	size_t n;
	__u64 hash;
	union ix_rec *leaf;
};

static const union ix_rec no_match;
_Static_assert(sizeof(union ix_rec) == 24, "index records are 24 bytes");

/*
 * The records grow in an anonymous mapping that asks for huge pages:
 * first touches of fresh memory, page by page, cost more than building
 * the index (tens of microseconds a page on some virtual machines).
 */
static int rec_alloc(struct compiler *c, size_t k, __u32 *first)
{
	size_t cap = c->cap_rec ? c->cap_rec : 1U << 16;
	union ix_rec *tmp;

	if (c->n_rec + k > SPLICER_IX_MAX_RECORDS)
		return err_kernel(-ENOSPC,
				  "rule index is full (%zu records of %u): "
				  "rules with source prefixes on overlapping "
				  "port ranges multiply",
				  c->n_rec, SPLICER_IX_MAX_RECORDS);
	while (cap < c->n_rec + k)
		cap *= 2;
	if (cap != c->cap_rec) {
		if (c->rec)
			tmp = mremap(c->rec, c->cap_rec * sizeof(*tmp),
				     cap * sizeof(*tmp), MREMAP_MAYMOVE);
		else
			tmp = mmap(NULL, cap * sizeof(*tmp),
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tmp == MAP_FAILED)
			return err_kernel(-ENOMEM, "build rule index");
		madvise(tmp, cap * sizeof(*tmp), MADV_HUGEPAGE);
		c->rec = tmp;
		c->cap_rec = cap;
	}
	/* every record handed out is written in full by its taker */
	*first = c->at + c->n_rec;
	c->n_rec += k;
	return 0;
}

/* The record that will be arena record idx. */
static union ix_rec *rec_at(struct compiler *c, __u32 idx)
{
	return &c->rec[idx - c->at];
}

static union ix_rec *value_new(struct compiler *c)
{
	union ix_rec *v;

	if (grow(&c->values, &c->cap_values, c->n_values + 1,
		 sizeof(*c->values)))
		return NULL;
	v = calloc(1, sizeof(*v));
	if (v)
		c->values[c->n_values++] = v;
	return v;
}

static int grow_targets(struct compiler *c)
{
	size_t size = c->targets ? 2 * (c->target_mask + 1) : 64, i, j;
	struct target *t = calloc(size, sizeof(*t));

	if (!t)
		return err_kernel(-ENOMEM, "build rule index");
	for (i = 0; c->targets && i <= c->target_mask; i++) {
		if (!c->targets[i].rec)
			continue;
		for (j = fnv1a(FNV_SEED, c->targets[i].addr, 16) & (size - 1);
		     t[j].rec; j = (j + 1) & (size - 1))
			;
		t[j] = c->targets[i];
	}
	free(c->targets);
	c->targets = t;
	c->target_mask = size - 1;
	return 0;
}

/*
 * A rule's redirect address as its verdicts hold it: IPv4 the address
 * itself; IPv6 the record of a struct ix_target holding it, one record
 * per distinct address (0: none).
 */
static int target_of(struct compiler *c, const struct rule *r, __be32 *to)
{
	static const __be32 none[ADDR_WORDS];
	struct target *t;
	size_t i;
	int err;

	*to = r->v.to_addr[0];
	if (c->family != AF_INET6)
		return 0;
	*to = 0;
	if (!memcmp(r->v.to_addr, none, sizeof(none)))
		return 0;
	if (2 * (c->n_targets + 1) > (c->targets ? c->target_mask + 1 : 0) &&
	    (err = grow_targets(c)))
		return err;
	for (i = fnv1a(FNV_SEED, r->v.to_addr, 16) & c->target_mask;
	     c->targets[i].rec; i = (i + 1) & c->target_mask) {
		t = &c->targets[i];
		if (!memcmp(t->addr, r->v.to_addr, sizeof(t->addr))) {
			*to = t->rec;
			return 0;
		}
	}
	t = &c->targets[i];
	err = rec_alloc(c, 1, &t->rec);
	if (err)
		return err;
	memcpy(t->addr, r->v.to_addr, sizeof(t->addr));
	memset(rec_at(c, t->rec), 0, sizeof(union ix_rec));
	memcpy(rec_at(c, t->rec)->target.addr, t->addr, sizeof(t->addr));
	c->n_targets++;
	*to = t->rec;
	return 0;
}

/* A verdict of rule r in v. */
static int verdict_set(struct compiler *c, const struct rule *r,
		       union ix_rec *v)
{
	v->v.id = r->v.id;
	v->v.slot = r->slot;
	v->v.action = r->v.action;
	v->v.to_port = r->v.to_port;
	return target_of(c, r, &v->v.to_addr);
}

static union ix_rec *verdict_of(struct compiler *c, const struct rule *r)
{
	union ix_rec *v = value_new(c);

	return v && !verdict_set(c, r, v) ? v : NULL;
}

/* -------------------------------------------------------------- tries */

/* From lo up to the next run's lo, the key leads to val (NULL: none). */
struct run {
	ixkey lo;
	const union ix_rec *val;
};

static bool same_leaf(const union ix_rec *a, const union ix_rec *b)
{
	return a == b ||
	       !memcmp(a ? a : &no_match, b ? b : &no_match, sizeof(*a));
}

/* Appends a run, merging it with an equal neighbour or one at lo. */
static void emit(struct run *runs, size_t *n, ixkey lo, const union ix_rec *val)
{
	if (*n && runs[*n - 1].lo == lo)
		(*n)--;
	if (*n && same_leaf(runs[*n - 1].val, val))
		return;
	runs[(*n)++] = (struct run){ .lo = lo, .val = val };
}

/*
 * Fills node `at` covering keys base .. base + 2^bits - 1 from runs (the
 * first of which starts at or before base), slots of `stride` bits.
 */
static int build_node(struct compiler *c, const struct run *runs, size_t n,
		      ixkey base, unsigned int bits, unsigned int stride,
		      __u32 at)
{
	unsigned int rest = bits - stride, s, n_child = 0, n_leaf = 0;
	ixkey last = base + key_max(bits);
	const union ix_rec *leaf[64];
	size_t child_run[64], child_n[64], r = 0, e;
	__u64 vec = 0, leafvec = 0;
	ixkey lo, hi;
	__u32 base0 = 0, base1 = 0, i;
	int err;

	/*
	 * A slot a run starts inside of is a child; the others are leaves,
	 * and a stretch of them up to the slot of the next run's start all
	 * lead where one run does: the walk jumps over it, so a node costs
	 * what its runs are, not its 64 slots.
	 */
	for (s = 0; s < 1U << stride;) {
		lo = base + ((ixkey)s << rest);
		hi = lo + (((ixkey)1 << rest) - 1);
		while (r + 1 < n && runs[r + 1].lo <= lo)
			r++;
		if (r + 1 < n && runs[r + 1].lo <= hi) {
			for (e = r + 1; e < n && runs[e].lo <= hi; e++)
				;
			child_run[n_child] = r;
			child_n[n_child++] = e - r;
			vec |= 1ULL << s;
			r = e - 1;
			s++;
			continue;
		}
		if (!n_leaf || !same_leaf(leaf[n_leaf - 1], runs[r].val)) {
			leaf[n_leaf++] = runs[r].val;
			leafvec |= 1ULL << s;
		}
		if (r + 1 == n || runs[r + 1].lo > last)
			break;
		s = (runs[r + 1].lo - base) >> rest;
	}
	if (n_child && (err = rec_alloc(c, n_child, &base1)))
		return err;
	if (n_leaf && (err = rec_alloc(c, n_leaf, &base0)))
		return err;
	for (i = 0; i < n_leaf; i++)
		*rec_at(c, base0 + i) = leaf[i] ? *leaf[i] : no_match;
	rec_at(c, at)->node = (struct ix_node){
		.vec = vec, .leafvec = leafvec, .base1 = base1, .base0 = base0
	};
	for (i = 0, s = 0; i < n_child; i++, s++) {
		while (!(vec & (1ULL << s)))
			s++;
		err = build_node(c, runs + child_run[i], child_n[i],
				 base + ((ixkey)s << rest), rest,
				 SPLICER_IX_STRIDE, base1 + i);
		if (err)
			return err;
	}
	return 0;
}

/* A trie over width-bit keys; its root node takes the odd bits. */
static int trie_build(struct compiler *c, const struct run *runs, size_t n,
		      unsigned int width, __u32 *root)
{
	struct run none = { 0, NULL };
	int err;

	err = rec_alloc(c, 1, root);
	if (!err)
		err = build_node(c, n ? runs : &none, n ? n : 1, 0, width,
				 SPLICER_IX_FIRST(width), *root);
	return err;
}

/* A prefix of a width-bit key space and where it leads. */
struct pfx {
	ixkey start;
	unsigned int len;
	const union ix_rec *val;
};

static ixkey pfx_last(const struct pfx *p, unsigned int width)
{
	return p->start + key_max(width - p->len);
}

static int cmp_pfx(const void *a, const void *b)
{
	const struct pfx *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (int)x->len - (int)y->len;
}

/*
 * Longest-prefix match as runs: distinct prefixes are nested or apart,
 * so one pass with a stack of the prefixes holding the current key does.
 */
static int trie_of_prefixes(struct compiler *c, struct pfx *p, size_t n,
			    unsigned int width, __u32 *root)
{
	struct run *runs = malloc((2 * n + 1) * sizeof(*runs));
	const struct pfx *stack[SPLICER_IX_ADDR6_BITS + 1];
	size_t i, nr = 0, depth = 0;
	ixkey last;
	int err;

	if (!runs)
		return err_kernel(-ENOMEM, "build rule index");
	qsort(p, n, sizeof(*p), cmp_pfx);
	emit(runs, &nr, 0, NULL);
	for (i = 0; i <= n; i++) {
		while (depth && (i == n || pfx_last(stack[depth - 1], width) <
						   p[i].start)) {
			last = pfx_last(stack[--depth], width);
			if (last != key_max(width))
				emit(runs, &nr, last + 1,
				     depth ? stack[depth - 1]->val : NULL);
		}
		if (i == n)
			break;
		emit(runs, &nr, p[i].start, p[i].val);
		stack[depth++] = &p[i];
	}
	err = trie_build(c, runs, nr, width, root);
	free(runs);
	return err;
}

/* ------------------------------------------------------------ classes */

/* A source prefix in use, and the best candidate holding it. */
struct src_pfx {
	ixkey start;
	unsigned int len;
	size_t best; /* position in the best-first candidate set */
};

static int cmp_src_pfx(const void *a, const void *b)
{
	const struct src_pfx *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->len != y->len)
		return (int)x->len - (int)y->len;
	return x->best < y->best ? -1 : x->best > y->best;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* The interfaces candidates are scoped to, each once, sorted; how many. */
static size_t scopes_of(const struct rule **set, size_t n, __u32 *scope)
{
	size_t i, k, n_scope = 0;

	for (i = 0; i < n; i++)
		if (set[i]->k.ifindex)
			scope[n_scope++] = set[i]->k.ifindex;
	qsort(scope, n_scope, sizeof(*scope), cmp_u32);
	for (i = 0, k = 0; i < n_scope; i++)
		if (!k || scope[k - 1] != scope[i])
			scope[k++] = scope[i];
	return k;
}

/*
 * One source trie of a best-first candidate set. Unscoped: the unscoped
 * candidates and those scoped to interface `only` (0: none), keyed by
 * source (32 or 128 bits). Scoped (IPv4 only): for every interface a
 * candidate is scoped to, its own and the unscoped candidates, keyed by
 * ifindex << 32 | source (64 bits). Each source prefix in use leads to
 * the best candidate whose source holds it. Sorted by address, a prefix
 * comes after every prefix holding it, so one pass with a stack of the
 * holders carries their best down.
 */
static int source_trie(struct compiler *c, const struct rule **set, size_t n,
		       bool scoped, __u32 only, __u32 *root)
{
	unsigned int width = scoped ? SPLICER_IX_SCOPED_BITS : c->bits;
	__u32 *scope = malloc(n * sizeof(*scope) + sizeof(*scope));
	size_t i, k, n_scope, ns = 0, np = 0, depth = 0;
	size_t stack[SPLICER_IX_ADDR6_BITS + 2];
	struct src_pfx *sp = NULL;
	struct pfx *p = NULL;
	int err = 0;

	if (!scope)
		return err_kernel(-ENOMEM, "build rule index");
	n_scope = scoped ? scopes_of(set, n, scope) : 1;
	if (!scoped)
		scope[0] = only;
	sp = malloc(n * n_scope * sizeof(*sp) + sizeof(*sp));
	p = malloc(n * n_scope * sizeof(*p) + sizeof(*p));
	if (!sp || !p) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	for (k = 0; k < n_scope; k++)
		for (i = 0; i < n; i++) {
			if (set[i]->k.ifindex && set[i]->k.ifindex != scope[k])
				continue;
			sp[ns].start = addr_key(set[i]->k.src, c->family);
			sp[ns].len = set[i]->k.src_len;
			if (scoped) {
				sp[ns].start |= (ixkey)scope[k] << 32;
				sp[ns].len += 32;
			}
			sp[ns++].best = i;
		}
	qsort(sp, ns, sizeof(*sp), cmp_src_pfx);
	for (i = 0; i < ns; i++) {
		/* of equal prefixes the first is the best */
		if (np && sp[np - 1].start == sp[i].start &&
		    sp[np - 1].len == sp[i].len)
			continue;
		sp[np] = sp[i];
		p[np] = (struct pfx){ .start = sp[i].start, .len = sp[i].len };
		while (depth &&
		       pfx_last(&p[stack[depth - 1]], width) < p[np].start)
			depth--;
		if (depth && sp[stack[depth - 1]].best < sp[np].best)
			sp[np].best = sp[stack[depth - 1]].best;
		stack[depth++] = np++;
	}
	for (i = 0; i < np && !err; i++) {
		p[i].val = verdict_of(c, set[sp[i].best]);
		if (!p[i].val)
			err = err_kernel(-ENOMEM, "build rule index");
	}
	if (!err)
		err = trie_of_prefixes(c, p, np, width, root);
out:
	free(scope);
	free(sp);
	free(p);
	return err;
}

/*
 * The scoped trie of an IPv6 stretch: over the ifindex, for every
 * interface a candidate is scoped to, a verdict: the best of its own and
 * the unscoped candidates, or, if any of them has a source, a source trie
 * of them (SPLICER_IX_SOURCES). Other interfaces lead to no rule.
 */
static int scope_trie6(struct compiler *c, const struct rule **set, size_t n,
		       __u32 *root)
{
	__u32 *scope = malloc(n * sizeof(*scope) + sizeof(*scope));
	struct pfx *p = malloc(n * sizeof(*p) + sizeof(*p));
	size_t i, k, n_scope;
	const struct rule *best;
	union ix_rec *v;
	bool any_src;
	int err = 0;

	if (!scope || !p) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	n_scope = scopes_of(set, n, scope);
	for (k = 0; k < n_scope && !err; k++) {
		best = NULL;
		any_src = false;
		for (i = 0; i < n; i++) {
			if (set[i]->k.ifindex && set[i]->k.ifindex != scope[k])
				continue;
			any_src |= set[i]->k.src_len != 0;
			if (!best)
				best = set[i];
		}
		v = value_new(c);
		if (!v) {
			err = err_kernel(-ENOMEM, "build rule index");
			break;
		}
		if (any_src) {
			v->v.flags = SPLICER_IX_SOURCES;
			err = source_trie(c, set, n, false, scope[k],
					  &v->v.sources);
		} else {
			err = verdict_set(c, best, v);
		}
		p[k] = (struct pfx){ .start = scope[k],
				     .len = SPLICER_IX_IFINDEX_BITS,
				     .val = v };
	}
	if (!err)
		err = trie_of_prefixes(c, p, n_scope, SPLICER_IX_IFINDEX_BITS,
				       root);
out:
	free(scope);
	free(p);
	return err;
}

/*
 * The leaf of a stretch whose best-first candidates involve sources: a
 * source trie unless every unscoped candidate takes any source (then the
 * best of them is the leaf's own verdict), and a scoped trie, asked
 * first, when some candidate is scoped to an interface.
 */
static int source_tries(struct compiler *c, const struct rule **set, size_t n,
			union ix_rec *leaf)
{
	bool any_src = false, any_scoped = false;
	const struct rule *plain = NULL;
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++) {
		any_scoped |= set[i]->k.ifindex != 0;
		any_src |= !set[i]->k.ifindex && set[i]->k.src_len;
		if (!plain && !set[i]->k.ifindex)
			plain = set[i];
	}
	if (any_src) {
		err = source_trie(c, set, n, false, 0, &leaf->v.sources);
		leaf->v.flags |= SPLICER_IX_SOURCES;
	} else if (plain) {
		err = verdict_set(c, plain, leaf);
	}
	if (any_scoped && !err) {
		if (c->family == AF_INET6)
			err = scope_trie6(c, set, n, &leaf->v.scoped);
		else
			err = source_trie(c, set, n, true, 0, &leaf->v.scoped);
		leaf->v.flags |= SPLICER_IX_SCOPED;
	}
	return err;
}

static __u64 set_hash(const struct rule **set, size_t n)
{
	return fnv1a(FNV_SEED, set, n * sizeof(*set));
}

static int grow_sets(struct compiler *c)
{
	size_t size = c->set_slot ? 2 * (c->set_mask + 1) : 1024, i, j;
	size_t *slot = calloc(size, sizeof(*slot));

	if (!slot)
		return err_kernel(-ENOMEM, "build rule index");
	for (i = 0; i < c->n_sets; i++) {
		for (j = c->sets[i].hash & (size - 1); slot[j];
		     j = (j + 1) & (size - 1))
			;
		slot[j] = i + 1;
	}
	free(c->set_slot);
	c->set_slot = slot;
	c->set_mask = size - 1;
	return 0;
}

/* The leaf of a stretch whose candidates (best first) involve sources. */
static int source_leaf(struct compiler *c, const struct rule **set, size_t n,
		       const union ix_rec **leaf)
{
	__u64 h = set_hash(set, n);
	struct srcset *s;
	size_t i;
	int err;

	if (2 * (c->n_sets + 1) > (c->set_slot ? c->set_mask + 1 : 0)) {
		err = grow_sets(c);
		if (err)
			return err;
	}
	for (i = h & c->set_mask; c->set_slot[i]; i = (i + 1) & c->set_mask) {
		s = &c->sets[c->set_slot[i] - 1];
		if (s->hash == h && s->n == n &&
		    !memcmp(s->rules, set, n * sizeof(*set))) {
			*leaf = s->leaf;
			return 0;
		}
	}
	if (grow(&c->sets, &c->cap_sets, c->n_sets + 1, sizeof(*c->sets)))
		return err_kernel(-ENOMEM, "build rule index");
	s = &c->sets[c->n_sets];
	s->rules = malloc(n * sizeof(*set));
	s->leaf = value_new(c);
	if (!s->rules || !s->leaf) {
		free(s->rules);
		return err_kernel(-ENOMEM, "build rule index");
	}
	memcpy(s->rules, set, n * sizeof(*set));
	s->n = n;
	s->hash = h;
	c->set_slot[i] = ++c->n_sets;
	*leaf = s->leaf;
	return source_tries(c, s->rules, n, s->leaf);
}

struct edge {
	__u32 port; /* where a candidate starts, or one past its end */
	__u32 rank; /* the candidate, by precedence */
	bool start;
};

static int cmp_edge(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->port < y->port ? -1 : x->port > y->port;
}

/* A min-heap of candidate ranks: the best active one is on top. */
struct heap {
	size_t *a;
	size_t n;
};

static void heap_push(struct heap *h, size_t v)
{
	size_t i = h->n++, up;

	for (; i && h->a[up = (i - 1) / 2] > v; i = up)
		h->a[i] = h->a[up];
	h->a[i] = v;
}

static void heap_pop(struct heap *h)
{
	size_t v = h->a[--h->n], i = 0, kid;

	while ((kid = 2 * i + 1) < h->n) {
		if (kid + 1 < h->n && h->a[kid + 1] < h->a[kid])
			kid++;
		if (v <= h->a[kid])
			break;
		h->a[i] = h->a[kid];
		i = kid;
	}
	if (h->n)
		h->a[i] = v;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The candidates covering the port the sweep is at: a flag per rank, the
 * best on top of a heap (ended ones dropped lazily), and a doubly linked
 * list (next[r] = link[r], prev[r] = link[n + 1 + r], n is the end),
 * read only where a source or scope is involved.
 */
struct sweep {
	bool *active;
	size_t *link, head, n;
	struct heap heap;
	size_t n_special; /* active candidates with a source or a scope */
};

static void sweep_edge(struct sweep *s, const struct edge *e, bool special)
{
	size_t r = e->rank, n = s->n, nx, pv;

	s->active[r] = e->start;
	if (special)
		s->n_special += e->start ? 1 : -1;
	if (e->start) {
		heap_push(&s->heap, r);
		s->link[r] = s->head;
		s->link[n + 1 + r] = n;
		if (s->head != n)
			s->link[n + 1 + s->head] = r;
		s->head = r;
		return;
	}
	nx = s->link[r];
	pv = s->link[n + 1 + r];
	if (pv != n)
		s->link[pv] = nx;
	else
		s->head = nx;
	if (nx != n)
		s->link[n + 1 + nx] = pv;
}

/* The leaf of the stretch the sweep is at: no rule, a verdict, sources. */
static int sweep_leaf(struct compiler *c, struct sweep *s,
		      const struct rule **cand, union ix_rec **verdict,
		      const struct rule **set, size_t *ranks,
		      const union ix_rec **val)
{
	size_t k, n_set = 0;

	*val = NULL;
	while (s->heap.n && !s->active[s->heap.a[0]])
		heap_pop(&s->heap);
	if (!s->heap.n)
		return 0;
	if (!s->n_special) {
		k = s->heap.a[0];
		if (!verdict[k])
			verdict[k] = verdict_of(c, cand[k]);
		*val = verdict[k];
		return *val ? 0 : err_kernel(-ENOMEM, "build rule index");
	}
	for (k = s->head; k != s->n; k = s->link[k])
		ranks[n_set++] = k;
	qsort(ranks, n_set, sizeof(*ranks), cmp_size);
	for (k = 0; k < n_set; k++)
		set[k] = cand[ranks[k]];
	return source_leaf(c, set, n_set, val);
}

/*
 * A class: the port trie of candidates cand[0..n), sorted here best
 * first so that a rank says who wins. One sweep over the ports keeps the
 * active ranks (struct sweep); each stretch between two edges gets the
 * leaf of who covers it.
 */
static int build_class(struct compiler *c, const struct rule **cand, size_t n,
		       __u32 *root)
{
	struct edge *edges = malloc(2 * n * sizeof(*edges) + 1);
	struct run *runs = malloc((2 * n + 1) * sizeof(*runs));
	const struct rule **set = malloc(n * sizeof(*set) + 1);
	union ix_rec **verdict = calloc(n + 1, sizeof(*verdict));
	size_t *link = malloc(3 * (n + 1) * sizeof(*link));
	struct sweep s = {
		.active = calloc(n + 1, sizeof(*s.active)),
		.link = link,
		.head = n,
		.n = n,
		.heap = { .a = malloc((n + 1) * sizeof(size_t)) },
	};
	size_t i, j, nr = 0;
	int err = 0;

	if (!edges || !runs || !set || !verdict || !link || !s.heap.a ||
	    !s.active) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	qsort(cand, n, sizeof(*cand), cmp_precedence);
	for (i = 0; i < n; i++) {
		edges[2 * i] = (struct edge){ cand[i]->k.port_lo, i, true };
		edges[2 * i + 1] =
			(struct edge){ cand[i]->k.port_hi + 1U, i, false };
	}
	qsort(edges, 2 * n, sizeof(*edges), cmp_edge);
	emit(runs, &nr, 0, NULL);
	for (i = 0; i < 2 * n && !err; i = j) {
		const union ix_rec *val;

		for (j = i; j < 2 * n && edges[j].port == edges[i].port; j++) {
			const struct rule *r = cand[edges[j].rank];

			sweep_edge(&s, &edges[j], r->k.src_len || r->k.ifindex);
		}
		if (edges[i].port > 65535)
			break;
		/* the list's third part serves as room for the ranks */
		err = sweep_leaf(c, &s, cand, verdict, set, link + 2 * (n + 1),
				 &val);
		if (!err)
			emit(runs, &nr, edges[i].port, val);
	}
	if (!err)
		err = trie_build(c, runs, nr, SPLICER_IX_PORT_BITS, root);
out:
	free(edges);
	free(runs);
	free(set);
	free(verdict);
	free(link);
	free(s.heap.a);
	free(s.active);
	return err;
}

/* -------------------------------------------------------- destinations */

static int exact_add(struct compiler *c, const struct rule *r,
		     const union ix_rec *leaf)
{
	if (grow(&c->exact, &c->cap_exact, c->n_exact + 1, sizeof(*c->exact)))
		return err_kernel(-ENOMEM, "build rule index");
	c->exact[c->n_exact] =
		(struct exact){ .proto = r->k.proto, .leaf = leaf };
	memcpy(c->exact[c->n_exact++].addr, r->k.dst, sizeof(r->k.dst));
	return 0;
}

static __u32 exact_hash(const struct exact *e, int second, __u32 bits)
{
	return splicer_ix_hash(ntohl(e->addr[0]), e->proto, second, bits);
}

static __u32 exact_hash6(const struct exact *e, int second, __u32 bits)
{
	__u32 fold = splicer_ix_fold6(ntohl(e->addr[0]), ntohl(e->addr[1]),
				      ntohl(e->addr[2]), ntohl(e->addr[3]));

	return splicer_ix_hash(fold, e->proto, second, bits);
}

/* Cuckoo moves before the /128 table doubles. */
#define EXACT6_KICKS 500

/*
 * Places address i in the /128 table (slot: an address number + 1 per
 * bucket, 0 free): in its first bucket, else in its second, else in its
 * first, moving the address there on to its other bucket, and so on. A
 * bucket once taken stays taken, and an address goes to its second
 * bucket only when its first is taken, so a lookup that finds its first
 * bucket free is done. False after EXACT6_KICKS moves.
 */
static bool exact6_place(const struct exact *e, size_t i, __u32 bits,
			 size_t *slot)
{
	__u32 h = exact_hash6(&e[i], 0, bits), h1 = exact_hash6(&e[i], 1, bits);
	size_t cur = i + 1, x, k;

	if (slot[h] && !slot[h1])
		h = h1;
	for (k = 0; k < EXACT6_KICKS; k++) {
		x = slot[h];
		slot[h] = cur;
		if (!x)
			return true;
		cur = x;
		/* the address moved out goes to its other bucket */
		h1 = exact_hash6(&e[x - 1], 0, bits);
		h = h1 == h ? exact_hash6(&e[x - 1], 1, bits) : h1;
	}
	return false;
}

/*
 * The /128 table of an IPv6 part: buckets of one key record and its
 * leaf, at least twice as many as the addresses, doubled until every
 * address finds a place.
 */
static int exact_table6(struct compiler *c, __u32 *base, __u32 *bits)
{
	size_t *slot = NULL, i, buckets;
	union ix_rec *k;
	__u32 b, at;
	int err;

	*base = *bits = 0;
	if (!c->n_exact)
		return 0;
	for (b = 1; (1ULL << b) < 2 * c->n_exact; b++)
		;
	for (;; b++) {
		if (b > SPLICER_IX_EXACT_MAX_BITS)
			return err_kernel(-ENOSPC, "rule index is full (/128 "
						   "table)");
		buckets = 1UL << b;
		free(slot);
		slot = calloc(buckets, sizeof(*slot));
		if (!slot)
			return err_kernel(-ENOMEM, "build rule index");
		for (i = 0; i < c->n_exact; i++)
			if (!exact6_place(c->exact, i, b, slot))
				break;
		if (i == c->n_exact)
			break;
	}
	err = rec_alloc(c, SPLICER_IX_BUCKET6_RECS * buckets, base);
	if (err)
		goto out;
	memset(rec_at(c, *base), 0,
	       SPLICER_IX_BUCKET6_RECS * buckets * sizeof(*c->rec));
	for (at = *base, i = 0; i < buckets;
	     i++, at += SPLICER_IX_BUCKET6_RECS) {
		const struct exact *e;

		if (!slot[i])
			continue;
		e = &c->exact[slot[i] - 1];
		k = rec_at(c, at);
		memcpy(k->keys6.addr, e->addr, sizeof(k->keys6.addr));
		k->keys6.proto = e->proto;
		*rec_at(c, at + 1) = *e->leaf;
	}
	*bits = b;
out:
	free(slot);
	return err;
}

/*
 * Places address i in a table of 1 << bits buckets (slot holds address
 * numbers, fill their counts): in its first bucket, else in its second,
 * else in its first after moving one of that bucket's addresses that sits
 * in its own first bucket on to its second, which keeps the first bucket
 * full. False if none of that works.
 */
static bool exact_place(const struct exact *e, size_t i, __u32 bits,
			size_t *slot, unsigned char *fill)
{
	__u32 h0 = exact_hash(&e[i], 0, bits), h1 = exact_hash(&e[i], 1, bits);
	__u32 s, x_h1;
	size_t x;

	if (fill[h0] == SPLICER_IX_BUCKET && fill[h1] < SPLICER_IX_BUCKET)
		h0 = h1;
	if (fill[h0] < SPLICER_IX_BUCKET) {
		slot[h0 * SPLICER_IX_BUCKET + fill[h0]++] = i;
		return true;
	}
	for (s = 0; s < SPLICER_IX_BUCKET; s++) {
		x = slot[h0 * SPLICER_IX_BUCKET + s];
		x_h1 = exact_hash(&e[x], 1, bits);
		if (exact_hash(&e[x], 0, bits) != h0 || x_h1 == h0 ||
		    fill[x_h1] == SPLICER_IX_BUCKET)
			continue;
		slot[x_h1 * SPLICER_IX_BUCKET + fill[x_h1]++] = x;
		slot[h0 * SPLICER_IX_BUCKET + s] = i;
		return true;
	}
	return false;
}

/*
 * The /32 table: an address sits in its first bucket, or in its second
 * only if the first is full, so a lookup that misses in a first bucket
 * with a free slot is done. When an address finds no place the table
 * doubles and starts over.
 */
static int exact_table(struct compiler *c, __u32 *base, __u32 *bits)
{
	unsigned char *fill = NULL;
	size_t *slot = NULL, i, s, buckets;
	__u32 b, at;
	int err;

	*base = *bits = 0;
	if (!c->n_exact)
		return 0;
	for (b = 1; (2ULL << b) < c->n_exact; b++)
		;
	for (;; b++) {
		if (b > SPLICER_IX_EXACT_MAX_BITS)
			return err_kernel(-ENOSPC, "rule index is full (/32 "
						   "table)");
		buckets = 1UL << b;
		free(fill);
		free(slot);
		fill = calloc(buckets, 1);
		slot = malloc(buckets * SPLICER_IX_BUCKET * sizeof(*slot));
		if (!fill || !slot) {
			err = err_kernel(-ENOMEM, "build rule index");
			goto out;
		}
		for (i = 0; i < c->n_exact; i++)
			if (!exact_place(c->exact, i, b, slot, fill))
				break;
		if (i == c->n_exact)
			break;
	}
	err = rec_alloc(c, SPLICER_IX_BUCKET_RECS * buckets, base);
	if (err)
		goto out;
	memset(rec_at(c, *base), 0,
	       SPLICER_IX_BUCKET_RECS * buckets * sizeof(*c->rec));
	for (at = *base, i = 0; i < buckets; i++, at += SPLICER_IX_BUCKET_RECS)
		for (s = 0; s < fill[i]; s++) {
			const struct exact *e =
				&c->exact[slot[i * SPLICER_IX_BUCKET + s]];

			rec_at(c, at)->keys.addr[s] = e->addr[0];
			rec_at(c, at)->keys.proto[s] = e->proto;
			*rec_at(c, at + 1 + s) = *e->leaf;
		}
	*bits = b;
out:
	free(fill);
	free(slot);
	return err;
}

/*
 * One distinct (proto, destination prefix) and its rules. A delta also
 * has its regions among the rules, as markers: rules of id 0.
 */
struct dst {
	const struct rule *key; /* its prefix */
	const struct rule **own;
	size_t n_own;
	struct dst *parent; /* the longest shorter prefix holding it */
	bool is_parent;
	bool inline_rule; /* one plain rule: kept in the destination leaf */
	bool auth; /* in a region: the delta knows the answer */
	__u32 own_root, all_root; /* all: own and every ancestor's */
};

static bool is_marker(const struct rule *r)
{
	return !r->v.id;
}

static int cmp_dst(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a;
	const struct rule *y = *(const struct rule *const *)b;

	if (x->k.family != y->k.family)
		return x->k.family - y->k.family;
	if (x->k.proto != y->k.proto)
		return x->k.proto - y->k.proto;
	return addr_cmp(x->k.dst, y->k.dst) ?: x->k.dst_len - y->k.dst_len;
}

/* The same, a prefix's marker before its rules. */
static int cmp_dst_marker(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a;
	const struct rule *y = *(const struct rule *const *)b;

	return cmp_dst(a, b) ?: (int)!is_marker(x) - (int)!is_marker(y);
}

/*
 * Groups r[0..n) (sorted by address, then length: a holder comes before
 * its holdees) into the distinct prefixes d[], each with its parent;
 * returns how many.
 */
static size_t group_prefixes(const struct rule **r, size_t n, struct dst *d,
			     struct dst **stack)
{
	size_t i, nd = 0, depth = 0;

	for (i = 0; i < n; i++) {
		if (!nd || cmp_dst(&r[i], &d[nd - 1].key)) {
			d[nd].key = r[i];
			d[nd].own = &r[i];
			while (depth &&
			       !prefix_holds(stack[depth - 1]->key->k.dst,
					     stack[depth - 1]->key->k.dst_len,
					     r[i]->k.dst, r[i]->k.dst_len))
				depth--;
			d[nd].parent = depth ? stack[depth - 1] : NULL;
			if (d[nd].parent) {
				d[nd].parent->is_parent = true;
				d[nd].auth = d[nd].parent->auth;
			}
			stack[depth++] = &d[nd++];
		}
		if (is_marker(r[i])) {
			/* markers sort first: the rules follow it */
			d[nd - 1].own = &r[i + 1];
			d[nd - 1].auth = true;
			continue;
		}
		d[nd - 1].n_own++;
	}
	return nd;
}

/*
 * The classes of one prefix: its own rules (unless its one plain rule
 * is kept inline), and, for a prefix that holds others, its own and
 * every ancestor's, the fallback of those it holds.
 */
static int prefix_classes(struct compiler *c, struct dst *d,
			  const struct rule **cand)
{
	const struct rule *one = d->n_own == 1 ? d->own[0] : NULL;
	struct dst *a;
	size_t n_cand;
	int err = 0;

	d->inline_rule = one && !one->k.src_len && !one->k.ifindex;
	memcpy(cand, d->own, d->n_own * sizeof(*cand));
	if (d->n_own && (!d->inline_rule || (d->is_parent && !d->parent)))
		err = build_class(c, cand, d->n_own, &d->own_root);
	d->all_root = d->own_root;
	if (err || !d->is_parent || !d->parent)
		return err;
	for (a = d, n_cand = 0; a; a = a->parent) {
		memcpy(cand + n_cand, a->own, a->n_own * sizeof(*cand));
		n_cand += a->n_own;
	}
	return n_cand ? build_class(c, cand, n_cand, &d->all_root) : 0;
}

/* A prefix's destination leaf. */
static union ix_rec *prefix_leaf(struct compiler *c, const struct dst *d)
{
	union ix_rec *leaf = value_new(c);
	const struct rule *one = d->inline_rule ? d->own[0] : NULL;

	if (!leaf || (one && target_of(c, one, &leaf->cls.to_addr)))
		return NULL;
	leaf->cls.fallback = d->parent ? d->parent->all_root : 0;
	if (d->auth)
		leaf->cls.flags |= SPLICER_IX_AUTH;
	if (!d->inline_rule) {
		leaf->cls.own = d->own_root;
		return leaf;
	}
	leaf->cls.port_lo = one->k.port_lo;
	leaf->cls.port_hi = one->k.port_hi;
	leaf->cls.id = one->v.id;
	leaf->cls.slot = one->slot;
	leaf->cls.action = one->v.action;
	leaf->cls.to_port = one->v.to_port;
	return leaf;
}

/* Classes and destination trie of one protocol's rules, sorted by cmp_dst. */
static int build_proto(struct compiler *c, const struct rule **r, size_t n,
		       __u32 *root)
{
	struct dst *d = calloc(n + 1, sizeof(*d));
	struct dst **stack =
		malloc((SPLICER_IX_ADDR6_BITS + 2) * sizeof(*stack));
	const struct rule **cand = malloc(n * sizeof(*cand) + 1);
	struct pfx *p = malloc(n * sizeof(*p) + 1);
	size_t i, nd, np = 0;
	union ix_rec *leaf;
	int err = 0;

	if (!d || !cand || !p || !stack) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	nd = group_prefixes(r, n, d, stack);
	for (i = 0; i < nd && !err; i++)
		err = prefix_classes(c, &d[i], cand);
	for (i = 0; i < nd && !err; i++) {
		leaf = prefix_leaf(c, &d[i]);
		if (!leaf) {
			err = err_kernel(-ENOMEM, "build rule index");
		} else if (d[i].key->k.dst_len == c->bits) {
			err = exact_add(c, d[i].key, leaf);
		} else {
			p[np].start = addr_key(d[i].key->k.dst, c->family);
			p[np].len = d[i].key->k.dst_len;
			p[np++].val = leaf;
		}
	}
	if (!err && np)
		err = trie_of_prefixes(c, p, np, c->bits, root);
out:
	free(d);
	free(stack);
	free(cand);
	free(p);
	return err;
}

static void compiler_free(struct compiler *c)
{
	size_t i;

	for (i = 0; i < c->n_values; i++)
		free(c->values[i]);
	for (i = 0; i < c->n_sets; i++)
		free(c->sets[i].rules);
	free(c->values);
	free(c->sets);
	free(c->set_slot);
	free(c->exact);
	free(c->targets);
	if (c->rec)
		munmap(c->rec, c->cap_rec * sizeof(*c->rec));
}

/* The rules and markers sorted for build_proto (cmp_dst_marker). */
static const struct rule **sort_input(const struct rule *r, size_t n,
				      const struct rule *marks, size_t n_marks)
{
	const struct rule **sorted =
		malloc((n + n_marks + 1) * sizeof(*sorted));
	size_t i;

	if (!sorted)
		return NULL;
	for (i = 0; i < n; i++)
		sorted[i] = &r[i];
	for (i = 0; i < n_marks; i++)
		sorted[n + i] = &marks[i];
	qsort(sorted, n + n_marks, sizeof(*sorted), cmp_dst_marker);
	return sorted;
}

/*
 * One family's part from its rules, sorted by cmp_dst: a destination
 * trie per protocol, then the exact table.
 */
static int build_part(struct compiler *c, int family, const struct rule **r,
		      size_t n, struct ix_part *part)
{
	size_t udp;
	int err = 0;

	c->family = family;
	c->bits = family_bits(family);
	c->n_exact = 0;
	for (udp = 0; udp < n && r[udp]->k.proto != IPPROTO_UDP; udp++)
		;
	if (udp)
		err = build_proto(c, r, udp, &part->root[0]);
	if (!err && n - udp)
		err = build_proto(c, r + udp, n - udp, &part->root[1]);
	if (!err && family == AF_INET6)
		err = exact_table6(c, &part->exact, &part->exact_bits);
	else if (!err)
		err = exact_table(c, &part->exact, &part->exact_bits);
	return err;
}

int index_compile(const struct rule *r, size_t n, const struct ix_region *reg,
		  size_t n_reg, __u32 at, __u32 reserve, struct ix_build *out)
{
	struct compiler c = { .at = at };
	struct rule *marks = calloc(n_reg + 1, sizeof(*marks));
	const struct rule **sorted = NULL;
	struct ix_part *part = &out->part;
	size_t i, v6, all = n + n_reg;
	__u32 first;
	int err = 0;

	memset(out, 0, sizeof(*out));
	/* A region is a rule prefix of no rule (id 0): a marker. */
	for (i = 0; marks && i < n_reg; i++) {
		memcpy(marks[i].k.dst, reg[i].dst, sizeof(reg[i].dst));
		marks[i].k.dst_len = reg[i].len;
		marks[i].k.proto = reg[i].proto;
		marks[i].k.family = reg[i].family;
	}
	if (marks)
		sorted = sort_input(r, n, marks, n_reg);
	if (!sorted) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	/* IPv4 sorts first (AF_INET < AF_INET6) */
	for (v6 = 0; v6 < all && sorted[v6]->k.family != AF_INET6; v6++)
		;
	if (reserve && !(err = rec_alloc(&c, reserve, &first)))
		memset(c.rec, 0, reserve * sizeof(*c.rec));
	if (!err)
		err = build_part(&c, AF_INET, sorted, v6, part);
	if (!err && all - v6)
		err = build_part(&c, AF_INET6, sorted + v6, all - v6,
				 &out->part6);
	if (!err) {
		part->lo = at;
		part->hi = at + c.n_rec;
		out->at = at;
		out->n = c.n_rec;
		out->rec = c.rec; /* handed over */
		out->cap = c.cap_rec;
		c.rec = NULL;
	}
out:
	compiler_free(&c);
	free(sorted);
	free(marks);
	return err;
}

void index_build_free(struct ix_build *b)
{
	if (b->rec)
		munmap(b->rec, b->cap * sizeof(*b->rec));
	memset(b, 0, sizeof(*b));
}
