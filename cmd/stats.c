/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer stats: per-interface counters by verdict and reason, once or
 * every few seconds as rates (text), JSON, or the Prometheus format
 * (prom.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmd.h"
#include "json.h"
#include "out.h"
#include "prom.h"
#include "reasons.h"
#include "snapshot.h"

static void json_monitor(struct jw *w, const struct monitor_view *mv)
{
	if (!mv->present)
		return;
	jw_obj_begin(w, "monitor");
	jw_bool(w, "listening", mv->listening);
	if (mv->pid)
		jw_u64(w, "pid", mv->pid);
	else
		jw_str(w, "pid", NULL);
	jw_u64(w, "events", mv->c.emitted);
	jw_u64(w, "lost", mv->c.lost);
	jw_obj_end(w);
}

static void plain_monitor(const struct monitor_view *mv)
{
	if (!mv->present)
		return;
	if (mv->pid)
		printf("monitor: listening (pid %u)", mv->pid);
	else
		printf("monitor: %s", mv->listening ? "listening" : "none");
	printf(", %llu events emitted, %llu lost\n",
	       (unsigned long long)mv->c.emitted,
	       (unsigned long long)mv->c.lost);
}

static void json_counter(struct jw *w, const char *name,
			 const struct counter *c)
{
	jw_obj_begin(w, name);
	jw_u64(w, "packets", c->packets);
	jw_u64(w, "bytes", c->bytes);
	jw_obj_end(w);
}

/*
 * passed, redirected and dropped of one set of counters: the reasons
 * that family counts (0: every reason, the totals).
 */
static void json_groups(struct jw *w, const struct counter *c, int family)
{
	int g, r;

	for (g = REASON_PASSED; g <= REASON_DROPPED; g++) {
		if (g == REASON_REDIRECT) {
			json_counter(w, "redirected", &c[REASON_REDIRECTED]);
			continue;
		}
		jw_obj_begin(w, reason_group_name(g));
		for (r = 0; r < REASON_MAX; r++)
			if ((int)reason_group(r) == g &&
			    (!family || reason_of_family(r, family)))
				json_counter(w, reason_name(r), &c[r]);
		jw_obj_end(w);
	}
}

/*
 * Schema 2: passed, redirected and dropped are the totals of both
 * families with every reason (not_ip and vlan, frames of neither family,
 * only there); "ipv4" and "ipv6" hold the same groups for one family.
 */
static void json_view(struct jw *w, const struct iface_view *v)
{
	size_t i;

	jw_obj_begin(w, NULL);
	jw_str(w, "name", v->name);
	jw_u64(w, "ifindex", v->ifindex);
	jw_bool(w, "loopback", v->cfg.flags & SPLICER_IFACE_LOOPBACK);
	jw_bool(w, "attached", v->attached);
	jw_bool(w, "icmp_echo", v->cfg.flags & SPLICER_IFACE_ICMP_ECHO);
	jw_arr_begin(w, "addresses");
	for (i = 0; i < v->n_addrs; i++)
		jw_str(w, NULL, v->addrs[i]);
	jw_arr_end(w);
	json_groups(w, v->total.reason, 0);
	jw_obj_begin(w, "ipv4");
	json_groups(w, v->st.reason, AF_INET);
	jw_obj_end(w);
	jw_obj_begin(w, "ipv6");
	json_groups(w, v->st6.reason, AF_INET6);
	jw_obj_end(w);
	jw_obj_end(w);
}

/* A family's count of reason r, or "-" where that family has none. */
static const char *family_count(const struct counter *c, unsigned int r,
				int family, bool bytes, char *buf, size_t size)
{
	if (!reason_of_family(r, family))
		return "-";
	snprintf(buf, size, "%llu",
		 (unsigned long long)(bytes ? c[r].bytes : c[r].packets));
	return buf;
}

static void plain_view(const struct iface_view *v)
{
	char p4[24], b4[24], p6[24], b6[24];
	size_t i;
	int r;

	printf("%s (ifindex %u)%s%s%s\n", v->name, v->ifindex,
	       v->attached ? " attached" : " not attached",
	       v->cfg.flags & SPLICER_IFACE_LOOPBACK ? " loopback" : "",
	       v->cfg.flags & SPLICER_IFACE_ICMP_ECHO ? " icmp-echo" : "");
	printf("  addresses:");
	for (i = 0; i < v->n_addrs; i++)
		printf(" %s", v->addrs[i]);
	printf("%s\n", v->n_addrs ? "" : " none");
	printf("  %-10s %-12s %12s %14s %12s %14s %12s %14s\n", "VERDICT",
	       "REASON", "PACKETS", "BYTES", "IPV4-PKTS", "IPV4-BYTES",
	       "IPV6-PKTS", "IPV6-BYTES");
	for (r = 0; r < REASON_MAX; r++)
		printf("  %-10s %-12s %12llu %14llu %12s %14s %12s %14s\n",
		       reason_group_name(reason_group(r)), reason_name(r),
		       (unsigned long long)v->total.reason[r].packets,
		       (unsigned long long)v->total.reason[r].bytes,
		       family_count(v->st.reason, r, AF_INET, false, p4,
				    sizeof(p4)),
		       family_count(v->st.reason, r, AF_INET, true, b4,
				    sizeof(b4)),
		       family_count(v->st6.reason, r, AF_INET6, false, p6,
				    sizeof(p6)),
		       family_count(v->st6.reason, r, AF_INET6, true, b6,
				    sizeof(b6)));
}

/* --------------------------------------------------------- snapshots */

static void print_json(const struct snapshot *s)
{
	struct jw *w = jw_new(stdout, opts.pretty);
	size_t i;

	jw_obj_begin(w, NULL);
	jw_u64(w, "schema", 2);
	jw_arr_begin(w, "interfaces");
	for (i = 0; i < s->n_ifs; i++)
		json_view(w, &s->ifs[i]);
	jw_arr_end(w);
	json_monitor(w, &s->mon);
	jw_obj_end(w);
	jw_free(w);
	putchar('\n');
}

static void print_plain(const struct snapshot *s)
{
	size_t i;

	for (i = 0; i < s->n_ifs; i++)
		plain_view(&s->ifs[i]);
	plain_monitor(&s->mon);
}

/* ------------------------------------------------------------- rates */

/* 1234567 -> "1.2M": a rate fits its column whatever its size. */
static const char *human(double v, char *buf, size_t size)
{
	static const char *const unit[] = { "", "k", "M", "G", "T" };
	size_t u = 0;

	while (v >= 999.95 && u < sizeof(unit) / sizeof(unit[0]) - 1) {
		v /= 1000;
		u++;
	}
	snprintf(buf, size, "%.1f%s", v, unit[u]);
	return buf;
}

/* now - then per second, or "-" without an earlier value to compare. */
static const char *rate(const __u64 *then, __u64 now, double secs, char *buf,
			size_t size)
{
	if (!then || *then > now || secs <= 0)
		return "-";
	return human((now - *then) / secs, buf, size);
}

struct rule_row {
	size_t i; /* into the snapshot's rules */
	double pps; /* -1: no rate yet */
};

static int cmp_rule_row(const void *a, const void *b)
{
	const struct rule_row *x = a, *y = b;

	if (x->pps != y->pps)
		return x->pps > y->pps ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Terminal rows, for a rule table that fits; 0: not a terminal. */
static int screen_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row)
		return 0;
	return ws.ws_row;
}

/* The interfaces' part of a frame: one line per reason that counted. */
static int print_iface_rates(const struct snapshot *prev,
			     const struct snapshot *s, double secs)
{
	char r1[16], r2[16];
	int used = 0;
	unsigned int r;
	size_t i;

	printf("%-15s %-8s %-11s %9s %9s %14s %16s\n", "INTERFACE", "VERDICT",
	       "REASON", "PKTS/S", "BYTES/S", "PACKETS", "BYTES");
	for (i = 0; i < s->n_ifs; i++) {
		const struct iface_view *v = &s->ifs[i];
		const struct iface_view *p = snapshot_iface(prev, v->ifindex);

		for (r = 0; r < REASON_MAX; r++) {
			const struct counter *c = &v->total.reason[r];

			if (!c->packets)
				continue;
			printf("%-15s %-8s %-11s %9s %9s %14llu %16llu\n",
			       v->name, reason_verdict(r), reason_name(r),
			       rate(p ? &p->total.reason[r].packets : NULL,
				    c->packets, secs, r1, sizeof(r1)),
			       rate(p ? &p->total.reason[r].bytes : NULL,
				    c->bytes, secs, r2, sizeof(r2)),
			       (unsigned long long)c->packets,
			       (unsigned long long)c->bytes);
			used++;
		}
	}
	return used + 1;
}

/*
 * The rules' part: the busiest first, at most room lines of them (0: no
 * limit, or none fit) and a line to say what is left.
 */
static void print_rule_rates(const struct snapshot *prev,
			     const struct snapshot *s, double secs, int room)
{
	char r1[16], r2[16], match[RULE_MATCH_LEN], action[RULE_ACTION_LEN];
	int mw = 5, aw = 6;
	struct rule_row *rr;
	size_t i, n = 0, shown;

	rr = calloc(s->n_rules + 1, sizeof(*rr));
	if (!rr)
		return;
	for (i = 0; i < s->n_rules; i++) {
		const struct counter *p = snapshot_rule(prev, s->rules[i].v.id);

		if (!s->rule_c[i].packets)
			continue;
		rr[n].i = i;
		rr[n].pps = p && secs > 0 &&
					    p->packets <= s->rule_c[i].packets ?
				    (s->rule_c[i].packets - p->packets) / secs :
				    -1;
		rule_words(&s->rules[i], match, sizeof(match), action,
			   sizeof(action));
		if ((int)strlen(match) > mw)
			mw = strlen(match);
		if ((int)strlen(action) > aw)
			aw = strlen(action);
		n++;
	}
	qsort(rr, n, sizeof(*rr), cmp_rule_row);
	printf("%-6s %-*s %-*s %9s %9s %14s %16s\n", "RULE", mw, "MATCH", aw,
	       "ACTION", "PKTS/S", "BYTES/S", "PACKETS", "BYTES");
	/* Beside the rules: the header, the closing line, the cursor's. */
	shown = n;
	if (room && (int)n > room - 3)
		shown = room - 3 > 0 ? room - 3 : 0;
	for (i = 0; i < shown; i++) {
		const struct rule *ru = &s->rules[rr[i].i];
		const struct counter *c = &s->rule_c[rr[i].i];
		const struct counter *p = snapshot_rule(prev, ru->v.id);

		rule_words(ru, match, sizeof(match), action, sizeof(action));
		printf("%-6u %-*s %-*s %9s %9s %14llu %16llu\n", ru->v.id, mw,
		       match, aw, action,
		       rate(p ? &p->packets : NULL, c->packets, secs, r1,
			    sizeof(r1)),
		       rate(p ? &p->bytes : NULL, c->bytes, secs, r2,
			    sizeof(r2)),
		       (unsigned long long)c->packets,
		       (unsigned long long)c->bytes);
	}
	if (shown < n)
		printf("... %zu more rules\n", n - shown);
	else
		printf("%zu rules, %zu without packets\n", s->n_rules,
		       s->n_rules - n);
	free(rr);
}

/*
 * One frame of `stats --watch`: packet and byte rates since the last
 * frame, per interface and reason and per rule, with the totals. Only
 * what has counted anything is shown; the busiest rules first. On a
 * terminal, as many rules as fit.
 */
static void print_rates(const struct snapshot *prev, const struct snapshot *s,
			double every, bool tty)
{
	double secs = prev ? (s->mono_ns - prev->mono_ns) / 1e9 : 0;
	int rows = tty ? screen_rows() : 0, used;
	char when[32];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&s->wall));
	if (tty)
		fputs("\033[H\033[2J", stdout); /* home, clear: like top */
	printf("splicer stats, every %g s, %s\n\n", every, when);
	used = 2 + print_iface_rates(prev, s, secs);
	putchar('\n');
	used++;
	print_rule_rates(prev, s, secs, rows ? rows - used : 0);
	if (!tty)
		putchar('\n');
}

/* ----------------------------------------------------------- options */

enum format { FMT_TEXT, FMT_JSON, FMT_PROM };

struct stats_opts {
	enum format format;
	double watch; /* seconds; 0: once */
	const char *textfile; /* directory */
};

#define STATS_USAGE                                         \
	"usage: splicer stats [--watch SECONDS] [--format " \
	"text|json|prometheus] [--textfile DIR]"

static int parse_watch(const char *s, double *secs)
{
	char *end;

	errno = 0;
	*secs = strtod(s, &end);
	if (*s < '0' || *s > '9' || *end || errno || !isfinite(*secs) ||
	    *secs < 0.1 || *secs > 86400)
		return err_usage("%s: --watch takes seconds, 0.1 to 86400", s);
	return 0;
}

static int parse_format(const char *s, enum format *f)
{
	if (!strcmp(s, "text"))
		*f = FMT_TEXT;
	else if (!strcmp(s, "json"))
		*f = FMT_JSON;
	else if (!strcmp(s, "prometheus"))
		*f = FMT_PROM;
	else
		return err_usage("%s: unknown format (text, json or "
				 "prometheus)",
				 s);
	return 0;
}

/* --opt VALUE or --opt=VALUE, as getopt_long takes them. */
static int parse_stats_opts(int argc, char **argv, struct stats_opts *o)
{
	static const char *const names[] = { "--watch", "--format",
					     "--textfile" };
	bool have_format = false;
	const char *arg, *v, *eq;
	size_t len, k;
	int i, err;

	memset(o, 0, sizeof(*o));
	o->format = opts.json ? FMT_JSON : FMT_TEXT;
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (k = 0; k < 3; k++)
			if (strlen(names[k]) == len &&
			    !strncmp(arg, names[k], len))
				break;
		if (k == 3)
			return err_usage("%s: unknown argument; " STATS_USAGE,
					 arg);
		v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : "";
		if (!*v)
			return err_usage("%s: missing value; " STATS_USAGE,
					 names[k]);
		if (k == 0) {
			err = parse_watch(v, &o->watch);
		} else if (k == 1) {
			have_format = true;
			err = parse_format(v, &o->format);
		} else {
			o->textfile = v;
			err = 0;
		}
		if (err)
			return err;
	}
	if (have_format && opts.json && o->format != FMT_JSON)
		return err_usage("-j and --format %s disagree",
				 o->format == FMT_PROM ? "prometheus" : "text");
	if (o->textfile && o->format != FMT_PROM)
		return err_usage("--textfile writes the prometheus format; "
				 "add --format prometheus");
	if (o->watch && o->format == FMT_PROM && !o->textfile)
		return err_usage("--watch with --format prometheus needs "
				 "--textfile DIR");
	return 0;
}

/* ----------------------------------------------------------- the loop */

static int show(const struct stats_opts *o, const struct snapshot *prev,
		const struct snapshot *s, bool tty)
{
	switch (o->format) {
	case FMT_JSON:
		print_json(s);
		break;
	case FMT_PROM:
		return o->textfile ? prom_textfile(o->textfile, s) :
				     prom_write(stdout, s);
	default:
		if (o->watch)
			print_rates(prev, s, o->watch, tty);
		else
			print_plain(s);
	}
	return 0;
}

/*
 * --watch: a snapshot every interval until SIGINT or SIGTERM. The signals
 * are blocked and waited for, so the wait ends the moment one comes.
 */
static int watch(const struct stats_opts *o)
{
	struct snapshot snaps[2] = {}, *prev = NULL, *cur;
	bool tty = isatty(STDOUT_FILENO);
	struct timespec wait = {
		.tv_sec = (time_t)o->watch,
		.tv_nsec = (long)((o->watch - (time_t)o->watch) * 1e9),
	};
	sigset_t stop;
	int err = 0, n, sig;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	/* A closed pipe ends the watch through the write error. */
	signal(SIGPIPE, SIG_IGN);
	for (n = 0;; n++) {
		cur = &snaps[n % 2];
		snapshot_free(cur);
		err = snapshot_take(cur, o->format != FMT_JSON);
		if (!err)
			err = show(o, prev, cur, tty);
		if (err)
			break;
		if (fflush(stdout) == EOF) {
			if (errno != EPIPE)
				err = err_kernel(-errno, "standard output");
			break;
		}
		prev = cur;
		do {
			sig = sigtimedwait(&stop, NULL, &wait);
		} while (sig < 0 && errno == EINTR);
		if (sig > 0)
			break;
	}
	snapshot_free(&snaps[0]);
	snapshot_free(&snaps[1]);
	return err;
}

int do_stats(int argc, char **argv)
{
	struct stats_opts o;
	struct snapshot s;
	int err;

	if (wants_help("stats", argc, argv))
		return 0;
	err = parse_stats_opts(argc, argv, &o);
	if (err)
		return err;
	if (o.watch)
		return watch(&o);
	err = snapshot_take(&s, o.format == FMT_PROM);
	if (!err)
		err = show(&o, NULL, &s, false);
	snapshot_free(&s);
	return err;
}
