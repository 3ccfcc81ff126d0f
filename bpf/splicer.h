/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by the tc program and user space: map keys, values, enums. */
#ifndef SPLICER_H
#define SPLICER_H

#include <linux/types.h>

/*
 * Maps are declared in splicer.bpf.c only; user space opens them by these
 * names under the pin root.
 */
#define SPLICER_MAP_RULE_COUNTERS "rule_counters"
/* the per-id counters of splicer before slots; carried over, then gone */
#define SPLICER_MAP_RULE_STATS_V1 "rule_stats"
#define SPLICER_MAP_IFACES "ifaces"
#define SPLICER_MAP_IFACE_ARRAY "iface_array"
#define SPLICER_MAP_IFACE_ADDRS "iface_addrs"
#define SPLICER_MAP_IFACE_ADDRS6 "iface_addrs6"
#define SPLICER_MAP_IFACE_STATS "iface_stats"
#define SPLICER_MAP_IFACE_STATS6 "iface_stats6"
#define SPLICER_MAP_INDEX "rule_arena"
#define SPLICER_MAP_INDEX_V1 "rule_index" /* splicer 0.1.0's */
#define SPLICER_MAP_FRAG_FLOWS "frag_flows"
#define SPLICER_MAP_FRAG_FLOWS6 "frag_flows6"
#define SPLICER_MAP_ECHO_OUT "echo_out"
#define SPLICER_MAP_ECHO_OUT6 "echo_out6"
#define SPLICER_MAP_EVENTS "events"
#define SPLICER_MAP_MONITOR "monitor"
#define SPLICER_MAP_MONITOR_STATS "monitor_stats"
#define SPLICER_PROG_INGRESS_PIN "ingress"
#define SPLICER_PROG_EGRESS_PIN "egress"

#define SPLICER_MAX_RULES (1U << 18)
/*
 * Unless $SPLICER_MAX_RULES says otherwise (lib/state.c): this many, or
 * as many as SPLICER_DEFAULT_COUNTER_MB of counters hold on a machine
 * of many CPUs, whichever is fewer.
 */
#define SPLICER_DEFAULT_RULES (1U << 17)
#define SPLICER_DEFAULT_COUNTER_MB 64
/*
 * rule_counters' size for n rules: two slots a rule, since a change gives
 * its new rules slots while the rules they replace still hold theirs, and
 * slot 0, which is no rule's.
 */
#define SPLICER_COUNTER_SLOTS(n) (2 * (n) + 1)
#define SPLICER_MAX_IFACES 256 /* stats slots; slot 0 counts unknown ifaces */
#define SPLICER_MAX_IFACE_ADDRS 4096
/*
 * An interface whose ifindex is below this has its struct iface_cfg also
 * at that index of iface_array (all zero: not attached), which the
 * ingress program reads with an array lookup instead of a hash lookup.
 */
#define SPLICER_IFACE_ARRAY 4096
#define SPLICER_MAX_FRAG_FLOWS 4096
#define SPLICER_MAX_ECHO_OUT 4096
#define SPLICER_FRAG_TIMEOUT_NS (30ULL * 1000000000) /* ipfrag_time */
#define SPLICER_ECHO_TIMEOUT_NS (60ULL * 1000000000)
#define SPLICER_EVENTS_BYTES (256 * 1024) /* ring buffer, a power of 2 */
#define SPLICER_MONITOR_STALE_NS (3ULL * 1000000000)

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
 * datapath never reads it. Addresses are 16 bytes in network order; an
 * IPv4 address is the first 4, the rest zero. Both of a rule's addresses
 * (and its redirect target's) are of its family.
 */
struct rule_key {
	__be32 dst[4];
	__be32 src[4];
	__u32 ifindex; /* 0: any interface; see SPLICER_IFINDEX_GONE */
	__u16 port_lo; /* host order */
	__u16 port_hi;
	__u8 dst_len;
	__u8 src_len;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* AF_INET or AF_INET6 */
};

/*
 * rule_key.ifindex of a rule whose interface is gone: the rule waits for
 * it (the kernel's ifindexes are positive ints, so no packet matches).
 */
#define SPLICER_IFINDEX_GONE (1U << 31)

#define SPLICER_SERVICE_LEN 64

struct rule_val {
	__u32 id; /* stable: never given twice */
	__u32 flags;
	__be32 to_addr[4]; /* redirect target, of the rule's family */
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
 * rule_counters map: a per-CPU array of struct counter indexed by a
 * rule's counter slot (struct rule.slot, and in the index beside its
 * id). Slot 0 is no rule's: a record without a slot counts there. Sized
 * when it is made, SPLICER_COUNTER_SLOTS of the pin root's most rules
 * (README "Counter slots").
 */

/*
 * The lookup index lives in one array of 24-byte records, the arena (the
 * inner map of "rule_arena", built with room to spare and replaced only
 * to grow). It holds multibit tries: a node splits the key's next 6 bits
 * into 64 slots; a slot leads either to a child node or to a leaf, and
 * both are found by counting bits below the slot in the node's bitmaps,
 * so nodes are only as large as what they hold. Equal leaves in
 * neighbouring slots share one record. Keys are taken from their top
 * bit; a trie over W bits starts with a node of W - 6 * (ceil(W / 6) - 1)
 * bits so that every later node takes 6.
 *
 * Record 0 is the anchor: it names the live header block, three records:
 * the base (struct ix_part), the delta (struct ix_part) and struct
 * ix_meta. A writer writes new records only where no packet can be
 * reading (free space), then publishes them all with one 32-bit store to
 * anchor.header: a packet reads the anchor once, so it sees the old index
 * or the new one, never a mix. Records a packet may still read are
 * written again only after an RCU grace period.
 *
 * The base is the whole rule set compiled at some point; the delta is
 * the rules near what changed since (every rule whose destination prefix
 * holds or is held by a changed one), compiled alone. A destination leaf
 * of the delta with SPLICER_IX_AUTH knows the answer for that address;
 * any other address is looked up in the base. Per rule lookup and part:
 *
 *   destination trie (32 bits, one per protocol)  -> struct ix_class
 *   its class's port trie (16 bits)               -> struct ix_verdict
 *   if the verdict needs the source: source trie (32 bits) or, for rules
 *   scoped to an interface, (ifindex, source) trie (64 bits) -> verdict
 *
 * A packet walks the destination's own class first, then at most once
 * its fallback class (every rule of a shorter prefix holding it): at most
 * 6 + 2 * (3 + 11 + 6) records a part, whatever the number of rules. The
 * compiler already applied precedence. See README "Rule index".
 *
 * IPv6 rules have parts of their own, the header block's fourth (base)
 * and fifth (delta) records, compiled with the IPv4 ones into the same
 * records (the IPv4 parts' lo and hi cover both; the IPv6 parts' are 0).
 * They differ from the IPv4 parts in this only:
 *
 *   destination and source tries are over 128 bits (SPLICER_IX_ADDR6_BITS);
 *   a scoped trie is over the 32-bit ifindex: its leaf is a verdict that
 *   either holds the winner itself or, with SPLICER_IX_SOURCES, names in
 *   .sources that interface's source trie (its scoped and the unscoped
 *   candidates, as in the 64-bit IPv4 key);
 *   /128 destinations are in an exact table of struct ix_keys6 buckets;
 *   a class's or verdict's to_addr is the record of the struct ix_target
 *   holding the redirect address (0: no redirect).
 */
#define SPLICER_IX_STRIDE 6
/* The keys' widths: ports, addresses, (ifindex, source address). */
#define SPLICER_IX_PORT_BITS 16
#define SPLICER_IX_ADDR_BITS 32
#define SPLICER_IX_SCOPED_BITS 64
#define SPLICER_IX_ADDR6_BITS 128
#define SPLICER_IX_IFINDEX_BITS 32 /* an IPv6 part's scoped trie */
/*
 * A trie over width-bit keys has this many levels; its root takes the
 * odd bits (SPLICER_IX_FIRST), every other level SPLICER_IX_STRIDE.
 */
#define SPLICER_IX_LEVELS(width) \
	(((width) + SPLICER_IX_STRIDE - 1) / SPLICER_IX_STRIDE)
#define SPLICER_IX_FIRST(width) \
	((width)-SPLICER_IX_STRIDE * (SPLICER_IX_LEVELS(width) - 1))
#define SPLICER_IX_MAX_LEVELS SPLICER_IX_LEVELS(SPLICER_IX_ADDR6_BITS)
#define SPLICER_IX_MAX_RECORDS (1U << 24) /* 384 MiB: the arena's limit */

struct ix_node {
	__u64 vec; /* bit s: slot s leads to a child */
	__u64 leafvec; /* bit s: a new leaf starts at slot s */
	__u32 base1; /* record of the first child */
	__u32 base0; /* record of the first leaf */
};

/*
 * anchor.header is published last and alone. bump and limit are the
 * writers': [bump, limit) is the free extent new records go to, nothing
 * a packet can reach (see lib/arena.c).
 */
struct ix_anchor {
	__u32 header; /* the live header block; 0: none yet */
	__u32 bump;
	__u32 limit;
	/*
	 * The same for counter slots (lib/slots.c): [slot_bump, slot_limit)
	 * is no live rule's and no packet's; slots from slot_fresh on were
	 * never given. All 0 on an arena older than slots: none known free.
	 */
	__u32 slot_bump;
	__u32 slot_limit;
	__u32 slot_fresh;
};

/*
 * One compiled rule set of one family, base or delta: its tries and its
 * records.
 */
struct ix_part {
	__u32 root[2]; /* destination tries: [0] TCP, [1] UDP; 0 none */
	__u32 exact; /* first record of the /32 (/128) table; 0 none */
	__u32 exact_bits; /* it has 1 << exact_bits buckets */
	__u32 lo, hi; /* its records are [lo, hi); the delta's hold the block */
};

/* The header block's third record: what user space reads beside it. */
struct ix_meta {
	__u32 gen; /* one more at every publish */
	__u32 rules; /* in the rule set */
	__u32 base_set; /* map ids of the rule set snapshots (store.c) */
	__u32 delta_set;
	__u32 max_id; /* the highest rule id ever given */
	__u32 pad;
};

#define SPLICER_IX_HDR_BASE 0
#define SPLICER_IX_HDR_DELTA 1
#define SPLICER_IX_HDR_META 2
#define SPLICER_IX_HDR_BASE6 3
#define SPLICER_IX_HDR_DELTA6 4
#define SPLICER_IX_HDR_RECS 5

/*
 * /32 destinations are not in the tries but in a table of buckets, each
 * one record of four keys and the four keys' destination leaves: a
 * packet's address is looked for in two buckets (two hashes) before the
 * trie is walked; the second only if the first is full. A /32 is the
 * longest prefix there is, so a hit is the answer. Bucket b is records
 * exact + SPLICER_IX_BUCKET_RECS * b and the SPLICER_IX_BUCKET after it,
 * slots filled in order.
 */
#define SPLICER_IX_BUCKET 4
#define SPLICER_IX_BUCKET_RECS (1 + SPLICER_IX_BUCKET) /* keys + leaves */
/* At most 1 << this many buckets: a hash of 24 bits or fewer. */
#define SPLICER_IX_EXACT_MAX_BITS 24
struct ix_keys {
	__be32 addr[SPLICER_IX_BUCKET];
	__u8 proto[SPLICER_IX_BUCKET]; /* 0: the slot is free */
	__u32 pad;
};

static inline __u32 splicer_ix_hash(__u32 addr, __u8 proto, int second,
				    __u32 bits)
{
	__u32 h = second ? (addr ^ ((__u32)proto << 8) ^ 0x5bd1e995U) *
				   0x85ebca6bU :
			   (addr ^ proto) * 0x9e3779b1U;

	return h >> (32 - bits);
}

/*
 * The /128 table of an IPv6 part: a bucket is one key record and its
 * destination leaf (SPLICER_IX_BUCKET6_RECS), looked for in two buckets
 * like the /32 table's, the second only if the first is taken.
 */
#define SPLICER_IX_BUCKET6_RECS 2
struct ix_keys6 {
	__be32 addr[4];
	__u8 proto; /* 0: the bucket is free */
	__u8 pad[7];
};

/* The words of an IPv6 address (host order) folded for splicer_ix_hash. */
static inline __u32 splicer_ix_fold6(__u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	return (w0 * 0x9e3779b1U) ^ (w1 * 0x85ebca6bU) ^ (w2 * 0xc2b2ae35U) ^
	       w3;
}

/* The redirect address of IPv6 verdicts, named by their to_addr. */
struct ix_target {
	__be32 addr[4];
	__u32 pad[2];
};

/*
 * A destination leaf: the longest rule prefix holding the address. A
 * prefix with a single rule without source or scope (the usual service)
 * keeps that rule here and has no own port trie (own = 0, id != 0).
 */
struct ix_class {
	union {
		__u32 own; /* port trie of the prefix's own rules; 0 none */
		__u32 slot; /* with id: the inline rule's counter slot */
	};
	__u32 fallback; /* of every rule of the shorter prefixes; 0 none */
	__u16 port_lo, port_hi; /* the inline rule */
	__u32 id;
	__be32 to_addr;
	__be16 to_port;
	__u8 action;
	__u8 flags; /* SPLICER_IX_AUTH */
};

/* ix_class.flags: a delta leaf that knows the answer for its addresses. */
#define SPLICER_IX_AUTH (1U << 0)

#define SPLICER_IX_SOURCES (1U << 0) /* ask the source trie in .sources */
#define SPLICER_IX_SCOPED (1U << 1) /* first ask the trie in .scoped */

/* A port or source leaf: the winning rule, or none (id 0). */
struct ix_verdict {
	__u32 id;
	__be32 to_addr;
	__be16 to_port;
	__u8 action;
	__u8 flags;
	__u32 sources; /* source trie root, with SPLICER_IX_SOURCES */
	__u32 scoped; /* (ifindex, source) trie root, with SPLICER_IX_SCOPED */
	__u32 slot; /* the winner's counter slot */
};

union ix_rec {
	struct ix_node node;
	struct ix_anchor anchor;
	struct ix_part part;
	struct ix_meta meta;
	struct ix_keys keys;
	struct ix_keys6 keys6;
	struct ix_target target;
	struct ix_class cls;
	struct ix_verdict v;
};

/* The index map's element: record i is rec[i % CHUNK] of element i / CHUNK. */
#define SPLICER_IX_CHUNK 8192
struct ix_chunk {
	union ix_rec rec[SPLICER_IX_CHUNK];
};

/* ifaces map: one entry per attached interface, keyed by ifindex. */
#define SPLICER_IFACE_LOOPBACK (1U << 0)
#define SPLICER_IFACE_OWN_QDISC (1U << 1) /* splicer created the clsact */
#define SPLICER_IFACE_ICMP_ECHO (1U << 2) /* answer pings to this host */

struct iface_cfg {
	__u32 slot; /* index into iface_stats */
	__u32 flags;
};

/*
 * iface_addrs and iface_addrs6 maps: the interface's own IPv4 and IPv6
 * addresses (the SSH and echo allowances).
 */
struct iface_addr {
	__u32 ifindex;
	__be32 addr;
};

struct iface_addr6 {
	__u32 ifindex;
	__be32 addr[4];
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
	REASON_DROP_NOT_IP, /* a frame of neither family */
	REASON_DROP_MALFORMED,
	REASON_DROP_FRAGMENT,
	REASON_DROP_VLAN,
	/* IPv6 only from here: iface_stats has no room for them */
	REASON_PASS_ND, /* neighbour discovery (and the MLD it needs) */
	REASON_DROP_EXT_HEADER, /* unknown, or past SPLICER_MAX_EXT_HEADERS */
	REASON_MAX,
};

/*
 * iface_stats counts IPv4 frames and frames of neither family with the
 * first REASON_MAX_IPV4 reasons (its size is splicer 0.1.0's pinned
 * layout); iface_stats6 counts IPv6 frames with all of them.
 */
#define REASON_MAX_IPV4 (REASON_DROP_VLAN + 1)

/* Extension headers an IPv6 packet may have before splicer drops it. */
#define SPLICER_MAX_EXT_HEADERS 6

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

/* frag_flows6: the same for IPv6 (its fragment header's 32-bit id). */
struct frag_key6 {
	__be32 saddr[4];
	__be32 daddr[4];
	__be32 id;
	__u8 proto;
	__u8 pad[3];
};

/* echo_out: echo requests the host sent, so that their replies may pass. */
struct echo_key {
	__be32 peer;
	__be16 id;
	__u16 pad;
};

/* echo_out6: the same for ICMPv6 echo requests. */
struct echo_key6 {
	__be32 peer[4];
	__be16 id;
	__u16 pad;
};

/* iface_stats value: per-CPU, indexed by iface_cfg.slot. */
struct iface_stats {
	struct counter reason[REASON_MAX_IPV4];
};

/* iface_stats6 value: per-CPU, indexed by iface_cfg.slot. */
struct iface_stats6 {
	struct counter reason[REASON_MAX];
};

/*
 * monitor map, key 0: the datapath emits events while heartbeat_ns is
 * less than SPLICER_MONITOR_STALE_NS old. `splicer monitor` writes it
 * every second, so a monitor that dies stops emission within seconds;
 * anything else may turn emission on the same way (e.g. a benchmark, with
 * pid 0). A stale heartbeat is cleared by the datapath.
 */
struct monitor_ctl {
	__u64 heartbeat_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns); 0: none */
	__u32 pid; /* the monitor's, so a second one can tell it is alive */
	__u32 pad;
};

/* monitor_stats map, key 0, per CPU. */
struct monitor_stats {
	__u64 emitted; /* events written to the ring */
	__u64 lost; /* events dropped because the ring was full */
};

/*
 * splicer_event.flags. Fields the parser did not reach are zero: without
 * SPLICER_EVENT_IP only the interface, length and reason mean anything.
 * Ports, TCP flags and the ICMP type are there unless the packet was
 * malformed, or a fragment after the first.
 */
#define SPLICER_EVENT_IP (1U << 0) /* a good IP header: addresses, proto */
#define SPLICER_EVENT_FRAG_REST (1U << 1) /* a fragment after the first */
#define SPLICER_EVENT_IPV6 (1U << 2) /* the addresses are IPv6 */

/*
 * One record in the events ring buffer: a decision about a new flow or a
 * drop (never a packet passed as established).
 */
struct splicer_event {
	__u64 time_ns; /* bpf_ktime_get_ns() */
	__u32 ifindex; /* ingress */
	__u32 len; /* skb->len */
	__u32 rule; /* rule id, 0: no rule decided */
	__be32 saddr[4]; /* IPv4: the first word */
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto; /* IPv6: the upper-layer protocol */
	__u8 reason; /* enum splicer_reason; the verdict follows from it */
	__u8 flags; /* SPLICER_EVENT_* */
	__u8 tcp_flags; /* SPLICER_TCP_* */
	__u8 icmp_type; /* ICMP or ICMPv6 */
	__u8 pad[7];
};

/* splicer_event.tcp_flags */
#define SPLICER_TCP_FIN 0x01
#define SPLICER_TCP_SYN 0x02
#define SPLICER_TCP_RST 0x04
#define SPLICER_TCP_ACK 0x10

#endif /* SPLICER_H */
