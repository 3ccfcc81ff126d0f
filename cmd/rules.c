/* SPDX-License-Identifier: GPL-2.0-only */
/* The authoritative rule set, and the local routes its rules ask for. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "netlink.h"
#include "cmd.h"

int rules_load(const struct state *st, struct rule **out, size_t *n)
{
	struct rule_key key, next;
	struct rule *r = NULL, *tmp;
	size_t cap = 0, cnt = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(st->rules, prev, &next)) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(r, cap * sizeof(*r));
			if (!tmp) {
				free(r);
				return err_kernel(-ENOMEM, "load rules");
			}
			r = tmp;
		}
		key = next;
		prev = &key;
		/* A rule deleted under us is simply gone. */
		if (bpf_map_lookup_elem(st->rules, &key, &r[cnt].v))
			continue;
		r[cnt].k = key;
		cnt++;
	}
	if (errno != ENOENT) {
		free(r);
		return err_kernel(-errno, "read rules");
	}
	*out = r;
	*n = cnt;
	return 0;
}

struct route_ctx {
	const struct rule *r;
	size_t n;
	struct nl *nl;
	int err;
};

static bool route_wanted(const struct rule *r, size_t n, __be32 dst, __u8 len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((r[i].v.flags & SPLICER_RULE_ROUTE) && r[i].k.dst == dst &&
		    r[i].k.dst_len == len)
			return true;
	return false;
}

static int remove_unwanted(__be32 dst, __u8 len, int oif, void *arg)
{
	struct route_ctx *c = arg;

	if (!route_wanted(c->r, c->n, dst, len))
		c->err = c->err ?:
				  nl_local_route_del(c->nl, dst, len, oif,
						     RTPROT_SPLICER);
	return 0;
}

/*
 * Routes splicer made carry RTPROT_SPLICER, so the set of them can be
 * compared with what the rules ask for: an interrupted command leaves at
 * most a stale route, and the next command removes it.
 */
int routes_sync(const struct rule *r, size_t n, bool add, bool remove)
{
	struct route_ctx c = { .r = r, .n = n };
	struct nl_link lo;
	char buf[32];
	size_t i;
	int err;

	err = nl_open(&c.nl);
	if (err)
		return err_kernel(err, "netlink");
	err = nl_link_by_name(c.nl, "lo", &lo);
	if (err) {
		err = err_kernel(err, "lo");
		goto out;
	}
	for (i = 0; add && i < n; i++) {
		if (!(r[i].v.flags & SPLICER_RULE_ROUTE))
			continue;
		err = nl_local_route_add(c.nl, r[i].k.dst, r[i].k.dst_len,
					 lo.ifindex, RTPROT_SPLICER);
		/* An equal local route, ours or the kernel's, serves. */
		if (err == -EEXIST)
			err = 0;
		if (err) {
			err = err_kernel(err, "route local %s dev lo",
					 fmt_prefix(r[i].k.dst, r[i].k.dst_len,
						    buf, sizeof(buf)));
			goto out;
		}
	}
	if (remove) {
		err = nl_local_route_foreach(c.nl, RTPROT_SPLICER,
					     remove_unwanted, &c);
		if (!err && c.err && c.err != -ESRCH)
			err = c.err;
		if (err)
			err = err_kernel(err, "remove local routes");
	}
out:
	nl_close(c.nl);
	return err;
}
