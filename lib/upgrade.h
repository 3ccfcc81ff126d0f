/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Programs of another splicer build under the pin root: replaced in place,
 * pins and filters, with the pinned maps kept (README "Upgrading").
 */
#ifndef SPLICER_UPGRADE_H
#define SPLICER_UPGRADE_H

#include <stdbool.h>
#include <linux/types.h>

struct state;
struct bpf_program;

/* The pin that records which build the pinned programs came from. */
#define SPLICER_PIN_BUILD "build"

/*
 * Whether the pinned programs (fds in pinned[]: ingress, egress; -1 when
 * a pin is missing) are those of the build `build`. Loads nothing.
 */
bool upgrade_current(const struct state *st, __u64 build, const int pinned[2]);

/*
 * The loaded programs prog[] (ingress, egress) take the place of the
 * pinned ones: the pins first, then the filters of every attached
 * interface, then the record that makes upgrade_current() true. prog_fd[]
 * holds the pinned programs' fds (or -1) and gets the new programs'. The
 * caller holds the lock and has opened the pinned maps.
 */
int upgrade_replace(const struct state *st, __u64 build,
		    struct bpf_program *const prog[2], int prog_fd[2]);

#endif /* SPLICER_UPGRADE_H */
