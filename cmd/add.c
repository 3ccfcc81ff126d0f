/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer add RULE: insert a rule, or replace the action of an equal match. */
#include "cmd.h"
#include "grammar.h"

int do_add(int argc, char **argv)
{
	struct rule_change ch = {};
	int err;

	if (wants_help("add", argc, argv))
		return 0;
	err = parse_rule(argc, argv, true, &ch.r);
	if (!err)
		err = rules_update(&ch, 1, 0);
	return err;
}
