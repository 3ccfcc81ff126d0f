/* SPDX-License-Identifier: GPL-2.0-only */
/* The tc ingress program: stateful default-deny IPv4 filter and redirector. */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "splicer.h"

char LICENSE[] SEC("license") = "GPL";

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define SSH_PORT 22
#define IP_OFFSET 0x1fff /* fragment offset bits of frag_off */
#define LOOPBACK_ADDR 0x7f000001 /* 127.0.0.1, host order */

/* Index entries carry a 64-bit tag+scope, then up to 32 bits of address. */
#define LPM_FULL (SPLICER_LPM_FIXED_BITS + 32)

struct index_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SPLICER_INDEX_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	/* Sizes, not types: clang emits inner-map pointee types as FWD only. */
	__uint(key_size, sizeof(struct lpm_key));
	__uint(value_size, sizeof(struct lpm_val));
};

/*
 * The compiled rule index sits behind one array slot so user space can
 * build a complete new trie and publish it with a single pointer swap: a
 * packet sees the old rule set or the new one, never a mix.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct index_trie);
} rule_index SEC(".maps");

/* The authoritative rule set; read by user space only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLICER_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_key);
	__type(value, struct rule_val);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SPLICER_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct counter);
} rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLICER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_cfg);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLICER_MAX_IFACE_ADDRS);
	__type(key, struct iface_addr);
	__type(value, __u8);
} iface_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SPLICER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_stats);
} iface_stats SEC(".maps");

/*
 * Internal verdicts are the reason codes; the single exit point turns them
 * into TC_ACT_* and counts them, so no path can return without counting.
 */
static __always_inline int reason_to_tc(int reason)
{
	switch (reason) {
	case REASON_PASS_ARP:
	case REASON_PASS_DHCP:
	case REASON_PASS_SSH:
	case REASON_PASS_ESTABLISHED:
	case REASON_PASS_RULE:
	case REASON_PASS_LOOPBACK:
	case REASON_REDIRECTED:
		return TC_ACT_OK;
	default:
		return TC_ACT_SHOT;
	}
}

static __always_inline void count(struct counter *c, __u32 len)
{
	c->packets++;
	c->bytes += len;
}

struct pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags; /* SYN/ACK bits, TCP only */
	__u16 l4_off;
	__be32 seq; /* TCP only */
	__u8 tcp_word[2]; /* data offset and flags bytes, TCP only */
};

/*
 * Only the path to the one field splicer reads; CO-RE finds its offset in
 * the running kernel's BTF.
 */
struct sock_common {
	union {
		__u32 skc_tw_rcv_nxt;
	};
} __attribute__((preserve_access_index));

struct inet_timewait_sock {
	struct sock_common __tw_common;
} __attribute__((preserve_access_index));

struct tcp_timewait_sock {
	struct inet_timewait_sock tw_sk;
} __attribute__((preserve_access_index));

#define F_SYN 0x02
#define F_ACK 0x10

/*
 * Parses Ethernet/IPv4/L4 into p. Returns -1 when the packet is ARP
 * (caller passes it), or a drop reason, or REASON_MAX when p is filled.
 */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl, l4_off;

	if ((void *)(eth + 1) > data_end)
		return REASON_DROP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return REASON_DROP_NOT_IPV4;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return REASON_DROP_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return REASON_DROP_MALFORMED;
	ihl = ip->ihl * 4;
	if (bpf_ntohs(ip->tot_len) < ihl ||
	    bpf_ntohs(ip->tot_len) > skb->len - sizeof(*eth))
		return REASON_DROP_MALFORMED;
	/* A non-first fragment's "ports" are payload: never match on them. */
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return REASON_DROP_FRAGMENT;

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->tcp_flags = 0;
	p->sport = 0;
	p->dport = 0;
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return REASON_MAX;

	l4_off = sizeof(*eth) + ihl;
	/*
	 * The L4 header may lie beyond the linear part of the skb; pull it
	 * in, after which every packet pointer must be reloaded.
	 */
	if (data + l4_off + sizeof(struct tcphdr) > data_end) {
		__u32 need = l4_off + (p->proto == IPPROTO_TCP ?
					       sizeof(struct tcphdr) :
					       sizeof(struct udphdr));

		if (need > skb->len || bpf_skb_pull_data(skb, need))
			return REASON_DROP_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	/* ihl is at most 15 words; masking keeps the verifier's bound. */
	l4_off &= 0x7f;
	p->l4_off = l4_off;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4_off;

		if ((void *)(th + 1) > data_end)
			return REASON_DROP_MALFORMED;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = (th->syn ? F_SYN : 0) | (th->ack ? F_ACK : 0);
		p->seq = th->seq;
		__builtin_memcpy(p->tcp_word, (__u8 *)th + 12, 2);
	} else {
		struct udphdr *uh = data + l4_off;

		if ((void *)(uh + 1) > data_end)
			return REASON_DROP_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
	}
	return REASON_MAX;
}

static __always_inline void tuple_of(const struct pkt *p,
				     struct bpf_sock_tuple *t)
{
	t->ipv4.saddr = p->saddr;
	t->ipv4.daddr = p->daddr;
	t->ipv4.sport = p->sport;
	t->ipv4.dport = p->dport;
}

enum established {
	EST_NONE,
	EST_YES,
	EST_TIMEWAIT_SYN, /* a SYN that found only TIME_WAIT */
};

/*
 * Does the packet belong to a socket this host already has? LISTEN
 * sockets do not count (that would open every listening port), nor do
 * unconnected UDP sockets. A SYN that finds only TIME_WAIT is a new
 * connection and must reach the rules, as with netfilter's TPROXY; its
 * tw_rcv_nxt is kept for reuse_timewait().
 */
static __always_inline enum established
established(struct __sk_buff *skb, const struct pkt *p, __u32 *tw_rcv_nxt)
{
	struct tcp_timewait_sock *tw;
	struct bpf_sock_tuple t = {};
	enum established ret;
	struct bpf_sock *sk;

	tuple_of(p, &t);
	if (p->proto == IPPROTO_UDP) {
		sk = bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return EST_NONE;
		ret = sk->dst_port != 0 ? EST_YES : EST_NONE;
		bpf_sk_release(sk);
		return ret;
	}
	sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS,
				0);
	if (!sk)
		return EST_NONE;
	ret = EST_YES;
	if (sk->state == BPF_TCP_LISTEN) {
		ret = EST_NONE;
	} else if (sk->state == BPF_TCP_TIME_WAIT &&
		   (p->tcp_flags & (F_SYN | F_ACK)) == F_SYN) {
		ret = EST_TIMEWAIT_SYN;
		tw = bpf_skc_to_tcp_timewait_sock(sk);
		if (tw)
			*tw_rcv_nxt = tw->tw_sk.__tw_common.skc_tw_rcv_nxt;
		else
			ret = EST_NONE;
	}
	bpf_sk_release(sk);
	return ret;
}

/*
 * Finds the winning rule: at most four trie lookups whatever the number
 * of rules (destination class, port class, source with and without the
 * interface scope). The compiled index already resolved precedence.
 */
static __always_inline struct lpm_val *rule_lookup(const struct pkt *p,
						   __u32 ifindex)
{
	struct lpm_key k = {};
	struct lpm_val *v;
	void *trie;
	__u32 zero = 0;

	trie = bpf_map_lookup_elem(&rule_index, &zero);
	if (!trie)
		return NULL;

	k.prefixlen = LPM_FULL;
	k.tag = SPLICER_TAG_DST | p->proto;
	k.bits = p->daddr;
	v = bpf_map_lookup_elem(trie, &k);
	if (!v)
		return NULL;

	k.tag = SPLICER_TAG_PORT | v->next;
	k.bits = bpf_htonl((__u32)bpf_ntohs(p->dport) << 16);
	v = bpf_map_lookup_elem(trie, &k);
	if (!v)
		return NULL;

	k.tag = SPLICER_TAG_SRC | v->next;
	k.scope = ifindex;
	k.bits = p->saddr;
	v = bpf_map_lookup_elem(trie, &k);
	if (v)
		return v;
	k.scope = 0;
	return bpf_map_lookup_elem(trie, &k);
}

/* Hands the packet to the redirect target's socket; false if none. */
static __always_inline bool assign(struct __sk_buff *skb, const struct pkt *p,
				   const struct lpm_val *v)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	long err;

	tuple_of(p, &t);
	t.ipv4.daddr = v->to_addr;
	t.ipv4.dport = v->to_port;
	if (p->proto == IPPROTO_TCP) {
		sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return false;
		/* Only a listener may take a new flow. */
		if (sk->state != BPF_TCP_LISTEN) {
			bpf_sk_release(sk);
			return false;
		}
	} else {
		sk = bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return false;
	}
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	return err == 0;
}

/*
 * A redirected client reusing its 4-tuple while the old connection sits
 * in TIME_WAIT: the kernel refuses a new request socket beside the
 * TIME_WAIT one, so assigning the SYN to the listener would lose it.
 * TPROXY removes the TIME_WAIT socket first; from tc the way to do that
 * is the one the kernel offers any peer: an in-window RST (RFC 1337
 * assassination, honoured unless net.ipv4.tcp_rfc1337 is set). So a copy
 * of the SYN is queued behind this packet, marked so that it does not
 * come here again, and this packet becomes that RST. When the copy
 * arrives the TIME_WAIT socket is gone and the SYN goes to the listener.
 */
static __always_inline int reuse_timewait(struct __sk_buff *skb,
					  const struct pkt *p, __u32 rcv_nxt)
{
	__u32 csum_off = p->l4_off + offsetof(struct tcphdr, check);
	__u8 word[2] = { p->tcp_word[0], 0x04 /* RST alone */ };
	__be32 seq = bpf_htonl(rcv_nxt);
	__u16 old_word, new_word;
	long err;

	skb->mark |= SPLICER_MARK_REINJECTED;
	err = bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS);
	skb->mark &= ~SPLICER_MARK_REINJECTED;
	if (err)
		return REASON_DROP_NO_LISTENER;

	__builtin_memcpy(&old_word, p->tcp_word, 2);
	__builtin_memcpy(&new_word, word, 2);
	if (bpf_l4_csum_replace(skb, csum_off, p->seq, seq, sizeof(seq)) ||
	    bpf_skb_store_bytes(skb, p->l4_off + 4, &seq, sizeof(seq), 0) ||
	    bpf_l4_csum_replace(skb, csum_off, old_word, new_word, 2) ||
	    bpf_skb_store_bytes(skb, p->l4_off + 12, word, 2, 0))
		return REASON_DROP_MALFORMED;
	return REASON_PASS_ESTABLISHED;
}

static __always_inline int
apply_rule(struct __sk_buff *skb, const struct pkt *p, const struct lpm_val *v)
{
	struct counter *c = bpf_map_lookup_elem(&rule_stats, &v->next);

	if (c)
		count(c, skb->len);
	switch (v->action) {
	case SPLICER_ACT_PASS:
		return REASON_PASS_RULE;
	case SPLICER_ACT_REDIRECT:
		return assign(skb, p, v) ? REASON_REDIRECTED :
					   REASON_DROP_NO_LISTENER;
	default:
		return REASON_DROP_RULE;
	}
}

static __always_inline int decide(struct __sk_buff *skb,
				  const struct iface_cfg *cfg)
{
	bool loopback = cfg && (cfg->flags & SPLICER_IFACE_LOOPBACK);
	bool reinjected = (skb->mark & SPLICER_MARK_REINJECTED) ==
			  SPLICER_MARK_REINJECTED;
	enum established est;
	__u32 tw_rcv_nxt = 0;
	struct lpm_val *v;
	struct pkt p;
	int reason;

	/* The mark is splicer's own business: never let it reach routing. */
	if (reinjected)
		skb->mark &= ~SPLICER_MARK_REINJECTED;
	reason = parse(skb, &p);
	if (reason < 0)
		return loopback ? REASON_PASS_LOOPBACK : REASON_PASS_ARP;
	if (reason != REASON_MAX)
		return loopback ? REASON_PASS_LOOPBACK : reason;
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP)
		return loopback ? REASON_PASS_LOOPBACK : REASON_DROP_NO_RULE;

	if (!loopback) {
		if (p.proto == IPPROTO_UDP &&
		    p.sport == bpf_htons(DHCP_SERVER_PORT) &&
		    p.dport == bpf_htons(DHCP_CLIENT_PORT))
			return REASON_PASS_DHCP;
		if (p.proto == IPPROTO_TCP && p.dport == bpf_htons(SSH_PORT)) {
			struct iface_addr a = {
				.ifindex = skb->ingress_ifindex,
				.addr = p.daddr,
			};

			if (bpf_map_lookup_elem(&iface_addrs, &a))
				return REASON_PASS_SSH;
		}
	}
	est = established(skb, &p, &tw_rcv_nxt);
	if (est == EST_YES)
		return REASON_PASS_ESTABLISHED;

	v = rule_lookup(&p, skb->ingress_ifindex);
	if (!v)
		return loopback ? REASON_PASS_LOOPBACK : REASON_DROP_NO_RULE;
	/* On loopback only redirects apply: lo carries the host's own talk. */
	if (loopback && v->action != SPLICER_ACT_REDIRECT)
		return REASON_PASS_LOOPBACK;
	/*
	 * For pass rules the kernel itself hands a SYN in TIME_WAIT to the
	 * listener of the same address; only redirects need help, once.
	 */
	if (est == EST_TIMEWAIT_SYN && v->action == SPLICER_ACT_REDIRECT &&
	    !reinjected)
		return reuse_timewait(skb, &p, tw_rcv_nxt);
	return apply_rule(skb, &p, v);
}

SEC("tc")
int splicer_ingress(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex;
	struct iface_cfg *cfg = bpf_map_lookup_elem(&ifaces, &ifindex);
	__u32 slot = cfg ? cfg->slot : 0;
	struct iface_stats *st;
	int reason;

	reason = decide(skb, cfg);
	st = bpf_map_lookup_elem(&iface_stats, &slot);
	/* Bounds the index for the verifier; reason is always below MAX. */
	if (st && reason >= 0 && reason < REASON_MAX)
		count(&st->reason[reason], skb->len);
	return reason_to_tc(reason);
}
