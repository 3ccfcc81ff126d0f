// SPDX-License-Identifier: GPL-2.0-only
/*
 * The end-to-end benchmark's TCP server and clients.
 *
 *   tcpbench server ADDR:PORT [--transparent] [--threads N]
 *   tcpbench conn ADDR:PORT COUNT PARALLEL SECONDS
 *   tcpbench bulk ADDR:PORT MBYTES SECONDS
 *   tcpbench reuse ADDR:PORT COUNT FIRST_PORT NPORTS SECONDS
 *
 * A connection opens with a request of REQ_LEN bytes whose first byte says
 * what the client wants:
 *
 *   'c'  answer REQ_LEN bytes, close after the client has (conn: the
 *        client closes first, as a short HTTP exchange would)
 *   'w'  answer REQ_LEN bytes and close at once (reuse: the server closes
 *        first and keeps the 4-tuple in TIME_WAIT)
 *   'b'  count the bytes of the stream up to its end, answer the count
 *        (8 bytes), close (bulk)
 *
 * ADDR:PORT is a.b.c.d:port or [ADDR6]:port; the sockets are of its
 * family. The server runs until it is killed. A client stops at COUNT connections
 * (or MBYTES megabytes) or after SECONDS, whichever comes first, and prints
 * one JSON object: what it did and how fast. --transparent sets
 * IP_TRANSPARENT (IPV6_TRANSPARENT) on the listener, which netfilter's
 * TPROXY needs and splicer does not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_LEN 16
#define IO_TIMEOUT_S 2 /* per connect/read/write; a stall is a failure */
#define SLOW_NS 200000000ULL /* a connection this slow waited for a retry */
#define BULK_CHUNK (256 * 1024)
#define MAX_THREADS 256

/* The server's or the clients' ADDR:PORT; a sockaddr_in for IPv4. */
static struct sockaddr_in6 target;
static socklen_t target_len;

static void die(const char *what)
{
	fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: tcpbench server ADDR:PORT [--transparent] [--threads N]\n"
		"       tcpbench conn ADDR:PORT COUNT PARALLEL SECONDS\n"
		"       tcpbench bulk ADDR:PORT MBYTES SECONDS\n"
		"       tcpbench reuse ADDR:PORT COUNT FIRST_PORT NPORTS SECONDS\n");
	exit(1);
}

static unsigned long number(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end)
		usage();
	return v;
}

static void parse_ap(const char *s)
{
	struct sockaddr_in *sa = (void *)&target;
	char host[64];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t len;

	if (!colon)
		usage();
	len = colon - s;
	if (*s == '[') {
		if (len < 2 || s[len - 1] != ']')
			usage();
		h = s + 1;
		len -= 2;
	}
	if (len >= sizeof(host))
		usage();
	memcpy(host, h, len);
	host[len] = 0;
	memset(&target, 0, sizeof(target));
	if (h != s) {
		target.sin6_family = AF_INET6;
		target.sin6_port = htons(number(colon + 1));
		target_len = sizeof(struct sockaddr_in6);
		if (inet_pton(AF_INET6, host, &target.sin6_addr) != 1)
			usage();
	} else {
		sa->sin_family = AF_INET;
		sa->sin_port = htons(number(colon + 1));
		target_len = sizeof(struct sockaddr_in);
		if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
			usage();
	}
}

/* A TCP socket of the target's family. */
static int tcp_socket(void)
{
	int fd = socket(target.sin6_family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Read exactly len bytes; 0 on success, -1 on error or early end. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, (const char *)buf + done, len - done);
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Wait for the peer's end of stream, discarding anything before it. */
static int read_eof(int fd)
{
	char buf[256];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	return n == 0 ? 0 : -1;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	/* SO_SNDTIMEO also bounds a blocking connect(). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		die("setsockopt timeouts");
}

/* ------------------------------------------------------------ server */

static void serve_one(int fd)
{
	char req[REQ_LEN], buf[BULK_CHUNK];
	unsigned long long total = 0;
	ssize_t n;

	set_timeouts(fd, 10);
	if (read_full(fd, req, 1))
		return;
	if (req[0] == 'b') {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			total += n;
		if (n == 0)
			write_full(fd, &total, sizeof(total));
		return;
	}
	if (read_full(fd, req + 1, REQ_LEN - 1) || write_full(fd, req, REQ_LEN))
		return;
	if (req[0] == 'c')
		read_eof(fd);
	/* 'w': close first */
}

static void *server_thread(void *arg)
{
	int lfd = *(int *)arg, fd;

	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		serve_one(fd);
		close(fd);
	}
	return NULL;
}

static int do_server(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	int lfd, one = 1, transparent = 0, i;
	unsigned long threads = 16;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--transparent"))
			transparent = 1;
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = number(argv[++i]);
		else
			usage();
	}
	if (!threads || threads > MAX_THREADS)
		usage();
	lfd = tcp_socket();
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	if (transparent && target.sin6_family == AF_INET6 &&
	    setsockopt(lfd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
		die("IPV6_TRANSPARENT");
	if (transparent && target.sin6_family == AF_INET &&
	    setsockopt(lfd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one)))
		die("IP_TRANSPARENT");
	if (bind(lfd, (void *)&target, target_len) || listen(lfd, 4096))
		die("listen");
	/* One blocking accept loop per thread: each connection is short. */
	for (i = 0; i < (int)threads; i++)
		if (pthread_create(&tid[i], NULL, server_thread, &lfd))
			die("pthread_create");
	pthread_join(tid[0], NULL);
	return 0;
}

/* ------------------------------------------------------------ clients */

static unsigned long long deadline;

static int connect_to(int fd)
{
	return connect(fd, (void *)&target, target_len);
}

/* One short exchange; returns 0 or the errno of what failed. */
static int exchange(int fd, char kind)
{
	char req[REQ_LEN], rep[REQ_LEN];

	memset(req, 'x', sizeof(req));
	req[0] = kind;
	set_timeouts(fd, IO_TIMEOUT_S);
	if (connect_to(fd))
		return errno;
	if (write_full(fd, req, sizeof(req)) || read_full(fd, rep, sizeof(rep)))
		return errno ? errno : EPIPE;
	if (memcmp(req, rep, sizeof(req)))
		return EPROTO;
	if (kind == 'w' && read_eof(fd))
		return errno ? errno : EPROTO;
	return 0;
}

struct tally {
	atomic_ulong next, ok, failed, slow;
	atomic_int first_error;
	unsigned long count;
};

static void note(struct tally *t, int err, unsigned long long ns)
{
	int zero = 0;

	if (err) {
		atomic_fetch_add(&t->failed, 1);
		atomic_compare_exchange_strong(&t->first_error, &zero, err);
		return;
	}
	atomic_fetch_add(&t->ok, 1);
	if (ns > SLOW_NS)
		atomic_fetch_add(&t->slow, 1);
}

static void print_tally(const char *mode, struct tally *t,
			unsigned long long start, unsigned long busy)
{
	double s = (now_ns() - start) / 1e9;
	int e = atomic_load(&t->first_error);

	printf("{\"mode\":\"%s\",\"count\":%lu,\"ok\":%lu,\"failed\":%lu,"
	       "\"slow\":%lu,\"busy\":%lu,\"seconds\":%.3f,"
	       "\"per_second\":%.0f,\"first_error\":\"%s\"}\n",
	       mode, t->count, atomic_load(&t->ok), atomic_load(&t->failed),
	       atomic_load(&t->slow), busy, s, atomic_load(&t->ok) / s,
	       e ? strerror(e) : "");
}

static void *conn_thread(void *arg)
{
	struct tally *t = arg;
	unsigned long long t0;
	int fd, err;

	while (atomic_fetch_add(&t->next, 1) < t->count &&
	       now_ns() < deadline) {
		t0 = now_ns();
		fd = tcp_socket();
		err = exchange(fd, 'c');
		close(fd);
		note(t, err, now_ns() - t0);
	}
	return NULL;
}

static int do_conn(int argc, char **argv)
{
	static struct tally t;
	pthread_t tid[MAX_THREADS];
	unsigned long par, i;
	unsigned long long start;

	if (argc != 3)
		usage();
	t.count = number(argv[0]);
	par = number(argv[1]);
	if (!par || par > MAX_THREADS)
		usage();
	start = now_ns();
	deadline = start + number(argv[2]) * 1000000000ULL;
	for (i = 0; i < par; i++)
		if (pthread_create(&tid[i], NULL, conn_thread, &t))
			die("pthread_create");
	for (i = 0; i < par; i++)
		pthread_join(tid[i], NULL);
	print_tally("conn", &t, start, 0);
	return 0;
}

/*
 * One client reusing NPORTS source ports in turn. The server closed each
 * earlier connection first, so the next SYN of a port meets the server's
 * TIME_WAIT socket for the same 4-tuple. The client's own socket is in
 * LAST_ACK for a round trip after close; if it is still there when the
 * port comes round again, connect() says EADDRNOTAVAIL and the port is
 * skipped ("busy"), which costs nothing on the wire.
 */
static int do_reuse(int argc, char **argv)
{
	static struct tally t;
	struct sockaddr_in6 me = { .sin6_family = target.sin6_family };
	unsigned long first, nports, busy = 0, i = 0;
	unsigned long long start, t0;
	int fd, one = 1, err;

	if (argc != 4)
		usage();
	t.count = number(argv[0]);
	first = number(argv[1]);
	nports = number(argv[2]);
	if (!nports || first + nports > 65536)
		usage();
	start = now_ns();
	deadline = start + number(argv[3]) * 1000000000ULL;
	while (atomic_load(&t.ok) + atomic_load(&t.failed) < t.count &&
	       now_ns() < deadline) {
		/* sin_port and sin6_port are at the same place */
		me.sin6_port = htons(first + i++ % nports);
		t0 = now_ns();
		fd = tcp_socket();
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
			die("SO_REUSEADDR");
		if (bind(fd, (void *)&me, target_len)) {
			err = errno;
		} else {
			err = exchange(fd, 'w');
		}
		close(fd);
		if (err == EADDRINUSE || err == EADDRNOTAVAIL) {
			busy++;
			continue;
		}
		note(&t, err, now_ns() - t0);
	}
	print_tally("reuse", &t, start, busy);
	return 0;
}

static int do_bulk(int argc, char **argv)
{
	static char buf[BULK_CHUNK];
	unsigned long long want, sent = 0, got, start;
	double s;
	int fd;

	if (argc != 2)
		usage();
	want = number(argv[0]) * 1000000ULL;
	start = now_ns();
	deadline = start + number(argv[1]) * 1000000000ULL;
	memset(buf, 'b', sizeof(buf));
	fd = tcp_socket();
	set_timeouts(fd, IO_TIMEOUT_S);
	if (connect_to(fd) || write_full(fd, "b", 1))
		die("bulk connect");
	while (sent < want && now_ns() < deadline) {
		size_t n = want - sent < sizeof(buf) ? want - sent :
						       sizeof(buf);

		if (write_full(fd, buf, n))
			die("bulk write");
		sent += n;
	}
	if (shutdown(fd, SHUT_WR) || read_full(fd, &got, sizeof(got)))
		die("bulk: read the server's count");
	s = (now_ns() - start) / 1e9;
	if (got != sent) {
		fprintf(stderr,
			"tcpbench: bulk: sent %llu bytes, server got %llu\n",
			sent, got);
		return 2;
	}
	printf("{\"mode\":\"bulk\",\"bytes\":%llu,\"seconds\":%.3f,"
	       "\"mbytes_per_second\":%.1f}\n",
	       sent, s, sent / 1e6 / s);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	parse_ap(argv[2]);
	if (!strcmp(argv[1], "server"))
		return do_server(argc - 3, argv + 3);
	if (!strcmp(argv[1], "conn"))
		return do_conn(argc - 3, argv + 3);
	if (!strcmp(argv[1], "bulk"))
		return do_bulk(argc - 3, argv + 3);
	if (!strcmp(argv[1], "reuse"))
		return do_reuse(argc - 3, argv + 3);
	usage();
	return 1;
}
