/* SPDX-License-Identifier: GPL-2.0-only */
/* Every change to the rule set goes through rules_update(). */
#ifndef SPLICER_UPDATE_H
#define SPLICER_UPDATE_H

#include <stddef.h>

#include "plan.h"

#define UPDATE_REPLACE (1U << 0) /* start from an empty rule set */
#define UPDATE_CHECK (1U << 1) /* validate against the state, change nothing */
int rules_update(const struct rule_change *ch, size_t n, unsigned int flags);

#endif /* SPLICER_UPDATE_H */
