/* base.c - error contract, allocation wrappers and byte buffers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <gpgme.h>

#include "smime/smime-private.h"

static void
oom(size_t n)
{
	fprintf(stderr, "kyso: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	buf_reserve(&b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.data;
}

void
xfree(void *pp)
{
	void **p = pp;

	if (p != NULL) {
		free(*p);
		*p = NULL;
	}
}

/* --- errors --- */

static void
one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void
kerr_vset(struct kerr *e, enum kerr_class cls, const char *fmt, va_list ap)
{
	if (e == NULL)
		return;
	e->cls = cls == KERR_NONE ? KERR_INTERNAL : cls;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	one_line(e->msg);
}

void
kerr_set(struct kerr *e, enum kerr_class cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kerr_vset(e, cls, fmt, ap);
	va_end(ap);
}

void
kerr_prefix(struct kerr *e, const char *fmt, ...)
{
	char pre[256], old[sizeof(e->msg)];
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s%s", pre, old);
	one_line(e->msg);
}

void
kerr_clear(struct kerr *e)
{
	e->cls = KERR_NONE;
	e->msg[0] = '\0';
}

const char *
kerr_class_name(enum kerr_class cls)
{
	switch (cls) {
	case KERR_NONE:     return "none";
	case KERR_TEMP:     return "temporary";
	case KERR_PERM:     return "permanent";
	case KERR_CONFIG:   return "config";
	case KERR_INTERNAL: return "internal";
	}
	return "internal";
}

void
smime_err_openssl(struct kerr *e, enum kerr_class cls, const char *fmt, ...)
{
	char pre[256], detail[256] = "";
	unsigned long code, last = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	/* The innermost reason is the most useful; keep the last one queued. */
	while ((code = ERR_get_error()) != 0)
		last = code;
	if (last != 0)
		ERR_error_string_n(last, detail, sizeof(detail));
	if (detail[0] != '\0')
		kerr_set(e, cls, "%s: %s", pre, detail);
	else
		kerr_set(e, cls, "%s", pre);
}

/* --- buffers --- */

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	b->data[b->len] = '\0';
}

void
buf_reserve_exact(struct buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	b->data = xrealloc(b->data, need);
	b->cap = need;
	b->data[b->len] = '\0';
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_appends(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b, size_t *len_r)
{
	char *p;

	buf_reserve(b, 0);
	p = b->data;
	if (len_r != NULL)
		*len_r = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *
smime_version(void)
{
	static char v[128];

	if (v[0] == '\0')
		snprintf(v, sizeof(v), "%s %s (%s, GPGME %s)", PACKAGE_NAME, PACKAGE_VERSION,
		    OpenSSL_version(OPENSSL_VERSION), gpgme_check_version(NULL));
	return v;
}
