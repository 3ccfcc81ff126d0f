/* SPDX-License-Identifier: GPL-2.0-only */
/* Declarations shared by the command files: options, errors, state, rules. */
#ifndef SPLICER_CMD_H
#define SPLICER_CMD_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <linux/types.h>

#include "splicer.h"

/* Exit codes, documented in README and `splicer help`. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1, /* bad usage or invalid input */
	EXIT_KERNEL = 2, /* kernel/BPF/netlink failure, missing privilege */
	EXIT_ABSENT = 3, /* not attached, or no such rule */
};

/*
 * Failures travel as negative errno values. The err_* helpers print the
 * one error line and return the errno that names the exit code's class,
 * so a command only has to return exit_code(err).
 */
#define E_USAGE (-EINVAL)
#define E_ABSENT (-ENOENT)
#define E_KERNEL (-EIO)

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/splicer"
#define DEFAULT_CONFIG "/etc/splicer/splicer.conf"
#define BPFFS_ROOT "/sys/fs/bpf"
#define RTPROT_SPLICER 158 /* rtm_protocol marking routes splicer owns */

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
/* A failure of the kernel class whose message says it all (no errno). */
int err_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int exit_code(int err);
/*
 * A prefix for the error line while a part of the input is parsed, e.g.
 * err_context_set("line %u: ", n); err_context_set(NULL) clears it.
 */
void err_context_set(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void p_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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

/* json.c: a streaming JSON writer, pretty-printed under -p. */
struct jw;
struct jw *jw_new(FILE *f, bool pretty);
void jw_free(struct jw *w);
void jw_obj_begin(struct jw *w, const char *name);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w, const char *name);
void jw_arr_end(struct jw *w);
void jw_str(struct jw *w, const char *name, const char *val); /* NULL: null */
void jw_u64(struct jw *w, const char *name, unsigned long long val);
void jw_bool(struct jw *w, const char *name, bool val);

/* parse.c: command-line values. Each prints its own error. */
int parse_prefix(const char *s, __be32 *addr, __u8 *len);
int parse_port(const char *s, __u16 *port);
int parse_port_range(const char *s, __u16 *lo, __u16 *hi);
int parse_proto(const char *s, __u8 *proto);
int parse_addr_port(const char *s, __be32 *addr, __be16 *port);
const char *fmt_prefix(__be32 addr, __u8 len, char *buf, size_t size);
const char *fmt_addr_port(__be32 addr, __be16 port, char *buf, size_t size);
const char *proto_name(__u8 proto);
bool is_keyword(const char *arg, const char *kw);

/* state.c: the pinned maps, the lock, privileges. */
struct state {
	int root_fd; /* the pin root, flock()ed by writers */
	int rule_stats;
	int ifaces;
	int iface_addrs;
	int iface_stats;
	int rule_index;
	char root[4096];
};
int check_privileges(void);
/* Empty state that state_close() accepts. */
void state_init(struct state *st);
int state_open(struct state *st, bool write);
/*
 * For attach: creates the pin root and loads/pins what is missing; the
 * programs' fds (ingress, egress) in prog_fd, unless it is NULL.
 */
int state_create(struct state *st, int prog_fd[2]);
int state_purge(struct state *st);
/* A pinned map by name (SPLICER_MAP_*): its fd, or a negative error. */
int state_open_map(const struct state *st, const char *name, bool optional);
void state_unlock(struct state *st);
void state_close(struct state *st);
int percpu_sum(int map_fd, const void *key, void *sum, size_t value_size,
	       size_t n_u64);

/* rules.c and index.c: the rule set, its compiled index, its routes. */
struct rule {
	struct rule_key k;
	struct rule_val v;
	__u32 pad; /* to a multiple of 8 bytes: the rule set's array stride */
};
/*
 * A rule set as an array of rules: the live one, read-only (rules_view),
 * or a new one being written (rules_stage).
 */
struct rule_set {
	struct rule *r;
	size_t n;
	void *map; /* the mmap()ed snapshot, if r points into one */
	size_t bytes;
	int fd; /* a staged snapshot, or -1 */
};
#define RULE_SET_INIT    \
	{                \
		.fd = -1 \
	}
/* The rule set the live index was compiled from: the only way to read it. */
int rules_view(const struct state *st, struct rule_set *set);
/* The same as a malloc()ed copy. */
int rules_load(const struct state *st, struct rule **out, size_t *n);
/*
 * Room for cap rules of a new rule set, to be published by rules_commit()
 * (publish) or only looked at (!publish: plain memory).
 */
int rules_stage(struct rule_set *set, size_t cap, bool publish);
/*
 * Makes set->r[0..set->n) the rule set: records it beside the live one,
 * then publishes trie_fd, the index compiled from it. That swap is the
 * commit point. set->r stays readable (not writable) until released.
 */
int rules_commit(const struct state *st, struct rule_set *set, int trie_fd);
void rules_release(struct rule_set *set);
/* Stages, compiles and commits r[]. */
int rules_publish(const struct state *st, const struct rule *r, size_t n);
/*
 * Removes rule sets left by writers killed before they published; *live
 * says whether an index (and so its rule set) is published.
 */
int rules_tidy(const struct state *st, bool *live);
/* Fails, with what to do, on the pin root of an older splicer. */
int rules_check_layout(const struct state *st);
int index_build(const struct rule *r, size_t n, int *trie_fd);
int index_swap(const struct state *st, int trie_fd);
/*
 * splicer's local routes (protocol 158), made to follow the route rules
 * that routes_want() was given: routes_add() adds the routes they ask for
 * and the kernel lacks, routes_remove() removes splicer's routes they do
 * not ask for.
 */
struct routes;
int routes_open(struct routes **out);
int routes_want(struct routes *rt, const struct rule *r, size_t n);
int routes_add(struct routes *rt);
int routes_remove(struct routes *rt);
void routes_close(struct routes *rt);
/* The same in one call. */
int routes_sync(const struct rule *r, size_t n, bool add, bool remove);

/* attach.c: shared with detach and stats. */
struct nl_link;
int resolve_iface(const char *name, struct nl_link *link);
/* The same, but -ENODEV without an error line when there is no such link. */
int find_iface(const char *name, struct nl_link *link);
enum bpf_tc_attach_point;
int tc_filter_query(int ifindex, enum bpf_tc_attach_point point,
		    __u32 *prog_id);
int refresh_addrs(const struct state *st, int ifindex);
int sync_rules(const struct state *st);
/* IFACE [icmp-echo on|off]; *icmp_echo is 1 on, 0 off, -1 unchanged. */
int parse_attach(int argc, char **argv, int *icmp_echo);
/*
 * Everything attach does to one link, the state created if missing: the
 * interface's addresses and state first, then its filters. *cfg (if not
 * NULL) receives its state, *already whether both filters were there.
 */
int attach_link(const struct nl_link *link, int icmp_echo,
		struct iface_cfg *cfg, bool *already);

/* detach.c: forgets an interface's addresses and state (not its rules). */
int forget_iface(const struct state *st, __u32 ifindex);

/* stats.c: the reasons' names, as stats -j spells them. */
const char *reason_name(unsigned int reason);
const char *reason_verdict(unsigned int reason); /* pass, redirect, drop */
int reason_by_name(const char *name); /* -1 if none */

/* stats.c: every counter at one moment. */
struct iface_view {
	__u32 ifindex;
	char name[16]; /* IF_NAMESIZE */
	struct iface_cfg cfg;
	bool attached;
	struct iface_stats st;
	char addrs[16][16]; /* INET_ADDRSTRLEN each */
	size_t n_addrs;
};

/* The monitor's heartbeat and the events the datapath emitted for it. */
struct monitor_view {
	bool present; /* state pinned by an older splicer has no such maps */
	bool listening;
	__u32 pid; /* 0: not known, or nobody listens */
	struct monitor_stats c;
};

struct snapshot {
	struct iface_view *ifs; /* by ifindex */
	size_t n_ifs;
	struct rule *rules; /* by id; only if asked for */
	struct counter *rule_c; /* rule_c[i] counts rules[i] */
	size_t n_rules;
	struct monitor_view mon;
	__u64 mono_ns; /* CLOCK_MONOTONIC when taken */
	time_t wall; /* when taken */
};
int snapshot_take(struct snapshot *s, bool with_rules);
void snapshot_free(struct snapshot *s);

/* prom.c: a snapshot in the Prometheus text format (it needs the rules). */
int prom_write(FILE *f, const struct snapshot *s);
/* Atomically replaces DIR/splicer.prom, for node-exporter's textfile. */
int prom_textfile(const char *dir, const struct snapshot *s);

/* Commands. */
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

/* list.c: which rules list_rules() prints; NULL prints every rule. */
struct rule_filter {
	bool by_dst;
	__be32 dst;
	__u8 dst_len;
	__u8 proto; /* 0: any */
	unsigned int actions; /* bit (1 << SPLICER_ACT_*); 0: any */
};
int list_rules(const struct rule_filter *f);
/* One rule as list shows it, without counters: list -j's fields. */
void rule_json(struct jw *w, const char *name, const struct rule *r);
/*
 * Its match and action in words, e.g. "tcp 10.1.0.0/16 from 10.2.0.0/16
 * port 80-88 dev eth1" and "redirect 127.0.0.1:9999".
 */
#define RULE_MATCH_LEN 96
#define RULE_ACTION_LEN 32
void rule_words(const struct rule *r, char *match, size_t msize, char *action,
		size_t asize);

/* rule.c: the rule grammar shared by add and del. */
int parse_rule(int argc, char **argv, bool with_action, struct rule *r);
int parse_service(const char *s, char out[SPLICER_SERVICE_LEN]);
/* update.c: every change to the rule set goes through rules_update(). */
enum change_kind {
	CHANGE_ADD, /* insert, or replace the action of an equal match */
	CHANGE_DEL, /* delete the rule with exactly this match */
	CHANGE_DEL_ANY_HIGH, /* ... whatever its high port (old tools) */
	CHANGE_DEL_PREFIX, /* every rule for this destination prefix */
};

struct rule_change {
	struct rule r;
	enum change_kind kind;
	unsigned int line; /* in a batch file; 0 on the command line */
};
#define UPDATE_REPLACE (1U << 0) /* start from an empty rule set */
#define UPDATE_CHECK (1U << 1) /* validate against the state, change nothing */
int rules_update(const struct rule_change *ch, size_t n, unsigned int flags);

/*
 * batch.c: reads a batch file, one command per line (add, del, and flush
 * as the first command, which sets UPDATE_REPLACE in *flags), every line
 * checked; add_only admits add lines only. Errors name the line. A file
 * may hold one more command: extra (if not NULL) parses its lines.
 */
struct batch_extra {
	const char *cmd;
	/* the words after cmd; returns 0 or an err_* code */
	int (*parse)(int argc, char **argv, unsigned int line, void *arg);
	void *arg;
};
int batch_read(FILE *f, bool add_only, const struct batch_extra *extra,
	       struct rule_change **out, size_t *n, unsigned int *flags);
/* Splits a line into blank-separated words up to a '#'; -1 if too many. */
#define BATCH_MAX_WORDS 64
int batch_split(char *line, char **word);

/*
 * config.c: a configuration file is an apply file that may also hold
 * "attach IFACE [icmp-echo on|off]" lines (icmp-echo off when not said).
 */
struct iface_conf {
	char name[16];
	int icmp_echo; /* 1 on, 0 off, -1 keep (command line of watch) */
	unsigned int line;
};

struct config {
	char *text; /* the whole file */
	size_t len;
	struct rule_change *ch;
	size_t n_ch;
	struct iface_conf *ifaces;
	size_t n_ifaces;
	int err; /* of the first bad line; 0 if every line parsed */
};
int config_read(FILE *f, struct config *c);
/*
 * Rules first, then the interfaces: see config.c. A file that does not
 * parse changes nothing, except on a fresh pin root (see there).
 */
int config_apply(const struct config *c, bool check);
/*
 * The interface names a file mentions in attach lines (and, with dev,
 * in dev words), even a file that does not parse.
 */
size_t config_names(const struct config *c, bool dev, char (*names)[16],
		    size_t max);
void config_free(struct config *c);
bool valid_ifname(const char *name);

/* compat.c: the old tools' command lines (map_update, map_delete...). */
bool is_compat_name(const char *prog);
int compat_main(const char *prog, int argc, char **argv);

/* help.c */
void usage_of(const char *cmd, FILE *f);
bool wants_help(const char *cmd, int argc, char **argv);
/* The command a word names, exactly or as a unique prefix; NULL if none. */
const char *resolve_command(const char *word);

#endif /* SPLICER_CMD_H */
