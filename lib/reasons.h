/* SPDX-License-Identifier: GPL-2.0-only */
/* The datapath's reasons, as stats, monitor and prom spell them. */
#ifndef SPLICER_REASONS_H
#define SPLICER_REASONS_H

/* Which of stats' three groups a reason counts in. */
enum reason_group { REASON_PASSED, REASON_REDIRECT, REASON_DROPPED };

/* The reasons' names, as stats -j spells them. */
const char *reason_name(unsigned int reason);
const char *reason_verdict(unsigned int reason); /* pass, redirect, drop */
int reason_by_name(const char *name); /* -1 if none */
enum reason_group reason_group(unsigned int reason);
const char *reason_group_name(enum reason_group g); /* stats -j's keys */

#endif /* SPLICER_REASONS_H */
