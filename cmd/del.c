/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer del RULE: remove a rule, and its route when no other rule asks. */
#include "cmd.h"
#include "grammar.h"

int do_del(int argc, char **argv)
{
	struct rule_change ch = { .kind = CHANGE_DEL };
	int err;

	if (wants_help("del", argc, argv))
		return 0;
	err = parse_rule(argc, argv, false, &ch.r);
	if (!err)
		err = rules_update(&ch, 1, 0);
	return err;
}
