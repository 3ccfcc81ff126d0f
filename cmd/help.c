/* SPDX-License-Identifier: GPL-2.0-only */
/* splicer help and splicer version. */
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "json.h"
#include "out.h"
#include "state.h"

/*
 * The one command table: dispatch, prefix resolution, help and (through
 * help's listing) the bash completion read it.
 */
const struct command commands[] = {
	{ "attach", do_attach, "attach IFACE [icmp-echo on|off]",
	  "Filter IFACE's ingress: create the clsact qdisc and splicer's tc\n"
	  "filters, and learn IFACE's IPv4 and IPv6 addresses (IPv6: not while\n"
	  "in duplicate address detection) for the SSH allowance.\n"
	  "icmp-echo on lets IFACE answer pings; off (the default) drops them.\n"
	  "Again on an attached IFACE: refresh its addresses and apply the\n"
	  "icmp-echo setting if given, change nothing else. Programs another\n"
	  "splicer build pinned are replaced in place first, on every attached\n"
	  "interface, rules and counters kept.\n" },
	{ "detach", do_detach, "detach IFACE [--purge]",
	  "Remove splicer's filter from IFACE (and the clsact qdisc if splicer\n"
	  "made it and nothing else uses it). Rules stay pinned for the next\n"
	  "attach; --purge on the last interface removes all pinned state and\n"
	  "splicer's routes.\n" },
	{ "add", do_add,
	  "add PREFIX proto {tcp|udp} port PORT[-PORT] ACTION [from PREFIX]\n"
	  "            [dev IFACE] [route] [service NAME]",
	  "ACTION := redirect PORT | redirect IPV4:PORT | redirect [IPV6]:PORT\n"
	  "          | pass | drop\n"
	  "Add a rule, or replace the action of the rule with the same match.\n"
	  "PREFIX is IPv4 or IPv6; from and a redirect address must be of its\n"
	  "family. redirect PORT steers new flows to the socket on\n"
	  "127.0.0.1:PORT (an IPv6 rule: [::1]:PORT);\n"
	  "route also adds the local route (table local, dev lo) that lets the\n"
	  "kernel deliver a non-local PREFIX to that socket. service NAME is\n"
	  "a label kept with the rule (list shows it).\n" },
	{ "del", do_del,
	  "del PREFIX proto {tcp|udp} port PORT[-PORT] [from PREFIX] "
	  "[dev IFACE]",
	  "Delete the rule with exactly this match, and its route when no\n"
	  "other rule asks for it.\n" },
	{ "list", do_list, "list",
	  "Print every rule with its packet and byte counters.\n" },
	{ "stats", do_stats,
	  "stats [--watch SECONDS] [--format text|json|prometheus]\n"
	  "            [--textfile DIR]",
	  "Print each attached interface's counters: passed by reason,\n"
	  "redirected, dropped by reason, in total and per family (IPv4,\n"
	  "IPv6); and the monitor's events.\n"
	  "--watch prints packet and byte rates per interface, reason and\n"
	  "rule every SECONDS, redrawn in place on a terminal, until SIGINT\n"
	  "or SIGTERM (-j: one stats object a line). --format prometheus\n"
	  "prints the Prometheus text format; --textfile DIR writes it to\n"
	  "DIR/splicer.prom atomically instead, for node-exporter's textfile\n"
	  "collector, and again every SECONDS with --watch.\n" },
	{ "batch", do_batch, "batch [--check] [[-f] FILE|-]",
	  "Make the changes of a batch file (standard input without FILE or\n"
	  "with -): one command a line, 'add RULE' or 'del RULE' as on the\n"
	  "command line, and 'flush' as the first command to start from an\n"
	  "empty rule set; '#' starts a comment. Every line is checked, del\n"
	  "of an absent rule included, before anything changes: one bad line\n"
	  "and nothing is applied, and the error names its line. The changes\n"
	  "are published as one new index. --check checks and changes\n"
	  "nothing.\n" },
	{ "apply", do_apply, "apply [--check] FILE|-",
	  "Make the rule set exactly the add lines of FILE, in one update:\n"
	  "rules not in FILE go, rules in it that did not change keep their\n"
	  "ids and counters. 'splicer save' writes such a file. Then attach\n"
	  "the interfaces of its 'attach IFACE [icmp-echo on|off]' lines\n"
	  "(icmp-echo off unless on); a missing one is a warning. The pinned\n"
	  "state is created if there is none. A bad line changes nothing, but\n"
	  "on a fresh pin root the interfaces the file names are attached\n"
	  "without rules: default deny with SSH, never wide open.\n" },
	{ "save", do_save, "save",
	  "Print the rule set as a batch file, in id order, that 'splicer\n"
	  "batch' (on an empty rule set) or 'splicer apply' restores.\n" },
	{ "flush", do_flush, "flush",
	  "Delete every rule and the routes splicer added. Only SSH to the\n"
	  "interfaces' own addresses and host-opened flows stay open.\n" },
	{ "monitor", do_monitor,
	  "monitor [-j] [dev IFACE] [verdict redirect|pass|drop]\n"
	  "            [reason NAME] [proto tcp|udp|icmp|icmpv6]",
	  "Print the datapath's decisions as they happen, one line (-j: one\n"
	  "JSON object) each: time, interface, protocol, source -> destination\n"
	  "(IPv4 or IPv6; ICMPv6 types by name),\n"
	  "verdict, reason and the rule that decided. Only new flows and\n"
	  "drops are told, not packets of flows the host already has. The\n"
	  "filters choose what is shown; NAME is a reason as stats prints it\n"
	  "(no_rule, rule_pass, ssh, redirected...). Events are emitted only\n"
	  "while a monitor runs, one at a time; those lost to a full buffer\n"
	  "are reported on stderr. Stops on SIGINT or SIGTERM.\n" },
	{ "watch", do_watch, "watch [--config FILE] [IFACE...]",
	  "Run until SIGTERM or SIGINT (exit 0; filters and rules stay):\n"
	  "apply FILE (default " DEFAULT_CONFIG ", or\n"
	  "$SPLICER_CONFIG) as 'splicer apply' does, then follow rtnetlink:\n"
	  "the SSH allowance follows every attached interface's IPv4 and IPv6\n"
	  "addresses,\n"
	  "and an interface of FILE's attach lines or of the command line is\n"
	  "attached whenever it appears, rules scoped to it by name moving to\n"
	  "its new index. SIGHUP applies FILE again. One line per event on\n"
	  "standard error, with <N> priority prefixes for journald.\n" },
	{ "help", do_help, "help [COMMAND]", "Print help.\n" },
	{ "version", do_version, "version", "Print the version.\n" },
};

const size_t n_commands = sizeof(commands) / sizeof(commands[0]);

void usage_of(const char *cmd, FILE *f)
{
	size_t i;

	if (cmd) {
		for (i = 0; i < n_commands; i++) {
			if (strcmp(cmd, commands[i].name))
				continue;
			fprintf(f, "Usage: splicer %s\n\n%s", commands[i].usage,
				commands[i].text);
			return;
		}
	}
	fprintf(f, "Usage: splicer [OPTIONS] COMMAND ...\n"
		   "       splicer COMMAND help\n\n"
		   "Stateful default-deny dual-stack (IPv4 and IPv6) ingress\n"
		   "firewall and transparent redirector at tc ingress.\n\n"
		   "Commands:\n");
	for (i = 0; i < n_commands; i++)
		fprintf(f, "  splicer %s\n", commands[i].usage);
	fprintf(f,
		"\nOptions:\n"
		"  -j, --json        JSON output (errors too)\n"
		"  -p, --pretty      pretty-printed JSON output\n"
		"  -q, --quiet       no informational output\n"
		"  -v, --verbose     libbpf's messages too\n"
		"  --pin-root DIR    pinned state (default %s,\n"
		"                    or $SPLICER_PIN_ROOT)\n"
		"  -h, --help        this help\n"
		"  -V, --version     the version\n"
		"\nA command may be abbreviated to a unique prefix (li = list).\n"
		"Called as map_update, map_delete or map_delete_elem, splicer\n"
		"takes those tools' command lines (map_update --help).\n"
		"Writers wait up to 10 s for each other's lock, or\n"
		"$SPLICER_LOCK_TIMEOUT seconds.\n"
		"\nExit codes:\n"
		"  0  success\n"
		"  1  bad usage or invalid input\n"
		"  2  kernel, BPF or netlink failure; missing privileges;\n"
		"     another writer kept the lock (nothing changed)\n"
		"  3  not attached, or no such rule\n",
		DEFAULT_PIN_ROOT);
}

const char *resolve_command(const char *word)
{
	char names[256] = "";
	const char *found = NULL;
	size_t i, hits = 0, len = strlen(word);

	for (i = 0; i < n_commands; i++) {
		if (!strcmp(word, commands[i].name))
			return commands[i].name;
		if (!len || strncmp(word, commands[i].name, len))
			continue;
		found = commands[i].name;
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s", hits++ ? ", " : "", found);
	}
	if (hits == 1)
		return found;
	if (hits)
		err_usage("%s: ambiguous command (%s); see 'splicer help'",
			  word, names);
	else
		err_usage("%s: unknown command; see 'splicer help'", word);
	return NULL;
}

bool wants_help(const char *cmd, int argc, char **argv)
{
	if (argc < 1 || (strcmp(argv[0], "help") && strcmp(argv[0], "-h") &&
			 strcmp(argv[0], "--help")))
		return false;
	usage_of(cmd, stdout);
	return true;
}

int do_help(int argc, char **argv)
{
	if (argc > 1)
		return err_usage("usage: splicer help [COMMAND]");
	if (argc == 1 && !resolve_command(argv[0]))
		return E_USAGE;
	usage_of(argc ? resolve_command(argv[0]) : NULL, stdout);
	return 0;
}

int do_version(int argc, char **argv)
{
	if (wants_help("version", argc, argv))
		return 0;
	if (argc)
		return err_usage("usage: splicer version");
	if (opts.json) {
		struct jw *w = jw_new(stdout, opts.pretty);

		jw_obj_begin(w, NULL);
		jw_str(w, "version", SPLICER_VERSION);
		jw_obj_end(w);
		jw_free(w);
		putchar('\n');
		return 0;
	}
	printf("splicer %s\n", SPLICER_VERSION);
	return 0;
}
