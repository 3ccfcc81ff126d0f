/* SPDX-License-Identifier: GPL-2.0-only */
/* The grammar: rules, attach arguments, batch files, file arguments. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"
#include "grammar.h"
#include "iface.h"
#include "out.h"
#include "parse.h"
#include "util.h"

/* A label kept with the rule: printable, no spaces, so lists round-trip. */
int parse_service(const char *s, char out[SPLICER_SERVICE_LEN])
{
	size_t i, len = strlen(s);

	if (!len || len >= SPLICER_SERVICE_LEN)
		return err_usage("%.70s: service must be 1-%d characters", s,
				 SPLICER_SERVICE_LEN - 1);
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '#')
			return err_usage("%.70s: service must be printable, "
					 "without spaces or '#'",
					 s);
	memcpy(out, s, len + 1);
	return 0;
}

/* A rule being parsed: the rule, and what the words gave so far. */
struct rule_parse {
	struct rule *r;
	const char *dev;
	const char *from, *to; /* as given, for a family mismatch's line */
	__u8 from_family, to_family; /* to: 0 for a bare PORT */
	unsigned int given; /* bits of rule_keywords[], the actions as one */
};

static int kw_proto(struct rule_parse *w, const char *val)
{
	return parse_proto(val, &w->r->k.proto);
}

static int kw_port(struct rule_parse *w, const char *val)
{
	return parse_port_range(val, &w->r->k.port_lo, &w->r->k.port_hi);
}

static int kw_from(struct rule_parse *w, const char *val)
{
	w->from = val;
	return parse_prefix(val, w->r->k.src, &w->r->k.src_len,
			    &w->from_family);
}

static int kw_dev(struct rule_parse *w, const char *val)
{
	w->dev = val;
	return 0;
}

static int kw_service(struct rule_parse *w, const char *val)
{
	return parse_service(val, w->r->v.service);
}

static int kw_route(struct rule_parse *w, const char *val)
{
	(void)val;
	w->r->v.flags |= SPLICER_RULE_ROUTE;
	return 0;
}

static int kw_redirect(struct rule_parse *w, const char *val)
{
	w->r->v.action = SPLICER_ACT_REDIRECT;
	w->to = val;
	return parse_addr_port(val, w->r->v.to_addr, &w->r->v.to_port,
			       &w->to_family);
}

static int kw_pass(struct rule_parse *w, const char *val)
{
	(void)val;
	w->r->v.action = SPLICER_ACT_PASS;
	return 0;
}

static int kw_drop(struct rule_parse *w, const char *val)
{
	(void)val;
	w->r->v.action = SPLICER_ACT_DROP;
	return 0;
}

enum { KW_PROTO, KW_PORT, KW_FROM, KW_DEV, KW_SERVICE, KW_ROUTE, KW_ACTION };

/*
 * The words of a rule after its PREFIX, the one list of them: whether a
 * value follows, whether only add takes it, and which "given" bit it
 * sets. Every keyword may be given once; the actions share one bit.
 */
static const struct rule_keyword {
	const char *name;
	bool value;
	bool add_only;
	unsigned int bit;
	int (*parse)(struct rule_parse *w, const char *val);
} rule_keywords[] = {
	{ "proto", true, false, KW_PROTO, kw_proto },
	{ "port", true, false, KW_PORT, kw_port },
	{ "from", true, false, KW_FROM, kw_from },
	{ "dev", true, false, KW_DEV, kw_dev },
	{ "service", true, true, KW_SERVICE, kw_service },
	{ "route", false, true, KW_ROUTE, kw_route },
	{ "redirect", true, true, KW_ACTION, kw_redirect },
	{ "pass", false, true, KW_ACTION, kw_pass },
	{ "drop", false, true, KW_ACTION, kw_drop },
};

/*
 * A rule's interface. A delete may also name a rule that waits for its
 * interface (gone) as list and save show it, "ifN", when no link has
 * that name.
 */
static int rule_dev(const char *name, bool with_action, __u32 *ifindex)
{
	struct nl_link link;
	unsigned int n;
	char end;
	int err;

	err = find_iface(name, &link);
	if (!err)
		*ifindex = link.ifindex;
	else if (err != -ENODEV)
		return err;
	else if (!with_action && sscanf(name, "if%u%c", &n, &end) == 1 && n &&
		 n < SPLICER_IFINDEX_GONE)
		*ifindex = n | SPLICER_IFINDEX_GONE;
	else
		return err_usage("%s: no such interface", name);
	return 0;
}

static const struct rule_keyword *rule_keyword(const char *word,
					       bool with_action)
{
	size_t i;

	for (i = 0; i < sizeof(rule_keywords) / sizeof(rule_keywords[0]); i++)
		if (is_keyword(word, rule_keywords[i].name) &&
		    (with_action || !rule_keywords[i].add_only))
			return &rule_keywords[i];
	return NULL;
}

static const char *family_name(__u8 family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/*
 * A rule is of its destination's family: its source and redirect
 * address must be too. A bare redirect PORT means the loopback address
 * of that family.
 */
static int rule_families(struct rule_parse *w, const char *dst)
{
	struct rule *r = w->r;

	if (w->from && w->from_family != r->k.family)
		return err_usage("from %s: an %s source for an %s rule (%s)",
				 w->from, family_name(w->from_family),
				 family_name(r->k.family), dst);
	if (w->to && w->to_family && w->to_family != r->k.family)
		return err_usage("redirect %s: an %s listener for an %s rule "
				 "(%s)",
				 w->to, family_name(w->to_family),
				 family_name(r->k.family), dst);
	if (r->v.action == SPLICER_ACT_REDIRECT && !w->to_family)
		loopback_of(r->k.family, r->v.to_addr);
	return 0;
}

/*
 * PREFIX proto {tcp|udp} port PORT[-PORT] [ACTION] [from PREFIX]
 * [dev IFACE] [route] [service NAME], PREFIX of either family and the
 * source and redirect address of the same. Everything is checked before any
 * state is opened, so a bad line never changes anything.
 */
int parse_rule(int argc, char **argv, bool with_action, struct rule *r)
{
	struct rule_parse w = { .r = r };
	const struct rule_keyword *kw;
	int i, err;

	memset(r, 0, sizeof(*r));
	if (argc < 1)
		return err_usage("missing PREFIX; see 'splicer %s help'",
				 with_action ? "add" : "del");
	err = parse_prefix(argv[0], r->k.dst, &r->k.dst_len, &r->k.family);
	if (err)
		return err;

	for (i = 1; i < argc; i++) {
		kw = rule_keyword(argv[i], with_action);
		if (!kw) {
			/* The grammar puts ACTION right after the ports. */
			if (with_action && !(w.given & (1U << KW_ACTION)) &&
			    i >= 2 && is_keyword(argv[i - 2], "port"))
				return err_usage("%s: unknown action (redirect "
						 "PORT, pass or drop)",
						 argv[i]);
			return err_usage("%s: unknown keyword", argv[i]);
		}
		if (w.given & (1U << kw->bit))
			return err_usage(kw->bit == KW_ACTION ?
						 "%s: more than one action" :
						 "%s: given twice",
					 argv[i]);
		w.given |= 1U << kw->bit;
		if (kw->value && i + 1 >= argc)
			return err_usage("%s: missing value", argv[i]);
		err = kw->parse(&w, kw->value ? argv[++i] : NULL);
		if (err)
			return err;
	}
	if (!(w.given & (1U << KW_PROTO)))
		return err_usage("missing 'proto tcp|udp'");
	if (!(w.given & (1U << KW_PORT)))
		return err_usage("missing 'port PORT[-PORT]'");
	if (with_action && !(w.given & (1U << KW_ACTION)))
		return err_usage(
			"missing action (redirect PORT, pass or drop)");

	err = rule_families(&w, argv[0]);
	if (!err && w.dev)
		err = rule_dev(w.dev, with_action, &r->k.ifindex);
	return err;
}

int parse_attach(int argc, char **argv, int *icmp_echo)
{
	int i;

	*icmp_echo = -1; /* unchanged */
	if (argc < 1)
		return err_usage(
			"usage: splicer attach IFACE [icmp-echo on|off]");
	for (i = 1; i < argc; i += 2) {
		if (!is_keyword(argv[i], "icmp-echo"))
			return err_usage("%s: unknown keyword", argv[i]);
		if (i + 1 >= argc)
			return err_usage(
				"icmp-echo: missing value (on or off)");
		if (is_keyword(argv[i + 1], "on"))
			*icmp_echo = 1;
		else if (is_keyword(argv[i + 1], "off"))
			*icmp_echo = 0;
		else
			return err_usage("%s: icmp-echo takes on or off",
					 argv[i + 1]);
	}
	return 0;
}

int batch_split(char *line, char **word)
{
	char *p = strchr(line, '#');
	int n = 0;

	if (p)
		*p = '\0';
	for (p = strtok(line, " \t\r\n\v\f"); p;
	     p = strtok(NULL, " \t\r\n\v\f")) {
		if (n == BATCH_MAX_WORDS)
			return -1;
		word[n++] = p;
	}
	return n;
}

static int parse_line(char *line, unsigned int lineno, bool apply_file,
		      const struct batch_extra *extra, size_t n_before,
		      struct rule_change *ch, bool *flush)
{
	char *word[BATCH_MAX_WORDS];
	int n = batch_split(line, word);

	*flush = false;
	if (n < 0)
		return err_usage("more than %d words", BATCH_MAX_WORDS);
	if (!n)
		return 0;
	memset(ch, 0, sizeof(*ch));
	ch->line = lineno;
	if (!strcmp(word[0], "add"))
		return parse_rule(n - 1, word + 1, true, &ch->r) ?: 1;
	if (extra && !strcmp(word[0], extra->cmd))
		return extra->parse(n - 1, word + 1, lineno, extra->arg);
	if (apply_file)
		return err_usage("%s: apply takes add and attach lines only",
				 word[0]);
	if (!strcmp(word[0], "del")) {
		ch->kind = CHANGE_DEL;
		return parse_rule(n - 1, word + 1, false, &ch->r) ?: 1;
	}
	if (!strcmp(word[0], "flush")) {
		if (n > 1)
			return err_usage("%s: flush takes no arguments",
					 word[1]);
		if (n_before)
			return err_usage("flush must be the first command");
		*flush = true;
		return 0;
	}
	return err_usage("%s: unknown command (add, del or flush)", word[0]);
}

int batch_read(FILE *f, bool apply_file, const struct batch_extra *extra,
	       struct rule_change **out, size_t *n, unsigned int *flags)
{
	struct rule_change *ch = NULL;
	size_t cap = 0, len = 0, size = 0;
	unsigned int lineno = 0;
	char *line = NULL;
	bool flush;
	int err = 0;

	*flags = 0;
	while (getline(&line, &size, f) >= 0) {
		lineno++;
		if (grow(&ch, &cap, len + 1, sizeof(*ch))) {
			err = err_kernel(-ENOMEM, "batch");
			break;
		}
		err_context_set("line %u: ", lineno);
		err = parse_line(line, lineno, apply_file, extra, len, &ch[len],
				 &flush);
		err_context_set(NULL);
		if (err < 0)
			break;
		len += err;
		err = 0;
		if (flush)
			*flags |= UPDATE_REPLACE;
	}
	if (!err && ferror(f))
		err = err_kernel(-EIO, "read batch file");
	free(line);
	if (err) {
		free(ch);
		return err;
	}
	*out = ch;
	*n = len;
	return 0;
}

/* The names the kernel refuses (dev_valid_name()), refused before it. */
bool valid_ifname(const char *name)
{
	size_t len = strlen(name), i;

	if (!len || len >= IF_NAMESIZE || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' ||
		    (unsigned char)name[i] <= ' ')
			return false;
	return true;
}

int parse_file_args(const char *cmd, int argc, char **argv, bool need_file,
		    const char **path, bool *check)
{
	int i;

	*path = NULL;
	*check = false;
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--check")) {
			*check = true;
			continue;
		}
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
			if (++i == argc)
				return err_usage("%s: missing FILE",
						 argv[i - 1]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return err_usage("%s: unknown option; see 'splicer %s "
					 "help'",
					 argv[i], cmd);
		}
		if (*path)
			return err_usage("%s: only one file; see 'splicer %s "
					 "help'",
					 argv[i], cmd);
		*path = argv[i];
	}
	if (!*path && need_file)
		return err_usage("missing FILE; see 'splicer %s help'", cmd);
	return 0;
}

int open_input(const char *path, FILE **f)
{
	*f = stdin;
	if (!path || !strcmp(path, "-"))
		return 0;
	*f = fopen(path, "r");
	if (!*f)
		return err_usage("%s: %s", path, strerror(errno));
	return 0;
}

void close_input(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}
