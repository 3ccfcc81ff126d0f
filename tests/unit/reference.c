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

		if (r->k.family != AF_INET || r->k.proto != proto ||
		    (rd ^ d) & mask4(r->k.dst_len) ||
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

/* The winning rule's verdict (r NULL: none) for a TCP or UDP packet. */
static struct ref_result rule_result(const struct rule *r, bool lo,
				     bool first_frag)
{
	struct ref_result res = {};

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

static struct ref_result transport(__u8 proto, const unsigned char *l4,
				   __u32 saddr, __u32 daddr, bool first_frag,
				   __u32 ifindex)
{
	bool lo = ifindex == IF_LO;
	__u16 sport = get16(l4), dport = get16(l4 + 2);

	if (!lo && proto == IPPROTO_UDP && sport == 67 && dport == 68)
		return R(REASON_PASS_DHCP);
	if (!lo && proto == IPPROTO_TCP && dport == 22 &&
	    own_address(ifindex, daddr))
		return R(REASON_PASS_SSH);
	if (host_socket(proto, saddr, sport, daddr, dport))
		return R(REASON_PASS_ESTABLISHED);
	return rule_result(best_rule(proto, saddr, daddr, dport, ifindex), lo,
			   first_frag);
}

static bool passes(int reason)
{
	return reason <= REASON_REDIRECTED || reason == REASON_PASS_ND;
}

/* ---------------------------------------------------------------- IPv6 */

static struct {
	__u8 saddr[16], daddr[16];
	__u32 id;
	__u8 proto;
	bool used;
	int reason;
} frags6[REF_FRAGS];

void ref_reset(void)
{
	memset(frags, 0, sizeof(frags));
	memset(frags6, 0, sizeof(frags6));
}

static int *frag6_slot(const __u8 *s, const __u8 *d, __u32 id, __u8 proto,
		       bool add)
{
	size_t i;

	for (i = 0; i < REF_FRAGS; i++)
		if (frags6[i].used && !memcmp(frags6[i].saddr, s, 16) &&
		    !memcmp(frags6[i].daddr, d, 16) && frags6[i].id == id &&
		    frags6[i].proto == proto)
			return &frags6[i].reason;
	for (i = 0; add && i < REF_FRAGS; i++) {
		if (frags6[i].used)
			continue;
		frags6[i].used = true;
		memcpy(frags6[i].saddr, s, 16);
		memcpy(frags6[i].daddr, d, 16);
		frags6[i].id = id;
		frags6[i].proto = proto;
		return &frags6[i].reason;
	}
	return NULL;
}

static bool is6(const __u8 *a, const __u8 *b)
{
	return !memcmp(a, b, 16);
}

static bool host_socket6(__u8 proto, const __u8 *s, __u16 sp, const __u8 *d,
			 __u16 dp)
{
	if (proto == IPPROTO_TCP)
		return (is6(s, peer6) && sp == CLIENT_PORT && is6(d, host6) &&
			dp == LISTEN_PORT) ||
		       (is6(s, host6) && sp == LISTEN_PORT && is6(d, peer6) &&
			dp == CLIENT_PORT);
	return is6(s, peer6) && sp == UDP_PEER_PORT && is6(d, host6) &&
	       dp == UDP_CONN_PORT;
}

static bool own_address6(__u32 ifindex, const __u8 *addr)
{
	return (ifindex == IF_A || ifindex == IF_ECHO) && is6(addr, host6);
}

static bool link_local(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* An extension header of RFC 8200 or IANA's list. */
static bool ext_header(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 ||
	       nh == 60 || nh == 135 || nh == 139 || nh == 140 || nh == 253 ||
	       nh == 254;
}

/* The rule precedence of best_rule, over 128-bit prefixes. */
static const struct rule *best_rule6(__u8 proto, const __u8 *s, const __u8 *d,
				     __u16 dp, __u32 ifindex)
{
	const struct rule *best = NULL;
	__be32 sw[4], dw[4];
	size_t i;

	memcpy(sw, s, 16);
	memcpy(dw, d, 16);
	for (i = 0; i < world_n_rules; i++) {
		const struct rule *r = &world_rules[i];
		__u32 w = r->k.port_hi - r->k.port_lo,
		      bw = best ? (__u32)(best->k.port_hi - best->k.port_lo) :
				  0;

		if (r->k.family != AF_INET6 || r->k.proto != proto ||
		    !prefix_holds(r->k.dst, r->k.dst_len, dw, 128) ||
		    !prefix_holds(r->k.src, r->k.src_len, sw, 128) ||
		    dp < r->k.port_lo || dp > r->k.port_hi ||
		    (r->k.ifindex && r->k.ifindex != ifindex))
			continue;
		if (best && (r->k.dst_len < best->k.dst_len ||
			     (r->k.dst_len == best->k.dst_len &&
			      (r->k.src_len < best->k.src_len ||
			       (r->k.src_len == best->k.src_len &&
				(w > bw ||
				 (w == bw &&
				  (r->k.port_lo > best->k.port_lo ||
				   (r->k.port_lo == best->k.port_lo &&
				    !(r->k.ifindex && !best->k.ifindex))))))))))
			continue;
		best = r;
	}
	return best;
}

/* ICMPv6 (RFC 4443, RFC 4861, MLD): what README says passes. */
static struct ref_result icmp6(const unsigned char *ip, const unsigned char *l4,
			       size_t l4_len, __u32 ifindex)
{
	const unsigned char *q = l4 + 8, *qp;
	const __u8 *saddr = ip + 8, *daddr = ip + 24;
	size_t need = 8 + 40 + 6;
	__u8 hlim = ip[7], code = l4[1], nh;

	switch (l4[0]) {
	case 129: /* echo reply */
		return R(is6(saddr, peer6) && get16(l4 + 4) == ECHO_ID ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	case 128:
		return R(ifindex == IF_ECHO && own_address6(ifindex, daddr) ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	case 134: /* router advertisement */
		return R(hlim == 255 && code == 0 && l4_len >= 16 &&
					 link_local(saddr) ?
				 REASON_PASS_ND :
				 REASON_DROP_MALFORMED);
	case 135:
	case 136: /* neighbour solicitation, advertisement */
		return R(hlim == 255 && code == 0 && l4_len >= 24 ?
				 REASON_PASS_ND :
				 REASON_DROP_MALFORMED);
	case 130: /* MLD query */
		return R(hlim == 1 && link_local(saddr) ? REASON_PASS_ND :
							  REASON_DROP_NO_RULE);
	case 1:
	case 2:
	case 3:
	case 4:
		break;
	default:
		return R(REASON_DROP_NO_RULE);
	}
	if (l4_len < need || q[0] >> 4 != 6)
		return R(REASON_DROP_MALFORMED);
	nh = q[6];
	qp = q + 40;
	if (nh == 44) {
		need += 8;
		if (l4_len < need)
			return R(REASON_DROP_MALFORMED);
		if (get16(qp + 2) & 0xfff8)
			return R(REASON_DROP_NO_RULE);
		nh = qp[0];
		qp += 8;
	}
	if (nh == 58)
		return R(qp[0] == 128 && is6(q + 24, peer6) &&
					 get16(qp + 4) == ECHO_ID ?
				 REASON_PASS_ICMP :
				 REASON_DROP_NO_RULE);
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return R(REASON_DROP_NO_RULE);
	return R(host_socket6(nh, q + 24, get16(qp + 2), q + 8, get16(qp)) ?
			 REASON_PASS_ICMP :
			 REASON_DROP_NO_RULE);
}

static struct ref_result transport6(__u8 proto, const unsigned char *ip,
				    const unsigned char *l4, bool first_frag,
				    __u32 ifindex)
{
	bool lo = ifindex == IF_LO;
	__u16 sport = get16(l4), dport = get16(l4 + 2);
	const __u8 *saddr = ip + 8, *daddr = ip + 24;

	if (!lo && proto == IPPROTO_UDP && sport == 547 && dport == 546)
		return R(REASON_PASS_DHCP);
	if (!lo && proto == IPPROTO_TCP && dport == 22 &&
	    own_address6(ifindex, daddr))
		return R(REASON_PASS_SSH);
	if (host_socket6(proto, saddr, sport, daddr, dport))
		return R(REASON_PASS_ESTABLISHED);
	return rule_result(best_rule6(proto, saddr, daddr, dport, ifindex), lo,
			   first_frag);
}

/* The decision before the event fields are filled in. */
static struct ref_result decide6(const unsigned char *p, size_t len,
				 __u32 ifindex, struct ref_result *ev)
{
	bool lo = ifindex == IF_LO, first = false, fragment = false;
	size_t off = 40, end, l4_len, need, i;
	__u32 frag_id = 0;
	__u8 nh, frag_nh = 0;
	struct ref_result res;
	int *slot;

	if (len < 40 || p[0] >> 4 != 6)
		return R(REASON_DROP_MALFORMED);
	end = 40 + get16(p + 4);
	if (end == 40 || end > len)
		return R(REASON_DROP_MALFORMED);
	ev->ip6 = true;
	ev->proto = nh = p[6];
	ev->l4 = 40;
	for (i = 0; i < SPLICER_MAX_EXT_HEADERS && ext_header(nh); i++) {
		const unsigned char *h = p + off;
		__u16 fo;

		if ((nh == 0 && i > 0) ||
		    (nh != 0 && nh != 43 && nh != 44 && nh != 60))
			break;
		if (off + 8 > end)
			return R(REASON_DROP_MALFORMED);
		if (nh == 43 && (h[2] == 0 || h[3] != 0))
			return R(REASON_DROP_EXT_HEADER);
		if (nh != 44) {
			nh = h[0];
			off += (h[1] + 1) * 8;
			continue;
		}
		if (fragment)
			return R(REASON_DROP_MALFORMED);
		fragment = true;
		fo = get16(h + 2);
		frag_id = get32(h + 4);
		frag_nh = h[0];
		off += 8;
		nh = h[0];
		if (fo & 0xfff8) {
			if ((fo & 0xfff8) < 24)
				return R(REASON_DROP_MALFORMED);
			ev->proto = nh;
			ev->rest = true;
			ev->l4 = off;
			if (lo)
				return R(REASON_PASS_LOOPBACK);
			slot = frag6_slot(p + 8, p + 24, frag_id, frag_nh,
					  false);
			return R(slot ? *slot : REASON_DROP_FRAGMENT);
		}
		first = fo & 1;
	}
	if (off > end)
		return R(REASON_DROP_MALFORMED);
	if (ext_header(nh))
		return R(REASON_DROP_EXT_HEADER);
	ev->proto = nh;
	ev->l4 = off;
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP && (lo || nh != 58))
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_NO_RULE);
	l4_len = end - off;
	need = nh == IPPROTO_TCP ? 20 : 8;
	if (l4_len < need ||
	    (nh == IPPROTO_TCP && ((p[off + 12] >> 4) < 5 ||
				   (size_t)(p[off + 12] >> 4) * 4 > l4_len)))
		return R(lo ? REASON_PASS_LOOPBACK : REASON_DROP_MALFORMED);
	if (nh == 58)
		res = icmp6(p, p + off, l4_len, ifindex);
	else
		res = transport6(nh, p, p + off, first, ifindex);
	if (first && passes(res.reason)) {
		slot = frag6_slot(p + 8, p + 24, frag_id, frag_nh, true);
		if (slot)
			*slot = res.reason;
	}
	return res;
}

static struct ref_result ref_classify6(const unsigned char *p, size_t len,
				       __u32 ifindex)
{
	struct ref_result ev = {}, res = decide6(p, len, ifindex, &ev);

	/* On lo every frame it cannot parse passes, as IPv4's do. */
	if (ifindex == IF_LO && res.reason != REASON_PASS_LOOPBACK &&
	    res.reason != REASON_PASS_ESTABLISHED && !res.rule)
		res.reason = REASON_PASS_LOOPBACK;
	res.ip6 = ev.ip6;
	res.proto = ev.proto;
	res.rest = ev.rest;
	res.l4 = ev.l4;
	return res;
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
	if (type == 0x86dd)
		return ref_classify6(p + 14, len - 14, ifindex);
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
