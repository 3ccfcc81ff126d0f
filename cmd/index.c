/* SPDX-License-Identifier: GPL-2.0-only */
/* Compiles the rule set into the datapath's lookup index and publishes it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "cmd.h"

/*
 * How the index answers "which rule wins?" in at most four lookups:
 *
 * 1. DST: every distinct (proto, destination prefix) of the rule set is a
 *    trie entry. The longest one holding the packet's destination names a
 *    destination class whose candidates are the rules of that prefix and
 *    of every shorter prefix holding it: exactly the rules whose
 *    destination matches.
 * 2. PORT: within a class, the candidates' port ranges cut 1-65535 into
 *    stretches with one candidate set each; every stretch is stored as
 *    the few port prefixes that cover it and names a port class. Port
 *    classes are shared by equal candidate sets.
 * 3. SRC: within a port class, for each source prefix in use (per
 *    interface scope), the winner among the candidates whose source holds
 *    it, precedence already applied. The datapath tries its ingress
 *    ifindex first, then the unscoped table.
 *
 * A rule thus costs entries in proportion to the prefixes and port
 * stretches it adds, not to the number of rules, except where broad rules
 * overlap many narrower ones.
 */

static __u32 mask_of(__u8 len)
{
	return len ? ~0U << (32 - len) : 0;
}

static bool contains(__be32 net, __u8 len, __be32 addr, __u8 addr_len)
{
	return addr_len >= len && !((ntohl(net) ^ ntohl(addr)) & mask_of(len));
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

/* The trie being filled, plus the class ids handed out so far. */
struct builder {
	int fd;
	__u32 next_class;
	size_t entries;
	/* port classes by candidate set, so equal sets share entries */
	struct pclass *pclasses;
	size_t n_pclasses, cap_pclasses;
	size_t *pc_slot; /* hash of candidate sets: index + 1, 0 empty */
	size_t pc_mask;
};

struct pclass {
	__u32 id;
	size_t n;
	const struct rule **rules; /* sorted by address: the set's identity */
};

static int put(struct builder *b, __u32 tag, __u32 scope, __be32 bits, __u8 len,
	       const struct lpm_val *val)
{
	struct lpm_key k = {
		.prefixlen = SPLICER_LPM_FIXED_BITS + len,
		.tag = tag,
		.scope = scope,
		.bits = bits,
	};

	if (bpf_map_update_elem(b->fd, &k, val, BPF_ANY)) {
		if (errno == ENOSPC || errno == E2BIG || errno == ENOMEM)
			return err_kernel(-errno,
					  "rule index is full (%zu "
					  "entries)",
					  b->entries);
		return err_kernel(-errno, "write rule index");
	}
	b->entries++;
	return 0;
}

static int new_class(struct builder *b, __u32 *id)
{
	if (b->next_class >= SPLICER_CLASS_MAX)
		return err_kernel(-E2BIG, "rule index is full (classes)");
	*id = ++b->next_class;
	return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	const void *pa = *(const void *const *)a;
	const void *pb = *(const void *const *)b;

	return pa < pb ? -1 : pa > pb;
}

/*
 * Writes one scope's SRC table of a port class: for each source prefix in
 * use, the best candidate whose source holds it. Scope 0 sees unscoped
 * rules only; an interface's scope sees those and its own.
 */
static int put_scope(struct builder *b, const struct pclass *pc, __u32 scope)
{
	size_t i, j;
	int err;

	for (i = 0; i < pc->n; i++) {
		const struct rule *src = pc->rules[i], *best = NULL;
		struct lpm_val v = {};
		bool seen = false;

		if (src->k.ifindex != 0 && src->k.ifindex != scope)
			continue;
		for (j = 0; j < i && !seen; j++)
			seen = (pc->rules[j]->k.ifindex == 0 ||
				pc->rules[j]->k.ifindex == scope) &&
			       pc->rules[j]->k.src == src->k.src &&
			       pc->rules[j]->k.src_len == src->k.src_len;
		if (seen)
			continue;
		for (j = 0; j < pc->n; j++) {
			const struct rule *c = pc->rules[j];

			if (c->k.ifindex != 0 && c->k.ifindex != scope)
				continue;
			if (!contains(c->k.src, c->k.src_len, src->k.src,
				      src->k.src_len))
				continue;
			if (!best || precedence(c, best) < 0)
				best = c;
		}
		v.next = best->v.id;
		v.action = best->v.action;
		v.to_addr = best->v.to_addr;
		v.to_port = best->v.to_port;
		err = put(b, SPLICER_TAG_SRC | pc->id, scope, src->k.src,
			  src->k.src_len, &v);
		if (err)
			return err;
	}
	return 0;
}

static int put_sources(struct builder *b, const struct pclass *pc)
{
	size_t s, j;
	int err;

	err = put_scope(b, pc, 0);
	for (s = 0; s < pc->n && !err; s++) {
		__u32 scope = pc->rules[s]->k.ifindex;

		for (j = 0; j < s && scope; j++)
			if (pc->rules[j]->k.ifindex == scope)
				scope = 0; /* written already */
		if (scope)
			err = put_scope(b, pc, scope);
	}
	return err;
}

/* Finds or makes the port class of a candidate set (sorted in place). */
static __u64 set_hash(const struct rule **set, size_t n)
{
	__u64 h = 1469598103934665603ULL; /* FNV-1a over the pointers */
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (__u64)(unsigned long)set[i]) * 1099511628211ULL;
	return h;
}

/* Doubles the candidate-set hash table and re-enters every class. */
static int grow_pc_table(struct builder *b)
{
	size_t size = b->pc_slot ? 2 * (b->pc_mask + 1) : 1024, i, j;
	size_t *slot = calloc(size, sizeof(*slot));

	if (!slot)
		return err_kernel(-ENOMEM, "build rule index");
	for (i = 0; i < b->n_pclasses; i++) {
		j = set_hash((const struct rule **)b->pclasses[i].rules,
			     b->pclasses[i].n) &
		    (size - 1);
		while (slot[j])
			j = (j + 1) & (size - 1);
		slot[j] = i + 1;
	}
	free(b->pc_slot);
	b->pc_slot = slot;
	b->pc_mask = size - 1;
	return 0;
}

/* Finds or makes the port class of a candidate set (sorted in place). */
static int port_class(struct builder *b, const struct rule **set, size_t n,
		      __u32 *id)
{
	struct pclass *pc;
	size_t i;
	int err;

	qsort(set, n, sizeof(*set), cmp_ptr);
	if (2 * (b->n_pclasses + 1) > (b->pc_slot ? b->pc_mask + 1 : 0)) {
		err = grow_pc_table(b);
		if (err)
			return err;
	}
	for (i = set_hash(set, n) & b->pc_mask; b->pc_slot[i];
	     i = (i + 1) & b->pc_mask) {
		pc = &b->pclasses[b->pc_slot[i] - 1];
		if (pc->n == n && !memcmp(pc->rules, set, n * sizeof(*set))) {
			*id = pc->id;
			return 0;
		}
	}
	if (b->n_pclasses == b->cap_pclasses) {
		size_t cap = b->cap_pclasses ? b->cap_pclasses * 2 : 64;
		struct pclass *tmp = realloc(b->pclasses, cap * sizeof(*tmp));

		if (!tmp)
			return err_kernel(-ENOMEM, "build rule index");
		b->pclasses = tmp;
		b->cap_pclasses = cap;
	}
	pc = &b->pclasses[b->n_pclasses];
	pc->n = n;
	pc->rules = malloc(n * sizeof(*set));
	if (!pc->rules)
		return err_kernel(-ENOMEM, "build rule index");
	memcpy(pc->rules, set, n * sizeof(*set));
	err = new_class(b, &pc->id);
	if (err) {
		free(pc->rules);
		return err;
	}
	b->pc_slot[i] = ++b->n_pclasses;
	*id = pc->id;
	return put_sources(b, pc);
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Stores ports lo..hi as the aligned power-of-two blocks that cover it. */
static int put_port_stretch(struct builder *b, __u32 dclass, __u32 lo, __u32 hi,
			    __u32 pclass)
{
	struct lpm_val v = { .next = pclass };
	int err;

	while (lo <= hi) {
		__u32 size = lo ? lo & -lo : 1U << 16;
		__u8 bits = 0;

		while (lo + size - 1 > hi)
			size >>= 1;
		while ((1U << bits) < size)
			bits++;
		err = put(b, SPLICER_TAG_PORT | dclass, 0, htonl(lo << 16),
			  16 - bits, &v);
		if (err)
			return err;
		lo += size;
	}
	return 0;
}

/* The port stretches of one destination class and their port classes. */
static int put_ports(struct builder *b, __u32 dclass, const struct rule **cand,
		     size_t n)
{
	const struct rule **set;
	__u32 *edges;
	size_t i, j, n_edges = 0, n_set;
	int err = 0;

	edges = malloc(2 * n * sizeof(*edges));
	set = malloc(n * sizeof(*set));
	if (!edges || !set) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	for (i = 0; i < n; i++) {
		edges[n_edges++] = cand[i]->k.port_lo;
		edges[n_edges++] = cand[i]->k.port_hi + 1U;
	}
	qsort(edges, n_edges, sizeof(*edges), cmp_u32);
	for (i = 0; i + 1 < n_edges && !err; i++) {
		__u32 lo = edges[i], hi = edges[i + 1] - 1, pclass = 0;

		if (edges[i] == edges[i + 1])
			continue;
		for (j = 0, n_set = 0; j < n; j++)
			if (cand[j]->k.port_lo <= lo &&
			    cand[j]->k.port_hi >= hi)
				set[n_set++] = cand[j];
		if (!n_set)
			continue;
		err = port_class(b, set, n_set, &pclass);
		if (!err)
			err = put_port_stretch(b, dclass, lo, hi, pclass);
	}
out:
	free(edges);
	free(set);
	return err;
}

/* Rules sorted so that equal (proto, dst prefix) are adjacent. */
static int cmp_dst(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a;
	const struct rule *y = *(const struct rule *const *)b;

	if (x->k.proto != y->k.proto)
		return x->k.proto - y->k.proto;
	if (x->k.dst_len != y->k.dst_len)
		return x->k.dst_len - y->k.dst_len;
	if (x->k.dst != y->k.dst)
		return ntohl(x->k.dst) < ntohl(y->k.dst) ? -1 : 1;
	return 0;
}

/* First position whose rule does not sort before *key. */
static size_t lower_bound(const struct rule **sorted, size_t n,
			  const struct rule **key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_dst(&sorted[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int index_build(const struct rule *r, size_t n, int *trie_fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_NO_PREALLOC);
	struct builder b = { .fd = -1 };
	const struct rule **sorted = NULL, **cand = NULL;
	size_t i, j, start, n_cand;
	int err = 0;
	__u8 len;

	b.fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "splicer_index",
			      sizeof(struct lpm_key), sizeof(struct lpm_val),
			      SPLICER_INDEX_MAX_ENTRIES, &mopts);
	if (b.fd < 0)
		return err_kernel(-errno, "create rule index");
	sorted = malloc((n + 1) * sizeof(*sorted));
	cand = malloc((n + 1) * sizeof(*cand));
	if (!sorted || !cand) {
		err = err_kernel(-ENOMEM, "build rule index");
		goto out;
	}
	for (i = 0; i < n; i++)
		sorted[i] = &r[i];
	qsort(sorted, n, sizeof(*sorted), cmp_dst);

	for (start = 0; start < n && !err; start = i) {
		const struct rule *head = sorted[start];
		struct lpm_val v = {};

		for (i = start; i < n && !cmp_dst(&sorted[i], &head); i++)
			;
		/*
		 * Candidates: the rules of this prefix and of every shorter
		 * prefix holding it, found by one binary search per length.
		 */
		n_cand = 0;
		for (len = 0; len <= head->k.dst_len; len++) {
			struct rule probe = { .k = head->k };
			const struct rule *key = &probe;

			probe.k.dst_len = len;
			probe.k.dst = htonl(ntohl(head->k.dst) & mask_of(len));
			j = lower_bound(sorted, n, &key);
			for (; j < n && !cmp_dst(&sorted[j], &key); j++)
				cand[n_cand++] = sorted[j];
		}
		err = new_class(&b, &v.next);
		if (!err)
			err = put(&b, SPLICER_TAG_DST | head->k.proto, 0,
				  head->k.dst, head->k.dst_len, &v);
		if (!err)
			err = put_ports(&b, v.next, cand, n_cand);
	}
out:
	for (i = 0; i < b.n_pclasses; i++)
		free(b.pclasses[i].rules);
	free(b.pclasses);
	free(b.pc_slot);
	free(sorted);
	free(cand);
	if (err) {
		close(b.fd);
		return err;
	}
	*trie_fd = b.fd;
	return 0;
}

/* One pointer swap: packets see the old index or the new, never a mix. */
int index_swap(const struct state *st, int trie_fd)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(st->rule_index, &zero, &trie_fd, BPF_ANY))
		return err_kernel(-errno, "publish rule index");
	return 0;
}

int index_publish(const struct state *st, const struct rule *r, size_t n)
{
	int fd, err;

	err = index_build(r, n, &fd);
	if (err)
		return err;
	err = index_swap(st, fd);
	close(fd);
	return err;
}
