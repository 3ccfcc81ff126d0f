/* SPDX-License-Identifier: GPL-2.0-only */
/* Small utilities every layer uses: hashing, masks, arrays, map keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "util.h"

__u64 fnv1a(__u64 h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

int grow(void *arr, size_t *cap, size_t want, size_t size)
{
	void **a = arr, *bigger;
	size_t c = *cap ? *cap : 8;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	bigger = reallocarray(*a, c, size);
	if (!bigger)
		return -ENOMEM;
	*a = bigger;
	*cap = c;
	return 0;
}

int map_keys(int fd, size_t key_size, void **keys, size_t *n)
{
	char *k = NULL;
	size_t cap = 0;
	int err;

	*n = 0;
	for (;;) {
		/* grow() may move k: the previous key is found by position. */
		err = grow(&k, &cap, *n + 1, key_size);
		if (err)
			break;
		if (bpf_map_get_next_key(fd,
					 *n ? k + (*n - 1) * key_size : NULL,
					 k + *n * key_size)) {
			err = errno == ENOENT ? 0 : -errno;
			break;
		}
		(*n)++;
	}
	if (err || !*n) {
		free(k);
		k = NULL;
		*n = 0;
	}
	*keys = k;
	return err;
}

int prog_id_of(int fd, __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

static __u32 word_mask(unsigned int len, unsigned int word)
{
	unsigned int at = 32 * word;

	return len <= at ? 0 : len >= at + 32 ? ~0U : mask4(len - at);
}

void prefix_mask(__be32 a[ADDR_WORDS], unsigned int len)
{
	unsigned int w;

	for (w = 0; w < ADDR_WORDS; w++)
		a[w] &= htonl(word_mask(len, w));
}

bool prefix_host_bits(const __be32 a[ADDR_WORDS], unsigned int len)
{
	unsigned int w;

	for (w = 0; w < ADDR_WORDS; w++)
		if (a[w] & ~htonl(word_mask(len, w)))
			return true;
	return false;
}

bool prefix_holds(const __be32 net[ADDR_WORDS], unsigned int len,
		  const __be32 addr[ADDR_WORDS], unsigned int addr_len)
{
	unsigned int w;

	if (addr_len < len)
		return false;
	for (w = 0; w < ADDR_WORDS; w++)
		if ((net[w] ^ addr[w]) & htonl(word_mask(len, w)))
			return false;
	return true;
}

int addr_cmp(const __be32 a[ADDR_WORDS], const __be32 b[ADDR_WORDS])
{
	unsigned int w;

	for (w = 0; w < ADDR_WORDS; w++)
		if (a[w] != b[w])
			return ntohl(a[w]) < ntohl(b[w]) ? -1 : 1;
	return 0;
}
