/*
 * base.h - the small base every kyso module stands on: the error contract,
 * allocation wrappers that abort on out-of-memory, and a growable byte buffer.
 *
 * How to use:
 *   struct kerr err = KERR_INIT;
 *   if (!do_something(arg, &err)) {
 *           log_warn("step=x error=%s class=%s", err.msg, kerr_class_name(err.cls));
 *           ...react by err.cls: retry later, give up on this message, tell the operator...
 *   }
 *
 * Functions that can fail take a `struct kerr *` last and return false (or NULL)
 * on failure, having filled it.  They never print and never exit: only main()
 * decides exit codes.  Included by smime/smime.h; nothing here knows OpenSSL.
 */
#ifndef KYSO_BASE_H
#define KYSO_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KYSO_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* How the caller should react (isync's FAIL_TEMP/FINAL, SMTP's 4xx/5xx). */
enum kerr_class {
	KERR_NONE = 0,  /* no error */
	KERR_TEMP,      /* temporary: retry later (network down, 4xx, timeout) */
	KERR_PERM,      /* permanent for this item: give up on it, tell the user */
	KERR_CONFIG,    /* the operator must fix the configuration or a key file */
	KERR_INTERNAL,  /* a bug in kyso */
};

struct kerr {
	enum kerr_class cls;
	char msg[512];  /* readable, one line, no secrets */
};

#define KERR_INIT { KERR_NONE, "" }

/* Set the error (overwrites any earlier one).  Control characters in the
 * message are replaced by '?', so a message quoting hostile input stays one line. */
void kerr_set(struct kerr *e, enum kerr_class cls, const char *fmt, ...) KYSO_PRINTF(3, 4);
void kerr_vset(struct kerr *e, enum kerr_class cls, const char *fmt, va_list ap) KYSO_PRINTF(3, 0);
/* Prefix context to an already-set message: "imap login: " + msg. */
void kerr_prefix(struct kerr *e, const char *fmt, ...) KYSO_PRINTF(2, 3);
void kerr_clear(struct kerr *e);
const char *kerr_class_name(enum kerr_class cls);
static inline bool kerr_isset(const struct kerr *e) { return e->cls != KERR_NONE; }

/* Allocation: these abort() on out-of-memory; they never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) KYSO_PRINTF(1, 2);
/* Free *pp and set it to NULL; accepts NULL and *pp == NULL. */
void xfree(void *pp);

/* Growable byte buffer.  data is always NUL-terminated (not counted in len). */
struct buf {
	char *data;   /* owned */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
/* Room for extra more bytes, allocating exactly that (no rounding up): for
 * large buffers whose final size is known. */
void buf_reserve_exact(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) KYSO_PRINTF(2, 3);
void buf_reset(struct buf *b);      /* len = 0, keeps memory */
void buf_release(struct buf *b);    /* frees memory, back to BUF_INIT */
/* Hand the bytes to the caller (caller owns, free()); b is back to BUF_INIT. */
char *buf_steal(struct buf *b, size_t *len_r);

#endif
