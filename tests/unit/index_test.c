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
#include <linux/ipv6.h>
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

/*
 * Which families the rules and packets are of: IPv4 only (the default),
 * IPv6 only (v6), or both at once (mix).
 */
enum { FAM_V4, FAM_V6, FAM_MIX } fam_mode;

/* iface_stats6: IPv6 frames' reasons */
static int stats6_fd = -1;

struct packet {
	__u32 saddr[4], daddr[4]; /* host order words; IPv4: the first */
	__u16 sport, dport;
	__u8 proto;
	__u8 family;
	__u32 iface;
};

/* Does prefix net/len (network order) hold the address a (host order)? */
static bool pfx_match(const __be32 net[4], unsigned int len, const __u32 a[4])
{
	unsigned int w, cut;

	for (w = 0; w < 4; w++) {
		cut = len > 32 * w ? len - 32 * w : 0;
		if (cut > 32)
			cut = 32;
		if ((ntohl(net[w]) ^ a[w]) & mask4(cut))
			return false;
	}
	return true;
}

static bool matches(const struct rule *r, const struct packet *p)
{
	return r->k.family == p->family && r->k.proto == p->proto &&
	       pfx_match(r->k.dst, r->k.dst_len, p->daddr) &&
	       pfx_match(r->k.src, r->k.src_len, p->saddr) &&
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

/*
 * A random IPv6 address (host order words): the top 16 bits top, then 14
 * random bits spread one every 8 bits down to the last, so that prefixes
 * of every length from /0 to /128 hold one another often.
 */
static void addr6_random(__u32 a[4], __u32 top)
{
	unsigned int i, pos;

	a[0] = top << 16;
	a[1] = a[2] = a[3] = 0;
	for (i = 0; i < 14; i++) {
		pos = 16 + 8 * i + 7;
		if (rnd() & 1)
			a[pos / 32] |= 1U << (31 - pos % 32);
	}
}

static void addr6_set(__be32 to[4], const __u32 a[4], unsigned int len)
{
	unsigned int w;

	for (w = 0; w < 4; w++)
		to[w] = htonl(a[w]);
	prefix_mask(to, len);
}

/* An IPv6 redirect target: ::1 mostly, sometimes one of a few others. */
static void target6(struct rule *r)
{
	memset(r->v.to_addr, 0, sizeof(r->v.to_addr));
	r->v.to_addr[3] = htonl(1);
	if (rnd() % 4 == 0) {
		r->v.to_addr[0] = htonl(0xfd0f0000);
		r->v.to_addr[3] = htonl(1 + rnd() % 3);
	}
}

static int random_family(void)
{
	if (fam_mode == FAM_V4)
		return AF_INET;
	if (fam_mode == FAM_V6)
		return AF_INET6;
	return rnd() % 2 ? AF_INET6 : AF_INET;
}

static void random_rule6(struct rule *r)
{
	static const __u32 dlens[] = { 0,  8,  16,  24,	 32,  48,  64,
				       72, 96, 112, 120, 126, 128, 128 };
	static const __u32 slens[] = { 24, 64, 96, 128 };
	__u32 a[4];

	r->k.family = AF_INET6;
	r->k.dst_len = pick(dlens, 14);
	addr6_random(a, 0xfd00);
	addr6_set(r->k.dst, a, r->k.dst_len);
	memset(r->k.src, 0, sizeof(r->k.src));
	r->k.src_len = 0;
	if (rnd() % 2) {
		r->k.src_len = pick(slens, 4);
		addr6_random(a, 0xfd01);
		addr6_set(r->k.src, a, r->k.src_len);
	}
	target6(r);
}

static void random_rule(struct rule *r, __u32 id)
{
	static const __u32 dlens[] = { 0, 8, 12, 16, 20, 24, 28, 30, 32, 32 };
	static const __u32 slens[] = { 8, 16, 24, 32 };
	static const __u32 widths[] = { 0, 0, 0, 1, 3, 10, 30, 65535 };
	static const __u32 ifs[] = { 0, 0, 0, IF_A, IF_B };
	int family = random_family();
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
	/* a counter slot of its own, as slots.c gives: not the id */
	r->slot = id + 7;
	r->v.action = rnd() % 3;
	r->v.to_addr[0] = htonl(INADDR_LOOPBACK);
	r->v.to_port = htons(20000 + rnd() % 1000);
	if (family == AF_INET6)
		random_rule6(r);
}

/*
 * A sibling of an earlier rule that differs in one field only, so that
 * every step of the precedence gets to decide between real candidates.
 */
static void sibling_rule(struct rule *r, const struct rule *of, __u32 id)
{
	static const __u32 ifs[] = { 0, IF_A, IF_B };
	bool v6 = of->k.family == AF_INET6;
	__u32 a[4];

	random_rule(r, id);
	r->k = of->k;
	if (v6)
		target6(r);
	else
		memset(r->v.to_addr, 0, sizeof(r->v.to_addr)),
			r->v.to_addr[0] = htonl(INADDR_LOOPBACK);
	switch (rnd() % 4) {
	case 0:
		r->k.ifindex = pick(ifs, 3);
		break;
	case 1:
		r->k.port_hi = r->k.port_lo + rnd() % 5;
		break;
	case 2:
		if (v6) {
			r->k.src_len = r->k.src_len ? r->k.src_len - 32 : 64;
			addr6_random(a, 0xfd01);
			addr6_set(r->k.src, a, r->k.src_len);
			break;
		}
		r->k.src_len = r->k.src_len ? r->k.src_len - 8 : 16;
		r->k.src[0] = htonl((0xc0a80000 | (rnd() & 0xffff)) &
				    mask4(r->k.src_len));
		break;
	default:
		if (v6) {
			r->k.dst_len = r->k.dst_len >= 8 ? r->k.dst_len - 8 :
							   128;
			prefix_mask(r->k.dst, r->k.dst_len);
			break;
		}
		r->k.dst_len = r->k.dst_len >= 4 ? r->k.dst_len - 4 : 32;
		r->k.dst[0] = htonl(ntohl(of->k.dst[0]) & mask4(r->k.dst_len));
		break;
	}
}

/* Near prefix net/len: its bits, then those of a (host order). */
static void near_addr(__u32 a[4], const __be32 net[4], unsigned int len)
{
	unsigned int w, cut;

	for (w = 0; w < 4; w++) {
		cut = len > 32 * w ? len - 32 * w : 0;
		if (cut > 32)
			cut = 32;
		a[w] = (ntohl(net[w]) & mask4(cut)) | (a[w] & ~mask4(cut));
	}
}

static void random_packet(const struct rule *r, size_t n, struct packet *p)
{
	const struct rule *near = n ? &r[rnd() % n] : NULL;

	memset(p, 0, sizeof(*p));
	p->family = near ? near->k.family : random_family();
	p->proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
	/* Mostly near a rule's prefixes, so that overlaps are exercised. */
	if (p->family == AF_INET6) {
		addr6_random(p->daddr, 0xfd00);
		addr6_random(p->saddr, 0xfd01);
		if (near && rnd() % 4)
			near_addr(p->daddr, near->k.dst, near->k.dst_len);
		if (near && near->k.src_len && rnd() % 2)
			near_addr(p->saddr, near->k.src, near->k.src_len);
	} else {
		p->daddr[0] = 0x0a000000 | (rnd() & 0xffff);
		if (near && rnd() % 4)
			p->daddr[0] = (ntohl(near->k.dst[0]) &
				       mask4(near->k.dst_len)) |
				      (p->daddr[0] & ~mask4(near->k.dst_len) &
				       0xffff);
		p->saddr[0] = 0xc0a80000 | (rnd() & 0xffff);
		if (near && near->k.src_len && rnd() % 2)
			p->saddr[0] = ntohl(near->k.src[0]) |
				      (p->saddr[0] & ~mask4(near->k.src_len) &
				       0xffff);
	}
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
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	size_t l4 = p->proto == IPPROTO_TCP ? sizeof(struct tcphdr) :
					      sizeof(struct udphdr);
	void *l4h = ip + 1;
	size_t l3 = sizeof(*ip);
	int w;

	memset(buf, 0, 128);
	if (p->family == AF_INET6) {
		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->payload_len = htons(l4);
		ip6->nexthdr = p->proto;
		ip6->hop_limit = 64;
		for (w = 0; w < 4; w++) {
			ip6->saddr.s6_addr32[w] = htonl(p->saddr[w]);
			ip6->daddr.s6_addr32[w] = htonl(p->daddr[w]);
		}
		l4h = ip6 + 1;
		l3 = sizeof(*ip6);
	} else {
		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = p->proto;
		ip->tot_len = htons(sizeof(*ip) + l4);
		ip->saddr = htonl(p->saddr[0]);
		ip->daddr = htonl(p->daddr[0]);
	}
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4h;

		th->source = htons(p->sport);
		th->dest = htons(p->dport);
		th->doff = 5;
		th->syn = 1;
	} else {
		struct udphdr *uh = l4h;

		uh->source = htons(p->sport);
		uh->dest = htons(p->dport);
		uh->len = htons(sizeof(*uh));
	}
	return sizeof(*eth) + l3 + l4;
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

/* Both families' reason counters of the test interfaces' slot. */
struct reasons {
	struct iface_stats v4;
	struct iface_stats6 v6;
};

/* The reason whose counter moved since *before, which is then updated. */
static int moved_reason(const struct state *st, struct reasons *before)
{
	struct reasons now = {};
	__u32 slot = 1;
	int r, moved = -1;

	percpu_sum(st->iface_stats, &slot, &now.v4, sizeof(now.v4),
		   sizeof(now.v4) / sizeof(__u64));
	if (stats6_fd >= 0)
		percpu_sum(stats6_fd, &slot, &now.v6, sizeof(now.v6),
			   sizeof(now.v6) / sizeof(__u64));
	for (r = 0; r < REASON_MAX; r++) {
		__u64 a = r < REASON_MAX_IPV4 ? now.v4.reason[r].packets : 0;
		__u64 b = r < REASON_MAX_IPV4 ? before->v4.reason[r].packets :
						0;

		a += now.v6.reason[r].packets;
		b += before->v6.reason[r].packets;
		if (a == b)
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
		percpu_sum(st->rule_counters, &r[i].slot, &c, sizeof(c), 2);
		if (c.packets != before[i])
			moved = moved ? -1 : (long)r[i].v.id;
		before[i] = c.packets;
	}
	return moved;
}

static void describe(const struct packet *p, char *buf, size_t size)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__be32 s[4], d[4];
	int w;

	for (w = 0; w < 4; w++) {
		s[w] = htonl(p->saddr[w]);
		d[w] = htonl(p->daddr[w]);
	}
	inet_ntop(p->family, s, src, sizeof(src));
	inet_ntop(p->family, d, dst, sizeof(dst));
	snprintf(buf, size,
		 p->family == AF_INET6 ? "%s [%s]:%u -> [%s]:%u on if%u" :
					 "%s %s:%u -> %s:%u on if%u",
		 p->proto == IPPROTO_TCP ? "tcp" : "udp", src, p->sport, dst,
		 p->dport, p->iface);
}

static int cmp_addr(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Runs one packet; the reason that moved. */
static int run_packet(int prog_fd, const struct state *st,
		      const struct packet *p, struct reasons *before_if)
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
	for (i = 0; rec && a.base6.exact && i < n; i++) {
		const struct rule_key *k = &r[i].k;
		__u32 fold =
			splicer_ix_fold6(ntohl(k->dst[0]), ntohl(k->dst[1]),
					 ntohl(k->dst[2]), ntohl(k->dst[3]));
		__u32 b =
			splicer_ix_hash(fold, k->proto, 0, a.base6.exact_bits);
		const union ix_rec *key =
			&rec[a.base6.exact + SPLICER_IX_BUCKET6_RECS * b];

		second += memcmp(key->keys6.addr, k->dst, 16) ||
			  key->keys6.proto != k->proto;
	}
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
	struct reasons before_if = {};
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
	/* IPv6: those as the last 24 bits of random /128s */
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
		r[i].k.dst_len = 32;
		if (fam_mode == FAM_V6) {
			r[i].k.family = AF_INET6;
			r[i].k.dst[0] = htonl(0xfd000000 | (rnd() & 0xffff));
			r[i].k.dst[1] = htonl(rnd());
			r[i].k.dst[2] = htonl(rnd());
			r[i].k.dst[3] = htonl(addrs[j]);
			r[i].k.dst_len = 128;
		}
		addrs[j] = addrs[i];
		r[i].k.proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
		r[i].k.port_lo = r[i].k.port_hi = 1 + rnd() % 60000;
		r[i].v.id = i + 1;
		r[i].slot = i + 8;
		r[i].v.action = rnd() % 2 ? SPLICER_ACT_PASS : SPLICER_ACT_DROP;
		bpf_map_update_elem(st->rule_counters, &r[i].slot, zero,
				    BPF_ANY);
	}
	if (arena_publish_rules(st, r, n))
		return 2;
	second = second_bucket_keys(st, r, n);
	moved_reason(st, &before_if);
	for (i = 0; i < n && mismatches <= 20; i++) {
		struct packet p = {
			.saddr = { 0xc0a80000 | (rnd() & 0xffff) },
			.sport = 1024 + rnd() % 60000,
			.dport = r[i].k.port_lo,
			.proto = r[i].k.proto,
			.family = r[i].k.family,
			.iface = IF_A,
		};
		int want = expected_reason(&r[i]), got, w;
		struct counter c;

		for (w = 0; w < 4; w++)
			p.daddr[w] = ntohl(r[i].k.dst[w]);
		if (p.family == AF_INET6)
			addr6_random(p.saddr, 0xfd01);
		got = run_packet(prog_fd, st, &p, &before_if);
		percpu_sum(st->rule_counters, &r[i].slot, &c, sizeof(c), 2);
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

/*
 * The lookup of bpf/lookup.bpf.h over the published records, in user
 * space: a second reading of the index format that checks the verdict's
 * redirect address (the program's run shows only the rule and reason).
 */
struct emu {
	const union ix_rec *rec;
	size_t cap;
};

typedef unsigned __int128 emu_key;

static const union ix_rec *emu_rec(const struct emu *e, __u32 i)
{
	return i < e->cap ? &e->rec[i] : NULL;
}

static const union ix_rec *emu_walk(const struct emu *e, __u32 idx, emu_key key,
				    unsigned int width)
{
	unsigned int stride = SPLICER_IX_FIRST(width), i, slot;
	const union ix_rec *n;
	__u64 bit, upto;

	key <<= 128 - width;
	for (i = 0; i < SPLICER_IX_LEVELS(width); i++) {
		n = emu_rec(e, idx);
		if (!n)
			return NULL;
		slot = key >> (128 - stride);
		key <<= stride;
		stride = SPLICER_IX_STRIDE;
		bit = 1ULL << slot;
		upto = bit | (bit - 1);
		if (n->node.vec & bit) {
			idx = n->node.base1 +
			      __builtin_popcountll(n->node.vec & upto) - 1;
			continue;
		}
		return emu_rec(e, n->node.base0 +
					  __builtin_popcountll(n->node.leafvec &
							       upto) -
					  1);
	}
	return NULL;
}

static emu_key emu_addr(const __u32 a[4], bool v6)
{
	return v6 ? (emu_key)a[0] << 96 | (emu_key)a[1] << 64 |
			       (emu_key)a[2] << 32 | a[3] :
		    a[0];
}

static const union ix_rec *emu_class(const struct emu *e, __u32 root,
				     const struct packet *p)
{
	bool v6 = p->family == AF_INET6;
	unsigned int bits = v6 ? 128 : 32;
	const union ix_rec *r, *s;

	if (!root)
		return NULL;
	r = emu_walk(e, root, p->dport, SPLICER_IX_PORT_BITS);
	if (!r)
		return NULL;
	if (r->v.flags & SPLICER_IX_SCOPED) {
		if (v6) {
			s = emu_walk(e, r->v.scoped, p->iface,
				     SPLICER_IX_IFINDEX_BITS);
			if (s && (s->v.flags & SPLICER_IX_SOURCES))
				s = emu_walk(e, s->v.sources,
					     emu_addr(p->saddr, true), 128);
		} else {
			s = emu_walk(e, r->v.scoped,
				     (emu_key)p->iface << 32 | p->saddr[0],
				     SPLICER_IX_SCOPED_BITS);
		}
		if (s && s->v.id)
			return s;
	}
	if (r->v.flags & SPLICER_IX_SOURCES)
		r = emu_walk(e, r->v.sources, emu_addr(p->saddr, v6), bits);
	return r && r->v.id ? r : NULL;
}

static const union ix_rec *emu_dst(const struct emu *e, __u32 part,
				   const struct packet *p)
{
	const union ix_rec *r = emu_rec(e, part), *k;
	bool v6 = p->family == AF_INET6;
	__u32 root, h, t, j, fold;
	__be32 d[4];

	if (!r)
		return NULL;
	for (j = 0; j < 4; j++)
		d[j] = htonl(p->daddr[j]);
	root = r->part.root[p->proto == IPPROTO_UDP];
	for (t = 0; r->part.exact && t < 2; t++) {
		if (v6) {
			fold = splicer_ix_fold6(p->daddr[0], p->daddr[1],
						p->daddr[2], p->daddr[3]);
			h = splicer_ix_hash(fold, p->proto, t,
					    r->part.exact_bits);
			k = emu_rec(e, r->part.exact +
					       SPLICER_IX_BUCKET6_RECS * h);
			if (!k)
				return NULL;
			if (k->keys6.proto == p->proto &&
			    !memcmp(k->keys6.addr, d, 16))
				return emu_rec(
					e, r->part.exact +
						   SPLICER_IX_BUCKET6_RECS * h +
						   1);
			if (!k->keys6.proto)
				break;
			continue;
		}
		h = splicer_ix_hash(p->daddr[0], p->proto, t,
				    r->part.exact_bits);
		k = emu_rec(e, r->part.exact + SPLICER_IX_BUCKET_RECS * h);
		if (!k)
			return NULL;
		for (j = 0; j < SPLICER_IX_BUCKET; j++)
			if (k->keys.addr[j] == d[0] &&
			    k->keys.proto[j] == p->proto)
				return emu_rec(
					e, r->part.exact +
						   SPLICER_IX_BUCKET_RECS * h +
						   1 + j);
		if (!k->keys.proto[SPLICER_IX_BUCKET - 1])
			break;
	}
	if (!root)
		return NULL;
	return emu_walk(e, root, emu_addr(p->daddr, v6), v6 ? 128 : 32);
}

/* The rule the live index gives p, as a rule (id 0: none; -1: corrupt). */
static int emu_find(const struct state *st, const struct packet *p,
		    struct rule *out)
{
	bool v6 = p->family == AF_INET6;
	const union ix_rec *r, *v = NULL, *t;
	struct arena a;
	struct emu e;
	__be32 to;
	__u32 hdr;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (arena_open(st, false, &a))
		return -1;
	e.cap = a.cap;
	e.rec = arena_rec(&a, 0, a.cap);
	hdr = a.header;
	if (!e.rec || !hdr)
		goto out;
	r = emu_dst(&e,
		    hdr + (v6 ? SPLICER_IX_HDR_DELTA6 : SPLICER_IX_HDR_DELTA),
		    p);
	if (!r || !(r->cls.flags & SPLICER_IX_AUTH))
		r = emu_dst(&e,
			    hdr + (v6 ? SPLICER_IX_HDR_BASE6 :
					SPLICER_IX_HDR_BASE),
			    p);
	if (!r)
		goto out;
	if (r->cls.id) {
		if (p->dport >= r->cls.port_lo && p->dport <= r->cls.port_hi) {
			out->v.id = r->cls.id;
			out->slot = r->cls.slot;
			out->v.action = r->cls.action;
			out->v.to_port = r->cls.to_port;
			to = r->cls.to_addr;
			goto found;
		}
	} else {
		v = emu_class(&e, r->cls.own, p);
	}
	if (!v)
		v = emu_class(&e, r->cls.fallback, p);
	if (!v)
		goto out;
	out->v.id = v->v.id;
	out->slot = v->v.slot;
	out->v.action = v->v.action;
	out->v.to_port = v->v.to_port;
	to = v->v.to_addr;
found:
	if (!v6 || !to) {
		out->v.to_addr[0] = to;
		goto out;
	}
	t = emu_rec(&e, to);
	if (!t)
		ret = -1;
	else
		memcpy(out->v.to_addr, t->target.addr, 16);
out:
	arena_close(&a);
	return ret;
}

/* Does the emulated lookup give want (NULL: none), redirect included? */
static bool emu_agrees(const struct state *st, const struct packet *p,
		       const struct rule *want)
{
	struct rule got;

	if (emu_find(st, p, &got))
		return false;
	if (!want)
		return !got.v.id;
	return got.v.id == want->v.id && got.slot == want->slot &&
	       got.v.action == want->v.action &&
	       got.v.to_port == want->v.to_port &&
	       !memcmp(got.v.to_addr, want->v.to_addr, 16);
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
		bpf_map_update_elem(st->rule_counters, &r.slot, zero, BPF_ANY);
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
	struct reasons before_if = {};
	long mismatches = 0;
	int i, got;

	moved_reason(st, &before_if);
	moved_rule(st, all, n_all, before);
	for (i = 0; i < n_packets; i++) {
		const struct rule *want;
		struct packet p;
		bool live = rnd() % 4 || !n_all;
		long got_rule;
		char buf[160];

		/* near the live rules, or near rules that are gone */
		random_packet(live ? l : all, live ? n : n_all, &p);
		want = reference(l, n, &p);
		got = run_packet(prog_fd, st, &p, &before_if);
		got_rule = moved_rule(st, all, n_all, before);
		if (got == expected_reason(want) &&
		    got_rule == (want ? (long)want->v.id : 0) &&
		    emu_agrees(st, &p, want))
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
			bpf_map_update_elem(st->rule_counters, &l[n].slot, zero,
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

/* index_test [v6|mix] ...: the families of the rules and packets. */
static int family_arg(int *argc, char ***argv)
{
	if (*argc > 1 && !strcmp((*argv)[1], "v6"))
		fam_mode = FAM_V6;
	else if (*argc > 1 && !strcmp((*argv)[1], "mix"))
		fam_mode = FAM_MIX;
	else
		return 0;
	(*argv)[1] = (*argv)[0];
	(*argc)--;
	(*argv)++;
	return 0;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
	family_arg(&argc, &argv);
	return run(argc, argv);
}

static int run(int argc, char **argv)
{
	unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	int n_rules = argc > 3 ? atoi(argv[3]) : 40;
	int n_packets = argc > 4 ? atoi(argv[4]) : 500;
	struct rule *rules = calloc(MAX_TEST_RULES, sizeof(*rules));
	__u64 *before_rule = calloc(MAX_TEST_RULES, sizeof(__u64));
	struct reasons before_if = {};
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
	stats6_fd = bpf_map__fd(skel->maps.iface_stats6);
	if (delta) {
		rnd_seed(strtoull(argv[2], NULL, 0));
		st.rule_counters = bpf_map__fd(skel->maps.rule_counters);
		st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
		st.rule_index = bpf_map__fd(skel->maps.rule_arena);
		test_pin_root_make(&st);
		for (i = 0; i < 2; i++)
			test_iface_set(bpf_map__fd(skel->maps.ifaces),
				       bpf_map__fd(skel->maps.iface_array),
				       ifs[i], &cfg);
		return delta_test(skel, &st, atoi(argv[3]), atoi(argv[4]),
				  atoi(argv[5]), atoi(argv[6]));
	}
	if (exact) {
		seed = strtoull(argv[2], NULL, 0);
		rnd_seed(seed);
		st.rule_counters = bpf_map__fd(skel->maps.rule_counters);
		st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
		st.rule_index = bpf_map__fd(skel->maps.rule_arena);
		test_pin_root_make(&st);
		test_iface_set(bpf_map__fd(skel->maps.ifaces),
			       bpf_map__fd(skel->maps.iface_array), ifs[0],
			       &cfg);
		return exact_test(skel, &st, seed, strtoul(argv[3], NULL, 0));
	}
	prog_fd = bpf_program__fd(skel->progs.splicer_ingress);
	st.rule_counters = bpf_map__fd(skel->maps.rule_counters);
	st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
	st.rule_index = bpf_map__fd(skel->maps.rule_arena);
	test_pin_root_make(&st);
	/* Both test interfaces count into slot 1. */
	for (i = 0; i < 2; i++)
		test_iface_set(bpf_map__fd(skel->maps.ifaces),
			       bpf_map__fd(skel->maps.iface_array), ifs[i],
			       &cfg);

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
			/* ids grow with the rounds; slots stay in the map */
			rules[n].slot = i + 8;
			bpf_map_update_elem(st.rule_counters, &rules[n].slot,
					    zero, BPF_ANY);
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
			char what[160];

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
			    emu_agrees(&st, &p, want) &&
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
	}
	printf("index_test: seed %llu: %ld packets (%ld matching a rule, %ld "
	       "free extents chosen anew), %ld mismatches\n",
	       seed, checked, matched, extents, mismatches);
	splicer_bpf__destroy(skel);
	return mismatches ? 1 : 0;
}
