/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer del RULE: remove a rule, and its route when no other rule asks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "cmd.h"

int do_del(int argc, char **argv)
{
	struct rule want, *all = NULL;
	struct state st;
	size_t n, at;
	int err, trie = -1;

	if (wants_help("del", argc, argv))
		return 0;
	err = rule_change_begin(argc, argv, false, &want, &st, &all, &n, &at);
	if (err)
		goto out;
	if (at == n) {
		err = err_absent("no such rule");
		goto out;
	}
	want = all[at];
	all[at] = all[--n];

	/* Same order as add: build, commit in the rules map, then publish. */
	err = index_build(all, n, &trie);
	if (err)
		goto out;
	if (bpf_map_delete_elem(st.rules, &want.k)) {
		err = err_kernel(-errno, "delete rule");
		goto out;
	}
	err = index_swap(&st, trie);
	if (!err && bpf_map_delete_elem(st.rule_stats, &want.v.id) &&
	    errno != ENOENT)
		err = err_kernel(-errno, "rule counters");
	if (!err)
		err = routes_sync(all, n, false, true);
out:
	if (trie >= 0)
		close(trie);
	free(all);
	state_close(&st);
	return err;
}
