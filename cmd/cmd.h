/* SPDX-License-Identifier: GPL-2.0-only */
/* The commands: each parses its argv, calls the library and prints. */
#ifndef SPLICER_CMD_H
#define SPLICER_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A command: its word, handler, usage line and help text. */
struct command {
	const char *name;
	int (*func)(int argc, char **argv);
	const char *usage;
	const char *text;
};
extern const struct command commands[];
extern const size_t n_commands;

/* The handlers. */
int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_add(int argc, char **argv);
int do_del(int argc, char **argv);
int do_list(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_help(int argc, char **argv);
int do_version(int argc, char **argv);
int do_batch(int argc, char **argv);
int do_apply(int argc, char **argv);
int do_save(int argc, char **argv);
int do_flush(int argc, char **argv);
int do_monitor(int argc, char **argv);
int do_watch(int argc, char **argv);

/* compat.c: the old tools' command lines (map_update, map_delete...). */
bool is_compat_name(const char *prog);
int compat_main(const char *prog, int argc, char **argv);

/* help.c */
void usage_of(const char *cmd, FILE *f);
bool wants_help(const char *cmd, int argc, char **argv);
/* The command a word names, exactly or as a unique prefix; NULL if none. */
const char *resolve_command(const char *word);

#endif /* SPLICER_CMD_H */
