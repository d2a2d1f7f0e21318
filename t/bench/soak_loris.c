/*
 * soak_loris.c: a slowloris client for t/bench/soak.sh.
 *
 * Not part of gatehouse and not part of the test suite.
 *
 *   soak_loris -p PORT -n N [-b FIRST] [-a NADDR] [-i MS] [-t SECS] [-o FILE]
 *
 * Opens N connections to 127.0.0.1:PORT, spread round robin over the source
 * addresses 127.0.0.FIRST .. 127.0.0.(FIRST+NADDR-1) (default 2 and 20), at
 * most 256 connecting at once. Each sends the start of a request head
 * ("GET / HTTP/1.1\r\nHost: loris\r\n") and then one more header line every
 * MS milliseconds (default 3000), never the blank line that ends the head.
 * When the server closes a connection (after a 408 or silently), it is
 * counted and opened again at once from the same address, so connections
 * that started together time out together again: a wave every client-header
 * timeout.
 *
 * Every 100 ms in which the server closed some connections, FILE (default
 * stdout) gets "EPOCH_MS CLOSES WITH_BYTES" (the wall clock at the end of
 * that tenth of a second; WITH_BYTES: closes that came after some response
 * bytes, a 408). "ready N" is printed on stderr once N connections have been
 * open at the same time. On SIGTERM/SIGINT or after -t SECS (default 600) it
 * prints "loris conns N closes C with_bytes B connect_errors E" on stderr
 * and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct lc {
	int fd;             /* -1: waiting to be (re)opened */
	int connecting;
	int got_bytes;
	int lines;
	long long next_ms;  /* next header line, or next reconnect attempt */
	int addr;           /* index of the source address */
};

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int port, first = 2, naddr = 20, interval = 3000, ep, inprogress, open_now;
static long long closes, with_bytes, conn_errors;

static void lc_open(struct lc *c, long long now)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	dst.sin_addr.s_addr = htonl(0x7f000001);
	src.sin_addr.s_addr = htonl(0x7f000000 | (unsigned)(first + c->addr));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
		close(fd);
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 && errno != EINPROGRESS) {
		close(fd);
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		close(fd);
		goto fail;
	}
	c->fd = fd;
	c->connecting = 1;
	c->got_bytes = 0;
	c->lines = 0;
	inprogress++;
	return;
fail:
	conn_errors++;
	c->next_ms = now + 100;
}

static void lc_close(struct lc *c, long long now, int by_server)
{
	if (c->connecting)
		inprogress--;
	else
		open_now--;
	close(c->fd);
	c->fd = -1;
	c->connecting = 0;
	c->next_ms = by_server ? now : now + 100;   /* at once: the wave stays together */
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
	int n = 0, secs = 600, opt;
	const char *out = NULL;
	while ((opt = getopt(argc, argv, "p:n:b:a:i:t:o:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'b': first = atoi(optarg); break;
		case 'a': naddr = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 'o': out = optarg; break;
		default:
			fprintf(stderr, "usage: soak_loris -p PORT -n N [-b FIRST] [-a NADDR] [-i MS] [-t SECS] [-o FILE]\n");
			return 2;
		}
	}
	if (port <= 0 || n <= 0 || naddr <= 0 || first < 1 || first + naddr > 255 || interval <= 0) {
		fprintf(stderr, "soak_loris: bad arguments\n");
		return 2;
	}
	FILE *of = out ? fopen(out, "w") : stdout;
	if (of == NULL) {
		perror(out);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct lc *cs = calloc((size_t)n, sizeof(*cs));
	if (cs == NULL || ep == -1)
		return 2;
	long long start = mono_ms(), now = start;
	for (int i = 0; i < n; i++)
		cs[i] = (struct lc){ .fd = -1, .next_ms = start, .addr = i % naddr };
	int ready = 0, next = 0;   /* next: where the scan for due work resumes */
	long long bucket_end = now + 100;
	long long b_closes = 0, b_bytes = 0;
	struct epoll_event evs[256];
	while (!stop && now - start < (long long)secs * 1000) {
		/* Due work: opens (at most 256 in progress) and header lines. A full
		 * scan is n steps; at 5,000 connections and every ~10 ms that is cheap. */
		for (int k = 0; k < n; k++) {
			struct lc *c = &cs[(next + k) % n];
			if (c->next_ms > now)
				continue;
			if (c->fd == -1) {
				if (inprogress >= 256) {
					next = (next + k) % n;
					break;
				}
				lc_open(c, now);
			} else if (!c->connecting) {
				char line[64];
				snprintf(line, sizeof(line), "X-Loris-%d: %d\r\n", c->lines, c->lines);
				c->lines++;
				if (send_str(c->fd, line) == -1) {
					lc_close(c, now, 1);
					closes++;
					b_closes++;
					continue;
				}
				c->next_ms = now + interval;
			} else {
				c->next_ms = now + interval;   /* still connecting: wait for EPOLLOUT */
			}
		}
		int m = epoll_wait(ep, evs, 256, 10);
		now = mono_ms();
		for (int i = 0; i < m; i++) {
			struct lc *c = evs[i].data.ptr;
			if (c->fd == -1)
				continue;
			if (c->connecting && (evs[i].events & EPOLLOUT)) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0) {
					conn_errors++;
					lc_close(c, now, 0);
					continue;
				}
				c->connecting = 0;
				inprogress--;
				open_now++;
				struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				if (send_str(c->fd, "GET / HTTP/1.1\r\nHost: loris\r\n") == -1) {
					lc_close(c, now, 1);
					closes++;
					b_closes++;
					continue;
				}
				/* staggered by when it connected: the lines do not come in bursts */
				c->next_ms = now + interval;
				if (!ready && open_now >= n) {
					ready = 1;
					fprintf(stderr, "ready %d\n", open_now);
				}
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				char buf[4096];
				ssize_t r;
				int gone = 0;
				for (;;) {
					r = recv(c->fd, buf, sizeof(buf), 0);
					if (r > 0) {
						c->got_bytes = 1;
						continue;
					}
					if (r == 0 || (errno != EAGAIN && errno != EINTR))
						gone = 1;
					break;
				}
				if (gone) {
					closes++;
					b_closes++;
					if (c->got_bytes) {
						with_bytes++;
						b_bytes++;
					}
					lc_close(c, now, 1);
				}
			}
		}
		if (now >= bucket_end) {
			if (b_closes > 0) {
				fprintf(of, "%lld %lld %lld\n", wall_ms(), b_closes, b_bytes);
				fflush(of);
			}
			b_closes = b_bytes = 0;
			bucket_end = now + 100;
		}
	}
	if (b_closes > 0)
		fprintf(of, "%lld %lld %lld\n", wall_ms(), b_closes, b_bytes);
	fprintf(stderr, "loris conns %d open %d closes %lld with_bytes %lld connect_errors %lld\n", n,
		open_now, closes, with_bytes, conn_errors);
	if (of != stdout)
		fclose(of);
	return 0;
}
