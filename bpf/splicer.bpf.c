/* SPDX-License-Identifier: GPL-2.0-only */
/* The tc programs: stateful default-deny dual-stack filter and redirector. */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "splicer.h"

char LICENSE[] SEC("license") = "GPL";

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP6_SERVER_PORT 547
#define DHCP6_CLIENT_PORT 546
#define SSH_PORT 22
#define IP_MF 0x2000 /* more fragments */
#define IP_OFFSET 0x1fff /* fragment offset, in 8-byte units */
#define ETH_P_8021AD 0x88A8
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* linux/icmp.h pulls in libc headers a BPF target cannot build. */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11

/* linux/icmpv6.h and net/ndisc.h's numbers, for the same reason. */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMPV6_MGM_QUERY 130
#define NDISC_ROUTER_SOLICITATION 133
#define NDISC_ROUTER_ADVERTISEMENT 134
#define NDISC_NEIGHBOUR_SOLICITATION 135
#define NDISC_NEIGHBOUR_ADVERTISEMENT 136
#define NDISC_REDIRECT 137
/* RFC 4861's shortest messages: 16 bytes, 24 with a target address. */
#define ND_RA_LEN 16
#define ND_NS_NA_LEN 24

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id; /* echo and echo reply */
	__be16 sequence;
};
/*
 * A non-first fragment starting inside the first 24 bytes of the L4
 * header could overwrite the ports or TCP flags the first one was judged
 * by (RFC 1858): such fragments are malformed whatever follows.
 */
#define MIN_FRAG_OFFSET 3

/*
 * The index array's template: each element is a chunk of records, so a
 * walk pays for a map lookup only when it crosses into another chunk and
 * reads records in between directly. BPF_F_INNER_MAP lets each published
 * index have just the chunks it needs; BPF_F_MMAPABLE lets user space
 * fill it with plain stores before publishing it.
 */
struct index_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	/* Sizes, not types: clang emits inner-map pointee types as FWD only. */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct ix_chunk));
};

/*
 * The arena of the compiled rule index (see splicer.h) sits behind one
 * array slot so that user space can replace it by a larger one when it
 * is full. Rule changes do not touch the slot: they publish through the
 * arena's anchor record, with no grace period to wait for.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct index_array);
} rule_arena SEC(".maps");

/* Sized at the pin root's making (lib/state.c). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SPLICER_COUNTER_SLOTS(SPLICER_DEFAULT_RULES));
	__type(key, __u32);
	__type(value, struct counter);
} rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLICER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_cfg);
} ifaces SEC(".maps");

/* ifaces again, for ifindexes below SPLICER_IFACE_ARRAY: a cheaper lookup */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPLICER_IFACE_ARRAY);
	__type(key, __u32);
	__type(value, struct iface_cfg);
} iface_array SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SPLICER_MAX_IFACE_ADDRS);
	__type(key, struct iface_addr6);
	__type(value, __u8);
} iface_addrs6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SPLICER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface_stats6);
} iface_stats6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLICER_MAX_FRAG_FLOWS);
	__type(key, struct frag_key6);
	__type(value, struct frag_val);
} frag_flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLICER_MAX_ECHO_OUT);
	__type(key, struct echo_key6);
	__type(value, __u64); /* when the request left, ns */
} echo_out6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLICER_MAX_FRAG_FLOWS);
	__type(key, struct frag_key);
	__type(value, struct frag_val);
} frag_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPLICER_MAX_ECHO_OUT);
	__type(key, struct echo_key);
	__type(value, __u64); /* when the request left, ns */
} echo_out SEC(".maps");

/*
 * Decisions for `splicer monitor`, emitted only while its heartbeat in
 * "monitor" is fresh: at no cost but one array lookup when nobody looks.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SPLICER_EVENTS_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_ctl);
} monitor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_stats);
} monitor_stats SEC(".maps");

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

/*
 * Internal verdicts are the reason codes; the single exit point turns them
 * into TC_ACT_* and counts them, so no path can return without counting.
 */
static __always_inline bool reason_passes(int reason)
{
	return (reason >= 0 && reason <= REASON_REDIRECTED) ||
	       reason == REASON_PASS_ND;
}

static __always_inline void count(struct counter *c, __u32 len)
{
	c->packets++;
	c->bytes += len;
}

#define F_FIN SPLICER_TCP_FIN
#define F_SYN SPLICER_TCP_SYN
#define F_RST SPLICER_TCP_RST
#define F_ACK SPLICER_TCP_ACK

enum frag {
	FRAG_NONE,
	FRAG_FIRST, /* offset 0, more to come */
	FRAG_REST, /* offset > 0 */
};

struct pkt {
	__be32 saddr[4]; /* IPv4: the first word */
	__be32 daddr[4];
	__be16 sport; /* TCP, UDP; ICMP: echo id */
	__be16 dport;
	__be16 ip_id;
	__u16 l4_off;
	__u16 l4_len; /* bytes of L4 in this packet per tot_len */
	__u8 proto;
	__u8 frag;
	__u8 tcp_flags; /* TCP only */
	__u8 icmp_type; /* ICMP only */
	__u16 pad;
	__be32 seq; /* TCP only */
	__u8 tcp_word[2]; /* data offset and flags bytes, TCP only */
	__u16 pad2;
	__u32 rule; /* the rule whose counter counted the packet, 0: none */
	__u8 v6; /* an IPv6 packet */
	__u8 hop_limit; /* IPv6 only */
	__u8 icmp_code; /* ICMP and ICMPv6 */
	__u8 frag_nh; /* IPv6: the fragment header's next header */
	__be32 frag_id; /* IPv6: the fragment header's id */
};

/* What parse_ip gives for a good IP header: which family it is. */
#define PARSED_IPV4 REASON_MAX
#define PARSED_IPV6 (REASON_MAX + 1)

/* IPv6 next header values (linux/ipv6.h's NEXTHDR_* are in net/). */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_ESP 50
#define NEXTHDR_AUTH 51
#define NEXTHDR_NONE 59
#define NEXTHDR_DEST 60
#define NEXTHDR_MOBILITY 135
#define NEXTHDR_HIP 139
#define NEXTHDR_SHIM6 140
#define NEXTHDR_EXP1 253
#define NEXTHDR_EXP2 254
#define IP6_MF 0x0001
#define IP6_OFFSET 0xfff8 /* in bytes, already a multiple of 8 */

/* An extension header of RFC 8200 or the IANA list of them. */
static __always_inline bool ext_header(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING ||
	       nh == NEXTHDR_FRAGMENT || nh == NEXTHDR_ESP ||
	       nh == NEXTHDR_AUTH || nh == NEXTHDR_DEST ||
	       nh == NEXTHDR_MOBILITY || nh == NEXTHDR_HIP ||
	       nh == NEXTHDR_SHIM6 || nh == NEXTHDR_EXP1 || nh == NEXTHDR_EXP2;
}

/*
 * Walks the extension headers from p->l4_off to the upper-layer header,
 * at most SPLICER_MAX_EXT_HEADERS of them: hop-by-hop (first only),
 * destination options, routing with segments left 0 (and never type 0),
 * one fragment header. Anything else that is an extension header (AH and
 * ESP too, see README "Security model"), or one past the bound, cannot
 * be judged: REASON_DROP_EXT_HEADER. A fragment after the first stops
 * the walk at its fragment header: what follows belongs to the datagram.
 * 0, or a drop reason. A global function: the verifier checks its loop
 * once, alone.
 */
__noinline int ext_walk(struct __sk_buff *skb, struct pkt *p)
{
	__u32 off, end, len, i;
	struct {
		__u8 nh;
		__u8 len;
		__u8 b2, b3; /* routing: type, segments left */
		__be32 id; /* fragment */
	} h;
	bool fragment = false;
	__u16 fo;
	__u8 nh;

	if (!skb || !p)
		return REASON_DROP_MALFORMED;
	off = p->l4_off;
	end = off + p->l4_len;
	nh = p->proto;
	for (i = 0; i < SPLICER_MAX_EXT_HEADERS; i++) {
		if (!(nh == NEXTHDR_HOP && i == 0) && nh != NEXTHDR_ROUTING &&
		    nh != NEXTHDR_FRAGMENT && nh != NEXTHDR_DEST)
			break;
		/* Every one of them is 8 bytes or more. */
		if (off + 8 > end || bpf_skb_load_bytes(skb, off, &h, 8))
			return REASON_DROP_MALFORMED;
		len = (h.len + 1) * 8;
		if (nh == NEXTHDR_ROUTING && (h.b2 == 0 || h.b3 != 0))
			return REASON_DROP_EXT_HEADER;
		if (nh == NEXTHDR_FRAGMENT) {
			if (fragment)
				return REASON_DROP_MALFORMED; /* a second one */
			fragment = true;
			len = 8;
			fo = ((__u16)h.b2 << 8) | h.b3;
			p->frag_nh = h.nh;
			p->frag_id = h.id;
			if (fo & IP6_OFFSET) {
				/* RFC 1858, as for IPv4 */
				if ((fo & IP6_OFFSET) < MIN_FRAG_OFFSET * 8)
					return REASON_DROP_MALFORMED;
				p->frag = FRAG_REST;
				nh = h.nh;
				off += len;
				break;
			}
			/* RFC 8200 4.5: an atomic fragment is whole. */
			if (fo & IP6_MF)
				p->frag = FRAG_FIRST;
			else
				p->frag_id = 0, p->frag_nh = 0;
		}
		nh = h.nh;
		off += len;
	}
	if (off > end)
		return REASON_DROP_MALFORMED;
	if (p->frag != FRAG_REST && ext_header(nh))
		return REASON_DROP_EXT_HEADER;
	p->proto = nh;
	p->l4_len = end - off;
	p->l4_off = off;
	return 0;
}

/*
 * Parses the IPv6 header at ip and its extension headers into p: the
 * addresses, the upper-layer protocol and where its header is. A drop
 * reason, or PARSED_IPV6.
 */
static __always_inline int parse_ip6(struct __sk_buff *skb, struct pkt *p,
				     struct ipv6hdr *ip, void *data_end)
{
	__u32 plen;
	int reason;

	if ((void *)(ip + 1) > data_end || ip->version != 6)
		return REASON_DROP_MALFORMED;
	/* 0 is a jumbogram's, which needs a hop-by-hop option: none here. */
	plen = bpf_ntohs(ip->payload_len);
	if (!plen || plen > skb->len - sizeof(struct ethhdr) - sizeof(*ip))
		return REASON_DROP_MALFORMED;
	p->v6 = 1;
	__builtin_memcpy(p->saddr, &ip->saddr, 16);
	__builtin_memcpy(p->daddr, &ip->daddr, 16);
	p->hop_limit = ip->hop_limit;
	p->proto = ip->nexthdr;
	p->l4_off = sizeof(struct ethhdr) + sizeof(*ip);
	p->l4_len = plen;
	if (!ext_header(p->proto))
		return PARSED_IPV6;
	reason = ext_walk(skb, p);
	if (reason)
		/* the verifier's bound: no other family's path from here */
		return (__u32)reason < REASON_MAX ? reason :
						    REASON_DROP_MALFORMED;
	return PARSED_IPV6;
}

/*
 * Parses Ethernet and IPv4 or IPv6 into p. Returns -1 for ARP (which
 * passes), a drop reason, or PARSED_IPV4 or PARSED_IPV6 when p holds a
 * well-formed IP header.
 */
static __always_inline int parse_ip(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl, tot_len;
	__u16 frag;

	/*
	 * The kernel strips the outer VLAN tag into skb metadata before tc.
	 * A tagged frame on this device belongs to a VLAN device splicer is
	 * not guarding here, and a tag still in the data (QinQ) is one more
	 * header to be fooled by: both are dropped.
	 */
	if (skb->vlan_present)
		return REASON_DROP_VLAN;
	if ((void *)(eth + 1) > data_end)
		return REASON_DROP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) ||
	    eth->h_proto == bpf_htons(ETH_P_8021AD))
		return REASON_DROP_VLAN;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ip6(skb, p, (void *)(eth + 1), data_end);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return REASON_DROP_NOT_IP;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return REASON_DROP_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return REASON_DROP_MALFORMED;
	ihl = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < ihl || tot_len > skb->len - sizeof(*eth))
		return REASON_DROP_MALFORMED;

	frag = bpf_ntohs(ip->frag_off);
	p->frag = (frag & IP_OFFSET) ? FRAG_REST :
		  (frag & IP_MF)     ? FRAG_FIRST :
				       FRAG_NONE;
	if (p->frag == FRAG_REST && (frag & IP_OFFSET) < MIN_FRAG_OFFSET)
		return REASON_DROP_MALFORMED;
	p->saddr[0] = ip->saddr;
	p->daddr[0] = ip->daddr;
	p->proto = ip->protocol;
	p->ip_id = ip->id;
	p->l4_off = sizeof(*eth) + ihl;
	p->l4_len = tot_len - ihl;
	return PARSED_IPV4;
}

static __always_inline void tcp_fields(struct pkt *p, const struct tcphdr *th)
{
	p->sport = th->source;
	p->dport = th->dest;
	p->tcp_flags = (th->fin ? F_FIN : 0) | (th->syn ? F_SYN : 0) |
		       (th->rst ? F_RST : 0) | (th->ack ? F_ACK : 0);
	p->seq = th->seq;
	__builtin_memcpy(p->tcp_word, (__u8 *)th + 12, 2);
}

static __always_inline void udp_fields(struct pkt *p, const struct udphdr *uh)
{
	p->sport = uh->source;
	p->dport = uh->dest;
}

static __always_inline void icmp_fields(struct pkt *p, const struct icmphdr *ih)
{
	p->icmp_type = ih->type;
	p->icmp_code = ih->code;
	p->sport = ih->id;
}

/*
 * parse_l4 for IPv6: extension headers put the L4 header at an offset the
 * verifier cannot bound for direct access, so it is copied out.
 */
static __always_inline int parse_l4_6(struct __sk_buff *skb, struct pkt *p)
{
	union {
		struct tcphdr th;
		struct udphdr uh;
		struct icmphdr ih;
	} h;

	if (p->proto == IPPROTO_TCP) {
		if (p->l4_len < sizeof(h.th) ||
		    bpf_skb_load_bytes(skb, p->l4_off, &h.th, sizeof(h.th)) ||
		    h.th.doff < 5 || h.th.doff * 4 > p->l4_len)
			return REASON_DROP_MALFORMED;
		tcp_fields(p, &h.th);
	} else if (p->proto == IPPROTO_UDP) {
		if (p->l4_len < sizeof(h.uh) ||
		    bpf_skb_load_bytes(skb, p->l4_off, &h.uh, sizeof(h.uh)))
			return REASON_DROP_MALFORMED;
		udp_fields(p, &h.uh);
	} else {
		if (p->l4_len < sizeof(h.ih) ||
		    bpf_skb_load_bytes(skb, p->l4_off, &h.ih, sizeof(h.ih)))
			return REASON_DROP_MALFORMED;
		icmp_fields(p, &h.ih);
	}
	return REASON_MAX;
}

/*
 * Parses the TCP, UDP or ICMP (ICMPv6) header at p->l4_off. It must lie
 * inside tot_len (payload_len): a first fragment too short to hold it is
 * malformed.
 */
static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt *p,
				    const bool v6)
{
	__u32 need, off;
	void *data, *data_end;

	if (v6)
		return parse_l4_6(skb, p);
	need = p->proto == IPPROTO_TCP ? sizeof(struct tcphdr) :
	       p->proto == IPPROTO_UDP ? sizeof(struct udphdr) :
					 sizeof(struct icmphdr);
	off = p->l4_off & 0x7f; /* at most 14 + 60: verifier bound */
	if (p->l4_len < need)
		return REASON_DROP_MALFORMED;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	/*
	 * The header may lie beyond the linear part of the skb; pull it
	 * in, after which every packet pointer must be reloaded.
	 */
	if (data + off + need > data_end) {
		if (bpf_skb_pull_data(skb, off + need))
			return REASON_DROP_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end || th->doff < 5 ||
		    th->doff * 4 > p->l4_len)
			return REASON_DROP_MALFORMED;
		tcp_fields(p, th);
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end)
			return REASON_DROP_MALFORMED;
		udp_fields(p, uh);
	} else {
		struct icmphdr *ih = data + off;

		if ((void *)(ih + 1) > data_end)
			return REASON_DROP_MALFORMED;
		icmp_fields(p, ih);
	}
	return REASON_MAX;
}

/* The packet's socket tuple; returns its size for the lookup helpers. */
static __always_inline __u32 tuple_of(const struct pkt *p,
				      struct bpf_sock_tuple *t, const bool v6)
{
	if (v6) {
		__builtin_memcpy(t->ipv6.saddr, p->saddr, 16);
		__builtin_memcpy(t->ipv6.daddr, p->daddr, 16);
		t->ipv6.sport = p->sport;
		t->ipv6.dport = p->dport;
		return sizeof(t->ipv6);
	}
	t->ipv4.saddr = p->saddr[0];
	t->ipv4.daddr = p->daddr[0];
	t->ipv4.sport = p->sport;
	t->ipv4.dport = p->dport;
	return sizeof(t->ipv4);
}

/*
 * The lookup helpers search the tables of the tuple's family; an IPv6
 * packet must never reach an IPv4 socket whatever they return.
 */
static __always_inline bool wrong_family(const struct bpf_sock *sk,
					 const bool v6)
{
	return v6 && sk->family != AF_INET6;
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
static __always_inline enum established established(struct __sk_buff *skb,
						    const struct pkt *p,
						    __u32 *tw_rcv_nxt,
						    const bool v6)
{
	struct tcp_timewait_sock *tw;
	struct bpf_sock_tuple t = {};
	enum established ret;
	struct bpf_sock *sk;
	__u32 size = tuple_of(p, &t, v6);

	if (p->proto == IPPROTO_UDP) {
		sk = bpf_sk_lookup_udp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return EST_NONE;
		ret = sk->dst_port != 0 && !wrong_family(sk, v6) ? EST_YES :
								   EST_NONE;
		bpf_sk_release(sk);
		return ret;
	}
	sk = bpf_skc_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return EST_NONE;
	ret = EST_YES;
	if (sk->state == BPF_TCP_LISTEN || wrong_family(sk, v6)) {
		ret = EST_NONE;
	} else if (sk->state == BPF_TCP_TIME_WAIT &&
		   (p->tcp_flags & (F_SYN | F_ACK | F_RST | F_FIN)) == F_SYN) {
		ret = EST_TIMEWAIT_SYN;
		tw = bpf_skc_to_tcp_timewait_sock(sk);
		if (tw)
			*tw_rcv_nxt = tw->tw_sk.__tw_common.skc_tw_rcv_nxt;
		else
			ret = EST_NONE;
	}
	/*
	 * The socket found goes with the packet, as netfilter's TPROXY
	 * hands it on: the stack then looks it up no more, which carries
	 * a bulk stream 5-10% faster. If the kernel refuses (a packet that
	 * is not at tc ingress, a socket being unhashed), it looks itself.
	 */
	if (ret == EST_YES)
		bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	return ret;
}

/* Is the packet's destination one of the ingress interface's addresses? */
static __always_inline bool own_address(struct __sk_buff *skb,
					const struct pkt *p, const bool v6)
{
	struct iface_addr a = { .ifindex = skb->ingress_ifindex,
				.addr = p->daddr[0] };
	struct iface_addr6 a6 = { .ifindex = skb->ingress_ifindex };

	if (!v6)
		return bpf_map_lookup_elem(&iface_addrs, &a) != NULL;
	__builtin_memcpy(a6.addr, p->daddr, 16);
	return bpf_map_lookup_elem(&iface_addrs6, &a6) != NULL;
}

static __always_inline bool echo_sent(__be32 peer, __be16 id)
{
	struct echo_key k = { .peer = peer, .id = id };
	__u64 *sent = bpf_map_lookup_elem(&echo_out, &k);

	return sent && bpf_ktime_get_ns() - *sent < SPLICER_ECHO_TIMEOUT_NS;
}

/*
 * An ICMP error quotes the IP header and first 8 bytes of the packet it
 * is about. It passes only if that packet was ours: a socket of this host
 * (looked up as a reply to it would be) or an echo request we sent. That
 * is what path-MTU discovery and traceroute need, and nothing more.
 */
static __always_inline int icmp_error(struct __sk_buff *skb,
				      const struct pkt *p)
{
	struct {
		struct iphdr ip;
		__be16 ports[2]; /* ICMP: type/code, checksum */
		__be16 echo_id;
	} q;
	struct pkt inner = {};
	__u32 off = p->l4_off + sizeof(struct icmphdr);
	__u32 ihl;

	if (p->l4_len < sizeof(struct icmphdr) + sizeof(q.ip) + 8 ||
	    bpf_skb_load_bytes(skb, off, &q.ip, sizeof(q.ip)))
		return REASON_DROP_MALFORMED;
	ihl = q.ip.ihl * 4;
	if (q.ip.version != 4 || ihl < sizeof(q.ip) ||
	    p->l4_len < sizeof(struct icmphdr) + ihl + 8 ||
	    bpf_skb_load_bytes(skb, off + ihl, q.ports, 6))
		return REASON_DROP_MALFORMED;
	/* Only the first fragment quotes ports. */
	if (q.ip.frag_off & bpf_htons(IP_OFFSET))
		return REASON_DROP_NO_RULE;
	if (q.ip.protocol == IPPROTO_ICMP)
		return ((__u8 *)q.ports)[0] == ICMP_ECHO &&
				       echo_sent(q.ip.daddr, q.echo_id) ?
			       REASON_PASS_ICMP :
			       REASON_DROP_NO_RULE;
	if (q.ip.protocol != IPPROTO_TCP && q.ip.protocol != IPPROTO_UDP)
		return REASON_DROP_NO_RULE;
	/* The quoted packet went out; a reply to it would come back so. */
	inner.proto = q.ip.protocol;
	inner.saddr[0] = q.ip.daddr;
	inner.daddr[0] = q.ip.saddr;
	inner.sport = q.ports[1];
	inner.dport = q.ports[0];
	{
		__u32 ignored;

		return established(skb, &inner, &ignored, false) == EST_NONE ?
			       REASON_DROP_NO_RULE :
			       REASON_PASS_ICMP;
	}
}

static __always_inline int icmp_decide(struct __sk_buff *skb,
				       const struct pkt *p,
				       const struct iface_cfg *cfg)
{
	switch (p->icmp_type) {
	case ICMP_ECHOREPLY:
		return echo_sent(p->saddr[0], p->sport) ? REASON_PASS_ICMP :
							  REASON_DROP_NO_RULE;
	case ICMP_ECHO:
		/* Pings to this host only, as with SSH: never forwarded. */
		return (cfg->flags & SPLICER_IFACE_ICMP_ECHO) &&
				       own_address(skb, p, false) ?
			       REASON_PASS_ICMP :
			       REASON_DROP_NO_RULE;
	case ICMP_DEST_UNREACH:
	case ICMP_TIME_EXCEEDED:
		return icmp_error(skb, p);
	default:
		return REASON_DROP_NO_RULE;
	}
}

static __always_inline bool echo_sent6(const __be32 *peer, __be16 id)
{
	struct echo_key6 k = { .id = id };
	__u64 *sent;

	__builtin_memcpy(k.peer, peer, 16);
	sent = bpf_map_lookup_elem(&echo_out6, &k);
	return sent && bpf_ktime_get_ns() - *sent < SPLICER_ECHO_TIMEOUT_NS;
}

/*
 * icmp_error for ICMPv6 (RFC 4443): the quoted packet follows the 8-byte
 * ICMPv6 header. Its extension headers are not walked, but for one
 * fragment header (a first fragment of a UDP datagram the host sent), so
 * a quote of anything else is not the host's as far as splicer can tell.
 */
static __always_inline int icmp6_error(struct __sk_buff *skb,
				       const struct pkt *p)
{
	struct {
		__u8 nh;
		__u8 pad;
		__be16 frag_off;
		__be32 id;
	} fh;
	struct ipv6hdr ip;
	__be16 ports[3]; /* ICMPv6: type/code, checksum, echo id */
	struct pkt inner = { .v6 = 1 };
	__u32 off = p->l4_off + sizeof(struct icmphdr), need;
	__u8 nh;

	need = sizeof(struct icmphdr) + sizeof(ip) + sizeof(ports);
	if (p->l4_len < need || bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
		return REASON_DROP_MALFORMED;
	if (ip.version != 6)
		return REASON_DROP_MALFORMED;
	off += sizeof(ip);
	nh = ip.nexthdr;
	if (nh == NEXTHDR_FRAGMENT) {
		need += sizeof(fh);
		if (p->l4_len < need ||
		    bpf_skb_load_bytes(skb, off, &fh, sizeof(fh)))
			return REASON_DROP_MALFORMED;
		/* Only the first fragment quotes ports. */
		if (fh.frag_off & bpf_htons(IP6_OFFSET))
			return REASON_DROP_NO_RULE;
		nh = fh.nh;
		off += sizeof(fh);
	}
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return REASON_DROP_MALFORMED;
	if (nh == IPPROTO_ICMPV6)
		return ((__u8 *)ports)[0] == ICMPV6_ECHO_REQUEST &&
				       echo_sent6(ip.daddr.in6_u.u6_addr32,
						  ports[2]) ?
			       REASON_PASS_ICMP :
			       REASON_DROP_NO_RULE;
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return REASON_DROP_NO_RULE;
	/* The quoted packet went out; a reply to it would come back so. */
	inner.proto = nh;
	__builtin_memcpy(inner.saddr, &ip.daddr, 16);
	__builtin_memcpy(inner.daddr, &ip.saddr, 16);
	inner.sport = ports[1];
	inner.dport = ports[0];
	{
		__u32 ignored;

		return established(skb, &inner, &ignored, true) == EST_NONE ?
			       REASON_DROP_NO_RULE :
			       REASON_PASS_ICMP;
	}
}

static __always_inline bool link_local(const __be32 *addr)
{
	return (addr[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000);
}

/*
 * ICMPv6. Neighbour discovery is what keeps the host on the link: its
 * messages pass when they meet RFC 4861's host checks (hop limit 255, so
 * they were not routed; code 0; long enough; a router advertisement from
 * a link-local address), and are malformed otherwise. Redirects and
 * router solicitations (for routers only) are dropped. Of MLD only
 * queries pass, link-local and with hop limit 1 (RFC 2710, RFC 3810): a
 * host must answer them or a snooping switch stops sending it the
 * multicast it listens to, ND's own included; other hosts' reports and
 * dones are of no use to it.
 */
static __always_inline int icmp6_decide(struct __sk_buff *skb,
					const struct pkt *p,
					const struct iface_cfg *cfg)
{
	switch (p->icmp_type) {
	case ICMPV6_ECHO_REPLY:
		return echo_sent6(p->saddr, p->sport) ? REASON_PASS_ICMP :
							REASON_DROP_NO_RULE;
	case ICMPV6_ECHO_REQUEST:
		return (cfg->flags & SPLICER_IFACE_ICMP_ECHO) &&
				       own_address(skb, p, true) ?
			       REASON_PASS_ICMP :
			       REASON_DROP_NO_RULE;
	case ICMPV6_DEST_UNREACH:
	case ICMPV6_PKT_TOOBIG:
	case ICMPV6_TIME_EXCEED:
	case ICMPV6_PARAMPROB:
		return icmp6_error(skb, p);
	case NDISC_ROUTER_ADVERTISEMENT:
		return p->hop_limit == 255 && p->icmp_code == 0 &&
				       p->l4_len >= ND_RA_LEN &&
				       link_local(p->saddr) ?
			       REASON_PASS_ND :
			       REASON_DROP_MALFORMED;
	case NDISC_NEIGHBOUR_SOLICITATION:
	case NDISC_NEIGHBOUR_ADVERTISEMENT:
		return p->hop_limit == 255 && p->icmp_code == 0 &&
				       p->l4_len >= ND_NS_NA_LEN ?
			       REASON_PASS_ND :
			       REASON_DROP_MALFORMED;
	case ICMPV6_MGM_QUERY:
		return p->hop_limit == 1 && link_local(p->saddr) ?
			       REASON_PASS_ND :
			       REASON_DROP_NO_RULE;
	default:
		return REASON_DROP_NO_RULE;
	}
}

#include "lookup.bpf.h"

/* Hands the packet to the redirect target's socket; false if none. */
static __always_inline bool assign(struct __sk_buff *skb, const struct pkt *p,
				   const struct hit *v, const bool v6)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	long err;

	size = tuple_of(p, &t, v6);
	if (v6) {
		__builtin_memcpy(t.ipv6.daddr, v->to_addr, 16);
		t.ipv6.dport = v->to_port;
	} else {
		t.ipv4.daddr = v->to_addr[0];
		t.ipv4.dport = v->to_port;
	}
	if (p->proto == IPPROTO_TCP) {
		sk = bpf_sk_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return false;
		/* Only a listener may take a new flow. */
		if (sk->state != BPF_TCP_LISTEN || wrong_family(sk, v6)) {
			bpf_sk_release(sk);
			return false;
		}
	} else {
		sk = bpf_sk_lookup_udp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return false;
		if (wrong_family(sk, v6)) {
			bpf_sk_release(sk);
			return false;
		}
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
	__u8 word[2] = { p->tcp_word[0], F_RST };
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

static __always_inline int apply_rule(struct __sk_buff *skb, struct pkt *p,
				      const struct hit *v, const bool v6)
{
	/* the rule's own slot, given it by user space (lib/slots.c) */
	struct counter *c = bpf_map_lookup_elem(&rule_counters, &v->slot);

	if (c)
		count(c, skb->len);
	p->rule = v->id;
	switch (v->action) {
	case SPLICER_ACT_PASS:
		return REASON_PASS_RULE;
	case SPLICER_ACT_REDIRECT:
		/*
		 * Reassembly after tc orphans the skb and would lose the
		 * assignment: a fragmented datagram cannot be redirected.
		 */
		if (p->frag != FRAG_NONE)
			return REASON_DROP_FRAGMENT;
		return assign(skb, p, v, v6) ? REASON_REDIRECTED :
					       REASON_DROP_NO_LISTENER;
	default:
		return REASON_DROP_RULE;
	}
}

/* TCP and UDP: the allowances, the host's own sockets, then the rules. */
static __always_inline int transport_decide(struct __sk_buff *skb,
					    struct pkt *p, bool loopback,
					    bool reinjected, const bool v6)
{
	struct hit hit = {}, *v = &hit;
	enum established est;
	__u32 tw_rcv_nxt = 0;

	if (!loopback) {
		__u16 server = v6 ? DHCP6_SERVER_PORT : DHCP_SERVER_PORT;
		__u16 client = v6 ? DHCP6_CLIENT_PORT : DHCP_CLIENT_PORT;

		if (p->proto == IPPROTO_UDP && p->sport == bpf_htons(server) &&
		    p->dport == bpf_htons(client))
			return REASON_PASS_DHCP;
		if (p->proto == IPPROTO_TCP &&
		    p->dport == bpf_htons(SSH_PORT) && own_address(skb, p, v6))
			return REASON_PASS_SSH;
	}
	est = established(skb, p, &tw_rcv_nxt, v6);
	if (est == EST_YES)
		return REASON_PASS_ESTABLISHED;

	if (!rule_find(p, skb->ingress_ifindex, v))
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
		return reuse_timewait(skb, p, tw_rcv_nxt);
	return apply_rule(skb, p, v, v6);
}

union frag_keys {
	struct frag_key k4;
	struct frag_key6 k6;
};

/*
 * The packet's datagram: its key in *k, and the map that holds it,
 * frag_flows or frag_flows6. An IPv6 datagram is named by its fragment
 * header's id and next header.
 */
static __always_inline void *frag_of(const struct pkt *p, union frag_keys *k,
				     const bool v6)
{
	if (v6) {
		k->k6 = (struct frag_key6){ .id = p->frag_id,
					    .proto = p->frag_nh };
		__builtin_memcpy(k->k6.saddr, p->saddr, 16);
		__builtin_memcpy(k->k6.daddr, p->daddr, 16);
		return &frag_flows6;
	}
	k->k4 = (struct frag_key){ .saddr = p->saddr[0],
				   .daddr = p->daddr[0],
				   .id = p->ip_id,
				   .proto = p->proto };
	return &frag_flows;
}

/*
 * The rest of a datagram whose first fragment passed may follow it; the
 * kernel reassembles after tc, and the whole is judged by its first
 * fragment's verdict. Anything else without ports is dropped.
 */
static __always_inline int frag_rest(const struct pkt *p, const bool v6)
{
	union frag_keys k;
	struct frag_val *v = bpf_map_lookup_elem(frag_of(p, &k, v6), &k);

	if (!v || bpf_ktime_get_ns() > v->expires_ns)
		return REASON_DROP_FRAGMENT;
	return v->reason;
}

static __always_inline void frag_first(const struct pkt *p, int reason,
				       const bool v6)
{
	union frag_keys k;
	struct frag_val v = {
		.expires_ns = bpf_ktime_get_ns() + SPLICER_FRAG_TIMEOUT_NS,
		.reason = reason,
	};

	bpf_map_update_elem(frag_of(p, &k, v6), &k, &v, BPF_ANY);
}

/* decide() after a good IP header, for one family. */
static __always_inline int decide_ip(struct __sk_buff *skb,
				     const struct iface_cfg *cfg, struct pkt *p,
				     bool loopback, bool reinjected,
				     const bool v6)
{
	bool icmp = p->proto == (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	int reason;

	if (p->frag == FRAG_REST)
		return frag_rest(p, v6);
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || icmp) {
		reason = parse_l4(skb, p, v6);
		if (reason != REASON_MAX)
			return loopback ? REASON_PASS_LOOPBACK : reason;
	}
	if (icmp)
		reason = v6 ? icmp6_decide(skb, p, cfg) :
			      icmp_decide(skb, p, cfg);
	else if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)
		reason = transport_decide(skb, p, loopback, reinjected, v6);
	else
		reason = REASON_DROP_NO_RULE;

	if (p->frag == FRAG_FIRST && reason_passes(reason))
		frag_first(p, reason, v6);
	return reason;
}

/* decide6's flags beside the interface's: the packet came back marked. */
#define DECIDE_REINJECTED (1U << 31)

/*
 * decide_ip for IPv6. A global function: the verifier checks the IPv6
 * decision once, alone, not once for every state the caller reaches it
 * in; the interface's flags come as a value.
 */
__noinline int decide6(struct __sk_buff *skb, struct pkt *p, __u32 flags)
{
	struct iface_cfg cfg = { .flags = flags };

	if (!skb || !p)
		return REASON_DROP_MALFORMED;
	return decide_ip(skb, &cfg, p, flags & SPLICER_IFACE_LOOPBACK,
			 flags & DECIDE_REINJECTED, true);
}

/*
 * Decides the packet's fate; p is left holding what the exit reports.
 * cfg is the interface's state: all zero if splicer is not attached to it.
 */
static __always_inline int decide(struct __sk_buff *skb,
				  const struct iface_cfg *cfg, struct pkt *p)
{
	bool loopback = cfg->flags & SPLICER_IFACE_LOOPBACK;
	bool reinjected = (skb->mark & SPLICER_MARK_REINJECTED) ==
			  SPLICER_MARK_REINJECTED;
	int reason;

	/* The mark is splicer's own business: never let it reach routing. */
	if (reinjected)
		skb->mark &= ~SPLICER_MARK_REINJECTED;
	reason = parse_ip(skb, p);
	if (reason < 0)
		return loopback ? REASON_PASS_LOOPBACK : REASON_PASS_ARP;
	if (loopback)
		/* On lo, only TCP and UDP can be redirected; all else passes. */
		if ((reason != PARSED_IPV4 && reason != PARSED_IPV6) ||
		    p->frag == FRAG_REST ||
		    (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP))
			return REASON_PASS_LOOPBACK;
	/*
	 * Each family has its own copy of the rest, with v6 a constant:
	 * IPv4 packets pay nothing for IPv6, and the verifier walks each
	 * copy without the other's branches.
	 */
	if (reason == PARSED_IPV4)
		return decide_ip(skb, cfg, p, loopback, reinjected, false);
	if (reason != PARSED_IPV6)
		return reason;
	return decide6(skb, p,
		       cfg->flags | (reinjected ? DECIDE_REINJECTED : 0));
}

/*
 * A monitor wants decisions about new flows and drops: not packets of
 * flows the host already has, not lo's own traffic, not the rest of a
 * datagram whose first fragment was reported. SSH is allowed before the
 * host's sockets are looked up, so only its opening SYN is news.
 */
static __always_inline bool reportable(int reason, const struct pkt *p)
{
	if (reason == REASON_PASS_ESTABLISHED || reason == REASON_PASS_LOOPBACK)
		return false;
	if (reason == REASON_PASS_SSH)
		return (p->tcp_flags & (F_SYN | F_ACK | F_RST | F_FIN)) ==
		       F_SYN;
	return !(p->frag == FRAG_REST && reason_passes(reason));
}

/*
 * Reports the decision if the monitor's heartbeat is fresh and the
 * decision is worth an event: one event into the ring, or one more lost
 * if the ring is full. A heartbeat gone stale (its monitor was killed) is
 * cleared, unless renewed meanwhile, so that packets are back to paying
 * one lookup and one compare.
 *
 * A global function: the verifier checks it once, not once for every
 * path that reaches the exit.
 */
__noinline int monitor_event(struct __sk_buff *skb, const struct pkt *p,
			     int reason)
{
	struct monitor_ctl *m;
	struct splicer_event *e;
	struct monitor_stats *ms;
	__u32 zero = 0;
	__u64 beat;

	m = bpf_map_lookup_elem(&monitor, &zero);
	if (!skb || !p || !m || !reportable(reason, p))
		return 0;
	beat = m->heartbeat_ns;
	if (bpf_ktime_get_ns() - beat >= SPLICER_MONITOR_STALE_NS) {
		__sync_val_compare_and_swap(&m->heartbeat_ns, beat, 0);
		return 0;
	}
	ms = bpf_map_lookup_elem(&monitor_stats, &zero);
	if (!ms)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ms->lost++;
		return 0;
	}
	/*
	 * Fields the parser did not reach are still zero; flags say which
	 * were reached. l4_off is set last, once the IPv4 header is good
	 * (IPv6: its fixed header; proto is then its next header until the
	 * walk of the extension headers reaches the upper layer).
	 */
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->ifindex = skb->ingress_ifindex;
	e->len = skb->len;
	e->rule = p->rule;
	__builtin_memcpy(e->saddr, p->saddr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, p->daddr, sizeof(e->daddr));
	e->sport = p->sport;
	e->dport = p->dport;
	e->proto = p->proto;
	e->reason = reason;
	e->flags = (p->l4_off ? SPLICER_EVENT_IP : 0) |
		   (p->frag == FRAG_REST ? SPLICER_EVENT_FRAG_REST : 0) |
		   (p->v6 ? SPLICER_EVENT_IPV6 : 0);
	e->tcp_flags = p->tcp_flags;
	e->icmp_type = p->icmp_type;
	bpf_ringbuf_submit(e, 0);
	ms->emitted++;
	return 1;
}

/*
 * The interface's state, a copy: all zero if splicer is not attached to
 * it (slot 0, no flags). The array answers for every ifindex below its
 * size, the hash past it: two calls in a row, since the verifier inlines
 * a lookup only in a map it knows, and a copy, so that the rest sees one
 * pointer that is never NULL.
 */
static __always_inline struct iface_cfg iface_cfg(__u32 ifindex)
{
	struct iface_cfg *c = bpf_map_lookup_elem(&iface_array, &ifindex);

	if (!c)
		c = bpf_map_lookup_elem(&ifaces, &ifindex);
	return c ? *c : (struct iface_cfg){};
}

SEC("tc")
int splicer_ingress(struct __sk_buff *skb)
{
	struct iface_cfg cfg = iface_cfg(skb->ingress_ifindex);
	__u32 slot = cfg.slot;
	struct monitor_ctl *m;
	struct iface_stats6 *st6;
	struct iface_stats *st;
	struct pkt p = {};
	__u32 idx, zero = 0;
	int reason;

	reason = decide(skb, &cfg, &p);
	/* With no monitor, all it costs: one array lookup, one compare. */
	m = bpf_map_lookup_elem(&monitor, &zero);
	if (m && m->heartbeat_ns)
		monitor_event(skb, &p, reason);
	/* One unsigned index, compared and used: the verifier's bound. */
	idx = reason;
	if (p.v6) {
		st6 = bpf_map_lookup_elem(&iface_stats6, &slot);
		if (st6 && idx < REASON_MAX)
			count(&st6->reason[idx], skb->len);
	} else {
		st = bpf_map_lookup_elem(&iface_stats, &slot);
		if (st && idx < REASON_MAX_IPV4)
			count(&st->reason[idx], skb->len);
	}
	return reason_passes(reason) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* splicer_egress for IPv6: echo requests without extension headers. */
static __always_inline int egress6(struct __sk_buff *skb)
{
	struct {
		struct ipv6hdr ip;
		struct icmphdr icmp;
	} h;
	struct echo_key6 k = {};
	__u64 now;

	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h)) ||
	    h.ip.nexthdr != IPPROTO_ICMPV6 ||
	    h.icmp.type != ICMPV6_ECHO_REQUEST)
		return TC_ACT_OK;
	__builtin_memcpy(k.peer, &h.ip.daddr, 16);
	k.id = h.icmp.id;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&echo_out6, &k, &now, BPF_ANY);
	return TC_ACT_OK;
}

/*
 * Egress only takes notes: the echo requests the host sends, so that
 * their replies (and ICMP errors about them) may come back in. It never
 * drops anything.
 */
SEC("tc")
int splicer_egress(struct __sk_buff *skb)
{
	struct {
		struct iphdr ip;
		struct icmphdr icmp;
	} h;
	struct echo_key k = {};
	__u64 now;

	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return egress6(skb);
	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &h.ip,
			       sizeof(h.ip)) ||
	    h.ip.protocol != IPPROTO_ICMP || h.ip.ihl < 5 ||
	    (h.ip.frag_off & bpf_htons(IP_OFFSET)) ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + h.ip.ihl * 4,
			       &h.icmp, sizeof(h.icmp)) ||
	    h.icmp.type != ICMP_ECHO)
		return TC_ACT_OK;
	k.peer = h.ip.daddr;
	k.id = h.icmp.id;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&echo_out, &k, &now, BPF_ANY);
	return TC_ACT_OK;
}
