/* SPDX-License-Identifier: GPL-2.0-only */
/* A streaming JSON writer, pretty-printed under -p. */
#ifndef SPLICER_JSON_H
#define SPLICER_JSON_H

#include <stdbool.h>
#include <stdio.h>

struct jw;
struct jw *jw_new(FILE *f, bool pretty);
void jw_free(struct jw *w);
void jw_obj_begin(struct jw *w, const char *name);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w, const char *name);
void jw_arr_end(struct jw *w);
void jw_str(struct jw *w, const char *name, const char *val); /* NULL: null */
void jw_u64(struct jw *w, const char *name, unsigned long long val);
void jw_bool(struct jw *w, const char *name, bool val);

#endif /* SPLICER_JSON_H */
