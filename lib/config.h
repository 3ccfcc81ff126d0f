/* SPDX-License-Identifier: GPL-2.0-only */
/* Configuration files: an apply file plus the interfaces to attach. */
#ifndef SPLICER_CONFIG_H
#define SPLICER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "update.h"

#define DEFAULT_CONFIG "/etc/splicer/splicer.conf"

/*
 * config.c: a configuration file is an apply file that may also hold
 * "attach IFACE [icmp-echo on|off]" lines (icmp-echo off when not said).
 */
struct iface_conf {
	char name[16];
	int icmp_echo; /* 1 on, 0 off, -1 keep (command line of watch) */
	unsigned int line;
};

struct config {
	char *text; /* the whole file */
	size_t len;
	struct rule_change *ch;
	size_t n_ch;
	struct iface_conf *ifaces;
	size_t n_ifaces, cap_ifaces;
	int err; /* of the first bad line; 0 if every line parsed */
};
int config_read(FILE *f, struct config *c);
/*
 * Rules first, then the interfaces: see config.c. A file that does not
 * parse changes nothing, except on a fresh pin root (see there).
 */
int config_apply(const struct config *c, bool check);
/*
 * The interface names a file mentions in attach lines (and, with dev,
 * in dev words), even a file that does not parse.
 */
size_t config_names(const struct config *c, bool dev, char (*names)[16],
		    size_t max);
void config_free(struct config *c);
bool valid_ifname(const char *name);

#endif /* SPLICER_CONFIG_H */
