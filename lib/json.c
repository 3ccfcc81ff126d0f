/* SPDX-License-Identifier: GPL-2.0-only */
/* A small streaming JSON writer: objects, arrays, strings, numbers. */
#include <stdlib.h>

#include "json.h"

#define JW_MAX_DEPTH 16

struct jw {
	FILE *f;
	bool pretty;
	int depth;
	bool first[JW_MAX_DEPTH]; /* no member written yet at this depth */
};

struct jw *jw_new(FILE *f, bool pretty)
{
	struct jw *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->f = f;
	w->pretty = pretty;
	w->first[0] = true;
	return w;
}

void jw_free(struct jw *w)
{
	if (w && w->pretty)
		fputc('\n', w->f);
	free(w);
}

static void indent(struct jw *w)
{
	int i;

	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

static void put_string(struct jw *w, const char *s)
{
	fputc('"', w->f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(w->f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", w->f);
		else if (c < 0x20)
			fprintf(w->f, "\\u%04x", c);
		else
			fputc(c, w->f);
	}
	fputc('"', w->f);
}

/* Separator, indentation and "name": before every value. */
static void member(struct jw *w, const char *name)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (w->depth > 0)
		indent(w);
	if (name) {
		put_string(w, name);
		fputs(w->pretty ? ": " : ":", w->f);
	}
}

static void open(struct jw *w, const char *name, char c)
{
	member(w, name);
	fputc(c, w->f);
	if (w->depth + 1 >= JW_MAX_DEPTH)
		abort();
	w->first[++w->depth] = true;
}

static void close_(struct jw *w, char c)
{
	bool empty = w->first[w->depth];

	w->depth--;
	if (!empty)
		indent(w);
	fputc(c, w->f);
}

void jw_obj_begin(struct jw *w, const char *name)
{
	open(w, name, '{');
}

void jw_obj_end(struct jw *w)
{
	close_(w, '}');
}

void jw_arr_begin(struct jw *w, const char *name)
{
	open(w, name, '[');
}

void jw_arr_end(struct jw *w)
{
	close_(w, ']');
}

void jw_str(struct jw *w, const char *name, const char *val)
{
	member(w, name);
	if (val)
		put_string(w, val);
	else
		fputs("null", w->f);
}

void jw_u64(struct jw *w, const char *name, unsigned long long val)
{
	member(w, name);
	fprintf(w->f, "%llu", val);
}

void jw_bool(struct jw *w, const char *name, bool val)
{
	member(w, name);
	fputs(val ? "true" : "false", w->f);
}
