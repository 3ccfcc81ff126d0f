/* SPDX-License-Identifier: GPL-2.0-only */
/* The one error line per failure, its exit code, and informational output. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>

#include "netlink.h"
#include "json.h"
#include "out.h"

struct options opts;

static bool err_printed;
static char err_context[128];
/* splicer watch: errors are kept for its log line instead of printed. */
static bool err_keep;
static char err_kept[1024];

/* Under -j, what goes to stderr is one JSON object a line. */
static struct jw *stderr_obj(void)
{
	struct jw *w = jw_new(stderr, false);

	jw_obj_begin(w, NULL);
	return w;
}

static void stderr_obj_end(struct jw *w)
{
	jw_obj_end(w);
	jw_free(w);
	fputc('\n', stderr);
}

static void stderr_str(const char *key, const char *val)
{
	struct jw *w = stderr_obj();

	jw_str(w, key, val);
	stderr_obj_end(w);
}

void err_context_set(const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		err_context[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err_context, sizeof(err_context), fmt, ap);
	va_end(ap);
}

/* Exactly one error line reaches the user, whatever layer failed first. */
static void verr(const char *fmt, va_list ap)
{
	char msg[1024];
	size_t len;

	if (err_printed)
		return;
	err_printed = true;
	len = snprintf(msg, sizeof(msg), "%s", err_context);
	vsnprintf(msg + len, sizeof(msg) - len, fmt, ap);
	if (err_keep) {
		snprintf(err_kept, sizeof(err_kept), "%s", msg);
	} else if (opts.json) {
		stderr_str("error", msg);
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
		err_line("%s: permission denied: splicer needs CAP_BPF, "
			 "CAP_PERFMON and CAP_NET_ADMIN",
			 what);
	else
		err_line("%s: %s", what, strerror(-err));
	return E_KERNEL;
}

int err_netlink(const struct nl *nl, int err, const char *fmt, ...)
{
	const char *ack = nl ? nl_extack(nl) : NULL;
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!ack || !*ack || err == -EPERM || err == -EACCES)
		return err_kernel(err, "%s", what);
	/* As iproute2 does: the errno, then what the kernel said of it. */
	err_line("%s: %s: %s", what, strerror(-err), ack);
	return E_KERNEL;
}

int err_failed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	return E_KERNEL;
}

int exit_code(int err)
{
	if (err && !err_printed)
		err_line("%s", err > E_CLASSES ? strerror(-err) : "failed");
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

void err_keep_mode(void)
{
	err_keep = true;
}

const char *err_take(void)
{
	static char taken[sizeof(err_kept)];

	snprintf(taken, sizeof(taken), "%s", err_printed ? err_kept : "");
	err_printed = false;
	err_kept[0] = '\0';
	return taken[0] ? taken : NULL;
}

void p_log(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void p_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err_keep) {
		p_log(LOG_WARNING, "%s", msg);
	} else if (opts.json) {
		stderr_str("warning", msg);
	} else {
		fprintf(stderr, "splicer: warning: %s\n", msg);
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

void p_status(const char *fmt, ...)
{
	va_list ap;

	if (opts.quiet || opts.json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void p_notice(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err_keep)
		p_log(LOG_NOTICE, "%s", msg);
	else
		p_status("%s", msg);
}

void p_count(const char *key, unsigned long long n, const char *fmt, ...)
{
	va_list ap;

	if (opts.json) {
		struct jw *w = stderr_obj();

		jw_u64(w, key, n);
		stderr_obj_end(w);
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
