/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer flush: every rule goes, and with them splicer's routes. */
#include "cmd.h"
#include "out.h"
#include "update.h"

int do_flush(int argc, char **argv)
{
	if (wants_help("flush", argc, argv))
		return 0;
	if (argc)
		return err_usage("%s: unknown argument; usage: splicer flush",
				 argv[0]);
	return rules_update(NULL, 0, UPDATE_REPLACE);
}
