/*
 * nettest.h - helpers for the network tests (tests/unit/agent/test_tls.c,
 * test_imapc.c, test_smtpc.c and tests/e2e/smoke.c).
 *
 * A throwaway PKI made in memory by the test itself (never a committed key):
 *   struct testpki *pki = testpki_new();   // pki->ca_file, pki->other_ca_file, ...
 *   SSL_CTX *ctx = testpki_server_ctx(pki, 0);
 *
 * A scripted fake server, only for making a server misbehave on purpose (the
 * real ones are in tests/mailstack):
 *   static void script(struct fake *f, void *arg) { fake_printf(f, "* OK hi\r\n"); ... }
 *   struct fake *f = fake_start(script, NULL, NULL);   // listens on 127.0.0.1
 *   ...connect the client to fake_port(f)...
 *   char *sent = fake_finish(&f);                       // everything the client sent
 *
 * The server thread serves one connection.  Every wait in it is bounded
 * (FAKE_TIMEOUT_S), so a broken client cannot hang a test.
 */
#ifndef KYSO_TESTS_NETTEST_H
#define KYSO_TESTS_NETTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "smime/base.h"

#define FAKE_TIMEOUT_S 10

struct testpki {
	char *dir;               /* owned: temporary folder holding the files */
	char *ca_file;           /* owned paths: the CA that signed the server's certificate */
	char *other_ca_file;     /* an unrelated CA */
	char *server_cert_file;  /* CN=localhost, SAN DNS:localhost, IP:127.0.0.1 */
	char *server_key_file;
};

/* Make the PKI (EC P-256, SHA-256) in a new temporary folder.  Aborts on failure. */
struct testpki *testpki_new(void);
/* A server context with the server certificate.  max_version: 0 or e.g.
 * TLS1_1_VERSION (an obsolete server).  Records the SNI it receives. */
SSL_CTX *testpki_server_ctx(const struct testpki *pki, int max_version);
/* The server name the last TLS client sent ("" when none). */
const char *testpki_last_sni(void);
void testpki_free(struct testpki **pp);

struct fake;
typedef void fake_fn(struct fake *f, void *arg);

/* Listen on 127.0.0.1 (a free port) and serve one connection with fn in a
 * thread; with tls != NULL (borrowed until fake_finish), TLS starts at once. */
struct fake *fake_start(fake_fn *fn, void *arg, SSL_CTX *tls);
uint16_t fake_port(const struct fake *f);

/* In fn: read one line (without its CRLF); false on EOF, error or timeout. */
bool fake_readline(struct fake *f, char *line, size_t n);
/* In fn: read an SMTP DATA body up to "\r\n.\r\n", undo dot-stuffing. */
bool fake_read_data(struct fake *f, struct buf *out);
/* In fn: read exactly n bytes (an IMAP literal). */
bool fake_read_n(struct fake *f, size_t n, struct buf *out);
void fake_printf(struct fake *f, const char *fmt, ...) KYSO_PRINTF(2, 3);
void fake_write(struct fake *f, const void *p, size_t n);
/* In fn: run the server side of a TLS handshake on the connection. */
bool fake_starttls(struct fake *f, SSL_CTX *ctx);
/* In fn: stay silent until the client goes away (or FAKE_TIMEOUT_S). */
void fake_hold(struct fake *f);
/* In fn: drop the connection without a TLS close_notify. */
void fake_drop(struct fake *f);

/* Wait for the server thread; return everything the client sent (caller
 * frees; decrypted when TLS was on), and free f. */
char *fake_finish(struct fake **fp);

/* A TCP port on 127.0.0.1 where nothing listens (just released). */
uint16_t closed_port(void);

/* Milliseconds on a monotonic clock. */
int64_t test_now_ms(void);

#endif
