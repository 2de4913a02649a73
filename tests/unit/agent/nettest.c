/* nettest.c - throwaway PKI and scripted fake servers for the network tests. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tests/unit/agent/nettest.h"

static void
die(const char *what)
{
	fprintf(stderr, "nettest: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

int64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* PKI */

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		die("X509_add_ext");
	X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, signed by issuer/issuer_key (self-signed when NULL). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
    const char *san, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (x == NULL)
		die("X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"kyso tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	add_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier, "hash");
	if (ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	if (!X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()))
		die("X509_sign");
	return x;
}

static char *
write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		die(path);
	if ((cert != NULL && !PEM_write_X509(fp, cert)) ||
	    (key != NULL && !PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)))
		die("PEM_write");
	fclose(fp);
	return path;
}

struct testpki *
testpki_new(void)
{
	struct testpki *p = xcalloc(1, sizeof(*p));
	const char *tmp = getenv("TMPDIR");
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
	EVP_PKEY *srv_key = EVP_EC_gen("P-256");
	X509 *ca, *other, *srv;

	if (ca_key == NULL || other_key == NULL || srv_key == NULL)
		die("EVP_EC_gen");
	p->dir = xasprintf("%s/kyso-nettest.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(p->dir) == NULL)
		die("mkdtemp");
	ca = make_cert(ca_key, "kyso test CA", NULL, NULL, true, NULL, 1);
	other = make_cert(other_key, "kyso other CA", NULL, NULL, true, NULL, 2);
	srv = make_cert(srv_key, "localhost", ca, ca_key, false, "DNS:localhost,IP:127.0.0.1", 3);
	p->ca_file = write_pem(p->dir, "ca.pem", ca, NULL);
	p->other_ca_file = write_pem(p->dir, "other-ca.pem", other, NULL);
	p->server_cert_file = write_pem(p->dir, "server.pem", srv, NULL);
	p->server_key_file = write_pem(p->dir, "server.key", NULL, srv_key);
	X509_free(ca);
	X509_free(other);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(srv_key);
	return p;
}

static pthread_mutex_t sni_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_sni[256];

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert; (void)arg;
	pthread_mutex_lock(&sni_lock);
	snprintf(last_sni, sizeof(last_sni), "%s", name != NULL ? name : "");
	pthread_mutex_unlock(&sni_lock);
	return SSL_TLSEXT_ERR_OK;
}

const char *
testpki_last_sni(void)
{
	static char copy[256];

	pthread_mutex_lock(&sni_lock);
	memcpy(copy, last_sni, sizeof(copy));
	pthread_mutex_unlock(&sni_lock);
	return copy;
}

SSL_CTX *
testpki_server_ctx(const struct testpki *pki, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, pki->server_cert_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, pki->server_key_file, SSL_FILETYPE_PEM) != 1)
		die("server SSL_CTX");
	if (max_version != 0) {
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
		SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(ctx, max_version);
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	pthread_mutex_lock(&sni_lock);
	last_sni[0] = '\0';
	pthread_mutex_unlock(&sni_lock);
	return ctx;
}

void
testpki_free(struct testpki **pp)
{
	struct testpki *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	unlink(p->ca_file);
	unlink(p->other_ca_file);
	unlink(p->server_cert_file);
	unlink(p->server_key_file);
	rmdir(p->dir);
	free(p->ca_file);
	free(p->other_ca_file);
	free(p->server_cert_file);
	free(p->server_key_file);
	free(p->dir);
	free(p);
}

/* ------------------------------------------------------------------ */
/* Fake server */

struct fake {
	int lfd;                 /* listening socket */
	int fd;                  /* the connection, -1 before accept */
	uint16_t port;
	SSL_CTX *tls;            /* borrowed: implicit TLS */
	SSL *ssl;                /* owned, NULL while plain */
	fake_fn *fn;
	void *arg;
	pthread_t thread;
	struct buf got;          /* everything the client sent */
	char rbuf[4096];         /* read-ahead */
	size_t rlen;
};

/* Read more bytes into rbuf; false on EOF/error/timeout. */
static bool
fill(struct fake *f)
{
	ssize_t n;

	if (f->rlen == sizeof(f->rbuf))
		return true;
	if (f->ssl != NULL) {
		int r = SSL_read(f->ssl, f->rbuf + f->rlen, (int)(sizeof(f->rbuf) - f->rlen));

		n = r > 0 ? r : -1;
	} else {
		n = recv(f->fd, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen, 0);
	}
	if (n <= 0)
		return false;
	buf_append(&f->got, f->rbuf + f->rlen, (size_t)n);
	f->rlen += (size_t)n;
	return true;
}

static void
consume(struct fake *f, size_t n)
{
	memmove(f->rbuf, f->rbuf + n, f->rlen - n);
	f->rlen -= n;
}

bool
fake_readline(struct fake *f, char *line, size_t n)
{
	for (;;) {
		char *nl = memchr(f->rbuf, '\n', f->rlen);

		if (nl != NULL) {
			size_t len = (size_t)(nl - f->rbuf) + 1, keep = len;

			if (keep >= 2 && f->rbuf[keep - 2] == '\r')
				keep -= 2;
			else
				keep -= 1;
			if (keep >= n)
				keep = n - 1;
			memcpy(line, f->rbuf, keep);
			line[keep] = '\0';
			consume(f, len);
			return true;
		}
		if (f->rlen == sizeof(f->rbuf) || !fill(f))
			return false;
	}
}

bool
fake_read_n(struct fake *f, size_t n, struct buf *out)
{
	while (n > 0) {
		size_t take;

		if (f->rlen == 0 && !fill(f))
			return false;
		take = f->rlen < n ? f->rlen : n;
		buf_append(out, f->rbuf, take);
		consume(f, take);
		n -= take;
	}
	return true;
}

bool
fake_read_data(struct fake *f, struct buf *out)
{
	char line[2048];

	for (;;) {
		if (!fake_readline(f, line, sizeof(line)))
			return false;
		if (strcmp(line, ".") == 0)
			return true;
		buf_appends(out, line[0] == '.' ? line + 1 : line);
		buf_appends(out, "\r\n");
	}
}

void
fake_write(struct fake *f, const void *p, size_t n)
{
	if (f->ssl != NULL)
		(void)SSL_write(f->ssl, p, (int)n);
	else
		(void)send(f->fd, p, n, MSG_NOSIGNAL);
}

void
fake_printf(struct fake *f, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		fake_write(f, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

bool
fake_starttls(struct fake *f, SSL_CTX *ctx)
{
	f->ssl = SSL_new(ctx);
	if (f->ssl == NULL)
		die("SSL_new");
	SSL_set_fd(f->ssl, f->fd);
	if (SSL_accept(f->ssl) != 1) {
		ERR_clear_error();
		return false;
	}
	return true;
}

void
fake_hold(struct fake *f)
{
	char tmp[256];
	int64_t end = test_now_ms() + FAKE_TIMEOUT_S * 1000;

	while (test_now_ms() < end) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0 && recv(f->fd, tmp, sizeof(tmp), MSG_DONTWAIT) <= 0)
			return;  /* the client closed (or reset) */
	}
}

void
fake_drop(struct fake *f)
{
	SSL_free(f->ssl);
	f->ssl = NULL;
	close(f->fd);
	f->fd = -1;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };
	struct timeval tv = { .tv_sec = FAKE_TIMEOUT_S };

	if (poll(&p, 1, FAKE_TIMEOUT_S * 1000) != 1)
		return NULL;
	f->fd = accept(f->lfd, NULL, NULL);
	if (f->fd < 0)
		return NULL;
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (f->tls == NULL || fake_starttls(f, f->tls))
		f->fn(f, f->arg);
	/* Hang up as soon as the script ends: the client sees it at once. */
	if (f->ssl != NULL) {
		SSL_shutdown(f->ssl);
		SSL_free(f->ssl);
		f->ssl = NULL;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	return NULL;
}

struct fake *
fake_start(fake_fn *fn, void *arg, SSL_CTX *tls)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	signal(SIGPIPE, SIG_IGN);  /* the server may write to a client that left */
	f->fd = -1;
	f->fn = fn;
	f->arg = arg;
	f->tls = tls;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(f->lfd, 4) < 0 || getsockname(f->lfd, (struct sockaddr *)&sin, &len) < 0)
		die("listen");
	f->port = ntohs(sin.sin_port);
	if (pthread_create(&f->thread, NULL, fake_main, f) != 0)
		die("pthread_create");
	return f;
}

uint16_t
fake_port(const struct fake *f)
{
	return f->port;
}

char *
fake_finish(struct fake **fp)
{
	struct fake *f = *fp;
	char *got;

	*fp = NULL;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	buf_appends(&f->got, "");
	got = buf_steal(&f->got, NULL);
	free(f);
	return got;
}

uint16_t
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("closed_port");
	close(fd);
	return ntohs(sin.sin_port);
}
