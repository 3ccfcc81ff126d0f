// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-packet cost of the attached datapath, through BPF_PROG_TEST_RUN.
 *
 *   datapath PIN_ROOT IFACE REDIRECT_TO NO_MATCH_TO LISTENER [REPEAT [CALLS]]
 *
 * Runs the pinned ingress program of PIN_ROOT as if packets arrived on
 * IFACE, in the caller's network namespace, for these scenarios: a TCP
 * SYN to REDIRECT_TO (which a redirect rule must match, its target
 * LISTENER listening), a SYN to NO_MATCH_TO (no rule), a reply to a
 * connection this program opens itself, and an ARP request (IPv6: a
 * neighbour solicitation for fd00:b1:1::1).
 * The three addresses are of one family, a.b.c.d:port or [ADDR6]:port,
 * and so are the scenarios' frames (an IPv6 reply is one over ::1).
 * (A test run cannot complete an assign, see below, so the redirect
 * figure is the whole path up to and including the assign attempt.) Each
 * call of each scenario repeats the packet REPEAT times; the figure is
 * the median over CALLS calls of the kernel's mean ns per run. The floor
 * programs run in the same loop, all three in either family's run: the
 * lookup+assign floor of each family looks up a listener on LISTENER's
 * port, LISTENER itself for its own family and the other family's
 * loopback address for the other (this program listens there too), so
 * that both families' figures can be divided by the same floor. Every
 * scenario is checked first: it must end with the reason it is named
 * after, or the figures would measure another path. Prints one JSON
 * object.
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
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>

#include "splicer.h"
#include "floor.skel.h"

#define MAX_CALLS 101
#define MAX_SCENARIOS 8

struct frame {
	unsigned char data[128];
	__u32 len;
};

static void die(const char *what)
{
	fprintf(stderr, "datapath: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ADDR:PORT, a.b.c.d:port or [ADDR6]:port, into sa (port included). */
static void parse_ap(const char *s, struct sockaddr_in6 *sa6)
{
	struct sockaddr_in *sa = (void *)sa6;
	char host[64];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t len;

	if (!colon)
		goto bad;
	len = colon - s;
	if (*s == '[') {
		if (len < 2 || s[len - 1] != ']')
			goto bad;
		h = s + 1;
		len -= 2;
	}
	if (len >= sizeof(host))
		goto bad;
	memcpy(host, h, len);
	host[len] = 0;
	memset(sa6, 0, sizeof(*sa6));
	if (h != s) {
		sa6->sin6_family = AF_INET6;
		sa6->sin6_port = htons(atoi(colon + 1));
		if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1)
			return;
	} else {
		sa->sin_family = AF_INET;
		sa->sin_port = htons(atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
			return;
	}
bad:
	fprintf(stderr, "datapath: %s: want a.b.c.d:PORT or [ADDR6]:PORT\n", s);
	exit(1);
}

static socklen_t sa_len(const struct sockaddr_in6 *sa)
{
	return sa->sin6_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					     sizeof(struct sockaddr_in);
}

/*
 * A TCP segment from src to dst (sockaddrs of one family, ports
 * included) in an Ethernet frame.
 */
static void tcp_frame(struct frame *f, const struct sockaddr_in6 *src,
		      const struct sockaddr_in6 *dst, __u8 flags)
{
	const struct sockaddr_in *s4 = (const void *)src;
	const struct sockaddr_in *d4 = (const void *)dst;
	struct ethhdr *eth = (void *)f->data;
	struct iphdr *ip = (void *)(eth + 1);
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct tcphdr *tcp;

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, "\x02\0\0\0\0\1", ETH_ALEN);
	memcpy(eth->h_source, "\x02\0\0\0\0\2", ETH_ALEN);
	if (dst->sin6_family == AF_INET6) {
		eth->h_proto = htons(ETH_P_IPV6);
		tcp = (void *)(ip6 + 1);
		ip6->version = 6;
		ip6->payload_len = htons(sizeof(*tcp));
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = 64;
		ip6->saddr = src->sin6_addr;
		ip6->daddr = dst->sin6_addr;
		f->len = sizeof(*eth) + sizeof(*ip6) + sizeof(*tcp);
	} else {
		eth->h_proto = htons(ETH_P_IP);
		tcp = (void *)(ip + 1);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
		ip->saddr = s4->sin_addr.s_addr;
		ip->daddr = d4->sin_addr.s_addr;
		f->len = sizeof(*eth) + sizeof(*ip) + sizeof(*tcp);
	}
	tcp->source = src->sin6_port;
	tcp->dest = dst->sin6_port;
	tcp->doff = 5;
	tcp->seq = htonl(1000);
	tcp->window = htons(64240);
	((__u8 *)tcp)[13] = flags;
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

/* A neighbour solicitation from src for fd00:b1:1::1, as RFC 4861 has it. */
static void nd_frame(struct frame *f, const struct sockaddr_in6 *src)
{
	struct ethhdr *eth = (void *)f->data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	unsigned char *icmp = (void *)(ip6 + 1);

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, "\x33\x33\xff\0\0\1", ETH_ALEN);
	memcpy(eth->h_source, "\x02\0\0\0\0\2", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->payload_len = htons(24);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = 255;
	ip6->saddr = src->sin6_addr;
	inet_pton(AF_INET6, "ff02::1:ff00:1", &ip6->daddr);
	icmp[0] = 135; /* type: neighbour solicitation, code 0 */
	inet_pton(AF_INET6, "fd00:b1:1::1", icmp + 8); /* the target */
	f->len = sizeof(*eth) + sizeof(*ip6) + 24;
}

struct scenario {
	const char *name;
	int prog_fd;
	struct frame f;
	int want_reason; /* -1: a floor, not checked */
	double ns[MAX_CALLS];
};

static __u32 ifindex, slot;
static int stats_fd, stats6_fd = -1;

/*
 * Packets counted with reason so far on IFACE: IPv4 frames in
 * iface_stats (its first REASON_MAX_IPV4 reasons), IPv6 frames in
 * iface_stats6 (all of them).
 */
static __u64 reason_packets(int v6, int reason)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	size_t size = v6 ? sizeof(struct iface_stats6) :
			   sizeof(struct iface_stats);
	struct counter *c;
	char *v = calloc(ncpu, size);
	__u64 sum = 0;

	if (!v || bpf_map_lookup_elem(v6 ? stats6_fd : stats_fd, &slot, v))
		die(v6 ? "read iface_stats6" : "read iface_stats");
	for (i = 0; i < ncpu; i++) {
		c = (struct counter *)(v + i * size);
		sum += c[reason].packets;
	}
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

/* Checks the scenario's packet ends with the reason it is named after. */
static void check(struct scenario *s, int v6)
{
	int max = v6 ? REASON_MAX : REASON_MAX_IPV4, r;
	__u64 counts[REASON_MAX];

	for (r = 0; r < max; r++)
		counts[r] = reason_packets(v6, r);
	run(s, 1);
	for (r = 0; r < max; r++)
		if (reason_packets(v6, r) != counts[r])
			break;
	if (r != s->want_reason) {
		fprintf(stderr,
			"datapath: %s: the packet ended with reason %d, "
			"not %d: check the rules\n",
			s->name, r, s->want_reason);
		exit(2);
	}
}

/* A TCP listener on sa (backlog n), or die. */
static int listen_on(struct sockaddr_in6 *sa, int n)
{
	int fd = socket(sa->sin6_family, SOCK_STREAM, 0);
	socklen_t len = sa_len(sa);

	if (fd < 0 || bind(fd, (void *)sa, len) || listen(fd, n) ||
	    getsockname(fd, (void *)sa, &len))
		die("listen");
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 redir, nomatch, lis, other, srv, peer, src;
	struct sockaddr_in *lis4, *other4;
	struct splicer_bpf_floor *fl;
	struct scenario sc[MAX_SCENARIOS];
	socklen_t alen;
	__u32 repeat = 200000, calls = 7, i, c, n;
	int lfd, ofd, sfd, cfd, prog, ifaces_fd, v6;
	char path[4096];
	struct iface_cfg cfg;

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
	v6 = redir.sin6_family == AF_INET6;
	if (nomatch.sin6_family != redir.sin6_family ||
	    lis.sin6_family != redir.sin6_family) {
		fprintf(stderr, "datapath: REDIRECT_TO, NO_MATCH_TO and "
				"LISTENER must be of one family\n");
		return 1;
	}
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
	if (v6) {
		snprintf(path, sizeof(path), "%s/%s", argv[1],
			 SPLICER_MAP_IFACE_STATS6);
		stats6_fd = bpf_obj_get(path);
		if (stats6_fd < 0)
			die("open iface_stats6");
	}
	if (bpf_map_lookup_elem(ifaces_fd, &ifindex, &cfg))
		die("interface not attached");
	slot = cfg.slot;

	/*
	 * The redirect target, the other family's floor listener on the
	 * same port, and a connection to reply to.
	 */
	lfd = listen_on(&lis, 8);
	memset(&other, 0, sizeof(other));
	other.sin6_port = lis.sin6_port;
	other4 = (void *)&other;
	if (v6) {
		other4->sin_family = AF_INET;
		other4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		other.sin6_family = AF_INET6;
		other.sin6_addr = in6addr_loopback;
	}
	ofd = listen_on(&other, 8);
	memset(&srv, 0, sizeof(srv));
	srv.sin6_family = lis.sin6_family;
	if (v6)
		srv.sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&srv)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	sfd = listen_on(&srv, 1);
	cfd = socket(srv.sin6_family, SOCK_STREAM, 0);
	if (cfd < 0 || connect(cfd, (void *)&srv, sa_len(&srv)))
		die("open a local connection");
	alen = sizeof(peer);
	if (getsockname(cfd, (void *)&peer, &alen))
		die("getsockname");

	/* The redirect and no-match SYNs come from 10.1.0.2 or fd00:b1:1::2. */
	memset(&src, 0, sizeof(src));
	src.sin6_family = lis.sin6_family;
	src.sin6_port = htons(40000);
	if (v6)
		inet_pton(AF_INET6, "fd00:b1:1::2", &src.sin6_addr);
	else
		((struct sockaddr_in *)&src)->sin_addr.s_addr =
			htonl(0x0a010002);

	fl = splicer_bpf_floor__open();
	if (!fl)
		die("open floors");
	lis4 = (void *)(v6 ? &other : &lis);
	fl->rodata->listen_addr = lis4->sin_addr.s_addr;
	memcpy((void *)fl->rodata->listen_addr6,
	       v6 ? &lis.sin6_addr : &other.sin6_addr, 16);
	inet_pton(AF_INET6, "fd00:b1:1::2", (void *)fl->rodata->src_addr6);
	fl->rodata->listen_port = lis.sin6_port;
	if (splicer_bpf_floor__load(fl))
		die("load floors");

	memset(sc, 0, sizeof(sc));
	n = 0;
	sc[n].name = "floor_return";
	sc[n++].prog_fd = bpf_program__fd(fl->progs.floor_return);
	sc[n].name = "floor_lookup_assign";
	sc[n++].prog_fd = bpf_program__fd(fl->progs.floor_assign);
	sc[n].name = "floor_lookup_assign6";
	sc[n++].prog_fd = bpf_program__fd(fl->progs.floor_assign6);
	/* The floors do not read the frame: give them the redirect's SYN. */
	tcp_frame(&sc[0].f, &src, &redir, 0x02 /* SYN */);
	sc[1].f = sc[2].f = sc[0].f;
	for (i = 0; i < n; i++)
		sc[i].want_reason = -1;
	/*
	 * The kernel refuses bpf_sk_assign() in a test run (the skb is not
	 * at tc ingress): a redirect goes all the way to the assign attempt
	 * and ends as no_listener, exactly as the floor's attempt fails.
	 */
	sc[n].name = "redirect";
	sc[n].f = sc[0].f;
	sc[n++].want_reason = REASON_DROP_NO_LISTENER;
	sc[n].name = "no_match";
	tcp_frame(&sc[n].f, &src, &nomatch, 0x02 /* SYN */);
	sc[n++].want_reason = REASON_DROP_NO_RULE;
	sc[n].name = "established";
	tcp_frame(&sc[n].f, &srv, &peer, 0x10 /* ACK */);
	sc[n++].want_reason = REASON_PASS_ESTABLISHED;
	if (v6) {
		sc[n].name = "nd";
		nd_frame(&sc[n].f, &src);
		sc[n++].want_reason = REASON_PASS_ND;
	} else {
		sc[n].name = "arp";
		arp_frame(&sc[n].f);
		sc[n++].want_reason = REASON_PASS_ARP;
	}
	for (i = 0; i < n; i++) {
		if (sc[i].want_reason < 0)
			continue;
		sc[i].prog_fd = prog;
		check(&sc[i], v6);
	}
	for (c = 0; c < calls; c++)
		for (i = 0; i < n; i++)
			sc[i].ns[c] = run(&sc[i], repeat);

	printf("{");
	for (i = 0; i < n; i++) {
		qsort(sc[i].ns, calls, sizeof(double), cmp_double);
		printf("%s\"%s\":%.1f", i ? "," : "", sc[i].name,
		       sc[i].ns[calls / 2]);
	}
	printf("}\n");
	close(cfd);
	close(sfd);
	close(ofd);
	close(lfd);
	splicer_bpf_floor__destroy(fl);
	return 0;
}
