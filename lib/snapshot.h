/* SPDX-License-Identifier: GPL-2.0-only */
/* Every counter at one moment: interfaces, rules, the monitor. */
#ifndef SPLICER_SNAPSHOT_H
#define SPLICER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <linux/types.h>

#include "iface.h"
#include "rule.h"

/* stats.c: every counter at one moment. */
struct iface_view {
	__u32 ifindex;
	char name[16]; /* IF_NAMESIZE */
	struct iface_cfg cfg;
	bool attached;
	struct iface_stats st; /* IPv4, and frames of neither family */
	struct iface_stats6 st6; /* IPv6 (zero on a pin root without it) */
	struct iface_stats6 total; /* the two summed, by reason */
	/* IPv4 then IPv6, each sorted; INET6_ADDRSTRLEN each */
	char addrs[32][IFACE_ADDR_TEXT];
	size_t n_addrs;
};
/*
 * Frames of neither family (not_ip, and vlan: dropped before the family
 * is looked at) count only in the totals, not under ipv4 or ipv6.
 */
bool reason_of_family(unsigned int reason, int family);

/* The monitor's heartbeat and the events the datapath emitted for it. */
struct monitor_view {
	bool present; /* state pinned by an older splicer has no such maps */
	bool listening;
	__u32 pid; /* 0: not known, or nobody listens */
	struct monitor_stats c;
};

struct snapshot {
	struct iface_view *ifs; /* by ifindex */
	size_t n_ifs;
	struct rule *rules; /* by id; only if asked for */
	struct counter *rule_c; /* rule_c[i] counts rules[i] */
	size_t n_rules;
	struct monitor_view mon;
	__u64 mono_ns; /* CLOCK_MONOTONIC when taken */
	time_t wall; /* when taken */
};
int snapshot_take(struct snapshot *s, bool with_rules);
void snapshot_free(struct snapshot *s);

/* s's interface ifindex, or NULL (s may be NULL: none taken yet). */
const struct iface_view *snapshot_iface(const struct snapshot *s,
					__u32 ifindex);
/* s's counters of the rule with this id, or NULL. */
const struct counter *snapshot_rule(const struct snapshot *s, __u32 id);

#endif /* SPLICER_SNAPSHOT_H */
