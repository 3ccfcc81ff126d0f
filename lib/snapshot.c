/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every counter at one moment: the interfaces' by reason, the rules',
 * the monitor's; what stats prints and prom writes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "iface.h"
#include "out.h"
#include "snapshot.h"
#include "state.h"
#include "store.h"

bool reason_of_family(unsigned int reason, int family)
{
	if (reason == REASON_DROP_NOT_IP || reason == REASON_DROP_VLAN)
		return false;
	return family == AF_INET6 ? reason < REASON_MAX :
				    reason < REASON_MAX_IPV4;
}

static void load_view(const struct state *st, __u32 ifindex,
		      struct iface_view *v)
{
	unsigned int r;

	memset(v, 0, sizeof(*v));
	v->ifindex = ifindex;
	bpf_map_lookup_elem(st->ifaces, &ifindex, &v->cfg);
	if (!if_indextoname(ifindex, v->name))
		snprintf(v->name, sizeof(v->name), "if%u", ifindex);
	v->attached = !tc_filter_query(ifindex, BPF_TC_INGRESS, NULL);
	percpu_sum(st->iface_stats, &v->cfg.slot, &v->st, sizeof(v->st),
		   sizeof(v->st) / sizeof(__u64));
	if (st->iface_stats6 >= 0)
		percpu_sum(st->iface_stats6, &v->cfg.slot, &v->st6,
			   sizeof(v->st6), sizeof(v->st6) / sizeof(__u64));
	v->total = v->st6;
	for (r = 0; r < REASON_MAX_IPV4; r++) {
		v->total.reason[r].packets += v->st.reason[r].packets;
		v->total.reason[r].bytes += v->st.reason[r].bytes;
	}
	v->n_addrs = iface_addr_texts(st, ifindex, v->addrs,
				      sizeof(v->addrs) / sizeof(v->addrs[0]));
}

static __u64 now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void load_monitor(const struct state *st, struct monitor_view *mv)
{
	int ctl = state_open_map(st, SPLICER_MAP_MONITOR, true);
	int stats = state_open_map(st, SPLICER_MAP_MONITOR_STATS, true);
	struct monitor_ctl c = {};
	__u32 zero = 0;

	memset(mv, 0, sizeof(*mv));
	if (ctl >= 0 && stats >= 0 && !bpf_map_lookup_elem(ctl, &zero, &c) &&
	    !percpu_sum(stats, &zero, &mv->c, sizeof(mv->c), 2)) {
		mv->present = true;
		mv->listening = c.heartbeat_ns &&
				now_ns(CLOCK_MONOTONIC) - c.heartbeat_ns <
					SPLICER_MONITOR_STALE_NS;
		mv->pid = mv->listening ? c.pid : 0;
	}
	if (ctl >= 0)
		close(ctl);
	if (stats >= 0)
		close(stats);
}

static int cmp_ifindex(const void *a, const void *b)
{
	const struct iface_view *x = a, *y = b;

	return x->ifindex < y->ifindex ? -1 : x->ifindex > y->ifindex;
}

static int cmp_rule_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->v.id < y->v.id ? -1 : x->v.id > y->v.id;
}

void snapshot_free(struct snapshot *s)
{
	free(s->ifs);
	free(s->rules);
	free(s->rule_c);
	memset(s, 0, sizeof(*s));
}

/*
 * Every counter at one moment, interfaces in ifindex order; the rules
 * (through rules_load(), in id order) only when asked for.
 */
int snapshot_take(struct snapshot *s, bool with_rules)
{
	struct state st;
	__u32 *idx = NULL;
	size_t n, i;
	int err;

	memset(s, 0, sizeof(*s));
	err = state_open(&st, false);
	if (err)
		goto out;
	err = iface_list(&st, &idx, &n);
	if (!err && n && !(s->ifs = calloc(n, sizeof(*s->ifs))))
		err = -ENOMEM;
	if (err) {
		err = err_kernel(err, "stats");
		goto out;
	}
	for (i = 0; i < n; i++)
		load_view(&st, idx[i], &s->ifs[s->n_ifs++]);
	qsort(s->ifs, s->n_ifs, sizeof(*s->ifs), cmp_ifindex);
	if (with_rules) {
		err = rules_load(&st, &s->rules, &s->n_rules);
		if (err)
			goto out;
		qsort(s->rules, s->n_rules, sizeof(*s->rules), cmp_rule_id);
		s->rule_c = calloc(s->n_rules + 1, sizeof(*s->rule_c));
		if (!s->rule_c) {
			err = err_kernel(-ENOMEM, "stats");
			goto out;
		}
		for (i = 0; i < s->n_rules; i++)
			rule_counter(&st, &s->rules[i], &s->rule_c[i]);
	}
	load_monitor(&st, &s->mon);
	s->mono_ns = now_ns(CLOCK_MONOTONIC);
	s->wall = time(NULL);
out:
	free(idx);
	state_close(&st);
	if (err)
		snapshot_free(s);
	return err;
}

const struct iface_view *snapshot_iface(const struct snapshot *prev,
					__u32 ifindex)
{
	struct iface_view key = { .ifindex = ifindex };

	if (!prev || !prev->n_ifs)
		return NULL;
	return bsearch(&key, prev->ifs, prev->n_ifs, sizeof(key), cmp_ifindex);
}

const struct counter *snapshot_rule(const struct snapshot *prev, __u32 id)
{
	struct rule key = { .v.id = id };
	const struct rule *r;

	if (!prev || !prev->n_rules)
		return NULL;
	r = bsearch(&key, prev->rules, prev->n_rules, sizeof(key), cmp_rule_id);
	return r ? &prev->rule_c[r - prev->rules] : NULL;
}
