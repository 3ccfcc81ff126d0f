// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-packet cost of the attached datapath, through BPF_PROG_TEST_RUN.
 *
 *   datapath PIN_ROOT IFACE REDIRECT_TO NO_MATCH_TO LISTENER [REPEAT [CALLS]]
 *
 * Runs the pinned ingress program of PIN_ROOT as if packets arrived on
 * IFACE, in the caller's network namespace, for four scenarios: a TCP SYN
 * to REDIRECT_TO (a.b.c.d:port, which a redirect rule must match, its
 * target LISTENER listening), a SYN to NO_MATCH_TO (no rule), a reply to a
 * connection this program opens itself, and an ARP request. (A test run
 * cannot complete an assign, see below, so the redirect figure is the
 * whole path up to and including the assign attempt.) Each call of
 * each scenario repeats the packet REPEAT times; the figure is the median
 * over CALLS calls of the kernel's mean ns per run. The two floor programs
 * run in the same loop. Every scenario is checked first: it must end with
 * the reason it is named after, or the figures would measure another path.
 * Prints one JSON object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>

#include "splicer.h"
#include "floor.skel.h"

#define MAX_CALLS 101

struct frame {
	unsigned char data[128];
	__u32 len;
};

static void die(const char *what)
{
	fprintf(stderr, "datapath: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void parse_ap(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "datapath: %s: want ADDR:PORT\n", s);
		exit(1);
	}
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "datapath: %s: bad address\n", s);
		exit(1);
	}
}

static void tcp_frame(struct frame *f, __be32 saddr, __be16 sport, __be32 daddr,
		      __be16 dport, __u8 flags)
{
	struct ethhdr *eth = (void *)f->data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	memset(f, 0, sizeof(*f));
	eth->h_proto = htons(ETH_P_IP);
	memcpy(eth->h_dest, "\x02\0\0\0\0\1", ETH_ALEN);
	memcpy(eth->h_source, "\x02\0\0\0\0\2", ETH_ALEN);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
	ip->saddr = saddr;
	ip->daddr = daddr;
	tcp->source = sport;
	tcp->dest = dport;
	tcp->doff = 5;
	tcp->seq = htonl(1000);
	tcp->window = htons(64240);
	((__u8 *)tcp)[13] = flags;
	f->len = sizeof(*eth) + sizeof(*ip) + sizeof(*tcp);
}

static void arp_frame(struct frame *f)
{
	static const unsigned char arp[28] = {
		0, 1, 8, 0, 6, 4, 0,  1, /* ethernet/IPv4 request */
		2, 0, 0, 0, 0, 2, 10, 1, 0, 2, /* sender */
		0, 0, 0, 0, 0, 0, 10, 1, 0, 1, /* target */
	};
	struct ethhdr *eth = (void *)f->data;

	memset(f, 0, sizeof(*f));
	memset(eth->h_dest, 0xff, ETH_ALEN);
	memcpy(eth->h_source, "\x02\0\0\0\0\2", ETH_ALEN);
	eth->h_proto = htons(ETH_P_ARP);
	memcpy(eth + 1, arp, sizeof(arp));
	f->len = sizeof(*eth) + sizeof(arp);
}

struct scenario {
	const char *name;
	int prog_fd;
	struct frame f;
	int want_reason; /* -1: a floor, not checked */
	double ns[MAX_CALLS];
};

static __u32 ifindex, slot;
static int stats_fd;

static __u64 reason_packets(int reason)
{
	int ncpu = libbpf_num_possible_cpus();
	struct iface_stats *v = calloc(ncpu, sizeof(*v));
	__u64 sum = 0;
	int i;

	if (!v || bpf_map_lookup_elem(stats_fd, &slot, v))
		die("read iface_stats");
	for (i = 0; i < ncpu; i++)
		sum += v[i].reason[reason].packets;
	free(v);
	return sum;
}

static __u32 run(struct scenario *s, __u32 repeat)
{
	struct __sk_buff ctx = { .ingress_ifindex = ifindex };
	unsigned char out[sizeof(s->f.data)];
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = s->f.data,
		    .data_size_in = s->f.len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(s->prog_fd, &t))
		die(s->name);
	return t.duration;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sockaddr_in redir, nomatch, lis, srv = { .sin_family = AF_INET };
	struct splicer_bpf_floor *fl;
	struct scenario sc[6];
	socklen_t alen = sizeof(srv);
	__u32 repeat = 200000, calls = 7, i, c;
	int lfd, sfd, cfd, prog, ifaces_fd;
	char path[4096];
	struct iface_cfg cfg;
	struct sockaddr_in peer;

	if (argc < 6) {
		fprintf(stderr, "usage: datapath PIN_ROOT IFACE REDIRECT_TO "
				"NO_MATCH_TO LISTENER [REPEAT [CALLS]]\n");
		return 1;
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex)
		die(argv[2]);
	parse_ap(argv[3], &redir);
	parse_ap(argv[4], &nomatch);
	parse_ap(argv[5], &lis);
	if (argc > 6)
		repeat = strtoul(argv[6], NULL, 10);
	if (argc > 7)
		calls = strtoul(argv[7], NULL, 10);
	if (calls < 1 || calls > MAX_CALLS || !repeat) {
		fprintf(stderr, "datapath: bad REPEAT or CALLS\n");
		return 1;
	}

	snprintf(path, sizeof(path), "%s/%s", argv[1],
		 SPLICER_PROG_INGRESS_PIN);
	prog = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", argv[1], SPLICER_MAP_IFACE_STATS);
	stats_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", argv[1], SPLICER_MAP_IFACES);
	ifaces_fd = bpf_obj_get(path);
	if (prog < 0 || stats_fd < 0 || ifaces_fd < 0)
		die("open pinned state");
	if (bpf_map_lookup_elem(ifaces_fd, &ifindex, &cfg))
		die("interface not attached");
	slot = cfg.slot;

	/* The redirect target, and a connection to reply to. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (void *)&lis, sizeof(lis)) || listen(lfd, 8))
		die("listen on LISTENER");
	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sfd = socket(AF_INET, SOCK_STREAM, 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sfd < 0 || cfd < 0 || bind(sfd, (void *)&srv, sizeof(srv)) ||
	    listen(sfd, 1) || getsockname(sfd, (void *)&srv, &alen) ||
	    connect(cfd, (void *)&srv, sizeof(srv)))
		die("open a local connection");
	alen = sizeof(peer);
	if (getsockname(cfd, (void *)&peer, &alen))
		die("getsockname");

	fl = splicer_bpf_floor__open();
	if (!fl)
		die("open floors");
	fl->rodata->listen_addr = lis.sin_addr.s_addr;
	fl->rodata->listen_port = lis.sin_port;
	if (splicer_bpf_floor__load(fl))
		die("load floors");

	memset(sc, 0, sizeof(sc));
	sc[0].name = "floor_return";
	sc[0].prog_fd = bpf_program__fd(fl->progs.floor_return);
	sc[1].name = "floor_lookup_assign";
	sc[1].prog_fd = bpf_program__fd(fl->progs.floor_assign);
	sc[2].name = "redirect";
	sc[3].name = "no_match";
	sc[4].name = "established";
	sc[5].name = "arp";
	for (i = 2; i < 6; i++)
		sc[i].prog_fd = prog;
	tcp_frame(&sc[0].f, htonl(0x0a010002), htons(40000),
		  redir.sin_addr.s_addr, redir.sin_port, 0x02 /* SYN */);
	sc[1].f = sc[0].f;
	sc[2].f = sc[0].f;
	tcp_frame(&sc[3].f, htonl(0x0a010002), htons(40000),
		  nomatch.sin_addr.s_addr, nomatch.sin_port, 0x02 /* SYN */);
	tcp_frame(&sc[4].f, srv.sin_addr.s_addr, srv.sin_port,
		  peer.sin_addr.s_addr, peer.sin_port, 0x10 /* ACK */);
	arp_frame(&sc[5].f);
	sc[0].want_reason = sc[1].want_reason = -1;
	/*
	 * The kernel refuses bpf_sk_assign() in a test run (the skb is not
	 * at tc ingress): a redirect goes all the way to the assign attempt
	 * and ends as no_listener, exactly as the floor's attempt fails.
	 */
	sc[2].want_reason = REASON_DROP_NO_LISTENER;
	sc[3].want_reason = REASON_DROP_NO_RULE;
	sc[4].want_reason = REASON_PASS_ESTABLISHED;
	sc[5].want_reason = REASON_PASS_ARP;

	for (i = 0; i < 6; i++) {
		if (sc[i].want_reason < 0)
			continue;
		__u64 counts[REASON_MAX];
		int r;

		for (r = 0; r < REASON_MAX; r++)
			counts[r] = reason_packets(r);
		run(&sc[i], 1);
		for (r = 0; r < REASON_MAX; r++)
			if (reason_packets(r) != counts[r])
				break;
		if (r != sc[i].want_reason) {
			fprintf(stderr,
				"datapath: %s: the packet ended with "
				"reason %d, not %d: check the rules\n",
				sc[i].name, r, sc[i].want_reason);
			return 2;
		}
	}
	for (c = 0; c < calls; c++)
		for (i = 0; i < 6; i++)
			sc[i].ns[c] = run(&sc[i], repeat);

	printf("{");
	for (i = 0; i < 6; i++) {
		qsort(sc[i].ns, calls, sizeof(double), cmp_double);
		printf("%s\"%s\":%.1f", i ? "," : "", sc[i].name,
		       sc[i].ns[calls / 2]);
	}
	printf("}\n");
	close(cfd);
	close(sfd);
	close(lfd);
	splicer_bpf_floor__destroy(fl);
	return 0;
}
