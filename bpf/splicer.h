/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by the tc program and user space: map keys, values, enums. */
#ifndef SPLICER_H
#define SPLICER_H

#include <linux/types.h>

/*
 * Maps are declared in splicer.bpf.c only; user space opens them by these
 * names under the pin root.
 */
#define SPLICER_MAP_RULE_STATS "rule_stats"
#define SPLICER_MAP_IFACES "ifaces"
#define SPLICER_MAP_IFACE_ADDRS "iface_addrs"
#define SPLICER_MAP_IFACE_STATS "iface_stats"
#define SPLICER_MAP_INDEX "rule_index"
#define SPLICER_MAP_FRAG_FLOWS "frag_flows"
#define SPLICER_MAP_ECHO_OUT "echo_out"
#define SPLICER_PROG_INGRESS_PIN "ingress"
#define SPLICER_PROG_EGRESS_PIN "egress"

#define SPLICER_MAX_RULES (1U << 18)
#define SPLICER_MAX_IFACES 256 /* stats slots; slot 0 counts unknown ifaces */
#define SPLICER_MAX_IFACE_ADDRS 4096
#define SPLICER_INDEX_MAX_ENTRIES (1U << 22)
#define SPLICER_MAX_FRAG_FLOWS 4096
#define SPLICER_MAX_ECHO_OUT 4096
#define SPLICER_FRAG_TIMEOUT_NS (30ULL * 1000000000) /* ipfrag_time */
#define SPLICER_ECHO_TIMEOUT_NS (60ULL * 1000000000)

/*
 * skb->mark bit on a SYN splicer queued again itself (see reuse_timewait);
 * cleared before the packet leaves the program.
 */
#define SPLICER_MARK_REINJECTED 0x5c100000U

/* tc filter identity: splicer only ever touches its own filter. */
#define SPLICER_TC_HANDLE 0x5c1
#define SPLICER_TC_PRIORITY 1

enum splicer_action {
	SPLICER_ACT_DROP = 0,
	SPLICER_ACT_PASS = 1,
	SPLICER_ACT_REDIRECT = 2,
};

/* rule_val.flags */
#define SPLICER_RULE_ROUTE (1U << 0) /* a local route was asked for */

/*
 * A rule's match. User space keeps the rule set (match and action) in
 * snapshots under the pin root and compiles it into the lookup index; the
 * datapath never reads it.
 */
struct rule_key {
	__be32 dst;
	__be32 src;
	__u32 ifindex; /* 0: any interface */
	__u16 port_lo; /* host order */
	__u16 port_hi;
	__u8 dst_len;
	__u8 src_len;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

#define SPLICER_SERVICE_LEN 64

struct rule_val {
	__u32 id; /* stable; keys rule_stats */
	__u32 flags;
	__be32 to_addr; /* redirect target */
	__be16 to_port;
	__u8 action;
	__u8 pad;
	char service[SPLICER_SERVICE_LEN]; /* who asked, e.g. a service id */
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * The lookup index is one LPM trie (the inner map of "index", swapped as a
 * whole) holding three kinds of entry, told apart by the tag's top byte:
 *
 *   DST  tag = DST | proto,  scope = 0,       bits = dst address
 *        -> next = destination class (the longest rule prefix holding dst)
 *   PORT tag = PORT | class, scope = 0,       bits = port << 16
 *        -> next = port class (one stretch of ports with one candidate set)
 *   SRC  tag = SRC | pclass, scope = ifindex, bits = src address
 *        -> the winning rule's verdict
 *
 * Entries always match tag and scope in full, so prefixlen is 64 plus the
 * prefix length of bits. The datapath does at most four lookups a packet,
 * however many rules exist. See README "Rule index".
 */
#define SPLICER_TAG_DST (1U << 24)
#define SPLICER_TAG_PORT (2U << 24)
#define SPLICER_TAG_SRC (3U << 24)
#define SPLICER_CLASS_MAX ((1U << 24) - 1)
#define SPLICER_LPM_FIXED_BITS 64

struct lpm_key {
	__u32 prefixlen;
	__u32 tag;
	__u32 scope;
	__be32 bits;
};

struct lpm_val {
	__u32 next; /* class id (DST, PORT); rule id (SRC) */
	__be32 to_addr;
	__be16 to_port;
	__u8 action;
	__u8 pad;
	__u32 pad2;
};

/* ifaces map: one entry per attached interface, keyed by ifindex. */
#define SPLICER_IFACE_LOOPBACK (1U << 0)
#define SPLICER_IFACE_OWN_QDISC (1U << 1) /* splicer created the clsact */
#define SPLICER_IFACE_ICMP_ECHO (1U << 2) /* answer pings to this host */

struct iface_cfg {
	__u32 slot; /* index into iface_stats */
	__u32 flags;
};

/* iface_addrs map: the interface's own IPv4 addresses (SSH allowance). */
struct iface_addr {
	__u32 ifindex;
	__be32 addr;
};

enum splicer_reason {
	REASON_PASS_ARP,
	REASON_PASS_DHCP,
	REASON_PASS_SSH,
	REASON_PASS_ESTABLISHED,
	REASON_PASS_RULE,
	REASON_PASS_LOOPBACK,
	REASON_PASS_ICMP,
	REASON_REDIRECTED,
	REASON_DROP_NO_RULE,
	REASON_DROP_RULE,
	REASON_DROP_NO_LISTENER,
	REASON_DROP_NOT_IPV4,
	REASON_DROP_MALFORMED,
	REASON_DROP_FRAGMENT,
	REASON_DROP_VLAN,
	REASON_MAX,
};

/*
 * frag_flows: first fragments splicer passed, so that the rest of the
 * same datagram (same addresses, protocol and IP id) may follow.
 */
struct frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};

struct frag_val {
	__u64 expires_ns;
	__u32 reason; /* the first fragment's, counted again for the rest */
	__u32 pad;
};

/* echo_out: echo requests the host sent, so that their replies may pass. */
struct echo_key {
	__be32 peer;
	__be16 id;
	__u16 pad;
};

/* iface_stats value: per-CPU, indexed by iface_cfg.slot. */
struct iface_stats {
	struct counter reason[REASON_MAX];
};

#endif /* SPLICER_H */
