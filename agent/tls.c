/* tls.c - TCP connect, OpenSSL handshake and verification, libetpan stream driver. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/tls.h"

#define TLS_DEFAULT_TIMEOUT_S 60
#define STREAM_BUFFER_SIZE 8192

struct tls_conn {
	int fd;                 /* owned; -1 once closed */
	int cancel_fd;          /* owned eventfd: written by tls_conn_cancel() */
	atomic_bool cancelled;
	SSL_CTX *ctx;           /* owned; NULL until the handshake */
	SSL *ssl;               /* owned; NULL while plain text */
	bool tls_up;            /* the handshake succeeded */
	char *host;             /* owned: as given to tls_conn_connect */
	uint16_t port;
	char *ca_file;          /* owned, NULL: the system's store */
	char *tls_name;         /* owned: the name the certificate must be for */
	bool verify;
	int timeout_s;
	char where[300];        /* "host:port", for messages */
	char describe[128];     /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	struct kerr io_err;     /* why the last read or write failed */
};

/* ------------------------------------------------------------------ */
/* Time and waiting */

static bool
conn_cancelled(const struct tls_conn *c)
{
	return atomic_load(&c->cancelled);
}

/* Wait until fd is ready for events, c is cancelled, or deadline (ms, from
 * clock_mono_ms) passes.  Returns 1 ready, 0 timeout, -1 cancelled or poll error
 * (errno-style reason in *why). */
static int
wait_fd(struct tls_conn *c, int fd, short events, int64_t deadline, const char **why)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = events },
			{ .fd = c->cancel_fd, .events = POLLIN },
		};
		int64_t left = deadline < 0 ? -1 : deadline - clock_mono_ms();
		int r;

		if (conn_cancelled(c)) {
			*why = "cancelled";
			return -1;
		}
		if (deadline >= 0 && left <= 0)
			return 0;
		r = poll(p, 2, left < 0 ? -1 : (left > INT_MAX ? INT_MAX : (int)left));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			return -1;
		}
		if (r == 0)
			return 0;
		if (p[1].revents != 0) {
			*why = "cancelled";
			return -1;
		}
		if (p[0].revents != 0)
			return 1;   /* POLLERR/POLLHUP too: the next call reports it */
	}
}

static int64_t
deadline_from_now(const struct tls_conn *c)
{
	return clock_mono_ms() + (int64_t)c->timeout_s * 1000;
}

/* ------------------------------------------------------------------ */
/* A socket BIO that never raises SIGPIPE (OpenSSL's own writes with write(2)). */

static int
sock_bio_write(BIO *b, const char *data, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(c->fd, data, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
sock_bio_read(BIO *b, char *data, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(c->fd, data, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long
sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
sock_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *sock_method;  /* process lifetime */
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static void
sock_method_init(void)
{
	sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kyso socket");
	if (sock_method == NULL) {
		fprintf(stderr, "kyso: out of memory creating a BIO method\n");
		abort();
	}
	BIO_meth_set_write(sock_method, sock_bio_write);
	BIO_meth_set_read(sock_method, sock_bio_read);
	BIO_meth_set_ctrl(sock_method, sock_bio_ctrl);
	BIO_meth_set_create(sock_method, sock_bio_create);
}

/* ------------------------------------------------------------------ */
/* Connect */

/* "[::1]" -> "::1"; anything else unchanged.  Caller owns the result. */
static char *
strip_brackets(const char *host)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		return xstrndup(host + 1, n - 2);
	return xstrdup(host);
}

static bool
is_ip_literal(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Connect one address within the timeout.  Returns the socket or -1 with *why. */
static int
connect_one(struct tls_conn *c, const struct addrinfo *ai, char *why, size_t whysize)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int one = 1, soerr = 0, r;
	socklen_t len = sizeof(soerr);
	const char *wait_why = NULL;

	if (fd < 0) {
		snprintf(why, whysize, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		snprintf(why, whysize, "%s", strerror(errno));
		goto fail;
	}
	r = wait_fd(c, fd, POLLOUT, deadline_from_now(c), &wait_why);
	if (r == 0) {
		snprintf(why, whysize, "connection timed out after %d s", c->timeout_s);
		goto fail;
	}
	if (r < 0) {
		snprintf(why, whysize, "%s", wait_why);
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

struct tls_conn *
tls_conn_connect(const char *host, uint16_t port, const struct tls_opts *opts, struct kerr *err)
{
	struct tls_conn *c = xcalloc(1, sizeof(*c));
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char portstr[8], why[256] = "no address";
	char *name = NULL;
	int r;

	c->fd = -1;
	c->cancel_fd = -1;
	atomic_init(&c->cancelled, false);
	c->host = xstrdup(host);
	c->port = port;
	c->ca_file = opts->ca_file != NULL ? xstrdup(opts->ca_file) : NULL;
	c->verify = opts->verify;
	c->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : TLS_DEFAULT_TIMEOUT_S;
	c->tls_name = strip_brackets(opts->tls_name != NULL ? opts->tls_name : host);
	snprintf(c->where, sizeof(c->where), "%s:%u", host, (unsigned)port);

	c->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->cancel_fd < 0) {
		kerr_set(err, KERR_TEMP, "%s: eventfd: %s", c->where, strerror(errno));
		goto fail;
	}

	name = strip_brackets(host);
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	r = getaddrinfo(name, portstr, &hints, &res);
	if (r != 0) {
		kerr_set(err, KERR_TEMP, "%s: cannot resolve host: %s", c->where,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		goto fail;
	}
	for (const struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		c->fd = connect_one(c, ai, why, sizeof(why));
		if (conn_cancelled(c))
			break;
	}
	if (c->fd < 0) {
		kerr_set(err, KERR_TEMP, "%s: connect: %s", c->where, why);
		goto fail;
	}
	freeaddrinfo(res);
	free(name);
	return c;
fail:
	if (res != NULL)
		freeaddrinfo(res);
	free(name);
	tls_conn_free(&c);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Handshake */

static void
set_io_error(struct tls_conn *c, const char *fmt, ...) KYSO_PRINTF(2, 3);

static void
set_io_error(struct tls_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kerr_vset(&c->io_err, KERR_TEMP, fmt, ap);
	va_end(ap);
}

/* The reason of the first error in OpenSSL's queue, or fallback. */
static const char *
ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : fallback;
}

/* OpenSSL 3 reports a peer that vanished without close_notify as an error. */
static bool
ssl_unexpected_eof(void)
{
	unsigned long code = ERR_peek_error();

	return ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

static bool
setup_ssl(struct tls_conn *c, struct kerr *err)
{
	BIO *bio;
	bool ip = is_ip_literal(c->tls_name);

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: SSL_CTX_new: %s", c->where, ssl_reason("failed"));
		return false;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (c->verify) {
		if (c->ca_file != NULL) {
			if (SSL_CTX_load_verify_locations(c->ctx, c->ca_file, NULL) != 1) {
				kerr_set(err, KERR_CONFIG, "%s: cannot load CA file %s: %s", c->where,
				    c->ca_file, ssl_reason("no certificate found"));
				return false;
			}
		} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
			kerr_set(err, KERR_CONFIG, "%s: cannot load the system CA store: %s", c->where,
			    ssl_reason("failed"));
			return false;
		}
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	}

	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: SSL_new: %s", c->where, ssl_reason("failed"));
		return false;
	}
	if (c->verify) {
		int ok;

		if (ip) {
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->tls_name);
		} else {
			SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = SSL_set1_host(c->ssl, c->tls_name);
		}
		if (ok != 1) {
			kerr_set(err, KERR_CONFIG, "%s: cannot check the certificate against \"%s\"",
			    c->where, c->tls_name);
			return false;
		}
	}
	/* SNI carries host names only, never IP addresses (RFC 6066). */
	if (!ip && SSL_set_tlsext_host_name(c->ssl, c->tls_name) != 1) {
		kerr_set(err, KERR_CONFIG, "%s: invalid TLS server name \"%s\"", c->where, c->tls_name);
		return false;
	}

	pthread_once(&sock_method_once, sock_method_init);
	bio = BIO_new(sock_method);
	if (bio == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: BIO_new: %s", c->where, ssl_reason("failed"));
		return false;
	}
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	return true;
}

/* The handshake returned ret (with errno saved_errno): say why, in err. */
static void
handshake_failed(struct tls_conn *c, int ret, int saved_errno, struct kerr *err)
{
	int e = SSL_get_error(c->ssl, ret);
	long vr = SSL_get_verify_result(c->ssl);

	if (c->verify && vr != X509_V_OK) {
		if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
			kerr_set(err, KERR_CONFIG, "%s: TLS certificate verify failed: host name mismatch: "
			    "certificate is not for %s", c->where, c->tls_name);
		else if (c->ca_file != NULL)
			kerr_set(err, KERR_CONFIG, "%s: TLS certificate verify failed: %s (CA file %s)",
			    c->where, X509_verify_cert_error_string(vr), c->ca_file);
		else
			kerr_set(err, KERR_CONFIG, "%s: TLS certificate verify failed: %s (system CA store)",
			    c->where, X509_verify_cert_error_string(vr));
		return;
	}
	if (e == SSL_ERROR_SYSCALL) {
		if (saved_errno != 0)
			kerr_set(err, KERR_TEMP, "%s: TLS handshake: %s", c->where, strerror(saved_errno));
		else
			kerr_set(err, KERR_TEMP, "%s: TLS handshake: server closed the connection", c->where);
		return;
	}
	if (e == SSL_ERROR_SSL) {
		if (ssl_unexpected_eof())
			kerr_set(err, KERR_TEMP, "%s: TLS handshake: server closed the connection", c->where);
		else
			kerr_set(err, KERR_CONFIG, "%s: TLS handshake failed: %s", c->where,
			    ssl_reason("protocol error"));
		return;
	}
	kerr_set(err, KERR_TEMP, "%s: TLS handshake failed (SSL error %d)", c->where, e);
}

bool
tls_conn_handshake(struct tls_conn *c, struct kerr *err)
{
	int64_t deadline = deadline_from_now(c);
	bool ok = false;

	if (c->ctx != NULL || c->fd < 0) {
		kerr_set(err, KERR_INTERNAL, "%s: TLS handshake on a %s connection", c->where,
		    c->fd < 0 ? "closed" : "TLS (or failed TLS)");
		return false;
	}
	ERR_clear_error();
	if (!setup_ssl(c, err))
		goto out;
	if (!c->verify)
		log_warn("tls host=%s verify=no: the server's certificate and name are NOT checked "
		    "(tls_verify = no)", c->where);

	for (;;) {
		const char *why = NULL;
		int r, e, w, saved_errno;

		errno = 0;
		r = SSL_connect(c->ssl);
		saved_errno = errno;
		if (r == 1)
			break;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_failed(c, r, saved_errno, err);
			goto out;
		}
		w = wait_fd(c, c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, &why);
		if (w == 0) {
			kerr_set(err, KERR_TEMP, "%s: TLS handshake timed out after %d s", c->where,
			    c->timeout_s);
			goto out;
		}
		if (w < 0) {
			kerr_set(err, KERR_TEMP, "%s: TLS handshake: %s", c->where, why);
			goto out;
		}
	}
	c->tls_up = true;
	snprintf(c->describe, sizeof(c->describe), "%s %s", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl));
	log_debug("tls host=%s result=ok tls=\"%s\" verify=%s", c->where, c->describe,
	    c->verify ? "yes" : "no");
	ok = true;
out:
	ERR_clear_error();
	return ok;
}

/* ------------------------------------------------------------------ */
/* Reading and writing */

static ssize_t
conn_read(struct tls_conn *c, void *buf, size_t n)
{
	int chunk = n > INT_MAX ? INT_MAX : (int)n;

	if (c->fd < 0) {
		set_io_error(c, "connection closed");
		return -1;
	}
	for (;;) {
		const char *why = NULL;
		short ev = POLLIN;
		int w;

		if (conn_cancelled(c)) {
			set_io_error(c, "cancelled");
			return -1;
		}
		if (c->ssl != NULL) {
			int r, e;

			int saved_errno;

			ERR_clear_error();
			errno = 0;
			r = SSL_read(c->ssl, buf, chunk);
			if (r > 0)
				return r;
			saved_errno = errno;
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE) {
				ev = POLLOUT;
			} else if (e != SSL_ERROR_WANT_READ) {
				if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && saved_errno == 0) ||
				    (e == SSL_ERROR_SSL && ssl_unexpected_eof()))
					set_io_error(c, "server closed the connection");
				else if (e == SSL_ERROR_SYSCALL)
					set_io_error(c, "%s", strerror(saved_errno));
				else
					set_io_error(c, "TLS: %s", ssl_reason("protocol error"));
				ERR_clear_error();
				return -1;
			}
		} else {
			ssize_t r = recv(c->fd, buf, n, 0);

			if (r > 0)
				return r;
			if (r == 0) {
				set_io_error(c, "server closed the connection");
				return -1;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				set_io_error(c, "%s", strerror(errno));
				return -1;
			}
		}
		w = wait_fd(c, c->fd, ev, deadline_from_now(c), &why);
		if (w == 0) {
			set_io_error(c, "timed out after %d s waiting for the server", c->timeout_s);
			return -1;
		}
		if (w < 0) {
			set_io_error(c, "%s", why);
			return -1;
		}
	}
}

/* Write all n bytes, or fail. */
static ssize_t
conn_write(struct tls_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	size_t left = n;

	if (c->fd < 0) {
		set_io_error(c, "connection closed");
		return -1;
	}
	while (left > 0) {
		const char *why = NULL;
		short ev = POLLOUT;
		int w;

		if (conn_cancelled(c)) {
			set_io_error(c, "cancelled");
			return -1;
		}
		if (c->ssl != NULL) {
			int chunk = left > INT_MAX ? INT_MAX : (int)left;
			int r, e;

			int saved_errno;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, p, chunk);
			if (r > 0) {
				p += r;
				left -= (size_t)r;
				continue;
			}
			saved_errno = errno;
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				ev = POLLIN;
			} else if (e != SSL_ERROR_WANT_WRITE) {
				if (e == SSL_ERROR_SYSCALL && saved_errno != 0)
					set_io_error(c, "%s", strerror(saved_errno));
				else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
					set_io_error(c, "server closed the connection");
				else
					set_io_error(c, "TLS: %s", ssl_reason("protocol error"));
				ERR_clear_error();
				return -1;
			}
		} else {
			ssize_t r = send(c->fd, p, left, MSG_NOSIGNAL);

			if (r > 0) {
				p += r;
				left -= (size_t)r;
				continue;
			}
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				set_io_error(c, "%s", strerror(errno));
				return -1;
			}
		}
		w = wait_fd(c, c->fd, ev, deadline_from_now(c), &why);
		if (w == 0) {
			set_io_error(c, "timed out after %d s writing to the server", c->timeout_s);
			return -1;
		}
		if (w < 0) {
			set_io_error(c, "%s", why);
			return -1;
		}
	}
	return (ssize_t)n;
}

static void
conn_close(struct tls_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->ssl != NULL && c->tls_up && !conn_cancelled(c)) {
		/* One non-blocking close_notify, best effort: never waits. */
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	close(c->fd);
	c->fd = -1;
}

/* ------------------------------------------------------------------ */
/* libetpan stream driver: the low stream borrows the connection. */

static ssize_t
drv_read(mailstream_low *s, void *buf, size_t n)
{
	return conn_read(s->data, buf, n);
}

static ssize_t
drv_write(mailstream_low *s, const void *buf, size_t n)
{
	return conn_write(s->data, buf, n);
}

static int
drv_close(mailstream_low *s)
{
	conn_close(s->data);
	return 0;
}

static int
drv_get_fd(mailstream_low *s)
{
	return ((struct tls_conn *)s->data)->fd;
}

static void
drv_free(mailstream_low *s)
{
	s->data = NULL;  /* borrowed: the connection outlives the stream */
	free(s);
}

static void
drv_cancel(mailstream_low *s)
{
	tls_conn_cancel(s->data);
}

static struct mailstream_cancel *
drv_get_cancel(mailstream_low *s)
{
	(void)s;
	return NULL;  /* kyso waits with tls_conn_wait(), not libetpan's cancel objects */
}

static mailstream_low_driver kyso_driver = {
	.mailstream_read = drv_read,
	.mailstream_write = drv_write,
	.mailstream_close = drv_close,
	.mailstream_get_fd = drv_get_fd,
	.mailstream_free = drv_free,
	.mailstream_cancel = drv_cancel,
	.mailstream_get_cancel = drv_get_cancel,
	.mailstream_get_certificate_chain = NULL,
	.mailstream_setup_idle = NULL,
	.mailstream_unsetup_idle = NULL,
	.mailstream_interrupt_idle = NULL,
};

struct _mailstream *
tls_conn_stream_new(struct tls_conn *c)
{
	mailstream_low *low = mailstream_low_new(c, &kyso_driver);
	mailstream *s;

	if (low == NULL) {
		fprintf(stderr, "kyso: out of memory creating a stream\n");
		abort();
	}
	s = mailstream_new(low, STREAM_BUFFER_SIZE);
	if (s == NULL) {
		fprintf(stderr, "kyso: out of memory creating a stream\n");
		abort();
	}
	return s;
}

/* The connection under a stream kyso made, or NULL. */
static struct tls_conn *
stream_conn(struct _mailstream *s)
{
	mailstream_low *low = s != NULL ? mailstream_get_low(s) : NULL;

	return low != NULL && low->driver == &kyso_driver ? low->data : NULL;
}

bool
tls_stream_check_clean(struct _mailstream *s, struct kerr *err)
{
	struct tls_conn *c = stream_conn(s);

	if (c == NULL) {
		kerr_set(err, KERR_INTERNAL, "STARTTLS on a stream kyso did not open");
		return false;
	}
	if (s->read_buffer_len > 0) {
		kerr_set(err, KERR_CONFIG, "%s: the server sent %zu unexpected bytes right after "
		    "accepting STARTTLS (possible injection by a man in the middle); connection refused",
		    c->where, s->read_buffer_len);
		return false;
	}
	if (s->write_buffer_len > 0) {
		kerr_set(err, KERR_INTERNAL, "%s: unsent plain-text bytes at STARTTLS", c->where);
		return false;
	}
	return true;
}

bool
tls_stream_starttls(struct _mailstream *s, struct kerr *err)
{
	return tls_stream_check_clean(s, err) && tls_conn_handshake(stream_conn(s), err);
}

/* ------------------------------------------------------------------ */

bool
tls_conn_io_error(const struct tls_conn *c, struct kerr *err_r)
{
	if (!kerr_isset(&c->io_err))
		return false;
	*err_r = c->io_err;
	return true;
}

void
tls_conn_clear_io_error(struct tls_conn *c)
{
	kerr_clear(&c->io_err);
}

bool
tls_conn_is_tls(const struct tls_conn *c)
{
	return c->tls_up;
}

const char *
tls_conn_describe(const struct tls_conn *c)
{
	return c->describe;
}

enum tls_wait
tls_conn_wait(struct tls_conn *c, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;

	if (c->fd < 0)
		return TLS_WAIT_ERROR;
	for (;;) {
		const char *why = NULL;
		int w;

		if (conn_cancelled(c))
			return TLS_WAIT_CANCELLED;
		if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
			return TLS_WAIT_READABLE;
		w = wait_fd(c, c->fd, POLLIN, deadline, &why);
		if (w == 0)
			return TLS_WAIT_TIMEOUT;
		if (w < 0)
			return conn_cancelled(c) ? TLS_WAIT_CANCELLED : TLS_WAIT_ERROR;
		if (c->ssl != NULL) {
			/* Readable may mean only a TLS record without data (a TLS 1.3
			 * session ticket): let OpenSSL consume it and wait again. */
			char byte;
			int r, e;

			ERR_clear_error();
			r = SSL_peek(c->ssl, &byte, 1);
			e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
			ERR_clear_error();
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				continue;
		}
		return TLS_WAIT_READABLE;  /* data, or EOF/error the next read reports */
	}
}

void
tls_conn_cancel(struct tls_conn *c)
{
	uint64_t one = 1;

	atomic_store(&c->cancelled, true);
	if (c->cancel_fd >= 0)
		(void)!write(c->cancel_fd, &one, sizeof(one));
}

void
tls_conn_free(struct tls_conn **cp)
{
	struct tls_conn *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	*cp = NULL;
	conn_close(c);
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->cancel_fd >= 0)
		close(c->cancel_fd);
	free(c->host);
	free(c->ca_file);
	free(c->tls_name);
	free(c);
}
