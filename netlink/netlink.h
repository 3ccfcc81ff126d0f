/* SPDX-License-Identifier: GPL-2.0-only */
/* rtnetlink through libmnl: links, addresses, local routes, tc filters. */
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

/*
 * An address or route prefix of either family: 16 bytes in network order,
 * an IPv4 address in the first word and the rest zero (util.h).
 */
struct nl_addr {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 prefixlen;
	__u32 flags; /* an address's IFA_F_* */
	__be32 addr[4];
};

/*
 * Calls cb for each address of family (AF_INET, AF_INET6, or AF_UNSPEC
 * for both) on ifindex; a non-zero cb return stops.
 */
typedef int (*nl_addr_cb)(const struct nl_addr *a, void *arg);
int nl_addr_foreach(struct nl *nl, int ifindex, int family, nl_addr_cb cb,
		    void *arg);

/*
 * Routes as "ip [-6] route add local DST/LEN dev OIF proto PROTOCOL" makes
 * them: type local, scope host, table local; family AF_INET or AF_INET6.
 * Add returns -EEXIST when an equal route exists; del returns -ESRCH when
 * none does.
 */
int nl_local_route_add(struct nl *nl, int family, const __be32 dst[4], __u8 len,
		       int oif, __u8 protocol);
int nl_local_route_del(struct nl *nl, int family, const __be32 dst[4], __u8 len,
		       int oif, __u8 protocol);

/*
 * Calls cb for each IPv4 and IPv6 route in the local table with this
 * protocol (dst->flags is 0).
 */
typedef int (*nl_route_cb)(const struct nl_addr *dst, int oif, void *arg);
int nl_local_route_foreach(struct nl *nl, __u8 protocol, nl_route_cb cb,
			   void *arg);

/* Number of tc filters under parent (e.g. clsact ingress) on ifindex. */
int nl_tc_filter_count(struct nl *nl, int ifindex, __u32 parent, size_t *count);

/*
 * Change notifications: a socket subscribed to RTMGRP_LINK,
 * RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR. nl_fd() is for poll();
 * nl_events_read() reads one datagram and calls cb for each link or
 * address event of either family in it (a
 * non-zero cb return stops and is returned). -ENOBUFS means the kernel
 * dropped events: the reader must look at everything again.
 */
enum nl_event_type {
	NL_LINK_NEW, /* created, or changed (flags, name...) */
	NL_LINK_DEL,
	NL_ADDR_NEW, /* added, or its lifetime or flags changed (DAD done,
		      * deprecated...) */
	NL_ADDR_DEL,
};

struct nl_event {
	enum nl_event_type type;
	int ifindex;
	unsigned int flags; /* a link's IFF_* */
	char name[16]; /* a link's name */
	struct nl_addr addr; /* an address event's own (local) address */
};

typedef int (*nl_event_cb)(const struct nl_event *ev, void *arg);
int nl_open_events(struct nl **out);
int nl_fd(const struct nl *nl);
int nl_events_read(struct nl *nl, nl_event_cb cb, void *arg);

#endif /* SPLICER_NETLINK_H */
