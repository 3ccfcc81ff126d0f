/* SPDX-License-Identifier: GPL-2.0-only */
/* The rule grammar that add and del share. */
#include <errno.h>
#include <string.h>

#include "netlink.h"
#include "cmd.h"

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

/*
 * PREFIX proto {tcp|udp} port PORT[-PORT] [ACTION] [from PREFIX]
 * [dev IFACE] [route] [service NAME]. Everything is checked before any state is opened,
 * so a bad line never changes anything.
 */
int parse_rule(int argc, char **argv, bool with_action, struct rule *r)
{
	bool have_proto = false, have_port = false, have_action = false;
	const char *dev = NULL;
	int i, err;

	memset(r, 0, sizeof(*r));
	if (argc < 1)
		return err_usage("missing PREFIX; see 'splicer %s help'",
				 with_action ? "add" : "del");
	err = parse_prefix(argv[0], &r->k.dst, &r->k.dst_len);
	if (err)
		return err;

	for (i = 1; i < argc; i++) {
		const char *kw = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (with_action && is_keyword(kw, "route")) {
			r->v.flags |= SPLICER_RULE_ROUTE;
			continue;
		}
		if (with_action &&
		    (is_keyword(kw, "pass") || is_keyword(kw, "drop"))) {
			if (have_action)
				return err_usage("%s: more than one action",
						 kw);
			have_action = true;
			r->v.action = is_keyword(kw, "pass") ?
					      SPLICER_ACT_PASS :
					      SPLICER_ACT_DROP;
			continue;
		}
		if (!is_keyword(kw, "proto") && !is_keyword(kw, "port") &&
		    !is_keyword(kw, "from") && !is_keyword(kw, "dev") &&
		    !(with_action && (is_keyword(kw, "redirect") ||
				      is_keyword(kw, "service")))) {
			/* The grammar puts ACTION right after the ports. */
			if (with_action && !have_action && i >= 2 &&
			    is_keyword(argv[i - 2], "port"))
				return err_usage("%s: unknown action (redirect "
						 "PORT, pass or drop)",
						 kw);
			return err_usage("%s: unknown keyword", kw);
		}
		if (!val)
			return err_usage("%s: missing value", kw);
		i++;
		if (is_keyword(kw, "proto")) {
			err = parse_proto(val, &r->k.proto);
			have_proto = true;
		} else if (is_keyword(kw, "port")) {
			err = parse_port_range(val, &r->k.port_lo,
					       &r->k.port_hi);
			have_port = true;
		} else if (is_keyword(kw, "from")) {
			err = parse_prefix(val, &r->k.src, &r->k.src_len);
		} else if (is_keyword(kw, "dev")) {
			dev = val;
		} else if (is_keyword(kw, "service")) {
			err = parse_service(val, r->v.service);
		} else {
			if (have_action)
				return err_usage("%s: more than one action",
						 kw);
			have_action = true;
			r->v.action = SPLICER_ACT_REDIRECT;
			err = parse_addr_port(val, &r->v.to_addr,
					      &r->v.to_port);
		}
		if (err)
			return err;
	}
	if (!have_proto)
		return err_usage("missing 'proto tcp|udp'");
	if (!have_port)
		return err_usage("missing 'port PORT[-PORT]'");
	if (with_action && !have_action)
		return err_usage(
			"missing action (redirect PORT, pass or drop)");

	if (dev) {
		struct nl_link link;

		err = resolve_iface(dev, &link);
		if (err)
			return err;
		r->k.ifindex = link.ifindex;
	}
	return 0;
}
