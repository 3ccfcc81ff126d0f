/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer detach IFACE [--purge]: remove the filter, keep or drop the state. */
#include <errno.h>
#include <linux/pkt_sched.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"
#include "iface.h"
#include "json.h"
#include "out.h"
#include "routes.h"
#include "state.h"

int do_detach(int argc, char **argv)
{
	bool purge = false;
	struct nl_link link;
	struct state st;
	size_t others = 0;
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

	err = detach_link(&st, &link, &others);
	if (err)
		goto out;
	if (purge && !others) {
		err = routes_sync(NULL, 0, false, true);
		if (!err)
			err = state_purge(&st);
		if (err)
			goto out;
	} else if (purge) {
		p_warn("state kept under %s: %zu other interface%s attached",
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
