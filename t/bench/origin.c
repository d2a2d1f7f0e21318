/*
 * origin.c: a tiny single-threaded epoll HTTP/1.1 origin for t/bench/bench.sh.
 *
 * Not part of gatehouse and not part of the test suite. It answers every GET
 * with 200 and keeps the connection alive (unless the request asks for close):
 *   /64k...        65,536 bytes of 'x'
 *   /1k...         1,024 bytes of 'x' (for t/bench/cache.sh)
 *   /text100k...   100,000 bytes of text/plain prose (words drawn by a fixed
 *                  LCG, lines of about 72 columns: gzip -5 makes it about a
 *                  third), for the compression rows
 *   /__stats       "accepts A requests R\n" (counters since start; for the
 *                  upstream-reuse figure; query it directly, not via a proxy)
 *   anything else  "hello world\n" (12 bytes)
 * Request bodies are not supported (the benchmark only sends GETs).
 *
 * usage: origin PORTFILE       binds 127.0.0.1:0, writes the port to PORTFILE
 * Runs until SIGTERM/SIGINT or for at most 2 hours.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
#define BIG (64 * 1024)
#define KB1 1024
#define TEXT 100000

struct oconn {
	char in[8192];
	size_t inlen;
	const char *out; /* pending response bytes */
	size_t outlen;
	char hdr[256]; /* per-connection head when a body follows from a static buffer */
	int close_after;
};

static struct oconn *conns[MAXFD];
static unsigned long long n_accepts, n_requests;
static volatile sig_atomic_t stop;
static char small_resp[256], big_resp[BIG + 256], stats_resp[256];
static char kb1_resp[KB1 + 256], kb1_close[KB1 + 256];
static size_t kb1_len, kb1_close_len;
static char small_close[256], big_close[BIG + 256];
static size_t small_len, big_len, small_close_len, big_close_len;
static char text_resp[TEXT + 256], text_close[TEXT + 256];
static size_t text_len, text_close_len;

/* TEXT bytes of prose at out (deterministic). */
static void make_text(char *out)
{
	static const char *const words[] = {
		"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with",
		"be", "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which",
		"but", "have", "an", "had", "they", "you", "were", "their", "one", "all", "we",
		"can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who",
		"so", "no", "proxy", "request", "server", "header", "response", "connection",
		"upstream", "buffer", "compression", "configuration", "worker", "client", "timeout",
		"memory", "window", "stream", "between", "through", "without", "against", "during"};
	unsigned long long x = 42;
	size_t n = 0, col = 0;
	while (n < TEXT) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		const char *w = words[(x >> 33) % (sizeof(words) / sizeof(words[0]))];
		for (; *w != '\0' && n < TEXT; w++, col++)
			out[n++] = *w;
		if (n < TEXT)
			out[n++] = col > 72 ? '\n' : ' ';
		col = col > 72 ? 0 : col + 1;
	}
}

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* Try to flush pending output; returns -1 when the connection must close. */
static int flush_out(int fd, struct oconn *c)
{
	while (c->outlen > 0) {
		ssize_t n = write(fd, c->out, c->outlen);
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->out += n;
		c->outlen -= (size_t)n;
	}
	return c->close_after ? -1 : 0;
}

/* Parse as many complete request heads as are buffered; queue one answer at a time. */
static int serve(int fd, struct oconn *c)
{
	while (c->outlen == 0) {
		char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
		if (end == NULL)
			return c->inlen >= sizeof(c->in) ? -1 : 0;
		size_t headlen = (size_t)(end - c->in) + 4;
		n_requests++;
		c->close_after = memmem(c->in, headlen, "onnection: close", 16) != NULL ||
				 memmem(c->in, headlen, "HTTP/1.0", 8) != NULL;
		if (c->inlen > 13 && memcmp(c->in, "GET /text100k", 13) == 0) {
			c->out = c->close_after ? text_close : text_resp;
			c->outlen = c->close_after ? text_close_len : text_len;
		} else if (c->inlen > 7 && memcmp(c->in, "GET /1k", 7) == 0) {
			c->out = c->close_after ? kb1_close : kb1_resp;
			c->outlen = c->close_after ? kb1_close_len : kb1_len;
		} else if (c->inlen > 8 && memcmp(c->in, "GET /64k", 8) == 0) {
			c->out = c->close_after ? big_close : big_resp;
			c->outlen = c->close_after ? big_close_len : big_len;
		} else if (c->inlen > 13 && memcmp(c->in, "GET /__stats ", 13) == 0) {
			int n = snprintf(stats_resp + 128, 128, "accepts %llu requests %llu\n", n_accepts,
					 n_requests);
			int h = snprintf(c->hdr, sizeof(c->hdr),
					 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n%s\r\n%s",
					 n, c->close_after ? "Connection: close\r\n" : "", stats_resp + 128);
			c->out = c->hdr;
			c->outlen = (size_t)h;
		} else {
			c->out = c->close_after ? small_close : small_resp;
			c->outlen = c->close_after ? small_close_len : small_len;
		}
		memmove(c->in, c->in + headlen, c->inlen - headlen);
		c->inlen -= headlen;
		if (flush_out(fd, c) == -1)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: origin PORTFILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	small_len = (size_t)snprintf(small_resp, sizeof(small_resp),
				     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: text/plain\r\n"
				     "Content-Length: 12\r\n\r\nhello world\n");
	int h = snprintf(big_resp, sizeof(big_resp),
			 "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Length: %d\r\n\r\n", BIG);
	memset(big_resp + h, 'x', BIG);
	big_len = (size_t)h + BIG;
	small_close_len = (size_t)snprintf(small_close, sizeof(small_close),
					   "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: text/plain\r\n"
					   "Connection: close\r\nContent-Length: 12\r\n\r\nhello world\n");
	h = snprintf(big_close, sizeof(big_close),
		     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: application/octet-stream\r\n"
		     "Connection: close\r\nContent-Length: %d\r\n\r\n", BIG);
	memset(big_close + h, 'x', BIG);
	big_close_len = (size_t)h + BIG;
	h = snprintf(kb1_resp, sizeof(kb1_resp),
		     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: application/octet-stream\r\n"
		     "Content-Length: %d\r\n\r\n", KB1);
	memset(kb1_resp + h, 'x', KB1);
	kb1_len = (size_t)h + KB1;
	h = snprintf(kb1_close, sizeof(kb1_close),
		     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: application/octet-stream\r\n"
		     "Connection: close\r\nContent-Length: %d\r\n\r\n", KB1);
	memset(kb1_close + h, 'x', KB1);
	kb1_close_len = (size_t)h + KB1;
	h = snprintf(text_resp, sizeof(text_resp),
		     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\n\r\n", TEXT);
	make_text(text_resp + h);
	text_len = (size_t)h + TEXT;
	h = snprintf(text_close, sizeof(text_close),
		     "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Type: text/plain\r\n"
		     "Connection: close\r\nContent-Length: %d\r\n\r\n", TEXT);
	make_text(text_close + h);
	text_close_len = (size_t)h + TEXT;

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(ls, 4096) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1) {
		perror("origin: bind/listen");
		return 1;
	}
	FILE *pf = fopen(argv[1], "w");
	if (pf == NULL) {
		perror(argv[1]);
		return 1;
	}
	fprintf(pf, "%d\n", ntohs(sa.sin_port));
	fclose(pf);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	time_t deadline = time(NULL) + 7200;
	struct epoll_event evs[256];
	while (!stop && time(NULL) < deadline) {
		int n = epoll_wait(ep, evs, 256, 1000);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				for (int k = 0; k < 256; k++) {
					int cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (cfd == -1)
						break;
					if (cfd >= MAXFD) {
						close(cfd);
						continue;
					}
					n_accepts++;
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conns[cfd] = calloc(1, sizeof(struct oconn));
					struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = cfd};
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
				}
				continue;
			}
			struct oconn *c = conns[fd];
			if (c == NULL)
				continue;
			if ((evs[i].events & EPOLLOUT) && c->outlen > 0 && flush_out(fd, c) == -1) {
				drop(ep, fd);
				continue;
			}
			if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->outlen == 0) {
				int closed = 0;
				for (;;) {
					ssize_t r = read(fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
					if (r > 0) {
						c->inlen += (size_t)r;
						if (serve(fd, c) == -1) {
							closed = 1;
							break;
						}
						if (c->inlen == sizeof(c->in))
							break;
						continue;
					}
					if (r == 0 || errno != EAGAIN)
						closed = 1;
					break;
				}
				if (!closed && serve(fd, c) == -1)
					closed = 1;
				if (closed)
					drop(ep, fd);
			}
		}
	}
	return 0;
}
