/* SPDX-License-Identifier: GPL-2.0-only */
/* Interfaces: finding them, their addresses, their filters, their state. */
#ifndef SPLICER_IFACE_H
#define SPLICER_IFACE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "splicer.h"

struct state;

struct nl_link;
int resolve_iface(const char *name, struct nl_link *link);
/* The same, but -ENODEV without an error line when there is no such link. */
int find_iface(const char *name, struct nl_link *link);
enum bpf_tc_attach_point;
int tc_filter_query(int ifindex, enum bpf_tc_attach_point point,
		    __u32 *prog_id);
int refresh_addrs(const struct state *st, int ifindex);
int sync_rules(const struct state *st);
/* IFACE [icmp-echo on|off]; *icmp_echo is 1 on, 0 off, -1 unchanged. */
int parse_attach(int argc, char **argv, int *icmp_echo);
/*
 * Everything attach does to one link, the state created if missing: the
 * interface's addresses and state first, then its filters. *cfg (if not
 * NULL) receives its state, *already whether both filters were there.
 */
int attach_link(const struct nl_link *link, int icmp_echo,
		struct iface_cfg *cfg, bool *already);

/*
 * The ifindexes of the ifaces map, and the SSH allowance of one interface
 * (of all, for ifindex 0), as malloc()ed arrays (NULL when empty): a
 * snapshot to walk while deleting. 0, or a negative errno.
 */
int iface_list(const struct state *st, __u32 **ifindexes, size_t *n);
int iface_addr_list(const struct state *st, __u32 ifindex,
		    struct iface_addr **addrs, size_t *n);
/* The same for IPv6 (none on a pin root without iface_addrs6). */
int iface_addr6_list(const struct state *st, __u32 ifindex,
		     struct iface_addr6 **addrs, size_t *n);
/*
 * The SSH allowance of ifindex as text: its IPv4 addresses, then its IPv6
 * ones, each family in address order; at most max of them. How many.
 */
#define IFACE_ADDR_TEXT 46 /* INET6_ADDRSTRLEN */
size_t iface_addr_texts(const struct state *st, __u32 ifindex,
			char (*text)[IFACE_ADDR_TEXT], size_t max);

/* Forgets an interface's addresses and state (not its rules). */
int forget_iface(const struct state *st, __u32 ifindex);
/* The same for an interface that is gone; its rules wait (rules_park). */
int forget_vanished(const struct state *st, __u32 ifindex);

/*
 * Everything detach does to one link: its filters (and the clsact qdisc
 * if splicer made it and nothing else uses it) and its state go;
 * *others counts the interfaces still attached.
 */
int detach_link(const struct state *st, const struct nl_link *link,
		size_t *others);

#endif /* SPLICER_IFACE_H */
