/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer's local routes: what `ip route add local PREFIX dev lo` (and
 * `ip -6 route add local PREFIX dev lo` for an IPv6 rule) makes, for the
 * rules that ask for one, marked with protocol RTPROT_SPLICER.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"
#include "out.h"
#include "parse.h"
#include "routes.h"
#include "util.h"

/* A route prefix: what `ip [-6] route add local DST/LEN dev lo` names. */
struct route {
	__be32 dst[ADDR_WORDS];
	__u8 family;
	__u8 len;
	int oif;
};

struct route_list {
	struct route *r;
	size_t n, cap;
};

/*
 * Routes splicer made carry RTPROT_SPLICER, so the set of them can be
 * compared with what the rules ask for: only the difference goes to the
 * kernel, and an interrupted command leaves at most a stale route that
 * the next command removes. One dump serves a whole change: splicer's
 * routes change only under the pin root's lock.
 */
struct routes {
	struct nl *nl;
	struct route_list have; /* splicer's routes, sorted */
	struct route_list want; /* what the rules ask for, sorted */
	int lo; /* ifindex of lo, 0 until needed */
};

static int route_push(struct route_list *l, __u8 family,
		      const __be32 dst[ADDR_WORDS], __u8 len, int oif)
{
	struct route *r;

	if (grow(&l->r, &l->cap, l->n + 1, sizeof(*l->r)))
		return -ENOMEM;
	r = &l->r[l->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->dst, dst, sizeof(r->dst));
	r->family = family;
	r->len = len;
	r->oif = oif;
	return 0;
}

static int cmp_route(const void *a, const void *b)
{
	const struct route *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = addr_cmp(x->dst, y->dst);
	if (c)
		return c;
	return x->len - y->len;
}

static void route_sort(struct route_list *l)
{
	size_t i, k;

	qsort(l->r, l->n, sizeof(*l->r), cmp_route);
	for (i = 0, k = 0; i < l->n; i++)
		if (!k || cmp_route(&l->r[k - 1], &l->r[i]))
			l->r[k++] = l->r[i];
	l->n = k;
}

static bool route_in(const struct route_list *l, const struct route *r)
{
	return l->n && bsearch(r, l->r, l->n, sizeof(*r), cmp_route);
}

static int collect_route(const struct nl_addr *dst, int oif, void *arg)
{
	return route_push(arg, dst->family, dst->addr, dst->prefixlen, oif);
}

int routes_open(struct routes **out)
{
	struct routes *rt = calloc(1, sizeof(*rt));
	int err;

	if (!rt)
		return err_kernel(-ENOMEM, "routes");
	err = nl_open(&rt->nl);
	if (err) {
		free(rt);
		return err_kernel(err, "netlink");
	}
	err = nl_local_route_foreach(rt->nl, RTPROT_SPLICER, collect_route,
				     &rt->have);
	if (err) {
		routes_close(rt);
		return err_kernel(err, "local routes");
	}
	qsort(rt->have.r, rt->have.n, sizeof(*rt->have.r), cmp_route);
	*out = rt;
	return 0;
}

void routes_close(struct routes *rt)
{
	if (!rt)
		return;
	nl_close(rt->nl);
	free(rt->have.r);
	free(rt->want.r);
	free(rt);
}

int routes_want(struct routes *rt, const struct rule *r, size_t n)
{
	size_t i;
	int err = 0;

	rt->want.n = 0;
	for (i = 0; i < n && !err; i++)
		if (r[i].v.flags & SPLICER_RULE_ROUTE)
			err = route_push(&rt->want, r[i].k.family, r[i].k.dst,
					 r[i].k.dst_len, 0);
	if (err)
		return err_kernel(err, "routes");
	route_sort(&rt->want);
	return 0;
}

int routes_add(struct routes *rt)
{
	struct route_list added = {};
	const struct route *w;
	struct nl_link lo;
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;
	int err = 0;

	for (i = 0; !err && i < rt->want.n; i++) {
		w = &rt->want.r[i];
		if (route_in(&rt->have, w))
			continue;
		if (!rt->lo) {
			err = nl_link_by_name(rt->nl, "lo", &lo);
			if (err) {
				err = err_kernel(err, "lo");
				break;
			}
			rt->lo = lo.ifindex;
		}
		err = nl_local_route_add(rt->nl, w->family, w->dst, w->len,
					 rt->lo, RTPROT_SPLICER);
		/*
		 * An equal local route serves as well: the kernel's own for
		 * an interface address, or one another program added.
		 */
		if (err == -EEXIST) {
			err = 0;
			continue;
		}
		if (!err)
			err = route_push(&added, w->family, w->dst, w->len,
					 rt->lo);
		if (err)
			err = err_netlink(rt->nl, err, "route local %s dev lo",
					  fmt_prefix(w->family, w->dst, w->len,
						     buf, sizeof(buf)));
	}
	/* Routes added are splicer's too, should they have to go again. */
	for (i = 0; i < added.n; i++)
		if (route_push(&rt->have, added.r[i].family, added.r[i].dst,
			       added.r[i].len, added.r[i].oif))
			break;
	qsort(rt->have.r, rt->have.n, sizeof(*rt->have.r), cmp_route);
	free(added.r);
	return err;
}

int routes_remove(struct routes *rt)
{
	const struct route *h;
	size_t i, k;
	int err = 0;

	for (i = 0, k = 0; !err && i < rt->have.n; i++) {
		h = &rt->have.r[i];
		if (route_in(&rt->want, h)) {
			rt->have.r[k++] = *h;
			continue;
		}
		err = nl_local_route_del(rt->nl, h->family, h->dst, h->len,
					 h->oif, RTPROT_SPLICER);
		if (err == -ESRCH)
			err = 0;
		if (err)
			err = err_netlink(rt->nl, err, "remove local routes");
	}
	/* What was not looked at (after an error) is still there. */
	for (; i < rt->have.n; i++)
		rt->have.r[k++] = rt->have.r[i];
	rt->have.n = k;
	return err;
}

int routes_sync(const struct rule *r, size_t n, bool add, bool remove)
{
	struct routes *rt;
	int err;

	err = routes_open(&rt);
	if (!err)
		err = routes_want(rt, r, n);
	if (!err && add)
		err = routes_add(rt);
	if (!err && remove)
		err = routes_remove(rt);
	routes_close(rt);
	return err;
}

int route_local(bool add, __u8 family, const __be32 dst[ADDR_WORDS], __u8 len)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct nl_link lo;
	struct nl *nl;
	int err;

	err = nl_open(&nl);
	if (err)
		return err_kernel(err, "netlink");
	err = nl_link_by_name(nl, "lo", &lo);
	if (err) {
		nl_close(nl);
		return err_kernel(err, "lo");
	}
	if (add) {
		err = nl_local_route_add(nl, family, dst, len, lo.ifindex,
					 RTPROT_SPLICER);
		/* an equal local route serves as well (see routes_add()) */
		if (err == -EEXIST)
			err = 0;
	} else {
		err = nl_local_route_del(nl, family, dst, len, lo.ifindex,
					 RTPROT_SPLICER);
		if (err == -ESRCH)
			err = 0;
	}
	if (err)
		err = err_netlink(nl, err, "%s local %s dev lo",
				  add ? "route" : "remove route",
				  fmt_prefix(family, dst, len, buf,
					     sizeof(buf)));
	nl_close(nl);
	return err;
}
