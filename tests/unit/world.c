/* SPDX-License-Identifier: GPL-2.0-only */
/* The test world's rules, and frames built from specs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "world.h"

#define RULE(id_, proto_, dst_, dlen_, lo_, hi_, act_, to_port_)            \
	{                                                                   \
		.k = { .dst = { __builtin_bswap32(dst_) },                  \
		       .family = AF_INET,                                   \
		       .dst_len = dlen_,                                    \
		       .proto = proto_,                                     \
		       .port_lo = lo_,                                      \
		       .port_hi = hi_ },                                    \
		.v = { .id = id_,                                           \
		       .action = act_,                                      \
		       .to_addr = { __builtin_bswap32(IP4(127, 0, 0, 1)) }, \
		       .to_port = __builtin_bswap16(to_port_) },            \
		.slot = WORLD_SLOT(id_),                                    \
	}

/* An IPv6 rule: dst is four host-order words; to_addr is ::1. */
#define RULE6(id_, proto_, w0, w1, w3, dlen_, lo_, hi_, act_, to_port_, ...) \
	{                                                                    \
		.k = { .dst = { BE(w0), BE(w1), 0, BE(w3) },                 \
		       .family = AF_INET6,                                   \
		       .dst_len = dlen_,                                     \
		       .proto = proto_,                                      \
		       .port_lo = lo_,                                       \
		       .port_hi = hi_,                                       \
		       __VA_ARGS__ },                                        \
		.v = { .id = id_,                                            \
		       .action = act_,                                       \
		       .to_addr = { 0, 0, 0, BE(1) },                        \
		       .to_port = __builtin_bswap16(to_port_) },             \
		.slot = WORLD_SLOT(id_),                                     \
	}
#define BE(x) __builtin_bswap32(x)
#define FD00 0xfd000000
#define N172 0xfd000172 /* fd00:172:16:c::/64 is N172, 0x0016000c */

const __u8 host6[16] = HOST6, peer6[16] = PEER6;

enum { TCP = IPPROTO_TCP, UDP = IPPROTO_UDP };
enum { DROP = SPLICER_ACT_DROP, PASS = SPLICER_ACT_PASS };
#define REDIR SPLICER_ACT_REDIRECT

const struct rule world_rules[] = {
	RULE(1, TCP, IP4(172, 16, 0, 0), 16, 80, 80, REDIR, 9999),
	RULE(2, UDP, IP4(172, 16, 0, 0), 16, 53, 53, REDIR, 5353),
	RULE(3, TCP, HOST, 32, 1, 1, PASS, 0),
	RULE(4, TCP, HOST, 32, 65535, 65535, PASS, 0),
	RULE(5, TCP, HOST, 32, 1000, 2000, PASS, 0),
	/* 22 is 0x0016, 5632 is 0x1600: byte order must not confuse them */
	RULE(6, TCP, IP4(172, 16, 1, 0), 24, 22, 22, PASS, 0),
	RULE(7, UDP, 0, 0, 1, 65535, DROP, 0),
	RULE(8, UDP, HOST, 32, 9000, 9000, PASS, 0),
	RULE(9, TCP, 0, 0, 443, 443, PASS, 0),
	RULE(10, TCP, IP4(172, 16, 5, 5), 32, 443, 443, DROP, 0),
	RULE(11, UDP, HOST, 32, 7777, 7777, PASS, 0),
	RULE(12, UDP, HOST, 32, 7777, 7777, DROP, 0),
	RULE(13, UDP, HOST, 32, 8000, 8100, PASS, 0),
	/* IPv6: none of the IPv4 rules above applies to an IPv6 packet */
	RULE6(20, TCP, N172, 0x00160000, 0, 48, 80, 80, REDIR, 9999),
	RULE6(21, UDP, N172, 0x00160000, 0, 48, 53, 53, REDIR, 5353),
	RULE6(22, TCP, FD00, 0, 1, 128, 1, 1, PASS, 0),
	RULE6(23, TCP, N172, 0x00160005, 0, 64, 443, 443, PASS, 0),
	RULE6(24, TCP, N172, 0x00160005, 5, 128, 443, 443, DROP, 0),
	RULE6(25, UDP, 0, 0, 0, 0, 7000, 7100, DROP, 0),
	RULE6(26, UDP, FD00, 0, 1, 128, 9000, 9000, PASS, 0),
	/* a source prefix beats none; PEER6 may, the rest may not */
	RULE6(27, TCP, N172, 0x00160001, 0, 64, 22, 22, PASS, 0,
	      .src = { BE(FD00), 0, 0, BE(2) }, .src_len = 128),
	RULE6(28, TCP, N172, 0x00160001, 0, 64, 22, 22, DROP, 0),
	/* scoped to one interface */
	RULE6(29, TCP, N172, 0x00160001, 0, 64, 23, 23, PASS, 0,
	      .ifindex = IF_ECHO),
};
const size_t world_n_rules = sizeof(world_rules) / sizeof(world_rules[0]);

static void put16(unsigned char *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(unsigned char *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* IP header (with NOP options up to ihl) and L4 header; returns length. */
static size_t build_ip(const struct spec *s, unsigned char *p, bool quoted)
{
	size_t ihl = (s->ihl ? s->ihl : 5) * 4, l4, tot;

	l4 = s->proto == IPPROTO_TCP ? (s->doff ? s->doff : 5) * 4u :
	     s->proto == IPPROTO_UDP || s->proto == IPPROTO_ICMP ? 8 :
								   0;
	memset(p, 0, ihl);
	memset(p + 20, 1 /* NOP */, ihl > 20 ? ihl - 20 : 0);
	p[0] = (s->version ? s->version : 4) << 4 | (ihl / 4 & 0xf);
	put16(p + 4, s->ip_id);
	put16(p + 6, s->frag);
	p[8] = 64;
	p[9] = s->proto;
	put32(p + 12, s->saddr);
	put32(p + 16, s->daddr);
	p += ihl;
	memset(p, 0, l4 + s->payload);
	if (s->proto == IPPROTO_TCP) {
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put32(p + 4, 1000);
		p[12] = (s->doff ? s->doff : 5) << 4;
		p[13] = s->tcp_flags == TH_NONE ? 0 :
			s->tcp_flags		? s->tcp_flags :
						  TH_SYN;
	} else if (s->proto == IPPROTO_UDP) {
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put16(p + 4, 8 + s->payload);
	} else if (s->proto == IPPROTO_ICMP) {
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		put16(p + 4, s->icmp_id);
		/* An error quotes the IP header and 8 bytes of a packet. */
		if (s->quote && !quoted)
			l4 += build_ip(s->quote, p + 8, true);
	}
	tot = ihl + l4 + s->payload;
	if (quoted)
		tot = ihl + 8 + s->payload;
	put16(p - ihl + 2, tot + s->tot_len_delta);
	return quoted ? ihl + 8 : tot;
}

/*
 * The IPv6 header, extension headers and L4 header; returns the length.
 * A quoted packet (in an ICMPv6 error) is cut 8 bytes into its L4 header.
 */
static size_t build_ip6(const struct spec *s, unsigned char *p, bool quoted)
{
	unsigned char *h = p + 40;
	size_t l4, i, n = s->n_ext < 8 ? s->n_ext : 8, plen;

	memset(p, 0, 40);
	p[0] = (s->version ? s->version : 6) << 4;
	p[6] = n ? s->ext[0] : s->proto;
	p[7] = s->hlim ? s->hlim : 64;
	memcpy(p + 8, s->s6, 16);
	memcpy(p + 24, s->d6, 16);
	for (i = 0; i < n; i++, h += 8) {
		memset(h, 0, 8);
		h[0] = i + 1 < n ? s->ext[i + 1] : s->proto;
		if (s->ext[i] == 43) { /* routing */
			h[2] = s->rt_type;
			h[3] = s->rt_left;
		} else if (s->ext[i] == 44) { /* fragment */
			put16(h + 2, s->frag);
			put32(h + 4, s->ip_id);
		} else if (s->ext[i] == 0 || s->ext[i] == 60) {
			h[2] = 1; /* a PadN option of 4 bytes */
			h[3] = 4;
		}
	}
	l4 = s->proto == IPPROTO_TCP ? (s->doff ? s->doff : 5) * 4u :
	     s->proto == IPPROTO_UDP || s->proto == 58 ? 8 :
							 0;
	memset(h, 0, l4 + s->payload);
	if (s->proto == IPPROTO_TCP) {
		put16(h, s->sport);
		put16(h + 2, s->dport);
		put32(h + 4, 1000);
		h[12] = (s->doff ? s->doff : 5) << 4;
		h[13] = s->tcp_flags == TH_NONE ? 0 :
			s->tcp_flags		? s->tcp_flags :
						  TH_SYN;
	} else if (s->proto == IPPROTO_UDP) {
		put16(h, s->sport);
		put16(h + 2, s->dport);
		put16(h + 4, 8 + s->payload);
	} else if (s->proto == 58) {
		h[0] = s->icmp_type;
		h[1] = s->icmp_code;
		put16(h + 4, s->icmp_id);
		if (s->quote && !quoted)
			l4 += s->quote->v6 ? build_ip6(s->quote, h + 8, true) :
					     build_ip(s->quote, h + 8, true);
	}
	plen = 8 * n + (quoted ? 8 : l4 + s->payload);
	put16(p + 4, plen + s->tot_len_delta);
	return 40 + plen;
}

void build_frame(const struct spec *s, struct frame *f)
{
	unsigned char *p = f->data;
	size_t len = 12;

	memset(f->data, 0, sizeof(f->data));
	memcpy(p, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (s->qinq) {
		put16(p + len, 0x8100);
		put16(p + len + 2, 100);
		len += 4;
	}
	put16(p + len, s->eth_type ? s->eth_type : s->v6 ? 0x86dd : 0x0800);
	len += 2;
	if (s->v6 && (!s->eth_type || s->eth_type == 0x86dd))
		len += build_ip6(s, p + len, false);
	else if (!s->eth_type || s->eth_type == 0x0800)
		len += build_ip(s, p + len, false);
	else
		len += 40; /* room for an ARP or IPv6 header */
	f->len = s->truncate > 0 && (size_t)s->truncate < len ?
			 (size_t)s->truncate :
			 len;
}
