/* httpd.c - a tiny HTTP server thread for tests (see httpd.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/httpd.h"

struct httpd {
	int lfd;
	int stop[2];                    /* a pipe: written to stop */
	uint16_t port;
	httpd_fn *fn;
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	int count;                      /* locked */
	struct httpd_req last;          /* locked */
	bool have_last;                 /* locked */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be readable before deadline, unless stopped: 1 ready, 0 not. */
static int
wait_in(struct httpd *h, int fd, int64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = h->stop[0], .events = POLLIN } };
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(p, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p[1].revents != 0)
			return 0;
		return 1;
	}
}

void
httpd_write(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void
httpd_printf(int fd, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	httpd_write(fd, s, (size_t)n);
	free(s);
}

void
httpd_hold(struct httpd *h, int fd, int ms)
{
	int64_t deadline = mono_ms() + ms;
	char tmp[256];

	while (wait_in(h, fd, deadline) == 1) {
		if (recv(fd, tmp, sizeof(tmp), 0) <= 0)
			return;         /* the client left */
	}
}

void
httpd_req_release(struct httpd_req *r)
{
	buf_release(&r->head);
	buf_release(&r->body);
}

static void
header_value(const char *head, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;

		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = strcspn(v, "\r\n");
			snprintf(out, n, "%.*s", (int)len, v);
			return;
		}
	}
}

/* Read a request (head up to the empty line, then Content-Length bytes). */
static bool
read_request(struct httpd *h, int fd, struct httpd_req *r)
{
	int64_t deadline = mono_ms() + HTTPD_TIMEOUT_MS;
	char *end = NULL, cl[32], conn[64];
	size_t body_len = 0, have;

	while (end == NULL) {
		char tmp[1024];
		ssize_t n;

		if (wait_in(h, fd, deadline) != 1)
			return false;
		n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			return false;
		buf_append(&r->head, tmp, (size_t)n);
		end = strstr(r->head.data, "\r\n\r\n");
		if (r->head.len > 65536)
			return false;
	}
	have = r->head.len - (size_t)(end + 4 - r->head.data);
	buf_append(&r->body, end + 4, have);
	r->head.len = (size_t)(end + 2 - r->head.data);
	r->head.data[r->head.len] = '\0';
	sscanf(r->head.data, "%15s %1023s", r->method, r->target);
	header_value(r->head.data, "Host", r->host, sizeof(r->host));
	header_value(r->head.data, "Content-Type", r->content_type, sizeof(r->content_type));
	header_value(r->head.data, "Connection", conn, sizeof(conn));
	r->connection_close = strcasecmp(conn, "close") == 0;
	header_value(r->head.data, "Content-Length", cl, sizeof(cl));
	if (cl[0] != '\0')
		body_len = (size_t)strtoul(cl, NULL, 10);
	while (r->body.len < body_len) {
		char tmp[4096];
		ssize_t n;

		if (wait_in(h, fd, deadline) != 1)
			return false;
		n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			return false;
		buf_append(&r->body, tmp, (size_t)n);
	}
	return true;
}

static void *
serve(void *arg)
{
	struct httpd *h = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = h->lfd, .events = POLLIN }, { .fd = h->stop[0], .events = POLLIN } };
		struct httpd_req req;
		int fd, one = 1;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(&req, 0, sizeof(req));
		if (read_request(h, fd, &req)) {
			pthread_mutex_lock(&h->lock);
			h->count++;
			if (h->have_last)
				httpd_req_release(&h->last);
			h->last = req;
			h->last.head = (struct buf)BUF_INIT;
			h->last.body = (struct buf)BUF_INIT;
			buf_append(&h->last.head, req.head.data, req.head.len);
			buf_append(&h->last.body, req.body.data, req.body.len);
			h->have_last = true;
			pthread_mutex_unlock(&h->lock);
			h->fn(h, fd, &req, h->arg);
		}
		httpd_req_release(&req);
		close(fd);
	}
	return NULL;
}

struct httpd *
httpd_start(const char *addr, uint16_t port, httpd_fn *fn, void *arg)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	bool v6 = strchr(addr, ':') != NULL;

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			abort();
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			abort();
		len = sizeof(*s4);
	}
	h->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->lfd < 0) {
		free(h);
		return NULL;
	}
	(void)setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->lfd, (struct sockaddr *)&ss, len) != 0 || listen(h->lfd, 16) != 0) {
		close(h->lfd);
		free(h);
		return NULL;
	}
	len = sizeof(ss);
	getsockname(h->lfd, (struct sockaddr *)&ss, &len);
	h->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(h->stop, O_CLOEXEC) != 0)
		abort();
	h->fn = fn;
	h->arg = arg;
	pthread_mutex_init(&h->lock, NULL);
	if (pthread_create(&h->thread, NULL, serve, h) != 0)
		abort();
	return h;
}

uint16_t
httpd_port(const struct httpd *h)
{
	return h->port;
}

int
httpd_count(struct httpd *h)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = h->count;
	pthread_mutex_unlock(&h->lock);
	return n;
}

bool
httpd_last(struct httpd *h, struct httpd_req *copy)
{
	bool have;

	memset(copy, 0, sizeof(*copy));
	pthread_mutex_lock(&h->lock);
	have = h->have_last;
	if (have) {
		*copy = h->last;
		copy->head = (struct buf)BUF_INIT;
		copy->body = (struct buf)BUF_INIT;
		buf_append(&copy->head, h->last.head.data, h->last.head.len);
		buf_append(&copy->body, h->last.body.data, h->last.body.len);
	}
	pthread_mutex_unlock(&h->lock);
	return have;
}

void
httpd_stop(struct httpd **hp)
{
	struct httpd *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	if (write(h->stop[1], "x", 1) != 1)
		abort();
	pthread_join(h->thread, NULL);
	close(h->lfd);
	close(h->stop[0]);
	close(h->stop[1]);
	if (h->have_last)
		httpd_req_release(&h->last);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void
httpd_serve_dir(struct httpd *h, int fd, const struct httpd_req *req, void *arg)
{
	const char *dir = arg, *name = req->target + 1;
	struct buf b = BUF_INIT;
	char *path;
	FILE *fp;

	(void)h;
	if (strcmp(req->method, "GET") != 0 || req->target[0] != '/' || strchr(name, '/') != NULL ||
	    strstr(name, "..") != NULL || name[0] == '\0') {
		httpd_printf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return;
	}
	path = xasprintf("%s/%s", dir, name);
	fp = fopen(path, "rb");
	free(path);
	if (fp == NULL) {
		httpd_printf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return;
	}
	for (;;) {
		char tmp[4096];
		size_t n = fread(tmp, 1, sizeof(tmp), fp);

		if (n == 0)
			break;
		buf_append(&b, tmp, n);
	}
	fclose(fp);
	httpd_printf(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", b.len);
	httpd_write(fd, b.data, b.len);
	buf_release(&b);
}

uint16_t
httpd_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		abort();
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}
