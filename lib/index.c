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

static bool contains(__be32 net, __u8 len, __be32 addr, __u8 addr_len)
{
	return addr_len >= len && !((ntohl(net) ^ ntohl(addr)) & mask4(len));
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
	union ix_rec **values;
	size_t n_values, cap_values;
	/* candidate sets that need source tries, shared when equal */
	struct srcset *sets;
	size_t n_sets, cap_sets;
	size_t *set_slot; /* hash: index + 1, 0 empty */
	size_t set_mask;
	/* /32 destinations, for the exact table */
	struct exact *exact;
	size_t n_exact, cap_exact;
};

struct exact {
	__be32 addr;
	__u8 proto;
	const union ix_rec *leaf;
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

static union ix_rec *verdict_of(struct compiler *c, const struct rule *r)
{
	union ix_rec *v = value_new(c);

	if (v) {
		v->v.id = r->v.id;
		v->v.action = r->v.action;
		v->v.to_addr = r->v.to_addr[0];
		v->v.to_port = r->v.to_port;
	}
	return v;
}

/* -------------------------------------------------------------- tries */

/* From lo up to the next run's lo, the key leads to val (NULL: none). */
struct run {
	__u64 lo;
	const union ix_rec *val;
};

static bool same_leaf(const union ix_rec *a, const union ix_rec *b)
{
	return a == b ||
	       !memcmp(a ? a : &no_match, b ? b : &no_match, sizeof(*a));
}

/* Appends a run, merging it with an equal neighbour or one at lo. */
static void emit(struct run *runs, size_t *n, __u64 lo, const union ix_rec *val)
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
		      __u64 base, unsigned int bits, unsigned int stride,
		      __u32 at)
{
	unsigned int rest = bits - stride, s, n_child = 0, n_leaf = 0;
	const union ix_rec *leaf[64];
	size_t child_run[64], child_n[64], r = 0, e;
	__u64 vec = 0, leafvec = 0, lo, hi;
	__u32 base0 = 0, base1 = 0, i;
	int err;

	for (s = 0; s < 1U << stride; s++) {
		lo = base + ((__u64)s << rest);
		hi = lo + ((1ULL << rest) - 1);
		while (r + 1 < n && runs[r + 1].lo <= lo)
			r++;
		if (r + 1 < n && runs[r + 1].lo <= hi) {
			for (e = r + 1; e < n && runs[e].lo <= hi; e++)
				;
			child_run[n_child] = r;
			child_n[n_child++] = e - r;
			vec |= 1ULL << s;
			r = e - 1;
			continue;
		}
		if (n_leaf && same_leaf(leaf[n_leaf - 1], runs[r].val))
			continue;
		leaf[n_leaf++] = runs[r].val;
		leafvec |= 1ULL << s;
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
				 base + ((__u64)s << rest), rest,
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
	__u64 start;
	unsigned int len;
	const union ix_rec *val;
};

static __u64 pfx_last(const struct pfx *p, unsigned int width)
{
	unsigned int host = width - p->len;

	return p->start + (host == 64 ? ~0ULL : (1ULL << host) - 1);
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
	const struct pfx *stack[65];
	size_t i, nr = 0, depth = 0;
	__u64 last;
	int err;

	if (!runs)
		return err_kernel(-ENOMEM, "build rule index");
	qsort(p, n, sizeof(*p), cmp_pfx);
	emit(runs, &nr, 0, NULL);
	for (i = 0; i <= n; i++) {
		while (depth && (i == n || pfx_last(stack[depth - 1], width) <
						   p[i].start)) {
			last = pfx_last(stack[--depth], width);
			if (last != (width == 64 ? ~0ULL : (1ULL << width) - 1))
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
	__u64 start;
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

/*
 * One source trie of a best-first candidate set. Unscoped: the unscoped
 * candidates, keyed by source (32 bits). Scoped: for every interface a
 * candidate is scoped to, its own and the unscoped candidates, keyed by
 * ifindex << 32 | source (64 bits). Each source prefix in use leads to
 * the best candidate whose source holds it. Sorted by address, a prefix
 * comes after every prefix holding it, so one pass with a stack of the
 * holders carries their best down.
 */
static int source_trie(struct compiler *c, const struct rule **set, size_t n,
		       bool scoped, __u32 *root)
{
	unsigned int width = scoped ? SPLICER_IX_SCOPED_BITS :
				      SPLICER_IX_ADDR_BITS;
	__u32 *scope = malloc(n * sizeof(*scope) + sizeof(*scope));
	size_t i, k, n_scope = 0, ns = 0, np = 0, depth = 0, stack[66];
	struct src_pfx *sp = NULL;
	struct pfx *p = NULL;
	int err = 0;

	if (!scope)
		return err_kernel(-ENOMEM, "build rule index");
	for (i = 0; i < n; i++)
		if (scoped && set[i]->k.ifindex)
			scope[n_scope++] = set[i]->k.ifindex;
	qsort(scope, n_scope, sizeof(*scope), cmp_u32);
	for (i = 0, k = 0; i < n_scope; i++)
		if (!k || scope[k - 1] != scope[i])
			scope[k++] = scope[i];
	n_scope = scoped ? k : 1;
	if (!scoped)
		scope[0] = 0;
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
			sp[ns].start = (__u64)scope[k] << 32 |
				       ntohl(set[i]->k.src[0]);
			sp[ns].len = (scoped ? 32 : 0) + set[i]->k.src_len;
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
		err = source_trie(c, set, n, false, &leaf->v.sources);
		leaf->v.flags |= SPLICER_IX_SOURCES;
	} else if (plain) {
		leaf->v.id = plain->v.id;
		leaf->v.action = plain->v.action;
		leaf->v.to_addr = plain->v.to_addr[0];
		leaf->v.to_port = plain->v.to_port;
	}
	if (any_scoped && !err) {
		err = source_trie(c, set, n, true, &leaf->v.scoped);
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
	c->exact[c->n_exact++] =
		(struct exact){ r->k.dst[0], r->k.proto, leaf };
	return 0;
}

static __u32 exact_hash(const struct exact *e, int second, __u32 bits)
{
	return splicer_ix_hash(ntohl(e->addr), e->proto, second, bits);
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

			rec_at(c, at)->keys.addr[s] = e->addr;
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

	if (x->k.proto != y->k.proto)
		return x->k.proto - y->k.proto;
	if (x->k.dst[0] != y->k.dst[0])
		return ntohl(x->k.dst[0]) < ntohl(y->k.dst[0]) ? -1 : 1;
	return x->k.dst_len - y->k.dst_len;
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
			       !contains(stack[depth - 1]->key->k.dst[0],
					 stack[depth - 1]->key->k.dst_len,
					 r[i]->k.dst[0], r[i]->k.dst_len))
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

	if (!leaf)
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
	leaf->cls.action = one->v.action;
	leaf->cls.to_addr = one->v.to_addr[0];
	leaf->cls.to_port = one->v.to_port;
	return leaf;
}

/* Classes and destination trie of one protocol's rules, sorted by cmp_dst. */
static int build_proto(struct compiler *c, const struct rule **r, size_t n,
		       __u32 *root)
{
	struct dst *d = calloc(n + 1, sizeof(*d));
	struct dst **stack =
		malloc((SPLICER_IX_ADDR_BITS + 2) * sizeof(*stack));
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
		} else if (d[i].key->k.dst_len == 32) {
			err = exact_add(c, d[i].key, leaf);
		} else {
			p[np].start = ntohl(d[i].key->k.dst[0]);
			p[np].len = d[i].key->k.dst_len;
			p[np++].val = leaf;
		}
	}
	if (!err && np)
		err = trie_of_prefixes(c, p, np, SPLICER_IX_ADDR_BITS, root);
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
	if (c->rec)
		munmap(c->rec, c->cap_rec * sizeof(*c->rec));
}

/* The rules and markers sorted for build_proto; UDP's start at *udp. */
static const struct rule **sort_input(const struct rule *r, size_t n,
				      const struct rule *marks, size_t n_marks,
				      size_t *udp)
{
	const struct rule **sorted =
		malloc((n + n_marks + 1) * sizeof(*sorted));
	size_t i, all = n + n_marks;

	if (!sorted)
		return NULL;
	for (i = 0; i < n; i++)
		sorted[i] = &r[i];
	for (i = 0; i < n_marks; i++)
		sorted[n + i] = &marks[i];
	qsort(sorted, all, sizeof(*sorted), cmp_dst_marker);
	for (*udp = 0; *udp < all && sorted[*udp]->k.proto != IPPROTO_UDP;
	     (*udp)++)
		;
	return sorted;
}

int index_compile(const struct rule *r, size_t n, const struct ix_region *reg,
		  size_t n_reg, __u32 at, __u32 reserve, struct ix_build *out)
{
	struct compiler c = { .at = at };
	struct rule *marks = calloc(n_reg + 1, sizeof(*marks));
	const struct rule **sorted = NULL;
	struct ix_part *part = &out->part;
	size_t i, udp, all = n + n_reg;
	__u32 first;
	int err = 0;

	memset(out, 0, sizeof(*out));
	/* A region is a rule prefix of no rule (id 0): a marker. */
	for (i = 0; marks && i < n_reg; i++) {
		marks[i].k.dst[0] = reg[i].dst;
		marks[i].k.dst_len = reg[i].len;
		marks[i].k.proto = reg[i].proto;
	}
	if (marks)
		sorted = sort_input(r, n, marks, n_reg, &udp);
	if (!sorted) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	if (reserve && !(err = rec_alloc(&c, reserve, &first)))
		memset(c.rec, 0, reserve * sizeof(*c.rec));
	if (!err && udp)
		err = build_proto(&c, sorted, udp, &part->root[0]);
	if (!err && all - udp)
		err = build_proto(&c, sorted + udp, all - udp, &part->root[1]);
	if (!err)
		err = exact_table(&c, &part->exact, &part->exact_bits);
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
