/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * stats --format prometheus: the counters in the Prometheus text
 * exposition format (version 0.0.4), to stdout or atomically into a
 * directory that node-exporter's textfile collector reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out.h"
#include "prom.h"
#include "reasons.h"
#include "snapshot.h"

/* A label value with backslash, double quote and newline escaped. */
static void put_value(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * One series per interface, family, verdict and reason: family "ipv4"
 * and "ipv6" for the reasons each counts, "none" for frames of neither
 * family (not_ip, vlan); summed over family they are stats -j's totals.
 */
static void iface_series(FILE *f, const struct snapshot *s, const char *name,
			 bool bytes)
{
	static const char *const fam_names[] = { "ipv4", "ipv6", "none" };
	const struct counter *c;
	size_t i;
	int r, fam;

	for (i = 0; i < s->n_ifs; i++) {
		for (fam = 0; fam < 3; fam++) {
			for (r = 0; r < REASON_MAX; r++) {
				if (fam == 0 && !reason_of_family(r, AF_INET))
					continue;
				if (fam == 1 && !reason_of_family(r, AF_INET6))
					continue;
				if (fam == 2 && (r >= REASON_MAX_IPV4 ||
						 reason_of_family(r, AF_INET)))
					continue;
				c = fam == 1 ? &s->ifs[i].st6.reason[r] :
					       &s->ifs[i].st.reason[r];
				fprintf(f, "%s{iface=", name);
				put_value(f, s->ifs[i].name);
				fprintf(f,
					",family=\"%s\",verdict=\"%s\","
					"reason=\"%s\"} %llu\n",
					fam_names[fam], reason_verdict(r),
					reason_name(r),
					(unsigned long long)(bytes ? c->bytes :
								     c->packets));
			}
		}
	}
}

static void rule_series(FILE *f, const struct snapshot *s, const char *name,
			bool bytes)
{
	char match[RULE_MATCH_LEN], action[RULE_ACTION_LEN];
	char service[SPLICER_SERVICE_LEN];
	size_t i;

	for (i = 0; i < s->n_rules; i++) {
		const struct rule *r = &s->rules[i];

		rule_words(r, match, sizeof(match), action, sizeof(action));
		snprintf(service, sizeof(service), "%.*s",
			 SPLICER_SERVICE_LEN - 1, r->v.service);
		fprintf(f, "%s{rule=\"%u\",family=\"%s\",match=", name, r->v.id,
			r->k.family == AF_INET6 ? "ipv6" : "ipv4");
		put_value(f, match);
		fputs(",action=", f);
		put_value(f, action);
		fputs(",service=", f);
		put_value(f, service);
		fprintf(f, "} %llu\n",
			(unsigned long long)(bytes ? s->rule_c[i].bytes :
						     s->rule_c[i].packets));
	}
}

int prom_write(FILE *f, const struct snapshot *s)
{
	size_t i;

	family(f, "splicer_packets_total", "counter",
	       "Packets splicer decided at tc ingress, by interface, family "
	       "(ipv4, ipv6, none), verdict and reason.");
	iface_series(f, s, "splicer_packets_total", false);
	family(f, "splicer_bytes_total", "counter",
	       "Bytes of the packets splicer decided, by interface, family, "
	       "verdict and reason.");
	iface_series(f, s, "splicer_bytes_total", true);
	family(f, "splicer_interface_attached", "gauge",
	       "1 if splicer's filter is on the interface, else 0.");
	for (i = 0; i < s->n_ifs; i++) {
		fputs("splicer_interface_attached{iface=", f);
		put_value(f, s->ifs[i].name);
		fprintf(f, "} %d\n", s->ifs[i].attached);
	}
	family(f, "splicer_rule_packets_total", "counter",
	       "Packets each rule decided.");
	rule_series(f, s, "splicer_rule_packets_total", false);
	family(f, "splicer_rule_bytes_total", "counter",
	       "Bytes of the packets each rule decided.");
	rule_series(f, s, "splicer_rule_bytes_total", true);
	family(f, "splicer_rules", "gauge", "Rules in the rule set.");
	fprintf(f, "splicer_rules %zu\n", s->n_rules);
	if (s->mon.present) {
		family(f, "splicer_monitor_listening", "gauge",
		       "1 while a monitor's heartbeat is fresh, else 0.");
		fprintf(f, "splicer_monitor_listening %d\n", s->mon.listening);
		family(f, "splicer_monitor_events_total", "counter",
		       "Events the datapath emitted for monitors.");
		fprintf(f, "splicer_monitor_events_total %llu\n",
			(unsigned long long)s->mon.c.emitted);
		family(f, "splicer_monitor_events_lost_total", "counter",
		       "Events lost because the monitor's ring buffer was "
		       "full.");
		fprintf(f, "splicer_monitor_events_lost_total %llu\n",
			(unsigned long long)s->mon.c.lost);
	}
	return 0;
}

static int file_error(int err, const char *path)
{
	if (err == -ENOENT || err == -ENOTDIR)
		return err_usage("%s: no such directory", path);
	if (err == -EACCES || err == -EPERM || err == -EROFS)
		return err_usage("%s: not writable: %s", path, strerror(-err));
	return err_kernel(err, "%s", path);
}

/*
 * The collector may read the file at any moment: it must see the old
 * content or the new, never a part. So the new one is written beside it
 * under a name the collector ignores (not *.prom), flushed to disk, and
 * renamed over it; then the directory is synced so the rename lasts.
 */
int prom_textfile(const char *dir, const struct snapshot *s)
{
	char tmp[4200], path[4200];
	int fd, dfd, err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/splicer.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s/.splicer.prom.XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd < 0)
		return file_error(-errno, dir);
	f = fdopen(fd, "w");
	if (!f) {
		err = file_error(-errno, tmp);
		close(fd);
		goto out;
	}
	/* mkstemp makes it 0600; the collector may run as another user */
	if (fchmod(fd, 0644))
		err = file_error(-errno, tmp);
	if (!err)
		err = prom_write(f, s);
	if (!err && (fflush(f) || fsync(fd)))
		err = file_error(-errno, tmp);
	if (fclose(f) && !err)
		err = file_error(-errno, tmp);
	if (!err && rename(tmp, path))
		err = file_error(-errno, path);
	if (!err) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (err)
		unlink(tmp);
	return err;
}
