/* SPDX-License-Identifier: GPL-2.0-only */
/* Small utilities every layer uses: hashing, masks, arrays, map keys. */
#ifndef SPLICER_UTIL_H
#define SPLICER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* FNV-1a over n bytes, continuing from h (start with FNV_SEED). */
#define FNV_SEED 1469598103934665603ULL
__u64 fnv1a(__u64 h, const void *p, size_t n);

/* The netmask of an IPv4 prefix of len bits, host order; len 0..32. */
static inline __u32 mask4(unsigned int len)
{
	return len ? ~0U << (32 - len) : 0;
}

/*
 * Addresses as rules keep them (bpf/splicer.h): 16 bytes in network
 * order, an IPv4 address in the first 4 and the rest zero. The prefix
 * functions serve both families: a prefix length counts from the top bit.
 */
#define ADDR_WORDS 4
static inline unsigned int family_bits(int family)
{
	return family == 10 /* AF_INET6 */ ? 128 : 32;
}
/* Clears the bits of a beyond len. */
void prefix_mask(__be32 a[ADDR_WORDS], unsigned int len);
/* Are bits of a beyond len set? */
bool prefix_host_bits(const __be32 a[ADDR_WORDS], unsigned int len);
/* Does the prefix net/len hold addr/addr_len (of the same family)? */
bool prefix_holds(const __be32 net[ADDR_WORDS], unsigned int len,
		  const __be32 addr[ADDR_WORDS], unsigned int addr_len);
/* Compares two addresses as numbers. */
int addr_cmp(const __be32 a[ADDR_WORDS], const __be32 b[ADDR_WORDS]);

/*
 * Makes room for at least want elements of size bytes in *arr, which
 * holds *cap: doubles (from 8) as needed. 0, or -ENOMEM with *arr kept.
 */
int grow(void *arr, size_t *cap, size_t want, size_t size);

/*
 * The keys of a BPF hash map, each key_size bytes, as one malloc()ed
 * array in *keys (NULL when empty): a snapshot to walk while deleting.
 * 0, or a negative errno.
 */
int map_keys(int fd, size_t key_size, void **keys, size_t *n);

/* The id of the program fd names: 0, or a negative errno. */
int prog_id_of(int fd, __u32 *id);

#endif /* SPLICER_UTIL_H */
