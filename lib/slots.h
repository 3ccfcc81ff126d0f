/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counter slots: every rule's per-CPU counter is an entry of the array
 * rule_counters, at the slot the rule was given with its id.
 */
#ifndef SPLICER_SLOTS_H
#define SPLICER_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct rule;
struct state;

/* slots_give() without reclaim: the free extent is too short. */
#define SLOTS_SHORT 1

/*
 * Gives each rule of r[0..n) without a slot one of its own, its counter
 * zeroed, and writes what is left free into a's anchor, before the
 * caller publishes r. Slots come from the free extent; when it is too
 * short and reclaim is set, a grace period frees every slot no live
 * rule holds. SLOTS_SHORT (no line) when it is too short and !reclaim;
 * an error line when even reclaim finds too few (a full rule table).
 * On a pin root without rule_counters (an older splicer's, not yet
 * upgraded by attach) rules get none: that attach gives them.
 */
int slots_give(const struct state *st, struct arena *a, struct rule *r,
	       size_t n, bool reclaim);

/*
 * At most how many rules the pin root holds: half its slots (a change
 * needs slots for its new rules beside those of the rules they replace).
 */
size_t slots_rules_max(const struct state *st);

/*
 * An upgrade from a splicer before slots: are counters to carry over
 * (the old per-id map is pinned)? Its counters are copied to the live
 * rules' slots before the new program goes live (copy), and the old map
 * unpinned after (slots_legacy_drop()).
 */
bool slots_legacy(const struct state *st);
int slots_legacy_copy(const struct state *st);
int slots_legacy_drop(const struct state *st);

#endif /* SPLICER_SLOTS_H */
