/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer add RULE: insert a rule, or replace the action of an equal match. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmd.h"

/*
 * The order makes every interruption recoverable: the new index is built
 * (and checked to fit) first; the rules map is the commit point; the swap
 * publishes it. Killed between commit and swap, the next command
 * recompiles the index from the rules map.
 */
int do_add(int argc, char **argv)
{
	struct rule want, old, *all = NULL, *tmp;
	__u32 max_id = 0;
	struct counter *zero = NULL;
	struct state st;
	size_t n, i, at;
	int err, trie = -1, ncpu;

	if (wants_help("add", argc, argv))
		return 0;
	err = rule_change_begin(argc, argv, true, &want, &st, &all, &n, &at);
	if (err)
		goto out;
	for (i = 0; i < n; i++)
		if (all[i].v.id > max_id)
			max_id = all[i].v.id;
	if (at == n) {
		tmp = realloc(all, (n + 1) * sizeof(*all));
		if (!tmp) {
			err = err_kernel(-ENOMEM, "add");
			goto out;
		}
		all = tmp;
		want.v.id = max_id + 1;
		n++;
	} else {
		want.v.id = all[at].v.id; /* replacing keeps id and counters */
	}
	old = all[at];
	all[at] = want;

	err = index_build(all, n, &trie);
	if (!err)
		err = routes_sync(all, n, true, false);
	if (err)
		goto out;
	ncpu = libbpf_num_possible_cpus();
	zero = calloc(ncpu > 0 ? ncpu : 1, sizeof(*zero));
	if (!zero) {
		err = err_kernel(-ENOMEM, "add");
		goto out;
	}
	if (bpf_map_update_elem(st.rule_stats, &want.v.id, zero, BPF_NOEXIST) &&
	    errno != EEXIST) {
		err = err_kernel(-errno, "rule counters");
		goto undo;
	}
	if (bpf_map_update_elem(st.rules, &want.k, &want.v, BPF_ANY)) {
		err = err_kernel(-errno, errno == E2BIG ? "rule table is full" :
							  "write rule");
		goto undo;
	}
	err = index_swap(&st, trie);
	if (!err)
		err = routes_sync(all, n, false, true);
	goto out;
undo:
	/* Nothing committed: take back the route this add may have made. */
	if (at == n - 1 && want.v.id == max_id + 1)
		n--;
	else
		all[at] = old;
	routes_sync(all, n, false, true);
out:
	if (trie >= 0)
		close(trie);
	free(zero);
	free(all);
	state_close(&st);
	return err;
}
