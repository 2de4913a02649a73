/*
 * server.c - the web view's HTTP side: libmicrohttpd (internal thread pool
 * over epoll), routing, security headers, static files from an allow-list
 * read at start, login/logout, /healthz and /metrics.  Pages are built in
 * pages.c; sessions, throttling and parsers in session.c.
 *
 * A request goes: on_request() (first call: route, size checks; POST bodies
 * are gathered up to WEBUI_MAX_BODY) -> dispatch() -> a handler that builds
 * a response with respond*(), which adds the security headers and counts the
 * status for /metrics.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "webui/tmpl.h"
#include "webui/webui-private.h"

#define CSP "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* --- routing --- */

enum { M_GET = 1, M_POST = 2 };

static const struct route {
	const char *path;
	enum webui_route_id id;
	unsigned methods;
	bool prefix;
} routes[] = {
	{ "/", ROUTE_ROOT, M_GET, false },
	{ "/login", ROUTE_LOGIN, M_GET | M_POST, false },
	{ "/logout", ROUTE_LOGOUT, M_POST, false },
	{ "/log", ROUTE_LOG, M_GET, false },
	{ "/log.csv", ROUTE_LOG_CSV, M_GET, false },
	{ "/message/", ROUTE_MESSAGE, M_GET, true },
	{ "/accounts", ROUTE_ACCOUNTS, M_GET, false },
	{ "/overview", ROUTE_OVERVIEW, M_GET, false },
	{ "/healthz", ROUTE_HEALTHZ, M_GET, false },
	{ "/metrics", ROUTE_METRICS, M_GET, false },
	{ "/static/", ROUTE_STATIC, M_GET, true },
};

int
webui_route(const char *method, const char *url, enum webui_route_id *route_r, int64_t *id_r)
{
	unsigned m = 0;

	*route_r = ROUTE_NONE;
	if (method == NULL || url == NULL)
		return 404;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		m = M_GET;
	else if (strcmp(method, "POST") == 0)
		m = M_POST;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t pl = strlen(r->path);

		if (r->prefix ? strncmp(url, r->path, pl) != 0 : strcmp(url, r->path) != 0)
			continue;
		if (r->id == ROUTE_MESSAGE) {
			const char *p = url + pl;
			int64_t id = 0;
			size_t n = strlen(p);

			if (n == 0 || n > 18 || strspn(p, "0123456789") != n)
				return 404;
			for (; *p != '\0'; p++)
				id = id * 10 + (*p - '0');
			if (id <= 0)
				return 404;
			if (id_r != NULL)
				*id_r = id;
		}
		if (r->id == ROUTE_STATIC && url[pl] == '\0')
			return 404;
		if ((r->methods & m) == 0) {
			*route_r = r->id;
			return 405;
		}
		*route_r = r->id;
		return 200;
	}
	return 404;
}

/* --- static files: an allow-list read once --- */

static const char *
static_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return NULL;
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml; charset=utf-8";
	return NULL;
}

static bool
static_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 100 || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return strstr(n, "..") == NULL && static_type(n) != NULL;
}

/* Read a whole small file (at most max bytes). */
static bool
read_small_file(const char *path, size_t max, char **data_r, size_t *len_r, struct kerr *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct buf b = BUF_INIT;
	bool ok = false;

	if (fd < 0) {
		kerr_set(err, KERR_CONFIG, "%s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		kerr_set(err, KERR_CONFIG, "%s: not a regular file of at most %zu bytes", path, max);
		goto out;
	}
	for (;;) {
		ssize_t n;

		buf_reserve(&b, 4096);
		n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kerr_set(err, KERR_CONFIG, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
		if (b.len > max) {
			kerr_set(err, KERR_CONFIG, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	}
	if (b.data == NULL)
		buf_reserve(&b, 1);
	*data_r = buf_steal(&b, len_r);
	ok = true;
out:
	buf_release(&b);
	close(fd);
	return ok;
}

static int
static_cmp(const void *a, const void *b)
{
	return strcmp(((const struct webui_static_file *)a)->name,
	    ((const struct webui_static_file *)b)->name);
}

bool
webui_static_load(struct webui_static *st, const char *dir, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	st->files = NULL;
	st->n = 0;
	if (d == NULL)
		return true;    /* no static files: an empty list */
	while ((de = readdir(d)) != NULL) {
		char *path;
		struct webui_static_file f = { 0 };

		struct stat lst;

		/* regular files only: a link or a folder named like one is skipped */
		if (!static_name_ok(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &lst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(lst.st_mode))
			continue;
		if (st->n >= 256) {
			kerr_set(err, KERR_CONFIG, "%s: more than 256 static files", dir);
			closedir(d);
			webui_static_release(st);
			return false;
		}
		path = xasprintf("%s/%s", dir, de->d_name);
		if (!read_small_file(path, 1024 * 1024, &f.data, &f.len, err)) {
			free(path);
			closedir(d);
			webui_static_release(st);
			return false;
		}
		free(path);
		f.name = xstrdup(de->d_name);
		f.type = static_type(f.name);
		st->files = xreallocarray(st->files, st->n + 1, sizeof(*st->files));
		st->files[st->n++] = f;
	}
	closedir(d);
	if (st->n > 1)
		qsort(st->files, st->n, sizeof(*st->files), static_cmp);
	return true;
}

void
webui_static_release(struct webui_static *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->files[i].name);
		free(st->files[i].data);
	}
	free(st->files);
	st->files = NULL;
	st->n = 0;
}

const struct webui_static_file *
webui_static_find(const struct webui_static *st, const char *name)
{
	struct webui_static_file key = { 0 };

	if (name == NULL || st->n == 0)
		return NULL;
	key.name = (char *)name;
	return bsearch(&key, st->files, st->n, sizeof(*st->files), static_cmp);
}

/* --- listen address --- */

bool
webui_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len_r,
    struct kerr *err)
{
	char host[256];
	const char *colon, *port;
	struct addrinfo hints = { 0 }, *res = NULL;
	char *end;
	unsigned long pn;
	int rc;

	if (listen == NULL || listen[0] == '\0') {
		kerr_set(err, KERR_CONFIG, "web listen: empty");
		return false;
	}
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host)) {
			kerr_set(err, KERR_CONFIG, "web listen %s: want [v6-address]:port", listen);
			return false;
		}
		memcpy(host, listen + 1, (size_t)(rb - listen - 1));
		host[rb - listen - 1] = '\0';
		port = rb + 2;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) ||
		    memchr(listen, ':', (size_t)(colon - listen)) != NULL) {
			kerr_set(err, KERR_CONFIG, "web listen %s: want host:port", listen);
			return false;
		}
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		port = colon + 1;
	}
	errno = 0;
	pn = strtoul(port, &end, 10);
	if (port[0] == '\0' || *end != '\0' || pn > 65535 || errno != 0 || port[0] == '-' || port[0] == '+') {
		kerr_set(err, KERR_CONFIG, "web listen %s: bad port", listen);
		return false;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	rc = getaddrinfo(host[0] != '\0' && strcmp(host, "*") != 0 ? host : NULL, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		kerr_set(err, KERR_CONFIG, "web listen %s: %s", listen,
		    rc != 0 ? gai_strerror(rc) : "no address");
		return false;
	}
	/* "localhost" and the wildcard may give both families: take IPv4 first */
	{
		struct addrinfo *pick = res;

		for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
			if (a->ai_family == AF_INET) {
				pick = a;
				break;
			}
		memcpy(ss, pick->ai_addr, pick->ai_addrlen);
		*len_r = pick->ai_addrlen;
	}
	freeaddrinfo(res);
	return true;
}

/* --- CSV --- */

void
webui_csv_cell(struct buf *out, const char *s)
{
	bool quote;

	if (s == NULL)
		return;
	quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		buf_append(out, "\"", 1);
	if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')
		buf_append(out, "'", 1);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"')
			buf_append(out, "\"\"", 2);
		else
			buf_append(out, p, 1);
	}
	if (quote)
		buf_append(out, "\"", 1);
}

/* --- the store pool: one store per web thread (calls inside a store are
 * serialised, so sharing one would serialise every page) --- */

struct store *
webui_store_get(struct webui *w, struct kerr *err)
{
	struct store *s = NULL;

	pthread_mutex_lock(&w->store_mu);
	if (w->n_free > 0)
		s = w->free_stores[--w->n_free];
	pthread_mutex_unlock(&w->store_mu);
	if (s == NULL)
		s = store_open(w->o.db_path, err);
	return s;
}

void
webui_store_put(struct webui *w, struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&w->store_mu);
	if (w->n_free < WEBUI_STORE_POOL) {
		w->free_stores[w->n_free++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&w->store_mu);
	store_close(&s);
}

/* --- responses --- */

static void
count_code(struct webui *w, unsigned code)
{
	if (code < 600)
		atomic_fetch_add_explicit(&w->codes[code], 1, memory_order_relaxed);
}

static void
add_security_headers(struct MHD_Response *resp, bool page)
{
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (page)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
}

enum MHD_Result
webui_respond(struct webui *w, struct webui_req *r, unsigned code, const char *type,
    struct buf *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = 0;
	char *data = buf_steal(body, &len);

	if (data == NULL)
		data = xstrdup("");
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	add_security_headers(resp, !r->static_file);
	for (size_t i = 0; i < r->n_cookies; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
	if (r->location != NULL)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->retry_after != 0) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%u", r->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (r->static_file)
		MHD_add_response_header(resp, "Cache-Control", "public, max-age=3600");
	if (r->disposition != NULL)
		MHD_add_response_header(resp, "Content-Disposition", r->disposition);
	if (code == 405)
		MHD_add_response_header(resp, "Allow", r->allow != NULL ? r->allow : "GET, HEAD");
	ret = MHD_queue_response(r->c, code, resp);
	MHD_destroy_response(resp);
	count_code(w, code);
	r->responded = true;
	return ret;
}

enum MHD_Result
webui_respond_text(struct webui *w, struct webui_req *r, unsigned code, const char *text)
{
	struct buf b = BUF_INIT;

	buf_appends(&b, text);
	buf_appends(&b, "\n");
	return webui_respond(w, r, code, "text/plain; charset=utf-8", &b);
}

enum MHD_Result
webui_respond_stream(struct webui *w, struct webui_req *r, const char *type,
    MHD_ContentReaderCallback reader, void *cls, MHD_ContentReaderFreeCallback fr)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	    reader, cls, fr);
	enum MHD_Result ret;

	if (resp == NULL) {
		fr(cls);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	add_security_headers(resp, true);
	if (r->disposition != NULL)
		MHD_add_response_header(resp, "Content-Disposition", r->disposition);
	for (size_t i = 0; i < r->n_cookies; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
	ret = MHD_queue_response(r->c, 200, resp);
	MHD_destroy_response(resp);
	count_code(w, 200);
	r->responded = true;
	return ret;
}

void
webui_req_cookie(struct webui_req *r, char *cookie)
{
	if (r->n_cookies >= sizeof(r->cookies) / sizeof(r->cookies[0])) {
		free(cookie);
		return;
	}
	r->cookies[r->n_cookies++] = cookie;
}

enum MHD_Result
webui_redirect(struct webui *w, struct webui_req *r, const char *to)
{
	struct buf b = BUF_INIT;

	free(r->location);
	r->location = xstrdup(to);
	return webui_respond(w, r, 303, "text/plain; charset=utf-8", &b);
}

/* --- the request's context --- */

const char *
webui_header(struct webui_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *
webui_arg(struct webui_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

static bool
client_loopback(struct webui_req *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static void
client_ip(struct webui_req *r, char *out, size_t outsz)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t sl = sa != NULL && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);

	snprintf(out, outsz, "?");
	if (sa != NULL)
		getnameinfo(sa, sl, out, (socklen_t)outsz, NULL, 0, NI_NUMERICHOST);
}

static bool
lookup_session(struct webui *w, struct webui_req *r)
{
	char id[WEBUI_TOKEN_HEX + 1];

	if (!webui_cookie_get(webui_header(r, "Cookie"), WEBUI_SESSION_COOKIE, id, sizeof(id)))
		return false;
	r->logged_in = webui_session_lookup(w->sessions, id, time(NULL), &r->sess);
	return r->logged_in;
}

static char *
cookie_line(struct webui *w, const char *name, const char *value, long max_age)
{
	char age[40] = "";

	if (max_age >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%ld", max_age);
	return xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", name, value,
	    w->https ? "; Secure" : "", age);
}

/* The address is one we serve: its index in o.accounts, or -1. */
static ssize_t
account_index(struct webui *w, const char *address)
{
	for (size_t i = 0; i < w->o.n_accounts; i++)
		if (strcmp(w->o.accounts[i], address) == 0)
			return (ssize_t)i;
	return -1;
}

static bool
is_admin(struct webui *w, const char *address)
{
	for (size_t i = 0; i < w->o.n_admins; i++)
		if (strcmp(w->o.admins[i], address) == 0)
			return true;
	return false;
}

/* --- login / logout --- */

static enum MHD_Result
login_page(struct webui *w, struct webui_req *r, unsigned code, const char *flash,
    const char *address)
{
	char pre[WEBUI_TOKEN_HEX + 1];
	struct json_object *page = json_object_new_object();

	if (!webui_cookie_get(webui_header(r, "Cookie"), WEBUI_PRELOGIN_COOKIE, pre, sizeof(pre)) ||
	    !webui_token_valid(pre)) {
		if (!webui_token(pre)) {
			json_object_put(page);
			return webui_respond_text(w, r, 503, "no randomness");
		}
		webui_req_cookie(r, cookie_line(w, WEBUI_PRELOGIN_COOKIE, pre, -1));
	}
	json_object_object_add(page, "address", json_object_new_string(address != NULL ? address : ""));
	return webui_render(w, r, code, "login", page, pre, flash);
}

static void *
login_thread(void *p)
{
	struct webui_login_job *j = p;
	struct webui *w = j->w;         /* j may be gone once the connection resumes */

	if (j->account < 0 || j->password[0] == '\0' || w->o.check_login == NULL) {
		/* nobody to ask: answer no sooner than a refused login does, so
		 * that the time does not tell which addresses exist */
		unsigned ms = atomic_load_explicit(&w->fail_ms, memory_order_relaxed);

		usleep((useconds_t)(ms > 5000 ? 5000 : ms) * 1000);
		kerr_set(&j->err, KERR_CONFIG, "login refused");
		j->ok = false;
	} else {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		j->ok = w->o.check_login(w->o.ctx, j->address, j->password, &j->err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!j->ok && j->err.cls != KERR_TEMP) {
			/* how long a refusal takes: a moving average */
			long ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			unsigned old = atomic_load_explicit(&w->fail_ms, memory_order_relaxed);

			atomic_store_explicit(&w->fail_ms, (unsigned)((old + 3 * (unsigned long)ms) / 4),
			    memory_order_relaxed);
		}
	}
	explicit_bzero(j->password, strlen(j->password));
	j->done = true;
	MHD_resume_connection(j->c);
	pthread_mutex_lock(&w->jobs_mu);
	w->jobs--;
	pthread_cond_broadcast(&w->jobs_cv);
	pthread_mutex_unlock(&w->jobs_mu);
	return NULL;
}

/* The answer to a login once its check is done. */
static enum MHD_Result
login_finish(struct webui *w, struct webui_req *r)
{
	struct webui_login_job *j = r->job;
	time_t now = time(NULL);

	if (!j->ok) {
		if (j->err.cls == KERR_TEMP)
			return login_page(w, r, 503, "login_unavailable", j->address);
		/* the address's failure was counted when the check began */
		webui_throttle_fail(w->throttle_ip, j->ipkey, now);
		return login_page(w, r, 401, "login_failed", j->address);
	}
	webui_throttle_clear(w->throttle, j->akey);
	if (r->logged_in)       /* a new login replaces the session it came with */
		webui_session_destroy(w->sessions, r->sess.id);
	r->logged_in = false;
	if (!webui_session_create(w->sessions, j->address, w->o.account_names[j->account],
	    is_admin(w, j->address), now, &r->sess))
		return webui_respond_text(w, r, 503, "no randomness");
	r->logged_in = true;
	webui_req_cookie(r, cookie_line(w, WEBUI_SESSION_COOKIE, r->sess.id, -1));
	webui_req_cookie(r, cookie_line(w, WEBUI_PRELOGIN_COOKIE, "x", 0));
	return webui_redirect(w, r, "/log");
}

static void
login_job_free(struct webui_login_job **jp)
{
	struct webui_login_job *j = *jp;

	if (j == NULL)
		return;
	free(j->address);
	if (j->password != NULL) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j);
	*jp = NULL;
}

static enum MHD_Result
login_post(struct webui *w, struct webui_req *r)
{
	char pre[WEBUI_TOKEN_HEX + 1];
	char ip[INET6_ADDRSTRLEN + 8];
	char *form_csrf = webui_form_get(r->body.data, r->body.len, "csrf");
	char *address = webui_form_get(r->body.data, r->body.len, "address");
	char *password = webui_form_get(r->body.data, r->body.len, "password");
	time_t now = time(NULL);
	unsigned ra1 = 0, ra2 = 0;
	enum MHD_Result ret;
	struct webui_login_job *j = NULL;
	pthread_attr_t attr;
	pthread_t t;
	ssize_t ai;

	if (!webui_cookie_get(webui_header(r, "Cookie"), WEBUI_PRELOGIN_COOKIE, pre, sizeof(pre)) ||
	    !webui_token_valid(pre) || !webui_ct_equal(pre, form_csrf)) {
		ret = webui_error(w, r, 403, "csrf");
		goto out;
	}
	if (address == NULL || password == NULL || strlen(address) > 254 || strlen(password) > 1024) {
		ret = login_page(w, r, 400, "login_missing", address != NULL && strlen(address) <= 254 ? address : "");
		goto out;
	}
	for (char *p = address; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	j = xcalloc(1, sizeof(*j));
	client_ip(r, ip, sizeof(ip));
	snprintf(j->ipkey, sizeof(j->ipkey), "ip:%s", ip);
	snprintf(j->akey, sizeof(j->akey), "addr:%s", address);
	if (!webui_throttle_allow(w->throttle, j->akey, now, &ra1) |
	    !webui_throttle_allow(w->throttle_ip, j->ipkey, now, &ra2)) {
		r->retry_after = ra1 > ra2 ? ra1 : ra2;
		ret = login_page(w, r, 429, "login_throttled", address);
		goto out;
	}
	/* an unknown address goes the same way as a known one (same answer,
	 * same time: see login_thread) */
	ai = account_index(w, address);
	/* ask on a thread of its own; this web thread serves others meanwhile.
	 * Bounded: at most WEBUI_MAX_LOGINS at once, and the address's try
	 * counts as failed until it succeeds, so parallel tries cannot pass
	 * the throttle together. */
	pthread_mutex_lock(&w->jobs_mu);
	if (w->jobs >= WEBUI_MAX_LOGINS) {
		pthread_mutex_unlock(&w->jobs_mu);
		r->retry_after = 2;
		ret = login_page(w, r, 503, "login_unavailable", address);
		goto out;
	}
	w->jobs++;
	pthread_mutex_unlock(&w->jobs_mu);
	webui_throttle_fail(w->throttle, j->akey, now);
	j->w = w;
	j->c = r->c;
	j->account = ai;
	j->address = address;
	j->password = password;
	address = password = NULL;
	r->job = j;
	j = NULL;
	MHD_suspend_connection(r->c);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, login_thread, r->job) != 0) {
		kerr_set(&r->job->err, KERR_TEMP, "no thread for the login");
		r->job->done = true;
		MHD_resume_connection(r->c);
		pthread_mutex_lock(&w->jobs_mu);
		w->jobs--;
		pthread_cond_broadcast(&w->jobs_cv);
		pthread_mutex_unlock(&w->jobs_mu);
	}
	pthread_attr_destroy(&attr);
	ret = MHD_YES;          /* answered by login_finish() when it resumes */
out:
	login_job_free(&j);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	/* the body held the password too */
	if (r->body.data != NULL)
		explicit_bzero(r->body.data, r->body.len);
	free(address);
	free(form_csrf);
	return ret;
}

static bool
csrf_ok(struct webui_req *r)
{
	char *t = webui_form_get(r->body.data, r->body.len, "csrf");
	bool ok = r->logged_in && webui_ct_equal(t, r->sess.csrf);

	free(t);
	return ok;
}

/* --- /metrics, /healthz --- */

static enum MHD_Result
metrics(struct webui *w, struct webui_req *r)
{
	struct buf b = BUF_INIT;
	struct kerr err = KERR_INIT;
	struct store *s;
	const char *host = webui_header(r, "Host");     /* none: HTTP/1.0, not a browser */

	/* loopback (a local Prometheus) by address only: a page elsewhere whose
	 * DNS name was rebound to 127.0.0.1 sends its own name as Host */
	if (!(client_loopback(r) && (host == NULL || webui_host_is_local(host))) &&
	    !(r->logged_in && r->sess.admin))
		return webui_error(w, r, 403, "forbidden");
	buf_appends(&b, "# HELP kyso_web_requests_total Web view responses by HTTP status.\n"
	    "# TYPE kyso_web_requests_total counter\n");
	for (unsigned code = 100; code < 600; code++) {
		unsigned long long n = atomic_load_explicit(&w->codes[code], memory_order_relaxed);

		if (n != 0)
			buf_printf(&b, "kyso_web_requests_total{code=\"%u\"} %llu\n", code, n);
	}
	buf_printf(&b, "# HELP kyso_web_sessions Live web sessions.\n# TYPE kyso_web_sessions gauge\n"
	    "kyso_web_sessions %zu\n", webui_session_count(w->sessions));
	s = webui_store_get(w, &err);
	if (s != NULL) {
		struct json_object *m = store_metrics(s, &err);

		webui_store_put(w, s);
		if (m != NULL) {
			webui_metrics_store(&b, m);
			json_object_put(m);
		}
	}
	if (kerr_isset(&err))
		buf_printf(&b, "# log database: unavailable\nkyso_log_up 0\n");
	else
		buf_printf(&b, "kyso_log_up 1\n");
	if (w->o.metrics != NULL)
		w->o.metrics(w->o.ctx, &b);
	return webui_respond(w, r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result
healthz(struct webui *w, struct webui_req *r)
{
	struct kerr err = KERR_INIT;
	struct store *s = store_open(w->o.db_path, &err);

	if (s == NULL)
		return webui_respond_text(w, r, 503, "log database unavailable");
	store_close(&s);
	return webui_respond_text(w, r, 200, "ok");
}

/* --- dispatch --- */

static enum MHD_Result
dispatch(struct webui *w, struct webui_req *r)
{
	const char *qlang = webui_arg(r, "lang");
	char clang[8];

	if (r->job != NULL)     /* resumed: the login's check is done */
		return r->job->done ? login_finish(w, r) : MHD_YES;

	if (qlang != NULL && (strcmp(qlang, "vi") == 0 || strcmp(qlang, "en") == 0))
		webui_req_cookie(r, cookie_line(w, WEBUI_LANG_COOKIE, qlang, 365L * 86400));
	r->lang = webui_lang_choose(qlang, webui_cookie_get(webui_header(r, "Cookie"),
	    WEBUI_LANG_COOKIE, clang, sizeof(clang)) ? clang : NULL);

	if (r->not_found)
		return webui_error(w, r, 404, "not_found");
	switch (r->route) {
	case ROUTE_HEALTHZ:
		return healthz(w, r);
	case ROUTE_STATIC: {
		const struct webui_static_file *f = webui_static_find(&w->st, r->url + strlen("/static/"));
		struct buf b = BUF_INIT;

		if (f == NULL)
			return webui_error(w, r, 404, "not_found");
		buf_append(&b, f->data, f->len);
		r->static_file = true;
		return webui_respond(w, r, 200, f->type, &b);
	}
	default:
		break;
	}

	lookup_session(w, r);
	if (r->is_post) {
		if (!webui_origin_ok(webui_header(r, "Origin"), webui_header(r, "Sec-Fetch-Site"),
		    webui_header(r, "Referer"), webui_header(r, "Host")))
			return webui_error(w, r, 403, "cross_site");
	}
	switch (r->route) {
	case ROUTE_METRICS:
		return metrics(w, r);
	case ROUTE_LOGIN:
		if (r->is_post)
			return login_post(w, r);
		if (r->logged_in)
			return webui_redirect(w, r, "/log");
		return login_page(w, r, 200, NULL, NULL);
	case ROUTE_LOGOUT:
		if (!csrf_ok(r))
			return webui_error(w, r, 403, "csrf");
		webui_session_destroy(w->sessions, r->sess.id);
		webui_req_cookie(r, cookie_line(w, WEBUI_SESSION_COOKIE, "x", 0));
		return webui_redirect(w, r, "/login");
	default:
		break;
	}
	if (!r->logged_in) {
		if (r->route == ROUTE_LOG_CSV)
			return webui_error(w, r, 401, "login_required");
		return webui_redirect(w, r, "/login");
	}
	switch (r->route) {
	case ROUTE_ROOT:
		return webui_redirect(w, r, "/log");
	case ROUTE_LOG:
		return webui_page_log(w, r);
	case ROUTE_LOG_CSV:
		return webui_page_csv(w, r);
	case ROUTE_MESSAGE:
		return webui_page_message(w, r);
	case ROUTE_ACCOUNTS:
		return webui_page_accounts(w, r);
	case ROUTE_OVERVIEW:
		return webui_page_overview(w, r);
	default:
		return webui_error(w, r, 404, "not_found");
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct webui *w = cls;
	struct webui_req *r = *con_cls;

	(void)version;
	if (r == NULL) {       /* on_uri() always made one; be safe */
		r = xcalloc(1, sizeof(*r));
		*con_cls = r;
	}
	if (!r->started) {
		int code;
		const char *cl;

		r->started = true;
		r->c = c;
		r->url = url;
		if (r->bad_uri) {
			r->lang = "vi";
			return webui_error(w, r, 400, "bad_request");
		}
		r->lang = "vi";
		code = webui_route(method, url, &r->route, &r->id);
		r->is_post = strcmp(method, "POST") == 0;
		if (code == 404 && !r->is_post) {
			r->not_found = true;    /* a page saying so, once the request is complete */
			return MHD_YES;
		}
		if (code != 200) {
			r->allow = r->route == ROUTE_LOGOUT ? "POST" :
			    r->route == ROUTE_LOGIN ? "GET, HEAD, POST" : "GET, HEAD";
			return webui_error(w, r, (unsigned)code, code == 405 ? "method" : "not_found");
		}
		cl = webui_header(r, "Content-Length");
		if (cl != NULL && (strlen(cl) > 9 || strtoul(cl, NULL, 10) > WEBUI_MAX_BODY))
			return webui_error(w, r, 413, "too_large");
		if (!r->is_post && cl != NULL && strtoul(cl, NULL, 10) > 0)
			return webui_error(w, r, 413, "too_large");
		/* answer on the next call, when the request is complete:
		 * an answer queued earlier makes libmicrohttpd close the
		 * connection (no keep-alive) */
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (!r->responded && !r->too_big) {
			if (r->body.len + *upload_size > WEBUI_MAX_BODY)
				r->too_big = true;
			else
				buf_append(&r->body, upload_data, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->responded)
		return MHD_YES;
	if (r->too_big)
		return webui_error(w, r, 413, "too_large");
	if (r->body.data == NULL)
		buf_reserve(&r->body, 1);
	return dispatch(w, r);
}

/* The raw request URI, before libmicrohttpd decodes it: a %00 would cut
 * the decoded path short ("/static/kyso.css%00.png"), so refuse it here. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct webui_req *r = xcalloc(1, sizeof(*r));

	(void)cls;
	r->c = c;
	r->bad_uri = uri == NULL || strstr(uri, "%00") != NULL;
	return r;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct webui_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	if (r->body.data != NULL)
		explicit_bzero(r->body.data, r->body.len);
	buf_release(&r->body);
	for (size_t i = 0; i < r->n_cookies; i++)
		free(r->cookies[i]);
	free(r->location);
	login_job_free(&r->job);
	explicit_bzero(&r->sess, sizeof(r->sess));
	free(r);
	*con_cls = NULL;
}

/* libmicrohttpd's messages: kept for the start error, otherwise dropped. */
static __thread char mhd_last[256];

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	vsnprintf(mhd_last, sizeof(mhd_last), fmt, ap);
	mhd_last[strcspn(mhd_last, "\r\n")] = '\0';
}

/* --- start / stop --- */

static char **
strv_dup(const char *const *v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(*out));

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v != NULL && v[i] != NULL ? v[i] : "");
	return out;
}

static void
strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static struct json_object *
load_i18n(const char *dir, const char *lang, struct kerr *err)
{
	char *path = xasprintf("%s/i18n/%s.json", dir, lang);
	struct json_object *o = json_object_from_file(path);

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		kerr_set(err, KERR_CONFIG, "%s: missing or not a JSON object (%s)", path,
		    json_util_get_last_err() != NULL ? json_util_get_last_err() : "?");
		json_object_put(o);
		o = NULL;
	}
	free(path);
	return o;
}

struct webui *
webui_start(const struct webui_opts *o, struct kerr *err)
{
	struct webui *w = xcalloc(1, sizeof(*w));
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct rlimit rl;
	const union MHD_DaemonInfo *di;
	char *dir = NULL;

	pthread_mutex_init(&w->store_mu, NULL);
	pthread_mutex_init(&w->jobs_mu, NULL);
	pthread_cond_init(&w->jobs_cv, NULL);
	atomic_init(&w->fail_ms, 250);  /* until a refusal is timed */
	w->o = *o;
	w->o.listen = xstrdup(o->listen != NULL ? o->listen : "127.0.0.1:8080");
	w->o.db_path = o->db_path != NULL ? xstrdup(o->db_path) : NULL;
	w->o.templates = o->templates != NULL ? xstrdup(o->templates) : NULL;
	w->o.tls_cert = w->o.tls_key = NULL;
	w->o.admins = (const char *const *)strv_dup(o->admins, o->n_admins);
	w->o.accounts = (const char *const *)strv_dup(o->accounts, o->n_accounts);
	w->o.account_names = (const char *const *)strv_dup(o->account_names, o->n_accounts);
	if (w->o.threads == 0) {
		/* one per core (at least 2, so one slow page never stops the
		 * view): pages are CPU work, and threads beyond the cores only
		 * add queueing (p99 under 64 connections on 2 cores: 4 threads
		 * 32-75 ms, 2 threads 17-42 ms, docs/WEB.md) */
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		w->o.threads = n < 2 ? 2 : n > 8 ? 8 : (unsigned)n;
	}
	if (w->o.session_idle_s == 0)
		w->o.session_idle_s = 1800;
	if (w->o.max_connections == 0)
		w->o.max_connections = 16384;
	for (size_t i = 0; i < w->o.n_accounts; i++)
		for (char *p = (char *)w->o.accounts[i]; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	for (size_t i = 0; i < w->o.n_admins; i++)
		for (char *p = (char *)w->o.admins[i]; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');

	if (w->o.db_path == NULL || w->o.templates == NULL) {
		kerr_set(err, KERR_CONFIG, "web: db_path and templates must be set");
		goto fail;
	}
	if (!webui_listen_parse(w->o.listen, &ss, &sl, err))
		goto fail;
	w->tmpl = tmpl_load_dir(w->o.templates, err);
	if (w->tmpl == NULL)
		goto fail;
	w->i18n[0] = load_i18n(w->o.templates, "vi", err);
	if (w->i18n[0] == NULL)
		goto fail;
	w->i18n[1] = load_i18n(w->o.templates, "en", err);
	if (w->i18n[1] == NULL)
		goto fail;
	dir = xasprintf("%s/static", w->o.templates);
	if (!webui_static_load(&w->st, dir, err))
		goto fail;
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		kerr_set(err, KERR_CONFIG, "web: tls_cert and tls_key go together");
		goto fail;
	}
	if (o->tls_cert != NULL) {
		size_t len;

		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			kerr_set(err, KERR_CONFIG, "web: this libmicrohttpd has no TLS");
			goto fail;
		}
		if (!read_small_file(o->tls_cert, 1024 * 1024, &w->cert_pem, &len, err) ||
		    !read_small_file(o->tls_key, 1024 * 1024, &w->key_pem, &len, err))
			goto fail;
		if (strstr(w->cert_pem, "-----BEGIN CERTIFICATE-----") == NULL ||
		    strstr(w->key_pem, "PRIVATE KEY-----") == NULL) {
			kerr_set(err, KERR_CONFIG, "web: %s / %s: want PEM certificate and private key",
			    o->tls_cert, o->tls_key);
			goto fail;
		}
		w->https = true;
		flags |= MHD_USE_TLS;
	}
	if (pthread_key_create(&w->i18n_key, webui_i18n_thread_free) != 0) {
		kerr_set(err, KERR_INTERNAL, "web: no thread key");
		goto fail;
	}
	w->have_key = true;
	w->sessions = webui_sessions_new(w->o.session_idle_s, 10000);
	w->throttle = webui_throttle_new(WEBUI_THROTTLE_MAX, WEBUI_THROTTLE_WINDOW);
	w->throttle_ip = webui_throttle_new(WEBUI_THROTTLE_IP_MAX, WEBUI_THROTTLE_WINDOW);

	/* Hold many idle connections: as many descriptors as we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	mhd_last[0] = '\0';
	{
		struct MHD_OptionItem tls_opts[] = {
			{ MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert_pem },
			{ MHD_OPTION_HTTPS_MEM_KEY, 0, w->key_pem },
			/* TLS 1.2 at least, as everywhere in kyso */
			{ MHD_OPTION_HTTPS_PRIORITIES, 0,
			  (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
			{ MHD_OPTION_END, 0, NULL },
		};

		w->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)w->o.threads,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)w->o.max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)WEBUI_IDLE_TIMEOUT,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, w,
		    MHD_OPTION_ARRAY, w->https ? tls_opts : &tls_opts[3],
		    MHD_OPTION_END);
	}
	if (w->d == NULL) {
		kerr_set(err, KERR_CONFIG, "web: cannot listen on %s%s%s%s", w->o.listen,
		    w->https ? " (or bad TLS certificate/key)" : "",
		    mhd_last[0] != '\0' ? ": " : "", mhd_last);
		goto fail;
	}
	di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
	w->port = di != NULL ? di->port : 0;
	free(dir);
	return w;
fail:
	free(dir);
	webui_stop(&w);
	return NULL;
}

unsigned
webui_port(const struct webui *w)
{
	return w != NULL ? w->port : 0;
}

void
webui_stop(struct webui **wp)
{
	struct webui *w = wp != NULL ? *wp : NULL;

	if (w == NULL)
		return;
	/* no connection may stay suspended: let running logins finish */
	pthread_mutex_lock(&w->jobs_mu);
	while (w->jobs > 0)
		pthread_cond_wait(&w->jobs_cv, &w->jobs_mu);
	pthread_mutex_unlock(&w->jobs_mu);
	if (w->d != NULL)
		MHD_stop_daemon(w->d);         /* joins the web threads: their i18n copies go */
	if (w->have_key)
		pthread_key_delete(w->i18n_key);
	for (size_t i = 0; i < w->n_free; i++)
		store_close(&w->free_stores[i]);
	tmpl_free(&w->tmpl);
	json_object_put(w->i18n[0]);
	json_object_put(w->i18n[1]);
	webui_static_release(&w->st);
	webui_sessions_free(&w->sessions);
	webui_throttle_free(&w->throttle);
	webui_throttle_free(&w->throttle_ip);
	if (w->key_pem != NULL)
		explicit_bzero(w->key_pem, strlen(w->key_pem));
	free(w->key_pem);
	free(w->cert_pem);
	free((char *)w->o.listen);
	free((char *)w->o.db_path);
	free((char *)w->o.templates);
	strv_free((char **)w->o.admins, w->o.n_admins);
	strv_free((char **)w->o.accounts, w->o.n_accounts);
	strv_free((char **)w->o.account_names, w->o.n_accounts);
	pthread_mutex_destroy(&w->store_mu);
	pthread_mutex_destroy(&w->jobs_mu);
	pthread_cond_destroy(&w->jobs_cv);
	free(w);
	*wp = NULL;
}
