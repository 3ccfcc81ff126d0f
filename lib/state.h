/* SPDX-License-Identifier: GPL-2.0-only */
/* The pinned maps and programs, the writers' lock, privileges. */
#ifndef SPLICER_STATE_H
#define SPLICER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/splicer"
#define BPFFS_ROOT "/sys/fs/bpf"

struct iface_cfg;

/* state.c: the pinned maps, the lock, privileges. */
struct state {
	int root_fd; /* the pin root, flock()ed by writers */
	/* -1 on a pin root from before counter slots (attach adds it) */
	int rule_counters;
	int ifaces;
	int iface_array; /* -1 on a pin root no attach of this build made */
	int iface_addrs;
	int iface_stats;
	/* -1 when reading a pin root from before IPv6 (attach adds them) */
	int iface_addrs6;
	int iface_stats6;
	int rule_index;
	char root[4096];
};
int check_privileges(void);
/* Empty state that state_close() accepts. */
void state_init(struct state *st);
/*
 * Opens the pinned maps. On a pin root of splicer 0.1.0 that attach has
 * not upgraded yet, st->rule_index is -1: it can be read, not written.
 */
int state_open(struct state *st, bool write);
/* A pin root of splicer 0.1.0: its index map, not an arena, is pinned. */
bool state_is_v1(const struct state *st);
/* The error line of a change to such a pin root before attach upgrades it. */
int state_refuse_v1(const struct state *st);
/*
 * Is there state under the pin root? The one answer every command uses:
 * state_make() pins every map at once, and the ifaces map among them.
 */
bool state_exists(void);
/*
 * For attach: creates the pin root and loads/pins what is missing; the
 * programs' fds (ingress, egress) in prog_fd, unless it is NULL.
 */
int state_create(struct state *st, int prog_fd[2]);
/*
 * Records ifindex's state, in ifaces and (below SPLICER_IFACE_ARRAY) in
 * iface_array, which the datapath reads first; NULL forgets it: the
 * array entry zeroed (not attached) before the hash entry goes. 0 or
 * -errno, without an error line.
 */
int iface_state_put(const struct state *st, __u32 ifindex,
		    const struct iface_cfg *cfg);
/*
 * Whether state_create() replaces the programs another splicer build
 * pinned (an upgrade in place, the default) or keeps them. splicer watch
 * stops after its start: a watcher that outlived an upgrade of its binary
 * must not put its own programs back at the next event or SIGHUP.
 */
void state_allow_upgrade(bool allow);
int state_purge(struct state *st);
/* A pinned map by name (SPLICER_MAP_*): its fd, or a negative error. */
int state_open_map(const struct state *st, const char *name, bool optional);
void state_unlock(struct state *st);
void state_close(struct state *st);
int percpu_sum(int map_fd, const void *key, void *sum, size_t value_size,
	       size_t n_u64);

#endif /* SPLICER_STATE_H */
