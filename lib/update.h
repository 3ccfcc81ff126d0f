/* SPDX-License-Identifier: GPL-2.0-only */
/* Every change to the rule set goes through rules_update(). */
#ifndef SPLICER_UPDATE_H
#define SPLICER_UPDATE_H

#include <stddef.h>

#include "plan.h"

#define UPDATE_REPLACE (1U << 0) /* start from an empty rule set */
#define UPDATE_CHECK (1U << 1) /* validate against the state, change nothing */
int rules_update(const struct rule_change *ch, size_t n, unsigned int flags);

struct state;
/*
 * The rules scoped to ifindex, an interface that is gone, wait: scoped to
 * ifindex | SPLICER_IFINDEX_GONE, which no packet carries, so that a new
 * interface the kernel gives ifindex to inherits none of them. `watch`
 * moves them to the interface of the same name when it comes back. New
 * rules (new ids); st is open for writing.
 */
int rules_park(const struct state *st, __u32 ifindex);

#endif /* SPLICER_UPDATE_H */
