/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A rule in words: the rows of list, the lines of save, the fields of
 * list -j that monitor and prom share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "out.h"
#include "parse.h"
#include "rule.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define N_COLS 10

static const char *action_name(__u8 action)
{
	switch (action) {
	case SPLICER_ACT_PASS:
		return "pass";
	case SPLICER_ACT_REDIRECT:
		return "redirect";
	default:
		return "drop";
	}
}

/* An IPv6 prefix or [address]:port, and its terminating zero. */
#define PREFIX_LEN (INET6_ADDRSTRLEN + 8)

/* One rule's fields, formatted once for either output. */
struct row {
	char id[12], dst[PREFIX_LEN], src[PREFIX_LEN], ports[12];
	char dev[IF_NAMESIZE + 8], to[PREFIX_LEN], service[SPLICER_SERVICE_LEN];
	const char *proto, *action;
	bool has_dev, route;
	struct counter c;
};

#define CMP(x, y)                                  \
	do {                                       \
		if ((x) != (y))                    \
			return (x) < (y) ? -1 : 1; \
	} while (0)

int rule_match_cmp(const struct rule_key *a, const struct rule_key *b)
{
	int c;

	CMP(a->family, b->family);
	CMP(a->proto, b->proto);
	if ((c = addr_cmp(a->dst, b->dst)))
		return c;
	CMP(a->dst_len, b->dst_len);
	if ((c = addr_cmp(a->src, b->src)))
		return c;
	CMP(a->src_len, b->src_len);
	CMP(a->ifindex, b->ifindex);
	CMP(a->port_lo, b->port_lo);
	CMP(a->port_hi, b->port_hi);
	return 0;
}
#undef CMP

int rule_sort_match(const void *a, const void *b)
{
	return rule_match_cmp(&((const struct rule *)a)->k,
			      &((const struct rule *)b)->k);
}

/*
 * The name of a rule's interface, or "ifN" (false) for one that is gone:
 * the rule waits, whether or not the kernel has given N to another link.
 */
static bool dev_name(__u32 ifindex, char dev[IF_NAMESIZE])
{
	if (!(ifindex & SPLICER_IFINDEX_GONE) && if_indextoname(ifindex, dev))
		return true;
	snprintf(dev, IF_NAMESIZE, "if%u", ifindex & ~SPLICER_IFINDEX_GONE);
	return false;
}

void rule_counter(const struct state *st, const struct rule *r,
		  struct counter *c)
{
	memset(c, 0, sizeof(*c));
	/* no slot: a rule of a splicer before slots, until attach */
	if (r->slot && st->rule_counters >= 0)
		percpu_sum(st->rule_counters, &r->slot, c, sizeof(*c), 2);
}

static void fill_row(const struct state *st, const struct rule *r,
		     struct row *row)
{
	memset(row, 0, sizeof(*row));
	snprintf(row->id, sizeof(row->id), "%u", r->v.id);
	fmt_prefix(r->k.family, r->k.dst, r->k.dst_len, row->dst,
		   sizeof(row->dst));
	fmt_prefix(r->k.family, r->k.src, r->k.src_len, row->src,
		   sizeof(row->src));
	if (r->k.port_lo == r->k.port_hi)
		snprintf(row->ports, sizeof(row->ports), "%u", r->k.port_lo);
	else
		snprintf(row->ports, sizeof(row->ports), "%u-%u", r->k.port_lo,
			 r->k.port_hi);
	row->has_dev = r->k.ifindex != 0;
	if (row->has_dev)
		dev_name(r->k.ifindex, row->dev);
	if (r->v.action == SPLICER_ACT_REDIRECT)
		fmt_addr_port(r->k.family, r->v.to_addr, r->v.to_port, row->to,
			      sizeof(row->to));
	row->proto = proto_name(r->k.proto);
	row->action = action_name(r->v.action);
	row->route = r->v.flags & SPLICER_RULE_ROUTE;
	snprintf(row->service, sizeof(row->service), "%.*s",
		 SPLICER_SERVICE_LEN - 1, r->v.service);
	if (st)
		rule_counter(st, r, &row->c);
	else
		memset(&row->c, 0, sizeof(row->c));
}

static void json_fields(struct jw *w, const struct row *row,
			const struct rule *r)
{
	jw_u64(w, "id", r->v.id);
	jw_str(w, "family", r->k.family == AF_INET6 ? "ipv6" : "ipv4");
	jw_str(w, "proto", row->proto);
	jw_str(w, "dst", row->dst);
	jw_str(w, "src", row->src);
	jw_u64(w, "port_low", r->k.port_lo);
	jw_u64(w, "port_high", r->k.port_hi);
	jw_str(w, "dev", row->has_dev ? row->dev : NULL);
	jw_str(w, "action", row->action);
	jw_str(w, "to", r->v.action == SPLICER_ACT_REDIRECT ? row->to : NULL);
	jw_bool(w, "route", row->route);
	jw_str(w, "service", *row->service ? row->service : NULL);
}

static void json_row(struct jw *w, const struct row *row, const struct rule *r)
{
	jw_obj_begin(w, NULL);
	json_fields(w, row, r);
	jw_u64(w, "packets", row->c.packets);
	jw_u64(w, "bytes", row->c.bytes);
	jw_obj_end(w);
}

void rule_json(struct jw *w, const char *name, const struct rule *r)
{
	struct row row;

	fill_row(NULL, r, &row);
	jw_obj_begin(w, name);
	json_fields(w, &row, r);
	jw_obj_end(w);
}

void rule_words(const struct rule *r, char *match, size_t msize, char *action,
		size_t asize)
{
	struct row row;

	fill_row(NULL, r, &row);
	snprintf(match, msize, "%s %s%s%s port %s%s%s", row.proto, row.dst,
		 r->k.src_len ? " from " : "", r->k.src_len ? row.src : "",
		 row.ports, row.has_dev ? " dev " : "",
		 row.has_dev ? row.dev : "");
	snprintf(action, asize, "%s%s%s", row.action, *row.to ? " " : "",
		 row.to);
}

/*
 * One rule in the grammar of add. A rule for an interface that is gone
 * cannot be restored by name: it is written as a comment that says so.
 */
void rule_save_line(const struct rule *r, char *buf, size_t size)
{
	char dst[PREFIX_LEN], src[PREFIX_LEN], to[PREFIX_LEN], dev[IF_NAMESIZE];
	size_t len = 0;
	bool gone = false;

#define PUT(...)                                                             \
	do {                                                                 \
		if (len < size)                                              \
			len += snprintf(buf + len, size - len, __VA_ARGS__); \
	} while (0)
	fmt_prefix(r->k.family, r->k.dst, r->k.dst_len, dst, sizeof(dst));
	if (r->k.ifindex)
		gone = !dev_name(r->k.ifindex, dev);
	PUT("%sadd %s proto %s port %u", gone ? "# " : "", dst,
	    proto_name(r->k.proto), r->k.port_lo);
	if (r->k.port_hi != r->k.port_lo)
		PUT("-%u", r->k.port_hi);
	if (r->v.action == SPLICER_ACT_REDIRECT) {
		__be32 lo[ADDR_WORDS];

		loopback_of(r->k.family, lo);
		if (!memcmp(r->v.to_addr, lo, sizeof(lo)))
			snprintf(to, sizeof(to), "%u", ntohs(r->v.to_port));
		else
			fmt_addr_port(r->k.family, r->v.to_addr, r->v.to_port,
				      to, sizeof(to));
		PUT(" redirect %s", to);
	} else {
		PUT(" %s", action_name(r->v.action));
	}
	if (r->k.src_len)
		PUT(" from %s", fmt_prefix(r->k.family, r->k.src, r->k.src_len,
					   src, sizeof(src)));
	if (r->k.ifindex)
		PUT(" dev %s", dev);
	if (r->v.flags & SPLICER_RULE_ROUTE)
		PUT(" route");
	if (*r->v.service)
		PUT(" service %.*s", SPLICER_SERVICE_LEN - 1, r->v.service);
	if (gone)
		PUT("  # interface %u is gone",
		    r->k.ifindex & ~SPLICER_IFINDEX_GONE);
#undef PUT
}

static void cells_of(const struct row *row, const char *cell[N_COLS],
		     char *action, size_t size, char *pk, char *by)
{
	snprintf(action, size, "%s%s%s%s", row->action, *row->to ? " " : "",
		 row->to, row->route ? " route" : "");
	sprintf(pk, "%llu", (unsigned long long)row->c.packets);
	sprintf(by, "%llu", (unsigned long long)row->c.bytes);
	cell[0] = row->id;
	cell[1] = row->proto;
	cell[2] = row->dst;
	cell[3] = row->src;
	cell[4] = row->ports;
	cell[5] = row->has_dev ? row->dev : "-";
	cell[6] = action;
	cell[7] = pk;
	cell[8] = by;
	cell[9] = *row->service ? row->service : "-";
}

static bool wanted(const struct rule *r, const struct rule_filter *f)
{
	if (!f)
		return true;
	if (f->by_dst && (r->k.family != f->family ||
			  memcmp(r->k.dst, f->dst, sizeof(f->dst)) ||
			  r->k.dst_len != f->dst_len))
		return false;
	if (f->proto && r->k.proto != f->proto)
		return false;
	if (f->actions && !(f->actions & (1U << r->v.action)))
		return false;
	return true;
}

static int cmp_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->v.id < y->v.id ? -1 : x->v.id > y->v.id;
}

/* The rules under the pin root that f lets through, in id order. */
int rules_sorted(struct state *st, const struct rule_filter *f,
		 struct rule **out, size_t *n_out)
{
	size_t n = 0, i, k;
	int err;

	state_init(st);
	err = state_open(st, false);
	if (!err)
		err = rules_load(st, out, &n);
	if (err)
		return err;
	for (i = 0, k = 0; i < n; i++)
		if (wanted(&(*out)[i], f))
			(*out)[k++] = (*out)[i];
	qsort(*out, k, sizeof(**out), cmp_id);
	*n_out = k;
	return 0;
}

int list_rules(const struct rule_filter *f)
{
	static const char *head[N_COLS] = { "ID",     "PROTO",	 "DESTINATION",
					    "SOURCE", "PORTS",	 "DEV",
					    "ACTION", "PACKETS", "BYTES",
					    "SERVICE" };
	int width[N_COLS];
	struct rule *r = NULL;
	struct row *rows = NULL;
	struct state st;
	size_t n = 0, i;
	int err, c;

	err = rules_sorted(&st, f, &r, &n);
	if (err)
		goto out;
	rows = calloc(n + 1, sizeof(*rows));
	if (!rows) {
		err = err_kernel(-ENOMEM, "list");
		goto out;
	}
	for (i = 0; i < n; i++)
		fill_row(&st, &r[i], &rows[i]);

	if (opts.json) {
		struct jw *w = jw_new(stdout, opts.pretty);

		jw_obj_begin(w, NULL);
		jw_u64(w, "schema", 1);
		jw_arr_begin(w, "rules");
		for (i = 0; i < n; i++)
			json_row(w, &rows[i], &r[i]);
		jw_arr_end(w);
		jw_obj_end(w);
		jw_free(w);
		putchar('\n');
		goto out;
	}
	/* Two passes over the same cells: widths, then the aligned table. */
	for (c = 0; c < N_COLS; c++)
		width[c] = strlen(head[c]);
	for (i = 0; i < n; i++) {
		char action[80], pk[24], by[24];
		const char *cell[N_COLS];

		cells_of(&rows[i], cell, action, sizeof(action), pk, by);
		for (c = 0; c < N_COLS; c++)
			if ((int)strlen(cell[c]) > width[c])
				width[c] = strlen(cell[c]);
	}
	for (c = 0; c < N_COLS; c++)
		printf("%-*s%s", c == N_COLS - 1 ? 0 : width[c], head[c],
		       c == N_COLS - 1 ? "\n" : "  ");
	for (i = 0; i < n; i++) {
		char action[80], pk[24], by[24];
		const char *cell[N_COLS];

		cells_of(&rows[i], cell, action, sizeof(action), pk, by);
		for (c = 0; c < N_COLS; c++)
			printf("%-*s%s", c == N_COLS - 1 ? 0 : width[c],
			       cell[c], c == N_COLS - 1 ? "\n" : "  ");
	}
out:
	free(rows);
	free(r);
	state_close(&st);
	return err;
}
