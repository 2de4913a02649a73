/*
 * webui-private.h - what webui/server.c, session.c, pages.c and svg.c share,
 * and what the unit tests (tests/unit/webui/) reach.  Nothing outside webui/
 * and its tests includes it.
 */
#ifndef KYSO_WEBUI_PRIVATE_H
#define KYSO_WEBUI_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "smime/base.h"
#include "webui/store.h"
#include "webui/webui.h"

#define WEBUI_SESSION_COOKIE "kyso_session"
#define WEBUI_LANG_COOKIE "kyso_lang"
#define WEBUI_PRELOGIN_COOKIE "kyso_pre"     /* login form's double-submit token */
#define WEBUI_TOKEN_HEX 64                  /* 32 random bytes, hex */
#define WEBUI_MAX_BODY (16 * 1024)          /* POST bodies above: 413 */
#define WEBUI_THROTTLE_MAX 5                /* failed logins per address ... */
#define WEBUI_THROTTLE_IP_MAX 20            /* ... or per client IP (an office behind NAT) ... */
#define WEBUI_THROTTLE_WINDOW (15 * 60)     /* ... within this many seconds: 429 */
#define WEBUI_MAX_LOGINS 16                 /* logins being checked at once */
#define WEBUI_TZ_OFFSET (7 * 3600)          /* Asia/Ho_Chi_Minh: UTC+7, no DST */
#define WEBUI_IDLE_TIMEOUT 30               /* seconds a connection may idle */
#define WEBUI_STORE_POOL 16                 /* open stores kept for reuse */

/* --- session.c: tokens, sessions, throttling, cookies, forms --- */

/* 32 bytes from getrandom() as 64 lower-case hex digits + NUL.  false when
 * the kernel gave none (never falls back to a weaker source). */
bool webui_token(char out[WEBUI_TOKEN_HEX + 1]);
/* Constant-time equality of two NUL-terminated strings (time depends only on
 * the lengths).  NULL never equals anything. */
bool webui_ct_equal(const char *a, const char *b);
/* A well-formed token: exactly 64 [0-9a-f]. */
bool webui_token_valid(const char *s);

struct webui_session_info {
	char id[WEBUI_TOKEN_HEX + 1];
	char csrf[WEBUI_TOKEN_HEX + 1];
	char address[256];      /* mailbox address, lower case */
	char account[128];      /* its account name ("" if none) */
	bool admin;
};

struct webui_sessions;
/* idle_s: a session unused that long is gone; max: live sessions at most
 * (the oldest is dropped beyond). */
struct webui_sessions *webui_sessions_new(unsigned idle_s, size_t max);
void webui_sessions_free(struct webui_sessions **sp);
/* New session; *info_r gets its id and CSRF token.  false: no randomness. */
bool webui_session_create(struct webui_sessions *s, const char *address, const char *account,
    bool admin, time_t now, struct webui_session_info *info_r);
/* Look a session up by id (any string: malformed ones are simply unknown);
 * touches it.  false when unknown or idle too long (then it is removed). */
bool webui_session_lookup(struct webui_sessions *s, const char *id, time_t now,
    struct webui_session_info *info_r);
void webui_session_destroy(struct webui_sessions *s, const char *id);
size_t webui_session_count(struct webui_sessions *s);

struct webui_throttle;
struct webui_throttle *webui_throttle_new(unsigned max_failures, unsigned window_s);
void webui_throttle_free(struct webui_throttle **tp);
/* May key try now?  false + *retry_after_r (seconds) when it failed
 * max_failures times within the window. */
bool webui_throttle_allow(struct webui_throttle *t, const char *key, time_t now,
    unsigned *retry_after_r);
void webui_throttle_fail(struct webui_throttle *t, const char *key, time_t now);
void webui_throttle_clear(struct webui_throttle *t, const char *key);

/* The value of cookie name in a Cookie header, copied to out (outsz bytes
 * with NUL).  false when absent, empty, malformed or too long. */
bool webui_cookie_get(const char *header, const char *name, char *out, size_t outsz);
/* The value of field name in an application/x-www-form-urlencoded body,
 * decoded; caller owns.  NULL when absent or it decodes to a NUL byte. */
char *webui_form_get(const char *body, size_t len, const char *name);
/* "vi" or "en": the query's lang= if valid, else the cookie's, else "vi". */
const char *webui_lang_choose(const char *query_lang, const char *cookie_lang);
/* May this POST proceed, judged by its Origin, Sec-Fetch-Site and Referer
 * headers (any may be NULL) and our Host? */
bool webui_origin_ok(const char *origin, const char *sec_fetch_site, const char *referer,
    const char *host);

/* A Host header naming this machine by address or "localhost" (not a DNS
 * name, which a rebinding attack could point at our loopback port). */
bool webui_host_is_local(const char *host);

/* --- server.c: routing, static files, listen address, CSV --- */

enum webui_route_id {
	ROUTE_NONE = 0,
	ROUTE_ROOT, ROUTE_LOGIN, ROUTE_LOGOUT, ROUTE_LOG, ROUTE_LOG_CSV, ROUTE_MESSAGE,
	ROUTE_ACCOUNTS, ROUTE_OVERVIEW, ROUTE_HEALTHZ, ROUTE_METRICS, ROUTE_STATIC,
};
/* Route method + url (the path, no query).  Returns 200 with *route_r and,
 * for /message/ID, *id_r; 404 for an unknown path; 405 for a known path with
 * a method it does not take. */
int webui_route(const char *method, const char *url, enum webui_route_id *route_r, int64_t *id_r);

struct webui_static_file {
	char *name;             /* owned: "style.css" */
	const char *type;       /* Content-Type */
	char *data;             /* owned */
	size_t len;
};
struct webui_static {
	struct webui_static_file *files;        /* owned */
	size_t n;
};
/* Read the allow-list: every regular file in dir whose name is
 * [A-Za-z0-9_-][A-Za-z0-9._-]* ending in .css, .js, .png or .svg, at most
 * 1 MiB each, 256 files.  A missing dir is an empty list. */
bool webui_static_load(struct webui_static *st, const char *dir, struct kerr *err);
void webui_static_release(struct webui_static *st);
/* The file whose name is exactly name, or NULL.  No path from a URL ever
 * reaches the file system. */
const struct webui_static_file *webui_static_find(const struct webui_static *st, const char *name);

/* "host:port", "[v6]:port", "localhost:port", ":port" -> an address. */
bool webui_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len_r,
    struct kerr *err);

/* One CSV cell (RFC 4180 quoting when needed), formula-guarded: a cell
 * starting with = + - @ (or TAB/CR) gets a leading '. */
void webui_csv_cell(struct buf *out, const char *s);

/* --- server.c: the daemon and one request --- */

/* A login being checked on its own thread while the connection is
 * suspended (an IMAP LOGIN may take seconds: Dovecot delays failures). */
struct webui_login_job {
	struct webui *w;                /* borrowed */
	struct MHD_Connection *c;       /* borrowed */
	char *address;                  /* owned */
	char *password;                 /* owned; wiped after the check */
	ssize_t account;                /* index in o.accounts; -1: not one of ours */
	char akey[300], ipkey[80];      /* throttle keys */
	bool ok, done;
	struct kerr err;
};

struct webui_req {
	struct MHD_Connection *c;       /* borrowed */
	const char *url;                /* borrowed from libmicrohttpd */
	enum webui_route_id route;
	int64_t id;                     /* /message/ID */
	bool started, bad_uri, not_found, is_post, too_big, responded, static_file, logged_in;
	struct buf body;                /* POST body, at most WEBUI_MAX_BODY */
	struct webui_session_info sess; /* when logged_in */
	const char *lang;               /* "vi" | "en" (static) */
	char *cookies[4];               /* owned: Set-Cookie values */
	size_t n_cookies;
	char *location;                 /* owned: redirect target */
	const char *allow;              /* 405's Allow (static) */
	const char *disposition;        /* Content-Disposition (static) */
	unsigned retry_after;
	struct webui_login_job *job;    /* owned: a login under way */
};

struct webui {
	struct webui_opts o;            /* strings and arrays owned (copies) */
	struct MHD_Daemon *d;
	unsigned port;
	bool https;
	struct tmpl_set *tmpl;          /* owned */
	struct json_object *i18n[2];    /* owned: vi, en (read-only once started) */
	pthread_key_t i18n_key;         /* each web thread's copy of i18n */
	bool have_key;
	struct webui_static st;
	struct webui_sessions *sessions;
	struct webui_throttle *throttle;        /* per mailbox address */
	struct webui_throttle *throttle_ip;     /* per client IP */
	char *cert_pem, *key_pem;       /* owned */
	pthread_mutex_t store_mu;
	struct store *free_stores[WEBUI_STORE_POOL];
	size_t n_free;
	_Atomic unsigned long long codes[600];  /* responses by status */
	pthread_mutex_t jobs_mu;        /* login threads running: webui_stop waits */
	pthread_cond_t jobs_cv;
	unsigned jobs;
	_Atomic unsigned fail_ms;       /* how long a refused login takes (average) */
};

struct store *webui_store_get(struct webui *w, struct kerr *err);
void webui_store_put(struct webui *w, struct store *s);
const char *webui_header(struct webui_req *r, const char *name);
const char *webui_arg(struct webui_req *r, const char *name);
/* Takes ownership of cookie (a Set-Cookie value). */
void webui_req_cookie(struct webui_req *r, char *cookie);
/* Queue a response; body is taken (left empty). */
enum MHD_Result webui_respond(struct webui *w, struct webui_req *r, unsigned code,
    const char *type, struct buf *body);
enum MHD_Result webui_respond_text(struct webui *w, struct webui_req *r, unsigned code,
    const char *text);
enum MHD_Result webui_respond_stream(struct webui *w, struct webui_req *r, const char *type,
    MHD_ContentReaderCallback reader, void *cls, MHD_ContentReaderFreeCallback fr);
enum MHD_Result webui_redirect(struct webui *w, struct webui_req *r, const char *to);

/* --- pages.c: the context of a page --- */

/* Render template name with the common context (t, lang, user, csrf, ...)
 * and page (taken) at code.  csrf: the token for the page's forms (NULL: the
 * session's).  flash: an i18n key or NULL. */
enum MHD_Result webui_render(struct webui *w, struct webui_req *r, unsigned code,
    const char *name, struct json_object *page, const char *csrf, const char *flash);
/* An error page (template "error", or text) with an i18n key for the message. */
enum MHD_Result webui_error(struct webui *w, struct webui_req *r, unsigned code, const char *key);
enum MHD_Result webui_page_log(struct webui *w, struct webui_req *r);
enum MHD_Result webui_page_csv(struct webui *w, struct webui_req *r);
enum MHD_Result webui_page_message(struct webui *w, struct webui_req *r);
enum MHD_Result webui_page_accounts(struct webui *w, struct webui_req *r);
enum MHD_Result webui_page_overview(struct webui *w, struct webui_req *r);
/* One log row (store_list's) as a CSV line. */
void webui_csv_row(struct buf *out, struct json_object *row);
/* store_metrics()' counts as Prometheus text. */
void webui_metrics_store(struct buf *out, struct json_object *m);
/* pthread_key destructor of a thread's i18n copies. */
void webui_i18n_thread_free(void *p);
/* The i18n text of key in lang ("vi"/"en"), or NULL. */
const char *webui_i18n(struct webui *w, const char *lang, const char *key);


/* "YYYY-MM-DD" -> Unix time of that day's local (UTC+7) midnight.  false if
 * not a real date. */
bool webui_parse_day(const char *s, int64_t *t_r);
/* "TIME.ID" -> both (positive). */
bool webui_parse_before(const char *s, int64_t *time_r, int64_t *id_r);
/* Local (UTC+7) "YYYY-MM-DD HH:MM" of t into out (>= 20 bytes). */
void webui_format_time(int64_t t, char *out, size_t outsz);

/* --- svg.c --- */

/* Stacked bars for the overview: from store_overview()'s {"days":[...]} to
 * { width, height, bars:[{day,label,x,w,total,segs:[{verdict,y,h,n}]}],
 *   ticks:[{y,label}], legend:[{verdict,n}] }.  Caller owns. */
struct json_object *webui_chart(struct json_object *overview, unsigned width, unsigned height);
/* The verdict codes in the order they stack (and their CSS classes). */
extern const char *const webui_verdicts[];
extern const size_t webui_n_verdicts;

#endif
