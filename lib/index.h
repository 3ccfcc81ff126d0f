/* SPDX-License-Identifier: GPL-2.0-only */
/* The index compiler: a rule set as the tries the datapath walks. */
#ifndef SPLICER_INDEX_H
#define SPLICER_INDEX_H

#include <stddef.h>

#include "rule.h"

struct state;

int index_build(const struct rule *r, size_t n, int *trie_fd);
int index_swap(const struct state *st, int trie_fd);

#endif /* SPLICER_INDEX_H */
