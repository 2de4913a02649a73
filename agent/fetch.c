/* fetch.c - plain HTTP/1.1 GET and POST for CRLs and OCSP (see fetch.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/fetch.h"
#include "agent/log.h"

#define LINE_MAX_CHUNK 1024     /* a chunk-size line */
#define MAX_INTERIM 4           /* 1xx responses skipped before the real one */

/* ------------------------------------------------------------------ */
/* URLs */

static bool
host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_';
}

static bool
ipv6_char_ok(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
	    c == ':' || c == '.';
}

bool
fetch_url_parse(const char *url, struct fetch_url *u, struct kerr *err)
{
	const char *p, *auth, *auth_end, *host_end, *path;
	size_t hlen, n;

	memset(u, 0, sizeof(*u));
	if (url == NULL || *url == '\0') {
		kerr_set(err, KERR_PERM, "empty URL");
		return false;
	}
	n = strlen(url);
	if (n >= FETCH_MAX_URL) {
		kerr_set(err, KERR_PERM, "URL too long (%zu bytes, at most %d)", n, FETCH_MAX_URL - 1);
		return false;
	}
	for (p = url; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f) {
			kerr_set(err, KERR_PERM, "%.200s: URL holds a space, control or non-ASCII character "
			    "(at offset %zu)", url, (size_t)(p - url));
			return false;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		kerr_set(err, KERR_PERM, "%.200s: https:// is not supported (only http://: CRLs and "
		    "OCSP responses are signed and published over http)", url);
		return false;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		kerr_set(err, KERR_PERM, "%.200s: not an http:// URL", url);
		return false;
	}
	auth = url + 7;
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) {
		kerr_set(err, KERR_PERM, "%.200s: user information in a URL is not supported", url);
		return false;
	}
	if (auth == auth_end) {
		kerr_set(err, KERR_PERM, "%.200s: no host in URL", url);
		return false;
	}
	if (*auth == '[') {
		const char *close = memchr(auth, ']', (size_t)(auth_end - auth));

		if (close == NULL || close == auth + 1) {
			kerr_set(err, KERR_PERM, "%.200s: bad IPv6 address in URL", url);
			return false;
		}
		for (p = auth + 1; p < close; p++) {
			if (!ipv6_char_ok(*p)) {
				kerr_set(err, KERR_PERM, "%.200s: bad IPv6 address in URL", url);
				return false;
			}
		}
		hlen = (size_t)(close - auth - 1);
		if (hlen >= sizeof(u->host)) {
			kerr_set(err, KERR_PERM, "%.200s: host name too long", url);
			return false;
		}
		memcpy(u->host, auth + 1, hlen);
		host_end = close + 1;
		if (host_end != auth_end && *host_end != ':') {
			kerr_set(err, KERR_PERM, "%.200s: bad IPv6 address in URL", url);
			return false;
		}
	} else {
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (host_end == NULL)
			host_end = auth_end;
		hlen = (size_t)(host_end - auth);
		if (hlen == 0) {
			kerr_set(err, KERR_PERM, "%.200s: no host in URL", url);
			return false;
		}
		if (hlen >= sizeof(u->host)) {
			kerr_set(err, KERR_PERM, "%.200s: host name too long", url);
			return false;
		}
		for (p = auth; p < host_end; p++) {
			if (!host_char_ok(*p)) {
				kerr_set(err, KERR_PERM, "%.200s: bad character '%c' in host name", url, *p);
				return false;
			}
		}
		memcpy(u->host, auth, hlen);
	}
	u->port = 80;
	if (host_end < auth_end) {              /* ":port" */
		unsigned long port = 0;

		for (p = host_end + 1; p < auth_end; p++) {
			if (*p < '0' || *p > '9' || port > 65535) {
				kerr_set(err, KERR_PERM, "%.200s: bad port in URL", url);
				return false;
			}
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (host_end + 1 < auth_end) {
			if (port == 0 || port > 65535) {
				kerr_set(err, KERR_PERM, "%.200s: bad port in URL", url);
				return false;
			}
			u->port = (unsigned)port;
		}
	}
	if (strchr(u->host, ':') != NULL)
		snprintf(u->hostport, sizeof(u->hostport), u->port == 80 ? "[%s]" : "[%s]:%u", u->host, u->port);
	else
		snprintf(u->hostport, sizeof(u->hostport), u->port == 80 ? "%s" : "%s:%u", u->host, u->port);
	path = auth_end;
	n = strcspn(path, "#");
	if (n == 0 || *path != '/')
		snprintf(u->path, sizeof(u->path), "/%.*s", (int)n, path);
	else
		snprintf(u->path, sizeof(u->path), "%.*s", (int)n, path);
	return true;
}

/* ------------------------------------------------------------------ */
/* The connection */

struct conn {
	int fd;
	int64_t deadline;               /* monotonic ms */
	int timeout_ms;                 /* for messages */
	const char *where;              /* borrowed: the URL, for messages */
	char buf[8192];
	size_t pos, len;                /* unread bytes: buf[pos..len) */
};

/* Wait until fd is ready; 1 ready, 0 deadline passed, -1 poll error. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - clock_mono_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		return 1;       /* POLLERR/POLLHUP too: the next call says what */
	}
}

static void
set_timeout(struct conn *c, struct kerr *err, const char *doing)
{
	kerr_set(err, KERR_TEMP, "%.200s: timed out after %d ms %s", c->where, c->timeout_ms, doing);
}

/* Connect one address before the deadline; the socket or -1 with why. */
static int
connect_one(const struct addrinfo *ai, int64_t deadline, char *why, size_t whysize)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int soerr = 0, r;
	socklen_t len = sizeof(soerr);

	if (fd < 0) {
		snprintf(why, whysize, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		snprintf(why, whysize, "%s", strerror(errno));
		goto fail;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (r == 0) {
		snprintf(why, whysize, "connection timed out");
		goto fail;
	}
	if (r < 0) {
		snprintf(why, whysize, "poll: %s", strerror(errno));
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0) {
		snprintf(why, whysize, "%s", strerror(soerr));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static bool
conn_open(struct conn *c, const struct fetch_url *u, struct kerr *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char portstr[8], why[256] = "no address";
	int r;

	snprintf(portstr, sizeof(portstr), "%u", u->port);
	r = getaddrinfo(u->host, portstr, &hints, &res);
	if (r != 0) {
		kerr_set(err, KERR_TEMP, "%.200s: cannot resolve %s: %s", c->where, u->host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return false;
	}
	c->fd = -1;
	for (const struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		if (clock_mono_ms() >= c->deadline) {
			snprintf(why, sizeof(why), "connection timed out");
			break;
		}
		c->fd = connect_one(ai, c->deadline, why, sizeof(why));
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		if (strcmp(why, "connection timed out") == 0)
			set_timeout(c, err, "connecting");
		else
			kerr_set(err, KERR_TEMP, "%.200s: connect to %s: %s", c->where, u->hostport, why);
		return false;
	}
	return true;
}

static bool
conn_send(struct conn *c, const void *data, size_t len, struct kerr *err)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(c->fd, POLLOUT, c->deadline);

			if (r == 0) {
				set_timeout(c, err, "sending the request");
				return false;
			}
			if (r > 0)
				continue;
		}
		kerr_set(err, KERR_TEMP, "%.200s: sending the request: %s", c->where, strerror(errno));
		return false;
	}
	return true;
}

/* Read more bytes into the buffer (which must be empty).  1: got some,
 * 0: EOF, -1: error (err set). */
static int
conn_fill(struct conn *c, struct kerr *err)
{
	c->pos = c->len = 0;
	for (;;) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		int r;

		if (n > 0) {
			c->len = (size_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			kerr_set(err, KERR_TEMP, "%.200s: reading the response: %s", c->where, strerror(errno));
			return -1;
		}
		r = wait_fd(c->fd, POLLIN, c->deadline);
		if (r == 0) {
			set_timeout(c, err, "waiting for the server");
			return -1;
		}
		if (r < 0) {
			kerr_set(err, KERR_TEMP, "%.200s: poll: %s", c->where, strerror(errno));
			return -1;
		}
	}
}

/* Read one line (CRLF or LF, stripped) of at most *budget bytes with its
 * end, into line (size linesize > *budget is not needed: longer lines
 * fail).  *budget shrinks by what was read. */
static bool
conn_line(struct conn *c, char *line, size_t linesize, size_t *budget, const char *what,
    struct kerr *err)
{
	size_t n = 0;

	for (;;) {
		char ch;

		if (c->pos == c->len) {
			int r = conn_fill(c, err);

			if (r < 0)
				return false;
			if (r == 0) {
				kerr_set(err, KERR_TEMP, "%.200s: server closed the connection in the %s",
				    c->where, what);
				return false;
			}
		}
		ch = c->buf[c->pos++];
		if (*budget == 0) {
			kerr_set(err, KERR_PERM, "%.200s: %s too long", c->where, what);
			return false;
		}
		(*budget)--;
		if (ch == '\n')
			break;
		if (ch == '\0') {
			kerr_set(err, KERR_PERM, "%.200s: NUL byte in the %s", c->where, what);
			return false;
		}
		if (n + 1 >= linesize) {
			kerr_set(err, KERR_PERM, "%.200s: %s too long", c->where, what);
			return false;
		}
		line[n++] = ch;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return true;
}

/* Append exactly n bytes to out.  A closed connection first is KERR_TEMP. */
static bool
conn_read_n(struct conn *c, size_t n, struct buf *out, struct kerr *err)
{
	size_t want = n;

	while (n > 0) {
		size_t take;

		if (c->pos == c->len) {
			int r = conn_fill(c, err);

			if (r < 0)
				return false;
			if (r == 0) {
				kerr_set(err, KERR_TEMP, "%.200s: response truncated: connection closed "
				    "after %zu of %zu bytes", c->where, want - n, want);
				return false;
			}
		}
		take = c->len - c->pos < n ? c->len - c->pos : n;
		buf_append(out, c->buf + c->pos, take);
		c->pos += take;
		n -= take;
	}
	return true;
}

static bool
too_big(const struct conn *c, size_t max, struct kerr *err)
{
	kerr_set(err, KERR_PERM, "%.200s: response body larger than %zu bytes", c->where, max);
	return false;
}

static bool
conn_read_to_close(struct conn *c, size_t max, struct buf *out, struct kerr *err)
{
	for (;;) {
		size_t take = c->len - c->pos;

		if (max > 0 && out->len + take > max)
			return too_big(c, max, err);
		buf_append(out, c->buf + c->pos, take);
		c->pos = c->len;
		switch (conn_fill(c, err)) {
		case 0:
			return true;
		case -1:
			return false;
		default:
			break;
		}
	}
}

static bool
conn_read_chunked(struct conn *c, size_t max, struct buf *out, struct kerr *err)
{
	char line[LINE_MAX_CHUNK];
	size_t budget;

	for (;;) {
		unsigned long long size = 0;
		const char *p;
		int digits = 0, significant = 0;

		budget = LINE_MAX_CHUNK;
		if (!conn_line(c, line, sizeof(line), &budget, "chunk size line", err))
			return false;
		for (p = line; *p != '\0'; p++) {
			int d;

			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				break;
			digits++;
			if ((size != 0 || d != 0) && ++significant > 15)
				return too_big(c, max, err);
			size = size * 16 + (unsigned)d;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (digits == 0 || (*p != '\0' && *p != ';')) {
			kerr_set(err, KERR_PERM, "%.200s: bad chunk size line", c->where);
			return false;
		}
		if (size == 0)
			break;
		if (max > 0 && (size > max || out->len + size > max))
			return too_big(c, max, err);
		if (!conn_read_n(c, (size_t)size, out, err))
			return false;
		budget = 2;     /* CRLF after the data */
		if (!conn_line(c, line, sizeof(line), &budget, "chunk end", err))
			return false;
		if (line[0] != '\0') {
			kerr_set(err, KERR_PERM, "%.200s: chunk not followed by CRLF", c->where);
			return false;
		}
	}
	/* trailer fields, up to the empty line */
	budget = FETCH_MAX_HEADER;
	do {
		if (!conn_line(c, line, sizeof(line), &budget, "trailer", err))
			return false;
	} while (line[0] != '\0');
	return true;
}

/* ------------------------------------------------------------------ */
/* One request and its response */

struct response {
	int status;
	char reason[64];
	long long content_length;       /* -1: none */
	bool chunked;
	char location[FETCH_MAX_URL];
	bool have_location;
};

static bool
token_char(char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Parse one "Name: value" line into r. */
static bool
parse_header(struct conn *c, char *line, struct response *r, struct kerr *err)
{
	char *colon = strchr(line, ':'), *v, *end;

	if (line[0] == ' ' || line[0] == '\t') {
		kerr_set(err, KERR_PERM, "%.200s: folded header line in the response", c->where);
		return false;
	}
	if (colon == NULL || colon == line) {
		kerr_set(err, KERR_PERM, "%.200s: malformed header line in the response", c->where);
		return false;
	}
	for (char *p = line; p < colon; p++) {
		if (!token_char(*p)) {
			kerr_set(err, KERR_PERM, "%.200s: malformed header name in the response", c->where);
			return false;
		}
	}
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	if (strcasecmp(line, "Content-Length") == 0) {
		long long n = 0;

		if (*v == '\0') {
			kerr_set(err, KERR_PERM, "%.200s: bad Content-Length", c->where);
			return false;
		}
		for (const char *p = v; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || n > (LLONG_MAX - 9) / 10) {
				kerr_set(err, KERR_PERM, "%.200s: bad Content-Length", c->where);
				return false;
			}
			n = n * 10 + (*p - '0');
		}
		if (r->content_length >= 0 && r->content_length != n) {
			kerr_set(err, KERR_PERM, "%.200s: two different Content-Length headers", c->where);
			return false;
		}
		r->content_length = n;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		if (strcasecmp(v, "chunked") == 0)
			r->chunked = true;
		else if (strcasecmp(v, "identity") != 0) {
			kerr_set(err, KERR_PERM, "%.200s: unsupported Transfer-Encoding \"%.40s\"", c->where, v);
			return false;
		}
	} else if (strcasecmp(line, "Content-Encoding") == 0) {
		if (strcasecmp(v, "identity") != 0) {
			kerr_set(err, KERR_PERM, "%.200s: unsupported Content-Encoding \"%.40s\"", c->where, v);
			return false;
		}
	} else if (strcasecmp(line, "Location") == 0) {
		snprintf(r->location, sizeof(r->location), "%s", v);
		r->have_location = true;
	}
	return true;
}

static bool
read_head(struct conn *c, struct response *r, struct kerr *err)
{
	char line[FETCH_MAX_HEADER + 1];
	size_t budget = FETCH_MAX_HEADER;

	for (int interim = 0;; interim++) {
		const char *p;

		memset(r, 0, sizeof(*r));
		r->content_length = -1;
		if (!conn_line(c, line, sizeof(line), &budget, "response header", err))
			return false;
		if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
		    line[11] < '0' || line[11] > '9' || (line[12] != ' ' && line[12] != '\0')) {
			kerr_set(err, KERR_PERM, "%.200s: not an HTTP/1.x response", c->where);
			return false;
		}
		r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		p = line[12] == ' ' ? line + 13 : "";
		snprintf(r->reason, sizeof(r->reason), "%s", p);
		for (;;) {
			if (!conn_line(c, line, sizeof(line), &budget, "response header", err))
				return false;
			if (line[0] == '\0')
				break;
			if (!parse_header(c, line, r, err))
				return false;
		}
		if (r->status >= 200)
			return true;
		if (interim >= MAX_INTERIM) {
			kerr_set(err, KERR_PERM, "%.200s: too many interim (1xx) responses", c->where);
			return false;
		}
	}
}

/* Send the request on a new connection and read the response head; for a
 * 200, the body into out. */
static bool
exchange(struct conn *c, const struct fetch_url *u, const char *content_type, const void *body,
    size_t body_len, size_t max, struct response *r, struct buf *out, struct kerr *err)
{
	struct buf req = BUF_INIT;
	bool ok = false;

	if (!conn_open(c, u, err))
		goto out;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kyso/%s\r\nAccept: */*\r\n"
	    "Connection: close\r\n", body != NULL ? "POST" : "GET", u->path, u->hostport, PACKAGE_VERSION);
	if (body != NULL)
		buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, body_len);
	buf_appends(&req, "\r\n");
	if (!conn_send(c, req.data, req.len, err))
		goto out;
	if (body != NULL && body_len > 0 && !conn_send(c, body, body_len, err))
		goto out;
	if (!read_head(c, r, err))
		goto out;
	if (r->status != 200) {
		ok = true;
		goto out;
	}
	buf_reset(out);
	if (r->chunked)
		ok = conn_read_chunked(c, max, out, err);
	else if (r->content_length >= 0) {
		if (max > 0 && (unsigned long long)r->content_length > max)
			ok = too_big(c, max, err);
		else
			ok = conn_read_n(c, (size_t)r->content_length, out, err);
	} else
		ok = conn_read_to_close(c, max, out, err);
out:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->pos = c->len = 0;
	buf_release(&req);
	return ok;
}

/* Resolve a Location value against the current URL into next (an absolute URL). */
static bool
resolve_location(const char *cur, const struct fetch_url *u, const char *loc, char *next,
    size_t nextsize, struct kerr *err)
{
	size_t n;

	if (loc[0] == '\0') {
		kerr_set(err, KERR_PERM, "%.200s: redirect with an empty Location", cur);
		return false;
	}
	if (strstr(loc, "://") != NULL && strcspn(loc, "/?#") > strcspn(loc, ":"))
		n = (size_t)snprintf(next, nextsize, "%s", loc);                 /* absolute */
	else if (loc[0] == '/' && loc[1] == '/')
		n = (size_t)snprintf(next, nextsize, "http:%s", loc);            /* scheme-relative */
	else if (loc[0] == '/')
		n = (size_t)snprintf(next, nextsize, "http://%s%s", u->hostport, loc);
	else {
		/* relative to the current path's folder (no query) */
		size_t dir = strcspn(u->path, "?");

		while (dir > 0 && u->path[dir - 1] != '/')
			dir--;
		n = (size_t)snprintf(next, nextsize, "http://%s%.*s%s", u->hostport, (int)dir, u->path, loc);
	}
	if (n >= nextsize) {
		kerr_set(err, KERR_PERM, "%.200s: redirect Location too long", cur);
		return false;
	}
	return true;
}

static bool
status_error(const char *url, const struct response *r, struct kerr *err)
{
	enum kerr_class cls = (r->status >= 500 || r->status == 408 || r->status == 429) ? KERR_TEMP : KERR_PERM;

	kerr_set(err, cls, "%.200s: HTTP %d %.60s", url, r->status, r->reason);
	return false;
}

bool
fetch_http(void *ctx, const char *url, const char *content_type, const void *body, size_t body_len,
    size_t max, struct buf *out, struct kerr *err)
{
	const struct fetch_opts *o = ctx;
	int timeout_ms = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : FETCH_DEFAULT_TIMEOUT_MS;
	int64_t start = clock_mono_ms();
	struct conn *c = xcalloc(1, sizeof(*c));
	struct fetch_url *u = xcalloc(1, sizeof(*u));
	char *cur = xstrdup(url != NULL ? url : ""), *next = xmalloc(FETCH_MAX_URL);
	struct response r = { .status = 0 };
	const char *method = body != NULL ? "POST" : "GET";
	char qurl[240];
	int redirects = 0;
	bool ok = false;

	c->fd = -1;
	c->deadline = start + timeout_ms;
	c->timeout_ms = timeout_ms;
	buf_reset(out);
	if (content_type == NULL)
		content_type = "application/octet-stream";
	if (body != NULL && strpbrk(content_type, "\r\n") != NULL) {
		kerr_set(err, KERR_INTERNAL, "fetch: bad content type");
		goto out;
	}
	for (;;) {
		c->where = cur;
		if (!fetch_url_parse(cur, u, err)) {
			if (redirects > 0)
				kerr_prefix(err, "redirected to ");
			goto out;
		}
		if (!exchange(c, u, content_type, body, body_len, max, &r, out, err))
			goto out;
		if (r.status == 200)
			break;
		if (r.status != 301 && r.status != 302 && r.status != 303 && r.status != 307 &&
		    r.status != 308) {
			status_error(cur, &r, err);
			goto out;
		}
		if (!r.have_location) {
			kerr_set(err, KERR_PERM, "%.200s: HTTP %d without a Location", cur, r.status);
			goto out;
		}
		if (++redirects > FETCH_MAX_REDIRECTS) {
			kerr_set(err, KERR_PERM, "%.200s: more than %d redirects", url, FETCH_MAX_REDIRECTS);
			goto out;
		}
		if (!resolve_location(cur, u, r.location, next, FETCH_MAX_URL, err))
			goto out;
		if (r.status == 303) {
			body = NULL;
			body_len = 0;
		}
		free(cur);
		cur = xstrdup(next);
	}
	ok = true;
out:
	log_debug("step=fetch url=%s method=%s status=%d bytes=%zu ms=%lld redirects=%d result=%s%s%s",
	    log_quote(qurl, sizeof(qurl), url != NULL ? url : ""), method,
	    r.status, ok ? out->len : (size_t)0, (long long)(clock_mono_ms() - start), redirects,
	    ok ? "ok" : "error", ok ? "" : " class=", ok ? "" : kerr_class_name(err->cls));
	if (!ok)
		buf_reset(out);
	free(next);
	free(cur);
	free(u);
	free(c);
	return ok;
}

struct smime_fetcher
fetch_http_fetcher(const struct fetch_opts *o)
{
	struct smime_fetcher f = { fetch_http, (void *)(uintptr_t)o };

	return f;
}
