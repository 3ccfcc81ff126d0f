/* SPDX-License-Identifier: GPL-2.0-only */
/* Command-line values: prefixes, ports, protocols, addresses. */
#ifndef SPLICER_PARSE_H
#define SPLICER_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* parse.c: command-line values. Each prints its own error. */
int parse_prefix(const char *s, __be32 *addr, __u8 *len);
int parse_port(const char *s, __u16 *port);
int parse_port_range(const char *s, __u16 *lo, __u16 *hi);
int parse_proto(const char *s, __u8 *proto);
int parse_addr_port(const char *s, __be32 *addr, __be16 *port);
const char *fmt_prefix(__be32 addr, __u8 len, char *buf, size_t size);
const char *fmt_addr_port(__be32 addr, __be16 port, char *buf, size_t size);
const char *proto_name(__u8 proto);
bool is_keyword(const char *arg, const char *kw);

#endif /* SPLICER_PARSE_H */
