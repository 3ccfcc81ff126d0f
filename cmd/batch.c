/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer batch, apply and flush: many changes read and checked as a whole,
 * then made by one rules_update(), so one new index, all or nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int batch_split(char *line, char **word)
{
	char *p = strchr(line, '#');
	int n = 0;

	if (p)
		*p = '\0';
	for (p = strtok(line, " \t\r\n\v\f"); p;
	     p = strtok(NULL, " \t\r\n\v\f")) {
		if (n == BATCH_MAX_WORDS)
			return -1;
		word[n++] = p;
	}
	return n;
}

static int parse_line(char *line, unsigned int lineno, bool add_only,
		      const struct batch_extra *extra, size_t n_before,
		      struct rule_change *ch, bool *flush)
{
	char *word[BATCH_MAX_WORDS];
	int n = batch_split(line, word);

	*flush = false;
	if (n < 0)
		return err_usage("more than %d words", BATCH_MAX_WORDS);
	if (!n)
		return 0;
	memset(ch, 0, sizeof(*ch));
	ch->line = lineno;
	if (!strcmp(word[0], "add"))
		return parse_rule(n - 1, word + 1, true, &ch->r) ?: 1;
	if (extra && !strcmp(word[0], extra->cmd))
		return extra->parse(n - 1, word + 1, lineno, extra->arg);
	if (add_only)
		return err_usage("%s: apply takes add and attach lines only",
				 word[0]);
	if (!strcmp(word[0], "del")) {
		ch->kind = CHANGE_DEL;
		return parse_rule(n - 1, word + 1, false, &ch->r) ?: 1;
	}
	if (!strcmp(word[0], "flush")) {
		if (n > 1)
			return err_usage("%s: flush takes no arguments",
					 word[1]);
		if (n_before)
			return err_usage("flush must be the first command");
		*flush = true;
		return 0;
	}
	return err_usage("%s: unknown command (add, del or flush)", word[0]);
}

int batch_read(FILE *f, bool add_only, const struct batch_extra *extra,
	       struct rule_change **out, size_t *n, unsigned int *flags)
{
	struct rule_change *ch = NULL, *bigger;
	size_t cap = 0, len = 0, size = 0;
	unsigned int lineno = 0;
	char *line = NULL;
	bool flush;
	int err = 0;

	*flags = 0;
	while (getline(&line, &size, f) >= 0) {
		lineno++;
		if (len == cap) {
			cap = cap ? 2 * cap : 64;
			bigger = realloc(ch, cap * sizeof(*ch));
			if (!bigger) {
				err = err_kernel(-ENOMEM, "batch");
				break;
			}
			ch = bigger;
		}
		err_context_set("line %u: ", lineno);
		err = parse_line(line, lineno, add_only, extra, len, &ch[len],
				 &flush);
		err_context_set(NULL);
		if (err < 0)
			break;
		len += err;
		err = 0;
		if (flush)
			*flags |= UPDATE_REPLACE;
	}
	if (!err && ferror(f))
		err = err_kernel(-EIO, "read batch file");
	free(line);
	if (err) {
		free(ch);
		return err;
	}
	*out = ch;
	*n = len;
	return 0;
}

/* [--check] [-f] FILE|-: reads the file and makes (or checks) its changes. */
static int run_file(const char *cmd, bool add_only, unsigned int flags,
		    int argc, char **argv)
{
	struct rule_change *ch = NULL;
	const char *path = NULL;
	unsigned int file_flags;
	FILE *f = stdin;
	size_t n = 0;
	int i, err;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--check")) {
			flags |= UPDATE_CHECK;
			continue;
		}
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
			if (++i == argc)
				return err_usage("%s: missing FILE",
						 argv[i - 1]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return err_usage("%s: unknown option; see 'splicer %s "
					 "help'",
					 argv[i], cmd);
		}
		if (path)
			return err_usage("%s: only one file; see 'splicer %s "
					 "help'",
					 argv[i], cmd);
		path = argv[i];
	}
	if (!path && add_only)
		return err_usage("missing FILE; see 'splicer %s help'", cmd);
	if (path && strcmp(path, "-")) {
		f = fopen(path, "r");
		if (!f)
			return err_usage("%s: %s", path, strerror(errno));
	}
	if (add_only) {
		/* apply: a configuration file, rules and interfaces */
		struct config c;

		config_read(f, &c);
		if (f != stdin)
			fclose(f);
		err = config_apply(&c, flags & UPDATE_CHECK);
		config_free(&c);
		return err;
	}
	err = batch_read(f, add_only, NULL, &ch, &n, &file_flags);
	if (f != stdin)
		fclose(f);
	if (!err)
		err = rules_update(ch, n, flags | file_flags);
	free(ch);
	return err;
}

int do_batch(int argc, char **argv)
{
	if (wants_help("batch", argc, argv))
		return 0;
	return run_file("batch", false, 0, argc, argv);
}

int do_apply(int argc, char **argv)
{
	if (wants_help("apply", argc, argv))
		return 0;
	return run_file("apply", true, UPDATE_REPLACE, argc, argv);
}

int do_flush(int argc, char **argv)
{
	if (wants_help("flush", argc, argv))
		return 0;
	if (argc)
		return err_usage("%s: unknown argument; usage: splicer flush",
				 argv[0]);
	return rules_update(NULL, 0, UPDATE_REPLACE);
}
