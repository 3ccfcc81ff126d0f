/* SPDX-License-Identifier: GPL-2.0-only */
/* Entry point: global options, the command table and error reporting. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "cmd.h"

struct options opts;

static bool err_printed;

/* Exactly one error line reaches the user, whatever layer failed first. */
static void verr(const char *fmt, va_list ap)
{
	char msg[1024];

	if (err_printed)
		return;
	err_printed = true;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (opts.json) {
		struct jw *w = jw_new(stderr, false);

		jw_obj_begin(w, NULL);
		jw_str(w, "error", msg);
		jw_obj_end(w);
		jw_free(w);
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "Error: %s\n", msg);
	}
}

int err_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	return E_USAGE;
}

int err_absent(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	return E_ABSENT;
}

static void err_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
}

int err_kernel(int err, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err == -EPERM || err == -EACCES)
		err_line("%s: permission denied: splicer needs CAP_BPF and "
			 "CAP_NET_ADMIN",
			 what);
	else
		err_line("%s: %s", what, strerror(-err));
	return E_KERNEL;
}

int exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case E_USAGE:
		return EXIT_USAGE;
	case E_ABSENT:
		return EXIT_ABSENT;
	default:
		return EXIT_KERNEL;
	}
}

void p_info(const char *fmt, ...)
{
	va_list ap;

	if (opts.quiet || opts.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (!opts.verbose && level != LIBBPF_WARN)
		return 0;
	if (!opts.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

static const struct cmd cmds[] = {
	{ "attach", do_attach }, { "detach", do_detach },
	{ "add", do_add },	 { "del", do_del },
	{ "list", do_list },	 { "stats", do_stats },
	{ "help", do_help },	 { "version", do_version },
};

static int dispatch(int argc, char **argv)
{
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[0], cmds[i].name))
			return cmds[i].func(argc - 1, argv + 1);
	err_usage("%s: unknown command; see 'splicer help'", argv[0]);
	return E_USAGE;
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
	libbpf_set_print(libbpf_print);
	if (optind >= argc) {
		usage_of(NULL, stderr);
		return EXIT_USAGE;
	}
	return exit_code(dispatch(argc - optind, argv + optind));
}
