/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer apply [--check] FILE|-: the rule set becomes the file's, then
 * its interfaces are attached (config.c says in which order, and why).
 */
#include "cmd.h"
#include "config.h"
#include "grammar.h"

int do_apply(int argc, char **argv)
{
	const char *path;
	struct config c;
	bool check;
	FILE *f;
	int err;

	if (wants_help("apply", argc, argv))
		return 0;
	err = parse_file_args("apply", argc, argv, true, &path, &check);
	if (!err)
		err = open_input(path, &f);
	if (err)
		return err;
	config_read(f, &c);
	close_input(f);
	err = config_apply(&c, check);
	config_free(&c);
	return err;
}
