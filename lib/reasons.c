/* SPDX-License-Identifier: GPL-2.0-only */
/* The datapath's reasons (bpf/splicer.h) by name and verdict. */
#include <string.h>

#include "grammar.h"
#include "reasons.h"

static const struct {
	enum reason_group group;
	const char *name;
} reasons[REASON_MAX] = {
	[REASON_PASS_ARP] = { REASON_PASSED, "arp" },
	[REASON_PASS_DHCP] = { REASON_PASSED, "dhcp" },
	[REASON_PASS_SSH] = { REASON_PASSED, "ssh" },
	[REASON_PASS_ESTABLISHED] = { REASON_PASSED, "established" },
	[REASON_PASS_RULE] = { REASON_PASSED, "rule_pass" },
	[REASON_PASS_LOOPBACK] = { REASON_PASSED, "loopback" },
	[REASON_PASS_ICMP] = { REASON_PASSED, "icmp" },
	[REASON_REDIRECTED] = { REASON_REDIRECT, "redirected" },
	[REASON_DROP_NO_RULE] = { REASON_DROPPED, "no_rule" },
	[REASON_DROP_RULE] = { REASON_DROPPED, "rule_drop" },
	[REASON_DROP_NO_LISTENER] = { REASON_DROPPED, "no_listener" },
	[REASON_DROP_NOT_IP] = { REASON_DROPPED, "not_ip" },
	[REASON_DROP_MALFORMED] = { REASON_DROPPED, "malformed" },
	[REASON_DROP_FRAGMENT] = { REASON_DROPPED, "fragment" },
	[REASON_DROP_VLAN] = { REASON_DROPPED, "vlan" },
	[REASON_PASS_ND] = { REASON_PASSED, "nd" },
	[REASON_DROP_EXT_HEADER] = { REASON_DROPPED, "ext_header" },
};

const char *reason_name(unsigned int r)
{
	return r < REASON_MAX ? reasons[r].name : "?";
}

const char *reason_verdict(unsigned int r)
{
	static const char *const verdicts[] = { "pass", "redirect", "drop" };

	return r < REASON_MAX ? verdicts[reasons[r].group] : "?";
}

int reason_by_name(const char *name)
{
	int r;

	for (r = 0; r < REASON_MAX; r++)
		if (!strcmp(name, reasons[r].name))
			return r;
	return -1;
}

enum reason_group reason_group(unsigned int r)
{
	return r < REASON_MAX ? reasons[r].group : REASON_DROPPED;
}

const char *reason_group_name(enum reason_group g)
{
	static const char *const names[] = { "passed", "redirected",
					     "dropped" };

	return names[g];
}
