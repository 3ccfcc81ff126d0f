/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration files: the rule set in apply's syntax plus the interfaces
 * to attach, applied in the order that keeps the firewall closed.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netlink.h"
#include "config.h"
#include "grammar.h"
#include "iface.h"
#include "out.h"
#include "state.h"
#include "util.h"

static int read_all(FILE *f, char **text, size_t *len)
{
	size_t cap = 0, n = 0, got;
	char *buf = NULL;

	do {
		if (grow(&buf, &cap, n + 4096, 1)) {
			free(buf);
			return err_kernel(-ENOMEM, "read configuration");
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		free(buf);
		return err_kernel(-EIO, "read configuration");
	}
	*text = buf;
	*len = n;
	return 0;
}

/* attach IFACE [icmp-echo on|off] */
static int parse_attach_line(int argc, char **argv, unsigned int line,
			     void *arg)
{
	struct config *c = arg;
	int echo, err;
	size_t i;

	if (argc < 1)
		return err_usage("attach: missing IFACE");
	if (!valid_ifname(argv[0]))
		return err_usage("%.40s: invalid interface name", argv[0]);
	err = parse_attach(argc, argv, &echo);
	if (err)
		return err;
	for (i = 0; i < c->n_ifaces; i++)
		if (!strcmp(c->ifaces[i].name, argv[0]))
			return err_usage("%s: attached on line %u already",
					 argv[0], c->ifaces[i].line);
	if (grow(&c->ifaces, &c->cap_ifaces, c->n_ifaces + 1,
		 sizeof(*c->ifaces)))
		return err_kernel(-ENOMEM, "configuration");
	/* The file is the whole policy: icmp-echo not said is off. */
	c->ifaces[c->n_ifaces] = (struct iface_conf){
		.icmp_echo = echo == 1,
		.line = line,
	};
	strcpy(c->ifaces[c->n_ifaces].name, argv[0]);
	c->n_ifaces++;
	return 0;
}

int config_read(FILE *f, struct config *c)
{
	struct batch_extra extra = { "attach", parse_attach_line, c };
	unsigned int flags;
	FILE *mem;

	memset(c, 0, sizeof(*c));
	c->err = read_all(f, &c->text, &c->len);
	if (c->err || !c->len)
		return c->err;
	mem = fmemopen(c->text, c->len, "r");
	if (!mem)
		return c->err = err_kernel(-errno, "read configuration");
	c->err = batch_read(mem, true, &extra, &c->ch, &c->n_ch, &flags);
	fclose(mem);
	return c->err;
}

void config_free(struct config *c)
{
	free(c->text);
	free(c->ch);
	free(c->ifaces);
	memset(c, 0, sizeof(*c));
}

static void add_name(char (*names)[16], size_t max, size_t *n, const char *name)
{
	size_t i;

	if (!valid_ifname(name))
		return;
	for (i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return;
	if (*n < max)
		strcpy(names[(*n)++], name);
}

/*
 * Looks at words only, line by line, so that a file with a bad line still
 * tells which interfaces it is about.
 */
size_t config_names(const struct config *c, bool dev, char (*names)[16],
		    size_t max)
{
	const char *p = c->text, *end = c->text + c->len, *nl;
	char *word[BATCH_MAX_WORDS], *line;
	size_t n = 0;
	int i, n_words;

	for (; p && p < end; p = nl ? nl + 1 : NULL) {
		nl = memchr(p, '\n', end - p);
		line = strndup(p, (nl ? nl : end) - p);
		if (!line)
			break;
		n_words = batch_split(line, word);
		if (n_words >= 2 && !strcmp(word[0], "attach"))
			add_name(names, max, &n, word[1]);
		for (i = 1; dev && i + 1 < n_words; i++)
			if (!strcmp(word[i], "dev"))
				add_name(names, max, &n, word[i + 1]);
		free(line);
	}
	return n;
}

static bool v1_root(void)
{
	struct state st;

	state_init(&st);
	return state_is_v1(&st);
}

/* Pins the maps and programs, attaching nothing. */
static int state_ensure(void)
{
	struct state st;
	int err;

	err = state_create(&st, NULL);
	state_close(&st);
	return err;
}

/*
 * A missing interface is not an error: at boot a device may come later,
 * and splicer watch attaches a configured interface when it appears. One
 * that fails does not keep the others open: each is tried, and the first
 * failure is the one reported.
 */
static int attach_ifaces(const struct iface_conf *ifs, size_t n, bool check)
{
	struct nl_link link;
	int err, first = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		err = find_iface(ifs[i].name, &link);
		if (err == -ENODEV) {
			p_warn("line %u: %s: no such interface; not attached",
			       ifs[i].line, ifs[i].name);
			continue;
		}
		if (!err && !check)
			err = attach_link(&link, ifs[i].icmp_echo, NULL, NULL);
		if (!first)
			first = err;
	}
	return first;
}

/*
 * A fresh pin root (at boot) and a file that cannot be applied: the
 * policy before is no filter at all, wide open. The interfaces the file
 * names are attached with no rules and icmp-echo off instead: the
 * default-deny policy with SSH, from which the file can be fixed.
 */
static void fail_closed(const struct config *c)
{
	char names[SPLICER_MAX_IFACES][16];
	struct nl_link link;
	size_t n, i, done = 0;

	n = config_names(c, false, names, SPLICER_MAX_IFACES);
	if (!n || state_ensure())
		return;
	for (i = 0; i < n; i++)
		if (!find_iface(names[i], &link) &&
		    !attach_link(&link, 0, NULL, NULL))
			done++;
	if (done)
		p_warn("nothing was in place: attached %zu interface%s without "
		       "rules (default deny, SSH allowed)",
		       done, done == 1 ? "" : "s");
}

/*
 * The order keeps the firewall closed: the state exists first, then the
 * rules are in place (one update: the old set or the new), and only then
 * do the filters of new interfaces go live. Applied again, an unchanged
 * file changes nothing: rules keep ids and counters, filters stay.
 */
int config_apply(const struct config *c, bool check)
{
	bool fresh = !state_exists();
	int err = c->err;

	if (check) {
		/* Without state the rules replace nothing: they parsed. */
		if (!err && !fresh)
			err = rules_update(c->ch, c->n_ch,
					   UPDATE_REPLACE | UPDATE_CHECK);
		if (!err)
			err = attach_ifaces(c->ifaces, c->n_ifaces, true);
		return err;
	}
	/* A fresh pin root is made; one of splicer 0.1.0 upgraded first. */
	if (!err && (fresh || v1_root()))
		err = state_ensure();
	if (!err)
		err = rules_update(c->ch, c->n_ch, UPDATE_REPLACE);
	if (!err)
		return attach_ifaces(c->ifaces, c->n_ifaces, false);
	if (fresh)
		fail_closed(c);
	return err;
}
