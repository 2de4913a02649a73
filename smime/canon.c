/*
 * canon.c - make a message's signed entity transport-proof (see mime.h).
 *
 * Two passes over the parse tree.  The first decides what to do with each
 * part (one scan of each body checks whether it is already transport-safe
 * and what its line ends need) and counts the output; the second writes it
 * into memory of exactly that size, which the caller may provide: the signer
 * has the entity written straight into the outgoing message, so a large
 * attachment exists in memory once more, not twice.  A body kept as it is
 * whose line ends are already CRLF is one memcpy; re-encoded bodies stream
 * through 4 KiB chunks, and base64 output is counted by formula, not by
 * encoding twice; no intermediate copy of a body is made.  Work is linear in
 * the input (times the nesting depth for the delimiter scan in mime.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smime/mime.h"

#define QP_MAX 75       /* characters before a soft line break's '=' (76 in all) */
#define B64_LINE 76
#define B64_QUADS (B64_LINE / 4)

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Where output goes: counted only (p == NULL), or written to p. */
struct out {
	char *p;        /* borrowed; NULL: count only */
	size_t cap;     /* bytes at p */
	size_t n;       /* bytes produced */
	bool overflow;  /* more than cap bytes were produced (the passes disagree: a bug) */
	char last[2];   /* the last two bytes produced */
};

/* Record that the output grew by n bytes ending in tail (tn <= 2 of them). */
static void
out_tail(struct out *o, size_t n, const char *tail, size_t tn)
{
	if (tn >= 2) {
		o->last[0] = tail[tn - 2];
		o->last[1] = tail[tn - 1];
	} else if (tn == 1) {
		o->last[0] = o->last[1];
		o->last[1] = tail[0];
	}
	o->n += n;
}

static void
out_put(struct out *o, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (o->p != NULL) {
		if (n > o->cap - o->n) {
			o->overflow = true;
			return;
		}
		memcpy(o->p + o->n, p, n);
	}
	out_tail(o, n, (const char *)p + (n > 2 ? n - 2 : 0), n > 2 ? 2 : n);
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

/* The four characters for a group of n (1-3) bytes, '=' padded. */
static void
b64_group(const unsigned char *g, unsigned n, char q[4])
{
	uint32_t v = (uint32_t)g[0] << 16 | (uint32_t)(n > 1 ? g[1] : 0) << 8 | (uint32_t)(n > 2 ? g[2] : 0);

	q[0] = b64_alphabet[v >> 18 & 63];
	q[1] = b64_alphabet[v >> 12 & 63];
	q[2] = n > 1 ? b64_alphabet[v >> 6 & 63] : '=';
	q[3] = n > 2 ? b64_alphabet[v & 63] : '=';
}

static void
b64_quad(struct b64_enc *e, const unsigned char *g, unsigned n)
{
	char q[6];
	size_t k = 0;

	if (e->col == B64_LINE) {
		q[k++] = '\r';
		q[k++] = '\n';
		e->col = 0;
	}
	b64_group(g, n, q + k);
	stage_put(&e->st, q, k + 4);
	e->col += 4;
}

static void
b64_put(void *ctx, const unsigned char *p, size_t n)
{
	struct b64_enc *e = ctx;
	size_t i = 0;

	while (e->ng > 0 && i < n) {
		e->grp[e->ng++] = p[i++];
		if (e->ng == 3) {
			b64_quad(e, e->grp, 3);
			e->ng = 0;
		}
	}
	for (; n - i >= 3; i += 3)
		b64_quad(e, p + i, 3);
	while (i < n)
		e->grp[e->ng++] = p[i++];
}

static void
b64_finish(struct b64_enc *e)
{
	if (e->ng > 0)
		b64_quad(e, e->grp, e->ng);
	e->ng = 0;
	stage_flush(&e->st);
}

/* The size of b64_put's output for n input bytes. */
static size_t
b64_size(size_t n)
{
	size_t quads = n / 3 + (n % 3 != 0);

	return quads == 0 ? 0 : 4 * quads + 2 * ((quads - 1) / B64_QUADS);
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

		if (u->need == 0 && c < 0x80) {
			/* Skip ASCII sixteen bytes at a time. */
			i = mime_scan((const char *)p, i, n, MIME_SCAN_8BIT);
			if (i == n)
				break;
			c = p[i];
		}
		if (u->need > 0) {
			if (c < u->lo || c > u->hi)
				u->invalid = true;
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
			continue;
		}
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

/* Counts what a decoder produces, and keeps the last three bytes. */
struct count_sink {
	size_t n;
	unsigned char tail[3];
};

static void
count_tail(struct count_sink *c, const unsigned char *p, size_t n)
{
	for (size_t i = n > 3 ? n - 3 : 0; i < n; i++) {
		c->tail[0] = c->tail[1];
		c->tail[1] = c->tail[2];
		c->tail[2] = p[i];
	}
}

static void
count_put(void *ctx, const unsigned char *p, size_t n)
{
	struct count_sink *c = ctx;

	count_tail(c, p, n);
	c->n += n;
}

/* --- is a body already transport-safe? --- */

/*
 * Each check reads a body once, sixteen bytes at a time, from one byte of
 * interest (a line end, '=', a byte that is not allowed) to the next; it
 * stops at the first line that is not safe.  On success *extra_r is what
 * making every line end CRLF adds: 0 means the body can be copied as it is.
 */

static bool
starts_from(const char *s, size_t n)
{
	return n >= 5 && memcmp(s, "From ", 5) == 0;
}

/* Where the next line starts after the line end at eol (CR or LF; or end,
 * for an unterminated last line, which stays so); counts in *extra what
 * making this line end CRLF adds. */
static size_t
line_end(const char *b, size_t eol, size_t end, size_t *extra)
{
	if (eol >= end)
		return end;
	if (b[eol] == '\r' && eol + 1 < end && b[eol + 1] == '\n')
		return eol + 2;
	(*extra)++;
	return eol + 1;
}

/* At most 76 octets, no trailing blank, not "From ". */
static bool
line_ok(const char *b, size_t pos, size_t eol)
{
	return eol - pos <= 76 && !(eol > pos && (b[eol - 1] == ' ' || b[eol - 1] == '\t')) &&
	    !starts_from(b + pos, eol - pos);
}

/* 7-bit, no NUL, lines <= 76, no trailing blanks, no "From " line. */
static bool
lines_safe(const struct mime_part *p, size_t *extra_r)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, extra = 0;

	while (pos < end) {
		size_t eol = mime_scan(b, pos, end, MIME_SCAN_TEXT);

		if (eol < end && b[eol] != '\r' && b[eol] != '\n')
			return false;                   /* NUL or 8-bit */
		if (!line_ok(b, pos, eol))
			return false;
		pos = line_end(b, eol, end, &extra);
	}
	*extra_r = extra;
	return true;
}

static bool
is_uhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Well-formed quoted-printable that is also safe as it is. */
static bool
qp_safe(const struct mime_part *p, size_t *extra_r)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, extra = 0;

	while (pos < end) {
		size_t i = pos;

		/* Stops at a line end, '=' or a byte QP may not carry as it is. */
		while ((i = mime_scan(b, i, end, MIME_SCAN_QP)) < end && b[i] == '=') {
			if (i + 1 == end || b[i + 1] == '\r' || b[i + 1] == '\n')
				i++;            /* soft line break: the line ends after it */
			else if (i + 2 < end && is_uhex(b[i + 1]) && is_uhex(b[i + 2]))
				i += 3;
			else
				return false;
		}
		if (i < end && b[i] != '\r' && b[i] != '\n')
			return false;
		if (!line_ok(b, pos, i))
			return false;
		pos = line_end(b, i, end, &extra);
	}
	*extra_r = extra;
	return true;
}

/* Canonical base64: alphabet only, lines <= 76, padding only at the very
 * end, a multiple of 4 characters, empty lines only at the end. */
static bool
b64_safe(const struct mime_part *p, size_t *extra_r)
{
	const char *b = p->buf;
	size_t pos = p->body.start, end = p->body.end, total = 0, extra = 0;
	unsigned pad = 0;
	bool blank_seen = false;

	while (pos < end) {
		size_t eol = pad > 0 ? pos : mime_scan(b, pos, end, MIME_SCAN_B64);

		while (eol < end && b[eol] == '=') {
			if (++pad > 2)
				return false;
			eol++;
		}
		if (eol < end && b[eol] != '\r' && b[eol] != '\n')
			return false;           /* outside the alphabet, or data after padding */
		if (eol == pos) {
			blank_seen = true;
		} else {
			if (blank_seen || eol - pos > 76)
				return false;
			total += eol - pos;
		}
		pos = line_end(b, eol, end, &extra);
	}
	*extra_r = extra;
	return total % 4 == 0;
}

/* --- what to do with each part --- */

enum plan_kind {
	PLAN_KEEP,      /* already transport-safe: copy, line ends made CRLF */
	PLAN_QP,        /* text: decode by src, make line ends CRLF, quoted-printable */
	PLAN_B64,       /* anything else: decode by src, base64 */
	PLAN_REJECT,
};

struct decision {
	enum plan_kind plan;
	enum mime_cte src;          /* how the body is decoded before re-encoding */
	const char *cte;            /* the Content-Transfer-Encoding to write, NULL: as it is */
	const char *why;            /* PLAN_REJECT: the reason */
	size_t extra;               /* PLAN_KEEP: octets its line ends gain (0: copied as it is) */
};

static struct decision
decide(const struct mime_part *p)
{
	struct decision d = { PLAN_KEEP, p->cte, NULL, NULL, 0 };
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
		safe = qp_safe(p, &d.extra);
		break;
	case MIME_CTE_BASE64:
		safe = b64_safe(p, &d.extra);
		break;
	case MIME_CTE_BINARY:
		/* Raw bytes are authoritative: a non-text body's line ends are data
		 * (message/delivery-status and the like are line-oriented text). */
		safe = (text || message) && lines_safe(p, &d.extra);
		break;
	default:
		safe = lines_safe(p, &d.extra);
		break;
	}
	if (safe) {
		/* A relay that downgrades 8-bit would rewrite an 8bit/binary label. */
		if (p->cte == MIME_CTE_8BIT || p->cte == MIME_CTE_BINARY)
			d.cte = "7bit";
		return d;
	}
	d.extra = 0;
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

/* What the first pass found out about a part, for the second. */
struct plan {
	struct decision d;
	const char *charset;        /* the charset of an inserted Content-Type, or NULL */
	size_t body_len;            /* leaves: the size of the body written */
	char tail[2];               /* ... and its last bytes (tail_n of them) */
	size_t tail_n;
};

struct canon {
	struct kerr *err;           /* borrowed */
	bool write;                 /* second pass */
	struct plan *plans;         /* owned; one per part, in the order canon_entity meets them */
	size_t nplans, cap;
	size_t next;                /* second pass: the next plan */
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

/* The top level always says what it is; a re-encoded text part without a
 * Content-Type gets one so that its charset survives. */
static bool
needs_content_type(const struct mime_part *p, enum role role, const struct decision *d)
{
	return !p->ct_field && p->kind == MIME_LEAF && strcmp(p->type, "text") == 0 &&
	    (role == ROLE_TOP || d->plan == PLAN_QP);
}

static void
put_header(const struct mime_part *p, enum role role, const struct plan *pl, struct out *o)
{
	const struct decision *d = &pl->d;
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
	if (pl->charset != NULL) {
		if (role == ROLE_INNER && mime_part_field(p, MIME_F_MIME_VERSION) == NULL)
			out_puts(o, "MIME-Version: 1.0\r\n");
		out_puts(o, "Content-Type: text/plain; charset=");
		out_puts(o, pl->charset);
		out_puts(o, "\r\n");
	}
	if (!cte_seen && d->cte != NULL && strcmp(d->cte, "7bit") != 0) {
		out_puts(o, "Content-Transfer-Encoding: ");
		out_puts(o, d->cte);
		out_puts(o, "\r\n");
	}
	out_put(o, "\r\n", 2);
}

/* A leaf's body size and last bytes, without writing it (first pass). */
static void
measure_leaf(const struct mime_part *p, struct plan *pl)
{
	const char *b = p->buf + p->body.start;
	size_t n = p->body.end - p->body.start;

	pl->tail_n = 0;
	if (pl->d.plan == PLAN_KEEP) {
		pl->body_len = n + pl->d.extra;
		if (n == 0)
			return;
		pl->tail_n = 2;
		if (b[n - 1] == '\r' || b[n - 1] == '\n') {
			pl->tail[0] = '\r';             /* every line end becomes CRLF */
			pl->tail[1] = '\n';
		} else if (n >= 2) {
			pl->tail[0] = b[n - 2] == '\r' || b[n - 2] == '\n' ? '\n' : b[n - 2];
			pl->tail[1] = b[n - 1];
		} else {
			pl->tail[1] = b[0];
			pl->tail_n = 1;
		}
	} else if (pl->d.plan == PLAN_B64) {
		struct count_sink cs = { 0, { 0, 0, 0 } };
		struct mime_sink sink = { count_put, &cs };
		unsigned r;
		char q[4];

		if (pl->d.src == MIME_CTE_QP || pl->d.src == MIME_CTE_BASE64) {
			feed_decoded(p, pl->d.src, &sink);      /* the decoded size takes decoding */
		} else {
			cs.n = n;
			count_tail(&cs, (const unsigned char *)b, n);
		}
		pl->body_len = b64_size(cs.n);
		if (cs.n == 0)
			return;
		r = cs.n % 3 ? (unsigned)(cs.n % 3) : 3;
		b64_group(cs.tail + 3 - r, r, q);
		pl->tail[0] = q[2];
		pl->tail[1] = q[3];
		pl->tail_n = 2;
	} else {
		/* Quoted-printable: encode, counting only. */
		struct out count = { NULL, 0, 0, false, "" };
		struct qp_enc q = { .st.o = &count, .pending_ws = -1 };
		struct mime_sink sink = { qp_put, &q };

		feed_decoded(p, pl->d.src, &sink);
		qp_finish(&q);
		pl->body_len = count.n;
		pl->tail_n = count.n < 2 ? count.n : 2;
		pl->tail[0] = count.last[0];
		pl->tail[1] = count.last[1];
	}
}

static void
put_leaf_body(const struct mime_part *p, const struct plan *pl, struct out *o)
{
	const struct decision *d = &pl->d;

	if (o->p == NULL) {
		out_tail(o, pl->body_len, pl->tail + 2 - pl->tail_n, pl->tail_n);
	} else if (d->plan == PLAN_KEEP && d->extra == 0) {
		out_put(o, p->buf + p->body.start, p->body.end - p->body.start);
	} else if (d->plan == PLAN_KEEP) {
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

/* First pass: decide and measure; KERR_PERM when the part cannot be made safe. */
static bool
plan_part(struct canon *c, const struct mime_part *p, enum role role, struct plan *pl)
{
	pl->d = decide(p);
	if (p->kind == MIME_MULTIPART && p->close_missing) {
		pl->d.plan = PLAN_REJECT;
		pl->d.why = "has no close delimiter: is the message truncated?";
	}
	if (pl->d.plan == PLAN_REJECT) {
		char where[160];

		mime_part_path(p, where, sizeof(where));
		kerr_set(c->err, KERR_PERM, "cannot make the message transport-safe: %s (%s/%s) %s",
		    where, p->type, p->subtype, pl->d.why);
		return false;
	}
	pl->charset = needs_content_type(p, role, &pl->d) ? detect_charset(p) : NULL;
	pl->body_len = 0;
	pl->tail_n = 0;
	if (p->kind == MIME_LEAF)
		measure_leaf(p, pl);
	return true;
}

static bool
canon_entity(struct canon *c, const struct mime_part *p, enum role role, struct out *o)
{
	size_t idx;

	if (!c->write) {
		struct plan pl;

		if (!plan_part(c, p, role, &pl))
			return false;
		if (c->nplans == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->plans = xreallocarray(c->plans, c->cap, sizeof(*c->plans));
		}
		idx = c->nplans++;
		c->plans[idx] = pl;
	} else {
		if (c->next >= c->nplans)
			return false;   /* the passes disagree: reported by the caller */
		idx = c->next++;
	}
	put_header(p, role, &c->plans[idx], o);
	switch (p->kind) {
	case MIME_LEAF:
		put_leaf_body(p, &c->plans[idx], o);
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

/* The top-level fields that stay outside the signed entity. */
static void
put_outer(const struct mime_part *root, struct out *o)
{
	for (size_t i = 0; i < root->nfields; i++) {
		const struct mime_field *f = &root->fields[i];

		if (f->id == MIME_F_OTHER)
			put_field(o, root, f);
	}
}

static bool
canon_top(struct canon *c, const struct mime_part *root, struct out *entity)
{
	if (!canon_entity(c, root, ROLE_TOP, entity))
		return false;
	if (!out_ends_crlf(entity))
		out_put(entity, "\r\n", 2);
	return true;
}

struct smime_canon_job {
	struct mime_part *root;     /* owned; borrows the message */
	struct canon c;
	size_t entity_len;
};

struct smime_canon_job *
smime_canon_prepare(const char *msg, size_t len, struct buf *outer, size_t *entity_len_r, struct kerr *err)
{
	struct smime_canon_job *j = xcalloc(1, sizeof(*j));
	struct out count = { NULL, 0, 0, false, "" }, o;

	j->c.err = err;
	if ((j->root = mime_parse(msg, len, err)) == NULL || !canon_top(&j->c, j->root, &count)) {
		smime_canon_job_free(&j);
		return NULL;
	}
	j->entity_len = count.n;
	*entity_len_r = count.n;
	/* The outer fields: counted, then written into exactly that much. */
	count = (struct out){ NULL, 0, 0, false, "" };
	put_outer(j->root, &count);
	buf_reserve_exact(outer, count.n);
	o = (struct out){ outer->data + outer->len, count.n, 0, false, "" };
	put_outer(j->root, &o);
	outer->len += o.n;
	outer->data[outer->len] = '\0';
	return j;
}

bool
smime_canon_write(struct smime_canon_job *j, char *dst, struct kerr *err)
{
	struct out o = { dst, j->entity_len, 0, false, "" };

	j->c.write = true;
	j->c.next = 0;
	j->c.err = err;
	if (!canon_top(&j->c, j->root, &o) || o.overflow || o.n != j->entity_len || j->c.next != j->c.nplans) {
		kerr_set(err, KERR_INTERNAL, "canonicaliser: sizes differ between passes");
		return false;
	}
	return true;
}

void
smime_canon_job_free(struct smime_canon_job **jp)
{
	struct smime_canon_job *j;

	if (jp == NULL || (j = *jp) == NULL)
		return;
	mime_part_free(&j->root);
	free(j->c.plans);
	free(j);
	*jp = NULL;
}

bool
smime_canonicalise(const char *msg, size_t len, struct smime_canon *out, struct kerr *err)
{
	struct smime_canon_job *j;
	size_t n = 0;
	bool ok = false;

	*out = (struct smime_canon)SMIME_CANON_INIT;
	if ((j = smime_canon_prepare(msg, len, &out->outer, &n, err)) == NULL)
		goto out;
	/* Exactly n bytes: buf_reserve would round a 25 MiB entity up to 32 MiB. */
	buf_reserve_exact(&out->entity, n);
	if (!smime_canon_write(j, out->entity.data, err))
		goto out;
	out->entity.len = n;
	out->entity.data[n] = '\0';
	ok = true;
out:
	smime_canon_job_free(&j);
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
