/* SPDX-License-Identifier: GPL-2.0-only */
/* The pinned state under the pin root: maps, program, lock, privileges. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "splicer.skel.h"
#include "out.h"
#include "slots.h"
#include "state.h"
#include "store.h"
#include "upgrade.h"
#include "util.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define LOCK_TIMEOUT_MS 10000

struct pinned_map {
	const char *name;
	size_t offset; /* of the fd in struct state */
};

static const struct pinned_map pinned_maps[] = {
	{ SPLICER_MAP_RULE_COUNTERS, offsetof(struct state, rule_counters) },
	{ SPLICER_MAP_IFACES, offsetof(struct state, ifaces) },
	{ SPLICER_MAP_IFACE_ADDRS, offsetof(struct state, iface_addrs) },
	{ SPLICER_MAP_IFACE_STATS, offsetof(struct state, iface_stats) },
	{ SPLICER_MAP_INDEX, offsetof(struct state, rule_index) },
	{ SPLICER_MAP_IFACE_ADDRS6, offsetof(struct state, iface_addrs6) },
	{ SPLICER_MAP_IFACE_STATS6, offsetof(struct state, iface_stats6) },
	{ SPLICER_MAP_IFACE_ARRAY, offsetof(struct state, iface_array) },
};

/* Maps a pin root of an older splicer lacks until attach pins them. */
static bool added_later(const struct pinned_map *m)
{
	return m->offset == offsetof(struct state, rule_counters) ||
	       m->offset == offsetof(struct state, iface_addrs6) ||
	       m->offset == offsetof(struct state, iface_stats6) ||
	       m->offset == offsetof(struct state, iface_array);
}

#define N_PINNED (sizeof(pinned_maps) / sizeof(pinned_maps[0]))

static int *fd_of(struct state *st, const struct pinned_map *m)
{
	return (int *)((char *)st + m->offset);
}

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

/*
 * Asking up front gives one clear message instead of an EPERM from
 * whichever syscall happens to come first. Without CAP_SYS_ADMIN the
 * verifier also wants CAP_PERFMON for the program's pointer arithmetic.
 */
int check_privileges(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return err_kernel(-errno, "capget");
	if ((!(has_cap(d, CAP_BPF) && has_cap(d, CAP_PERFMON)) &&
	     !has_cap(d, CAP_SYS_ADMIN)) ||
	    !has_cap(d, CAP_NET_ADMIN))
		return err_kernel(-EPERM, "%s", opts.pin_root);
	return 0;
}

void state_init(struct state *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->root_fd = -1;
	for (i = 0; i < N_PINNED; i++)
		*fd_of(st, &pinned_maps[i]) = -1;
	snprintf(st->root, sizeof(st->root), "%s", opts.pin_root);
}

static void pin_path(const struct state *st, const char *name, char *buf,
		     size_t size)
{
	snprintf(buf, size, "%s/%s", st->root, name);
}

/*
 * How long a writer waits for the lock: LOCK_TIMEOUT_MS, or
 * $SPLICER_LOCK_TIMEOUT seconds (a decimal number, 0 tries once).
 */
static int lock_timeout_ms(long *ms)
{
	const char *env = getenv("SPLICER_LOCK_TIMEOUT");
	char *end;
	double secs;

	*ms = LOCK_TIMEOUT_MS;
	if (!env || !*env)
		return 0;
	errno = 0;
	secs = strtod(env, &end);
	if (errno || *end || end == env || !(secs >= 0 && secs <= 86400))
		return err_usage("SPLICER_LOCK_TIMEOUT=%s: not a number of "
				 "seconds (0 to 86400)",
				 env);
	*ms = (long)(secs * 1000 + 0.5);
	return 0;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Writers serialise on a flock of the pin root directory: bpffs holds no
 * regular files, but flock works on any inode. The lock goes with the
 * process, so a writer killed with SIGKILL cannot leave it taken.
 */
static int lock_root(struct state *st)
{
	struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };
	long timeout, deadline;
	int err;

	err = lock_timeout_ms(&timeout);
	if (err)
		return err;
	deadline = now_ms() + timeout;
	for (;;) {
		if (!flock(st->root_fd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK)
			return err_kernel(-errno, "%s: lock", st->root);
		if (now_ms() >= deadline)
			break;
		nanosleep(&step, NULL);
	}
	return err_failed("%s: another splicer holds the lock (waited %.10g "
			  "s); nothing was changed",
			  st->root, timeout / 1000.0);
}

bool state_is_v1(const struct state *st)
{
	char path[4200];

	pin_path(st, SPLICER_MAP_INDEX_V1, path, sizeof(path));
	return !access(path, F_OK);
}

static bool is_bpffs(const char *path)
{
	struct statfs s;

	return !statfs(path, &s) && s.f_type == BPF_FS_MAGIC;
}

/* Mounts bpffs where tools expect it, as bpftool and iproute2 do. */
static int ensure_bpffs(const char *root)
{
	char parent[4096], *slash;

	if (!is_bpffs(BPFFS_ROOT)) {
		if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700"))
			return err_kernel(-errno, "mount bpffs on %s",
					  BPFFS_ROOT);
	}
	snprintf(parent, sizeof(parent), "%s", root);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (!is_bpffs(parent))
		return err_usage("%s: pin root must be on a bpffs mount", root);
	return 0;
}

/*
 * Opens the pin root (made first if make, on a bpffs mounted if need
 * be), locked for a writer. Without make, a missing root is "not
 * attached".
 */
static int root_open(struct state *st, bool make, bool lock)
{
	int err;

	state_init(st);
	err = check_privileges();
	if (!err && make)
		err = ensure_bpffs(st->root);
	if (err)
		return err;
	if (make && mkdir(st->root, 0700) && errno != EEXIST)
		return err_kernel(-errno, "%s", st->root);
	st->root_fd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->root_fd < 0) {
		if (!make && (errno == ENOENT || errno == ENOTDIR))
			return err_absent("splicer is not attached (no maps "
					  "under %s)",
					  st->root);
		return err_kernel(-errno, "%s", st->root);
	}
	return lock ? lock_root(st) : 0;
}

int state_refuse_v1(const struct state *st)
{
	return err_failed("%s: made by splicer 0.1.0; 'splicer attach' "
			  "upgrades it in place, keeping its rules",
			  st->root);
}

int state_open(struct state *st, bool write)
{
	char path[4200];
	size_t i;
	int err;

	err = root_open(st, false, write);
	if (err)
		return err;
	for (i = 0; i < N_PINNED; i++) {
		pin_path(st, pinned_maps[i].name, path, sizeof(path));
		*fd_of(st, &pinned_maps[i]) = bpf_obj_get(path);
		if (*fd_of(st, &pinned_maps[i]) >= 0)
			continue;
		err = -errno;
		/* splicer 0.1.0's pin root: readable, until attach upgrades it */
		if (err == -ENOENT &&
		    pinned_maps[i].offset ==
			    offsetof(struct state, rule_index) &&
		    state_is_v1(st))
			continue;
		if (err == -ENOENT && added_later(&pinned_maps[i]))
			continue;
		if (err == -ENOENT)
			return err_absent("splicer is not attached (no maps "
					  "under %s)",
					  st->root);
		return err_kernel(err, "%s", path);
	}
	return 0;
}

bool state_exists(void)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", opts.pin_root,
		 SPLICER_MAP_IFACES);
	return !access(path, F_OK);
}

/*
 * Opens a pinned map the command needs beyond those in struct state.
 * Returns its fd or the error's code; an optional map that is missing is
 * -ENOENT without an error line.
 */
int state_open_map(const struct state *st, const char *name, bool optional)
{
	char path[4200];
	int fd;

	pin_path(st, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT && optional)
		return -ENOENT;
	if (errno == ENOENT)
		return err_absent("%s: no such map; 'splicer attach' creates "
				  "what a newer splicer needs",
				  path);
	return err_kernel(-errno, "%s", path);
}

/* For a writer that goes on reading: others may write again. */
void state_unlock(struct state *st)
{
	flock(st->root_fd, LOCK_UN);
}

void state_close(struct state *st)
{
	size_t i;

	for (i = 0; i < N_PINNED; i++)
		if (*fd_of(st, &pinned_maps[i]) >= 0)
			close(*fd_of(st, &pinned_maps[i]));
	if (st->root_fd >= 0)
		close(st->root_fd); /* drops the lock */
	st->root_fd = -1;
}

/* Whether state_create() may replace another build's programs. */
static bool upgrades = true;

void state_allow_upgrade(bool allow)
{
	upgrades = allow;
}

/*
 * Which build of the BPF object this binary carries: a hash of the object
 * itself (upgrade.c says why this and not the program tag).
 */
static __u64 build_identity(void)
{
	const void *elf;
	size_t size;

	elf = splicer_bpf__elf_bytes(&size);
	return fnv1a(FNV_SEED, elf, size);
}

static int open_pinned_maps(struct state *st)
{
	char path[4200];
	size_t i;

	for (i = 0; i < N_PINNED; i++) {
		pin_path(st, pinned_maps[i].name, path, sizeof(path));
		*fd_of(st, &pinned_maps[i]) = bpf_obj_get(path);
		if (*fd_of(st, &pinned_maps[i]) < 0)
			return err_kernel(-errno, "%s", path);
	}
	return 0;
}

/*
 * libbpf reuses a pinned map of the same name, or creates and pins.
 * Reuse fails on a map whose definition differs: a layout change, which
 * rules_check_layout() refuses before this.
 */
static int pin_maps(const struct state *st, struct splicer_bpf *skel)
{
	struct bpf_map *map;
	char path[4200];
	int err;

	bpf_object__for_each_map(map, skel->obj)
	{
		if (strchr(bpf_map__name(map), '.'))
			continue; /* the inner-map template is not pinned */
		pin_path(st, bpf_map__name(map), path, sizeof(path));
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err_kernel(err, "%s", path);
	}
	return 0;
}

int iface_state_put(const struct state *st, __u32 ifindex,
		    const struct iface_cfg *cfg)
{
	static const struct iface_cfg none;
	bool in_array = ifindex < SPLICER_IFACE_ARRAY && st->iface_array >= 0;

	if (in_array && bpf_map_update_elem(st->iface_array, &ifindex,
					    cfg ?: &none, BPF_ANY))
		return -errno;
	if (cfg)
		return bpf_map_update_elem(st->ifaces, &ifindex, cfg, BPF_ANY) ?
			       -errno :
			       0;
	if (bpf_map_delete_elem(st->ifaces, &ifindex) && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * Writes every attached interface's state again, iface_array included:
 * on a pin root of an older splicer that map is new and empty, and must
 * be filled before a program that reads it goes live.
 */
static int iface_array_fill(const struct state *st)
{
	struct iface_cfg cfg;
	__u32 *keys = NULL;
	size_t n, i;
	int err;

	err = map_keys(st->ifaces, sizeof(*keys), (void **)&keys, &n);
	for (i = 0; i < n && !err; i++)
		if (!bpf_map_lookup_elem(st->ifaces, &keys[i], &cfg))
			err = iface_state_put(st, keys[i], &cfg);
	free(keys);
	return err ? err_kernel(err, "interface state") : 0;
}

/*
 * $SPLICER_MAX_RULES: 0 if unset, else a number of rules from 1 to
 * SPLICER_MAX_RULES; anything else is a usage error.
 */
static int max_rules_env(unsigned long *n)
{
	const char *env = getenv("SPLICER_MAX_RULES");
	char *end;

	*n = 0;
	if (!env || !*env)
		return 0;
	errno = 0;
	*n = strtoul(env, &end, 10);
	if (errno || *end || *env < '0' || *env > '9' || *n < 1 ||
	    *n > SPLICER_MAX_RULES)
		return err_usage("SPLICER_MAX_RULES=%s: not a number of rules "
				 "(1 to %u)",
				 env, SPLICER_MAX_RULES);
	return 0;
}

/*
 * The size of rule_counters: the pinned one's, or for a new one room for
 * want rules ($SPLICER_MAX_RULES, 0 if unset), and for at least the rules
 * a pin root of an older splicer already holds. Preallocated: 16 bytes a
 * slot for every possible CPU, so without the variable it is
 * SPLICER_DEFAULT_RULES, or fewer where that would take more than
 * SPLICER_DEFAULT_COUNTER_MB (past 16 possible CPUs).
 */
static int counters_size(const struct state *st, unsigned long want,
			 __u32 *size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), live;
	unsigned long n = SPLICER_DEFAULT_RULES, fit;
	int fd, ncpu = libbpf_num_possible_cpus();
	char path[4200];

	pin_path(st, SPLICER_MAP_RULE_COUNTERS, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			return err_kernel(-errno, "%s", path);
		}
		close(fd);
		*size = info.max_entries;
		return 0;
	}
	/* two slots a rule, 16 bytes each on every possible CPU */
	fit = ((unsigned long)SPLICER_DEFAULT_COUNTER_MB << 20) /
	      (2 * sizeof(struct counter) * (ncpu > 0 ? ncpu : 1));
	if (fit < n)
		n = fit;
	if (want)
		n = want;
	live = rules_count(st);
	if (n < live)
		n = live < SPLICER_MAX_RULES ? live : SPLICER_MAX_RULES;
	*size = SPLICER_COUNTER_SLOTS(n);
	return 0;
}

static int state_make(struct state *st, int prog_fd[2])
{
	unsigned long want = 0;
	__u32 counters = 0;
	struct bpf_program *progs[2];
	__u64 build = build_identity();
	struct splicer_bpf *skel;
	char path[4200];
	bool current, keep;
	size_t i;
	int err;

	/* before anything is made: a bad value changes nothing */
	err = max_rules_env(&want);
	if (!err)
		err = root_open(st, true, true);
	if (!err)
		err = rules_check_layout(st);
	if (err)
		return err;

	err = counters_size(st, want, &counters);
	if (err)
		return err;
	skel = splicer_bpf__open();
	if (!skel)
		return err_kernel(-errno, "open BPF object");
	err = bpf_map__set_max_entries(skel->maps.rule_counters, counters);
	if (err)
		err = err_kernel(err, "rule counters");
	if (!err)
		err = pin_maps(st, skel);
	if (err) {
		splicer_bpf__destroy(skel);
		return err;
	}
	/*
	 * One pair of programs serves every interface. The pinned pair is
	 * reused when it is this binary's: then only the maps are loaded,
	 * and the verifier does not run. Otherwise (a fresh pin root, or
	 * another build's programs) this binary's are loaded against the
	 * same pinned maps and take their place (upgrade.c).
	 */
	progs[0] = skel->progs.splicer_ingress;
	progs[1] = skel->progs.splicer_egress;
	for (i = 0; i < 2; i++) {
		pin_path(st,
			 i ? SPLICER_PROG_EGRESS_PIN : SPLICER_PROG_INGRESS_PIN,
			 path, sizeof(path));
		prog_fd[i] = bpf_obj_get(path);
	}
	current = upgrade_current(st, build, prog_fd);
	keep = !current && !upgrades && prog_fd[0] >= 0 && prog_fd[1] >= 0;
	if (keep)
		p_notice("%s: the programs pinned are another splicer build's; "
			 "kept until this splicer starts again",
			 st->root);
	for (i = 0; i < 2 && (current || keep); i++)
		bpf_program__set_autoload(progs[i], false);
	err = splicer_bpf__load(skel);
	if (err) {
		err = err_kernel(err, "load BPF program (pin root %s)",
				 st->root);
		goto out;
	}
	err = open_pinned_maps(st);
	/*
	 * The arena holds the rule set before a program that reads it goes
	 * live: on a pin root of 0.1.0, whose programs read "rule_index",
	 * the rule set that index names is published there first.
	 */
	if (!err)
		err = rules_adopt(st);
	if (!err)
		err = iface_array_fill(st);
	/*
	 * From a splicer before counter slots: its per-id counters are
	 * copied to the slots before this build's program counts there, and
	 * its map goes once no program of that build is left to count.
	 */
	if (!err && !current && !keep)
		err = slots_legacy_copy(st);
	if (!err && !current && !keep)
		err = upgrade_replace(st, build, progs, prog_fd);
	if (!err && !keep)
		err = slots_legacy_drop(st);
out:
	splicer_bpf__destroy(skel);
	return err;
}

int state_create(struct state *st, int prog_fd[2])
{
	int own_fd[2] = { -1, -1 };
	int err;

	err = state_make(st, prog_fd ? prog_fd : own_fd);
	if (own_fd[0] >= 0)
		close(own_fd[0]);
	if (own_fd[1] >= 0)
		close(own_fd[1]);
	return err;
}

/*
 * Removes every pin and the pin root itself; the caller holds the lock.
 * Every entry goes, so pins of maps added later cannot keep the root.
 */
int state_purge(struct state *st)
{
	struct dirent *e;
	DIR *d;
	int err = 0;

	d = opendir(st->root);
	if (!d)
		return err_kernel(-errno, "%s", st->root);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) && errno != ENOENT) {
			err = err_kernel(-errno, "%s/%s", st->root, e->d_name);
			break;
		}
	}
	closedir(d);
	if (!err && rmdir(st->root) && errno != ENOENT)
		err = err_kernel(-errno, "%s", st->root);
	return err;
}

/* Sums a per-CPU value made of n_u64 counters into sum. */
int percpu_sum(int map_fd, const void *key, void *sum, size_t value_size,
	       size_t n_u64)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = (value_size + 7) & ~7UL;
	__u64 *out = sum;
	char *buf;
	int cpu, err = 0;
	size_t j;

	if (ncpu < 0)
		return ncpu;
	buf = calloc(ncpu, stride);
	if (!buf)
		return -ENOMEM;
	memset(sum, 0, value_size);
	if (bpf_map_lookup_elem(map_fd, key, buf)) {
		err = -errno;
		goto out;
	}
	for (cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *v = (const __u64 *)(buf + cpu * stride);

		for (j = 0; j < n_u64; j++)
			out[j] += v[j];
	}
out:
	free(buf);
	return err;
}
