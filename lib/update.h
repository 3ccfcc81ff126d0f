/* SPDX-License-Identifier: GPL-2.0-only */
/* Every change to the rule set goes through rules_update(). */
#ifndef SPLICER_UPDATE_H
#define SPLICER_UPDATE_H

#include <stddef.h>

#include "rule.h"

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

#endif /* SPLICER_UPDATE_H */
