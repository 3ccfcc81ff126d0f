/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A pin root of the unit test's own under /sys/fs/bpf, for what the
 * library pins beside the skeleton's maps (the index arena): made at the
 * start, removed with everything in it at exit.
 */
#ifndef SPLICER_TEST_PINROOT_H
#define SPLICER_TEST_PINROOT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "state.h"

static char test_pin_root[64];

static void test_pin_root_remove(void)
{
	struct dirent *e;
	DIR *d = opendir(test_pin_root);

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(test_pin_root);
}

/*
 * Gives ifindex cfg as attach does: in ifaces, and in iface_array below
 * its size.
 */
static inline void test_iface_set(int ifaces_fd, int array_fd, __u32 ifindex,
				  const struct iface_cfg *cfg)
{
	bpf_map_update_elem(ifaces_fd, &ifindex, cfg, BPF_ANY);
	if (ifindex < SPLICER_IFACE_ARRAY)
		bpf_map_update_elem(array_fd, &ifindex, cfg, BPF_ANY);
}

/* Points st at a fresh pin root; exits 2 if it cannot be made. */
static inline void test_pin_root_make(struct state *st)
{
	snprintf(test_pin_root, sizeof(test_pin_root),
		 BPFFS_ROOT "/splicer-unit-%d", (int)getpid());
	if (mkdir(test_pin_root, 0700)) {
		perror(test_pin_root);
		exit(2);
	}
	atexit(test_pin_root_remove);
	snprintf(st->root, sizeof(st->root), "%s", test_pin_root);
}

#endif /* SPLICER_TEST_PINROOT_H */
