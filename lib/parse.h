/* SPDX-License-Identifier: GPL-2.0-only */
/* Command-line values: prefixes, ports, protocols, addresses. */
#ifndef SPLICER_PARSE_H
#define SPLICER_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* parse.c: command-line values. Each prints its own error. */
/*
 * Addresses are 16 bytes in network order (util.h ADDR_WORDS); family is
 * AF_INET or AF_INET6.
 */
int parse_prefix(const char *s, __be32 addr[4], __u8 *len, __u8 *family);
int parse_port(const char *s, __u16 *port);
int parse_port_range(const char *s, __u16 *lo, __u16 *hi);
int parse_proto(const char *s, __u8 *proto);
int parse_addr_port(const char *s, __be32 addr[4], __be16 *port, __u8 *family);
/* 127.0.0.1 or ::1. */
void loopback_of(__u8 family, __be32 addr[4]);
const char *fmt_addr(__u8 family, const __be32 addr[4], char *buf, size_t size);
const char *fmt_prefix(__u8 family, const __be32 addr[4], __u8 len, char *buf,
		       size_t size);
/* "A.B.C.D:PORT" or "[ADDR6]:PORT". */
const char *fmt_addr_port(__u8 family, const __be32 addr[4], __be16 port,
			  char *buf, size_t size);
const char *proto_name(__u8 proto);
bool is_keyword(const char *arg, const char *kw);

#endif /* SPLICER_PARSE_H */
