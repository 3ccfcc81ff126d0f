/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splicer watch: the service's main process. It applies the configuration
 * file, then follows rtnetlink link and IPv4 and IPv6 address events: the SSH
 * allowance follows the addresses of every attached interface, and a
 * configured interface that comes back (a new ifindex) is attached again.
 * It holds the writer lock only while it changes something, and stopping
 * it changes nothing: filters and rules stay.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"
#include "config.h"
#include "iface.h"
#include "out.h"
#include "state.h"
#include "store.h"

#define MAX_KNOWN 512
#define ADDR_TEXT 1024

/* A name the watcher follows: configured, named by a dev rule, attached. */
struct known {
	char name[16];
	int ifindex; /* last seen; 0 if never */
	bool gone; /* deleted; rules scoped to ifindex wait for the name */
	bool configured; /* attach it whenever it appears */
	int icmp_echo; /* as configured: 1, 0, -1 as it was */
	__u32 flags; /* its iface_cfg flags when it went */
	int failed; /* the ifindex an attach failed on: reported once */
	bool was_attached; /* before the file was applied */
};

struct watch {
	const char *config; /* the file; the default one may be missing */
	bool config_given; /* by --config or SPLICER_CONFIG: must exist */
	bool config_failed; /* the last apply failed: retry on new links */
	bool have_set; /* the configured set was taken from a file */
	char **cli; /* IFACE arguments */
	int n_cli;
	struct known known[MAX_KNOWN];
	size_t n_known;
};

/* The message of the error an operation just had, for its log line. */
static const char *why(int err)
{
	const char *msg = err_take();

	return msg ? msg : strerror(err < 0 ? -err : EIO);
}

static struct known *find_name(struct watch *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n_known; i++)
		if (!strcmp(w->known[i].name, name))
			return &w->known[i];
	return NULL;
}

static struct known *find_index(struct watch *w, int ifindex)
{
	size_t i;

	for (i = 0; i < w->n_known; i++)
		if (w->known[i].ifindex == ifindex && !w->known[i].gone)
			return &w->known[i];
	return NULL;
}

static struct known *remember(struct watch *w, const char *name)
{
	struct known *k = find_name(w, name);

	if (k || w->n_known == MAX_KNOWN)
		return k;
	k = &w->known[w->n_known++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->icmp_echo = -1;
	return k;
}

/*
 * Is ifindex attached: its state there, and with filter also its ingress
 * filter? Events go by the state alone: a link being deleted loses its
 * filter before the kernel says it is gone.
 */
static bool attached(int ifindex, bool filter)
{
	struct iface_cfg cfg;
	__u32 key = ifindex;
	struct state st;
	bool found;

	if (!state_exists() || state_open(&st, false))
		return false;
	found = !bpf_map_lookup_elem(st.ifaces, &key, &cfg);
	state_close(&st);
	if (found && filter)
		found = !tc_filter_query(ifindex, BPF_TC_INGRESS, NULL);
	return found;
}

/*
 * The SSH allowance of ifindex as text, IPv4 then IPv6 addresses, e.g.
 * "10.0.0.1 fd00::1 fe80::1".
 */
static void addr_text(const struct state *st, int ifindex, char *buf,
		      size_t size)
{
	char text[ADDR_TEXT / 8][IFACE_ADDR_TEXT];
	size_t n, i, len = 0;

	n = iface_addr_texts(st, ifindex, text, sizeof(text) / sizeof(text[0]));
	snprintf(buf, size, "none");
	for (i = 0; i < n && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s", i ? " " : "",
				text[i]);
}

static const char *name_of(struct watch *w, int ifindex, char *buf)
{
	struct known *k = find_index(w, ifindex);

	if (k)
		return k->name;
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "if%d", ifindex);
	return buf;
}

/*
 * Reads the addresses again; logs only a change of the allowance (the
 * kernel also notifies lifetime updates, e.g. at every DHCP renewal).
 */
static void refresh(struct watch *w, int ifindex, const char *what)
{
	char before[ADDR_TEXT], after[ADDR_TEXT], name[IF_NAMESIZE];
	const char *shown;
	struct state st;
	int err;

	err = state_open(&st, true);
	if (!err) {
		addr_text(&st, ifindex, before, sizeof(before));
		err = refresh_addrs(&st, ifindex);
		addr_text(&st, ifindex, after, sizeof(after));
	}
	state_close(&st);
	shown = name_of(w, ifindex, name);
	if (err)
		p_log(LOG_ERR, "%s: %s; SSH allowance not refreshed: %s", shown,
		      what, why(err));
	else if (strcmp(before, after))
		p_log(LOG_INFO, "%s: %s; SSH allowed to %s", shown, what,
		      after);
	err_take();
}

/*
 * Rules scoped to ifindex, also those that wait for it (gone): how many,
 * and optionally the rules.
 */
static int scoped_rules(int ifindex, struct rule **out, size_t *n)
{
	struct rule *r = NULL;
	struct state st;
	size_t n_all = 0, i;
	int err;

	*n = 0;
	if (out)
		*out = NULL;
	if (!state_exists())
		return 0;
	err = state_open(&st, false);
	if (!err)
		err = rules_load(&st, &r, &n_all);
	state_close(&st);
	if (err)
		return err;
	for (i = 0; i < n_all; i++)
		if ((r[i].k.ifindex & ~SPLICER_IFINDEX_GONE) == (__u32)ifindex)
			r[(*n)++] = r[i];
	if (out)
		*out = r;
	else
		free(r);
	return 0;
}

/*
 * Rules keep an interface by its index, which a re-created interface does
 * not keep: the rules scoped to the old index move to the new one, as the
 * name they were written with would say. They are new rules to the rule
 * set (new ids, counters from zero).
 */
static int move_rules(int from, int to, size_t *moved)
{
	struct rule_change *ch = NULL;
	struct rule *r;
	size_t n, i;
	int err;

	*moved = 0;
	err = scoped_rules(from, &r, &n);
	if (err || !n)
		goto out;
	ch = calloc(2 * n, sizeof(*ch));
	if (!ch) {
		err = err_kernel(-ENOMEM, "rules");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (r[i].k.ifindex == (__u32)to)
			continue; /* not gone: it stays */
		ch[2 * *moved].r = r[i];
		ch[2 * *moved].kind = CHANGE_DEL;
		ch[2 * *moved + 1].r = r[i];
		ch[2 * *moved + 1].r.k.ifindex = to;
		ch[2 * *moved + 1].kind = CHANGE_ADD;
		(*moved)++;
	}
	if (*moved)
		err = rules_update(ch, 2 * *moved, 0);
	if (err)
		*moved = 0;
out:
	free(ch);
	free(r);
	return err;
}

/*
 * A link appeared or changed: rules follow its name, and a configured
 * link is attached when it appears, not at every change of its flags, so
 * that one detached by hand stays detached until it is made again. With
 * repair (at the start, after SIGHUP or lost events) a configured link
 * is attached if it is not, also one whose filter someone removed.
 */
static void link_new(struct watch *w, const struct nl_link *link, bool repair)
{
	struct known *k = find_name(w, link->name);
	char moved_text[96] = "";
	int old, err, echo;
	size_t moved = 0;
	bool already, appeared;

	if (!k)
		return;
	appeared = k->gone || k->ifindex != link->ifindex;
	old = k->gone ? k->ifindex : 0;
	k->ifindex = link->ifindex;
	k->gone = false;
	if (old) {
		err = move_rules(old, link->ifindex, &moved);
		if (err)
			p_log(LOG_ERR,
			      "%s: back as ifindex %d; rules scoped to ifindex "
			      "%d not moved: %s",
			      link->name, link->ifindex, old, why(err));
		else if (moved)
			snprintf(moved_text, sizeof(moved_text),
				 "; %zu rule%s scoped to it moved from ifindex "
				 "%d",
				 moved, moved == 1 ? "" : "s", old);
	}
	if (!k->configured || !(appeared || repair) ||
	    attached(link->ifindex, repair) || k->failed == link->ifindex) {
		if (moved)
			p_log(LOG_NOTICE, "%s: back as ifindex %d%s",
			      link->name, link->ifindex, moved_text);
		return;
	}
	echo = k->icmp_echo;
	if (echo < 0 && (k->flags & SPLICER_IFACE_ICMP_ECHO))
		echo = 1;
	err = attach_link(link, echo, NULL, &already);
	if (err) {
		k->failed = link->ifindex;
		p_log(LOG_ERR, "%s: cannot attach (ifindex %d): %s", link->name,
		      link->ifindex, why(err));
		return;
	}
	k->failed = 0;
	p_log(LOG_NOTICE, "%s: attached (ifindex %d%s)%s", link->name,
	      link->ifindex, echo == 1 ? ", icmp-echo on" : "", moved_text);
	err_take();
}

/* A link went: its filters went with it; its state goes too. */
static void link_del(struct watch *w, int ifindex, const char *name)
{
	struct iface_cfg cfg = {};
	struct known *k;
	struct state st;
	size_t n_rules = 0;
	char shown[IF_NAMESIZE];
	bool was;

	k = find_index(w, ifindex);
	if (!k && name)
		k = find_name(w, name);
	state_init(&st);
	was = state_exists() && !state_open(&st, true);
	if (was) {
		__u32 key = ifindex;

		was = !bpf_map_lookup_elem(st.ifaces, &key, &cfg);
		if (was)
			forget_vanished(&st, ifindex);
	}
	state_close(&st);
	err_take();
	/* attached by hand: its rules may follow its name too */
	if (!k && was && name)
		k = remember(w, name);
	if (k) {
		k->ifindex = ifindex;
		k->gone = true;
		k->flags = cfg.flags;
	}
	if (!was)
		return;
	snprintf(shown, sizeof(shown), "%s", name ? name : k ? k->name : "");
	if (!shown[0])
		snprintf(shown, sizeof(shown), "if%d", ifindex);
	scoped_rules(ifindex, NULL, &n_rules);
	err_take();
	p_log(LOG_WARNING, "%s: gone (ifindex %d)%s; %s", shown, ifindex,
	      n_rules ? "; rules scoped to it wait for its name" : "",
	      k && k->configured ? "attached again when it comes back" :
				   "not configured: not attached again");
}

static void apply_config(struct watch *w);

static int on_event(const struct nl_event *ev, void *arg)
{
	struct watch *w = arg;
	struct nl_link link = { .ifindex = ev->ifindex, .flags = ev->flags };
	char what[96], a[INET6_ADDRSTRLEN];
	struct known *k;

	switch (ev->type) {
	case NL_ADDR_NEW:
	case NL_ADDR_DEL:
		if (!attached(ev->ifindex, false))
			break;
		inet_ntop(ev->addr.family, ev->addr.addr, a, sizeof(a));
		snprintf(what, sizeof(what), "%s/%u %s", a, ev->addr.prefixlen,
			 ev->type == NL_ADDR_DEL ? "removed" :
			 ev->addr.flags & IFA_F_TENTATIVE ?
						   "added (tentative)" :
			 ev->addr.flags & IFA_F_DEPRECATED ? "deprecated" :
							     "added");
		refresh(w, ev->ifindex, what);
		break;
	case NL_LINK_NEW:
		snprintf(link.name, sizeof(link.name), "%s", ev->name);
		k = find_name(w, ev->name);
		/* A configuration that failed may apply now the link exists. */
		if (w->config_failed && k &&
		    (k->gone || k->ifindex != ev->ifindex))
			apply_config(w);
		link_new(w, &link, false);
		break;
	case NL_LINK_DEL:
		link_del(w, ev->ifindex, ev->name);
		break;
	}
	return 0;
}

/*
 * Looks at everything again, as if every link had just appeared: at the
 * start, after SIGHUP, and when the kernel dropped events.
 */
static void resync(struct watch *w)
{
	struct nl_link link;
	struct state st;
	__u32 *idx = NULL;
	size_t n = 0, i;
	struct nl *nl;
	int err;

	err = nl_open(&nl);
	if (err) {
		p_log(LOG_ERR, "netlink: %s", strerror(-err));
		return;
	}
	if (state_exists() && !state_open(&st, false)) {
		iface_list(&st, &idx, &n);
		state_close(&st);
	}
	for (i = 0; i < n; i++) {
		err = nl_link_by_index(nl, idx[i], &link);
		if (err == -ENODEV) {
			link_del(w, idx[i], NULL);
		} else if (!err) {
			struct known *k = find_name(w, link.name);

			if (k && !k->gone)
				k->ifindex = link.ifindex;
			refresh(w, idx[i], "checked");
		}
	}
	free(idx);
	for (i = 0; i < w->n_known; i++) {
		if (!w->known[i].configured)
			continue;
		err = nl_link_by_name(nl, w->known[i].name, &link);
		if (!err)
			link_new(w, &link, true);
		else if (err == -ENODEV && !w->known[i].gone)
			p_log(LOG_NOTICE, "%s: no such interface yet",
			      w->known[i].name);
	}
	nl_close(nl);
}

/* The interfaces the file's apply attached: one line each. */
static void log_attached(struct watch *w)
{
	size_t i;
	int ifindex;

	for (i = 0; i < w->n_known; i++) {
		struct known *k = &w->known[i];

		ifindex = if_nametoindex(k->name);
		if (!k->configured || k->was_attached || !ifindex ||
		    !attached(ifindex, true))
			continue;
		k->ifindex = ifindex;
		k->gone = false;
		k->failed = 0;
		p_log(LOG_NOTICE, "%s: attached (ifindex %d%s)", k->name,
		      ifindex, k->icmp_echo == 1 ? ", icmp-echo on" : "");
	}
}

/* The configured set becomes the file's (or, for a broken one, its names). */
static void take_set(struct watch *w, const struct config *c)
{
	char names[MAX_KNOWN][16];
	size_t n, i;

	for (i = 0; i < w->n_known; i++) {
		w->known[i].configured = false;
		w->known[i].icmp_echo = -1;
	}
	/* a broken file still names the interfaces to keep closed */
	n = c ? config_names(c, false, names, MAX_KNOWN) : 0;
	for (i = 0; i < n; i++) {
		struct known *k = remember(w, names[i]);

		if (k) {
			k->configured = true;
			k->icmp_echo = 0;
		}
	}
	for (i = 0; c && !c->err && i < c->n_ifaces; i++) {
		struct known *k = find_name(w, c->ifaces[i].name);

		if (k)
			k->icmp_echo = c->ifaces[i].icmp_echo;
	}
	for (i = 0; i < (size_t)w->n_cli; i++) {
		struct known *k = remember(w, w->cli[i]);

		if (k && !k->configured)
			k->configured = true;
	}
	w->have_set = true;
}

/*
 * Applies the configuration file (the same as splicer apply) and takes
 * its interfaces as the configured set. A file that does not apply keeps
 * the policy in force and the set from before; only the first time, with
 * no set yet, are the interfaces it names taken (to keep them closed).
 */
static void apply_config(struct watch *w)
{
	char names[MAX_KNOWN][16];
	struct config c = {};
	bool have_file = false;
	size_t n, i;
	FILE *f = NULL;
	int err = 0;

	for (i = 0; i < w->n_known; i++) {
		struct known *k = &w->known[i];
		int ifindex = if_nametoindex(k->name);

		k->was_attached = ifindex && attached(ifindex, true);
	}
	f = fopen(w->config, "r");
	if (!f && (errno != ENOENT || w->config_given)) {
		err = -errno;
		p_log(LOG_ERR, "%s: %s; the policy in force stays", w->config,
		      strerror(-err));
	} else if (!f) {
		p_log(LOG_NOTICE, "%s: no such file; nothing to apply",
		      w->config);
	}
	if (f) {
		have_file = true;
		config_read(f, &c);
		fclose(f);
		err = config_apply(&c, false);
		if (err && c.err)
			p_log(LOG_ERR,
			      "%s: %s; not applied, the policy in force stays",
			      w->config, why(err));
		else if (err)
			p_log(LOG_ERR, "%s: %s", w->config, why(err));
		else
			p_log(LOG_INFO,
			      "%s: applied (%zu rule%s, %zu interface%s)",
			      w->config, c.n_ch, c.n_ch == 1 ? "" : "s",
			      c.n_ifaces, c.n_ifaces == 1 ? "" : "s");
		err_take();
		/* dev names too: their rules follow them when re-created */
		n = config_names(&c, true, names, MAX_KNOWN);
		for (i = 0; i < n; i++)
			remember(w, names[i]);
	}
	w->config_failed = err != 0;
	if (!w->have_set || !(c.err || (err && !have_file)))
		take_set(w, have_file ? &c : NULL);
	config_free(&c);
	log_attached(w);
}

static void log_watching(struct watch *w)
{
	char list[512] = "";
	size_t i, len = 0;

	for (i = 0; i < w->n_known; i++)
		if (w->known[i].configured && len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - len, "%s%s",
					len ? ", " : "", w->known[i].name);
	p_log(LOG_INFO, "watching %s; configuration %s",
	      len ? list : "attached interfaces", w->config);
}

static int parse_watch(int argc, char **argv, struct watch *w)
{
	const char *env = getenv("SPLICER_CONFIG");
	int i;

	w->config = DEFAULT_CONFIG;
	if (env && *env) {
		w->config = env;
		w->config_given = true;
	}
	w->cli = calloc(argc + 1, sizeof(*w->cli));
	if (!w->cli)
		return err_kernel(-ENOMEM, "watch");
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--config")) {
			if (++i == argc)
				return err_usage("--config: missing FILE");
			w->config = argv[i];
			w->config_given = true;
		} else if (argv[i][0] == '-') {
			return err_usage("%s: unknown option; see 'splicer "
					 "watch help'",
					 argv[i]);
		} else if (!valid_ifname(argv[i])) {
			return err_usage("%.40s: invalid interface name",
					 argv[i]);
		} else {
			w->cli[w->n_cli++] = argv[i];
		}
	}
	if (w->config_given && access(w->config, R_OK))
		return err_usage("%s: %s", w->config, strerror(errno));
	return 0;
}

/* Reads the signal signalfd has; 0 if none. */
static int next_signal(int fd)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return 0;
	return si.ssi_signo;
}

/* Signals arrive as reads, between events, never inside a change. */
static int signal_fd(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	fd = signalfd(-1, &mask, SFD_CLOEXEC);
	return fd < 0 ? err_kernel(-errno, "signalfd") : fd;
}

/* The file again, then every interface: on SIGHUP. */
static void start_over(struct watch *w)
{
	apply_config(w);
	resync(w);
	log_watching(w);
}

/*
 * Handles what poll() found: 1 to go on, 0 on SIGTERM or SIGINT, or the
 * error that ends the watch.
 */
static int handle(struct watch *w, struct pollfd pfd[2], struct nl *events)
{
	int sig, err;

	if (pfd[0].revents & POLLIN) {
		sig = next_signal(pfd[0].fd);
		if (sig == SIGHUP) {
			p_log(LOG_INFO, "SIGHUP: reading %s again", w->config);
			start_over(w);
		} else if (sig) {
			p_log(LOG_INFO,
			      "SIG%s: exiting; filters and rules stay",
			      sigabbrev_np(sig));
			return 0;
		}
	}
	if (!(pfd[1].revents & (POLLIN | POLLERR)))
		return 1;
	err = nl_events_read(events, on_event, w);
	if (err == -ENOBUFS || err == -ENOSPC) {
		p_log(LOG_WARNING, "netlink events lost; looking at every "
				   "interface again");
		resync(w);
	} else if (err && err != -EINTR && err != -EAGAIN) {
		p_log(LOG_ERR, "netlink events: %s", strerror(-err));
		return E_KERNEL;
	}
	return 1;
}

int do_watch(int argc, char **argv)
{
	struct pollfd pfd[2] = { { .fd = -1 }, { .fd = -1 } };
	struct nl *events = NULL;
	struct watch *w;
	int err;

	if (wants_help("watch", argc, argv))
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return err_kernel(-ENOMEM, "watch");
	err = parse_watch(argc, argv, w);
	if (!err)
		err = check_privileges();
	if (!err)
		err = pfd[0].fd = signal_fd();
	if (err < 0)
		goto out;
	/* Subscribed before the first look, so no change falls between. */
	err = nl_open_events(&events);
	if (err) {
		err = err_kernel(err, "netlink events");
		goto out;
	}
	pfd[1].fd = nl_fd(events);
	pfd[0].events = pfd[1].events = POLLIN;

	err_keep_mode();
	apply_config(w);
	resync(w);
	/*
	 * Its start is this watcher's one chance to replace the programs of
	 * another build: later, they are most likely a newer binary's, put
	 * in place while this one ran (systemctl reload runs the new binary's
	 * apply first, then sends us SIGHUP).
	 */
	state_allow_upgrade(false);
	log_watching(w);
	err = 1;
	do {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			p_log(LOG_ERR, "poll: %s", strerror(errno));
			err = E_KERNEL;
			break;
		}
		err = handle(w, pfd, events);
	} while (err == 1);
out:
	if (events)
		nl_close(events);
	if (pfd[0].fd >= 0)
		close(pfd[0].fd);
	free(w->cli);
	free(w);
	return err;
}
