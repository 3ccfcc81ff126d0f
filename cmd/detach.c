/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer detach IFACE [--purge]: remove the filter, keep or drop the state. */
#include <errno.h>
#include <linux/pkt_sched.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"

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
	__u32 key, next;
	void *prev = NULL;
	struct nl_link l;
	struct nl *nl;
	int err;

	err = nl_open(&nl);
	if (err)
		return err_kernel(err, "netlink");
	*n = 0;
	while (!bpf_map_get_next_key(st->ifaces, prev, &next)) {
		if (next != skip && nl_link_by_index(nl, next, &l) == -ENODEV &&
		    !bpf_map_delete_elem(st->ifaces, &next))
			continue;
		if (next != skip)
			(*n)++;
		key = next;
		prev = &key;
	}
	nl_close(nl);
	return 0;
}

int forget_iface(const struct state *st, __u32 ifindex)
{
	struct iface_addr key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(st->iface_addrs, prev, &next)) {
		if (next.ifindex == ifindex &&
		    !bpf_map_delete_elem(st->iface_addrs, &next))
			continue;
		key = next;
		prev = &key;
	}
	if (bpf_map_delete_elem(st->ifaces, &ifindex) && errno != ENOENT)
		return err_kernel(-errno, "interface state");
	return 0;
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

int do_detach(int argc, char **argv)
{
	bool purge = false, have_cfg, have_filter;
	struct iface_cfg cfg = {};
	struct nl_link link;
	struct state st;
	size_t others = 0;
	__u32 key;
	int err;

	if (wants_help("detach", argc, argv))
		return 0;
	if (argc == 2 && !strcmp(argv[1], "--purge"))
		purge = true;
	else if (argc != 1)
		return err_usage("usage: splicer detach IFACE [--purge]");
	err = resolve_iface(argv[0], &link);
	if (err)
		return err;
	err = state_open(&st, true);
	if (err)
		goto out;

	key = link.ifindex;
	have_cfg = !bpf_map_lookup_elem(st.ifaces, &key, &cfg);
	have_filter = !tc_filter_query(link.ifindex, BPF_TC_INGRESS, NULL) ||
		      !tc_filter_query(link.ifindex, BPF_TC_EGRESS, NULL);
	if (!have_cfg && !have_filter) {
		err = err_absent("%s: splicer is not attached to it",
				 link.name);
		goto out;
	}
	/* Ingress first: the firewall goes before its note-taker. */
	err = detach_hook(link.ifindex, BPF_TC_INGRESS, link.name);
	if (!err)
		err = detach_hook(link.ifindex, BPF_TC_EGRESS, link.name);
	if (err)
		goto out;
	if (cfg.flags & SPLICER_IFACE_OWN_QDISC) {
		err = remove_qdisc_if_unused(link.ifindex, link.name);
		if (err)
			goto out;
	}
	err = forget_iface(&st, key);
	if (!err)
		err = count_others(&st, key, &others);
	if (err)
		goto out;
	if (purge && !others) {
		err = routes_sync(NULL, 0, false, true);
		if (!err)
			err = state_purge(&st);
		if (err)
			goto out;
	} else if (purge) {
		fprintf(stderr,
			"splicer: state kept under %s: %zu other interface%s "
			"attached\n",
			st.root, others, others == 1 ? "" : "s");
	}
	if (opts.json) {
		struct jw *w = jw_new(stdout, opts.pretty);

		jw_obj_begin(w, NULL);
		jw_str(w, "detached", link.name);
		jw_u64(w, "ifindex", link.ifindex);
		jw_bool(w, "purged", purge && !others);
		jw_obj_end(w);
		jw_free(w);
		putchar('\n');
	} else {
		p_info("detached from %s%s\n", link.name,
		       purge && !others ? ", state purged" : "");
	}
out:
	state_close(&st);
	return err;
}
