/*
 * httpd.h - a tiny HTTP server for the tests of agent/fetch.c and
 * smime/revocation.c: a thread on a loopback port, serving one connection
 * at a time until stopped.
 *
 *   static void handler(struct httpd *h, int fd, const struct httpd_req *req, void *arg)
 *   { httpd_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"); }
 *   struct httpd *h = httpd_start("127.0.0.1", 0, handler, NULL);
 *   ...fetch http://127.0.0.1:<httpd_port(h)>/...
 *   httpd_stop(&h);
 *
 * httpd_serve_dir (arg: a folder) answers GET /NAME with the file NAME
 * (no '/' or ".." in NAME), else 404: what a CRL distribution point does.
 * Every wait is bounded (HTTPD_TIMEOUT_MS), so a broken client cannot hang
 * a test; a handler that wants to be slow waits with httpd_hold().
 */
#ifndef KYSO_TESTS_HTTPD_H
#define KYSO_TESTS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smime/base.h"

#define HTTPD_TIMEOUT_MS 5000

struct httpd_req {
	char method[16];
	char target[1024];              /* as sent: "/path?query" */
	char host[256];                 /* the Host header, "" when none */
	char content_type[128];
	bool connection_close;          /* "Connection: close" was sent */
	struct buf head;                /* owned: the request line and headers as sent */
	struct buf body;                /* owned */
};

struct httpd;
typedef void httpd_fn(struct httpd *h, int fd, const struct httpd_req *req, void *arg);

/* Listen on addr ("127.0.0.1" or "::1") port (0: any free one); NULL when
 * that address cannot be bound (no IPv6 here).  fn answers each request. */
struct httpd *httpd_start(const char *addr, uint16_t port, httpd_fn *fn, void *arg);
uint16_t httpd_port(const struct httpd *h);
/* Requests received so far. */
int httpd_count(struct httpd *h);
/* A copy of the last request (caller frees with httpd_req_release); false if none. */
bool httpd_last(struct httpd *h, struct httpd_req *copy);
void httpd_req_release(struct httpd_req *r);
/* Stop the thread (a handler in httpd_hold returns at once) and free h. */
void httpd_stop(struct httpd **hp);

/* In a handler: write bytes (errors ignored: the client may be gone). */
void httpd_write(int fd, const void *p, size_t n);
void httpd_printf(int fd, const char *fmt, ...) KYSO_PRINTF(2, 3);
/* In a handler: wait up to ms, or until httpd_stop() or the client leaves. */
void httpd_hold(struct httpd *h, int fd, int ms);

/* A handler serving files from the folder arg (const char *). */
void httpd_serve_dir(struct httpd *h, int fd, const struct httpd_req *req, void *arg);

/* A TCP port on 127.0.0.1 where nothing listens (just released). */
uint16_t httpd_free_port(void);

#endif
