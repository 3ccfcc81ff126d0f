/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Invoked as map_update, map_delete or map_delete_elem, splicer speaks the
 * command lines that OpenZiti routers send to the tools it replaces: the
 * positional forms of the first tools and the option forms of the later
 * map_update. Every change still goes through rules_update().
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netlink.h"
#include "cmd.h"
#include "grammar.h"
#include "iface.h"
#include "out.h"
#include "parse.h"
#include "state.h"
#include "util.h"

static const char *const compat_names[] = { "map_update", "map_delete",
					    "map_delete_elem" };

bool is_compat_name(const char *prog)
{
	size_t i;

	for (i = 0; i < sizeof(compat_names) / sizeof(compat_names[0]); i++)
		if (!strcmp(prog, compat_names[i]))
			return true;
	return false;
}

/* What one command line asks for, as typed. */
struct compat_args {
	int op; /* 'I', 'D', 'L', 'F', 'V', '?'; 'E': every rule of a prefix */
	const char *c, *m, *o, *n, *l, *h, *t, *p, *s;
	const char **ifaces;
	int n_ifaces;
	bool route;
	unsigned int list_actions;
};

static void compat_usage(const char *prog)
{
	printf("Usage: %1$s -I -c DST -m LEN [-o SRC -n LEN] -l LOW -h HIGH "
	       "-t PORT\n"
	       "           -p tcp|udp|6|17 [-s SERVICE-ID] [-N IFACE]... "
	       "[-r]\n"
	       "       %1$s -D -c DST -m LEN [-o SRC -n LEN] -l LOW "
	       "-p PROTO [-N IFACE]...\n"
	       "       %1$s -L [-c DST -m LEN] [-p PROTO] [-i|-f]\n"
	       "       %1$s -F | -V | -? | --help\n"
	       "       map_update DST LEN LOW HIGH TPROXY-PORT PROTO-ID\n"
	       "       map_delete DST LEN LOW PROTO-ID\n"
	       "       map_delete_elem DST LEN [LOW PROTO-ID]\n\n"
	       "splicer's compatibility mode for OpenZiti routers. -t 0 "
	       "passes, -t PORT\n"
	       "redirects to 127.0.0.1:PORT ([::1]:PORT for an IPv6 DST). "
	       "-D removes the rule\n"
	       "with that low port, any high port, scoped to -N or (without "
	       "-N) unscoped.\n"
	       "-r adds the local route. On an IPv6 DST, -o 0.0.0.0 -n 0 "
	       "means any source\n"
	       "and an IPv6 -o with bits beyond /32 set and -n 32 means "
	       "that address, /128.\n"
	       "Pinned state: $SPLICER_PIN_ROOT or %2$s. "
	       "See splicer(8).\n",
	       prog, DEFAULT_PIN_ROOT);
}

/* "-c ADDR -m LEN" or a source: host bits are refused, as by splicer. */
static int prefix_of(const char *what, const char *addr, const char *len,
		     __be32 a[4], __u8 *l, __u8 *family)
{
	char buf[64];
	int err;

	snprintf(buf, sizeof(buf), "%s/%s", addr, len);
	err_context_set("%s ", what);
	err = parse_prefix(buf, a, l, family);
	err_context_set(NULL);
	return err;
}

static int port_of(const char *what, const char *s, __u16 *port)
{
	int err;

	err_context_set("%s port ", what);
	err = parse_port(s, port);
	err_context_set(NULL);
	return err;
}

static int proto_of(const char *s, __u8 *proto)
{
	if (!strcasecmp(s, "tcp") || !strcmp(s, "6"))
		*proto = IPPROTO_TCP;
	else if (!strcasecmp(s, "udp") || !strcmp(s, "17"))
		*proto = IPPROTO_UDP;
	else
		return err_usage("%s: unknown protocol (tcp, udp, 6 or 17)", s);
	return 0;
}

/*
 * -t 0 passes; -t PORT redirects to the listener on 127.0.0.1:PORT, or on
 * [::1]:PORT for an IPv6 rule: an IPv6 packet is never handed to an IPv4
 * socket, so until the router listens on [::] or [::1] such packets are
 * dropped as no_listener.
 */
static int action_of(const char *s, struct rule *r)
{
	__u16 port;
	int err;

	if (*s && strspn(s, "0") == strlen(s)) {
		r->v.action = SPLICER_ACT_PASS;
		return 0;
	}
	err = port_of("tproxy", s, &port);
	if (err)
		return err;
	r->v.action = SPLICER_ACT_REDIRECT;
	loopback_of(r->k.family, r->v.to_addr);
	r->v.to_port = htons(port);
	return 0;
}

/*
 * "-o SRC -n LEN" for a rule of family dst_family. A router sends the
 * IPv4 "any" source, -o 0.0.0.0 -n 0, whatever the intercept's family:
 * on an IPv6 rule it means any IPv6 source. It also sends an allowed
 * source written without a length with -n 32, whatever its family: an
 * IPv6 address with bits set beyond /32 and -n 32 is that single
 * address, /128. An IPv6 /32 without such bits stays a /32.
 */
static int source_of(const struct compat_args *a, __u8 dst_family,
		     __be32 src[4], __u8 *len, __u8 *family)
{
	__be32 addr[4];
	__u8 l, fam;

	if (dst_family == AF_INET6 && !strcmp(a->o, "0.0.0.0") &&
	    !strcmp(a->n, "0")) {
		memset(src, 0, 4 * sizeof(*src));
		*len = 0;
		*family = AF_INET6;
		return 0;
	}
	if (dst_family == AF_INET6 && strchr(a->o, ':') &&
	    !strcmp(a->n, "32") &&
	    !prefix_of("source", a->o, "128", addr, &l, &fam) &&
	    prefix_host_bits(addr, 32)) {
		memcpy(src, addr, sizeof(addr));
		*len = 128;
		*family = fam;
		return 0;
	}
	return prefix_of("source", a->o, a->n, src, len, family);
}

static int missing(const struct compat_args *a, const char *opt)
{
	return err_usage("-%c: missing %s; see 'map_update --help'", a->op,
			 opt);
}

/* The rule that -I or -D names, before its interface. */
static int build_rule(const struct compat_args *a, struct rule *r)
{
	bool insert = a->op == 'I';
	__u8 src_family;
	int err;

	memset(r, 0, sizeof(*r));
	if (!a->c)
		return missing(a, "-c (--dcidr-block)");
	if (!a->m)
		return missing(a, "-m (--dprefix-len)");
	if (a->op == 'E')
		return prefix_of("destination", a->c, a->m, r->k.dst,
				 &r->k.dst_len, &r->k.family);
	if (!a->l)
		return missing(a, "-l (--low-port)");
	if (insert && !a->h)
		return missing(a, "-h (--high-port)");
	if (insert && !a->t)
		return missing(a, "-t (--tproxy-port)");
	if (!a->p)
		return missing(a, "-p (--protocol)");
	if (a->o && !a->n)
		return err_usage("-o needs -n (--oprefix-len)");
	if (a->n && !a->o)
		return err_usage("-n needs -o (--ocidr-block)");

	err = prefix_of("destination", a->c, a->m, r->k.dst, &r->k.dst_len,
			&r->k.family);
	if (!err && a->o)
		err = source_of(a, r->k.family, r->k.src, &r->k.src_len,
				&src_family);
	if (!err && a->o && src_family != r->k.family)
		err = err_usage("-o %s: not of the destination's family", a->o);
	if (!err)
		err = port_of("low", a->l, &r->k.port_lo);
	r->k.port_hi = r->k.port_lo; /* -h is ignored on -D */
	if (!err && insert)
		err = port_of("high", a->h, &r->k.port_hi);
	if (!err && r->k.port_lo > r->k.port_hi)
		err = err_usage("low port %u above high port %u", r->k.port_lo,
				r->k.port_hi);
	if (!err)
		err = proto_of(a->p, &r->k.proto);
	if (err || !insert)
		return err;
	err = action_of(a->t, r);
	if (!err && a->s && *a->s)
		err = parse_service(a->s, r->v.service);
	if (a->route)
		r->v.flags |= SPLICER_RULE_ROUTE;
	return err;
}

/* -I, -D and the positional forms: one change per -N, in one update. */
static int change_rules(const struct compat_args *a)
{
	struct rule_change *ch;
	struct rule r;
	int i, n = a->n_ifaces ? a->n_ifaces : 1;
	int err = build_rule(a, &r);

	if (err)
		return err;
	ch = calloc(n, sizeof(*ch));
	if (!ch)
		return err_kernel(-ENOMEM, "rules");
	for (i = 0; i < n && !err; i++) {
		ch[i].r = r;
		ch[i].kind = a->op == 'I' ? CHANGE_ADD :
			     a->op == 'D' ? CHANGE_DEL_ANY_HIGH :
					    CHANGE_DEL_PREFIX;
		if (a->n_ifaces) {
			struct nl_link link;

			err = resolve_iface(a->ifaces[i], &link);
			ch[i].r.k.ifindex = link.ifindex;
		}
	}
	if (!err)
		err = rules_update(ch, n, 0);
	free(ch);
	return err;
}

static int list(const struct compat_args *a)
{
	struct rule_filter f = { .actions = a->list_actions };
	int err = 0;

	if (a->c || a->m) {
		if (!a->c || !a->m)
			return err_usage("-L: -c and -m go together");
		f.by_dst = true;
		err = prefix_of("destination", a->c, a->m, f.dst, &f.dst_len,
				&f.family);
	}
	if (!err && a->p)
		err = proto_of(a->p, &f.proto);
	return err ?: list_rules(&f);
}

static int run(const char *prog, const struct compat_args *a)
{
	switch (a->op) {
	case 'V':
		printf("%s (splicer %s)\n", prog, SPLICER_VERSION);
		return 0;
	case '?':
		compat_usage(prog);
		return 0;
	case 'L':
		return list(a);
	case 'F':
		return rules_update(NULL, 0, UPDATE_REPLACE);
	case 0:
		return err_usage("one of -I, -D, -L, -F or -V is needed; see "
				 "'%s --help'",
				 prog);
	default:
		return change_rules(a);
	}
}

/* map_update DST LEN LOW HIGH TPROXY PROTO, map_delete[_elem] DST LEN LOW PROTO */
static int positional(const char *prog, int argc, char **argv,
		      struct compat_args *a)
{
	bool update = !strcmp(prog, "map_update");
	bool elem = !strcmp(prog, "map_delete_elem");

	if (update && argc == 7) {
		a->op = 'I';
		a->h = argv[4];
		a->t = argv[5];
		a->p = argv[6];
	} else if (!update && argc == 5) {
		a->op = 'D';
		a->p = argv[4];
	} else if (elem && argc == 3) {
		a->op = 'E';
	} else {
		return err_usage(
			"usage: %s %s; see '%s --help'", prog,
			update ? "DST LEN LOW HIGH TPROXY-PORT PROTO-ID" :
			elem   ? "DST LEN [LOW PROTO-ID]" :
				 "DST LEN LOW PROTO-ID",
			prog);
	}
	a->c = argv[1];
	a->m = argv[2];
	a->l = argc > 3 ? argv[3] : NULL;
	return run(prog, a);
}

static int set_op(struct compat_args *a, int op, const char *prog)
{
	if (a->op && a->op != op)
		return err_usage("only one of -I, -D, -L, -F and -V; see '%s "
				 "--help'",
				 prog);
	a->op = op;
	return 0;
}

/* Where the value of an option that takes one goes; NULL for the others. */
static const char **value_of(struct compat_args *a, int c)
{
	switch (c) {
	case 'c':
		return &a->c;
	case 'm':
		return &a->m;
	case 'o':
		return &a->o;
	case 'n':
		return &a->n;
	case 'l':
		return &a->l;
	case 'h':
		return &a->h;
	case 't':
		return &a->t;
	case 'p':
		return &a->p;
	case 's':
		return &a->s;
	}
	return NULL;
}

/* One option getopt_long() returned, c, into *a. */
static int take_option(struct compat_args *a, int c, bool given[128],
		       const char *prog, char **argv)
{
	const char **value = value_of(a, c);

	/* -N may name many interfaces; any other option is one. */
	if (c > 0 && c < 128 && strchr("cmonlhtpsr", c)) {
		if (given[c])
			return err_usage("-%c: given twice; see '%s --help'", c,
					 prog);
		given[c] = true;
	}
	if (value) {
		*value = optarg;
		return 0;
	}
	switch (c) {
	case 'I':
	case 'D':
	case 'L':
	case 'F':
	case 'V':
		return set_op(a, c, prog);
	case 'H':
		return set_op(a, '?', prog);
	case 'N':
		a->ifaces[a->n_ifaces++] = optarg;
		return 0;
	case 'r':
		a->route = true;
		return 0;
	case 'i':
		a->list_actions |= 1U << SPLICER_ACT_REDIRECT;
		return 0;
	case 'f':
		a->list_actions |= 1U << SPLICER_ACT_PASS;
		return 0;
	case ':':
		return err_usage("-%c: missing value; see '%s --help'", optopt,
				 prog);
	}
	if (optopt == '?')
		return set_op(a, '?', prog);
	if (optopt)
		return err_usage("-%c: unknown option; see '%s --help'", optopt,
				 prog);
	return err_usage("%s: unknown option; see '%s --help'",
			 argv[optind - 1], prog);
}

int compat_main(const char *prog, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "insert", no_argument, NULL, 'I' },
		{ "delete", no_argument, NULL, 'D' },
		{ "list", no_argument, NULL, 'L' },
		{ "flush", no_argument, NULL, 'F' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'H' },
		{ "dcidr-block", required_argument, NULL, 'c' },
		{ "dprefix-len", required_argument, NULL, 'm' },
		{ "ocidr-block", required_argument, NULL, 'o' },
		{ "oprefix-len", required_argument, NULL, 'n' },
		{ "low-port", required_argument, NULL, 'l' },
		{ "high-port", required_argument, NULL, 'h' },
		{ "tproxy-port", required_argument, NULL, 't' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "service-id", required_argument, NULL, 's' },
		{ "interface", required_argument, NULL, 'N' },
		{ "route", no_argument, NULL, 'r' },
		{ "intercepts", no_argument, NULL, 'i' },
		{ "passthrough", no_argument, NULL, 'f' },
		{ 0 },
	};
	struct compat_args a = {};
	bool given[128] = { false };
	int c, err = 0;

	if (argc > 1 && argv[1][0] != '-')
		return positional(prog, argc, argv, &a);
	a.ifaces = calloc(argc, sizeof(*a.ifaces));
	if (!a.ifaces)
		return err_kernel(-ENOMEM, "options");
	opterr = 0;
	optind = 1;
	/* "+": no permutation; ":": a missing value returns ':'. */
	while (!err &&
	       (c = getopt_long(argc, argv, "+:IDLFVc:m:o:n:l:h:t:p:s:N:rif",
				long_opts, NULL)) != -1)
		err = take_option(&a, c, given, prog, argv);
	if (!err && optind < argc)
		err = err_usage("%s: unexpected argument; see '%s --help'",
				argv[optind], prog);
	if (!err)
		err = run(prog, &a);
	free(a.ifaces);
	return err;
}
