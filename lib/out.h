/* SPDX-License-Identifier: GPL-2.0-only */
/* The output layer: every line splicer prints, errors, JSON. */
#ifndef SPLICER_OUT_H
#define SPLICER_OUT_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes, documented in README and `splicer help`. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1, /* bad usage or invalid input */
	EXIT_KERNEL = 2, /* kernel/BPF/netlink failure, missing privilege */
	EXIT_ABSENT = 3, /* not attached, or no such rule */
};

/*
 * Failures travel as negative values: a raw errno from a layer below, or
 * one of the classes the err_* helpers return once they have printed the
 * one error line. The classes lie below every errno (MAX_ERRNO is 4095),
 * so an errno never passes for "bad usage" or "absent" by accident.
 */
#define E_CLASSES (-4096) /* every errno is above, every class below */
#define E_USAGE (E_CLASSES - 1)
#define E_ABSENT (E_CLASSES - 2)
#define E_KERNEL (E_CLASSES - 3)

struct options {
	bool json;
	bool pretty;
	bool quiet;
	bool verbose;
	const char *pin_root;
};
extern struct options opts;

int err_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int err_absent(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "fmt: strerror(-err)" (and the kernel's extack text if any). */
int err_kernel(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same for a netlink request: with the kernel's extended ACK text. */
struct nl;
int err_netlink(const struct nl *nl, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A failure of the kernel class whose message says it all (no errno). */
int err_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The exit code of err, the last step of every command: a failure that
 * printed nothing gets a generic "Error: ..." line here, so a non-zero
 * exit always has its line.
 */
int exit_code(int err);
/*
 * A prefix for the error line while a part of the input is parsed, e.g.
 * err_context_set("line %u: ", n); err_context_set(NULL) clears it.
 */
void err_context_set(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void p_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A status line for a person at a terminal, on stderr: none under -q or
 * -j (a -j reader reads stdout, and stderr stays for errors and counts).
 */
void p_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Something done that the user did not ask for in so many words (an
 * upgrade in place): a status line, or under splicer watch a log line of
 * priority notice.
 */
void p_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A count worth telling on stderr: {"KEY":N} under -j, else the text. */
void p_count(const char *key, unsigned long long n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A warning on stderr: "splicer: warning: ...", JSON under -j. */
void p_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * splicer watch runs for days and logs for journald: one line per event,
 * "<N>text" with a syslog priority N (sd-daemon(3) prefixes). In keep
 * mode an error line is not printed but kept; err_take() hands it over
 * (NULL if none) and lets the next failure report again.
 */
void p_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void err_keep_mode(void);
const char *err_take(void);

#endif /* SPLICER_OUT_H */
