/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer monitor: the datapath's decisions about new flows and drops, one
 * line or JSON object each, read from the events ring buffer. The datapath
 * emits them only while the heartbeat this command writes every second is
 * fresh, so a monitor that is killed stops emission within seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"
#include "iface.h"
#include "json.h"
#include "out.h"
#include "parse.h"
#include "reasons.h"
#include "state.h"
#include "store.h"

#define NS_PER_SEC 1000000000ULL
/* A third of the age at which the datapath stops: two beats may be late. */
#define BEAT_NS NS_PER_SEC
#define IFNAME_CACHE 64

#define ALL_REASONS ((1U << REASON_MAX) - 1)

struct filter {
	int ifindex; /* 0: any */
	unsigned int reasons; /* bit (1 << reason) for each one shown */
	__u8 proto; /* IPPROTO_*; 0: any */
};

struct monitor {
	struct filter f;
	struct state st;
	int ctl_fd, stats_fd, events_fd;
	__u64 start_ns; /* older events were left by someone else */
	__s64 real_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct rule *rules; /* sorted by id */
	size_t n_rules;
	__u64 loaded_ns; /* when reading rules last began; 0: never */
	struct {
		__u32 ifindex;
		char name[IF_NAMESIZE];
	} ifnames[IFNAME_CACHE];
	size_t n_ifnames;
	unsigned long long events, shown;
	__u64 lost_start, lost_reported;
	int err; /* from the event callback */
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

#define USAGE "[-j] [dev IFACE] [verdict VERDICT] [reason NAME] [proto PROTO]"

static int parse_args(int argc, char **argv, struct filter *f)
{
	unsigned int verdicts = ALL_REASONS, reasons = ALL_REASONS;
	bool seen_dev = false, seen_verdict = false, seen_reason = false;
	struct nl_link link;
	int i, r, err;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < argc; i++) {
		const char *kw = argv[i], *val = argv[i + 1];

		if (!strcmp(kw, "-j") || !strcmp(kw, "--json")) {
			opts.json = true;
			continue;
		}
		if (strcmp(kw, "dev") && strcmp(kw, "verdict") &&
		    strcmp(kw, "reason") && strcmp(kw, "proto"))
			return err_usage("%s: unknown argument; usage: splicer "
					 "monitor " USAGE,
					 kw);
		if (!val)
			return err_usage("%s: missing value; usage: splicer "
					 "monitor " USAGE,
					 kw);
		i++;
		if (!strcmp(kw, "dev") && !seen_dev) {
			seen_dev = true;
			err = resolve_iface(val, &link);
			if (err)
				return err;
			f->ifindex = link.ifindex;
		} else if (!strcmp(kw, "verdict") && !seen_verdict) {
			seen_verdict = true;
			if (strcmp(val, "pass") && strcmp(val, "redirect") &&
			    strcmp(val, "drop"))
				return err_usage(
					"%s: unknown verdict (redirect, "
					"pass or drop)",
					val);
			verdicts = 0;
			for (r = 0; r < REASON_MAX; r++)
				if (!strcmp(reason_verdict(r), val))
					verdicts |= 1U << r;
		} else if (!strcmp(kw, "reason") && !seen_reason) {
			seen_reason = true;
			r = reason_by_name(val);
			if (r < 0)
				return err_usage("%s: unknown reason; see "
						 "'splicer help monitor'",
						 val);
			reasons = 1U << r;
		} else if (!strcmp(kw, "proto") && !f->proto) {
			if (!strcmp(val, "icmp"))
				f->proto = IPPROTO_ICMP;
			else if (!strcmp(val, "icmpv6"))
				f->proto = IPPROTO_ICMPV6;
			else if (strcmp(val, "tcp") && strcmp(val, "udp"))
				return err_usage("%s: unknown protocol (tcp, "
						 "udp, icmp or icmpv6)",
						 val);
			else
				parse_proto(val, &f->proto);
		} else {
			return err_usage("%s: given twice", kw);
		}
	}
	/* Given both, an event must match both. */
	f->reasons = verdicts & reasons;
	if (!f->reasons)
		return err_usage("no reason has that verdict; see 'splicer "
				 "help monitor'");
	return 0;
}

static bool wanted(const struct filter *f, const struct splicer_event *e)
{
	if (f->ifindex && e->ifindex != (__u32)f->ifindex)
		return false;
	if (!(f->reasons & (1U << e->reason)))
		return false;
	if (f->proto &&
	    (!(e->flags & SPLICER_EVENT_IP) || e->proto != f->proto))
		return false;
	return true;
}

static void write_heartbeat(struct monitor *m, __u64 now)
{
	struct monitor_ctl c = { .heartbeat_ns = now, .pid = getpid() };
	__u32 zero = 0;

	bpf_map_update_elem(m->ctl_fd, &zero, &c, BPF_ANY);
}

/*
 * One monitor at a time: the ring has one read position, so two readers
 * would each see some of the events. The pin root's lock is held, so a
 * monitor starting at the same moment waits for this one's claim.
 */
static int claim(struct monitor *m)
{
	struct monitor_ctl c = {};
	__u32 zero = 0;
	__u64 now = clock_ns(CLOCK_MONOTONIC);

	if (bpf_map_lookup_elem(m->ctl_fd, &zero, &c))
		return err_kernel(-errno, "%s/%s", m->st.root,
				  SPLICER_MAP_MONITOR);
	if (c.heartbeat_ns && now - c.heartbeat_ns < SPLICER_MONITOR_STALE_NS &&
	    c.pid && c.pid != (__u32)getpid() &&
	    (!kill(c.pid, 0) || errno == EPERM))
		return err_kernel(-EBUSY, "another monitor is running (pid %u)",
				  c.pid);
	m->start_ns = now;
	write_heartbeat(m, now);
	return 0;
}

/* Emission stops now rather than when the heartbeat goes stale. */
static void release(struct monitor *m)
{
	struct monitor_ctl c = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->ctl_fd, &zero, &c) ||
	    c.pid != (__u32)getpid())
		return;
	memset(&c, 0, sizeof(c));
	bpf_map_update_elem(m->ctl_fd, &zero, &c, BPF_ANY);
}

/*
 * A datapath loaded by an older splicer that the pin root still holds
 * does not know the events map: say so rather than stay silent.
 */
static int check_datapath(struct monitor *m)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info minfo = {};
	__u32 len = sizeof(info), mlen = sizeof(minfo), ids[64], i;
	char path[4200];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", m->st.root,
		 SPLICER_PROG_INGRESS_PIN);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* nothing loaded yet: attach will load the new one */
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    bpf_obj_get_info_by_fd(m->events_fd, &minfo, &mlen)) {
		err = err_kernel(-errno, "%s", path);
		goto out;
	}
	for (i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]);
	     i++)
		if (ids[i] == minfo.id)
			goto out;
	err = err_kernel(-EOPNOTSUPP,
			 "%s: the loaded datapath predates events; 'splicer "
			 "attach IFACE' replaces it in place",
			 path);
out:
	close(fd);
	return err;
}

static __u64 lost_now(const struct monitor *m)
{
	struct monitor_stats ms = {};
	__u32 zero = 0;

	percpu_sum(m->stats_fd, &zero, &ms, sizeof(ms), 2);
	return ms.lost;
}

/* Tells of events lost to a full ring since the last report. */
static void report_lost(struct monitor *m)
{
	__u64 lost = lost_now(m) - m->lost_start;

	if (lost <= m->lost_reported)
		return;
	p_count("lost", lost - m->lost_reported,
		"monitor: %llu events lost (ring buffer full)",
		(unsigned long long)(lost - m->lost_reported));
	m->lost_reported = lost;
}

static const char *ifname(struct monitor *m, __u32 ifindex)
{
	size_t i;

	for (i = 0; i < m->n_ifnames; i++)
		if (m->ifnames[i].ifindex == ifindex)
			return m->ifnames[i].name;
	i = m->n_ifnames < IFNAME_CACHE ? m->n_ifnames++ :
					  ifindex % IFNAME_CACHE;
	m->ifnames[i].ifindex = ifindex;
	if (!if_indextoname(ifindex, m->ifnames[i].name))
		snprintf(m->ifnames[i].name, IF_NAMESIZE, "if%u", ifindex);
	return m->ifnames[i].name;
}

static int cmp_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->v.id < y->v.id ? -1 : x->v.id > y->v.id;
}

/* Could this rule have made this decision? If not, it changed since. */
static bool consistent(const struct rule *r, int reason)
{
	switch (reason) {
	case REASON_PASS_RULE:
		return r->v.action == SPLICER_ACT_PASS;
	case REASON_DROP_RULE:
		return r->v.action == SPLICER_ACT_DROP;
	default:
		return r->v.action == SPLICER_ACT_REDIRECT;
	}
}

static const struct rule *find_rule(const struct monitor *m, __u32 id)
{
	struct rule key = { .v.id = id };

	return m->n_rules ? bsearch(&key, m->rules, m->n_rules,
				    sizeof(*m->rules), cmp_id) :
			    NULL;
}

/*
 * The rule an event names. The rules are read through rules_load() again
 * when the id is new to us or the rule's action cannot have made the
 * decision (it was replaced), unless they were read after the event:
 * then the rule changed or went since, and reading again cannot help.
 * NULL for a rule deleted since.
 */
static const struct rule *rule_of(struct monitor *m,
				  const struct splicer_event *e, int *err)
{
	const struct rule *r = find_rule(m, e->rule);
	__u64 now;

	if ((r && consistent(r, e->reason)) ||
	    (m->loaded_ns && e->time_ns < m->loaded_ns))
		return r;
	now = clock_ns(CLOCK_MONOTONIC);
	free(m->rules);
	m->rules = NULL;
	m->n_rules = 0;
	*err = rules_load(&m->st, &m->rules, &m->n_rules);
	if (*err)
		return NULL;
	qsort(m->rules, m->n_rules, sizeof(*m->rules), cmp_id);
	m->loaded_ns = now;
	return find_rule(m, e->rule);
}

static void fmt_time(const struct monitor *m, __u64 mono_ns, bool utc,
		     char *buf, size_t size)
{
	__u64 real = mono_ns + m->real_offset_ns;
	time_t sec = real / NS_PER_SEC;
	unsigned int usec = real % NS_PER_SEC / 1000;
	struct tm tm;
	size_t len;

	if (utc) {
		gmtime_r(&sec, &tm);
		len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf + len, size - len, ".%06uZ", usec);
	} else {
		localtime_r(&sec, &tm);
		len = strftime(buf, size, "%H:%M:%S", &tm);
		snprintf(buf + len, size - len, ".%06u", usec);
	}
}

static bool has_ports(const struct splicer_event *e)
{
	return (e->flags & SPLICER_EVENT_IP) &&
	       !(e->flags & SPLICER_EVENT_FRAG_REST) &&
	       e->reason != REASON_DROP_MALFORMED &&
	       (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP);
}

static int family_of(const struct splicer_event *e)
{
	return e->flags & SPLICER_EVENT_IPV6 ? AF_INET6 : AF_INET;
}

static bool has_icmp_type(const struct splicer_event *e)
{
	return (e->flags & SPLICER_EVENT_IP) &&
	       !(e->flags & SPLICER_EVENT_FRAG_REST) &&
	       e->reason != REASON_DROP_MALFORMED &&
	       (family_of(e) == AF_INET6 ? e->proto == IPPROTO_ICMPV6 :
					   e->proto == IPPROTO_ICMP);
}

/* The name of an ICMP or ICMPv6 type, or NULL for one without a name. */
static const char *icmp_type_name(const struct splicer_event *e)
{
	static const char *const v4[] = {
		[0] = "echo-reply",	[3] = "dest-unreachable",
		[5] = "redirect",	[8] = "echo-request",
		[11] = "time-exceeded", [12] = "parameter-problem",
	};
	static const char *const v6[] = {
		[1] = "dest-unreachable",
		[2] = "packet-too-big",
		[3] = "time-exceeded",
		[4] = "parameter-problem",
		[128] = "echo-request",
		[129] = "echo-reply",
		[130] = "mld-query",
		[131] = "mld-report",
		[132] = "mld-done",
		[133] = "router-solicitation",
		[134] = "router-advertisement",
		[135] = "neighbor-solicitation",
		[136] = "neighbor-advertisement",
		[137] = "redirect",
		[143] = "mldv2-report",
	};

	if (family_of(e) == AF_INET6)
		return e->icmp_type < sizeof(v6) / sizeof(v6[0]) ?
			       v6[e->icmp_type] :
			       NULL;
	return e->icmp_type < sizeof(v4) / sizeof(v4[0]) ? v4[e->icmp_type] :
							   NULL;
}

static const char *proto_word(const struct splicer_event *e, char *buf,
			      size_t size)
{
	if (!(e->flags & SPLICER_EVENT_IP))
		return e->reason == REASON_PASS_ARP ? "arp" : "-";
	switch (e->proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	}
	snprintf(buf, size, "%u", e->proto);
	return buf;
}

static const struct {
	__u8 bit;
	char letter; /* as tcpdump prints them */
	const char *name;
} tcp_flags[] = {
	{ SPLICER_TCP_SYN, 'S', "syn" },
	{ SPLICER_TCP_FIN, 'F', "fin" },
	{ SPLICER_TCP_RST, 'R', "rst" },
	{ SPLICER_TCP_ACK, '.', "ack" },
};

#define N_TCP_FLAGS (sizeof(tcp_flags) / sizeof(tcp_flags[0]))

static void print_text(struct monitor *m, const struct splicer_event *e,
		       const struct rule *r)
{
	char when[32], proto[8], src[INET6_ADDRSTRLEN + 8],
		dst[INET6_ADDRSTRLEN + 8], extra[48] = "";
	char match[RULE_MATCH_LEN], action[RULE_ACTION_LEN];
	int af = family_of(e);
	const char *name;
	size_t i, n = 0;

	fmt_time(m, e->time_ns, false, when, sizeof(when));
	printf("%s %s %s ", when, ifname(m, e->ifindex),
	       proto_word(e, proto, sizeof(proto)));
	if (has_ports(e)) {
		printf("%s -> %s",
		       fmt_addr_port(af, e->saddr, e->sport, src, sizeof(src)),
		       fmt_addr_port(af, e->daddr, e->dport, dst, sizeof(dst)));
	} else if (e->flags & SPLICER_EVENT_IP) {
		printf("%s -> %s", fmt_addr(af, e->saddr, src, sizeof(src)),
		       fmt_addr(af, e->daddr, dst, sizeof(dst)));
	} else {
		printf("-");
	}
	if (has_ports(e) && e->proto == IPPROTO_TCP) {
		extra[n++] = '[';
		for (i = 0; i < N_TCP_FLAGS; i++)
			if (e->tcp_flags & tcp_flags[i].bit)
				extra[n++] = tcp_flags[i].letter;
		snprintf(extra + n, sizeof(extra) - n, "%s]",
			 n == 1 ? "none" : "");
	} else if (has_icmp_type(e)) {
		/* IPv4's as before; ICMPv6's with their names. */
		name = af == AF_INET6 ? icmp_type_name(e) : NULL;
		snprintf(extra, sizeof(extra), "[type %u%s%s]", e->icmp_type,
			 name ? " " : "", name ? name : "");
	}
	printf("%s%s %s %s", *extra ? " " : "", extra,
	       reason_verdict(e->reason), reason_name(e->reason));
	if (r) {
		rule_words(r, match, sizeof(match), action, sizeof(action));
		printf(" rule %u: %s %s", e->rule, match, action);
	} else if (e->rule) {
		printf(" rule %u: (deleted)", e->rule);
	}
	putchar('\n');
}

static void print_json(struct monitor *m, const struct splicer_event *e,
		       const struct rule *r)
{
	struct jw *w = jw_new(stdout, opts.pretty);
	char when[40], proto[8], addr[INET6_ADDRSTRLEN];
	bool ip = e->flags & SPLICER_EVENT_IP;
	int af = family_of(e);
	size_t i;

	fmt_time(m, e->time_ns, true, when, sizeof(when));
	jw_obj_begin(w, NULL);
	jw_str(w, "time", when);
	jw_str(w, "iface", ifname(m, e->ifindex));
	jw_u64(w, "ifindex", e->ifindex);
	jw_str(w, "proto",
	       ip || e->reason == REASON_PASS_ARP ?
		       proto_word(e, proto, sizeof(proto)) :
		       NULL);
	jw_str(w, "family", !ip ? NULL : af == AF_INET6 ? "ipv6" : "ipv4");
	jw_str(w, "src",
	       ip ? fmt_addr(af, e->saddr, addr, sizeof(addr)) : NULL);
	if (has_ports(e))
		jw_u64(w, "sport", ntohs(e->sport));
	else
		jw_str(w, "sport", NULL);
	jw_str(w, "dst",
	       ip ? fmt_addr(af, e->daddr, addr, sizeof(addr)) : NULL);
	if (has_ports(e))
		jw_u64(w, "dport", ntohs(e->dport));
	else
		jw_str(w, "dport", NULL);
	if (has_ports(e) && e->proto == IPPROTO_TCP) {
		jw_arr_begin(w, "tcp_flags");
		for (i = 0; i < N_TCP_FLAGS; i++)
			if (e->tcp_flags & tcp_flags[i].bit)
				jw_str(w, NULL, tcp_flags[i].name);
		jw_arr_end(w);
	} else {
		jw_str(w, "tcp_flags", NULL);
	}
	if (has_icmp_type(e))
		jw_u64(w, "icmp_type", e->icmp_type);
	else
		jw_str(w, "icmp_type", NULL);
	jw_str(w, "icmp_name", has_icmp_type(e) ? icmp_type_name(e) : NULL);
	jw_u64(w, "len", e->len);
	jw_str(w, "verdict", reason_verdict(e->reason));
	jw_str(w, "reason", reason_name(e->reason));
	if (r) {
		rule_json(w, "rule", r);
	} else if (e->rule) {
		jw_obj_begin(w, "rule");
		jw_u64(w, "id", e->rule);
		jw_obj_end(w);
	} else {
		jw_str(w, "rule", NULL);
	}
	jw_obj_end(w);
	jw_free(w);
	putchar('\n');
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct monitor *m = ctx;
	struct splicer_event e;
	const struct rule *r = NULL;

	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	/* Left in the ring by an earlier monitor, or by a benchmark. */
	if (e.time_ns < m->start_ns || e.reason >= REASON_MAX)
		return 0;
	m->events++;
	if (!wanted(&m->f, &e))
		return 0;
	if (e.rule) {
		r = rule_of(m, &e, &m->err);
		if (m->err)
			return m->err;
	}
	m->shown++;
	if (opts.json)
		print_json(m, &e, r);
	else
		print_text(m, &e, r);
	return 0;
}

static int open_maps(struct monitor *m)
{
	m->ctl_fd = state_open_map(&m->st, SPLICER_MAP_MONITOR, false);
	if (m->ctl_fd < 0)
		return m->ctl_fd;
	m->stats_fd = state_open_map(&m->st, SPLICER_MAP_MONITOR_STATS, false);
	if (m->stats_fd < 0)
		return m->stats_fd;
	m->events_fd = state_open_map(&m->st, SPLICER_MAP_EVENTS, false);
	if (m->events_fd < 0)
		return m->events_fd;
	return check_datapath(m);
}

static void close_maps(struct monitor *m)
{
	if (m->ctl_fd >= 0)
		close(m->ctl_fd);
	if (m->stats_fd >= 0)
		close(m->stats_fd);
	if (m->events_fd >= 0)
		close(m->events_fd);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a signal must end the wait for events. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A closed pipe ends the monitor through the write error. */
	signal(SIGPIPE, SIG_IGN);
}

/* Flushes what the last poll printed; false when stdout is gone. */
static bool flush_out(struct monitor *m)
{
	if (fflush(stdout) != EOF)
		return true;
	if (errno != EPIPE)
		m->err = err_kernel(-errno, "standard output");
	return false;
}

static int watch(struct monitor *m, struct ring_buffer *rb)
{
	__u64 now = clock_ns(CLOCK_MONOTONIC), next_beat = now + BEAT_NS;
	int n;

	while (!stopping) {
		n = ring_buffer__poll(rb, (next_beat - now) / 1000000);
		if (m->err)
			return m->err;
		if (n < 0 && n != -EINTR)
			return err_kernel(n, "read events");
		if (!flush_out(m))
			return m->err;
		now = clock_ns(CLOCK_MONOTONIC);
		if (now < next_beat)
			continue;
		write_heartbeat(m, now);
		next_beat = now + BEAT_NS;
		m->real_offset_ns = clock_ns(CLOCK_REALTIME) - now;
		report_lost(m);
	}
	/* Emission stops first; what it emitted before is still news. */
	release(m);
	ring_buffer__consume(rb);
	flush_out(m);
	return m->err;
}

int do_monitor(int argc, char **argv)
{
	struct monitor m = { .ctl_fd = -1, .stats_fd = -1, .events_fd = -1 };
	struct ring_buffer *rb = NULL;
	bool claimed = false;
	int err;

	state_init(&m.st);
	if (wants_help("monitor", argc, argv))
		return 0;
	err = parse_args(argc, argv, &m.f);
	if (err)
		return err;
	err = state_open(&m.st, true);
	if (!err)
		err = open_maps(&m);
	if (!err)
		err = claim(&m);
	claimed = !err;
	state_unlock(&m.st);
	if (err)
		goto out;
	rb = ring_buffer__new(m.events_fd, on_event, &m, NULL);
	if (!rb) {
		err = err_kernel(-errno, "%s/%s", m.st.root,
				 SPLICER_MAP_EVENTS);
		goto out;
	}
	m.lost_start = lost_now(&m);
	m.real_offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	catch_signals();
	p_status("monitor: listening on %s; interrupt to stop",
		 m.f.ifindex ? ifname(&m, m.f.ifindex) :
			       "all attached interfaces");
	err = watch(&m, rb);
	report_lost(&m);
	p_status("monitor: %llu events, %llu shown, %llu lost", m.events,
		 m.shown, (unsigned long long)(lost_now(&m) - m.lost_start));
out:
	if (claimed)
		release(&m);
	ring_buffer__free(rb);
	free(m.rules);
	close_maps(&m);
	state_close(&m.st);
	return err;
}
