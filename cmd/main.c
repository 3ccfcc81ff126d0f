/* SPDX-License-Identifier: GPL-2.0-only */
/* Entry point: global options, dispatch through the command table. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "cmd.h"
#include "out.h"
#include "state.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* libbpf's own lines would break the one-error-line rule. */
	(void)level;
	if (!opts.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The command word may be any unique prefix of a command, as in ip. */
static int dispatch(int argc, char **argv)
{
	const char *name = resolve_command(argv[0]);
	size_t i;

	for (i = 0; name && i < n_commands; i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].func(argc - 1, argv + 1);
	return err_usage("%s: unknown command; see 'splicer help'", argv[0]);
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "pin-root", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	char *help_argv[] = { "help", NULL };
	char *version_argv[] = { "version", NULL };
	int c;

	opts.pin_root = getenv("SPLICER_PIN_ROOT");
	if (!opts.pin_root || !*opts.pin_root)
		opts.pin_root = DEFAULT_PIN_ROOT;
	libbpf_set_print(libbpf_print);
	/* Called by an old tool's name, speak that tool's language. */
	if (is_compat_name(basename(argv[0])))
		return exit_code(compat_main(basename(argv[0]), argc, argv));

	opterr = 0;
	/* "+": stop at the command word; the rest belongs to the command. */
	while ((c = getopt_long(argc, argv, "+jpqvhV", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'j':
			opts.json = true;
			break;
		case 'p':
			opts.json = true;
			opts.pretty = true;
			break;
		case 'q':
			opts.quiet = true;
			break;
		case 'v':
			opts.verbose = true;
			break;
		case 'P':
			opts.pin_root = optarg;
			break;
		case 'h':
			return exit_code(dispatch(1, help_argv));
		case 'V':
			return exit_code(dispatch(1, version_argv));
		default:
			return exit_code(err_usage(
				"%s: unknown option; see 'splicer help'",
				argv[optind - 1]));
		}
	}
	if (optind >= argc)
		return exit_code(
			err_usage("missing command; see 'splicer help'"));
	return exit_code(dispatch(argc - optind, argv + optind));
}
