/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The fixed world the program tests run in: interfaces, addresses,
 * sockets and rules, known both to the loaded program (through its maps
 * and the network namespace) and to the reference classifier.
 */
#ifndef SPLICER_TEST_WORLD_H
#define SPLICER_TEST_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "index.h"
#include "state.h"
#include "rule.h"
#include "out.h"

#define IP4(a, b, c, d) (((__u32)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* Both on lo of the test's own network namespace (see 110-prog.bats). */
#define HOST IP4(10, 0, 0, 1)
#define PEER IP4(10, 0, 0, 2)

/*
 * Their IPv6 twins, also on lo (nodad), as 16-byte initializers; LL6 is
 * a link-local neighbour (a router), NET6(x) addresses in fd00:172:16::/48.
 */
#define HOST6                                                     \
	{                                                         \
		0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 \
	}
#define PEER6                                                     \
	{                                                         \
		0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 \
	}
#define LL6                                                          \
	{                                                            \
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 \
	}
#define NET6(c, d)                                                      \
	{                                                               \
		0xfd, 0, 1, 0x72, 0, 0x16, 0, c, 0, 0, 0, 0, 0, 0, 0, d \
	}
#define LO6                                                    \
	{                                                      \
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 \
	}
#define ALLNODES6                                                 \
	{                                                         \
		0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 \
	}
extern const __u8 host6[16], peer6[16];

/* ingress_ifindex values the program is run with. */
#define IF_A 1000 /* HOST is its address; no icmp-echo */
#define IF_ECHO 1001 /* HOST is its address; icmp-echo on */
#define IF_LO 1002 /* a loopback interface */

/* Sockets the harness opens, so that "established" has something to find. */
#define LISTEN_PORT 7000 /* TCP listener on HOST */
#define CLIENT_PORT 40000 /* PEER:40000 connected to HOST:7000 */
#define UDP_CONN_PORT 5000 /* on HOST, connected to PEER:6000 */
#define UDP_PEER_PORT 6000
#define UDP_OPEN_PORT 5001 /* on HOST, not connected */
#define ECHO_ID 0x1234 /* an echo request HOST sent to PEER, HOST6 to PEER6 */

struct frame {
	unsigned char data[320];
	size_t len;
};

/* What a packet is, before it becomes bytes. */
struct spec {
	__u16 eth_type; /* 0: IPv4 */
	bool qinq; /* an 802.1Q tag left in the data */
	__u8 version; /* 0: 4 */
	__u8 ihl; /* 0: 5; more adds NOP options */
	__u8 proto;
	__u32 saddr, daddr; /* host order */
	__u16 frag; /* frag_off, host order: IP_MF | offset */
	__u32 ip_id; /* IPv4: the low 16 bits */
	int tot_len_delta;
	__u16 sport, dport; /* TCP, UDP */
	__u8 tcp_flags; /* 0: SYN */
	__u8 doff; /* 0: 5 */
	__u16 payload;
	__u8 icmp_type, icmp_code;
	__u16 icmp_id;
	const struct spec *quote; /* ICMP errors: the quoted packet */
	int truncate; /* > 0: cut the frame to this length */
	/*
	 * IPv6 (proto 58 is ICMPv6; tot_len_delta adjusts payload_len; frag
	 * is the fragment header's offset-and-flags word, ip_id its id).
	 */
	bool v6;
	__u8 s6[16], d6[16];
	__u8 hlim; /* 0: 64 */
	__u8 n_ext; /* extension headers, in order, before the L4 header */
	__u8 ext[8]; /* 0 hop-by-hop, 43 routing, 44 fragment, 60 dest... */
	__u8 rt_type, rt_left; /* the routing header's */
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#define TH_NONE 0x80 /* spec value meaning "no flag at all" */

void build_frame(const struct spec *s, struct frame *f);

/* The rules both sides know; ids are fixed. */
/* A rule's counter slot: not its id, so that counting by id would show. */
#define WORLD_SLOT(id) ((id) + 1000)
extern const struct rule world_rules[];
extern const size_t world_n_rules;

/* reference.c: the policy, stated without looking at the BPF code. */
struct ref_result {
	int reason;
	__u32 rule; /* 0: no rule decided */
	/*
	 * IPv6: what an event about it says, where the walk of the headers
	 * got: ip (addresses and proto), the protocol, a fragment after the
	 * first, and where the L4 header is (0: not reached).
	 */
	bool ip6;
	__u8 proto;
	bool rest;
	size_t l4;
};
void ref_reset(void);
struct ref_result ref_classify(const unsigned char *p, size_t len,
			       __u32 ifindex);

#endif /* SPLICER_TEST_WORLD_H */
