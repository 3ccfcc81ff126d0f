/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer attach IFACE: the clsact qdisc, the filter, the interface's state. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"
#include "iface.h"
#include "json.h"
#include "out.h"

int do_attach(int argc, char **argv)
{
	struct iface_cfg cfg;
	struct nl_link link;
	int err, icmp_echo;
	bool already;

	if (wants_help("attach", argc, argv))
		return 0;
	err = parse_attach(argc, argv, &icmp_echo);
	if (!err)
		err = resolve_iface(argv[0], &link);
	if (!err)
		err = attach_link(&link, icmp_echo, &cfg, &already);
	if (err)
		return err;
	if (opts.json) {
		struct jw *w = jw_new(stdout, opts.pretty);

		jw_obj_begin(w, NULL);
		jw_str(w, "attached", link.name);
		jw_u64(w, "ifindex", link.ifindex);
		jw_bool(w, "already", already);
		jw_bool(w, "icmp_echo", cfg.flags & SPLICER_IFACE_ICMP_ECHO);
		jw_obj_end(w);
		jw_free(w);
		putchar('\n');
	} else {
		p_info("%s %s (ifindex %d)\n",
		       already ? "already attached to" : "attached to",
		       link.name, link.ifindex);
	}
	return 0;
}
