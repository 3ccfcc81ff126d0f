/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * An upgrade in place: the programs another splicer build pinned are
 * replaced by this binary's, loaded against the same pinned maps, so the
 * rules, their ids and counters, the interfaces' settings and the
 * datapath's own notes all stay (README "Upgrading").
 *
 * How splicer knows that the pinned programs are not its own, without
 * loading anything: the pin root holds a record, pinned as "build", of
 * the build identity of the BPF object the programs were loaded from (an
 * FNV-1a hash of the object embedded in the binary) and of the two
 * programs' ids. The pinned programs are this binary's when the record
 * names this build and exactly the programs that are pinned. The
 * alternatives cost more or prove less:
 *
 * - The program tag (bpf_prog_info.tag) of the pinned program against
 *   that of a freshly loaded one: every attach, and every attach line of
 *   every apply, would pay for the verifier, which is what reusing the
 *   pin avoids. And a tag covers the instructions only, not read-only
 *   data or the object's map definitions.
 * - The identity kept in the program's own read-only data: reading a
 *   program's maps goes through their ids, which needs CAP_SYS_ADMIN; the
 *   container image runs without it.
 *
 * The ids tie the record to the program objects (an id is not reused
 * while its program lives): a record left by a writer killed after the
 * pins moved, or pins replaced by other hands, vouch for nothing, and
 * the upgrade is done again. The object's bytes include BTF line info
 * naming the source files, so the same source built in another directory
 * is another build: its attach replaces the programs once more, which is
 * harmless.
 *
 * The order makes a kill at any moment safe: every filter is replaced in
 * one atomic step (tc filter replace swaps the program under RCU, never
 * removing the filter), so each interface runs the old program or the
 * new one; the pins are replaced by rename(2), so a pin is never absent;
 * and the record is written last, so until everything is done the next
 * attach, apply or service start sees programs that are not its own and
 * does it all again.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "iface.h"
#include "out.h"
#include "state.h"
#include "upgrade.h"
#include "util.h"

/* Slot 0 of the "build" array map. */
struct build_record {
	__u64 build; /* the identity of the BPF object the programs came from */
	__u32 prog_id[2]; /* ingress, egress: the programs it vouches for */
};

static const char *const prog_pins[2] = { SPLICER_PROG_INGRESS_PIN,
					  SPLICER_PROG_EGRESS_PIN };

static void path_of(const struct state *st, const char *name,
		    const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s%s", st->root, name, suffix);
}

/* The record's map, if it is one of ours; -1 otherwise. */
static int record_open(const struct state *st)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[4200];
	int fd;

	path_of(st, SPLICER_PIN_BUILD, "", path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct build_record) ||
	    info.max_entries != 1) {
		close(fd);
		return -1;
	}
	return fd;
}

bool upgrade_current(const struct state *st, __u64 build, const int pinned[2])
{
	struct build_record rec = {};
	__u32 zero = 0, id;
	int fd, i;

	if (pinned[0] < 0 || pinned[1] < 0)
		return false;
	fd = record_open(st);
	if (fd < 0)
		return false; /* a pin root of splicer 0.1.0 has none */
	i = bpf_map_lookup_elem(fd, &zero, &rec);
	close(fd);
	if (i || rec.build != build)
		return false;
	for (i = 0; i < 2; i++)
		if (prog_id_of(pinned[i], &id) || id != rec.prog_id[i])
			return false;
	return true;
}

/*
 * Pins fd as name-next, then renames that over name: a pin of the name
 * is there at every moment, the old program's until the rename. bpffs
 * renames (simple_rename(), Linux 4.11 and later), replacing the target.
 * A name-next left by a writer killed in between is replaced here.
 */
static int pin_over(const struct state *st, const char *name, int fd)
{
	char path[4200], next[4200];
	int err;

	path_of(st, name, "", path, sizeof(path));
	path_of(st, name, "-next", next, sizeof(next)); /* bpffs: no dots */
	if (unlink(next) && errno != ENOENT)
		return err_kernel(-errno, "%s", next);
	if (bpf_obj_pin(fd, next))
		return err_kernel(-errno, "%s", next);
	if (rename(next, path)) {
		err = -errno;
		unlink(next);
		return err_kernel(err,
				  "%s: cannot replace the pinned program "
				  "(rename on bpffs)",
				  path);
	}
	return 0;
}

/*
 * Every attached interface's filters run the pinned programs: a hook
 * with splicer's filter running another program gets the new one, in
 * one tc filter replace (same handle and priority), egress before
 * ingress as attach does. A hook without splicer's filter is left alone:
 * its interface is gone, or it was detached by other hands, and adding
 * a filter is attach's decision, not an upgrade's.
 */
static int filters_replace(const struct state *st, const int prog_fd[2],
			   const __u32 want[2], size_t *n_ifaces)
{
	static const enum bpf_tc_attach_point points[2] = { BPF_TC_EGRESS,
							    BPF_TC_INGRESS };
	char name[IF_NAMESIZE + 16];
	__u32 *keys, cur;
	size_t n, i, j;
	bool changed;
	int err, first = 0, which;

	*n_ifaces = 0;
	err = map_keys(st->ifaces, sizeof(*keys), (void **)&keys, &n);
	if (err)
		return err_kernel(err, "interface state");
	for (i = 0; i < n; i++) {
		changed = false;
		for (j = 0; j < 2; j++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook,
					    .ifindex = keys[i],
					    .attach_point = points[j]);
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, topts,
					    .handle = SPLICER_TC_HANDLE,
					    .priority = SPLICER_TC_PRIORITY,
					    .flags = BPF_TC_F_REPLACE);

			which = points[j] == BPF_TC_INGRESS ? 0 : 1;
			if (tc_filter_query(keys[i], points[j], &cur) ||
			    cur == want[which])
				continue;
			topts.prog_fd = prog_fd[which];
			err = bpf_tc_attach(&hook, &topts);
			if (err == -ENODEV)
				break; /* gone meanwhile: nothing to filter */
			if (err) {
				if (!if_indextoname(keys[i], name))
					snprintf(name, sizeof(name),
						 "ifindex %u", keys[i]);
				/* the others are still tried */
				err = err_kernel(err,
						 "%s: replace tc %s filter "
						 "with the new program",
						 name,
						 which ? "egress" : "ingress");
				first = first ?: err;
				break;
			}
			changed = true;
		}
		*n_ifaces += changed;
	}
	free(keys);
	return first;
}

static int record_write(const struct state *st, __u64 build, const __u32 ids[2])
{
	struct build_record rec = { .build = build };
	char path[4200];
	__u32 zero = 0;
	int fd, err = 0;

	rec.prog_id[0] = ids[0];
	rec.prog_id[1] = ids[1];
	path_of(st, SPLICER_PIN_BUILD, "", path, sizeof(path));
	fd = record_open(st);
	if (fd < 0) {
		/* missing, or not a record this binary can write: a new one */
		if (unlink(path) && errno != ENOENT)
			return err_kernel(-errno, "%s", path);
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "splicer_build",
				    sizeof(zero), sizeof(rec), 1, NULL);
		if (fd < 0)
			return err_kernel(-errno, "%s", path);
		if (bpf_obj_pin(fd, path))
			err = err_kernel(-errno, "%s", path);
	}
	if (!err && bpf_map_update_elem(fd, &zero, &rec, BPF_ANY))
		err = err_kernel(-errno, "%s", path);
	close(fd);
	return err;
}

int upgrade_replace(const struct state *st, __u64 build,
		    struct bpf_program *const prog[2], int prog_fd[2])
{
	__u32 old[2] = {}, ids[2];
	size_t n_ifaces;
	bool had;
	int i, fd, err;

	had = prog_fd[0] >= 0 || prog_fd[1] >= 0;
	for (i = 0; i < 2; i++) {
		if (prog_fd[i] >= 0)
			prog_id_of(prog_fd[i], &old[i]);
		err = prog_id_of(bpf_program__fd(prog[i]), &ids[i]);
		if (err)
			return err_kernel(err, "program info");
	}
	for (i = 0; i < 2; i++) {
		err = pin_over(st, prog_pins[i], bpf_program__fd(prog[i]));
		if (err)
			return err;
		/* The skeleton's fd goes with it: the caller gets its own. */
		fd = fcntl(bpf_program__fd(prog[i]), F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return err_kernel(-errno, "%s", prog_pins[i]);
		if (prog_fd[i] >= 0)
			close(prog_fd[i]);
		prog_fd[i] = fd;
	}
	err = filters_replace(st, prog_fd, ids, &n_ifaces);
	if (!err)
		err = record_write(st, build, ids);
	if (err || !had)
		return err;
	p_notice("replaced the programs of another splicer build in place "
		 "(ingress %u -> %u, egress %u -> %u); filters replaced on "
		 "%zu interface%s",
		 old[0], ids[0], old[1], ids[1], n_ifaces,
		 n_ifaces == 1 ? "" : "s");
	return 0;
}
