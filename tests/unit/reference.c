/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The reference classifier: splicer's documented policy (README, "What
 * the datapath does" and "Security model") restated in plain C over raw
 * frame bytes, for the world of world.h. It shares no code with the BPF
 * program; where the two disagree, one of them is wrong.
 */
#include <netinet/in.h>
#include <string.h>

#include "util.h"
#include "world.h"

static __u16 get16(const unsigned char *p)
{
	return p[0] << 8 | p[1];
}

static __u32 get32(const unsigned char *p)
{
	return (__u32)get16(p) << 16 | get16(p + 2);
}

/* First fragments that passed: key -> reason, like the program's map. */
#define REF_FRAGS 1024
static struct {
	__u32 saddr, daddr;
	__u16 id;
	__u8 proto;
	bool used;
	int reason;
} frags[REF_FRAGS];

void ref_reset(void)
{
	memset(frags, 0, sizeof(frags));
}

static int *frag_slot(__u32 s, __u32 d, __u16 id, __u8 proto, bool add)
{
	size_t i;

	for (i = 0; i < REF_FRAGS; i++)
		if (frags[i].used && frags[i].saddr == s &&
		    frags[i].daddr == d && frags[i].id == id &&
		    frags[i].proto == proto)
			return &frags[i].reason;
	for (i = 0; add && i < REF_FRAGS; i++) {
		if (frags[i].used)
			continue;
		frags[i].used = true;
		frags[i].saddr = s;
		frags[i].daddr = d;
		frags[i].id = id;
		frags[i].proto = proto;
		return &frags[i].reason;
	}
	return NULL;
}

/* The sockets the harness opened (world.h), as a lookup would see them. */
static bool host_socket(__u8 proto, __u32 s, __u16 sp, __u32 d, __u16 dp)
{
	if (proto == IPPROTO_TCP)
		return (s == PEER && sp == CLIENT_PORT && d == HOST &&
			dp == LISTEN_PORT) ||
		       (s == HOST && sp == LISTEN_PORT && d == PEER &&
			dp == CLIENT_PORT);
	return s == PEER && sp == UDP_PEER_PORT && d == HOST &&
	       dp == UDP_CONN_PORT;
}

static bool own_address(__u32 ifindex, __u32 addr)
{
	return (ifindex == IF_A || ifindex == IF_ECHO) && addr == HOST;
}

static const struct rule *best_rule(__u8 proto, __u32 s, __u32 d, __u16 dp,
				    __u32 ifindex)
{
	const struct rule *best = NULL;
	size_t i;

	for (i = 0; i < world_n_rules; i++) {
		const struct rule *r = &world_rules[i];
		__u32 rd = __builtin_bswap32(r->k.dst[0]);
		__u32 rs = __builtin_bswap32(r->k.src[0]);
		__u32 w = r->k.port_hi - r->k.port_lo;

		if (r->k.proto != proto || (rd ^ d) & mask4(r->k.dst_len) ||
		    (rs ^ s) & mask4(r->k.src_len) || dp < r->k.port_lo ||
		    dp > r->k.port_hi ||
		    (r->k.ifindex && r->k.ifindex != ifindex))
			continue;
		if (best &&
		    (r->k.dst_len < best->k.dst_len ||
		     (r->k.dst_len == best->k.dst_len &&
		      (r->k.src_len < best->k.src_len ||
		       (r->k.src_len == best->k.src_len &&
			(w > (__u32)(best->k.port_hi - best->k.port_lo) ||
			 (w == (__u32)(best->k.port_hi - best->k.port_lo) &&
			  (r->k.port_lo > best->k.port_lo ||
			   (r->k.port_lo == best->k.port_lo &&
			    !(r->k.ifindex && !best->k.ifindex))))))))))
			continue;
		best = r;
	}
	return best;
}

#define R(reason_) ((struct ref_result){ .reason = (reason_) })

/* ICMP: replies to our echoes, errors about our packets, pings if asked. */
static struct ref_result icmp(const unsigned char *l4, size_t l4_len,
			      __u32 saddr, __u32 daddr, __u32 ifindex)
{
	const unsigned char *q = l4 + 8;
	size_t qihl;

	switch (l4[0]) {
	case 0: /* echo reply */
		return R(saddr == PEER && get16(l4 + 4) == ECHO_ID ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	case 8: /* pings to this interface's own addresses only */
		return R(ifindex == IF_ECHO && own_address(ifindex, daddr) ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	case 3:
	case 11:
		break;
	default:
		return R(REASON_DROP_NO_RULE);
	}
	if (l4_len < 8 + 20 + 8)
		return R(REASON_DROP_MALFORMED);
	qihl = (q[0] & 0xf) * 4;
	if (q[0] >> 4 != 4 || qihl < 20 || l4_len < 8 + qihl + 8)
		return R(REASON_DROP_MALFORMED);
	if (get16(q + 6) & 0x1fff)
		return R(REASON_DROP_NO_RULE);
	if (q[9] == IPPROTO_ICMP)
		return R(q[qihl] == 8 && get32(q + 16) == PEER &&
					 get16(q + qihl + 4) == ECHO_ID ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	if (q[9] != IPPROTO_TCP && q[9] != IPPROTO_UDP)
		return R(REASON_DROP_NO_RULE);
	/* The quoted packet left this host: a reply to it would be ours. */
	return R(host_socket(q[9], get32(q + 16), get16(q + qihl + 2),
			     get32(q + 12), get16(q + qihl)) ?
			 REASON_PASS_ICMP :
			 REASON_DROP_NO_RULE);
}

static struct ref_result transport(__u8 proto, const unsigned char *l4,
				   __u32 saddr, __u32 daddr, bool first_frag,
				   __u32 ifindex)
{
	bool lo = ifindex == IF_LO;
	__u16 sport = get16(l4), dport = get16(l4 + 2);
	const struct rule *r;
	struct ref_result res = {};

	if (!lo && proto == IPPROTO_UDP && sport == 67 && dport == 68)
		return R(REASON_PASS_DHCP);
	if (!lo && proto == IPPROTO_TCP && dport == 22 &&
	    own_address(ifindex, daddr))
		return R(REASON_PASS_SSH);
	if (host_socket(proto, saddr, sport, daddr, dport))
		return R(REASON_PASS_ESTABLISHED);
	r = best_rule(proto, saddr, daddr, dport, ifindex);
	if (!r)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_NO_RULE);
	if (lo && r->v.action != SPLICER_ACT_REDIRECT)
		return R(REASON_PASS_LOOPBACK);
	res.rule = r->v.id;
	if (r->v.action == SPLICER_ACT_PASS)
		res.reason = REASON_PASS_RULE;
	else if (r->v.action == SPLICER_ACT_DROP)
		res.reason = REASON_DROP_RULE;
	else if (first_frag)
		res.reason = REASON_DROP_FRAGMENT;
	else /* nothing listens on the redirect targets in this world */
		res.reason = REASON_DROP_NO_LISTENER;
	return res;
}

static bool passes(int reason)
{
	return reason <= REASON_REDIRECTED;
}

struct ref_result ref_classify(const unsigned char *p, size_t len,
			       __u32 ifindex)
{
	bool lo = ifindex == IF_LO;
	struct ref_result res;
	__u16 type, frag, tot;
	size_t ihl, need, l4_len;
	__u32 saddr, daddr;
	__u8 proto;
	int *slot;

	if (len < 14)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_MALFORMED);
	type = get16(p + 12);
	if (type == 0x0806)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_PASS_ARP);
	if (type == 0x8100 || type == 0x88a8)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_VLAN);
	if (type != 0x0800)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_NOT_IP);
	p += 14;
	len -= 14;
	if (len < 20 || p[0] >> 4 != 4 || (p[0] & 0xf) < 5)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_MALFORMED);
	ihl = (p[0] & 0xf) * 4;
	tot = get16(p + 2);
	if (tot < ihl || tot > len)
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_MALFORMED);
	frag = get16(p + 6);
	proto = p[9];
	saddr = get32(p + 12);
	daddr = get32(p + 16);
	if (frag & 0x1fff) {
		if ((frag & 0x1fff) < 3)
			return R(lo ? REASON_PASS_LOOPBACK :
				      REASON_DROP_MALFORMED);
		if (lo)
			return R(REASON_PASS_LOOPBACK);
		slot = frag_slot(saddr, daddr, get16(p + 4), proto, false);
		return R(slot ? *slot : REASON_DROP_FRAGMENT);
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
	    (lo || proto != IPPROTO_ICMP))
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_NO_RULE);

	l4_len = tot - ihl;
	need = proto == IPPROTO_TCP ? 20 : 8;
	if (l4_len < need ||
	    (proto == IPPROTO_TCP && ((p[ihl + 12] >> 4) < 5 ||
				      (size_t)(p[ihl + 12] >> 4) * 4 > l4_len)))
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_MALFORMED);
	if (proto == IPPROTO_ICMP)
		res = icmp(p + ihl, l4_len, saddr, daddr, ifindex);
	else
		res = transport(proto, p + ihl, saddr, daddr, frag & 0x2000,
				ifindex);
	if ((frag & 0x2000) && passes(res.reason)) {
		slot = frag_slot(saddr, daddr, get16(p + 4), proto, true);
		if (slot)
			*slot = res.reason;
	}
	return res;
}
