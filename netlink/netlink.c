/* SPDX-License-Identifier: GPL-2.0-only */
/* Speaks rtnetlink through libmnl: links, addresses, local routes, tc. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>

#include "netlink.h"
#include "util.h"

/*
 * Dump replies are sized by the kernel from the largest buffer a reader
 * ever offered, capped at 32 KiB; a smaller buffer would truncate them.
 */
#define NL_RECV_SIZE 32768
/* Every request splicer sends fits: header, fixed part, three attributes. */
#define NL_SEND_SIZE 256
/* NLM_F_DUMP_INTR means the dump raced a change; a retry is consistent. */
#define NL_DUMP_TRIES 5
/* The event socket's receive queue: room for bursts of link changes. */
#define NL_EVENT_RCVBUF (1 << 20)

struct nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	char extack[256];
	char buf[NL_RECV_SIZE] __attribute__((aligned(8)));
};

union nl_req {
	struct nlmsghdr nlh;
	char buf[NL_SEND_SIZE];
};

/* Handles one data message of a reply; returns 0 or -errno. */
typedef int (*nl_msg_fn)(const struct nlmsghdr *nlh, void *arg);

struct nl_ctx {
	struct nl *nl;
	nl_msg_fn fn;
	void *arg;
	int err;
	bool done;
};

struct nl_attrs {
	const enum mnl_attr_data_type *policy;
	unsigned int max;
	const struct nlattr **tb;
};

/* What a dump keeps, so callbacks run after the socket is idle again. */
struct nl_item {
	struct nl_addr a;
	int oif;
};

struct nl_dump {
	int ifindex;
	int family; /* of the addresses or routes wanted; AF_UNSPEC: both */
	__u32 parent;
	__u8 protocol;
	struct nl_item *items;
	size_t len;
	size_t cap;
	size_t count;
};

static const enum mnl_attr_data_type nl_err_policy[NLMSGERR_ATTR_MAX + 1] = {
	[NLMSGERR_ATTR_MSG] = MNL_TYPE_NUL_STRING,
};

static const enum mnl_attr_data_type nl_link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME] = MNL_TYPE_NUL_STRING,
};

/* Addresses are 4 or 16 bytes by family: nl_addr_of() checks them. */
static const enum mnl_attr_data_type nl_addr_policy[IFA_MAX + 1] = {
	[IFA_ADDRESS] = MNL_TYPE_BINARY,
	[IFA_LOCAL] = MNL_TYPE_BINARY,
	[IFA_FLAGS] = MNL_TYPE_U32,
};

static const enum mnl_attr_data_type nl_route_policy[RTA_MAX + 1] = {
	[RTA_DST] = MNL_TYPE_BINARY,
	[RTA_OIF] = MNL_TYPE_U32,
	[RTA_TABLE] = MNL_TYPE_U32,
};

static int nl_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nl_attrs *a = data;
	unsigned int type = mnl_attr_get_type(attr);

	/* A newer kernel may send attributes this build does not know. */
	if (mnl_attr_type_valid(attr, a->max) < 0)
		return MNL_CB_OK;
	if (a->policy[type] == MNL_TYPE_UNSPEC)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, a->policy[type]) < 0)
		return MNL_CB_ERROR;
	a->tb[type] = attr;
	return MNL_CB_OK;
}

/* Only attributes named in policy land in tb, and only once validated. */
static int nl_parse(const struct nlmsghdr *nlh, size_t hdrlen,
		    const enum mnl_attr_data_type *policy, unsigned int max,
		    const struct nlattr **tb)
{
	struct nl_attrs a = { .policy = policy, .max = max, .tb = tb };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (mnl_nlmsg_get_payload_len(nlh) < MNL_ALIGN(hdrlen))
		return -EBADMSG;
	if (mnl_attr_parse(nlh, hdrlen, nl_attr_cb, &a) != MNL_CB_OK)
		return -EBADMSG;
	return 0;
}

static void nl_save_extack(struct nl *nl, const struct nlmsghdr *nlh,
			   size_t hdrlen)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (nl_parse(nlh, hdrlen, nl_err_policy, NLMSGERR_ATTR_MAX, tb) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(nl->extack, sizeof(nl->extack), "%s",
			 mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
}

static void nl_set_err(struct nl_ctx *ctx, int err)
{
	/* The first failure explains the rest; keep it. */
	if (!ctx->err)
		ctx->err = err;
}

static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_ctx *ctx = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t hdrlen = sizeof(*e);

	ctx->done = true;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		nl_set_err(ctx, -EBADMSG);
		return MNL_CB_STOP;
	}
	if (!e->error)
		return MNL_CB_STOP;
	/* Some families put a positive errno here, rtnetlink never does. */
	nl_set_err(ctx, e->error < 0 ? e->error : -e->error);
	/* Without NETLINK_CAP_ACK the whole request is echoed before TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(e->msg))
			return MNL_CB_STOP;
		hdrlen += e->msg.nlmsg_len - sizeof(e->msg);
	}
	nl_save_extack(ctx->nl, nlh, hdrlen);
	return MNL_CB_STOP;
}

static int nl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_ctx *ctx = data;
	int err;

	ctx->done = true;
	/* A dump that fails part way reports it in NLMSG_DONE. */
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(err))
		return MNL_CB_STOP;
	memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	if (err < 0) {
		nl_set_err(ctx, err);
		nl_save_extack(ctx->nl, nlh, sizeof(err));
	}
	return MNL_CB_STOP;
}

static int nl_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_ctx *ctx = data;
	int err;

	/*
	 * Never stop early: the rest of the reply must still be read up to
	 * its end, or it would be taken for the answer to the next request.
	 */
	if (ctx->err || !ctx->fn)
		return MNL_CB_OK;
	err = ctx->fn(nlh, ctx->arg);
	if (err)
		nl_set_err(ctx, err);
	return MNL_CB_OK;
}

static ssize_t nl_recv(struct nl *nl)
{
	ssize_t n;

	do
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static bool nl_has_end(const struct nl *nl, size_t n, unsigned int seq)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->buf;
	int len = n;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_seq != seq)
			continue;
		if (nlh->nlmsg_type == NLMSG_DONE ||
		    nlh->nlmsg_type == NLMSG_ERROR)
			return true;
	}
	return false;
}

/* Reads to the end of request seq, so the next request starts clean. */
static void nl_drain(struct nl *nl, unsigned int seq, ssize_t n)
{
	for (;;) {
		if (n > 0 && nl_has_end(nl, n, seq))
			return;
		n = nl_recv(nl);
		/* A truncated message is consumed; anything else is fatal. */
		if (n < 0 && n != -ENOSPC)
			return;
	}
}

/*
 * Sends nlh and reads the reply to its end: the NLMSG_ERROR ack of a
 * request (callers set NLM_F_ACK) or the NLMSG_DONE of a dump. fn sees
 * each data message of the reply.
 */
static int nl_request(struct nl *nl, struct nlmsghdr *nlh, nl_msg_fn fn,
		      void *arg)
{
	struct nl_ctx ctx = { .nl = nl, .fn = fn, .arg = arg };
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = nl_error_cb,
		[NLMSG_DONE] = nl_done_cb,
	};
	unsigned int seq;
	ssize_t n;
	int ret;

	/* Sequence 0 would turn off libmnl's sequence check. */
	seq = ++nl->seq;
	if (!seq)
		seq = ++nl->seq;
	nlh->nlmsg_seq = seq;
	nl->extack[0] = '\0';

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while (!ctx.done) {
		n = nl_recv(nl);
		if (n < 0) {
			if (n == -ENOSPC)
				nl_drain(nl, seq, 0);
			return n;
		}
		ret = mnl_cb_run2(nl->buf, n, seq, nl->portid, nl_data_cb, &ctx,
				  ctl, NLMSG_MIN_TYPE);
		if (ret < 0 && !ctx.done) {
			/* Dump interrupted, or a stray message: resync. */
			ret = -errno;
			nl_drain(nl, seq, n);
			return ret;
		}
	}
	return ctx.err;
}

static struct nlmsghdr *nl_put(union nl_req *req, __u16 type, __u16 flags,
			       void **hdr, size_t hdrlen)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	*hdr = mnl_nlmsg_put_extra_header(nlh, hdrlen);
	return nlh;
}

/* Rejects arguments locally, still as a request that resets the extack. */
static int nl_reject(struct nl *nl, int err)
{
	nl->extack[0] = '\0';
	return err;
}

static int nl_dump_push(struct nl_dump *d, const struct nl_addr *a, int oif)
{
	if (grow(&d->items, &d->cap, d->len + 1, sizeof(*d->items)))
		return -ENOMEM;
	d->items[d->len++] = (struct nl_item){ .a = *a, .oif = oif };
	return 0;
}

static bool nl_family_ok(int family)
{
	return family == AF_INET || family == AF_INET6;
}

/*
 * An address attribute (attr may be NULL: the zero address) of family
 * into a: its length must be the family's. 0, or -EBADMSG.
 */
static int nl_addr_of(const struct nlattr *attr, int family, __u8 prefixlen,
		      struct nl_addr *a)
{
	size_t want = family == AF_INET6 ? 16 : 4;

	memset(a, 0, sizeof(*a));
	a->family = family;
	a->prefixlen = prefixlen;
	if (prefixlen > family_bits(family))
		return -EBADMSG;
	if (!attr)
		return 0;
	if (mnl_attr_get_payload_len(attr) != want)
		return -EBADMSG;
	memcpy(a->addr, mnl_attr_get_payload(attr), want);
	return 0;
}

/* Runs a dump until it was not interrupted by a concurrent change. */
static int nl_dump(struct nl *nl, struct nlmsghdr *nlh, nl_msg_fn fn,
		   struct nl_dump *d)
{
	int tries = NL_DUMP_TRIES;
	int err;

	do {
		d->len = 0;
		d->count = 0;
		err = nl_request(nl, nlh, fn, d);
	} while (err == -EINTR && --tries);
	return err;
}

static int nl_open_groups(struct nl **out, unsigned int groups)
{
	struct nl *nl;
	int one = 1;
	int err;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock) {
		err = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(nl->sock, groups, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto err_close;
	}
	/* Older kernels lack these; errors then simply carry no text. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	*out = nl;
	return 0;

err_close:
	mnl_socket_close(nl->sock);
err_free:
	free(nl);
	return err;
}

int nl_open(struct nl **out)
{
	return nl_open_groups(out, 0);
}

int nl_open_events(struct nl **out)
{
	int size = NL_EVENT_RCVBUF, err;

	err = nl_open_groups(out, RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
					  RTMGRP_IPV6_IFADDR);
	if (err)
		return err;
	/*
	 * A burst (many links appearing at once) must not overflow the
	 * queue while the reader is busy; FORCE needs CAP_NET_ADMIN, which
	 * splicer has, and the plain option is the fallback.
	 */
	if (setsockopt(nl_fd(*out), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)))
		setsockopt(nl_fd(*out), SOL_SOCKET, SO_RCVBUF, &size,
			   sizeof(size));
	return 0;
}

int nl_fd(const struct nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

const char *nl_extack(const struct nl *nl)
{
	return nl->extack[0] ? nl->extack : NULL;
}

struct nl_link_ctx {
	struct nl_link link;
	bool found;
};

static int nl_link_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct nl_link_ctx *ctx = arg;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1];
	uint16_t len;
	int err;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	err = nl_parse(nlh, sizeof(*ifm), nl_link_policy, IFLA_MAX, tb);
	if (err)
		return err;
	if (!tb[IFLA_IFNAME])
		return -EBADMSG;
	len = mnl_attr_get_payload_len(tb[IFLA_IFNAME]);
	if (len > sizeof(ctx->link.name))
		return -EBADMSG;
	memset(&ctx->link, 0, sizeof(ctx->link));
	memcpy(ctx->link.name, mnl_attr_get_str(tb[IFLA_IFNAME]), len);
	ctx->link.ifindex = ifm->ifi_index;
	ctx->link.flags = ifm->ifi_flags;
	ctx->found = true;
	return 0;
}

static int nl_link_get(struct nl *nl, int ifindex, const char *name,
		       struct nl_link *link)
{
	struct nl_link_ctx ctx = { .found = false };
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh;
	union nl_req req;
	int err;

	nlh = nl_put(&req, RTM_GETLINK, NLM_F_ACK, (void **)&ifm, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* Per-VF statistics can outgrow the buffer; nothing here reads them. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);

	err = nl_request(nl, nlh, nl_link_msg, &ctx);
	if (err)
		return err;
	if (!ctx.found)
		return -EPROTO;
	*link = ctx.link;
	return 0;
}

int nl_link_by_name(struct nl *nl, const char *name, struct nl_link *link)
{
	/* The kernel would refuse these too, but only after a round trip. */
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return nl_reject(nl, -EINVAL);
	return nl_link_get(nl, 0, name, link);
}

int nl_link_by_index(struct nl *nl, int ifindex, struct nl_link *link)
{
	/*
	 * No link has an index below 1; the kernel would call 0 a malformed
	 * request (no name, no index) rather than a missing link.
	 */
	if (ifindex <= 0)
		return nl_reject(nl, -ENODEV);
	return nl_link_get(nl, ifindex, NULL, link);
}

/*
 * An RTM_NEWADDR or RTM_DELADDR of either family into a; 1 for another
 * family or a message without an address.
 */
static int nl_addr_parse(const struct nlmsghdr *nlh, struct nl_addr *a,
			 int *ifindex)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1];
	const struct nlattr *addr;
	int err;

	err = nl_parse(nlh, sizeof(*ifa), nl_addr_policy, IFA_MAX, tb);
	if (err)
		return err;
	if (!nl_family_ok(ifa->ifa_family))
		return 1;
	/* IFA_ADDRESS is the peer on point-to-point links, IFA_LOCAL ours. */
	addr = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!addr)
		return 1;
	err = nl_addr_of(addr, ifa->ifa_family, ifa->ifa_prefixlen, a);
	if (err)
		return err;
	/* IFA_FLAGS holds all of them; ifa_flags only the first eight. */
	a->flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) :
				   ifa->ifa_flags;
	*ifindex = ifa->ifa_index;
	return 0;
}

static int nl_addr_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct nl_dump *d = arg;
	struct nl_addr a;
	int err, ifindex;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return 0;
	err = nl_addr_parse(nlh, &a, &ifindex);
	if (err)
		return err < 0 ? err : 0;
	if (ifindex != d->ifindex ||
	    (d->family != AF_UNSPEC && a.family != d->family))
		return 0;
	return nl_dump_push(d, &a, 0);
}

int nl_addr_foreach(struct nl *nl, int ifindex, int family, nl_addr_cb cb,
		    void *arg)
{
	struct nl_dump d = { .ifindex = ifindex, .family = family };
	struct ifaddrmsg *ifa;
	struct nlmsghdr *nlh;
	union nl_req req;
	size_t i;
	int err;

	nlh = nl_put(&req, RTM_GETADDR, NLM_F_DUMP, (void **)&ifa,
		     sizeof(*ifa));
	/* AF_UNSPEC dumps every family's addresses. */
	ifa->ifa_family = family;
	ifa->ifa_index = ifindex;

	err = nl_dump(nl, nlh, nl_addr_msg, &d);
	for (i = 0; !err && i < d.len; i++)
		err = cb(&d.items[i].a, arg);
	free(d.items);
	return err;
}

static int nl_route_msg(struct nl *nl, __u16 type, __u16 flags, int family,
			const __be32 dst[4], __u8 len, int oif, __u8 protocol)
{
	struct nlmsghdr *nlh;
	union nl_req req;
	struct rtmsg *rtm;

	if (!nl_family_ok(family) || len > family_bits(family))
		return nl_reject(nl, -EINVAL);
	nlh = nl_put(&req, type, NLM_F_ACK | flags, (void **)&rtm,
		     sizeof(*rtm));
	rtm->rtm_family = family;
	rtm->rtm_dst_len = len;
	rtm->rtm_table = RT_TABLE_LOCAL;
	rtm->rtm_protocol = protocol;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_LOCAL);
	mnl_attr_put(nlh, RTA_DST, family == AF_INET6 ? 16 : 4, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, oif);

	return nl_request(nl, nlh, NULL, NULL);
}

int nl_local_route_add(struct nl *nl, int family, const __be32 dst[4], __u8 len,
		       int oif, __u8 protocol)
{
	return nl_route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, family,
			    dst, len, oif, protocol);
}

int nl_local_route_del(struct nl *nl, int family, const __be32 dst[4], __u8 len,
		       int oif, __u8 protocol)
{
	return nl_route_msg(nl, RTM_DELROUTE, 0, family, dst, len, oif,
			    protocol);
}

static int nl_route_dump_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct nl_dump *d = arg;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1];
	struct nl_addr dst;
	__u32 table;
	int oif;
	int err;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	err = nl_parse(nlh, sizeof(*rtm), nl_route_policy, RTA_MAX, tb);
	if (err)
		return err;
	/* rtm_table only holds ids below 256; RTA_TABLE holds them all. */
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) :
				rtm->rtm_table;
	/* A kernel without the family's dump answers with all of them. */
	if (rtm->rtm_family != d->family || table != RT_TABLE_LOCAL ||
	    rtm->rtm_protocol != d->protocol || rtm->rtm_type != RTN_LOCAL)
		return 0;
	err = nl_addr_of(tb[RTA_DST], rtm->rtm_family, rtm->rtm_dst_len, &dst);
	if (err)
		return err;
	oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	return nl_dump_push(d, &dst, oif);
}

int nl_local_route_foreach(struct nl *nl, __u8 protocol, nl_route_cb cb,
			   void *arg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct nl_dump d = { .protocol = protocol };
	struct nlmsghdr *nlh;
	union nl_req req;
	struct rtmsg *rtm;
	size_t i, f;
	int err = 0;

	for (f = 0; f < 2 && !err; f++) {
		nlh = nl_put(&req, RTM_GETROUTE, NLM_F_DUMP, (void **)&rtm,
			     sizeof(*rtm));
		rtm->rtm_family = families[f];
		d.family = families[f];
		err = nl_dump(nl, nlh, nl_route_dump_msg, &d);
		for (i = 0; !err && i < d.len; i++)
			err = cb(&d.items[i].a, d.items[i].oif, arg);
	}
	free(d.items);
	return err;
}

static int nl_filter_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct nl_dump *d = arg;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWTFILTER)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*tcm))
		return -EBADMSG;
	/*
	 * Each (chain, priority) also gets a message with handle 0 that only
	 * names the classifier kind; it is not a filter. The kernel sends a
	 * filter once per dump, so counting handles counts filters.
	 */
	if (tcm->tcm_ifindex != d->ifindex || tcm->tcm_parent != d->parent ||
	    !tcm->tcm_handle)
		return 0;
	d->count++;
	return 0;
}

int nl_tc_filter_count(struct nl *nl, int ifindex, __u32 parent, size_t *count)
{
	struct nl_dump d = { .ifindex = ifindex, .parent = parent };
	struct nl_link link;
	struct nlmsghdr *nlh;
	union nl_req req;
	struct tcmsg *tcm;
	int err;

	nlh = nl_put(&req, RTM_GETTFILTER, NLM_F_DUMP, (void **)&tcm,
		     sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = parent;

	err = nl_dump(nl, nlh, nl_filter_msg, &d);
	if (err)
		return err;
	/*
	 * The kernel answers a missing link, a missing qdisc (no clsact) and
	 * a missing class alike: with an empty dump, not an error. No qdisc
	 * means no filters, so 0 is right; a missing link is worth telling.
	 */
	if (!d.count) {
		err = nl_link_by_index(nl, ifindex, &link);
		if (err)
			return err;
	}
	*count = d.count;
	return 0;
}

static int nl_link_event(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1];
	uint16_t len;
	int err;

	err = nl_parse(nlh, sizeof(*ifm), nl_link_policy, IFLA_MAX, tb);
	if (err)
		return err;
	/* AF_BRIDGE messages are about bridge ports, not the link itself. */
	if (ifm->ifi_family != AF_UNSPEC || !tb[IFLA_IFNAME])
		return 1;
	len = mnl_attr_get_payload_len(tb[IFLA_IFNAME]);
	if (len > sizeof(ev->name))
		return -EBADMSG;
	memcpy(ev->name, mnl_attr_get_str(tb[IFLA_IFNAME]), len);
	ev->type = nlh->nlmsg_type == RTM_NEWLINK ? NL_LINK_NEW : NL_LINK_DEL;
	ev->ifindex = ifm->ifi_index;
	ev->flags = ifm->ifi_flags;
	return 0;
}

static int nl_addr_event(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	int err = nl_addr_parse(nlh, &ev->addr, &ev->ifindex);

	if (err)
		return err;
	ev->type = nlh->nlmsg_type == RTM_NEWADDR ? NL_ADDR_NEW : NL_ADDR_DEL;
	return 0;
}

/* 0 and *ev filled for a link or address event; 1 to skip. */
static int nl_event_parse(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return nl_link_event(nlh, ev);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return nl_addr_event(nlh, ev);
	}
	return 1;
}

int nl_events_read(struct nl *nl, nl_event_cb cb, void *arg)
{
	const struct nlmsghdr *nlh;
	struct nl_event *evs;
	size_t n_evs = 0, i;
	ssize_t n;
	int len, err = 0;

	n = nl_recv(nl);
	if (n < 0)
		return n; /* -ENOBUFS: the kernel dropped events */
	/*
	 * The whole datagram is parsed before cb runs: cb may block on
	 * other sockets, and the buffer is reused by the next read.
	 */
	evs = calloc(n / NLMSG_HDRLEN + 1, sizeof(*evs));
	if (!evs)
		return -ENOMEM;
	nlh = (const struct nlmsghdr *)nl->buf;
	for (len = n; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nl_event_parse(nlh, &evs[n_evs]) == 0)
			n_evs++;
	}
	for (i = 0; !err && i < n_evs; i++)
		err = cb(&evs[i], arg);
	free(evs);
	return err;
}
