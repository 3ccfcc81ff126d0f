/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer list: every rule with its packet and byte counters; splicer
 * save: the rule set as a batch file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json.h"
#include "out.h"
#include "state.h"
#include "store.h"

int do_list(int argc, char **argv)
{
	if (wants_help("list", argc, argv))
		return 0;
	if (argc)
		return err_usage("%s: unknown argument; usage: splicer list",
				 argv[0]);
	return list_rules(NULL);
}

int do_save(int argc, char **argv)
{
	struct rule *r = NULL;
	struct state st;
	char line[RULE_SAVE_LEN];
	size_t n = 0, i;
	struct jw *w;
	int err;

	if (wants_help("save", argc, argv))
		return 0;
	if (argc)
		return err_usage("%s: unknown argument; usage: splicer save",
				 argv[0]);
	err = rules_sorted(&st, NULL, &r, &n);
	if (err)
		goto out;
	if (!opts.json) {
		for (i = 0; i < n; i++) {
			rule_save_line(&r[i], line, sizeof(line));
			puts(line);
		}
		goto out;
	}
	w = jw_new(stdout, opts.pretty);
	jw_obj_begin(w, NULL);
	jw_u64(w, "schema", 1);
	jw_arr_begin(w, "batch");
	for (i = 0; i < n; i++) {
		rule_save_line(&r[i], line, sizeof(line));
		jw_str(w, NULL, line);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	jw_free(w);
	putchar('\n');
out:
	free(r);
	state_close(&st);
	return err;
}
