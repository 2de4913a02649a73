/*
 * canon.c - make a message's signed entity transport-proof (see mime.h).
 *
 * Memory: the output is produced twice, first only counted, then written into
 * buffers reserved to the exact size, so nothing grows by reallocation and
 * peak memory is the input, the parse tree and the output.  Decoding and
 * re-encoding stream through 4 KiB chunks; no intermediate copy of a body is
 * made.  Work is linear in the input (times the nesting depth for the
 * delimiter scan in mime.c).
 */
#include "config.h"

#include <string.h>

#include "smime/mime.h"

#define QP_MAX 75       /* characters before a soft line break's '=' (76 in all) */
#define B64_LINE 76

/* Where output goes: counted only (b == NULL) or written. */
struct out {
	struct buf *b;
	size_t n;
	char last[2];   /* the last two bytes produced */
};

static void
out_put(struct out *o, const void *p, size_t n)
{
	const char *c = p;

	if (n == 0)
		return;
	if (o->b != NULL)
		buf_append(o->b, p, n);
	if (n >= 2) {
		o->last[0] = c[n - 2];
		o->last[1] = c[n - 1];
	} else {
		o->last[0] = o->last[1];
		o->last[1] = c[0];
	}
	o->n += n;
}

static void
out_puts(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static bool
out_ends_crlf(const struct out *o)
{
	return o->n >= 2 && o->last[0] == '\r' && o->last[1] == '\n';
}

/* Copy [s, e) of b with every line end (CRLF, LF, lone CR) made CRLF; an
 * unterminated last line stays unterminated unless crlf_last. */
static void
put_lines(struct out *o, const char *b, size_t s, size_t e, bool crlf_last)
{
	size_t pos = s, eol;

	while (pos < e) {
		size_t next = mime_line_next(b, pos, e, &eol);

		out_put(o, b + pos, eol - pos);
		if (next > eol || crlf_last)
			out_put(o, "\r\n", 2);
		pos = next;
	}
}

/* --- staging: encoders write bytes here, flushed to out in 4 KiB chunks --- */

struct stage {
	struct out *o;
	size_t n;
	char b[4096];
};

static void
stage_flush(struct stage *s)
{
	out_put(s->o, s->b, s->n);
	s->n = 0;
}

static void
stage_put(struct stage *s, const char *p, size_t n)
{
	if (s->n + n > sizeof(s->b))
		stage_flush(s);
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

/* --- quoted-printable encoder for text; input line ends are made CRLF --- */

struct qp_enc {
	struct stage st;
	unsigned col;           /* characters on the current output line */
	int pending_ws;         /* a SP or TAB not yet known to be trailing, or -1 */
	bool cr;                /* the previous input byte was CR */
};

/* Encoded at the start of an output line: "From " (mbox), "." (SMTP) and
 * "-" (a boundary delimiter of an enclosing multipart). */
static bool
line_start_special(unsigned char c)
{
	return c == 'F' || c == '.' || c == '-';
}

static void
qp_emit(struct qp_enc *q, unsigned char c, bool literal_ok)
{
	static const char hex[] = "0123456789ABCDEF";
	bool lit = literal_ok && !(q->col == 0 && line_start_special(c));
	char tok[3];

	if (q->col + (lit ? 1 : 3) > QP_MAX) {
		stage_put(&q->st, "=\r\n", 3);
		q->col = 0;
		lit = literal_ok && !line_start_special(c);
	}
	if (lit) {
		tok[0] = (char)c;
		stage_put(&q->st, tok, 1);
		q->col++;
	} else {
		tok[0] = '=';
		tok[1] = hex[c >> 4];
		tok[2] = hex[c & 15];
		stage_put(&q->st, tok, 3);
		q->col += 3;
	}
}

static void
qp_flush_ws(struct qp_enc *q, bool trailing)
{
	if (q->pending_ws >= 0)
		qp_emit(q, (unsigned char)q->pending_ws, !trailing);
	q->pending_ws = -1;
}

static void
qp_newline(struct qp_enc *q)
{
	qp_flush_ws(q, true);
	stage_put(&q->st, "\r\n", 2);
	q->col = 0;
}

static void
qp_put(void *ctx, const unsigned char *p, size_t n)
{
	struct qp_enc *q = ctx;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (q->cr) {
			q->cr = false;
			qp_newline(q);
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			q->cr = true;
		} else if (c == '\n') {
			qp_newline(q);
		} else {
			qp_flush_ws(q, false);
			if (c == ' ' || c == '\t')
				q->pending_ws = c;
			else
				qp_emit(q, c, c >= 33 && c <= 126 && c != '=');
		}
	}
}

static void
qp_finish(struct qp_enc *q)
{
	if (q->cr)
		qp_newline(q);
	qp_flush_ws(q, true);
	stage_flush(&q->st);
}

/* --- base64 encoder: 76-character lines, no line end after the last --- */

struct b64_enc {
	struct stage st;
	unsigned char grp[3];
	unsigned ng;
	unsigned col;
};

static void
b64_quad(struct b64_enc *e, unsigned n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v = (uint32_t)e->grp[0] << 16 | (uint32_t)(n > 1 ? e->grp[1] : 0) << 8 |
	    (uint32_t)(n > 2 ? e->grp[2] : 0);
	char q[4];

	if (e->col == B64_LINE) {
		stage_put(&e->st, "\r\n", 2);
		e->col = 0;
	}
	q[0] = al[v >> 18 & 63];
	q[1] = al[v >> 12 & 63];
	q[2] = n > 1 ? al[v >> 6 & 63] : '=';
	q[3] = n > 2 ? al[v & 63] : '=';
	stage_put(&e->st, q, 4);
	e->col += 4;
}

static void
b64_put(void *ctx, const unsigned char *p, size_t n)
{
	struct b64_enc *e = ctx;

	for (size_t i = 0; i < n; i++) {
		e->grp[e->ng++] = p[i];
		if (e->ng == 3) {
			b64_quad(e, 3);
			e->ng = 0;
		}
	}
}

static void
b64_finish(struct b64_enc *e)
{
	if (e->ng > 0)
		b64_quad(e, e->ng);
	e->ng = 0;
	stage_flush(&e->st);
}

/* --- UTF-8 check, for the charset of an inserted Content-Type --- */

struct utf8_check {
	bool has8bit;
	bool invalid;
	int need;
	unsigned char lo, hi;
};

static void
utf8_put(void *ctx, const unsigned char *p, size_t n)
{
	struct utf8_check *u = ctx;

	for (size_t i = 0; i < n && !u->invalid; i++) {
		unsigned char c = p[i];

		if (u->need > 0) {
			if (c < u->lo || c > u->hi)
				u->invalid = true;
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
			continue;
		}
		if (c < 0x80)
			continue;
		u->has8bit = true;
		u->lo = 0x80;
		u->hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			u->need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			u->need = 2;
			if (c == 0xe0)
				u->lo = 0xa0;
			else if (c == 0xed)
				u->hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			u->need = 3;
			if (c == 0xf0)
				u->lo = 0x90;
			else if (c == 0xf4)
				u->hi = 0x8f;
		} else {
			u->invalid = true;
		}
	}
}

/* Feed the part's body, decoded by its Content-Transfer-Encoding, to sink. */
static void
feed_decoded(const struct mime_part *p, enum mime_cte how, const struct mime_sink *sink)
{
	const char *b = p->buf + p->body.start;
	size_t n = p->body.end - p->body.start;

	if (how == MIME_CTE_QP)
		mime_decode_qp(b, n, sink);
	else if (how == MIME_CTE_BASE64)
		mime_decode_base64(b, n, sink);
	else if (n > 0)
		sink->put(sink->ctx, (const unsigned char *)b, n);
}

static const char *
detect_charset(const struct mime_part *p)
{
	struct utf8_check u = { .lo = 0x80, .hi = 0xbf };
	struct mime_sink sink = { utf8_put, &u };

	feed_decoded(p, p->cte, &sink);
	if (!u.has8bit)
		return "us-ascii";
	return u.invalid || u.need > 0 ? "unknown-8bit" : "utf-8";
}

/* --- is a body already transport-safe? --- */

static bool
starts_from(const char *s, size_t n)
{
	return n >= 5 && memcmp(s, "From ", 5) == 0;
}

/* 7-bit, no NUL, lines <= 76, no trailing blanks, no "From " line. */
static bool
lines_safe(const struct mime_part *p)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, eol;

	while (pos < end) {
		size_t next = mime_line_next(b, pos, end, &eol);

		if (eol - pos > 76 || starts_from(b + pos, eol - pos))
			return false;
		if (eol > pos && (b[eol - 1] == ' ' || b[eol - 1] == '\t'))
			return false;
		for (size_t i = pos; i < eol; i++)
			if (b[i] == '\0' || (unsigned char)b[i] >= 0x80)
				return false;
		pos = next;
	}
	return true;
}

static bool
is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

static bool
is_uhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Well-formed quoted-printable that is also safe as it is. */
static bool
qp_safe(const struct mime_part *p)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, eol;

	while (pos < end) {
		size_t next = mime_line_next(b, pos, end, &eol);

		if (eol - pos > 76 || starts_from(b + pos, eol - pos))
			return false;
		if (eol > pos && (b[eol - 1] == ' ' || b[eol - 1] == '\t'))
			return false;
		for (size_t i = pos; i < eol; i++) {
			unsigned char c = (unsigned char)b[i];

			if (c == '=') {
				if (i + 1 == eol)
					break;          /* soft line break */
				if (i + 2 >= eol || !is_uhex(b[i + 1]) || !is_uhex(b[i + 2]))
					return false;
				i += 2;
			} else if (c != '\t' && (c < 32 || c > 126)) {
				return false;
			}
		}
		pos = next;
	}
	return true;
}

/* Canonical base64: alphabet only, lines <= 76, padding only at the very
 * end, a multiple of 4 characters, empty lines only at the end. */
static bool
b64_safe(const struct mime_part *p)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, eol, total = 0;
	unsigned pad = 0;
	bool blank_seen = false;

	while (pos < end) {
		size_t next = mime_line_next(b, pos, end, &eol);

		if (eol == pos) {
			blank_seen = true;
			pos = next;
			continue;
		}
		if (blank_seen || eol - pos > 76)
			return false;
		for (size_t i = pos; i < eol; i++) {
			if (b[i] == '=') {
				if (++pad > 2)
					return false;
			} else if (pad > 0 || !is_b64(b[i])) {
				return false;
			}
		}
		total += eol - pos;
		pos = next;
	}
	return total % 4 == 0;
}

/* --- what to do with each part --- */

enum plan {
	PLAN_KEEP,      /* already transport-safe: copy, line ends made CRLF */
	PLAN_QP,        /* text: decode by src, make line ends CRLF, quoted-printable */
	PLAN_B64,       /* anything else: decode by src, base64 */
	PLAN_REJECT,
};

struct decision {
	enum plan plan;
	enum mime_cte src;          /* how the body is decoded before re-encoding */
	const char *cte;            /* the Content-Transfer-Encoding to write, NULL: as it is */
	const char *why;            /* PLAN_REJECT: the reason */
};

static struct decision
decide(const struct mime_part *p)
{
	struct decision d = { PLAN_KEEP, p->cte, NULL, NULL };
	bool text = strcmp(p->type, "text") == 0;
	bool message = strcmp(p->type, "message") == 0;    /* message/delivery-status, ... */
	bool safe;

	if (p->kind != MIME_LEAF) {
		/* Composites: their parts are made safe one by one (RFC 2045 §6.4). */
		if (mime_part_field(p, MIME_F_CTE) != NULL && p->cte != MIME_CTE_7BIT)
			d.cte = "7bit";
		return d;
	}
	switch (p->cte) {
	case MIME_CTE_QP:
		safe = qp_safe(p);
		break;
	case MIME_CTE_BASE64:
		safe = b64_safe(p);
		break;
	case MIME_CTE_BINARY:
		/* Raw bytes are authoritative: a non-text body's line ends are data
		 * (message/delivery-status and the like are line-oriented text). */
		safe = (text || message) && lines_safe(p);
		break;
	default:
		safe = lines_safe(p);
		break;
	}
	if (safe) {
		/* A relay that downgrades 8-bit would rewrite an 8bit/binary label. */
		if (p->cte == MIME_CTE_8BIT || p->cte == MIME_CTE_BINARY)
			d.cte = "7bit";
		return d;
	}
	if (p->cte == MIME_CTE_OTHER) {
		d.plan = PLAN_REJECT;
		d.why = "has an unknown Content-Transfer-Encoding and 8-bit data or long lines";
	} else if (message) {
		d.plan = PLAN_REJECT;
		d.why = "has 8-bit data or long lines, and a message type may not be encoded";
	} else if (text && p->cte != MIME_CTE_BASE64) {
		d.plan = PLAN_QP;
		d.cte = "quoted-printable";
	} else {
		d.plan = PLAN_B64;
		d.cte = "base64";
	}
	return d;
}

/* --- writing --- */

enum role {
	ROLE_TOP,       /* the message: only its Content-* fields go into the entity */
	ROLE_INNER,     /* the message inside a message/rfc822 part */
	ROLE_PART,      /* a body part of a multipart */
};

struct canon {
	struct kerr *err;
};

static bool canon_entity(struct canon *c, const struct mime_part *p, enum role role, struct out *o);

static void
put_field(struct out *o, const struct mime_part *p, const struct mime_field *f)
{
	put_lines(o, p->buf, f->raw.start, f->raw.end, true);
}

static bool
in_entity(const struct mime_field *f, enum role role)
{
	if (role != ROLE_TOP)
		return true;
	return f->id == MIME_F_CONTENT_TYPE || f->id == MIME_F_CTE || f->id == MIME_F_DISPOSITION ||
	    f->id == MIME_F_CONTENT_OTHER;
}

static void
put_header(const struct mime_part *p, enum role role, const struct decision *d, struct out *o)
{
	bool cte_seen = false;

	for (size_t i = 0; i < p->nfields; i++) {
		const struct mime_field *f = &p->fields[i];

		if (!in_entity(f, role))
			continue;
		if (f->id == MIME_F_CTE && d->cte != NULL) {
			out_puts(o, "Content-Transfer-Encoding: ");
			out_puts(o, d->cte);
			out_puts(o, "\r\n");
		} else {
			put_field(o, p, f);
		}
		if (f->id == MIME_F_CTE)
			cte_seen = true;
	}
	/* The top level always says what it is; a re-encoded text part without a
	 * Content-Type gets one so that its charset survives. */
	if (!p->ct_field && p->kind == MIME_LEAF && strcmp(p->type, "text") == 0 &&
	    (role == ROLE_TOP || d->plan == PLAN_QP)) {
		if (role == ROLE_INNER && mime_part_field(p, MIME_F_MIME_VERSION) == NULL)
			out_puts(o, "MIME-Version: 1.0\r\n");
		out_puts(o, "Content-Type: text/plain; charset=");
		out_puts(o, detect_charset(p));
		out_puts(o, "\r\n");
	}
	if (!cte_seen && d->cte != NULL && strcmp(d->cte, "7bit") != 0) {
		out_puts(o, "Content-Transfer-Encoding: ");
		out_puts(o, d->cte);
		out_puts(o, "\r\n");
	}
	out_put(o, "\r\n", 2);
}

static void
put_leaf_body(const struct mime_part *p, const struct decision *d, struct out *o)
{
	if (d->plan == PLAN_KEEP) {
		put_lines(o, p->buf, p->body.start, p->body.end, false);
	} else if (d->plan == PLAN_QP) {
		struct qp_enc q = { .st.o = o, .pending_ws = -1 };
		struct mime_sink sink = { qp_put, &q };

		feed_decoded(p, d->src, &sink);
		qp_finish(&q);
	} else {
		struct b64_enc e = { .st.o = o };
		struct mime_sink sink = { b64_put, &e };

		feed_decoded(p, d->src, &sink);
		b64_finish(&e);
	}
}

static bool
canon_entity(struct canon *c, const struct mime_part *p, enum role role, struct out *o)
{
	struct decision d = decide(p);

	if (p->kind == MIME_MULTIPART && p->close_missing) {
		d.plan = PLAN_REJECT;
		d.why = "has no close delimiter: is the message truncated?";
	}
	if (d.plan == PLAN_REJECT) {
		char where[160];

		mime_part_path(p, where, sizeof(where));
		kerr_set(c->err, KERR_PERM, "cannot make the message transport-safe: %s (%s/%s) %s",
		    where, p->type, p->subtype, d.why);
		return false;
	}
	put_header(p, role, &d, o);
	switch (p->kind) {
	case MIME_LEAF:
		put_leaf_body(p, &d, o);
		break;
	case MIME_MESSAGE:
		if (!canon_entity(c, p->children[0], ROLE_INNER, o))
			return false;
		break;
	case MIME_MULTIPART: {
		const char *boundary = mime_part_param(p, "boundary");

		/* Preamble and epilogue are dropped; the close delimiter is always written. */
		for (size_t i = 0; i < p->nchildren; i++) {
			out_puts(o, i > 0 ? "\r\n--" : "--");
			out_puts(o, boundary);
			out_puts(o, "\r\n");
			if (!canon_entity(c, p->children[i], ROLE_PART, o))
				return false;
		}
		out_puts(o, "\r\n--");
		out_puts(o, boundary);
		out_puts(o, "--");
		break;
	}
	}
	return true;
}

static bool
canon_top(struct canon *c, const struct mime_part *root, struct out *outer, struct out *entity)
{
	for (size_t i = 0; i < root->nfields; i++) {
		const struct mime_field *f = &root->fields[i];

		if (f->id == MIME_F_OTHER)
			put_field(outer, root, f);
	}
	if (!canon_entity(c, root, ROLE_TOP, entity))
		return false;
	if (!out_ends_crlf(entity))
		out_put(entity, "\r\n", 2);
	return true;
}

/* An empty buffer with room for exactly n bytes (buf_reserve rounds up to a
 * power of two, which for a 25 MiB message would be 32 MiB more). */
static void
buf_exact(struct buf *b, size_t n)
{
	buf_release(b);
	b->data = xmalloc(n + 1);
	b->data[0] = '\0';
	b->cap = n + 1;
}

bool
smime_canonicalise(const char *msg, size_t len, struct smime_canon *out, struct kerr *err)
{
	struct canon c = { err };
	struct mime_part *root = NULL;
	struct out outer = { NULL, 0, "" }, entity = { NULL, 0, "" };
	size_t n_outer, n_entity;
	bool ok = false;

	*out = (struct smime_canon)SMIME_CANON_INIT;
	if ((root = mime_parse(msg, len, err)) == NULL)
		goto out;
	/* Pass 1 counts, pass 2 writes into buffers of exactly that size. */
	if (!canon_top(&c, root, &outer, &entity))
		goto out;
	n_outer = outer.n;
	n_entity = entity.n;
	buf_exact(&out->outer, n_outer);
	buf_exact(&out->entity, n_entity);
	outer = (struct out){ &out->outer, 0, "" };
	entity = (struct out){ &out->entity, 0, "" };
	if (!canon_top(&c, root, &outer, &entity))
		goto out;
	if (out->outer.len != n_outer || out->entity.len != n_entity) {
		kerr_set(err, KERR_INTERNAL, "canonicaliser: sizes differ between passes");
		goto out;
	}
	ok = true;
out:
	mime_part_free(&root);
	if (!ok)
		smime_canon_release(out);
	return ok;
}

void
smime_canon_release(struct smime_canon *c)
{
	if (c == NULL)
		return;
	buf_release(&c->outer);
	buf_release(&c->entity);
}
