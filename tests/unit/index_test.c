/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differential test of the rule index: random overlapping rule sets are
 * compiled by splicer's own code into the real program's maps, random
 * packets go through the verifier-loaded program with BPF_PROG_TEST_RUN,
 * and the verdict and the rule counter that moved must equal what a plain
 * reference classifier, written here from the documented precedence,
 * says. Run it in an empty network namespace: no socket may match.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util.h"
#include "arena.h"
#include "pinroot.h"
#include "store.h"
#include "state.h"
#include "out.h"
#include "rng.h"
#include "splicer.skel.h"

#define IF_A 1000
#define IF_B 1001
#define MAX_TEST_RULES 512

struct packet {
	__u32 saddr, daddr; /* host order */
	__u16 sport, dport;
	__u8 proto;
	__u32 iface;
};

static bool matches(const struct rule *r, const struct packet *p)
{
	return r->k.proto == p->proto &&
	       !((ntohl(r->k.dst[0]) ^ p->daddr) & mask4(r->k.dst_len)) &&
	       !((ntohl(r->k.src[0]) ^ p->saddr) & mask4(r->k.src_len)) &&
	       p->dport >= r->k.port_lo && p->dport <= r->k.port_hi &&
	       (!r->k.ifindex || r->k.ifindex == p->iface);
}

/* The README's precedence, stated on its own: true if a beats b. */
static bool beats(const struct rule *a, const struct rule *b)
{
	if (a->k.dst_len != b->k.dst_len)
		return a->k.dst_len > b->k.dst_len;
	if (a->k.src_len != b->k.src_len)
		return a->k.src_len > b->k.src_len;
	if (a->k.port_hi - a->k.port_lo != b->k.port_hi - b->k.port_lo)
		return a->k.port_hi - a->k.port_lo <
		       b->k.port_hi - b->k.port_lo;
	if (a->k.port_lo != b->k.port_lo)
		return a->k.port_lo < b->k.port_lo;
	return a->k.ifindex && !b->k.ifindex;
}

static const struct rule *reference(const struct rule *r, size_t n,
				    const struct packet *p)
{
	const struct rule *best = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (matches(&r[i], p) && (!best || beats(&r[i], best)))
			best = &r[i];
	return best;
}

static void random_rule(struct rule *r, __u32 id)
{
	static const __u32 dlens[] = { 0, 8, 12, 16, 20, 24, 28, 30, 32, 32 };
	static const __u32 slens[] = { 8, 16, 24, 32 };
	static const __u32 widths[] = { 0, 0, 0, 1, 3, 10, 30, 65535 };
	static const __u32 ifs[] = { 0, 0, 0, IF_A, IF_B };
	__u32 dlen = pick(dlens, 10), lo, hi;

	memset(r, 0, sizeof(*r));
	r->k.proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
	r->k.dst_len = dlen;
	r->k.family = AF_INET;
	r->k.dst[0] = htonl((0x0a000000 | (rnd() & 0xffff)) & mask4(dlen));
	if (rnd() % 2) {
		r->k.src_len = pick(slens, 4);
		r->k.src[0] = htonl((0xc0a80000 | (rnd() & 0xffff)) &
				    mask4(r->k.src_len));
	}
	lo = 1 + rnd() % 64;
	hi = lo + pick(widths, 8);
	if (rnd() % 10 == 0)
		lo = 1;
	r->k.port_lo = lo;
	r->k.port_hi = hi > 65535 ? 65535 : hi;
	r->k.ifindex = pick(ifs, 5);
	r->v.id = id;
	r->v.action = rnd() % 3;
	r->v.to_addr[0] = htonl(INADDR_LOOPBACK);
	r->v.to_port = htons(20000 + rnd() % 1000);
}

/*
 * A sibling of an earlier rule that differs in one field only, so that
 * every step of the precedence gets to decide between real candidates.
 */
static void sibling_rule(struct rule *r, const struct rule *of, __u32 id)
{
	static const __u32 ifs[] = { 0, IF_A, IF_B };

	random_rule(r, id);
	r->k = of->k;
	switch (rnd() % 4) {
	case 0:
		r->k.ifindex = pick(ifs, 3);
		break;
	case 1:
		r->k.port_hi = r->k.port_lo + rnd() % 5;
		break;
	case 2:
		r->k.src_len = r->k.src_len ? r->k.src_len - 8 : 16;
		r->k.src[0] = htonl((0xc0a80000 | (rnd() & 0xffff)) &
				    mask4(r->k.src_len));
		break;
	default:
		r->k.dst_len = r->k.dst_len >= 4 ? r->k.dst_len - 4 : 32;
		r->k.dst[0] = htonl(ntohl(of->k.dst[0]) & mask4(r->k.dst_len));
		break;
	}
}

static void random_packet(const struct rule *r, size_t n, struct packet *p)
{
	const struct rule *near = n ? &r[rnd() % n] : NULL;

	p->proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
	/* Mostly near a rule's prefixes, so that overlaps are exercised. */
	p->daddr = 0x0a000000 | (rnd() & 0xffff);
	if (near && rnd() % 4)
		p->daddr = (ntohl(near->k.dst[0]) & mask4(near->k.dst_len)) |
			   (p->daddr & ~mask4(near->k.dst_len) & 0xffff);
	p->saddr = 0xc0a80000 | (rnd() & 0xffff);
	if (near && near->k.src_len && rnd() % 2)
		p->saddr = ntohl(near->k.src[0]) |
			   (p->saddr & ~mask4(near->k.src_len) & 0xffff);
	p->dport = rnd() % 80;
	if (near && rnd() % 2)
		p->dport = near->k.port_lo + rnd() % 3 - 1;
	if (rnd() % 20 == 0)
		p->dport = rnd() & 0xffff;
	p->sport = 1024 + rnd() % 60000;
	p->iface = rnd() % 2 ? IF_A : IF_B;
}

static size_t build_frame(const struct packet *p, unsigned char *buf)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	size_t l4 = p->proto == IPPROTO_TCP ? sizeof(struct tcphdr) :
					      sizeof(struct udphdr);

	memset(buf, 0, 128);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = p->proto;
	ip->tot_len = htons(sizeof(*ip) + l4);
	ip->saddr = htonl(p->saddr);
	ip->daddr = htonl(p->daddr);
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);

		th->source = htons(p->sport);
		th->dest = htons(p->dport);
		th->doff = 5;
		th->syn = 1;
	} else {
		struct udphdr *uh = (void *)(ip + 1);

		uh->source = htons(p->sport);
		uh->dest = htons(p->dport);
		uh->len = htons(sizeof(*uh));
	}
	return sizeof(*eth) + sizeof(*ip) + l4;
}

static int expected_reason(const struct rule *r)
{
	if (!r)
		return REASON_DROP_NO_RULE;
	switch (r->v.action) {
	case SPLICER_ACT_PASS:
		return REASON_PASS_RULE;
	case SPLICER_ACT_REDIRECT:
		return REASON_DROP_NO_LISTENER; /* no socket in this netns */
	default:
		return REASON_DROP_RULE;
	}
}

/* The reason whose counter moved since *before, which is then updated. */
static int moved_reason(const struct state *st, struct iface_stats *before)
{
	struct iface_stats now;
	__u32 slot = 1;
	int r, moved = -1;

	percpu_sum(st->iface_stats, &slot, &now, sizeof(now),
		   sizeof(now) / sizeof(__u64));
	for (r = 0; r < REASON_MAX_IPV4; r++) {
		if (now.reason[r].packets == before->reason[r].packets)
			continue;
		moved = moved == -1 ? r : -2;
	}
	*before = now;
	return moved;
}

static long moved_rule(const struct state *st, const struct rule *r, size_t n,
		       __u64 *before)
{
	struct counter c;
	long moved = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		percpu_sum(st->rule_stats, &r[i].v.id, &c, sizeof(c), 2);
		if (c.packets != before[i])
			moved = moved ? -1 : (long)r[i].v.id;
		before[i] = c.packets;
	}
	return moved;
}

static void describe(const struct packet *p, char *buf, size_t size)
{
	snprintf(buf, size, "%s %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u on if%u",
		 p->proto == IPPROTO_TCP ? "tcp" : "udp", p->saddr >> 24,
		 (p->saddr >> 16) & 255, (p->saddr >> 8) & 255, p->saddr & 255,
		 p->sport, p->daddr >> 24, (p->daddr >> 16) & 255,
		 (p->daddr >> 8) & 255, p->daddr & 255, p->dport, p->iface);
}

static int cmp_addr(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Runs one packet; the reason that moved. */
static int run_packet(int prog_fd, const struct state *st,
		      const struct packet *p, struct iface_stats *before_if)
{
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct __sk_buff ctx = { .ingress_ifindex = p->iface };
	unsigned char frame[128];

	t.data_in = frame;
	t.data_size_in = build_frame(p, frame);
	t.ctx_in = &ctx;
	t.ctx_size_in = sizeof(ctx);
	if (bpf_prog_test_run_opts(prog_fd, &t)) {
		fprintf(stderr, "index_test: test run: %s\n", strerror(errno));
		exit(2);
	}
	return moved_reason(st, before_if);
}

/*
 * How many of the rules' /32 addresses sit in their second bucket of the
 * published index: the part of the table only a full first bucket sends
 * a lookup to.
 */
static size_t second_bucket_keys(const struct state *st, const struct rule *r,
				 size_t n)
{
	size_t i, second = 0, j;
	union ix_rec *rec;
	struct arena a;

	if (arena_open(st, false, &a))
		return 0;
	rec = a.header ? arena_rec(&a, 0, a.cap) : NULL;
	for (i = 0; rec && a.base.exact && i < n; i++) {
		__u32 b = splicer_ix_hash(ntohl(r[i].k.dst[0]), r[i].k.proto, 0,
					  a.base.exact_bits);
		const union ix_rec *k =
			&rec[a.base.exact + SPLICER_IX_BUCKET_RECS * b];

		for (j = 0; j < SPLICER_IX_BUCKET; j++)
			if (k->keys.addr[j] == r[i].k.dst[0] &&
			    k->keys.proto[j] == r[i].k.proto)
				break;
		second += j == SPLICER_IX_BUCKET;
	}
	arena_close(&a);
	return second;
}

/*
 * index_test exact SEED N: N rules on distinct /32 destinations, so many
 * that some first buckets of the /32 table fill up; every rule's own
 * address and port must find it, and its address with another port must
 * find no rule.
 */
static int exact_test(struct splicer_bpf *skel, struct state *st,
		      unsigned long long seed, size_t n)
{
	struct rule *r = calloc(n + 1, sizeof(*r));
	int prog_fd = bpf_program__fd(skel->progs.splicer_ingress);
	struct iface_stats before_if = {};
	long mismatches = 0;
	size_t i, j, second;
	__u32 *addrs;

	if (!r)
		return 2;
	/* random, distinct addresses: a regular sequence hashes too evenly */
	addrs = calloc(2 * n + 1, sizeof(*addrs));
	if (!addrs)
		return 2;
	for (i = 0; i < 2 * n; i++)
		addrs[i] = 0x0a000000 | (rnd() & 0xffffff);
	qsort(addrs, 2 * n, sizeof(*addrs), cmp_addr);
	for (i = 0, j = 0; i < 2 * n && j < n; i++)
		if (!i || addrs[i] != addrs[i - 1])
			addrs[j++] = addrs[i];
	n = j;
	for (i = 0; i < n; i++) {
		struct counter zero[256] = {};

		/* shuffled back, so that the table is filled in random order */
		j = i + rnd() % (n - i);
		r[i].k.family = AF_INET;
		r[i].k.dst[0] = htonl(addrs[j]);
		addrs[j] = addrs[i];
		r[i].k.dst_len = 32;
		r[i].k.proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
		r[i].k.port_lo = r[i].k.port_hi = 1 + rnd() % 60000;
		r[i].v.id = i + 1;
		r[i].v.action = rnd() % 2 ? SPLICER_ACT_PASS : SPLICER_ACT_DROP;
		bpf_map_update_elem(st->rule_stats, &r[i].v.id, zero, BPF_ANY);
	}
	if (arena_publish_rules(st, r, n))
		return 2;
	second = second_bucket_keys(st, r, n);
	moved_reason(st, &before_if);
	for (i = 0; i < n && mismatches <= 20; i++) {
		struct packet p = {
			.saddr = 0xc0a80000 | (rnd() & 0xffff),
			.daddr = ntohl(r[i].k.dst[0]),
			.sport = 1024 + rnd() % 60000,
			.dport = r[i].k.port_lo,
			.proto = r[i].k.proto,
			.iface = IF_A,
		};
		int want = expected_reason(&r[i]), got;
		struct counter c;

		got = run_packet(prog_fd, st, &p, &before_if);
		percpu_sum(st->rule_stats, &r[i].v.id, &c, sizeof(c), 2);
		if (got != want || c.packets != 1) {
			fprintf(stderr,
				"MISMATCH exact: rule %u: reason %d "
				"(want %d), its counter %llu\n",
				r[i].v.id, got, want,
				(unsigned long long)c.packets);
			mismatches++;
		}
		p.dport = p.dport % 60000 + 1;
		got = run_packet(prog_fd, st, &p, &before_if);
		if (got != REASON_DROP_NO_RULE) {
			fprintf(stderr,
				"MISMATCH exact: rule %u, another "
				"port: reason %d\n",
				r[i].v.id, got);
			mismatches++;
		}
	}
	printf("index_test: exact: seed %llu: %zu rules (%zu in a second "
	       "bucket), %zu packets, %ld mismatches\n",
	       seed, n, second, 2 * n, mismatches);
	free(addrs);
	free(r);
	return mismatches ? 1 : 0;
}

/* The arena's bump: where its next records go. */
static __u32 arena_bump(const struct state *st)
{
	union ix_rec *r;
	struct arena a;
	__u32 bump = 0;

	if (!arena_open(st, false, &a) && (r = arena_rec(&a, 0, 1)))
		bump = r->anchor.bump;
	arena_close(&a);
	return bump;
}

/* ------------------------------------------------------------- deltas */

/* Do two destination prefixes of one protocol hold one another? */
static bool overlaps(const struct rule *r, const struct ix_region *g)
{
	__u8 len = r->k.dst_len < g->len ? r->k.dst_len : g->len;

	return r->k.family == g->family && r->k.proto == g->proto &&
	       prefix_holds(g->dst, len, r->k.dst, len);
}

static void add_region(struct ix_region *g, size_t *n, const struct rule *r)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (g[i].family == r->k.family &&
		    !addr_cmp(g[i].dst, r->k.dst) && g[i].len == r->k.dst_len &&
		    g[i].proto == r->k.proto)
			return;
	g[*n] = (struct ix_region){ .len = r->k.dst_len,
				    .proto = r->k.proto,
				    .family = r->k.family };
	memcpy(g[(*n)++].dst, r->k.dst, sizeof(r->k.dst));
}

/* One random change to the live set l[0..*n); its prefix becomes a region. */
static void random_change(struct rule *l, size_t *n, __u32 *next_id,
			  struct ix_region *g, size_t *n_g,
			  const struct state *st)
{
	struct counter zero[256] = {};
	struct rule r;
	size_t i, k;

	switch (*n ? rnd() % 4 : 0) {
	case 0: /* a new rule, near an old one or anywhere */
	case 1:
		if (*n && rnd() % 2)
			sibling_rule(&r, &l[rnd() % *n], *next_id);
		else
			random_rule(&r, *next_id);
		for (i = 0; i < *n; i++)
			if (!memcmp(&l[i].k, &r.k, sizeof(r.k)))
				return;
		if (*n >= MAX_TEST_RULES)
			return;
		bpf_map_update_elem(st->rule_stats, &r.v.id, zero, BPF_ANY);
		(*next_id)++;
		l[(*n)++] = r;
		add_region(g, n_g, &r);
		return;
	case 2: /* a rule goes */
		k = rnd() % *n;
		add_region(g, n_g, &l[k]);
		l[k] = l[--*n];
		return;
	default: /* a rule takes another action */
		k = rnd() % *n;
		l[k].v.action = (l[k].v.action + 1 + rnd() % 2) % 3;
		add_region(g, n_g, &l[k]);
		return;
	}
}

/*
 * Sends n_packets random packets; counts those whose verdict or rule
 * counter differs from the reference classifier over l[0..n).
 */
static long check_packets(int prog_fd, const struct state *st,
			  const struct rule *l, size_t n,
			  const struct rule *all, size_t n_all, __u64 *before,
			  int n_packets, const char *what)
{
	struct iface_stats before_if = {};
	long mismatches = 0;
	int i, got;

	moved_reason(st, &before_if);
	moved_rule(st, all, n_all, before);
	for (i = 0; i < n_packets; i++) {
		const struct rule *want;
		struct packet p;
		long got_rule;
		char buf[96];

		/* near the live rules, or near rules that are gone */
		random_packet(rnd() % 4 || !n_all ? l : all,
			      rnd() % 4 || !n_all ? n : n_all, &p);
		want = reference(l, n, &p);
		got = run_packet(prog_fd, st, &p, &before_if);
		got_rule = moved_rule(st, all, n_all, before);
		if (got == expected_reason(want) &&
		    got_rule == (want ? (long)want->v.id : 0))
			continue;
		if (++mismatches <= 10) {
			describe(&p, buf, sizeof(buf));
			fprintf(stderr,
				"index_test: %s: %s: reason %d rule %ld, "
				"want %d rule %u\n",
				what, buf, got, got_rule, expected_reason(want),
				want ? want->v.id : 0);
		}
	}
	return mismatches;
}

/*
 * index_test delta SEED ROUNDS STEPS RULES PACKETS: a base of RULES
 * random rules, then STEPS random changes, each published as a delta
 * over that base (every live rule whose prefix holds or is held by a
 * changed prefix, and those prefixes as regions); after each, packets
 * must classify as the reference says of the live set, and again after
 * the same set is published whole from scratch. Every few steps the
 * live set becomes the base, as splicer does when a delta grows.
 */
static int delta_test(struct splicer_bpf *skel, const struct state *st,
		      int rounds, int steps, int n_rules, int n_packets)
{
	int prog_fd = bpf_program__fd(skel->progs.splicer_ingress);
	size_t cap_all = MAX_TEST_RULES * 64;
	struct rule *l = calloc(MAX_TEST_RULES, sizeof(*l));
	struct rule *b = calloc(MAX_TEST_RULES, sizeof(*b));
	struct rule *near = calloc(MAX_TEST_RULES, sizeof(*near));
	struct rule *all = calloc(cap_all, sizeof(*all));
	struct ix_region *g = calloc(cap_all, sizeof(*g));
	__u64 *before = calloc(cap_all, sizeof(*before));
	long mismatches = 0, checked = 0, deltas = 0;
	size_t n, n_b, n_all = 0, n_g, n_near, i, j;
	__u32 next_id = 1;
	int round, step, k, err;

	if (!l || !b || !near || !all || !g || !before)
		return 2;
	for (round = 0; round < rounds; round++) {
		struct counter zero[256] = {};

		n = n_g = 0;
		while ((int)n < n_rules) {
			if (n && rnd() % 3 == 0)
				sibling_rule(&l[n], &l[rnd() % n], next_id);
			else
				random_rule(&l[n], next_id);
			for (i = 0; i < n; i++)
				if (!memcmp(&l[i].k, &l[n].k, sizeof(l[n].k)))
					break;
			if (i < n)
				continue;
			bpf_map_update_elem(st->rule_stats, &l[n].v.id, zero,
					    BPF_ANY);
			next_id++;
			n++;
		}
		memcpy(b, l, n * sizeof(*l));
		n_b = n;
		for (step = 0; step < steps; step++) {
			struct arena_pub pub = {};
			struct arena a;

			if (arena_publish_rules(st, b, n_b))
				return 2;
			for (k = 0; k < 1 + (int)(rnd() % 3); k++)
				random_change(l, &n, &next_id, g, &n_g, st);
			if (rnd() % 8 == 0 || n_g > MAX_TEST_RULES) {
				/* the live set becomes the base */
				memcpy(b, l, n * sizeof(*l));
				n_b = n;
				n_g = 0;
				continue;
			}
			for (i = 0, n_near = 0; i < n; i++)
				for (j = 0; j < n_g; j++)
					if (overlaps(&l[i], &g[j])) {
						near[n_near++] = l[i];
						break;
					}
			pub.delta = near;
			pub.n_delta = n_near;
			pub.regions = g;
			pub.n_regions = n_g;
			err = arena_open(st, true, &a);
			if (!err)
				err = arena_publish(st, &a, &pub);
			arena_close(&a);
			if (err)
				return 2;
			deltas++;
			/* every rule ever, for the counters */
			for (i = 0; i < n && n_all < cap_all; i++) {
				for (j = 0; j < n_all; j++)
					if (all[j].v.id == l[i].v.id)
						break;
				if (j == n_all)
					all[n_all++] = l[i];
			}
			mismatches += check_packets(prog_fd, st, l, n, all,
						    n_all, before, n_packets,
						    "delta");
			if (arena_publish_rules(st, l, n))
				return 2;
			mismatches += check_packets(prog_fd, st, l, n, all,
						    n_all, before, n_packets,
						    "from scratch");
			checked += 2 * n_packets;
		}
	}
	printf("index_test: delta: %d rounds of %d steps, %ld deltas, %ld "
	       "packets, %ld mismatches\n",
	       rounds, steps, deltas, checked, mismatches);
	return mismatches ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	int n_rules = argc > 3 ? atoi(argv[3]) : 40;
	int n_packets = argc > 4 ? atoi(argv[4]) : 500;
	struct rule *rules = calloc(MAX_TEST_RULES, sizeof(*rules));
	__u64 *before_rule = calloc(MAX_TEST_RULES, sizeof(__u64));
	struct iface_stats before_if = {};
	struct iface_cfg cfg = { .slot = 1 };
	unsigned char frame[128];
	struct splicer_bpf *skel;
	struct state st = {};
	long mismatches = 0, checked = 0, matched = 0, extents = 0;
	__u32 ifs[] = { IF_A, IF_B }, bump, last_bump = 0;
	int round, i, prog_fd, err;

	bool exact = argc == 4 && !strcmp(argv[1], "exact");
	bool delta = argc == 7 && !strcmp(argv[1], "delta");

	if (!rules || !before_rule || (!exact && n_rules > MAX_TEST_RULES)) {
		fprintf(stderr, "index_test: bad arguments\n");
		return 2;
	}
	rnd_seed(seed);
	skel = splicer_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "index_test: load: %s\n", strerror(errno));
		return 2;
	}
	if (delta) {
		rnd_seed(strtoull(argv[2], NULL, 0));
		st.rule_stats = bpf_map__fd(skel->maps.rule_stats);
		st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
		st.rule_index = bpf_map__fd(skel->maps.rule_arena);
		test_pin_root_make(&st);
		for (i = 0; i < 2; i++)
			bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces),
					    &ifs[i], &cfg, BPF_ANY);
		return delta_test(skel, &st, atoi(argv[3]), atoi(argv[4]),
				  atoi(argv[5]), atoi(argv[6]));
	}
	if (exact) {
		seed = strtoull(argv[2], NULL, 0);
		rnd_seed(seed);
		st.rule_stats = bpf_map__fd(skel->maps.rule_stats);
		st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
		st.rule_index = bpf_map__fd(skel->maps.rule_arena);
		test_pin_root_make(&st);
		bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces), &ifs[0],
				    &cfg, BPF_ANY);
		return exact_test(skel, &st, seed, strtoul(argv[3], NULL, 0));
	}
	prog_fd = bpf_program__fd(skel->progs.splicer_ingress);
	st.rule_stats = bpf_map__fd(skel->maps.rule_stats);
	st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
	st.rule_index = bpf_map__fd(skel->maps.rule_arena);
	test_pin_root_make(&st);
	/* Both test interfaces count into slot 1. */
	for (i = 0; i < 2; i++)
		bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces), &ifs[i],
				    &cfg, BPF_ANY);

	for (round = 0; round < rounds; round++) {
		size_t n = 0;

		for (i = 0; i < n_rules; i++) {
			struct counter zero[256] = {};
			size_t j;
			bool dup = false;

			if (n && rnd() % 3 == 0)
				sibling_rule(&rules[n], &rules[rnd() % n],
					     round * 1000 + i + 1);
			else
				random_rule(&rules[n], round * 1000 + i + 1);
			for (j = 0; j < n && !dup; j++)
				dup = !memcmp(&rules[j].k, &rules[n].k,
					      sizeof(rules[n].k));
			if (dup)
				continue;
			bpf_map_update_elem(st.rule_stats, &rules[n].v.id, zero,
					    BPF_ANY);
			before_rule[n] = 0;
			n++;
		}
		err = arena_publish_rules(&st, rules, n);
		if (err) {
			fprintf(stderr, "index_test: round %d: index: %d\n",
				round, err);
			return 2;
		}
		/* a free extent chosen anew: after a grace period */
		bump = arena_bump(&st);
		extents += bump < last_bump;
		last_bump = bump;
		moved_reason(&st, &before_if);

		for (i = 0; i < n_packets; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, t);
			struct __sk_buff ctx = {};
			const struct rule *want;
			struct packet p;
			long got_rule;
			int got, want_reason;
			char what[96];

			random_packet(rules, n, &p);
			want = reference(rules, n, &p);
			want_reason = expected_reason(want);
			ctx.ingress_ifindex = p.iface;
			t.data_in = frame;
			t.data_size_in = build_frame(&p, frame);
			t.ctx_in = &ctx;
			t.ctx_size_in = sizeof(ctx);
			err = bpf_prog_test_run_opts(prog_fd, &t);
			if (err) {
				fprintf(stderr, "index_test: test run: %s\n",
					strerror(errno));
				return 2;
			}
			got = moved_reason(&st, &before_if);
			got_rule = moved_rule(&st, rules, n, before_rule);
			checked++;
			matched += want != NULL;
			if (got == want_reason &&
			    got_rule == (want ? (long)want->v.id : 0) &&
			    (int)t.retval == (want_reason == REASON_PASS_RULE ?
						      TC_ACT_OK :
						      TC_ACT_SHOT))
				continue;
			describe(&p, what, sizeof(what));
			fprintf(stderr,
				"MISMATCH seed %llu round %d: %s: want rule "
				"%u reason %d, got rule %ld reason %d "
				"retval %u\n",
				seed, round, what, want ? want->v.id : 0,
				want_reason, got_rule, got, t.retval);
			if (++mismatches > 20)
				break;
		}
		/* Start the next round's counters from zero. */
		for (i = 0; i < (int)n; i++)
			bpf_map_delete_elem(st.rule_stats, &rules[i].v.id);
	}
	printf("index_test: seed %llu: %ld packets (%ld matching a rule, %ld "
	       "free extents chosen anew), %ld mismatches\n",
	       seed, checked, matched, extents, mismatches);
	splicer_bpf__destroy(skel);
	return mismatches ? 1 : 0;
}
