/* SPDX-License-Identifier: GPL-2.0-only */
/* rtnetlink through libmnl: links, IPv4 addresses, local routes, tc filters. */
#ifndef SPLICER_NETLINK_H
#define SPLICER_NETLINK_H

#include <stddef.h>
#include <linux/types.h>

/*
 * Every function returns 0 or -errno. When the kernel rejected a request
 * with an extended ACK message, nl_extack() returns that text until the
 * next request; otherwise it returns NULL.
 */
struct nl;

int nl_open(struct nl **out);
void nl_close(struct nl *nl);
const char *nl_extack(const struct nl *nl);

struct nl_link {
	int ifindex;
	unsigned int flags; /* IFF_* */
	char name[16];
};

/* -ENODEV when there is no such link. */
int nl_link_by_name(struct nl *nl, const char *name, struct nl_link *link);
int nl_link_by_index(struct nl *nl, int ifindex, struct nl_link *link);

/* Calls cb for each IPv4 address on ifindex; a non-zero cb return stops. */
typedef int (*nl_addr_cb)(__be32 addr, __u8 prefixlen, void *arg);
int nl_addr4_foreach(struct nl *nl, int ifindex, nl_addr_cb cb, void *arg);

/*
 * Routes as "ip route add local DST/LEN dev OIF proto PROTOCOL" makes
 * them: type local, scope host, table local. Add returns -EEXIST when an
 * equal route exists; del returns -ESRCH when none does.
 */
int nl_local_route_add(struct nl *nl, __be32 dst, __u8 len, int oif,
		       __u8 protocol);
int nl_local_route_del(struct nl *nl, __be32 dst, __u8 len, int oif,
		       __u8 protocol);

/* Calls cb for each IPv4 route in the local table with this protocol. */
typedef int (*nl_route_cb)(__be32 dst, __u8 len, int oif, void *arg);
int nl_local_route_foreach(struct nl *nl, __u8 protocol, nl_route_cb cb,
			   void *arg);

/* Number of tc filters under parent (e.g. clsact ingress) on ifindex. */
int nl_tc_filter_count(struct nl *nl, int ifindex, __u32 parent, size_t *count);

#endif /* SPLICER_NETLINK_H */
