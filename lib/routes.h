/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer's local routes, made to follow the rules that ask for one. */
#ifndef SPLICER_ROUTES_H
#define SPLICER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "rule.h"

#define RTPROT_SPLICER 158 /* rtm_protocol marking routes splicer owns */

/*
 * splicer's local routes (protocol 158), made to follow the route rules
 * that routes_want() was given: routes_add() adds the routes they ask for
 * and the kernel lacks, routes_remove() removes splicer's routes they do
 * not ask for.
 */
struct routes;
int routes_open(struct routes **out);
int routes_want(struct routes *rt, const struct rule *r, size_t n);
int routes_add(struct routes *rt);
int routes_remove(struct routes *rt);
void routes_close(struct routes *rt);
/*
 * One of splicer's local routes, without a dump: added (an equal local
 * route serves as well) or removed (one that is not there is fine);
 * family AF_INET or AF_INET6, dst 16 bytes as rules keep it.
 */
int route_local(bool add, __u8 family, const __be32 dst[4], __u8 len);
/* The same in one call. */
int routes_sync(const struct rule *r, size_t n, bool add, bool remove);

#endif /* SPLICER_ROUTES_H */
