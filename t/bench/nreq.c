/*
 * nreq.c: an exact-count HTTP/1.1 keep-alive client for t/bench/bench.sh.
 *
 * Not part of gatehouse and not part of the test suite.
 *
 *   nreq -p PORT -n N [-c C] [-u PATH] [-H HOST] [-t SECS] [-b ADDR] [-C] [-e STATUS] [-a K]
 *       Opens C keep-alive connections and sends exactly N GET requests over
 *       them, one outstanding per connection. Prints
 *       "requests N ok OK non200 X errors E secs S" and exits 0 only when every
 *       response was a complete 200. Connections the server closes are reopened.
 *       -b ADDR   connect from this IPv4 source address (127.0.0.2: a second client)
 *       -C        one request per connection: close after each answer, open anew
 *       -e STATUS the expected status instead of 200 ("ok" counts it); 0 expects
 *                 the server to close (FIN or RST) before sending a byte
 *       -a K      exit 0 even when up to K answers had another status
 *
 *   nreq -p PORT -i K [-u PATH] [-H HOST] [-t SECS]
 *       Idle mode: opens K connections (at most 256 in progress at once), sends one
 *       request on each and reads the answer, then keeps all of them open and
 *       idle. Prints "ready K ok OK" when done, and "open M" (connections the
 *       server has not closed) on every SIGUSR1. Exits on SIGTERM/SIGINT or after
 *       -t SECS (default 600).
 *
 * Responses may be framed by Content-Length or chunked encoding.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum st { S_CONNECTING, S_HEAD, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF, S_TRAILER, S_IDLE };

struct cl {
	int fd;
	enum st st;
	char head[4096];
	size_t hlen;
	long long remain;
	int status;
	int server_close;
};

static int port, ep;
static char req[1024];
static size_t reqlen;
static long long n_target, n_sent, n_ok, n_non200, n_err;
static int expect = 200, per_conn;
static struct sockaddr_in src;
static volatile sig_atomic_t stop, want_report;
static struct sockaddr_in sa;

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

static int open_conn(struct cl *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		perror("nreq: socket");
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src.sin_family == AF_INET) {
		/* the port is chosen at connect, per destination: no early exhaustion */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			perror("nreq: bind");
			close(c->fd);
			return -1;
		}
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS) {
		perror("nreq: connect");
		close(c->fd);
		return -1;
	}
	c->st = S_CONNECTING;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void close_conn(struct cl *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static int send_req(struct cl *c)
{
	/* The request is small: a loopback socket accepts it whole or not at all. */
	ssize_t n = write(c->fd, req, reqlen);
	if (n != (ssize_t)reqlen)
		return -1;
	n_sent++;
	c->st = S_HEAD;
	c->hlen = 0;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

/* Parse the response head in c->head; returns -1 when malformed. */
static int parse_head(struct cl *c)
{
	c->head[c->hlen] = '\0';
	if (strncmp(c->head, "HTTP/1.", 7) != 0)
		return -1;
	c->status = atoi(c->head + 9);
	c->remain = -1;
	c->server_close = strncmp(c->head, "HTTP/1.0", 8) == 0;
	int chunked = 0;
	for (char *line = strstr(c->head, "\r\n"); line != NULL && line[2] != '\r';
	     line = strstr(line + 2, "\r\n")) {
		char *h = line + 2;
		if (strncasecmp(h, "content-length:", 15) == 0)
			c->remain = atoll(h + 15);
		else if (strncasecmp(h, "transfer-encoding:", 18) == 0 && strcasestr(h, "chunked") != NULL &&
			 strcasestr(h, "chunked") < strstr(h, "\r\n"))
			chunked = 1;
		else if (strncasecmp(h, "connection:", 11) == 0) {
			char *v = h + 11, *e = strstr(h, "\r\n");
			char *cl = strcasestr(v, "close");
			if (cl != NULL && cl < e)
				c->server_close = 1;
			char *ka = strcasestr(v, "keep-alive");
			if (ka != NULL && ka < e)
				c->server_close = 0;
		}
	}
	if (chunked) {
		c->st = S_CHUNK_SIZE;
		c->hlen = 0;
	} else if (c->remain >= 0) {
		c->st = S_BODY;
	} else {
		return -1; /* close-delimited: not expected from a keep-alive proxy */
	}
	return 0;
}

/* Feed bytes; returns 1 when a response completed, 0 when more is needed, -1 on error. */
static int feed(struct cl *c, const char *p, size_t n, size_t *used)
{
	size_t i = 0;
	while (i < n) {
		switch (c->st) {
		case S_HEAD:
			if (c->hlen >= sizeof(c->head) - 1)
				return -1;
			c->head[c->hlen++] = p[i++];
			if (c->hlen >= 4 && memcmp(c->head + c->hlen - 4, "\r\n\r\n", 4) == 0) {
				if (parse_head(c) == -1)
					return -1;
				if (c->st == S_BODY && c->remain == 0)
					goto done;
			}
			break;
		case S_BODY:
		case S_CHUNK_DATA: {
			size_t k = n - i;
			if ((long long)k > c->remain)
				k = (size_t)c->remain;
			i += k;
			c->remain -= (long long)k;
			if (c->remain == 0) {
				if (c->st == S_BODY)
					goto done;
				c->st = S_CHUNK_CRLF;
				c->hlen = 0;
			}
			break;
		}
		case S_CHUNK_CRLF:
			i++;
			if (++c->hlen == 2)
				c->st = S_CHUNK_SIZE, c->hlen = 0;
			break;
		case S_CHUNK_SIZE:
			if (c->hlen >= 64)
				return -1;
			c->head[c->hlen++] = p[i++];
			if (c->hlen >= 2 && c->head[c->hlen - 2] == '\r' && c->head[c->hlen - 1] == '\n') {
				c->head[c->hlen] = '\0';
				c->remain = strtoll(c->head, NULL, 16);
				c->hlen = 0;
				c->st = c->remain == 0 ? S_TRAILER : S_CHUNK_DATA;
			}
			break;
		case S_TRAILER:
			if (c->hlen >= sizeof(c->head) - 1)
				return -1;
			c->head[c->hlen++] = p[i++];
			if ((c->hlen == 2 && memcmp(c->head, "\r\n", 2) == 0) ||
			    (c->hlen >= 4 && memcmp(c->head + c->hlen - 4, "\r\n\r\n", 4) == 0))
				goto done;
			break;
		default:
			return -1;
		}
	}
	*used = i;
	return 0;
done:
	*used = i;
	return 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: nreq -p PORT (-n N [-c C] | -i K) [-u PATH] [-H HOST] [-t SECS] [-b ADDR] [-C]"
			" [-e STATUS] [-a K]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long long conc = 10, idle = 0, allow_other = 0;
	const char *path = "/", *host = "localhost";
	double limit = 600;
	int opt;
	while ((opt = getopt(argc, argv, "p:n:c:i:u:H:t:b:Ce:a:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': n_target = atoll(optarg); break;
		case 'c': conc = atoll(optarg); break;
		case 'i': idle = atoll(optarg); break;
		case 'u': path = optarg; break;
		case 'H': host = optarg; break;
		case 't': limit = atof(optarg); break;
		case 'b':
			src.sin_family = AF_INET;
			if (inet_pton(AF_INET, optarg, &src.sin_addr) != 1)
				usage();
			break;
		case 'C': per_conn = 1; break;
		case 'e': expect = atoi(optarg); break;
		case 'a': allow_other = atoll(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || (n_target <= 0 && idle <= 0) || conc <= 0)
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
	reqlen = (size_t)snprintf(req, sizeof(req),
				  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nreq\r\nAccept: */*\r\n\r\n", path, host);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep = epoll_create1(EPOLL_CLOEXEC);

	long long nconn = idle > 0 ? idle : (conc < n_target ? conc : n_target);
	struct cl *cls = calloc((size_t)nconn, sizeof(struct cl));
	if (cls == NULL) {
		perror("nreq: calloc");
		return 1;
	}
	if (idle > 0)
		n_target = idle;
	long long opened = 0, inflight = 0, done_idle = 0;
	long long max_inflight = idle > 0 ? 256 : nconn;
	double t0 = now(), deadline = t0 + limit;
	static char buf[256 * 1024];
	struct epoll_event evs[512];
	int ready_printed = 0;

	while (!stop && now() < deadline) {
		while (opened < nconn && inflight < max_inflight) {
			if (open_conn(&cls[opened]) == -1) {
				n_err++;
				stop = 1;
				break;
			}
			opened++;
			inflight++;
		}
		if (idle == 0 && n_ok + n_non200 + n_err >= n_target)
			break;
		if (idle > 0 && done_idle + n_err >= idle && !ready_printed) {
			printf("ready %lld ok %lld\n", idle, n_ok);
			fflush(stdout);
			ready_printed = 1;
		}
		if (want_report) {
			want_report = 0;
			long long open = 0;
			for (long long k = 0; k < opened; k++) {
				char b;
				if (cls[k].fd == -1)
					continue;
				ssize_t r = recv(cls[k].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
				if (r == -1 && errno == EAGAIN)
					open++;
			}
			printf("open %lld\n", open);
			fflush(stdout);
		}
		int n = epoll_wait(ep, evs, 512, 200);
		for (int k = 0; k < n; k++) {
			struct cl *c = evs[k].data.ptr;
			if (c->fd == -1)
				continue;
			if (c->st == S_IDLE) {
				continue; /* counted on SIGUSR1 */
			}
			if (c->st == S_CONNECTING && idle == 0 && n_sent >= n_target) {
				close_conn(c);          /* reopened while the last requests were out */
				inflight--;
				continue;
			}
			if (c->st == S_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0 || send_req(c) == -1) {
					n_err++;
					close_conn(c);
					inflight--;
					if (idle == 0 && n_sent < n_target && open_conn(c) == 0)
						inflight++;
					continue;
				}
				continue;
			}
			int fin = 0, bad = 0, shut = 0;
			for (;;) {
				ssize_t r = read(c->fd, buf, sizeof(buf));
				if (r == 0 || (r == -1 && errno != EAGAIN)) {
					/* closed before a byte of the answer: what -e 0 expects */
					shut = c->st == S_HEAD && c->hlen == 0 && (r == 0 || errno == ECONNRESET);
					bad = 1;
					break;
				}
				if (r == -1)
					break;
				size_t off = 0;
				while (off < (size_t)r) {
					size_t used = 0;
					int f = feed(c, buf + off, (size_t)r - off, &used);
					off += used;
					if (f == -1) {
						bad = 1;
						break;
					}
					if (f == 1) {
						fin = 1;
						if (c->status == expect)
							n_ok++;
						else
							n_non200++;
						if (off < (size_t)r)
							bad = 1; /* extra bytes: we never pipeline */
						break;
					}
				}
				if (bad || fin)
					break;
			}
			if (fin && !bad) {
				if (idle > 0) {
					c->st = S_IDLE;
					done_idle++;
					inflight--;
					struct epoll_event ev = {.events = 0, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				} else if (n_sent >= n_target) {
					close_conn(c);
					inflight--;
				} else if (per_conn || c->server_close || send_req(c) == -1) {
					close_conn(c);
					inflight--;
					if (open_conn(c) == 0)
						inflight++;
				}
			} else if (bad) {
				if (shut && expect == 0)
					n_ok++;
				else
					n_err++;
				close_conn(c);
				inflight--;
				if (idle == 0 && n_sent < n_target && open_conn(c) == 0)
					inflight++;
			}
		}
	}
	if (idle == 0) {
		double secs = now() - t0;
		printf("requests %lld ok %lld non200 %lld errors %lld secs %.3f\n", n_target, n_ok, n_non200, n_err,
		       secs);
		return (n_ok + n_non200 == n_target && n_non200 <= allow_other && n_err == 0) ? 0 : 1;
	}
	if (!ready_printed)
		printf("notready %lld ok %lld errors %lld\n", idle, n_ok, n_err);
	return 0;
}
