/* SPDX-License-Identifier: GPL-2.0-only */
/* The grammar of rules, attach arguments and batch files. */
#ifndef SPLICER_GRAMMAR_H
#define SPLICER_GRAMMAR_H

#include <stdbool.h>
#include <stdio.h>

#include "rule.h"
#include "update.h"

/* rule.c: the rule grammar shared by add and del. */
int parse_rule(int argc, char **argv, bool with_action, struct rule *r);
int parse_service(const char *s, char out[SPLICER_SERVICE_LEN]);
/*
 * Reads a batch file, one command per line (add, del, and flush as the
 * first command, which sets UPDATE_REPLACE in *flags), every line
 * checked; an apply_file holds add lines only (and extra's). Errors name
 * the line. A file may hold one more command: extra (if not NULL) parses
 * its lines.
 */
struct batch_extra {
	const char *cmd;
	/* the words after cmd; returns 0 or an err_* code */
	int (*parse)(int argc, char **argv, unsigned int line, void *arg);
	void *arg;
};
int batch_read(FILE *f, bool apply_file, const struct batch_extra *extra,
	       struct rule_change **out, size_t *n, unsigned int *flags);
/* Splits a line into blank-separated words up to a '#'; -1 if too many. */
#define BATCH_MAX_WORDS 64
int batch_split(char *line, char **word);

/*
 * The arguments of batch and apply, [--check] [[-f] FILE|-]: *path is
 * NULL (standard input) unless given; need_file refuses that.
 */
int parse_file_args(const char *cmd, int argc, char **argv, bool need_file,
		    const char **path, bool *check);
/* FILE, or standard input for NULL or "-"; close_input() closes it. */
int open_input(const char *path, FILE **f);
void close_input(FILE *f);

#endif /* SPLICER_GRAMMAR_H */
