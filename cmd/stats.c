/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer stats: per-interface counters by verdict and reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netlink.h"
#include "cmd.h"

enum group { PASSED, REDIRECTED, DROPPED };

static const struct {
	enum group group;
	const char *name;
} reasons[REASON_MAX] = {
	[REASON_PASS_ARP] = { PASSED, "arp" },
	[REASON_PASS_DHCP] = { PASSED, "dhcp" },
	[REASON_PASS_SSH] = { PASSED, "ssh" },
	[REASON_PASS_ESTABLISHED] = { PASSED, "established" },
	[REASON_PASS_RULE] = { PASSED, "rule_pass" },
	[REASON_PASS_LOOPBACK] = { PASSED, "loopback" },
	[REASON_PASS_ICMP] = { PASSED, "icmp" },
	[REASON_REDIRECTED] = { REDIRECTED, "redirected" },
	[REASON_DROP_NO_RULE] = { DROPPED, "no_rule" },
	[REASON_DROP_RULE] = { DROPPED, "rule_drop" },
	[REASON_DROP_NO_LISTENER] = { DROPPED, "no_listener" },
	[REASON_DROP_NOT_IPV4] = { DROPPED, "not_ipv4" },
	[REASON_DROP_MALFORMED] = { DROPPED, "malformed" },
	[REASON_DROP_FRAGMENT] = { DROPPED, "fragment" },
	[REASON_DROP_VLAN] = { DROPPED, "vlan" },
};

static const char *const group_names[] = { "passed", "redirected", "dropped" };

const char *reason_name(unsigned int r)
{
	return r < REASON_MAX ? reasons[r].name : "?";
}

const char *reason_verdict(unsigned int r)
{
	static const char *const verdicts[] = { "pass", "redirect", "drop" };

	return r < REASON_MAX ? verdicts[reasons[r].group] : "?";
}

int reason_by_name(const char *name)
{
	int r;

	for (r = 0; r < REASON_MAX; r++)
		if (!strcmp(name, reasons[r].name))
			return r;
	return -1;
}

struct iface_view {
	__u32 ifindex;
	char name[IF_NAMESIZE];
	struct iface_cfg cfg;
	bool attached;
	struct iface_stats st;
	char addrs[16][INET_ADDRSTRLEN];
	size_t n_addrs;
};

static void load_view(const struct state *st, __u32 ifindex,
		      struct iface_view *v)
{
	struct iface_addr key, next;
	void *prev = NULL;

	memset(v, 0, sizeof(*v));
	v->ifindex = ifindex;
	bpf_map_lookup_elem(st->ifaces, &ifindex, &v->cfg);
	if (!if_indextoname(ifindex, v->name))
		snprintf(v->name, sizeof(v->name), "if%u", ifindex);
	v->attached = !tc_filter_query(ifindex, BPF_TC_INGRESS, NULL);
	percpu_sum(st->iface_stats, &v->cfg.slot, &v->st, sizeof(v->st),
		   sizeof(v->st) / sizeof(__u64));
	while (!bpf_map_get_next_key(st->iface_addrs, prev, &next)) {
		if (next.ifindex == ifindex && v->n_addrs < 16)
			inet_ntop(AF_INET, &next.addr, v->addrs[v->n_addrs++],
				  INET_ADDRSTRLEN);
		key = next;
		prev = &key;
	}
}

/* The monitor's heartbeat and the events the datapath emitted for it. */
struct monitor_view {
	bool present; /* state pinned by an older splicer has no such maps */
	bool listening;
	__u32 pid;
	struct monitor_stats c;
};

static void load_monitor(const struct state *st, struct monitor_view *mv)
{
	int ctl = state_open_map(st, SPLICER_MAP_MONITOR, true);
	int stats = state_open_map(st, SPLICER_MAP_MONITOR_STATS, true);
	struct monitor_ctl c = {};
	struct timespec now;
	__u32 zero = 0;
	__u64 now_ns;

	memset(mv, 0, sizeof(*mv));
	if (ctl >= 0 && stats >= 0 && !bpf_map_lookup_elem(ctl, &zero, &c) &&
	    !percpu_sum(stats, &zero, &mv->c, sizeof(mv->c), 2)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		now_ns = now.tv_sec * 1000000000ULL + now.tv_nsec;
		mv->present = true;
		mv->listening = c.heartbeat_ns &&
				now_ns - c.heartbeat_ns <
					SPLICER_MONITOR_STALE_NS;
		mv->pid = mv->listening ? c.pid : 0;
	}
	if (ctl >= 0)
		close(ctl);
	if (stats >= 0)
		close(stats);
}

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

static void json_view(struct jw *w, const struct iface_view *v)
{
	size_t i;
	int g, r;

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
	for (g = PASSED; g <= DROPPED; g++) {
		if (g == REDIRECTED) {
			json_counter(w, "redirected",
				     &v->st.reason[REASON_REDIRECTED]);
			continue;
		}
		jw_obj_begin(w, group_names[g]);
		for (r = 0; r < REASON_MAX; r++)
			if (reasons[r].group == (enum group)g)
				json_counter(w, reasons[r].name,
					     &v->st.reason[r]);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}

static void plain_view(const struct iface_view *v)
{
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
	for (r = 0; r < REASON_MAX; r++)
		printf("  %-10s %-12s %12llu packets %14llu bytes\n",
		       group_names[reasons[r].group], reasons[r].name,
		       (unsigned long long)v->st.reason[r].packets,
		       (unsigned long long)v->st.reason[r].bytes);
}

int do_stats(int argc, char **argv)
{
	struct iface_view *v = NULL;
	struct monitor_view mv;
	struct jw *w = NULL;
	__u32 key, next;
	void *prev = NULL;
	struct state st;
	int err;

	if (wants_help("stats", argc, argv))
		return 0;
	if (argc)
		return err_usage("%s: unknown argument; usage: splicer stats",
				 argv[0]);
	err = state_open(&st, false);
	if (err)
		goto out;
	v = malloc(sizeof(*v));
	if (!v) {
		err = err_kernel(-ENOMEM, "stats");
		goto out;
	}
	if (opts.json) {
		w = jw_new(stdout, opts.pretty);
		jw_obj_begin(w, NULL);
		jw_u64(w, "schema", 1);
		jw_arr_begin(w, "interfaces");
	}
	while (!bpf_map_get_next_key(st.ifaces, prev, &next)) {
		load_view(&st, next, v);
		if (w)
			json_view(w, v);
		else
			plain_view(v);
		key = next;
		prev = &key;
	}
	load_monitor(&st, &mv);
	if (!w)
		plain_monitor(&mv);
	if (w) {
		jw_arr_end(w);
		json_monitor(w, &mv);
		jw_obj_end(w);
		jw_free(w);
		putchar('\n');
	}
out:
	free(v);
	state_close(&st);
	return err;
}
