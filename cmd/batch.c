/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer batch [--check] [[-f] FILE|-]: many changes read and checked as
 * a whole, then made by one rules_update(), so all or nothing.
 */
#include <stdlib.h>

#include "cmd.h"
#include "grammar.h"

int do_batch(int argc, char **argv)
{
	struct rule_change *ch = NULL;
	unsigned int flags = 0;
	const char *path;
	size_t n = 0;
	bool check;
	FILE *f;
	int err;

	if (wants_help("batch", argc, argv))
		return 0;
	err = parse_file_args("batch", argc, argv, false, &path, &check);
	if (!err)
		err = open_input(path, &f);
	if (err)
		return err;
	err = batch_read(f, false, NULL, &ch, &n, &flags);
	close_input(f);
	if (!err)
		err = rules_update(ch, n, flags | (check ? UPDATE_CHECK : 0));
	free(ch);
	return err;
}
