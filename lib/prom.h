/* SPDX-License-Identifier: GPL-2.0-only */
/* Counter snapshots in the Prometheus text format. */
#ifndef SPLICER_PROM_H
#define SPLICER_PROM_H

#include <stdio.h>

struct snapshot;

/* prom.c: a snapshot in the Prometheus text format (it needs the rules). */
int prom_write(FILE *f, const struct snapshot *s);
/* Atomically replaces DIR/splicer.prom, for node-exporter's textfile. */
int prom_textfile(const char *dir, const struct snapshot *s);

#endif /* SPLICER_PROM_H */
