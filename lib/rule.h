/* SPDX-License-Identifier: GPL-2.0-only */
/* A rule, and a rule in words: list, save, monitor and prom show it so. */
#ifndef SPLICER_RULE_H
#define SPLICER_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "splicer.h"

struct jw;
struct state;

struct rule {
	struct rule_key k;
	struct rule_val v;
	__u32 pad; /* to a multiple of 8 bytes: the rule set's array stride */
	/*
	 * Its counter's index in rule_counters, given once with the id and
	 * kept with it (lib/slots.c); 0 in a set written before slots.
	 */
	__u32 slot;
};
/* The rule's counter, summed over the CPUs; zeros if it has none. */
void rule_counter(const struct state *st, const struct rule *r,
		  struct counter *c);
/*
 * The order of rule snapshots: family, protocol, destination (address,
 * then length), source, interface, ports; every prefix's rules are together,
 * and so are the rules of every address range of a protocol.
 */
int rule_match_cmp(const struct rule_key *a, const struct rule_key *b);
/* The same over two struct rule, for qsort() and bsearch(). */
int rule_sort_match(const void *a, const void *b);

/*
 * Rules sorted by match (rule_match_cmp): in memory (r), or read one at
 * a time (at, with r NULL), so that a change reads the few rules of a
 * large base it needs rather than mapping all of them. at never returns
 * NULL: a reader that fails keeps the error for its owner to find.
 */
struct rule_seq {
	const struct rule *r;
	const struct rule *(*at)(void *ctx, size_t i);
	void *ctx;
	size_t n;
};

static inline const struct rule *seq_at(const struct rule_seq *s, size_t i)
{
	return s->r ? &s->r[i] : s->at(s->ctx, i);
}

/* Which rules list_rules() prints; NULL prints every rule. */
struct rule_filter {
	bool by_dst;
	__be32 dst[4];
	__u8 dst_len;
	__u8 family;
	__u8 proto; /* 0: any */
	unsigned int actions; /* bit (1 << SPLICER_ACT_*); 0: any */
};
int list_rules(const struct rule_filter *f);
/*
 * The rules under the pin root that f lets through (NULL: all), in id
 * order, malloc()ed; st is open for reading after, also on failure.
 */
int rules_sorted(struct state *st, const struct rule_filter *f,
		 struct rule **out, size_t *n);
/* One rule in the grammar of add, as save writes it. */
#define RULE_SAVE_LEN 320
void rule_save_line(const struct rule *r, char *buf, size_t size);
/* One rule as list shows it, without counters: list -j's fields. */
void rule_json(struct jw *w, const char *name, const struct rule *r);
/*
 * Its match and action in words, e.g. "tcp 10.1.0.0/16 from 10.2.0.0/16
 * port 80-88 dev eth1" and "redirect 127.0.0.1:9999".
 */
/* Room for two IPv6 prefixes, a port range and an interface. */
#define RULE_MATCH_LEN 160
/* "redirect [ADDR6]:PORT" */
#define RULE_ACTION_LEN 64
void rule_words(const struct rule *r, char *match, size_t msize, char *action,
		size_t asize);

#endif /* SPLICER_RULE_H */
