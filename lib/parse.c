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

/*
 * Strict forms: inet_pton, unlike inet_aton, rejects "10.1". An address
 * with a colon is IPv6.
 */
static bool parse_addr(const char *s, __be32 addr[ADDR_WORDS], __u8 *family)
{
	memset(addr, 0, ADDR_WORDS * sizeof(*addr));
	*family = strchr(s, ':') ? AF_INET6 : AF_INET;
	return inet_pton(*family, s, addr) == 1;
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

int parse_prefix(const char *s, __be32 addr[ADDR_WORDS], __u8 *len,
		 __u8 *family)
{
	char buf[INET6_ADDRSTRLEN + 8], fixed[INET6_ADDRSTRLEN + 8];
	__be32 masked[ADDR_WORDS];
	unsigned long l;
	char *slash;

	if (strlen(s) >= sizeof(buf))
		return err_usage("%.40s...: invalid prefix", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (!parse_addr(buf, addr, family))
		return err_usage("%s: invalid %s prefix", s,
				 *family == AF_INET6 ? "IPv6" : "IPv4");
	l = family_bits(*family);
	if (slash && !parse_uint(slash + 1, ~0UL, &l))
		return err_usage("%s: invalid %s prefix", s,
				 *family == AF_INET6 ? "IPv6" : "IPv4");
	if (l > family_bits(*family))
		return err_usage("%s: prefix length must be 0-%u", s,
				 family_bits(*family));
	if (prefix_host_bits(addr, l)) {
		memcpy(masked, addr, sizeof(masked));
		prefix_mask(masked, l);
		return err_usage("%s: host bits set; did you mean %s?", s,
				 fmt_prefix(*family, masked, l, fixed,
					    sizeof(fixed)));
	}
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

/*
 * "PORT" (*family 0: the address is the caller's to choose), "A.B.C.D:PORT"
 * or "[ADDR6]:PORT".
 */
int parse_addr_port(const char *s, __be32 addr[ADDR_WORDS], __be16 *port,
		    __u8 *family)
{
	char buf[INET6_ADDRSTRLEN + 16];
	const char *p = s;
	char *colon;
	__u16 v;
	int err;

	memset(addr, 0, ADDR_WORDS * sizeof(*addr));
	*family = 0;
	if (strlen(s) >= sizeof(buf))
		return err_usage("%.40s...: invalid redirect target", s);
	strcpy(buf, s);
	if (buf[0] == '[') {
		colon = strstr(buf, "]:");
		if (!colon)
			return err_usage("%s: invalid redirect target "
					 "([ADDRESS]:PORT)",
					 s);
		*colon = '\0';
		if (!parse_addr(buf + 1, addr, family) || *family != AF_INET6)
			return err_usage("%s: invalid redirect address", s);
		p = colon + 2;
	} else if ((colon = strchr(buf, ':'))) {
		*colon = '\0';
		if (!parse_addr(buf, addr, family) || *family != AF_INET)
			return err_usage("%s: invalid redirect address%s", s,
					 strchr(colon + 1, ':') ?
						 " (an IPv6 one goes in "
						 "brackets: [ADDRESS]:PORT)" :
						 "");
		p = colon + 1;
	}
	err = parse_port(p, &v);
	if (!err)
		*port = htons(v);
	return err;
}

void loopback_of(__u8 family, __be32 addr[ADDR_WORDS])
{
	memset(addr, 0, ADDR_WORDS * sizeof(*addr));
	if (family == AF_INET6)
		addr[3] = htonl(1);
	else
		addr[0] = htonl(INADDR_LOOPBACK);
}

const char *fmt_addr(__u8 family, const __be32 addr[ADDR_WORDS], char *buf,
		     size_t size)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf,
		       size))
		snprintf(buf, size, "?");
	return buf;
}

const char *fmt_prefix(__u8 family, const __be32 addr[ADDR_WORDS], __u8 len,
		       char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, size, "%s/%u", fmt_addr(family, addr, a, sizeof(a)), len);
	return buf;
}

const char *fmt_addr_port(__u8 family, const __be32 addr[ADDR_WORDS],
			  __be16 port, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	fmt_addr(family, addr, a, sizeof(a));
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 ntohs(port));
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
