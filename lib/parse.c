/* SPDX-License-Identifier: GPL-2.0-only */
/* Parsing and printing of prefixes, ports and protocols. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "parse.h"
#include "util.h"

/* Strict dotted quad: inet_pton, unlike inet_aton, rejects "10.1" forms. */
static bool parse_addr(const char *s, __be32 *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*addr = a.s_addr;
	return true;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out <= max;
}

int parse_prefix(const char *s, __be32 *addr, __u8 *len)
{
	char buf[INET_ADDRSTRLEN + 8], fixed[INET_ADDRSTRLEN + 4];
	char *slash;
	unsigned long l = 32;
	__u32 host;

	if (strlen(s) >= sizeof(buf))
		return err_usage("%.40s...: invalid IPv4 prefix", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!parse_uint(slash + 1, ~0UL, &l))
			return err_usage("%s: invalid IPv4 prefix", s);
		if (l > 32)
			return err_usage("%s: prefix length must be 0-32", s);
	}
	if (!parse_addr(buf, addr))
		return err_usage("%s: invalid IPv4 prefix", s);
	host = ntohl(*addr);
	if (host & ~mask4(l))
		return err_usage("%s: host bits set; did you mean %s?", s,
				 fmt_prefix(htonl(host & mask4(l)), l, fixed,
					    sizeof(fixed)));
	*len = l;
	return 0;
}

int parse_port(const char *s, __u16 *port)
{
	unsigned long v;

	if (!parse_uint(s, 65535, &v) || v == 0)
		return err_usage("%s: port must be 1-65535", s);
	*port = v;
	return 0;
}

int parse_port_range(const char *s, __u16 *lo, __u16 *hi)
{
	char buf[32];
	char *dash;
	int err;

	if (strlen(s) >= sizeof(buf))
		return err_usage("%.20s...: port must be 1-65535", s);
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash) {
		err = parse_port(buf, lo);
		*hi = *lo;
		return err;
	}
	*dash = '\0';
	err = parse_port(buf, lo);
	if (!err)
		err = parse_port(dash + 1, hi);
	if (!err && *lo > *hi)
		err = err_usage("%s: low port above high port", s);
	return err;
}

int parse_proto(const char *s, __u8 *proto)
{
	if (!strcmp(s, "tcp"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "udp"))
		*proto = IPPROTO_UDP;
	else
		return err_usage("%s: unknown protocol (tcp or udp)", s);
	return 0;
}

/* "PORT" means 127.0.0.1:PORT; "A.B.C.D:PORT" names the address too. */
int parse_addr_port(const char *s, __be32 *addr, __be16 *port)
{
	char buf[INET_ADDRSTRLEN + 8];
	const char *p = s;
	char *colon;
	__u16 v;
	int err;

	*addr = htonl(INADDR_LOOPBACK);
	if (strlen(s) >= sizeof(buf))
		return err_usage("%.40s...: invalid redirect target", s);
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (!parse_addr(buf, addr))
			return err_usage("%s: invalid redirect address", s);
		p = colon + 1;
	}
	err = parse_port(p, &v);
	if (!err)
		*port = htons(v);
	return err;
}

const char *fmt_prefix(__be32 addr, __u8 len, char *buf, size_t size)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, len);
	return buf;
}

const char *fmt_addr_port(__be32 addr, __be16 port, char *buf, size_t size)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, size, "%s:%u", a, ntohs(port));
	return buf;
}

const char *proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" :
	       proto == IPPROTO_UDP ? "udp" :
				      "?";
}

bool is_keyword(const char *arg, const char *kw)
{
	return !strcmp(arg, kw);
}
