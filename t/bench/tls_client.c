/*
 * tls_client.c: an exact-count TLS client for t/bench/tls.sh (OpenSSL, non-blocking, epoll).
 *
 * Not part of gatehouse and not part of the test suite. Built by tls.sh with
 *   cc -O2 -o tls_client tls_client.c -lssl -lcrypto
 *
 *   tls_client -p PORT -n N [-c C] [-P PROCS] [-r] [-V 1.2|1.3] [common options]
 *       Handshake mode: N new TLS connections, at most C open at once. Each does a full
 *       handshake, sends one "GET PATH" with Connection: close, reads the whole answer
 *       (Content-Length) and closes (close_notify, then close). With -r each of the C
 *       connection slots offers the session (the last ticket, or the TLS 1.2 session)
 *       that its previous connection got, so all but the first connection of a slot
 *       resume. -P forks PROCS processes that share N and C between them. Prints
 *         "conns N ok OK resumed R errors E secs S rate X/s proto P cipher C group G"
 *       (rate = OK / S, S the wall time of the whole run) and exits 0 only when every
 *       connection got a 200 (and, with -r, when at least one resumed; without -r,
 *       when none did).
 *
 *   tls_client -p PORT -i K [-c C] [common options]
 *       Idle mode: K connections (at most C, default 256, handshaking at once), each a
 *       handshake and one keep-alive request whose answer is read; then all of them stay
 *       open and idle. Prints "ready K ok OK errors E" when done (or "notready ..." at
 *       -t), "open M" (connections the server has not closed) on every SIGUSR1, and
 *       exits on SIGTERM/SIGINT or after -t SECS.
 *
 *   Common options: -u PATH (/), -H HOST (Host header and SNI, localhost), -A CAFILE
 *   (verify the server's chain and the name HOST against it; default: no verification),
 *   -G GROUPS (key exchange groups, OpenSSL's list syntax, e.g. P-256; default OpenSSL's),
 *   -t SECS (the whole run, default 600), -w SECS (one connection, default 10).
 *   Only 127.0.0.1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum st { S_FREE, S_HANDSHAKE, S_WRITE, S_READ, S_IDLE };

struct slot {
	int fd;
	enum st st;
	SSL *ssl;
	SSL_SESSION *sess; /* -r: offered by this slot's next connection */
	size_t woff;
	char head[4096];
	size_t hlen;
	long long remain; /* body bytes still expected once the head is in; -1: until EOF */
	int status;
	double deadline;
};

struct stats {
	long long conns, ok, resumed, errors;
	double secs;
	char proto[16], cipher[64], group[32];
};

static int port, ep, resume, idle_mode;
static const char *path = "/", *host = "localhost", *cafile, *groups;
static int tls_ver; /* 0: 1.2 and 1.3; 12 or 13: only that one */
static double conn_secs = 10, limit = 600;
static char req[1024];
static size_t reqlen;
static struct sockaddr_in sa;
static SSL_CTX *ctx;
static volatile sig_atomic_t stop, want_report;
static struct stats st;
static int nerrmsg;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static void on_usr1(int s)
{
	(void)s;
	want_report = 1;
}

/* The first few failures are worth a line on stderr; the rest are only counted. */
static void fail_msg(const char *what)
{
	if (nerrmsg++ >= 5)
		return;
	unsigned long e = ERR_peek_last_error();
	char eb[256] = "";
	if (e != 0)
		ERR_error_string_n(e, eb, sizeof(eb));
	fprintf(stderr, "tls_client: %s%s%s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "",
		e ? ": " : "", eb);
}

/* TLS 1.3 tickets come after the handshake, TLS 1.2 sessions at its end: keep the newest. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct slot *s = SSL_get_app_data(ssl);
	if (s == NULL || !resume)
		return 0;
	if (s->sess != NULL)
		SSL_SESSION_free(s->sess);
	s->sess = sess;
	return 1; /* we keep the reference */
}

static SSL_CTX *make_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(c, tls_ver == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(c, tls_ver == 12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	if (cafile != NULL) {
		if (SSL_CTX_load_verify_locations(c, cafile, NULL) != 1) {
			fail_msg("cannot load the CA file");
			return NULL;
		}
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	}
	if (groups != NULL && SSL_CTX_set1_groups_list(c, groups) != 1) {
		fail_msg("bad -G groups");
		return NULL;
	}
	/* the external cache only: sessions go to on_new_session, never into the context */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c, on_new_session);
	return c;
}

static void slot_close(struct slot *s)
{
	if (s->ssl != NULL) {
		/* close_notify: without it OpenSSL marks the session not resumable */
		if (SSL_shutdown(s->ssl) < 0)
			SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd != -1) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
	s->st = S_FREE;
}

static int slot_open(struct slot *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		fail_msg("socket");
		return -1;
	}
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS) {
		fail_msg("connect");
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->ssl = SSL_new(ctx);
	if (s->ssl == NULL) {
		fail_msg("SSL_new");
		slot_close(s);
		return -1;
	}
	SSL_set_app_data(s->ssl, s);
	SSL_set_fd(s->ssl, s->fd);
	SSL_set_tlsext_host_name(s->ssl, host);
	if (cafile != NULL)
		SSL_set1_host(s->ssl, host);
	if (resume && s->sess != NULL)
		SSL_set_session(s->ssl, s->sess);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
	s->st = S_HANDSHAKE;
	s->woff = 0;
	s->hlen = 0;
	s->remain = -2; /* head not in yet */
	s->status = 0;
	s->deadline = now() + conn_secs;
	return 0;
}

/* The head is in s->head (s->hlen bytes, ending with the blank line): status, length. */
static int parse_head(struct slot *s)
{
	s->head[s->hlen] = '\0';
	if (strncmp(s->head, "HTTP/1.", 7) != 0)
		return -1;
	s->status = atoi(s->head + 9);
	s->remain = -1;
	for (char *line = strstr(s->head, "\r\n"); line != NULL && line[2] != '\r'; line = strstr(line + 2, "\r\n"))
		if (strncasecmp(line + 2, "content-length:", 15) == 0)
			s->remain = atoll(line + 17);
	if (s->remain == -1 && idle_mode)
		return -1; /* a keep-alive answer needs a length */
	return 0;
}

/* Bytes of the answer; returns 1 when it is complete, 0 for more, -1 when malformed. */
static int feed(struct slot *s, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (s->remain == -2) {
			if (s->hlen >= sizeof(s->head) - 1)
				return -1;
			s->head[s->hlen++] = p[i++];
			if (s->hlen >= 4 && memcmp(s->head + s->hlen - 4, "\r\n\r\n", 4) == 0) {
				if (parse_head(s) == -1)
					return -1;
				if (s->remain == 0)
					return i == n ? 1 : -1;
			}
		} else if (s->remain == -1) {
			return 0; /* until EOF */
		} else {
			size_t k = n - i;
			if ((long long)k > s->remain)
				return -1; /* more than announced: we never pipeline */
			i += k;
			s->remain -= (long long)k;
			if (s->remain == 0)
				return 1;
		}
	}
	return 0;
}

static void note_params(SSL *ssl)
{
	if (st.proto[0] != '\0')
		return;
	snprintf(st.proto, sizeof(st.proto), "%s", SSL_get_version(ssl));
	snprintf(st.cipher, sizeof(st.cipher), "%s", SSL_get_cipher_name(ssl));
	int g = SSL_get_negotiated_group(ssl);
	const char *gn = g > 0 ? SSL_group_to_name(ssl, g) : NULL;
	snprintf(st.group, sizeof(st.group), "%s", gn != NULL ? gn : "-");
}

/* The connection in s is done: 1 ok, 0 failed. In handshake mode the slot is freed. */
static void finish(struct slot *s, int good)
{
	if (good) {
		st.ok++;
		if (SSL_session_reused(s->ssl))
			st.resumed++;
		note_params(s->ssl);
		if (resume && s->sess == NULL)
			s->sess = SSL_get1_session(s->ssl);
	} else {
		st.errors++;
	}
	if (idle_mode && good) {
		s->st = S_IDLE;
		return;
	}
	slot_close(s);
}

/* Drive one connection as far as the socket allows (edge-triggered). */
static void drive(struct slot *s)
{
	static char buf[64 * 1024];
	int r, e;
	if (s->st == S_HANDSHAKE) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(s->ssl);
		if (r != 1) {
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			fail_msg("handshake");
			finish(s, 0);
			return;
		}
		s->st = S_WRITE;
	}
	if (s->st == S_WRITE) {
		ERR_clear_error();
		errno = 0;
		r = SSL_write(s->ssl, req + s->woff, (int)(reqlen - s->woff));
		if (r <= 0) {
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			fail_msg("write");
			finish(s, 0);
			return;
		}
		s->woff += (size_t)r;
		if (s->woff < reqlen)
			return;
		s->st = S_READ;
	}
	if (s->st == S_READ || s->st == S_IDLE) {
		for (;;) {
			ERR_clear_error();
			errno = 0;
			r = SSL_read(s->ssl, buf, sizeof(buf));
			if (r > 0) {
				if (s->st == S_IDLE) {
					fail_msg("bytes on an idle connection");
					st.ok--, st.errors++;
					slot_close(s);
					return;
				}
				int f = feed(s, buf, (size_t)r);
				if (f == -1) {
					fail_msg("malformed answer");
					finish(s, 0);
					return;
				}
				if (f == 1) {
					finish(s, s->status == 200);
					return;
				}
				continue;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			if (s->st == S_IDLE) {
				slot_close(s); /* the server closed an idle connection: "open" shows it */
				return;
			}
			/* EOF: complete only for an answer without a length */
			finish(s, s->remain == -1 && s->status == 200);
			return;
		}
	}
}

/* Handshake mode: N connections, C at a time. */
static void run_conns(long long n, long long c)
{
	struct slot *sl = calloc((size_t)c, sizeof(*sl));
	struct epoll_event evs[256];
	long long started = 0, open = 0;
	double t0 = now(), end = t0 + limit, last_scan = t0;
	for (long long k = 0; k < c; k++)
		sl[k].fd = -1;
	while (!stop) {
		for (long long k = 0; k < c && started < n; k++) {
			if (sl[k].st != S_FREE)
				continue;
			started++;
			if (slot_open(&sl[k]) == -1)
				st.errors++;
		}
		open = 0;
		for (long long k = 0; k < c; k++)
			open += sl[k].st != S_FREE;
		if (open == 0 && started >= n)
			break;
		double t = now();
		if (t >= end)
			break;
		int m = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < m; k++) {
			struct slot *s = evs[k].data.ptr;
			if (s->st != S_FREE)
				drive(s);
		}
		if (t - last_scan >= 0.1) {
			last_scan = t;
			for (long long k = 0; k < c; k++)
				if (sl[k].st != S_FREE && t > sl[k].deadline) {
					errno = 0;
					fail_msg("connection timed out");
					finish(&sl[k], 0);
				}
		}
	}
	st.secs = now() - t0;
	for (long long k = 0; k < c; k++)
		if (sl[k].st != S_FREE) {
			st.errors++;
			slot_close(&sl[k]);
		}
	st.errors += n - started;
	st.conns = n;
}

/* Idle mode: K connections, at most C handshaking at once, then all idle. */
static int run_idle(long long k_total, long long c)
{
	struct slot *sl = calloc((size_t)k_total, sizeof(*sl));
	struct epoll_event evs[256];
	long long started = 0;
	int ready = 0;
	double t0 = now(), end = t0 + limit, last_scan = t0;
	for (long long k = 0; k < k_total; k++)
		sl[k].fd = -1;
	while (!stop && now() < end) {
		long long busy = started - st.ok - st.errors;
		while (started < k_total && busy < c) {
			if (slot_open(&sl[started]) == -1)
				st.errors++;
			started++;
			busy = started - st.ok - st.errors;
		}
		if (!ready && st.ok + st.errors >= k_total) {
			printf("ready %lld ok %lld errors %lld\n", k_total, st.ok, st.errors);
			fflush(stdout);
			ready = 1;
		}
		if (want_report) {
			want_report = 0;
			long long open = 0;
			for (long long k = 0; k < started; k++) {
				char b;
				if (sl[k].st != S_IDLE)
					continue;
				ssize_t r = recv(sl[k].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
				if (r == -1 && errno == EAGAIN)
					open++;
			}
			printf("open %lld\n", open);
			fflush(stdout);
		}
		int m = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < m; k++) {
			struct slot *s = evs[k].data.ptr;
			if (s->st != S_FREE)
				drive(s);
		}
		double t = now();
		if (!ready && t - last_scan >= 0.1) {
			last_scan = t;
			for (long long k = 0; k < started; k++)
				if (sl[k].st != S_FREE && sl[k].st != S_IDLE && t > sl[k].deadline) {
					errno = 0;
					fail_msg("connection timed out");
					finish(&sl[k], 0);
				}
		}
	}
	if (!ready)
		printf("notready %lld ok %lld errors %lld\n", k_total, st.ok, st.errors);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tls_client -p PORT (-n N [-c C] [-P PROCS] [-r] | -i K [-c C]) [-V 1.2|1.3]"
			" [-u PATH] [-H HOST] [-A CAFILE] [-G GROUPS] [-t SECS] [-w SECS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long long n = 0, conc = 0, idle = 0, procs = 1;
	int opt;
	while ((opt = getopt(argc, argv, "p:n:c:P:ri:V:u:H:A:G:t:w:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoll(optarg); break;
		case 'c': conc = atoll(optarg); break;
		case 'P': procs = atoll(optarg); break;
		case 'r': resume = 1; break;
		case 'i': idle = atoll(optarg); break;
		case 'V':
			if (strcmp(optarg, "1.2") == 0)
				tls_ver = 12;
			else if (strcmp(optarg, "1.3") == 0)
				tls_ver = 13;
			else
				usage();
			break;
		case 'u': path = optarg; break;
		case 'H': host = optarg; break;
		case 'A': cafile = optarg; break;
		case 'G': groups = optarg; break;
		case 't': limit = atof(optarg); break;
		case 'w': conn_secs = atof(optarg); break;
		default: usage();
		}
	}
	idle_mode = idle > 0;
	if (conc <= 0)
		conc = idle_mode ? 256 : 10;
	if (port <= 0 || (n <= 0 && idle <= 0) || procs < 1 || (idle_mode && procs != 1))
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGUSR1, on_usr1);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	reqlen = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tls_client\r\n%s\r\n",
				  path, host, idle_mode ? "" : "Connection: close\r\n");
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ctx = make_ctx();
	if (ctx == NULL)
		return 1;

	if (idle_mode) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		return run_idle(idle, conc);
	}
	if (conc > n)
		conc = n;
	if (procs > conc)
		procs = conc;
	/* -P: each process takes its share of N and C; the figures go through a shared map */
	struct stats *shared = mmap(NULL, (size_t)procs * sizeof(*shared), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("tls_client: mmap");
		return 1;
	}
	double t0 = now();
	for (long long p = 0; p < procs; p++) {
		long long pn = n / procs + (p < n % procs), pc = conc / procs + (p < conc % procs);
		pid_t pid = procs == 1 ? 0 : fork();
		if (pid == -1) {
			perror("tls_client: fork");
			return 1;
		}
		if (pid == 0) {
			ep = epoll_create1(EPOLL_CLOEXEC);
			run_conns(pn, pc);
			shared[p] = st;
			if (procs > 1)
				_exit(0);
		}
	}
	if (procs > 1)
		while (wait(NULL) > 0 || errno == EINTR)
			;
	struct stats tot = {0};
	for (long long p = 0; p < procs; p++) {
		tot.conns += shared[p].conns, tot.ok += shared[p].ok;
		tot.resumed += shared[p].resumed, tot.errors += shared[p].errors;
		if (tot.proto[0] == '\0' && shared[p].proto[0] != '\0') {
			memcpy(tot.proto, shared[p].proto, sizeof(tot.proto));
			memcpy(tot.cipher, shared[p].cipher, sizeof(tot.cipher));
			memcpy(tot.group, shared[p].group, sizeof(tot.group));
		}
	}
	tot.secs = now() - t0;
	printf("conns %lld ok %lld resumed %lld errors %lld secs %.3f rate %.1f/s proto %s cipher %s group %s\n",
	       tot.conns, tot.ok, tot.resumed, tot.errors, tot.secs, tot.secs > 0 ? tot.ok / tot.secs : 0.0,
	       tot.proto[0] ? tot.proto : "-", tot.cipher[0] ? tot.cipher : "-", tot.group[0] ? tot.group : "-");
	int good = tot.ok == tot.conns && tot.errors == 0 && (resume ? tot.resumed > 0 : tot.resumed == 0);
	return good ? 0 : 1;
}
