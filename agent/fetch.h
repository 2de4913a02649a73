/*
 * fetch.h - a small HTTP/1.1 client for revocation data (CRLs, OCSP).
 *
 * smime/ never opens a socket: the agent gives it this fetcher through
 * struct smime_fetcher (smime/smime.h).
 *
 *   struct fetch_opts fo = FETCH_OPTS_INIT;          // 10 s for the whole fetch
 *   struct smime_fetcher f = fetch_http_fetcher(&fo); // fo borrowed while f is used
 *   struct smime_verify_opts vo = SMIME_VERIFY_OPTS_INIT;
 *   vo.fetcher = &f;
 *
 * Plain http:// only, by design: CRLs and OCSP responses are signed, and
 * RFC 5280 / RFC 6960 publish them over http.  https:// is refused with a
 * clear message (it can come later).  GET, or POST when a body is given;
 * Host header, Connection: close; IPv4 and IPv6 (getaddrinfo); Content-Length,
 * read-to-close or chunked bodies; at most FETCH_MAX_REDIRECTS redirects,
 * within http.  The status must finally be 200.  Response headers are bounded
 * (FETCH_MAX_HEADER bytes), bodies by the caller's max.  One debug log line
 * per fetch (url, status, bytes, ms); bodies are never logged.
 *
 * Redirects: 303 turns a POST into a GET; 301, 302, 307 and 308 repeat the
 * request as it was (an OCSP responder that moved keeps getting its POST).
 *
 * Errors: KERR_TEMP for what may work later (name resolution, refused or
 * reset connections, timeouts, a truncated body, HTTP 5xx / 408 / 429);
 * KERR_PERM for what will not (a bad or unsupported URL, 4xx such as 404, a
 * body over max, a malformed response, too many redirects).
 *
 * Threads: fetch_http keeps no state; call it from any number of threads.
 */
#ifndef KYSO_AGENT_FETCH_H
#define KYSO_AGENT_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "smime/smime.h"

#define FETCH_DEFAULT_TIMEOUT_MS 10000
#define FETCH_MAX_REDIRECTS 3
#define FETCH_MAX_HEADER (16 * 1024)     /* status line + all header lines */
#define FETCH_MAX_URL 2048

struct fetch_opts {
	int timeout_ms;                 /* the whole fetch, redirects included; <= 0: 10 s */
};
#define FETCH_OPTS_INIT { FETCH_DEFAULT_TIMEOUT_MS }

/* Fetch url into out (its old contents are discarded), at most max bytes of
 * body (0: no limit other than memory; callers should always give one).
 * body == NULL: GET; else POST body (body_len bytes) with content_type.
 * ctx: a const struct fetch_opts * (borrowed) or NULL for the defaults.
 * The signature of struct smime_fetcher's fetch. */
bool fetch_http(void *ctx, const char *url, const char *content_type,
    const void *body, size_t body_len, size_t max, struct buf *out, struct kerr *err);

/* A fetcher calling fetch_http with o (borrowed for as long as the fetcher
 * is used; NULL: the defaults). */
struct smime_fetcher fetch_http_fetcher(const struct fetch_opts *o);

/* The parts of an http:// URL.  Exposed for tests. */
struct fetch_url {
	char host[256];                 /* without [] for IPv6 literals */
	char hostport[300];             /* the Host header: "host", "host:port", "[::1]:8080" */
	unsigned port;
	char path[FETCH_MAX_URL];       /* "/..." with the query, never the #fragment */
};
/* Parse an absolute http:// URL; KERR_PERM with the reason when it is not
 * one kyso will fetch (https, no host, spaces or control characters, user
 * info, a bad port, too long). */
bool fetch_url_parse(const char *url, struct fetch_url *u, struct kerr *err);

#endif
