/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The program, packet by packet: loads the real object (so the verifier
 * runs and its instruction count is checked against a budget), fills the
 * real maps with the world of world.h, and feeds frames through
 * BPF_PROG_TEST_RUN. "cases" runs the table below, each line a stated
 * expectation; "fuzz SEED N" feeds N random and mutated frames and holds
 * every verdict against the reference classifier; "monitor" checks when
 * events are emitted and lost. The table and the fuzzer also read the
 * event ring: whenever a monitor's heartbeat is fresh, each decision
 * about a new flow or a drop must come with one event that tells it.
 * Run it as root in its own network namespace with HOST and PEER on lo
 * (tests/110-prog.bats).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "arena.h"
#include "pinroot.h"
#include "rng.h"
#include "splicer.skel.h"
#include "world.h"

static struct splicer_bpf *skel;
static struct state st;
static int prog_fd;

/* The events ring as a monitor reads it, and what the last run put there. */
static struct ring_buffer *ring;
static bool monitor_on;
static int n_events;
static struct splicer_event last_event;

/* ------------------------------------------------------------ the world */

static int sock_at(int type, __u32 addr, __u16 port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(addr) };
	int one = 1, fd = socket(AF_INET, type, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (void *)&a, sizeof(a))) {
		perror("prog_test: socket");
		exit(2);
	}
	return fd;
}

static void connect_to(int fd, __u32 addr, __u16 port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(addr) };

	if (connect(fd, (void *)&a, sizeof(a))) {
		perror("prog_test: connect");
		exit(2);
	}
}

static int sock6_at(int type, const __u8 *addr, __u16 port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons(port) };
	int one = 1, fd = socket(AF_INET6, type, 0);

	memcpy(&a.sin6_addr, addr, 16);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
	    bind(fd, (void *)&a, sizeof(a))) {
		perror("prog_test: socket6");
		exit(2);
	}
	return fd;
}

static void connect6_to(int fd, const __u8 *addr, __u16 port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons(port) };

	memcpy(&a.sin6_addr, addr, 16);
	if (connect(fd, (void *)&a, sizeof(a))) {
		perror("prog_test: connect6");
		exit(2);
	}
}

/* The IPv6 twins of open_sockets()'s: the same ports on HOST6 and PEER6. */
static void open_sockets6(void)
{
	int l = sock6_at(SOCK_STREAM, host6, LISTEN_PORT);
	int c = sock6_at(SOCK_STREAM, peer6, CLIENT_PORT);
	int u = sock6_at(SOCK_DGRAM, host6, UDP_CONN_PORT);

	if (listen(l, 4)) {
		perror("prog_test: listen6");
		exit(2);
	}
	connect6_to(c, host6, LISTEN_PORT);
	if (accept(l, NULL, NULL) < 0) {
		perror("prog_test: accept6");
		exit(2);
	}
	connect6_to(u, peer6, UDP_PEER_PORT);
	sock6_at(SOCK_DGRAM, host6, UDP_OPEN_PORT);
}

static void open_sockets(void)
{
	int l = sock_at(SOCK_STREAM, HOST, LISTEN_PORT);
	int c = sock_at(SOCK_STREAM, PEER, CLIENT_PORT);
	int u = sock_at(SOCK_DGRAM, HOST, UDP_CONN_PORT);

	if (listen(l, 4)) {
		perror("prog_test: listen");
		exit(2);
	}
	connect_to(c, HOST, LISTEN_PORT);
	if (accept(l, NULL, NULL) < 0) {
		perror("prog_test: accept");
		exit(2);
	}
	connect_to(u, PEER, UDP_PEER_PORT);
	sock_at(SOCK_DGRAM, HOST, UDP_OPEN_PORT);
	/* every descriptor stays open until the process exits */
}

static __u64 processed_insns(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtoull(p + 10, NULL, 10) : 0;
}

/* Loads the object; returns the verifier's processed-instruction count. */
static __u64 load(void)
{
	static char log[1 << 16];
	struct iface_cfg cfg[] = {
		{ .slot = 1 },
		{ .slot = 2, .flags = SPLICER_IFACE_ICMP_ECHO },
		{ .slot = 3, .flags = SPLICER_IFACE_LOOPBACK }
	};
	__u32 ifs[] = { IF_A, IF_ECHO, IF_LO };
	struct iface_addr6 a6;
	struct iface_addr a;
	__u8 one = 1;
	size_t i;
	int err;

	skel = splicer_bpf__open();
	if (!skel) {
		fprintf(stderr, "prog_test: open: %s\n", strerror(errno));
		exit(2);
	}
	bpf_program__set_log_buf(skel->progs.splicer_ingress, log, sizeof(log));
	bpf_program__set_log_level(skel->progs.splicer_ingress, 4 /* stats */);
	if (splicer_bpf__load(skel)) {
		fprintf(stderr, "prog_test: load: %s\n%s", strerror(errno),
			log);
		exit(2);
	}
	prog_fd = bpf_program__fd(skel->progs.splicer_ingress);
	state_init(&st);
	st.rule_counters = bpf_map__fd(skel->maps.rule_counters);
	st.iface_stats = bpf_map__fd(skel->maps.iface_stats);
	st.rule_index = bpf_map__fd(skel->maps.rule_arena);
	test_pin_root_make(&st);
	for (i = 0; i < 3; i++) {
		test_iface_set(bpf_map__fd(skel->maps.ifaces),
			       bpf_map__fd(skel->maps.iface_array), ifs[i],
			       &cfg[i]);
		a = (struct iface_addr){ .ifindex = ifs[i],
					 .addr = htonl(HOST) };
		a6 = (struct iface_addr6){ .ifindex = ifs[i] };
		memcpy(a6.addr, host6, 16);
		if (ifs[i] == IF_LO)
			continue;
		bpf_map_update_elem(bpf_map__fd(skel->maps.iface_addrs), &a,
				    &one, BPF_ANY);
		bpf_map_update_elem(bpf_map__fd(skel->maps.iface_addrs6), &a6,
				    &one, BPF_ANY);
	}
	for (i = 0; i < world_n_rules; i++) {
		struct counter zero[512] = {};

		bpf_map_update_elem(st.rule_counters, &world_rules[i].slot,
				    zero, BPF_ANY);
	}
	err = arena_publish_rules(&st, world_rules, world_n_rules);
	if (err)
		exit(2);
	return processed_insns(log);
}

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size == sizeof(last_event))
		memcpy(&last_event, data, size);
	n_events++;
	return 0;
}

/* A heartbeat as splicer monitor writes it; 0 turns emission off. */
static void set_heartbeat(__u64 ns)
{
	struct monitor_ctl m = { .heartbeat_ns = ns };
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.monitor), &zero, &m,
				BPF_ANY)) {
		perror("prog_test: heartbeat");
		exit(2);
	}
}

static __u64 heartbeat(void)
{
	struct monitor_ctl m = {};
	__u32 zero = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.monitor), &zero, &m);
	return m.heartbeat_ns;
}

/* Turns a monitor on or off, as far as the datapath can tell. */
static void set_monitor(bool on)
{
	monitor_on = on;
	set_heartbeat(on ? monotonic_ns() : 0);
}

static struct monitor_stats monitor_counters(void)
{
	struct monitor_stats ms;
	__u32 zero = 0;

	percpu_sum(bpf_map__fd(skel->maps.monitor_stats), &zero, &ms,
		   sizeof(ms), 2);
	return ms;
}

static void open_ring(void)
{
	ring = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL,
				NULL);
	if (!ring) {
		perror("prog_test: ring buffer");
		exit(2);
	}
}

/* HOST pinged PEER: the egress program notes it, as it would on a wire. */
static void send_echo_request(void)
{
	struct spec s = { .proto = IPPROTO_ICMP,
			  .saddr = HOST,
			  .daddr = PEER,
			  .icmp_type = 8,
			  .icmp_id = ECHO_ID };
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct frame f;

	build_frame(&s, &f);
	t.data_in = f.data;
	t.data_size_in = f.len;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.splicer_egress),
				   &t) ||
	    t.retval != TC_ACT_OK) {
		fprintf(stderr, "prog_test: egress run failed\n");
		exit(2);
	}
}

/* HOST6 pinged PEER6, as send_echo_request(). */
static void send_echo_request6(void)
{
	struct spec s = { .v6 = true,
			  .proto = 58,
			  .s6 = HOST6,
			  .d6 = PEER6,
			  .icmp_type = 128,
			  .icmp_id = ECHO_ID };
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct frame f;

	build_frame(&s, &f);
	t.data_in = f.data;
	t.data_size_in = f.len;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.splicer_egress),
				   &t) ||
	    t.retval != TC_ACT_OK) {
		fprintf(stderr, "prog_test: egress run failed\n");
		exit(2);
	}
}

static void clear_frag_flows(void)
{
	int fd = bpf_map__fd(skel->maps.frag_flows);
	struct frag_key6 k6;
	struct frag_key k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		bpf_map_delete_elem(fd, &k);
	fd = bpf_map__fd(skel->maps.frag_flows6);
	while (!bpf_map_get_next_key(fd, NULL, &k6))
		bpf_map_delete_elem(fd, &k6);
	ref_reset();
}

/* ------------------------------------------------------------- one run */

struct outcome {
	int retval;
	int reason; /* the one reason counter that moved, or -1 / -2 */
	long rule; /* the one rule counter that moved, 0 none, -1 many */
	int events; /* events the run put in the ring */
	struct splicer_event ev; /* the last of them */
};

static __u64 seen_reason[4][REASON_MAX], seen_reason6[4][REASON_MAX];
static __u64 seen_rule[64];

static struct outcome run(const unsigned char *data, size_t len, __u32 ifindex)
{
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct __sk_buff ctx = { .ingress_ifindex = ifindex };
	struct outcome o = { .reason = -1 };
	struct iface_stats6 now6;
	struct iface_stats now;
	__u32 slot = ifindex - IF_A + 1;
	unsigned char buf[sizeof(((struct frame *)0)->data)];
	struct counter c;
	size_t i;
	int r;

	memcpy(buf, data, len);
	t.data_in = buf;
	t.data_size_in = len;
	t.ctx_in = &ctx;
	t.ctx_size_in = sizeof(ctx);
	n_events = 0;
	if (bpf_prog_test_run_opts(prog_fd, &t)) {
		/* the kernel refuses frames shorter than an Ethernet header */
		o.retval = -errno;
		ring_buffer__consume(ring);
		o.events = n_events;
		return o;
	}
	o.retval = t.retval;
	ring_buffer__consume(ring);
	o.events = n_events;
	o.ev = last_event;
	percpu_sum(st.iface_stats, &slot, &now, sizeof(now),
		   sizeof(now) / sizeof(__u64));
	for (r = 0; r < REASON_MAX_IPV4; r++) {
		if (now.reason[r].packets == seen_reason[slot][r])
			continue;
		o.reason = o.reason == -1 ? r : -2;
		seen_reason[slot][r] = now.reason[r].packets;
	}
	percpu_sum(bpf_map__fd(skel->maps.iface_stats6), &slot, &now6,
		   sizeof(now6), sizeof(now6) / sizeof(__u64));
	for (r = 0; r < REASON_MAX; r++) {
		if (now6.reason[r].packets == seen_reason6[slot][r])
			continue;
		o.reason = o.reason == -1 ? r : -2;
		seen_reason6[slot][r] = now6.reason[r].packets;
	}
	for (i = 0; i < world_n_rules; i++) {
		__u32 id = world_rules[i].v.id;

		percpu_sum(st.rule_counters, &world_rules[i].slot, &c,
			   sizeof(c), 2);
		if (c.packets == seen_rule[id])
			continue;
		o.rule = o.rule ? -1 : (long)id;
		seen_rule[id] = c.packets;
	}
	return o;
}

static const char *const reason_names[REASON_MAX] = {
	"arp",	       "dhcp",	     "ssh",	   "established", "rule_pass",
	"loopback",    "icmp",	     "redirected", "no_rule",	  "rule_drop",
	"no_listener", "not_ip",     "malformed",  "fragment",	  "vlan",
	"nd",	       "ext_header",
};

static const char *rname(int r)
{
	return r >= 0 && r < REASON_MAX ? reason_names[r] : "(none/many)";
}

static bool agrees(struct outcome o, int reason, __u32 rule)
{
	int want_ret = reason <= REASON_REDIRECTED || reason == REASON_PASS_ND ?
			       TC_ACT_OK :
			       TC_ACT_SHOT;

	return o.reason == reason && o.rule == (long)rule &&
	       o.retval == want_ret;
}

static __u16 get16(const unsigned char *p)
{
	return p[0] << 8 | p[1];
}

/*
 * What a monitor must be told about a run of frame f on ifindex: nothing
 * when no monitor is on, nor about packets of the host's own flows, lo's
 * own traffic, the rest of a datagram whose first fragment passed, or SSH
 * segments but the opening SYN;
 * otherwise one event with the decision's reason and rule, and the
 * frame's addresses and ports where the decision rests on them. Returns
 * what is wrong, or NULL.
 */
static bool passing(int reason)
{
	return reason <= REASON_REDIRECTED || reason == REASON_PASS_ND;
}

/*
 * event_problem for an IPv6 frame: where its headers end, and what an
 * event may say of it, the reference tells.
 */
static const char *event_problem6(const struct outcome *o,
				  const struct frame *f,
				  const struct ref_result *ref, __u32 ifindex)
{
	const unsigned char *ip = f->data + 14, *l4 = ip + ref->l4;
	const struct splicer_event *e = &o->ev;
	bool want;

	want = monitor_on && o->reason != REASON_PASS_ESTABLISHED &&
	       o->reason != REASON_PASS_LOOPBACK &&
	       !(ref->rest && passing(o->reason)) &&
	       !(o->reason == REASON_PASS_SSH && (l4[13] & 0x17) != TH_SYN);
	if (!want)
		return o->events ? "an event nobody should get" : NULL;
	if (o->events != 1)
		return o->events ? "more than one event" : "no event";
	if (e->reason != o->reason)
		return "the event's reason is not the decision's";
	if (o->rule >= 0 && e->rule != o->rule)
		return "the event's rule is not the one counted";
	if (e->ifindex != ifindex || e->len != f->len)
		return "the event's interface or length is wrong";
	if (!(e->flags & SPLICER_EVENT_IP))
		return ref->ip6 ? "no SPLICER_EVENT_IP for a good header" :
		       e->proto || e->sport || e->saddr[0] ?
				  "fields without SPLICER_EVENT_IP" :
				  NULL;
	if (!ref->ip6 || !(e->flags & SPLICER_EVENT_IPV6) ||
	    memcmp(e->saddr, ip + 8, 16) || memcmp(e->daddr, ip + 24, 16) ||
	    e->proto != ref->proto)
		return "the event's addresses or protocol are not the frame's";
	if (!!(e->flags & SPLICER_EVENT_FRAG_REST) != ref->rest)
		return "the event's fragment flag is wrong";
	if (!ref->rest &&
	    (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP) &&
	    o->reason != REASON_DROP_MALFORMED &&
	    (e->sport != htons(get16(l4)) || e->dport != htons(get16(l4 + 2))))
		return "the event's ports are not the frame's";
	return NULL;
}

static const char *event_problem(const struct outcome *o, const struct frame *f,
				 const struct ref_result *ref, __u32 ifindex)
{
	const unsigned char *ip = f->data + 14, *l4;
	const struct splicer_event *e = &o->ev;
	bool ipv4 = f->len >= 14 + 20 && get16(f->data + 12) == 0x0800;
	bool rest = ipv4 && (get16(ip + 6) & 0x1fff);
	bool want;

	if (o->retval < 0 || o->reason < 0 || !ref)
		return o->events ? "an event for a frame never decided" : NULL;
	if (f->len >= 14 && get16(f->data + 12) == 0x86dd)
		return event_problem6(o, f, ref, ifindex);
	l4 = ip + (ip[0] & 0xf) * 4;
	want = monitor_on && o->reason != REASON_PASS_ESTABLISHED &&
	       o->reason != REASON_PASS_LOOPBACK &&
	       !(rest && o->reason <= REASON_REDIRECTED) &&
	       !(o->reason == REASON_PASS_SSH && (l4[13] & 0x17) != TH_SYN);
	if (!want)
		return o->events ? "an event nobody should get" : NULL;
	if (o->events != 1)
		return o->events ? "more than one event" : "no event";
	if (e->reason != o->reason)
		return "the event's reason is not the decision's";
	if (o->rule >= 0 && e->rule != o->rule)
		return "the event's rule is not the one counted";
	if (e->ifindex != ifindex || e->len != f->len)
		return "the event's interface or length is wrong";
	if (!(e->flags & SPLICER_EVENT_IP))
		return e->saddr[0] || e->daddr[0] || e->proto || e->sport ?
			       "fields without SPLICER_EVENT_IP" :
			       NULL;
	if (!ipv4 || memcmp(&e->saddr, ip + 12, 4) ||
	    memcmp(&e->daddr, ip + 16, 4) || e->proto != ip[9])
		return "the event's addresses or protocol are not the frame's";
	if (!!(e->flags & SPLICER_EVENT_FRAG_REST) != rest)
		return "the event's fragment flag is wrong";
	/* Decisions made on the ports carry the frame's ports. */
	if (!rest && (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP) &&
	    o->reason != REASON_DROP_MALFORMED &&
	    (e->sport != htons(get16(l4)) || e->dport != htons(get16(l4 + 2))))
		return "the event's ports are not the frame's";
	return NULL;
}

/* -------------------------------------------------------- the case table */

struct test_case {
	const char *name;
	struct spec s;
	__u32 ifindex; /* 0: IF_A */
	int reason;
	__u32 rule;
	const char *after; /* run this case's frame only after that one's */
};

#define TCP_TO(d, dp, ...)                                         \
	{                                                          \
		.proto = IPPROTO_TCP, .saddr = PEER, .daddr = (d), \
		.sport = 33000, .dport = (dp), __VA_ARGS__         \
	}
#define UDP_TO(d, dp, ...)                                         \
	{                                                          \
		.proto = IPPROTO_UDP, .saddr = PEER, .daddr = (d), \
		.sport = 33000, .dport = (dp), __VA_ARGS__         \
	}
#define ICMP_FROM(t, ...)                                            \
	{                                                            \
		.proto = IPPROTO_ICMP, .saddr = PEER, .daddr = HOST, \
		.icmp_type = (t), __VA_ARGS__                        \
	}

static const struct spec quote_tcp_ours = { .proto = IPPROTO_TCP,
					    .saddr = HOST,
					    .daddr = PEER,
					    .sport = LISTEN_PORT,
					    .dport = CLIENT_PORT };
static const struct spec quote_tcp_other = { .proto = IPPROTO_TCP,
					     .saddr = HOST,
					     .daddr = PEER,
					     .sport = LISTEN_PORT,
					     .dport = 40001 };
static const struct spec quote_udp_ours = { .proto = IPPROTO_UDP,
					    .saddr = HOST,
					    .daddr = PEER,
					    .sport = UDP_CONN_PORT,
					    .dport = UDP_PEER_PORT };
static const struct spec quote_udp_unconnected = { .proto = IPPROTO_UDP,
						   .saddr = HOST,
						   .daddr = PEER,
						   .sport = UDP_OPEN_PORT,
						   .dport = 9 };
static const struct spec quote_echo_ours = { .proto = IPPROTO_ICMP,
					     .saddr = HOST,
					     .daddr = PEER,
					     .icmp_type = 8,
					     .icmp_id = ECHO_ID };
static const struct spec quote_echo_other = { .proto = IPPROTO_ICMP,
					      .saddr = HOST,
					      .daddr = PEER,
					      .icmp_type = 8,
					      .icmp_id = 0x4321 };
static const struct spec quote_fragment = { .proto = IPPROTO_TCP,
					    .saddr = HOST,
					    .daddr = PEER,
					    .sport = LISTEN_PORT,
					    .dport = CLIENT_PORT,
					    .frag = 100 };

#define NET172(c, d) IP4(172, 16, c, d)

/* IPv6 packets from PEER6 to HOST6 unless said otherwise. */
#define TCP6_TO(dp, ...)                                                    \
	{                                                                   \
		.v6 = true, .proto = IPPROTO_TCP, .s6 = PEER6, .d6 = HOST6, \
		.sport = 33000, .dport = (dp), __VA_ARGS__                  \
	}
#define UDP6_TO(dp, ...)                                                    \
	{                                                                   \
		.v6 = true, .proto = IPPROTO_UDP, .s6 = PEER6, .d6 = HOST6, \
		.sport = 33000, .dport = (dp), __VA_ARGS__                  \
	}
#define ICMP6_FROM(t, ...)                                         \
	{                                                          \
		.v6 = true, .proto = 58, .s6 = PEER6, .d6 = HOST6, \
		.icmp_type = (t), __VA_ARGS__                      \
	}
/* Neighbour discovery as a router on the link sends it. */
#define ND6(t, ...)                                                           \
	ICMP6_FROM(t, .s6 = LL6, .d6 = ALLNODES6, .hlim = 255, .payload = 16, \
		   __VA_ARGS__)

static const struct spec quote6_tcp_ours = { .v6 = true,
					     .proto = IPPROTO_TCP,
					     .s6 = HOST6,
					     .d6 = PEER6,
					     .sport = LISTEN_PORT,
					     .dport = CLIENT_PORT };
static const struct spec quote6_tcp_other = { .v6 = true,
					      .proto = IPPROTO_TCP,
					      .s6 = HOST6,
					      .d6 = PEER6,
					      .sport = LISTEN_PORT,
					      .dport = 40001 };
static const struct spec quote6_udp_ours = { .v6 = true,
					     .proto = IPPROTO_UDP,
					     .s6 = HOST6,
					     .d6 = PEER6,
					     .sport = UDP_CONN_PORT,
					     .dport = UDP_PEER_PORT };
static const struct spec quote6_udp_unconnected = { .v6 = true,
						    .proto = IPPROTO_UDP,
						    .s6 = HOST6,
						    .d6 = PEER6,
						    .sport = UDP_OPEN_PORT,
						    .dport = 9 };
static const struct spec quote6_udp_first_frag = { .v6 = true,
						   .proto = IPPROTO_UDP,
						   .s6 = HOST6,
						   .d6 = PEER6,
						   .sport = UDP_CONN_PORT,
						   .dport = UDP_PEER_PORT,
						   .n_ext = 1,
						   .ext = { 44 },
						   .frag = 1 };
static const struct spec quote6_rest_frag = { .v6 = true,
					      .proto = IPPROTO_UDP,
					      .s6 = HOST6,
					      .d6 = PEER6,
					      .sport = UDP_CONN_PORT,
					      .dport = UDP_PEER_PORT,
					      .n_ext = 1,
					      .ext = { 44 },
					      .frag = 64 };
static const struct spec quote6_echo_ours = { .v6 = true,
					      .proto = 58,
					      .s6 = HOST6,
					      .d6 = PEER6,
					      .icmp_type = 128,
					      .icmp_id = ECHO_ID };
static const struct spec quote6_echo_other = { .v6 = true,
					       .proto = 58,
					       .s6 = HOST6,
					       .d6 = PEER6,
					       .icmp_type = 128,
					       .icmp_id = 0x4321 };
static const struct spec quote4_in_v6 = { .proto = IPPROTO_TCP,
					  .saddr = HOST,
					  .daddr = PEER,
					  .sport = LISTEN_PORT,
					  .dport = CLIENT_PORT };

static const struct test_case cases[] = {
	/* L2 */
	{ "arp passes", { .eth_type = 0x0806 }, 0, REASON_PASS_ARP },
	{ "ipv6 without a rule is dropped as no_rule", TCP6_TO(3000), 0,
	  REASON_DROP_NO_RULE },
	{ "an unknown ethertype is dropped",
	  { .eth_type = 0x88b5 },
	  0,
	  REASON_DROP_NOT_IP },
	{ "a frame still carrying an 802.1Q tag is dropped",
	  TCP_TO(HOST, 1, .qinq = true), 0, REASON_DROP_VLAN },
	/*
	 * Test-run refuses IPv4 frames shorter than 14 + 20 bytes itself;
	 * those are sent for real by the end-to-end tests.
	 */
	{ "a frame that ends inside the TCP header is malformed",
	  TCP_TO(HOST, 1, .truncate = 14 + 20 + 10, .tot_len_delta = -10), 0,
	  REASON_DROP_MALFORMED },
	/* IPv4 header */
	{ "ihl 4 is malformed", TCP_TO(HOST, 1, .ihl = 4), 0,
	  REASON_DROP_MALFORMED },
	{ "version 6 in an IPv4 frame is malformed",
	  TCP_TO(HOST, 1, .version = 6), 0, REASON_DROP_MALFORMED },
	{ "tot_len shorter than the header is malformed",
	  TCP_TO(HOST, 1, .tot_len_delta = -30), 0, REASON_DROP_MALFORMED },
	{ "tot_len longer than the frame is malformed",
	  TCP_TO(HOST, 1, .tot_len_delta = 1), 0, REASON_DROP_MALFORMED },
	{ "a TCP header cut by tot_len is malformed",
	  TCP_TO(HOST, 1, .tot_len_delta = -1), 0, REASON_DROP_MALFORMED },
	{ "a TCP data offset below 5 is malformed",
	  TCP_TO(HOST, 1, .doff = 4, .payload = 8), 0, REASON_DROP_MALFORMED },
	{ "a truncated UDP header is malformed",
	  UDP_TO(HOST, 9000, .tot_len_delta = -1), 0, REASON_DROP_MALFORMED },
	{ "IP options are legal: ports are read after them",
	  TCP_TO(HOST, 1, .ihl = 6), 0, REASON_PASS_RULE, 3 },
	{ "the longest IP options are legal too", TCP_TO(HOST, 1, .ihl = 15), 0,
	  REASON_PASS_RULE, 3 },
	/* fragments */
	{ "a non-first fragment alone is dropped",
	  UDP_TO(HOST, 9000, .frag = 100, .ip_id = 7), 0,
	  REASON_DROP_FRAGMENT },
	{ "a non-first fragment overlapping the L4 header is malformed",
	  UDP_TO(HOST, 9000, .frag = 1, .ip_id = 8), 0, REASON_DROP_MALFORMED },
	{ "a first fragment too short for its TCP header is malformed",
	  TCP_TO(HOST, 1, .frag = 0x2000, .tot_len_delta = -12), 0,
	  REASON_DROP_MALFORMED },
	{ "a first fragment to a pass rule passes",
	  UDP_TO(HOST, 8000, .frag = 0x2000, .ip_id = 9, .payload = 16), 0,
	  REASON_PASS_RULE, 13 },
	{ "the rest of a passed datagram follows its first fragment",
	  UDP_TO(HOST, 8000, .frag = 3, .ip_id = 9), 0, REASON_PASS_RULE, 0,
	  "a first fragment to a pass rule passes" },
	{ "a fragment of another datagram does not follow",
	  UDP_TO(HOST, 8000, .frag = 3, .ip_id = 10), 0, REASON_DROP_FRAGMENT },
	{ "a non-first fragment with port-like bytes never matches SSH",
	  TCP_TO(HOST, 22, .frag = 3, .ip_id = 11), 0, REASON_DROP_FRAGMENT },
	{ "a fragmented datagram to a redirect is dropped",
	  TCP_TO(NET172(0, 9), 80, .frag = 0x2000, .ip_id = 12), 0,
	  REASON_DROP_FRAGMENT, 1 },
	/* TCP flags to a port without a rule, with a LISTEN socket */
	{ "a SYN to a listening port without a rule is dropped",
	  TCP_TO(HOST, LISTEN_PORT), 0, REASON_DROP_NO_RULE },
	{ "NULL to a port without a rule is dropped",
	  TCP_TO(HOST, LISTEN_PORT, .tcp_flags = TH_NONE), 0,
	  REASON_DROP_NO_RULE },
	{ "Xmas to a port without a rule is dropped",
	  TCP_TO(HOST, LISTEN_PORT, .tcp_flags = TH_FIN | TH_PSH | TH_URG), 0,
	  REASON_DROP_NO_RULE },
	{ "SYN+FIN to a port without a rule is dropped",
	  TCP_TO(HOST, 3000, .tcp_flags = TH_SYN | TH_FIN), 0,
	  REASON_DROP_NO_RULE },
	{ "SYN+RST to a port without a rule is dropped",
	  TCP_TO(HOST, 3000, .tcp_flags = TH_SYN | TH_RST), 0,
	  REASON_DROP_NO_RULE },
	{ "a bare ACK to a port without a rule is dropped",
	  TCP_TO(HOST, 3000, .tcp_flags = TH_ACK), 0, REASON_DROP_NO_RULE },
	/* the host's own sockets */
	{ "a segment of an established connection passes",
	  TCP_TO(HOST, LISTEN_PORT, .sport = CLIENT_PORT, .tcp_flags = TH_ACK),
	  0, REASON_PASS_ESTABLISHED },
	{ "a datagram for a connected UDP socket passes",
	  UDP_TO(HOST, UDP_CONN_PORT, .sport = UDP_PEER_PORT), 0,
	  REASON_PASS_ESTABLISHED },
	{ "a datagram from elsewhere to a connected UDP socket does not",
	  UDP_TO(HOST, UDP_CONN_PORT, .sport = 6001), 0, REASON_DROP_RULE, 7 },
	{ "a datagram to an unconnected UDP socket needs a rule",
	  UDP_TO(HOST, UDP_OPEN_PORT), 0, REASON_DROP_RULE, 7 },
	/* ports and byte order */
	{ "port 1 matches a rule on 1", TCP_TO(HOST, 1), 0, REASON_PASS_RULE,
	  3 },
	{ "port 65535 matches a rule on 65535", TCP_TO(HOST, 65535), 0,
	  REASON_PASS_RULE, 4 },
	{ "port 2 misses a rule on 1", TCP_TO(HOST, 2), 0,
	  REASON_DROP_NO_RULE },
	{ "port 65534 misses a rule on 65535", TCP_TO(HOST, 65534), 0,
	  REASON_DROP_NO_RULE },
	{ "the low edge of a range matches", TCP_TO(HOST, 1000), 0,
	  REASON_PASS_RULE, 5 },
	{ "the high edge of a range matches", TCP_TO(HOST, 2000), 0,
	  REASON_PASS_RULE, 5 },
	{ "low - 1 misses a range", TCP_TO(HOST, 999), 0, REASON_DROP_NO_RULE },
	{ "high + 1 misses a range", TCP_TO(HOST, 2001), 0,
	  REASON_DROP_NO_RULE },
	{ "a rule on 22 matches 22", TCP_TO(NET172(1, 1), 22), 0,
	  REASON_PASS_RULE, 6 },
	{ "a rule on 22 does not match 5632", TCP_TO(NET172(1, 1), 5632), 0,
	  REASON_DROP_NO_RULE },
	{ "a 1-65535 range matches any port", UDP_TO(IP4(8, 8, 8, 8), 4242), 0,
	  REASON_DROP_RULE, 7 },
	/* prefixes and precedence */
	{ "/0 matches anything", TCP_TO(IP4(1, 2, 3, 4), 443), 0,
	  REASON_PASS_RULE, 9 },
	{ "a /32 beats /0 for its address", TCP_TO(NET172(5, 5), 443), 0,
	  REASON_DROP_RULE, 10 },
	{ "the /32's neighbour gets the /0", TCP_TO(NET172(5, 6), 443), 0,
	  REASON_PASS_RULE, 9 },
	{ "a narrower range beats the 1-65535 one", UDP_TO(HOST, 9000), 0,
	  REASON_PASS_RULE, 8 },
	/* built-in allowances stay narrow */
	{ "udp 67 -> 68 passes as dhcp", UDP_TO(HOST, 68, .sport = 67), 0,
	  REASON_PASS_DHCP },
	{ "udp 67 -> 69 is not dhcp", UDP_TO(HOST, 69, .sport = 67), 0,
	  REASON_DROP_RULE, 7 },
	{ "tcp from port 22 to an arbitrary port is dropped",
	  TCP_TO(HOST, 3000, .sport = 22), 0, REASON_DROP_NO_RULE },
	{ "tcp from port 53 to an arbitrary port is dropped",
	  TCP_TO(HOST, 3000, .sport = 53), 0, REASON_DROP_NO_RULE },
	{ "ssh to the interface's address passes", TCP_TO(HOST, 22), 0,
	  REASON_PASS_SSH },
	{ "an ssh segment after the SYN passes too (and is no news)",
	  TCP_TO(HOST, 22, .tcp_flags = TH_ACK | TH_PSH), 0, REASON_PASS_SSH },
	{ "ssh to another address is dropped", TCP_TO(PEER, 22), 0,
	  REASON_DROP_NO_RULE },
	/* redirects: test-run cannot assign, but the decision is made */
	{ "a redirect without a listener is dropped", TCP_TO(NET172(0, 9), 80),
	  0, REASON_DROP_NO_LISTENER, 1 },
	{ "a udp redirect without a listener is dropped",
	  UDP_TO(NET172(3, 3), 53), 0, REASON_DROP_NO_LISTENER, 2 },
	/* ICMP */
	{ "an echo reply to our ping passes", ICMP_FROM(0, .icmp_id = ECHO_ID),
	  0, REASON_PASS_ICMP },
	{ "an echo reply nobody asked for is dropped",
	  ICMP_FROM(0, .icmp_id = 0x4321), 0, REASON_DROP_NO_RULE },
	{ "an echo request is dropped by default", ICMP_FROM(8), 0,
	  REASON_DROP_NO_RULE },
	{ "an echo request passes with icmp-echo on", ICMP_FROM(8), IF_ECHO,
	  REASON_PASS_ICMP },
	{ "an echo request to another host is dropped even with icmp-echo on",
	  ICMP_FROM(8, .daddr = IP4(10, 66, 0, 2)), IF_ECHO,
	  REASON_DROP_NO_RULE },
	{ "frag-needed about our TCP connection passes",
	  ICMP_FROM(3, .icmp_code = 4, .quote = &quote_tcp_ours), 0,
	  REASON_PASS_ICMP },
	{ "frag-needed about a connection we do not have is dropped",
	  ICMP_FROM(3, .icmp_code = 4, .quote = &quote_tcp_other), 0,
	  REASON_DROP_NO_RULE },
	{ "port-unreachable about our connected UDP socket passes",
	  ICMP_FROM(3, .icmp_code = 3, .quote = &quote_udp_ours), 0,
	  REASON_PASS_ICMP },
	{ "port-unreachable about an unconnected UDP socket is dropped",
	  ICMP_FROM(3, .icmp_code = 3, .quote = &quote_udp_unconnected), 0,
	  REASON_DROP_NO_RULE },
	{ "time-exceeded about our ping passes",
	  ICMP_FROM(11, .quote = &quote_echo_ours), 0, REASON_PASS_ICMP },
	{ "time-exceeded about someone else's ping is dropped",
	  ICMP_FROM(11, .quote = &quote_echo_other), 0, REASON_DROP_NO_RULE },
	{ "an error quoting a non-first fragment is dropped",
	  ICMP_FROM(3, .quote = &quote_fragment), 0, REASON_DROP_NO_RULE },
	{ "an error too short to quote a header is malformed",
	  ICMP_FROM(3, .quote = &quote_tcp_ours, .tot_len_delta = -10,
		    .truncate = 14 + 20 + 8 + 18),
	  0, REASON_DROP_MALFORMED },
	{ "a redirect message is dropped", ICMP_FROM(5), 0,
	  REASON_DROP_NO_RULE },
	{ "other IP protocols are dropped",
	  { .proto = 47, .saddr = PEER, .daddr = HOST },
	  0,
	  REASON_DROP_NO_RULE },
	/* loopback */
	{ "on lo a packet without a rule passes", TCP_TO(HOST, 3000), IF_LO,
	  REASON_PASS_LOOPBACK },
	{ "on lo a drop rule does not apply", TCP_TO(NET172(5, 5), 443), IF_LO,
	  REASON_PASS_LOOPBACK },
	{ "on lo a redirect applies", TCP_TO(NET172(0, 9), 80), IF_LO,
	  REASON_DROP_NO_LISTENER, 1 },
	{ "on lo ICMP passes", ICMP_FROM(8), IF_LO, REASON_PASS_LOOPBACK },

	/* IPv6 header */
	{ "ipv6: version 4 in an IPv6 frame is malformed",
	  TCP6_TO(1, .version = 4), 0, REASON_DROP_MALFORMED },
	{ "ipv6: payload_len longer than the frame is malformed",
	  TCP6_TO(1, .tot_len_delta = 1), 0, REASON_DROP_MALFORMED },
	{ "ipv6: payload_len 0 (a jumbogram) is malformed",
	  TCP6_TO(1, .tot_len_delta = -20), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a TCP header cut by payload_len is malformed",
	  TCP6_TO(1, .tot_len_delta = -1), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a truncated UDP header is malformed",
	  UDP6_TO(9000, .tot_len_delta = -1), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a TCP data offset below 5 is malformed",
	  TCP6_TO(1, .doff = 4, .payload = 8), 0, REASON_DROP_MALFORMED },
	/* test-run refuses frames cut inside the IPv6 header itself */
	{ "ipv6: other upper-layer protocols are dropped",
	  { .v6 = true, .proto = 132, .s6 = PEER6, .d6 = HOST6, .payload = 8 },
	  0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: no next header is dropped",
	  { .v6 = true, .proto = 59, .s6 = PEER6, .d6 = HOST6, .payload = 8 },
	  0,
	  REASON_DROP_NO_RULE },
	/* IPv6 rules */
	{ "ipv6: a /128 pass rule passes", TCP6_TO(1), 0, REASON_PASS_RULE,
	  22 },
	{ "ipv6: the IPv4 /0 rule on 443 does not apply", TCP6_TO(443), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: a /64 pass rule passes", TCP6_TO(443, .d6 = NET6(5, 9)), 0,
	  REASON_PASS_RULE, 23 },
	{ "ipv6: a /128 beats the /64 for its address",
	  TCP6_TO(443, .d6 = NET6(5, 5)), 0, REASON_DROP_RULE, 24 },
	{ "ipv6: a ::/0 range drops", UDP6_TO(7050, .d6 = NET6(9, 9)), 0,
	  REASON_DROP_RULE, 25 },
	{ "ipv6: a narrower prefix's port beats ::/0", UDP6_TO(9000), 0,
	  REASON_PASS_RULE, 26 },
	{ "ipv6: a redirect without a listener is dropped",
	  TCP6_TO(80, .d6 = NET6(0, 9)), 0, REASON_DROP_NO_LISTENER, 20 },
	{ "ipv6: a udp redirect without a listener is dropped",
	  UDP6_TO(53, .d6 = NET6(3, 3)), 0, REASON_DROP_NO_LISTENER, 21 },
	{ "ipv6: a source prefix lets its source pass",
	  TCP6_TO(22, .d6 = NET6(1, 1)), 0, REASON_PASS_RULE, 27 },
	{ "ipv6: another source gets the rule without one",
	  TCP6_TO(22, .d6 = NET6(1, 1), .s6 = NET6(7, 7)), 0, REASON_DROP_RULE,
	  28 },
	{ "ipv6: a rule scoped to an interface applies there",
	  TCP6_TO(23, .d6 = NET6(1, 1)), IF_ECHO, REASON_PASS_RULE, 29 },
	{ "ipv6: a rule scoped to an interface does not apply elsewhere",
	  TCP6_TO(23, .d6 = NET6(1, 1)), 0, REASON_DROP_NO_RULE },
	/* IPv6: the host's own sockets */
	{ "ipv6: a segment of an established connection passes",
	  TCP6_TO(LISTEN_PORT, .sport = CLIENT_PORT, .tcp_flags = TH_ACK), 0,
	  REASON_PASS_ESTABLISHED },
	{ "ipv6: a SYN to a listening port without a rule is dropped",
	  TCP6_TO(LISTEN_PORT), 0, REASON_DROP_NO_RULE },
	{ "ipv6: a datagram for a connected UDP socket passes",
	  UDP6_TO(UDP_CONN_PORT, .sport = UDP_PEER_PORT), 0,
	  REASON_PASS_ESTABLISHED },
	{ "ipv6: a datagram to an unconnected UDP socket needs a rule",
	  UDP6_TO(UDP_OPEN_PORT), 0, REASON_DROP_NO_RULE },
	{ "ipv6: the IPv4 twin of a connected socket is not found",
	  UDP6_TO(UDP_CONN_PORT, .sport = UDP_PEER_PORT, .s6 = NET6(7, 7)), 0,
	  REASON_DROP_NO_RULE },
	/* IPv6: the allowances */
	{ "ipv6: udp 547 -> 546 passes as dhcp", UDP6_TO(546, .sport = 547), 0,
	  REASON_PASS_DHCP },
	{ "ipv6: udp 67 -> 68 is not dhcp", UDP6_TO(68, .sport = 67), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: udp 547 -> 547 is not dhcp", UDP6_TO(547, .sport = 547), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: ssh to the interface's address passes", TCP6_TO(22), 0,
	  REASON_PASS_SSH },
	{ "ipv6: ssh to another address is dropped", TCP6_TO(22, .d6 = PEER6),
	  0, REASON_DROP_NO_RULE },
	{ "ipv6: ssh to lo's address on lo is lo's business", TCP6_TO(22),
	  IF_LO, REASON_PASS_LOOPBACK },
	/* IPv6: extension headers */
	{ "ipv6: hop-by-hop and destination options are walked",
	  TCP6_TO(1, .n_ext = 2, .ext = { 0, 60 }), 0, REASON_PASS_RULE, 22 },
	{ "ipv6: hop-by-hop after the first header is dropped",
	  TCP6_TO(1, .n_ext = 2, .ext = { 60, 0 }), 0, REASON_DROP_EXT_HEADER },
	{ "ipv6: six extension headers are walked",
	  TCP6_TO(1, .n_ext = 6, .ext = { 0, 60, 60, 60, 60, 60 }), 0,
	  REASON_PASS_RULE, 22 },
	{ "ipv6: a seventh is past the bound",
	  TCP6_TO(1, .n_ext = 7, .ext = { 0, 60, 60, 60, 60, 60, 60 }), 0,
	  REASON_DROP_EXT_HEADER },
	{ "ipv6: a routing header with segments left 0 is walked",
	  TCP6_TO(1, .n_ext = 1, .ext = { 43 }, .rt_type = 4), 0,
	  REASON_PASS_RULE, 22 },
	{ "ipv6: a routing header with segments left is dropped",
	  TCP6_TO(1, .n_ext = 1, .ext = { 43 }, .rt_type = 4, .rt_left = 1), 0,
	  REASON_DROP_EXT_HEADER },
	{ "ipv6: a type 0 routing header is dropped",
	  TCP6_TO(1, .n_ext = 1, .ext = { 43 }), 0, REASON_DROP_EXT_HEADER },
	{ "ipv6: AH is dropped", TCP6_TO(1, .n_ext = 1, .ext = { 51 }), 0,
	  REASON_DROP_EXT_HEADER },
	{ "ipv6: ESP is dropped", TCP6_TO(1, .n_ext = 1, .ext = { 50 }), 0,
	  REASON_DROP_EXT_HEADER },
	{ "ipv6: a mobility header is dropped",
	  TCP6_TO(1, .n_ext = 1, .ext = { 135 }), 0, REASON_DROP_EXT_HEADER },
	{ "ipv6: an extension header cut by payload_len is malformed",
	  TCP6_TO(1, .n_ext = 1, .ext = { 60 }, .tot_len_delta = -24), 0,
	  REASON_DROP_MALFORMED },
	{ "ipv6: ssh behind a destination options header still passes",
	  TCP6_TO(22, .n_ext = 1, .ext = { 60 }), 0, REASON_PASS_SSH },
	{ "ipv6: on lo an unknown extension header passes",
	  TCP6_TO(1, .n_ext = 1, .ext = { 51 }), IF_LO, REASON_PASS_LOOPBACK },
	/* IPv6: fragments */
	{ "ipv6: a non-first fragment alone is dropped",
	  UDP6_TO(9000, .n_ext = 1, .ext = { 44 }, .frag = 800, .ip_id = 7), 0,
	  REASON_DROP_FRAGMENT },
	{ "ipv6: a non-first fragment inside the first 24 bytes is malformed",
	  UDP6_TO(9000, .n_ext = 1, .ext = { 44 }, .frag = 16, .ip_id = 8), 0,
	  REASON_DROP_MALFORMED },
	{ "ipv6: a first fragment too short for its TCP header is malformed",
	  TCP6_TO(1, .n_ext = 1, .ext = { 44 }, .frag = 1,
		  .tot_len_delta = -12),
	  0, REASON_DROP_MALFORMED },
	{ "ipv6: a first fragment to a pass rule passes",
	  UDP6_TO(9000, .n_ext = 1, .ext = { 44 }, .frag = 1, .ip_id = 0x10009,
		  .payload = 16),
	  0, REASON_PASS_RULE, 26 },
	{ "ipv6: the rest of a passed datagram follows its first fragment",
	  UDP6_TO(9000, .n_ext = 1, .ext = { 44 }, .frag = 24,
		  .ip_id = 0x10009),
	  0, REASON_PASS_RULE, 0,
	  "ipv6: a first fragment to a pass rule passes" },
	{ "ipv6: a fragment of another datagram does not follow",
	  UDP6_TO(9000, .n_ext = 1, .ext = { 44 }, .frag = 24, .ip_id = 9), 0,
	  REASON_DROP_FRAGMENT, 0,
	  "ipv6: a first fragment to a pass rule passes" },
	{ "ipv6: a fragmented datagram to a redirect is dropped",
	  TCP6_TO(80, .d6 = NET6(0, 9), .n_ext = 1, .ext = { 44 }, .frag = 1,
		  .ip_id = 12),
	  0, REASON_DROP_FRAGMENT, 20 },
	{ "ipv6: an atomic fragment is judged whole",
	  TCP6_TO(80, .d6 = NET6(0, 9), .n_ext = 1, .ext = { 44 }, .frag = 0,
		  .ip_id = 13),
	  0, REASON_DROP_NO_LISTENER, 20 },
	{ "ipv6: two fragment headers are malformed",
	  TCP6_TO(1, .n_ext = 2, .ext = { 44, 44 }, .frag = 1), 0,
	  REASON_DROP_MALFORMED },
	{ "ipv6: a fragment header after destination options is walked",
	  UDP6_TO(9000, .n_ext = 2, .ext = { 60, 44 }, .frag = 1, .ip_id = 14,
		  .payload = 8),
	  0, REASON_PASS_RULE, 26 },
	/* ICMPv6: neighbour discovery */
	{ "ipv6: a neighbour solicitation passes as nd", ND6(135), 0,
	  REASON_PASS_ND },
	{ "ipv6: a neighbour advertisement passes as nd", ND6(136), 0,
	  REASON_PASS_ND },
	{ "ipv6: a router advertisement passes as nd", ND6(134, .payload = 8),
	  0, REASON_PASS_ND },
	{ "ipv6: nd with hop limit 254 (routed) is malformed",
	  ND6(135, .hlim = 254), 0, REASON_DROP_MALFORMED },
	{ "ipv6: nd with code 1 is malformed", ND6(136, .icmp_code = 1), 0,
	  REASON_DROP_MALFORMED },
	{ "ipv6: a neighbour solicitation too short for its target is malformed",
	  ND6(135, .payload = 8), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a router advertisement from a global address is malformed",
	  ND6(134, .s6 = PEER6), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a router advertisement with hop limit 64 is malformed",
	  ND6(134, .hlim = 64), 0, REASON_DROP_MALFORMED },
	{ "ipv6: a redirect is dropped", ND6(137, .payload = 32), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: a router solicitation is dropped", ND6(133), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: an MLD query passes as nd",
	  ICMP6_FROM(130, .s6 = LL6, .d6 = ALLNODES6, .hlim = 1, .n_ext = 1,
		     .ext = { 0 }, .payload = 16),
	  0, REASON_PASS_ND },
	{ "ipv6: an MLD query with hop limit 2 is dropped",
	  ICMP6_FROM(130, .s6 = LL6, .d6 = ALLNODES6, .hlim = 2, .payload = 16),
	  0, REASON_DROP_NO_RULE },
	{ "ipv6: an MLD query from a global address is dropped",
	  ICMP6_FROM(130, .d6 = ALLNODES6, .hlim = 1, .payload = 16), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: an MLDv2 report is dropped",
	  ICMP6_FROM(143, .s6 = LL6, .hlim = 1, .payload = 16), 0,
	  REASON_DROP_NO_RULE },
	/* ICMPv6: echo */
	{ "ipv6: an echo reply to our ping passes",
	  ICMP6_FROM(129, .icmp_id = ECHO_ID), 0, REASON_PASS_ICMP },
	{ "ipv6: an echo reply nobody asked for is dropped",
	  ICMP6_FROM(129, .icmp_id = 0x4321), 0, REASON_DROP_NO_RULE },
	{ "ipv6: an echo request is dropped by default", ICMP6_FROM(128), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: an echo request passes with icmp-echo on", ICMP6_FROM(128),
	  IF_ECHO, REASON_PASS_ICMP },
	{ "ipv6: an echo request to another address is dropped with icmp-echo on",
	  ICMP6_FROM(128, .d6 = NET6(9, 9)), IF_ECHO, REASON_DROP_NO_RULE },
	{ "ipv6: an echo request to a multicast address is dropped",
	  ICMP6_FROM(128, .d6 = ALLNODES6), IF_ECHO, REASON_DROP_NO_RULE },
	{ "ipv6: an ICMPv4 echo type number means nothing in ICMPv6",
	  ICMP6_FROM(8), IF_ECHO, REASON_DROP_NO_RULE },
	/* ICMPv6: errors */
	{ "ipv6: packet too big about our TCP connection passes",
	  ICMP6_FROM(2, .quote = &quote6_tcp_ours), 0, REASON_PASS_ICMP },
	{ "ipv6: packet too big about a connection we do not have is dropped",
	  ICMP6_FROM(2, .quote = &quote6_tcp_other), 0, REASON_DROP_NO_RULE },
	{ "ipv6: port unreachable about our connected UDP socket passes",
	  ICMP6_FROM(1, .icmp_code = 4, .quote = &quote6_udp_ours), 0,
	  REASON_PASS_ICMP },
	{ "ipv6: port unreachable about an unconnected UDP socket is dropped",
	  ICMP6_FROM(1, .icmp_code = 4, .quote = &quote6_udp_unconnected), 0,
	  REASON_DROP_NO_RULE },
	{ "ipv6: packet too big about our first fragment passes",
	  ICMP6_FROM(2, .quote = &quote6_udp_first_frag), 0, REASON_PASS_ICMP },
	{ "ipv6: an error about a non-first fragment is dropped",
	  ICMP6_FROM(2, .quote = &quote6_rest_frag), 0, REASON_DROP_NO_RULE },
	{ "ipv6: time exceeded about our ping passes",
	  ICMP6_FROM(3, .quote = &quote6_echo_ours), 0, REASON_PASS_ICMP },
	{ "ipv6: time exceeded about someone else's ping is dropped",
	  ICMP6_FROM(3, .quote = &quote6_echo_other), 0, REASON_DROP_NO_RULE },
	{ "ipv6: parameter problem about our TCP connection passes",
	  ICMP6_FROM(4, .quote = &quote6_tcp_ours), 0, REASON_PASS_ICMP },
	{ "ipv6: an error quoting an IPv4 packet is malformed",
	  ICMP6_FROM(2, .quote = &quote4_in_v6), 0, REASON_DROP_MALFORMED },
	{ "ipv6: an error too short to quote a header is malformed",
	  ICMP6_FROM(2, .quote = &quote6_tcp_ours, .tot_len_delta = -10), 0,
	  REASON_DROP_MALFORMED },
	/* IPv6 on lo */
	{ "ipv6: on lo a packet without a rule passes", TCP6_TO(3000), IF_LO,
	  REASON_PASS_LOOPBACK },
	{ "ipv6: on lo a drop rule does not apply",
	  TCP6_TO(443, .d6 = NET6(5, 5)), IF_LO, REASON_PASS_LOOPBACK },
	{ "ipv6: on lo a redirect applies", TCP6_TO(80, .d6 = NET6(0, 9)),
	  IF_LO, REASON_DROP_NO_LISTENER, 20 },
	{ "ipv6: on lo ICMPv6 passes", ND6(135, .hlim = 7), IF_LO,
	  REASON_PASS_LOOPBACK },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static int run_cases(void)
{
	int failed = 0;
	size_t i, j;

	set_monitor(true);
	for (i = 0; i < N_CASES; i++) {
		const struct test_case *c = &cases[i];
		__u32 ifindex = c->ifindex ? c->ifindex : IF_A;
		const char *problem;
		struct ref_result ref;
		struct outcome o;
		struct frame f;

		clear_frag_flows();
		for (j = 0; c->after && j < N_CASES; j++) {
			if (strcmp(cases[j].name, c->after))
				continue;
			build_frame(&cases[j].s, &f);
			run(f.data, f.len,
			    cases[j].ifindex ? cases[j].ifindex : IF_A);
			ref_classify(f.data, f.len,
				     cases[j].ifindex ? cases[j].ifindex :
							IF_A);
		}
		build_frame(&c->s, &f);
		o = run(f.data, f.len, ifindex);
		ref = ref_classify(f.data, f.len, ifindex);
		problem = event_problem(&o, &f, &ref, ifindex);
		if (agrees(o, c->reason, c->rule) && ref.reason == c->reason &&
		    ref.rule == c->rule && !problem) {
			printf("ok %s\n", c->name);
			continue;
		}
		failed++;
		printf("FAIL %s: want %s rule %u; program %s rule %ld "
		       "retval %d; reference %s rule %u%s%s\n",
		       c->name, rname(c->reason), c->rule, rname(o.reason),
		       o.rule, o.retval, rname(ref.reason), ref.rule,
		       problem ? "; " : "", problem ? problem : "");
	}
	printf("prog_test: %zu cases, %d failed\n", N_CASES, failed);
	return failed ? 1 : 0;
}

/* ----------------------------------------------------------- the fuzzer */

#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

static const __u32 addrs[] = { HOST,
			       PEER,
			       IP4(172, 16, 0, 9),
			       IP4(172, 16, 1, 1),
			       IP4(172, 16, 5, 5),
			       IP4(192, 168, 1, 1),
			       IP4(8, 8, 8, 8),
			       IP4(127, 0, 0, 1) };
static const __u32 ports[] = { 1,     2,     22,    53,	   67,	 68,   80,
			       443,   999,   1000,  2000,  2001, 5000, 5001,
			       5632,  6000,  7000,  7777,  8000, 8100, 9000,
			       33000, 40000, 65534, 65535, 0 };
static const __u32 ifaces_[] = { IF_A, IF_A, IF_ECHO, IF_LO };

static const __u8 addrs6[][16] = { HOST6, HOST6,      PEER6,	  PEER6,
				   LL6,	  ALLNODES6,  NET6(0, 9), NET6(1, 1),
				   LO6,	  NET6(5, 5), NET6(5, 9) };

static void random_spec(struct spec *s, struct spec *q);

/* An IPv6 spec on top of s: addresses, headers, ICMPv6 and quotes. */
static void random_spec6(struct spec *s, struct spec *q)
{
	static const __u32 protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP,
					IPPROTO_UDP, 58,	  58,
					58,	     132,	  59 };
	static const __u32 icmp_types[] = { 128, 129, 129, 1,	2,   2,
					    3,	 4,   130, 133, 134, 135,
					    136, 137, 143, 8,	0 };
	static const __u32 exts[] = { 0, 0, 60, 60, 43, 44, 44, 51, 50, 135 };
	static const __u32 hlims[] = { 0, 255, 255, 255, 1, 1, 254 };
	static const __u32 ports6[] = { 546, 547, 9000, 7050, 443,
					22,  23,  80,	53 };
	size_t i;

	s->v6 = true;
	if (s->eth_type == 0x0800)
		s->eth_type = 0;
	s->proto = PICK(protos);
	memcpy(s->s6, addrs6[rnd() % 11], 16);
	memcpy(s->d6, addrs6[rnd() % 11], 16);
	if (rnd() % 4 == 0)
		s->sport = PICK(ports6);
	if (rnd() % 3 == 0)
		s->dport = PICK(ports6);
	s->icmp_type = PICK(icmp_types);
	s->icmp_code = rnd() % 3 ? 0 : rnd() % 5;
	s->hlim = PICK(hlims);
	if (s->proto == 58 && rnd() % 2)
		s->payload = 16 + 8 * (rnd() % 2);
	s->ip_id = rnd() % 3;
	if (rnd() % 3 == 0) {
		s->n_ext = rnd() % 4 ? 1 + rnd() % 2 : rnd() % 9;
		for (i = 0; i < s->n_ext; i++)
			s->ext[i] = PICK(exts);
		s->rt_type = rnd() % 3 ? 4 : rnd() % 3;
		s->rt_left = rnd() % 3 ? 0 : 1;
		s->frag = rnd() % 3 ? (rnd() % 2) :
				      (rnd() % 6) * 8 | (rnd() % 2);
	}
	s->version = rnd() % 12 == 0 ? rnd() % 16 : 0;
	if (rnd() % 12 == 0)
		s->hlim = rnd() & 0xff;
	if (rnd() % 16 == 0) { /* a packet of one of the host's sockets */
		bool udp = rnd() % 2;

		s->proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
		memcpy(s->s6, peer6, 16);
		memcpy(s->d6, host6, 16);
		s->sport = udp ? UDP_PEER_PORT : CLIENT_PORT;
		s->dport = udp ? UDP_CONN_PORT : LISTEN_PORT;
	}
	s->quote = NULL;
	if (q && s->proto == 58 && s->icmp_type >= 1 && s->icmp_type <= 4 &&
	    rnd() % 4) {
		random_spec(q, NULL); /* a quote quotes no further */
		q->eth_type = 0;
		if (rnd() % 4) {
			random_spec6(q, NULL);
			q->eth_type = 0;
			if (rnd() % 2) { /* often one of ours */
				memcpy(q->s6, host6, 16);
				memcpy(q->d6, peer6, 16);
			}
		}
		s->quote = q;
	}
}

static void random_spec(struct spec *s, struct spec *q)
{
	static const __u32 protos[] = { IPPROTO_TCP, IPPROTO_TCP,  IPPROTO_UDP,
					IPPROTO_UDP, IPPROTO_ICMP, 47 };
	static const __u32 icmp_types[] = { 0, 3, 3, 8, 11, 5, 13 };
	static const __u32 eth[] = { 0x0800, 0x0800, 0x0800, 0x0800, 0x0800,
				     0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8 };

	memset(s, 0, sizeof(*s));
	s->eth_type = PICK(eth);
	s->proto = PICK(protos);
	s->saddr = PICK(addrs);
	s->daddr = PICK(addrs);
	s->sport = rnd() % 4 ? PICK(ports) : rnd() & 0xffff;
	s->dport = rnd() % 4 ? PICK(ports) : rnd() & 0xffff;
	s->tcp_flags = rnd() % 3 ? TH_SYN :
				   (rnd() & 0x3f) | TH_NONE * !(rnd() % 4);
	if (rnd() % 5 == 0)
		s->ihl = 5 + rnd() % 11;
	if (rnd() % 6 == 0)
		s->frag = (rnd() % 2 ? 0x2000 : 0) |
			  (rnd() % 3 ? 0 : rnd() % 8);
	s->ip_id = rnd() % 4;
	s->payload = rnd() % 3 ? 0 : rnd() % 40;
	s->icmp_type = PICK(icmp_types);
	s->icmp_code = rnd() % 5;
	s->icmp_id = rnd() % 2 ? ECHO_ID : rnd() & 0xffff;
	if (rnd() % 16 == 0) { /* a packet of one of the host's sockets */
		bool udp = rnd() % 2;

		s->proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
		s->saddr = PEER;
		s->daddr = HOST;
		s->sport = udp ? UDP_PEER_PORT : CLIENT_PORT;
		s->dport = udp ? UDP_CONN_PORT : LISTEN_PORT;
	}
	if (q && s->proto == IPPROTO_ICMP && rnd() % 2) {
		random_spec(q, NULL); /* a quote quotes no further */
		q->eth_type = 0;
		if (rnd() % 2) { /* often one of ours */
			q->saddr = HOST;
			q->daddr = PEER;
		}
		s->quote = q;
	}
	if (rnd() % 10 == 0)
		s->tot_len_delta = (int)(rnd() % 41) - 20;
	if (rnd() % 10 == 0)
		s->doff = rnd() % 16;
	if (rnd() % 12 == 0)
		s->version = rnd() % 16;
	if (rnd() % 3 == 0 && s->eth_type != 0x0806)
		random_spec6(s, q);
}

/* Random damage on top: flipped bytes, a shorter frame. */
static void mutate(struct frame *f)
{
	int n;

	if (rnd() % 4 == 0)
		for (n = 1 + rnd() % 3; n > 0; n--)
			f->data[rnd() % f->len] ^= 1 << (rnd() % 8);
	if (rnd() % 8 == 0)
		f->len = 14 + rnd() % (f->len > 14 ? f->len - 13 : 1);
}

static int fuzz(unsigned long long seed, long n)
{
	long i, mismatches = 0, refused = 0, counted[REASON_MAX] = {};
	int r;

	rnd_seed(seed);
	for (i = 0; i < n && mismatches < 20; i++) {
		struct spec s, q;
		__u32 ifindex = PICK(ifaces_);
		const char *problem;
		struct ref_result ref;
		struct outcome o;
		struct frame f;

		/*
		 * Both sides forget fragments now and then: an LRU is
		 * finite. A monitor watches every other thousand frames.
		 */
		if (i % 1000 == 0) {
			clear_frag_flows();
			set_monitor(i / 1000 % 2);
		}
		random_spec(&s, &q);
		build_frame(&s, &f);
		mutate(&f);
		o = run(f.data, f.len, ifindex);
		problem = o.retval < 0 && o.events ?
				  "an event for a frame never decided" :
				  NULL;
		if (o.retval < 0 && !problem) {
			refused++; /* test-run's own checks, e.g. short IPv4 */
			continue;
		}
		ref = ref_classify(f.data, f.len, ifindex);
		if (!problem)
			problem = event_problem(&o, &f, &ref, ifindex);
		if (ref.reason >= 0 && ref.reason < REASON_MAX)
			counted[ref.reason]++;
		if (agrees(o, ref.reason, ref.rule) && !problem)
			continue;
		mismatches++;
		fprintf(stderr,
			"MISMATCH seed %llu #%ld if%u: reference %s rule %u; "
			"program %s rule %ld retval %d%s%s; frame",
			seed, i, ifindex, rname(ref.reason), ref.rule,
			rname(o.reason), o.rule, o.retval, problem ? "; " : "",
			problem ? problem : "");
		for (r = 0; r < (int)f.len; r++)
			fprintf(stderr, "%s%02x", r % 4 ? "" : " ", f.data[r]);
		fputc('\n', stderr);
	}
	printf("fuzz: seed %llu: %ld frames (%ld refused by test-run), %ld "
	       "mismatches; by reason:",
	       seed, i, refused, mismatches);
	for (r = 0; r < REASON_MAX; r++)
		if (counted[r])
			printf(" %s %ld", reason_names[r], counted[r]);
	putchar('\n');
	return mismatches ? 1 : 0;
}

/* ------------------------------------------------------ monitor checks */

static int monitor_failed;

static void check(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	monitor_failed += !ok;
}

/* A SYN to a port without a rule: a drop, worth an event. */
static const struct spec drop_spec = { .proto = IPPROTO_TCP,
				       .saddr = PEER,
				       .daddr = HOST,
				       .sport = 33000,
				       .dport = 3000 };

static struct outcome send_drop(void)
{
	struct frame f;

	build_frame(&drop_spec, &f);
	return run(f.data, f.len, IF_A);
}

/*
 * When events are emitted, when they are not, and what a full ring does:
 * the counters a monitor reports must add up to what the datapath saw.
 */
static int run_monitor(void)
{
	int n = 2 * SPLICER_EVENTS_BYTES / (int)sizeof(struct splicer_event);
	struct __sk_buff ctx = { .ingress_ifindex = IF_A };
	LIBBPF_OPTS(bpf_test_run_opts, t);
	struct monitor_stats before, after;
	struct outcome o;
	struct frame f;

	monitor_on = false;
	set_heartbeat(0);
	before = monitor_counters();
	o = send_drop();
	after = monitor_counters();
	check(o.reason == REASON_DROP_NO_RULE && o.events == 0 &&
		      after.emitted == before.emitted,
	      "no heartbeat, no event");

	set_heartbeat(monotonic_ns() - SPLICER_MONITOR_STALE_NS - 1000000);
	o = send_drop();
	check(o.reason == REASON_DROP_NO_RULE && o.events == 0,
	      "a stale heartbeat, no event");
	check(heartbeat() == 0, "the datapath clears a stale heartbeat");

	set_monitor(true);
	before = monitor_counters();
	o = send_drop();
	after = monitor_counters();
	check(o.events == 1 && o.ev.reason == REASON_DROP_NO_RULE &&
		      after.emitted == before.emitted + 1 &&
		      after.lost == before.lost,
	      "a fresh heartbeat, one event, counted as emitted");
	check(heartbeat() != 0, "the datapath keeps a fresh heartbeat");

	/*
	 * Twice what the ring holds, nobody reading: the rest is lost. One
	 * test run repeats the frame n times.
	 */
	build_frame(&drop_spec, &f);
	t.data_in = f.data;
	t.data_size_in = f.len;
	t.ctx_in = &ctx;
	t.ctx_size_in = sizeof(ctx);
	t.repeat = n;
	before = monitor_counters();
	check(!bpf_prog_test_run_opts(prog_fd, &t), "a repeated test run");
	after = monitor_counters();
	n_events = 0;
	ring_buffer__consume(ring);
	check(after.lost > before.lost, "a full ring loses events");
	check(after.emitted - before.emitted + after.lost - before.lost ==
		      (__u64)n,
	      "every decision is either emitted or counted lost");
	check((__u64)n_events == after.emitted - before.emitted,
	      "the ring holds exactly the events counted as emitted");
	set_monitor(false);
	printf("prog_test: monitor, %d failed\n", monitor_failed);
	return monitor_failed ? 1 : 0;
}

/*
 * The budget of the running kernel from FILE: lines "SERIES BUDGET", where
 * SERIES is a release prefix ending at a component ("6.1" is 6.1.0-57-amd64
 * but not 6.12.57), the longest that fits wins, and "*" is every other
 * kernel. Verifiers of different releases count the same program
 * differently (older ones prune less), so each series has its own figure.
 * Returns 0, having said why, if there is none.
 */
static __u64 kernel_budget(const char *file, char *series, size_t len)
{
	unsigned long long n, found = 0;
	char line[256], name[32];
	size_t best = 0, l;
	struct utsname u;
	FILE *f;

	f = file ? fopen(file, "r") : NULL;
	if (!f || uname(&u)) {
		fprintf(stderr, "prog_test: %s: %s\n", file ? file : "(unset)",
			file ? strerror(errno) :
			       "SPLICER_VERIFIER_BUDGET not set");
		if (f)
			fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %llu", name, &n) != 2 || name[0] == '#')
			continue;
		l = strlen(name);
		if (!strcmp(name, "*")) {
			if (!best) {
				found = n;
				snprintf(series, len, "any other kernel");
			}
			continue;
		}
		if (strncmp(u.release, name, l) ||
		    !strchr(".-+", u.release[l]) || l <= best)
			continue;
		best = l;
		found = n;
		snprintf(series, len, "%s", name);
	}
	fclose(f);
	if (!found)
		fprintf(stderr, "prog_test: %s: no budget for kernel %s\n",
			file, u.release);
	return found;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *budget_file = getenv("SPLICER_VERIFIER_BUDGET");
	char series[32];
	__u64 insns, budget = 0;

	if (argc < 2 ||
	    (strcmp(argv[1], "cases") && strcmp(argv[1], "fuzz") &&
	     strcmp(argv[1], "verifier") && strcmp(argv[1], "monitor"))) {
		fprintf(stderr, "usage: prog_test cases | fuzz SEED N | "
				"monitor | verifier\n");
		return 2;
	}
	if (!strcmp(argv[1], "verifier")) {
		budget = kernel_budget(budget_file, series, sizeof(series));
		if (!budget)
			return 2;
	}
	insns = load();
	if (!strcmp(argv[1], "verifier")) {
		printf("verifier: splicer_ingress: %llu processed instructions "
		       "(budget %llu for %s)\n",
		       (unsigned long long)insns, (unsigned long long)budget,
		       series);
		return insns && insns <= budget ? 0 : 1;
	}
	open_sockets();
	open_sockets6();
	send_echo_request();
	send_echo_request6();
	open_ring();
	if (!strcmp(argv[1], "cases"))
		return run_cases();
	if (!strcmp(argv[1], "monitor"))
		return run_monitor();
	if (argc < 4) {
		fprintf(stderr, "usage: prog_test fuzz SEED N\n");
		return 2;
	}
	return fuzz(strtoull(argv[2], NULL, 0), strtol(argv[3], NULL, 0));
}
