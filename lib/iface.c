/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interfaces: finding one by name, its addresses for the SSH allowance,
 * its stats slot, and splicer's tc filters on it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_addr.h>
#include <linux/pkt_sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "iface.h"
#include "util.h"
#include "out.h"
#include "state.h"
#include "update.h"

int tc_filter_query(int ifindex, enum bpf_tc_attach_point point, __u32 *prog_id)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = SPLICER_TC_HANDLE,
			    .priority = SPLICER_TC_PRIORITY);
	int err = bpf_tc_query(&hook, &q);

	if (!err && prog_id)
		*prog_id = q.prog_id;
	return err;
}

int find_iface(const char *name, struct nl_link *link)
{
	struct nl *nl;
	int err;

	err = nl_open(&nl);
	if (err)
		return err_kernel(err, "netlink");
	err = nl_link_by_name(nl, name, link);
	nl_close(nl);
	if (err == -EINVAL)
		err = -ENODEV; /* a name the kernel cannot hold names nothing */
	if (err && err != -ENODEV)
		return err_kernel(err, "%s", name);
	return err;
}

int resolve_iface(const char *name, struct nl_link *link)
{
	int err = find_iface(name, link);

	if (err == -ENODEV)
		return err_usage("%s: no such interface", name);
	return err;
}

/*
 * Forgets the state and addresses of interfaces that are gone: their
 * slots are free again, and an ifindex the kernel gives to a new link
 * inherits nothing.
 */
static int forget_gone(const struct state *st)
{
	struct nl_link l;
	struct nl *nl;
	__u32 *idx;
	size_t n, i;
	int err;

	err = iface_list(st, &idx, &n);
	if (err)
		return err_kernel(err, "interface state");
	err = nl_open(&nl);
	if (err) {
		free(idx);
		return err_kernel(err, "netlink");
	}
	for (i = 0; i < n && !err; i++)
		if (nl_link_by_index(nl, idx[i], &l) == -ENODEV)
			err = forget_vanished(st, idx[i]);
	nl_close(nl);
	free(idx);
	return err;
}

/* The lowest stats slot no attached interface uses; slot 0 is reserved. */
static int alloc_slot(const struct state *st, __u32 *slot)
{
	bool used[SPLICER_MAX_IFACES] = { true };
	struct iface_stats6 *zero;
	struct iface_cfg cfg;
	__u32 *idx, s;
	size_t n, i;
	int ncpu, err;

	/* The slots of interfaces that are gone are free again. */
	err = forget_gone(st);
	if (err)
		return err;
	err = iface_list(st, &idx, &n);
	if (err)
		return err_kernel(err, "interface state");
	for (i = 0; i < n; i++)
		if (!bpf_map_lookup_elem(st->ifaces, &idx[i], &cfg) &&
		    cfg.slot < SPLICER_MAX_IFACES)
			used[cfg.slot] = true;
	free(idx);
	for (s = 1; s < SPLICER_MAX_IFACES && used[s]; s++)
		;
	if (s == SPLICER_MAX_IFACES)
		return err_kernel(-E2BIG, "attached to %d interfaces already",
				  SPLICER_MAX_IFACES - 1);
	/* A slot's counters start at zero, whoever used it before. */
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return err_kernel(ncpu, "possible CPUs");
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return err_kernel(-ENOMEM, "attach");
	/* iface_stats6's value is the larger: zero serves both. */
	err = bpf_map_update_elem(st->iface_stats, &s, zero, BPF_ANY);
	if (!err && st->iface_stats6 >= 0)
		err = bpf_map_update_elem(st->iface_stats6, &s, zero, BPF_ANY);
	free(zero);
	if (err)
		return err_kernel(-errno, "reset counters");
	*slot = s;
	return 0;
}

struct addr_ctx {
	const struct state *st;
	int ifindex;
	struct nl_addr addrs[SPLICER_MAX_IFACE_ADDRS];
	size_t n;
	int err;
};

/*
 * Is the address the host's? An IPv6 address still in duplicate address
 * detection (tentative) is not yet: the kernel does not accept packets
 * for it, so SSH to it could not connect anyway, and one that failed DAD
 * never will be. An optimistic address (RFC 4429) is usable during DAD,
 * and a deprecated one still takes connections: both are kept. Link-local,
 * ULA and global addresses count alike. The kernel notifies the end of
 * DAD with RTM_NEWADDR, so watch adds the address then.
 */
static bool addr_usable(const struct nl_addr *a)
{
	if (a->family != AF_INET6)
		return true;
	if (a->flags & IFA_F_DADFAILED)
		return false;
	return !(a->flags & IFA_F_TENTATIVE) || (a->flags & IFA_F_OPTIMISTIC);
}

static int add_addr(const struct nl_addr *na, void *arg)
{
	struct addr_ctx *c = arg;
	struct iface_addr a = { .ifindex = c->ifindex, .addr = na->addr[0] };
	struct iface_addr6 a6 = { .ifindex = c->ifindex };
	__u8 one = 1;
	int err;

	if (!addr_usable(na))
		return 0;
	if (c->n == SPLICER_MAX_IFACE_ADDRS) {
		c->err = -E2BIG;
		return 1;
	}
	if (na->family == AF_INET6) {
		memcpy(a6.addr, na->addr, sizeof(a6.addr));
		err = c->st->iface_addrs6 < 0 ?
			      0 :
			      bpf_map_update_elem(c->st->iface_addrs6, &a6,
						  &one, BPF_ANY);
	} else {
		err = bpf_map_update_elem(c->st->iface_addrs, &a, &one,
					  BPF_ANY);
	}
	if (err) {
		c->err = -errno;
		return 1;
	}
	c->addrs[c->n++] = *na;
	return 0;
}

static bool addr_kept(const struct addr_ctx *c, __u8 family, const __be32 *addr)
{
	size_t i, len = family == AF_INET6 ? 16 : 4;

	for (i = 0; i < c->n; i++)
		if (c->addrs[i].family == family &&
		    !memcmp(c->addrs[i].addr, addr, len))
			return true;
	return false;
}

/*
 * New addresses go in before stale ones go out, so an address the
 * interface keeps never loses its SSH allowance during a refresh. Both
 * families: iface_addrs and iface_addrs6.
 */
int refresh_addrs(const struct state *st, int ifindex)
{
	struct addr_ctx *c = calloc(1, sizeof(*c));
	struct iface_addr6 *old6 = NULL;
	struct iface_addr *old = NULL;
	size_t n = 0, n6 = 0, i;
	struct nl *nl;
	int err;

	if (!c)
		return err_kernel(-ENOMEM, "addresses");
	c->st = st;
	c->ifindex = ifindex;
	err = nl_open(&nl);
	if (!err) {
		err = nl_addr_foreach(nl, ifindex, AF_UNSPEC, add_addr, c);
		nl_close(nl);
	}
	err = err ?: c->err;
	if (!err)
		err = iface_addr_list(st, ifindex, &old, &n);
	if (!err)
		err = iface_addr6_list(st, ifindex, &old6, &n6);
	if (err) {
		free(old);
		free(c);
		return err_kernel(err, "interface addresses");
	}
	for (i = 0; i < n; i++)
		if (!addr_kept(c, AF_INET, &old[i].addr))
			bpf_map_delete_elem(st->iface_addrs, &old[i]);
	for (i = 0; i < n6; i++)
		if (!addr_kept(c, AF_INET6, old6[i].addr))
			bpf_map_delete_elem(st->iface_addrs6, &old6[i]);
	free(old6);
	free(old);
	free(c);
	return 0;
}

/* Puts prog on one hook unless it is there already; true if it was. */
static int attach_hook(int ifindex, enum bpf_tc_attach_point point, int prog_fd,
		       bool *kept, const char *name)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, topts, .handle = SPLICER_TC_HANDLE,
			    .priority = SPLICER_TC_PRIORITY, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	__u32 want = 0, cur = 0;
	int err;

	err = prog_id_of(prog_fd, &want);
	if (err)
		return err_kernel(err, "program info");
	*kept = !tc_filter_query(ifindex, point, &cur) && cur == want;
	if (*kept)
		return 0;
	err = bpf_tc_attach(&hook, &topts);
	if (err)
		return err_kernel(err, "%s: attach tc %s filter", name,
				  point == BPF_TC_INGRESS ? "ingress" :
							    "egress");
	return 0;
}

int attach_link(const struct nl_link *link, int icmp_echo,
		struct iface_cfg *out, bool *already)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	struct iface_cfg cfg = {};
	struct state st;
	bool fresh, kept_in = false, kept_eg = false;
	int err, prog_fd[2] = { -1, -1 };
	__u32 key;

	err = state_create(&st, prog_fd);
	if (err)
		goto out;

	key = link->ifindex;
	fresh = bpf_map_lookup_elem(st.ifaces, &key, &cfg) != 0;
	/*
	 * An entry without either filter belongs to an interface that is
	 * gone: a link made again with its ifindex starts from the defaults,
	 * with counters of its own, and the rules scoped to the old one wait.
	 */
	if (!fresh && tc_filter_query(key, BPF_TC_INGRESS, NULL) &&
	    tc_filter_query(key, BPF_TC_EGRESS, NULL)) {
		err = forget_vanished(&st, key);
		if (err)
			goto out;
		memset(&cfg, 0, sizeof(cfg));
		fresh = true;
	}
	if (fresh) {
		err = alloc_slot(&st, &cfg.slot);
		if (err)
			goto out;
	}
	err = refresh_addrs(&st, link->ifindex);
	if (!err)
		err = sync_rules(&st);
	if (err)
		goto out;

	hook.ifindex = link->ifindex;
	err = bpf_tc_hook_create(&hook);
	if (!err) {
		cfg.flags |= SPLICER_IFACE_OWN_QDISC;
	} else if (err == -EEXIST) {
		err = 0; /* someone's clsact, or ours from before: use it */
	} else {
		err = err_kernel(err, "%s: create clsact qdisc", link->name);
		goto out;
	}
	cfg.flags &= ~SPLICER_IFACE_LOOPBACK;
	if (link->flags & IFF_LOOPBACK)
		cfg.flags |= SPLICER_IFACE_LOOPBACK;
	if (icmp_echo == 1)
		cfg.flags |= SPLICER_IFACE_ICMP_ECHO;
	else if (icmp_echo == 0)
		cfg.flags &= ~SPLICER_IFACE_ICMP_ECHO;
	/* The interface's state is in place before its filter goes live. */
	err = iface_state_put(&st, key, &cfg);
	if (err) {
		err = err_kernel(err, "%s: interface state", link->name);
		goto out;
	}
	/* Egress first: echo requests are noted before replies are judged. */
	err = attach_hook(link->ifindex, BPF_TC_EGRESS, prog_fd[1], &kept_eg,
			  link->name);
	if (!err)
		err = attach_hook(link->ifindex, BPF_TC_INGRESS, prog_fd[0],
				  &kept_in, link->name);
	if (err)
		goto out;
	if (out)
		*out = cfg;
	if (already)
		*already = kept_in && kept_eg;
out:
	if (prog_fd[0] >= 0)
		close(prog_fd[0]);
	if (prog_fd[1] >= 0)
		close(prog_fd[1]);
	state_close(&st);
	return err;
}

/* clsact is splicer's to remove only if it made it and holds no filter. */
static int remove_qdisc_if_unused(int ifindex, const char *name)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	size_t in = 0, eg = 0;
	struct nl *nl;
	int err;

	err = nl_open(&nl);
	if (err)
		return err_kernel(err, "netlink");
	err = nl_tc_filter_count(nl, ifindex,
				 TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), &in);
	if (!err)
		err = nl_tc_filter_count(
			nl, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS),
			&eg);
	nl_close(nl);
	if (err)
		return err_kernel(err, "%s: list tc filters", name);
	if (in || eg)
		return 0;
	err = bpf_tc_hook_destroy(&hook);
	if (err && err != -ENOENT && err != -EINVAL)
		return err_kernel(err, "%s: remove clsact qdisc", name);
	return 0;
}

/* Counts attached interfaces other than skip, forgetting vanished ones. */
static int count_others(const struct state *st, __u32 skip, size_t *n)
{
	__u32 *idx;
	size_t all, i;
	int err = forget_gone(st);

	*n = 0;
	if (err)
		return err;
	err = iface_list(st, &idx, &all);
	if (err)
		return err_kernel(err, "interface state");
	for (i = 0; i < all; i++)
		*n += idx[i] != skip;
	free(idx);
	return 0;
}

int iface_list(const struct state *st, __u32 **ifindexes, size_t *n)
{
	return map_keys(st->ifaces, sizeof(**ifindexes), (void **)ifindexes, n);
}

/*
 * The keys of an address map (each key_size bytes, starting with the
 * ifindex) of interface ifindex, or of every interface (0).
 */
_Static_assert(offsetof(struct iface_addr, ifindex) == 0 &&
		       offsetof(struct iface_addr6, ifindex) == 0,
	       "address keys start with the ifindex");

static int addr_keys(int fd, size_t key_size, __u32 ifindex, void **keys,
		     size_t *n)
{
	char *k;
	size_t i, kept = 0;
	int err;

	err = map_keys(fd, key_size, keys, n);
	if (err || !ifindex)
		return err;
	for (i = 0, k = *keys; i < *n; i++)
		if (*(__u32 *)(k + i * key_size) == ifindex)
			memmove(k + kept++ * key_size, k + i * key_size,
				key_size);
	*n = kept;
	return 0;
}

int iface_addr_list(const struct state *st, __u32 ifindex,
		    struct iface_addr **addrs, size_t *n)
{
	return addr_keys(st->iface_addrs, sizeof(**addrs), ifindex,
			 (void **)addrs, n);
}

int iface_addr6_list(const struct state *st, __u32 ifindex,
		     struct iface_addr6 **addrs, size_t *n)
{
	*addrs = NULL;
	*n = 0;
	if (st->iface_addrs6 < 0)
		return 0; /* a pin root from before IPv6: none */
	return addr_keys(st->iface_addrs6, sizeof(**addrs), ifindex,
			 (void **)addrs, n);
}

static int cmp_addr4(const void *a, const void *b)
{
	const struct iface_addr *x = a, *y = b;
	__u32 p = ntohl(x->addr), q = ntohl(y->addr);

	return p < q ? -1 : p > q;
}

static int cmp_addr6(const void *a, const void *b)
{
	const struct iface_addr6 *x = a, *y = b;

	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

_Static_assert(IFACE_ADDR_TEXT >= INET6_ADDRSTRLEN, "address text");

size_t iface_addr_texts(const struct state *st, __u32 ifindex,
			char (*text)[IFACE_ADDR_TEXT], size_t max)
{
	struct iface_addr6 *a6;
	struct iface_addr *a;
	size_t n, i, k = 0;

	if (!iface_addr_list(st, ifindex, &a, &n)) {
		qsort(a, n, sizeof(*a), cmp_addr4);
		for (i = 0; i < n && k < max; i++)
			inet_ntop(AF_INET, &a[i].addr, text[k++],
				  IFACE_ADDR_TEXT);
		free(a);
	}
	if (!iface_addr6_list(st, ifindex, &a6, &n)) {
		qsort(a6, n, sizeof(*a6), cmp_addr6);
		for (i = 0; i < n && k < max; i++)
			inet_ntop(AF_INET6, a6[i].addr, text[k++],
				  IFACE_ADDR_TEXT);
		free(a6);
	}
	return k;
}

int forget_iface(const struct state *st, __u32 ifindex)
{
	struct iface_addr6 *a6;
	struct iface_addr *a;
	size_t n, i;
	int err;

	err = iface_addr_list(st, ifindex, &a, &n);
	if (err)
		return err_kernel(err, "interface addresses");
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(st->iface_addrs, &a[i]);
	free(a);
	err = iface_addr6_list(st, ifindex, &a6, &n);
	if (err)
		return err_kernel(err, "interface addresses");
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(st->iface_addrs6, &a6[i]);
	free(a6);
	err = iface_state_put(st, ifindex, NULL);
	return err ? err_kernel(err, "interface state") : 0;
}

int forget_vanished(const struct state *st, __u32 ifindex)
{
	return rules_park(st, ifindex) ?: forget_iface(st, ifindex);
}

static int detach_hook(int ifindex, enum bpf_tc_attach_point point,
		       const char *name)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, topts, .handle = SPLICER_TC_HANDLE,
			    .priority = SPLICER_TC_PRIORITY);
	int err = bpf_tc_detach(&hook, &topts);

	if (err && err != -ENOENT && err != -EINVAL)
		return err_kernel(err, "%s: detach tc filter", name);
	return 0;
}

int detach_link(const struct state *st, const struct nl_link *link,
		size_t *others)
{
	bool have_cfg, have_filter;
	struct iface_cfg cfg = {};
	__u32 key = link->ifindex;
	int err;

	have_cfg = !bpf_map_lookup_elem(st->ifaces, &key, &cfg);
	have_filter = !tc_filter_query(link->ifindex, BPF_TC_INGRESS, NULL) ||
		      !tc_filter_query(link->ifindex, BPF_TC_EGRESS, NULL);
	if (!have_cfg && !have_filter)
		return err_absent("%s: splicer is not attached to it",
				  link->name);
	/* Ingress first: the firewall goes before its note-taker. */
	err = detach_hook(link->ifindex, BPF_TC_INGRESS, link->name);
	if (!err)
		err = detach_hook(link->ifindex, BPF_TC_EGRESS, link->name);
	if (!err && (cfg.flags & SPLICER_IFACE_OWN_QDISC))
		err = remove_qdisc_if_unused(link->ifindex, link->name);
	if (!err)
		err = forget_iface(st, key);
	if (!err)
		err = count_others(st, key, others);
	return err;
}
