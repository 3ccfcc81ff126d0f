/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The authoritative rule set and the local routes its rules ask for.
 *
 * The rule set is kept as immutable snapshots: a frozen BPF array pinned
 * under the pin root as "rules-ID", where ID is its map id, which the
 * header block of the index compiled from it names (ix_meta.base_set).
 * The rule set is the snapshot the live index names, so publishing a new
 * index is the one step that changes both what packets see and what
 * every command reads: a writer killed before it leaves the old set,
 * killed after it the new one (README, "Crash safety").
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "arena.h"
#include "out.h"
#include "slots.h"
#include "state.h"
#include "store.h"

#define SNAPSHOT_PIN "rules-" /* + its map id; bpffs refuses dots */
#define LEGACY_PIN "rules" /* the hash map of splicer before snapshots */
/* 0.1.0: its index was a map of its own, swapped in this slot */
#define INDEX_V1_PIN SPLICER_MAP_INDEX_V1
#define SNAPSHOT_MAGIC 0x52504c53U /* "SLPR" */
#define SNAPSHOT_VERSION 2 /* 1: splicer 0.1.0's IPv4-only rules */
/* Attempts to catch a snapshot that a writer replaces as we open it. */
#define VIEW_TRIES 16

/*
 * Slot 0 of a snapshot; the rules follow in slots 1..n_rules. struct
 * rule is a multiple of 8 bytes, the kernel's array stride, so the
 * mmap()ed array is a plain C array of rules.
 */
struct snapshot_head {
	__u32 magic;
	__u32 version;
	__u32 n_rules;
	__u32 flags;
	__u32 n_near; /* with SNAPSHOT_NEAR: rules after the n_rules */
};
/* A delta's record of the base rules near its regions follows it. */
#define SNAPSHOT_NEAR (1U << 0)
/*
 * A base larger than this is read rule by rule by the writers of single
 * changes (struct rule_reader): a lookup takes about 0.5 us, mapping
 * and unmapping 0.2 us a page, and a change reads a few hundred rules.
 */
#define READ_BY_RULE_BYTES (1U << 20)

/*
 * The rule of splicer 0.1.0 (snapshot version 1 and the "rules" map
 * before it), IPv4 only: read, and converted, when a pin root of it is
 * upgraded.
 */
struct rule_key_v1 {
	__be32 dst, src;
	__u32 ifindex;
	__u16 port_lo, port_hi;
	__u8 dst_len, src_len, proto, pad;
};

struct rule_val_v1 {
	__u32 id, flags;
	__be32 to_addr;
	__be16 to_port;
	__u8 action, pad;
	char service[SPLICER_SERVICE_LEN];
};

struct rule_v1 {
	struct rule_key_v1 k;
	struct rule_val_v1 v;
	__u32 pad;
};

_Static_assert(sizeof(struct rule_v1) == 104, "0.1.0's rule");
_Static_assert(sizeof(struct rule) % 8 == 0, "snapshot stride");
_Static_assert(sizeof(struct snapshot_head) <= sizeof(struct rule),
	       "snapshot head");

static size_t snapshot_bytes(size_t slots, size_t stride)
{
	size_t page = sysconf(_SC_PAGESIZE);

	return (slots * stride + page - 1) & ~(page - 1);
}

static void rule_from_v1(struct rule *r, const struct rule_key_v1 *k,
			 const struct rule_val_v1 *v)
{
	memset(r, 0, sizeof(*r));
	r->k.family = AF_INET;
	r->k.dst[0] = k->dst;
	r->k.src[0] = k->src;
	r->k.ifindex = k->ifindex;
	r->k.port_lo = k->port_lo;
	r->k.port_hi = k->port_hi;
	r->k.dst_len = k->dst_len;
	r->k.src_len = k->src_len;
	r->k.proto = k->proto;
	r->v.id = v->id;
	r->v.flags = v->flags;
	r->v.to_addr[0] = v->to_addr;
	r->v.to_port = v->to_port;
	r->v.action = v->action;
	memcpy(r->v.service, v->service, sizeof(r->v.service));
}

/* A version 1 snapshot mapped at set->map, converted into malloc()ed rules. */
static int snapshot_convert_v1(struct rule_set *set, size_t n)
{
	const struct rule_v1 *o = (const struct rule_v1 *)set->map + 1;
	size_t i;

	set->r = calloc(n + 1, sizeof(*set->r));
	if (!set->r)
		return err_kernel(-ENOMEM, "load rules");
	for (i = 0; i < n; i++)
		rule_from_v1(&set->r[i], &o[i].k, &o[i].v);
	set->n = n;
	munmap(set->map, set->bytes);
	set->map = NULL;
	return 0;
}

/*
 * The map ids of the live rule set's snapshots, its base and its delta
 * (0: none); 0 before the first publish.
 */
static int live_sets(const struct state *st, __u32 *base, __u32 *delta)
{
	struct arena a;
	int err;

	*base = *delta = 0;
	err = arena_open(st, false, &a);
	if (!err) {
		*base = a.meta.base_set;
		*delta = a.meta.delta_set;
	}
	arena_close(&a);
	return err;
}

/*
 * The same for a pin root of splicer 0.1.0, whose snapshots are named
 * by the map id of the index in its "rule_index" slot; 0 if none.
 */
static int v1_set_id(const struct state *st, __u32 *id)
{
	char path[4200];
	__u32 zero = 0;
	int fd;

	*id = 0;
	snprintf(path, sizeof(path), "%s/" INDEX_V1_PIN, st->root);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_kernel(-errno, "%s", path);
	if (bpf_map_lookup_elem(fd, &zero, id))
		*id = 0;
	close(fd);
	return 0;
}

/* The snapshots that hold the rule set: the arena's, else 0.1.0's. */
static int set_ids(const struct state *st, __u32 *base, __u32 *delta)
{
	int err = live_sets(st, base, delta);

	if (!err && !*base)
		err = v1_set_id(st, base);
	return err;
}

static int map_id_of(int fd, __u32 *id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return err_kernel(-errno, "rule set info");
	*id = info.id;
	return 0;
}

static void snapshot_path(const struct state *st, __u32 id, char *buf,
			  size_t size)
{
	snprintf(buf, size, "%s/" SNAPSHOT_PIN "%u", st->root, id);
}

/*
 * A snapshot read one rule at a time (BPF_MAP_LOOKUP_ELEM), each rule
 * once, into memory of its own: what it returns stays good until the
 * set is released. A failed read gives a zero rule, and the error is
 * kept for the owner (rules_read_error()).
 */
struct reader_slot {
	size_t i;
	struct rule *r; /* NULL: a free slot */
};

struct rule_reader {
	int fd;
	int err;
	size_t bytes; /* of the whole snapshot */
	const struct rule *map; /* its rules, once reading got dear */
	struct reader_slot *tab; /* rule i's copy, open addressing */
	size_t slots, used;
	struct rule zero;
};

static struct reader_slot *reader_slot(struct reader_slot *tab, size_t slots,
				       size_t i)
{
	size_t h = (i * 0x9e3779b97f4a7c15ULL) >> 32;

	for (h &= slots - 1; tab[h].r && tab[h].i != i;
	     h = (h + 1) & (slots - 1))
		;
	return &tab[h];
}

/* Room for one more rule, the table at most half full. */
static int reader_room(struct rule_reader *rd)
{
	size_t slots = rd->slots ? rd->slots * 2 : 1024, j;
	struct reader_slot *tab;

	if (2 * (rd->used + 1) <= rd->slots)
		return 0;
	tab = calloc(slots, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (j = 0; j < rd->slots; j++)
		if (rd->tab[j].r)
			*reader_slot(tab, slots, rd->tab[j].i) = rd->tab[j];
	free(rd->tab);
	rd->tab = tab;
	rd->slots = slots;
	return 0;
}

/*
 * Maps the whole snapshot once the reads have cost what that would
 * (about 0.5 us a read, 0.2 a page): a change that reads much of a base,
 * a broad prefix's nested rules, then pays at most twice the mapping.
 */
static void reader_map(struct rule_reader *rd)
{
	void *map;

	if (rd->used * 5 < rd->bytes / sysconf(_SC_PAGESIZE) * 2)
		return;
	map = mmap(NULL, rd->bytes, PROT_READ, MAP_SHARED, rd->fd, 0);
	if (map != MAP_FAILED)
		rd->map = (const struct rule *)map + 1;
}

static const struct rule *reader_at(void *ctx, size_t i)
{
	struct rule_reader *rd = ctx;
	struct reader_slot *s;
	__u32 key = i + 1; /* slot 0 is the head */
	struct rule *r = NULL;
	int err;

	if (!rd->map)
		reader_map(rd);
	if (rd->map)
		return &rd->map[i];
	err = reader_room(rd);
	if (!err) {
		s = reader_slot(rd->tab, rd->slots, i);
		if (s->r)
			return s->r;
		r = malloc(sizeof(*r));
		err = !r				   ? -ENOMEM :
		      bpf_map_lookup_elem(rd->fd, &key, r) ? -errno :
							     0;
	}
	if (err) {
		free(r);
		if (!rd->err)
			rd->err = err_kernel(err, "read the rule set");
		return &rd->zero;
	}
	s->i = i;
	s->r = r;
	rd->used++;
	return r;
}

static void reader_free(struct rule_reader *rd)
{
	size_t j;

	if (!rd)
		return;
	if (rd->map)
		munmap((struct rule *)rd->map - 1, rd->bytes);
	for (j = 0; j < rd->slots; j++)
		free(rd->tab[j].r);
	free(rd->tab);
	free(rd);
}

/*
 * Checks the head of a snapshot of this version with info.max_entries
 * slots; the rules are in slots 1..n_rules, a delta's near record after
 * them.
 */
static int snapshot_head_ok(const struct snapshot_head *head,
			    const struct bpf_map_info *info, const char *path)
{
	if (head->magic != SNAPSHOT_MAGIC ||
	    head->version != SNAPSHOT_VERSION ||
	    info->value_size != sizeof(struct rule) ||
	    head->n_rules >= info->max_entries ||
	    ((head->flags & SNAPSHOT_NEAR) &&
	     head->n_near >= info->max_entries - head->n_rules))
		return err_failed("%s: not a splicer rule set of this version",
				  path);
	return 0;
}

/*
 * Sets set up to read a published snapshot rule by rule; fd becomes the
 * set's.
 */
static int snapshot_reader(int fd, const struct bpf_map_info *info,
			   const char *path, struct rule_set *set)
{
	struct snapshot_head head = {};
	struct rule slot0;
	__u32 key = 0;
	int err;

	if (bpf_map_lookup_elem(fd, &key, &slot0))
		return err_kernel(-errno, "%s", path);
	memcpy(&head, &slot0, sizeof(head));
	err = snapshot_head_ok(&head, info, path);
	if (err)
		return err;
	set->reader = calloc(1, sizeof(*set->reader));
	if (!set->reader)
		return err_kernel(-ENOMEM, "read the rule set");
	set->reader->fd = fd;
	set->reader->bytes = set->bytes;
	set->fd = fd;
	set->n = head.n_rules;
	return 0;
}

/*
 * Maps a published snapshot read-only into set; or, with by_rule and
 * when large, sets it up to be read rule by rule, which then keeps fd.
 */
static int snapshot_map(int fd, const char *path, struct rule_set *set,
			bool by_rule)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct snapshot_head *head;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return err_kernel(-errno, "%s", path);
	if (info.type != BPF_MAP_TYPE_ARRAY ||
	    (info.value_size != sizeof(struct rule) &&
	     info.value_size != sizeof(struct rule_v1)) ||
	    !info.max_entries)
		return err_failed("%s: not a splicer rule set", path);
	set->bytes = snapshot_bytes(info.max_entries, info.value_size);
	if (by_rule && info.value_size == sizeof(struct rule) &&
	    set->bytes > READ_BY_RULE_BYTES)
		return snapshot_reader(fd, &info, path, set);
	head = mmap(NULL, set->bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (head == MAP_FAILED)
		return err_kernel(-errno, "%s", path);
	set->map = head;
	if (head->magic == SNAPSHOT_MAGIC && head->version == 1 &&
	    info.value_size == sizeof(struct rule_v1) &&
	    head->n_rules < info.max_entries)
		return snapshot_convert_v1(set, head->n_rules);
	err = snapshot_head_ok(head, &info, path);
	if (err)
		return err;
	set->r = (struct rule *)set->map + 1;
	set->n = head->n_rules;
	if (head->flags & SNAPSHOT_NEAR) {
		set->near = set->r + set->n;
		set->n_near = head->n_near;
	}
	set->near_known = head->flags & SNAPSHOT_NEAR;
	return 0;
}

/*
 * The pin root of an older splicer holds the rule set in a hash map
 * named "rules". It can still be read, so that `save` keeps the rules
 * across the upgrade; writers refuse it (rules_check_layout()).
 */
static int legacy_read(int fd, const char *path, struct rule_set *set)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), got, batch, i;
	struct rule_key_v1 *keys = NULL;
	struct rule_val_v1 *vals = NULL;
	void *in = NULL;
	__u64 pos;
	int err = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return err_kernel(-errno, "%s", path);
	if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(*keys) ||
	    info.value_size != sizeof(*vals))
		return err_failed("%s: not a splicer rule set", path);
	keys = calloc(info.max_entries + 1, sizeof(*keys));
	vals = calloc(info.max_entries + 1, sizeof(*vals));
	if (!keys || !vals) {
		err = err_kernel(-ENOMEM, "load rules");
		goto out;
	}
	for (got = 0; got < info.max_entries; in = &pos) {
		batch = info.max_entries - got;
		err = bpf_map_lookup_batch(fd, in, &pos, keys + got, vals + got,
					   &batch, &bo);
		got += batch;
		if (err && errno == ENOENT) {
			err = 0;
			break;
		}
		if (err) {
			err = err_kernel(-errno, "%s", path);
			goto out;
		}
	}
	set->r = calloc(got + 1, sizeof(*set->r));
	if (!set->r) {
		err = err_kernel(-ENOMEM, "load rules");
		goto out;
	}
	for (i = 0; i < got; i++)
		rule_from_v1(&set->r[i], &keys[i], &vals[i]);
	set->n = got;
out:
	free(keys);
	free(vals);
	return err;
}

static int legacy_open(const struct state *st, char *path, size_t size)
{
	snprintf(path, size, "%s/" LEGACY_PIN, st->root);
	return bpf_obj_get(path);
}

int rules_check_layout(const struct state *st)
{
	char path[4200];
	int fd = legacy_open(st, path, sizeof(path));

	if (fd < 0)
		return 0;
	close(fd);
	return err_failed("%s: made by an older splicer; keep the rules with "
			  "'splicer save > FILE', detach every interface "
			  "(the last with --purge), attach again and "
			  "'splicer apply FILE'",
			  st->root);
}

void rules_release(struct rule_set *set)
{
	if (set->map)
		munmap(set->map, set->bytes);
	else
		free(set->r);
	reader_free(set->reader);
	if (set->fd >= 0)
		close(set->fd);
	memset(set, 0, sizeof(*set));
	set->fd = -1;
}

/*
 * Maps snapshot id (read rule by rule, if large, with by_rule); -ENOENT,
 * without an error line, if it is gone.
 */
static int snapshot_open(const struct state *st, __u32 id, bool by_rule,
			 struct rule_set *set)
{
	char path[4200];
	int fd, err;

	memset(set, 0, sizeof(*set));
	set->fd = -1;
	snapshot_path(st, id, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT :
					 err_kernel(-errno, "%s", path);
	err = snapshot_map(fd, path, set, by_rule);
	if (set->fd != fd)
		close(fd);
	if (err)
		rules_release(set);
	return err;
}

/*
 * Maps the snapshots id and, unless 0, did: a base and its delta (with
 * delta->n 0 when there is none). -ENOENT, without an error line, if
 * one is gone.
 */
static int snapshots_open(const struct state *st, __u32 id, __u32 did,
			  bool by_rule, struct rule_set *base,
			  struct rule_set *delta)
{
	int err;

	memset(delta, 0, sizeof(*delta));
	delta->fd = -1;
	delta->near_known = true; /* no delta: nothing near */
	err = snapshot_open(st, id, by_rule, base);
	if (!err && did) {
		err = snapshot_open(st, did, false, delta);
		if (err)
			rules_release(base);
	}
	return err;
}

/*
 * The base with the delta over it, in one malloc()ed array: a delta
 * entry replaces the base rule of its match, or removes it (id 0).
 */
static int merge(const struct rule_set *b, const struct rule_set *d,
		 struct rule_set *out)
{
	size_t i = 0, j = 0, n = 0;
	int c;

	out->r = malloc((b->n + d->n + 1) * sizeof(*out->r));
	if (!out->r)
		return err_kernel(-ENOMEM, "load rules");
	while (i < b->n || j < d->n) {
		c = i == b->n ? 1 :
		    j == d->n ? -1 :
				rule_match_cmp(&b->r[i].k, &d->r[j].k);
		if (c < 0) {
			out->r[n++] = b->r[i++];
			continue;
		}
		if (d->r[j].v.id)
			out->r[n++] = d->r[j];
		i += !c;
		j++;
	}
	out->n = n;
	return 0;
}

int rules_view(const struct state *st, struct rule_set *set)
{
	struct rule_set base, delta;
	char path[4200];
	__u32 id, did;
	int i, fd, err;

	memset(set, 0, sizeof(*set));
	set->fd = -1;
	/*
	 * A writer may publish a new rule set between our reading the live
	 * index and opening its snapshots, and remove the old ones: then the
	 * live index has moved on, and we look again.
	 */
	for (i = 0; i < VIEW_TRIES; i++) {
		err = set_ids(st, &id, &did);
		if (err || !id)
			return err; /* before the first publish: no rules */
		err = snapshots_open(st, id, did, false, &base, &delta);
		if (err == -ENOENT)
			continue;
		if (err)
			return err;
		if (!did) {
			*set = base;
		} else {
			err = merge(&base, &delta, set);
			rules_release(&base);
			rules_release(&delta);
		}
		set->published = !err;
		return err;
	}
	fd = legacy_open(st, path, sizeof(path));
	if (fd >= 0) {
		err = legacy_read(fd, path, set);
		close(fd);
		return err;
	}
	return err_failed("%s: no rule set recorded for the live rule index "
			  "(the index was published by another program)",
			  st->root);
}

int rules_load(const struct state *st, struct rule **out, size_t *n)
{
	struct rule_set set;
	int err;

	err = rules_view(st, &set);
	if (err)
		return err;
	*out = malloc((set.n + 1) * sizeof(**out));
	if (*out) {
		memcpy(*out, set.r, set.n * sizeof(**out));
		*n = set.n;
	} else {
		err = err_kernel(-ENOMEM, "load rules");
	}
	rules_release(&set);
	return err;
}

/*
 * A new snapshot map of slots slots. Straight through bpf(2): libbpf's
 * bpf_map_create() first probes the kernel's features by loading two
 * programs, once per process, which is a tenth of a single change.
 */
static int snapshot_create(size_t slots)
{
	union bpf_attr attr = {
		.map_type = BPF_MAP_TYPE_ARRAY,
		.key_size = sizeof(__u32),
		.value_size = sizeof(struct rule),
		.max_entries = slots,
		.map_flags = BPF_F_MMAPABLE,
		.map_name = "splicer_rules",
	};

	if (slots > UINT32_MAX) {
		errno = E2BIG;
		return -1;
	}
	return syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}

int rules_stage(struct rule_set *set, size_t cap, bool publish)
{
	void *map;

	memset(set, 0, sizeof(*set));
	set->fd = -1;
	if (!publish) {
		set->r = calloc(cap + 1, sizeof(*set->r));
		return set->r ? 0 : err_kernel(-ENOMEM, "rule table");
	}
	set->fd = snapshot_create(cap + 1);
	if (set->fd < 0)
		return err_kernel(-errno, "create rule set");
	set->bytes = snapshot_bytes(cap + 1, sizeof(struct rule));
	map = mmap(NULL, set->bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		   set->fd, 0);
	if (map == MAP_FAILED) {
		rules_release(set);
		return err_kernel(-errno, "create rule set");
	}
	set->map = map;
	set->r = (struct rule *)map + 1;
	return 0;
}

/*
 * Removes every snapshot but the live base and delta: older sets, and
 * those of writers killed before they published. Only writers call
 * this, under the lock.
 */
static void snapshots_sweep(const struct state *st, __u32 base, __u32 delta)
{
	char keep[2][32];
	struct dirent *e;
	DIR *d;

	snprintf(keep[0], sizeof(keep[0]), SNAPSHOT_PIN "%u", base);
	snprintf(keep[1], sizeof(keep[1]), SNAPSHOT_PIN "%u", delta);
	d = opendir(st->root);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, SNAPSHOT_PIN, strlen(SNAPSHOT_PIN)) &&
		    strcmp(e->d_name, keep[0]) && strcmp(e->d_name, keep[1]))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static __u32 max_id_of(const struct rule *r, size_t n)
{
	__u32 max = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].v.id > max)
			max = r[i].v.id;
	return max;
}

/*
 * Freezes set (sorted by match first, so writers find a match by binary
 * search) and pins it as rules-ID; *path names the pin, *id its map id.
 */
static int snapshot_freeze(const struct state *st, struct rule_set *set,
			   char *path, size_t size, __u32 *id)
{
	struct snapshot_head *head = set->map;
	void *map;
	int err;

	qsort(set->r, set->n, sizeof(*set->r), rule_sort_match);
	*head = (struct snapshot_head){
		.magic = SNAPSHOT_MAGIC,
		.version = SNAPSHOT_VERSION,
		.n_rules = set->n,
		.flags = set->near_known ? SNAPSHOT_NEAR : 0,
		.n_near = set->near_known ? set->n_near : 0,
	};
	/*
	 * Frozen: no one can change a published rule set, only replace it.
	 * The kernel freezes a map only once no writable mapping is left; the
	 * caller keeps a read-only one.
	 */
	munmap(set->map, set->bytes);
	set->map = NULL;
	set->r = NULL;
	if (bpf_map_freeze(set->fd))
		return err_kernel(-errno, "freeze rule set");
	map = mmap(NULL, set->bytes, PROT_READ, MAP_SHARED, set->fd, 0);
	if (map == MAP_FAILED)
		return err_kernel(-errno, "map rule set");
	set->map = map;
	set->r = (struct rule *)map + 1;
	err = map_id_of(set->fd, id);
	if (err)
		return err;
	snapshot_path(st, *id, path, size);
	/* Map ids are not reused while the map lives: a leftover is stale. */
	if (unlink(path) && errno != ENOENT)
		return err_kernel(-errno, "%s", path);
	if (bpf_obj_pin(set->fd, path))
		return err_kernel(-errno, "%s", path);
	return 0;
}

/* Publishes pub (the commit point), then sweeps what it replaced. */
static int publish(const struct state *st, struct arena *a,
		   struct arena_pub *pub, const char *path)
{
	int err = arena_publish(st, a, pub);

	if (err) {
		unlink(path);
		return err;
	}
	snapshots_sweep(st, pub->meta.base_set, pub->meta.delta_set);
	return 0;
}

int rules_commit(const struct state *st, struct rule_set *set)
{
	struct arena_pub pub = {};
	struct arena a;
	char path[4200];
	__u32 id = 0, did;
	int err;

	/*
	 * What a writer killed before its commit left: one at most. Not
	 * before the arena names a rule set: until then the snapshot 0.1.0's
	 * index names is the rule set.
	 */
	err = live_sets(st, &id, &did);
	if (err)
		return err;
	if (id)
		snapshots_sweep(st, id, did);
	err = arena_open(st, true, &a);
	/* new rules' counter slots, recorded with them */
	if (!err)
		err = slots_give(st, &a, set->r, set->n, true);
	if (!err)
		err = snapshot_freeze(st, set, path, sizeof(path), &id);
	if (err) {
		arena_close(&a);
		return err;
	}
	pub.base = set->r;
	pub.n_base = set->n;
	pub.meta.base_set = id;
	pub.meta.rules = set->n;
	pub.meta.max_id = max_id_of(set->r, set->n);
	if (pub.meta.max_id < a.meta.max_id)
		pub.meta.max_id = a.meta.max_id;
	/* The commit point: from here on the new set is the rule set. */
	err = publish(st, &a, &pub, path);
	arena_close(&a);
	return err;
}

int rules_commit_delta(const struct state *st, struct arena *a,
		       struct rule_set *entries, const struct rule *near,
		       size_t n_near, const struct ix_region *reg, size_t n_reg,
		       const struct ix_meta *meta)
{
	struct arena_pub pub = {
		.delta = near,
		.n_delta = n_near,
		.regions = reg,
		.n_regions = n_reg,
		.meta = *meta,
	};
	char path[4200];
	int err;

	snapshots_sweep(st, a->meta.base_set, a->meta.delta_set);
	err = snapshot_freeze(st, entries, path, sizeof(path),
			      &pub.meta.delta_set);
	if (!err)
		err = publish(st, a, &pub, path);
	return err;
}

int rules_live(const struct state *st, const struct arena *a,
	       struct rule_set *base, struct rule_set *delta)
{
	int err = snapshots_open(st, a->meta.base_set, a->meta.delta_set, true,
				 base, delta);

	if (err == -ENOENT)
		err = err_failed("%s: a snapshot of the live rule set is "
				 "missing",
				 st->root);
	return err;
}

struct rule_seq rules_seq(const struct rule_set *set)
{
	if (set->reader)
		return (struct rule_seq){ .at = reader_at,
					  .ctx = set->reader,
					  .n = set->n };
	return (struct rule_seq){ .r = set->r, .n = set->n };
}

int rules_read_error(const struct rule_set *set)
{
	return set->reader ? set->reader->err : 0;
}

/* The live index's meta: all zero before the first publish. */
static struct ix_meta live_meta(const struct state *st)
{
	struct ix_meta m = {};
	struct arena a;

	if (!arena_open(st, false, &a))
		m = a.meta;
	arena_close(&a);
	return m;
}

__u32 rules_count(const struct state *st)
{
	struct state s = *st;
	char path[4200];
	__u32 n;

	snprintf(path, sizeof(path), "%s/%s", st->root, SPLICER_MAP_INDEX);
	s.rule_index = bpf_obj_get(path);
	if (s.rule_index < 0)
		return 0;
	n = live_meta(&s).rules;
	close(s.rule_index);
	return n;
}

__u32 rules_max_id(const struct state *st)
{
	return live_meta(st).max_id;
}

int rules_tidy(const struct state *st, bool *live)
{
	__u32 id, delta;
	char path[4200];
	int err;

	err = live_sets(st, &id, &delta);
	*live = !err && id;
	if (*live) {
		snapshots_sweep(st, id, delta);
		/*
		 * 0.1.0's index, once the arena holds its rules: a program
		 * of 0.1.0 still running holds the map itself, not the pin.
		 */
		snprintf(path, sizeof(path), "%s/" INDEX_V1_PIN, st->root);
		if (unlink(path) && errno != ENOENT)
			return err_kernel(-errno, "%s", path);
	}
	return err;
}

int rules_adopt(const struct state *st)
{
	struct rule *r = NULL;
	bool live;
	size_t n = 0, i;
	int err;

	err = rules_tidy(st, &live);
	if (err || (live && !slots_legacy(st)))
		return err;
	err = rules_load(st, &r, &n);
	/* a splicer before slots: its rules are given them once */
	for (i = 0; live && i < n && r[i].slot; i++)
		;
	if (!err && (!live || (i < n && st->rule_counters >= 0)))
		err = rules_publish(st, r, n);
	if (!err)
		err = rules_tidy(st, &live);
	free(r);
	return err;
}

int rules_publish(const struct state *st, const struct rule *r, size_t n)
{
	struct rule_set set;
	int err;

	err = rules_stage(&set, n, true);
	if (err)
		return err;
	memcpy(set.r, r, n * sizeof(*r));
	set.n = n;
	err = rules_commit(st, &set);
	rules_release(&set);
	return err;
}
