/*
 * tls.h - one TCP connection to a mail server, with TLS done by OpenSSL, and
 * the libetpan stream that imapc.c and smtpc.c speak their protocol over.
 *
 * Debian's libetpan does its own TLS with GnuTLS and checks no certificate, so
 * kyso never lets libetpan open a connection: this module connects, runs the
 * TLS handshake (chain, host name, TLS >= 1.2) and hands libetpan a stream
 * whose reads and writes go through OpenSSL.
 *
 *   struct tls_opts o = { .ca_file = acct->tls_ca, .verify = acct->tls_verify,
 *                         .timeout_s = 30 };
 *   struct tls_conn *c = tls_conn_connect("mail.longan.gov.vn", 993, &o, &err);
 *   if (c == NULL || !tls_conn_handshake(c, &err))      // implicit TLS (imaps, smtps)
 *           ...err.cls says how to react...
 *   struct _mailstream *s = tls_conn_stream_new(c);     // give s to mailimap_connect()
 *   ...
 *   mailimap_free(imap);                                // closes s
 *   tls_conn_free(&c);                                  // after the stream is gone
 *
 * STARTTLS: connect, wrap in a stream, talk plain text until the server has
 * answered STARTTLS with OK, then tls_stream_starttls(s) switches the same
 * stream to TLS in place.  It refuses when the server sent anything after its
 * OK (bytes an attacker could have injected into the plain-text phase).
 *
 * Errors: a certificate that does not verify, a host name mismatch, an
 * unreadable CA file or a TLS protocol failure is KERR_CONFIG (the operator must
 * act); refused or reset connections, timeouts and name-resolution failures are
 * KERR_TEMP.  Messages start with the host ("localhost:993: TLS certificate
 * verify failed: ..."); callers prefix the protocol.
 *
 * Threads: one connection is used by one thread at a time, except
 * tls_conn_cancel(), which any thread (or a signal handler) may call.
 *
 * The stream type is only declared here (libetpan's mailstream is
 * `struct _mailstream`), so including this header does not pull in libetpan.
 */
#ifndef KYSO_AGENT_TLS_H
#define KYSO_AGENT_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "smime/base.h"

struct _mailstream;

struct tls_opts {
	const char *ca_file;     /* borrowed; trust anchors (PEM); NULL: the system's store */
	bool verify;             /* false: no chain or name check (tls_verify = no); logged as a warning on every handshake */
	int timeout_s;           /* connect, handshake, and each wait for the server; <= 0: 60 */
	const char *tls_name;    /* borrowed; the name (or IP) the certificate must be for;
	                          * NULL: the host connected to */
};

/* One TCP connection, plain until tls_conn_handshake().  Opaque. */
struct tls_conn;

/* Resolve host and connect to it (each address in turn, each within the
 * timeout).  opts is copied (its strings too).  Returns the connection (caller
 * owns: tls_conn_free) or NULL with err set. */
struct tls_conn *tls_conn_connect(const char *host, uint16_t port, const struct tls_opts *opts,
    struct kerr *err);

/* Run the TLS handshake on c and verify the server's certificate as opts said.
 * On failure c is unusable (free it). */
bool tls_conn_handshake(struct tls_conn *c, struct kerr *err);

/* Wrap c into a libetpan stream (owned by whoever closes it: mailimap_free,
 * mailsmtp_free, mailstream_close).  The stream borrows c: free c only after
 * the stream is closed.  Closing the stream closes the socket. */
struct _mailstream *tls_conn_stream_new(struct tls_conn *c);

/* STARTTLS: switch the plain stream s (from tls_conn_stream_new) to TLS, after
 * the server accepted the STARTTLS command.  Fails (KERR_CONFIG) when s already
 * holds bytes the server sent after its answer. */
bool tls_stream_starttls(struct _mailstream *s, struct kerr *err);
/* The first half of tls_stream_starttls: true when s holds nothing the server
 * sent after its STARTTLS answer; else false with that error.  For telling
 * why libetpan refused a STARTTLS answer. */
bool tls_stream_check_clean(struct _mailstream *s, struct kerr *err);

/* Why the last read or write on c failed ("timed out after 30 s waiting for
 * the server", "connection reset by peer", "server closed the connection").
 * Returns false when no I/O error happened.  err_r is overwritten only then. */
bool tls_conn_io_error(const struct tls_conn *c, struct kerr *err_r);
void tls_conn_clear_io_error(struct tls_conn *c);

bool tls_conn_is_tls(const struct tls_conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" after the handshake, "" before (borrowed, valid while c). */
const char *tls_conn_describe(const struct tls_conn *c);

enum tls_wait {
	TLS_WAIT_READABLE,  /* data (or EOF) is waiting */
	TLS_WAIT_TIMEOUT,
	TLS_WAIT_CANCELLED, /* tls_conn_cancel() was called */
	TLS_WAIT_ERROR,
};
/* Wait until the server sends something, for at most timeout_ms (-1: no
 * limit).  Counts bytes OpenSSL already decrypted, not those buffered in a
 * libetpan stream above: check the stream's read buffer first.  For IMAP IDLE. */
enum tls_wait tls_conn_wait(struct tls_conn *c, int timeout_ms);

/* Make every pending and later read, write or wait on c fail at once
 * ("cancelled").  Thread- and async-signal-safe; c must stay allocated. */
void tls_conn_cancel(struct tls_conn *c);

/* Close the socket (after one non-blocking TLS close_notify, never waiting)
 * and free c.  Accepts NULL and *cp == NULL; sets *cp = NULL. */
void tls_conn_free(struct tls_conn **cp);

#endif
