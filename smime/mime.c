/*
 * mime.c - MIME structure with exact byte offsets (see mime.h for the rules).
 *
 * Why the multipart walk is our own and not libetpan's mailmime_parse(): the
 * verifier needs the exact offsets of delimiter lines and of the first part of
 * a multipart/signed, which mailmime_parse() does not expose; and with the
 * Debian 12 libetpan (1.9.4) it reports a preamble of length SIZE_MAX-2 for a
 * multipart without delimiter lines (and invents a part), gives an inner
 * message/rfc822 the start offset of its container, and stops at the first
 * header line it dislikes.  libetpan does parse every Content-* field value
 * (RFC 2045 tokens, quoted strings, comments, parameters) and RFC 2047
 * encoded words, so no RFC 2045 parameter syntax is written here; only the
 * RFC 2231 combination, which that libetpan lacks.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#if defined(__SSE2__) && !defined(KYSO_NO_SIMD)
#include <emmintrin.h>
#define MIME_SSE2 1
#endif

#include "smime/mime.h"

struct parser {
	size_t len;             /* the input's length */
	size_t nparts;
	size_t nfields;
	size_t decoded_total;   /* bytes decoded for encoded composites */
	struct kerr *err;
};

/* A Content-* parameter before RFC 2231 combination. */
struct raw_param {
	const char *name;       /* borrowed from libetpan's tree */
	const char *value;
};

/* --- scanning --- */

/* Each byte's classes (enum mime_scan bits). */
static const unsigned char scan_class[256] = {
	14, 12, 12, 12, 12, 12, 12, 12, 12,  8, 15, 12, 12, 15, 12, 12,  /* 0x00 */
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,  /* 0x10 */
	 8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  0,  8,  8,  8,  0,  /* 0x20 */
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  8,  8, 12,  8,  8,  /* 0x30 */
	 8,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x40 */
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  8,  8,  8,  8,  /* 0x50 */
	 8,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x60 */
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  8,  8,  8, 12,  /* 0x70 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0x80 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0x90 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xa0 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xb0 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xc0 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xd0 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xe0 */
	30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0xf0 */
};

#ifdef MIME_SSE2
/* One bit per byte of v that is of class cls (a constant once inlined). */
static inline unsigned
sse2_stops(__m128i v, enum mime_scan cls)
{
	__m128i eol = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
	__m128i ok;

	switch (cls) {
	case MIME_SCAN_EOL:
		return (unsigned)_mm_movemask_epi8(eol);
	case MIME_SCAN_TEXT:    /* signed v < 1: NUL and 0x80-0xff */
		return (unsigned)_mm_movemask_epi8(_mm_or_si128(eol, _mm_cmpgt_epi8(_mm_set1_epi8(1), v)));
	case MIME_SCAN_QP:      /* ok: 0x20-0x7e or TAB, but not '=' */
		ok = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f)), _mm_cmpgt_epi8(_mm_set1_epi8(0x7f), v));
		ok = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')),
		    _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
		return (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;
	case MIME_SCAN_B64: {   /* ok: (v | 0x20) in a-z, v in '/'-'9', or '+' */
		__m128i l = _mm_or_si128(v, _mm_set1_epi8(0x20));

		ok = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)), _mm_cmpgt_epi8(_mm_set1_epi8('z' + 1), l));
		ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('/' - 1)),
		    _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), v)));
		ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('+')));
		return (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;
	}
	case MIME_SCAN_8BIT:
		return (unsigned)_mm_movemask_epi8(v);
	}
	return 0xffffu;
}
#endif

static inline __attribute__((always_inline)) size_t
scan_as(const char *b, size_t pos, size_t end, enum mime_scan cls)
{
#ifdef MIME_SSE2
	while (end - pos >= 16) {
		unsigned m = sse2_stops(_mm_loadu_si128((const __m128i *)(const void *)(b + pos)), cls);

		if (m != 0)
			return pos + (size_t)__builtin_ctz(m);
		pos += 16;
	}
#endif
	while (pos < end && (scan_class[(unsigned char)b[pos]] & cls) == 0)
		pos++;
	return pos;
}

size_t
mime_scan(const char *b, size_t pos, size_t end, enum mime_scan cls)
{
	if (pos >= end)
		return end;
	switch (cls) {     /* one specialised loop each */
	case MIME_SCAN_EOL:  return scan_as(b, pos, end, MIME_SCAN_EOL);
	case MIME_SCAN_TEXT: return scan_as(b, pos, end, MIME_SCAN_TEXT);
	case MIME_SCAN_QP:   return scan_as(b, pos, end, MIME_SCAN_QP);
	case MIME_SCAN_B64:  return scan_as(b, pos, end, MIME_SCAN_B64);
	case MIME_SCAN_8BIT: return scan_as(b, pos, end, MIME_SCAN_8BIT);
	}
	return scan_as(b, pos, end, cls);
}

/* The first "--" in [pos, end), or end. */
static size_t
find_dashes(const char *b, size_t pos, size_t end)
{
#ifdef MIME_SSE2
	const __m128i dash = _mm_set1_epi8('-');

	while (end - pos >= 17) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(b + pos));
		__m128i n = _mm_loadu_si128((const __m128i *)(const void *)(b + pos + 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, dash), _mm_cmpeq_epi8(n, dash)));

		if (m != 0)
			return pos + (size_t)__builtin_ctz(m);
		pos += 16;
	}
#endif
	while (pos + 1 < end) {
		const char *q = memchr(b + pos, '-', end - pos - 1);

		if (q == NULL)
			break;
		pos = (size_t)(q - b);
		if (b[pos + 1] == '-')
			return pos;
		pos++;
	}
	return end;
}

/* The first line in [from, end) that starts with "--" + bd (bd: bl bytes
 * without CR or LF); lines start at bs and after every line end.  Returns
 * its start, or end. */
static size_t
find_delim(const char *b, size_t bs, size_t from, size_t end, const char *bd, size_t bl)
{
	size_t pos = from;

	while ((pos = find_dashes(b, pos, end)) < end) {
		if ((pos == bs || b[pos - 1] == '\n' || b[pos - 1] == '\r') && end - pos >= 2 + bl &&
		    memcmp(b + pos + 2, bd, bl) == 0)
			return pos;
		pos++;
	}
	return end;
}

/* --- small helpers --- */

size_t
mime_line_next(const char *b, size_t pos, size_t end, size_t *eol_r)
{
	size_t i = mime_scan(b, pos, end, MIME_SCAN_EOL);

	*eol_r = i;
	if (i < end && b[i] == '\r') {
		i++;
		if (i < end && b[i] == '\n')
			i++;
	} else if (i < end) {
		i++;
	}
	return i;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *q = d; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	return d;
}

static bool
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

void
mime_part_path(const struct mime_part *p, char *out, size_t outlen)
{
	unsigned idx[MIME_MAX_DEPTH + 2];
	size_t n = 0, off = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (; p != NULL && p->parent != NULL && n < MIME_MAX_DEPTH + 2; p = p->parent)
		idx[n++] = p->index;
	if (n == 0) {
		snprintf(out, outlen, "top");
		return;
	}
	off = (size_t)snprintf(out, outlen, "part ");
	while (n > 0 && off < outlen) {
		n--;
		off += (size_t)snprintf(out + off, outlen - off, "%u%s", idx[n], n > 0 ? "." : "");
	}
}

static void perr(struct parser *ps, const struct mime_part *p, const char *fmt, ...) KYSO_PRINTF(3, 4);

static void
perr(struct parser *ps, const struct mime_part *p, const char *fmt, ...)
{
	char where[160], what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	mime_part_path(p, where, sizeof(where));
	if (p->parent == NULL)
		kerr_set(ps->err, KERR_PERM, "malformed message: %s", what);
	else
		kerr_set(ps->err, KERR_PERM, "malformed message: %s: %s", where, what);
}

/* --- public lookups --- */

bool
mime_part_is(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcmp(p->type, type) == 0 && (subtype == NULL || strcmp(p->subtype, subtype) == 0);
}

const char *
mime_part_param(const struct mime_part *p, const char *name)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (strcmp(p->params[i].name, name) == 0)
			return p->params[i].value;
	return NULL;
}

const struct mime_field *
mime_part_field(const struct mime_part *p, enum mime_field_id id)
{
	for (size_t i = 0; i < p->nfields; i++)
		if (p->fields[i].id == id)
			return &p->fields[i];
	return NULL;
}

/* --- decoding --- */

struct chunk {
	unsigned char b[4096];
	size_t n;
	const struct mime_sink *out;
};

static void
chunk_flush(struct chunk *c)
{
	if (c->n > 0)
		c->out->put(c->out->ctx, c->b, c->n);
	c->n = 0;
}

static void
chunk_put(struct chunk *c, unsigned char byte)
{
	if (c->n == sizeof(c->b))
		chunk_flush(c);
	c->b[c->n++] = byte;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
mime_decode_base64(const char *p, size_t n, const struct mime_sink *out)
{
	struct chunk c = { .n = 0, .out = out };
	uint32_t acc = 0;
	int nq = 0;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (p[i] == '=')
			break;
		if ((v = b64_value((unsigned char)p[i])) < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		if (++nq == 4) {
			chunk_put(&c, (unsigned char)(acc >> 16));
			chunk_put(&c, (unsigned char)(acc >> 8));
			chunk_put(&c, (unsigned char)acc);
			acc = 0;
			nq = 0;
		}
	}
	if (nq == 2) {
		chunk_put(&c, (unsigned char)(acc >> 4));
	} else if (nq == 3) {
		chunk_put(&c, (unsigned char)(acc >> 10));
		chunk_put(&c, (unsigned char)(acc >> 2));
	}
	chunk_flush(&c);
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
mime_decode_qp(const char *p, size_t n, const struct mime_sink *out)
{
	struct chunk c = { .n = 0, .out = out };
	size_t pos = 0;

	while (pos < n) {
		size_t eol, e, next = mime_line_next(p, pos, n, &eol);
		bool soft = false;

		for (e = eol; e > pos && is_wsp(p[e - 1]); e--)
			;
		if (e > pos && p[e - 1] == '=') {
			soft = true;
			e--;
		}
		for (size_t i = pos; i < e; i++) {
			int hi, lo;

			if (p[i] == '=' && i + 2 < e && (hi = hex_value((unsigned char)p[i + 1])) >= 0 &&
			    (lo = hex_value((unsigned char)p[i + 2])) >= 0) {
				chunk_put(&c, (unsigned char)(hi << 4 | lo));
				i += 2;
			} else {
				chunk_put(&c, (unsigned char)p[i]);
			}
		}
		if (!soft && next > eol) {
			chunk_put(&c, '\r');
			chunk_put(&c, '\n');
		}
		pos = next;
	}
	chunk_flush(&c);
}

static void
put_buf(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
}

void
mime_part_decode(const struct mime_part *p, struct buf *out)
{
	struct mime_sink sink = { put_buf, out };
	const char *b = p->buf + p->body.start;
	size_t n = p->body.end - p->body.start;

	buf_reserve(out, n);
	switch (p->cte) {
	case MIME_CTE_QP:
		mime_decode_qp(b, n, &sink);
		break;
	case MIME_CTE_BASE64:
		mime_decode_base64(b, n, &sink);
		break;
	default:
		buf_append(out, b, n);
		break;
	}
}

/* --- header fields --- */

static enum mime_field_id
field_id(const char *name, size_t len)
{
	if (name_is(name, len, "content-type"))
		return MIME_F_CONTENT_TYPE;
	if (name_is(name, len, "content-transfer-encoding"))
		return MIME_F_CTE;
	if (name_is(name, len, "content-disposition"))
		return MIME_F_DISPOSITION;
	if (name_is(name, len, "content-length"))
		return MIME_F_CONTENT_LENGTH;
	if (len >= 8 && strncasecmp(name, "content-", 8) == 0)
		return MIME_F_CONTENT_OTHER;
	if (name_is(name, len, "mime-version"))
		return MIME_F_MIME_VERSION;
	if (name_is(name, len, "bcc") || name_is(name, len, "resent-bcc"))
		return MIME_F_BCC;
	return MIME_F_OTHER;
}

/* Split the header that starts at start into fields; set header, body, has_blank. */
static bool
parse_header(struct parser *ps, struct mime_part *p, size_t start, size_t end)
{
	const char *b = p->buf;
	size_t pos = start, cap = 0;
	unsigned line = 0;

	p->header.start = start;
	for (;;) {
		size_t eol, next, colon, nlen;
		struct mime_field *f;

		if (pos >= end) {
			p->header.end = end;
			p->body.start = p->body.end = end;
			p->has_blank = false;
			return true;
		}
		next = mime_line_next(b, pos, end, &eol);
		line++;
		if (eol == pos) {
			p->header.end = pos;
			p->body.start = next;
			p->body.end = end;
			p->has_blank = true;
			return true;
		}
		if (eol - pos > MIME_MAX_LINE) {
			perr(ps, p, "header line %u is longer than %d octets", line, MIME_MAX_LINE);
			return false;
		}
		if (memchr(b + pos, '\0', eol - pos) != NULL) {
			perr(ps, p, "header line %u contains a NUL byte", line);
			return false;
		}
		if (next - start > MIME_MAX_HEADER) {
			perr(ps, p, "header is longer than %d octets", MIME_MAX_HEADER);
			return false;
		}
		if (is_wsp(b[pos])) {
			if (p->nfields == 0) {
				perr(ps, p, "header starts with a continuation line");
				return false;
			}
			f = &p->fields[p->nfields - 1];
			f->raw.end = next;
			f->value.end = eol;
			pos = next;
			continue;
		}
		colon = pos;
		while (colon < eol && b[colon] != ':')
			colon++;
		for (nlen = colon - pos; nlen > 0 && is_wsp(b[pos + nlen - 1]); nlen--)
			;
		if (colon == eol || nlen == 0) {
			perr(ps, p, "header line %u is not a field (is the empty line between header and body missing?)",
			    line);
			return false;
		}
		for (size_t i = pos; i < pos + nlen; i++) {
			unsigned char ch = (unsigned char)b[i];

			if (ch < 33 || ch > 126) {
				perr(ps, p, "header line %u: the field name has a byte outside printable ASCII", line);
				return false;
			}
		}
		if (p->nfields == MIME_MAX_FIELDS || ps->nfields == MIME_MAX_FIELDS_TOTAL) {
			perr(ps, p, "too many header fields (limits: %d per header, %d per message)",
			    MIME_MAX_FIELDS, MIME_MAX_FIELDS_TOTAL);
			return false;
		}
		if (p->nfields == cap) {
			cap = cap ? cap * 2 : 16;
			p->fields = xreallocarray(p->fields, cap, sizeof(*p->fields));
		}
		f = &p->fields[p->nfields++];
		ps->nfields++;
		f->id = field_id(b + pos, nlen);
		f->raw.start = pos;
		f->raw.end = next;
		f->name_len = nlen;
		f->value.start = colon + 1;
		f->value.end = eol;
		pos = next;
	}
}

/* The field's value unfolded (line ends removed) and trimmed; caller frees. */
static char *
field_value(const struct mime_part *p, const struct mime_field *f)
{
	const char *s = p->buf + f->value.start;
	size_t n = f->value.end - f->value.start, k = 0;
	char *v = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			v[k++] = s[i];
	while (k > 0 && is_wsp(v[k - 1]))
		k--;
	v[k] = '\0';
	n = strspn(v, " \t");
	memmove(v, v + n, k - n + 1);
	return v;
}

/*
 * libetpan's comment parser recurses once per nesting level, so a value of a
 * million '(' overflows the stack.  Bound the nesting libetpan could see:
 * every '(' counts (even quoted or escaped ones), only an unescaped ')'
 * closes, so this never under-counts.
 */
static bool
comments_ok(const char *v)
{
	int depth = 0;

	for (; *v != '\0'; v++) {
		if (*v == '\\' && v[1] != '\0' && v[1] != '(') {
			v++;
		} else if (*v == '(') {
			if (++depth > MIME_MAX_COMMENT)
				return false;
		} else if (*v == ')' && depth > 0) {
			depth--;
		}
	}
	return true;
}

/* --- RFC 2231 parameter combination --- */

/* Split name into base, section (-1 if none) and whether it is extended ('*'). */
static size_t
rfc2231_name(const char *name, int *section_r, bool *ext_r)
{
	const char *star = strchr(name, '*');
	const char *q;
	long sec = 0;

	*section_r = -1;
	*ext_r = false;
	if (star == NULL || star == name)
		return strlen(name);
	q = star + 1;
	if (*q == '\0') {
		*ext_r = true;
		return (size_t)(star - name);
	}
	if (!isdigit((unsigned char)*q))
		return strlen(name);
	while (isdigit((unsigned char)*q) && sec < 1000)
		sec = sec * 10 + (*q++ - '0');
	if (*q == '*') {
		*ext_r = true;
		q++;
	}
	if (*q != '\0')
		return strlen(name);
	*section_r = (int)sec;
	return (size_t)(star - name);
}

static void
percent_decode(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		int hi, lo;

		if (*s == '%' && (hi = hex_value((unsigned char)s[1])) >= 0 &&
		    (lo = hex_value((unsigned char)s[2])) >= 0) {
			char ch = (char)(hi << 4 | lo);

			buf_append(out, &ch, 1);
			s += 2;
		} else {
			buf_append(out, s, 1);
		}
	}
}

/* value is "charset'language'text" (the first section of an extended value). */
static const char *
rfc2231_split_charset(const char *value, char **charset_r)
{
	const char *q1 = strchr(value, '\''), *q2;

	*charset_r = NULL;
	if (q1 == NULL || (q2 = strchr(q1 + 1, '\'')) == NULL)
		return value;
	*charset_r = xstrndup(value, (size_t)(q1 - value));
	return q2 + 1;
}

static char *
to_utf8(const char *charset, struct buf *b)
{
	char *conv = NULL;

	if (charset != NULL && charset[0] != '\0' && strcasecmp(charset, "utf-8") != 0 &&
	    strcasecmp(charset, "utf8") != 0 && strcasecmp(charset, "us-ascii") != 0 &&
	    charconv("utf-8", charset, b->data != NULL ? b->data : "", b->len, &conv) == MAIL_CHARCONV_NO_ERROR &&
	    conv != NULL) {
		char *r = xstrdup(conv);

		free(conv);
		buf_release(b);
		return r;
	}
	free(conv);
	return buf_steal(b, NULL);
}

/*
 * Combine raw parameters (RFC 2231 §3-4): "name*0*=utf-8''B%C3%A1o",
 * "name*1=.pdf" -> name = "Báo.pdf"; an extended value wins over a plain one.
 * The first occurrence of a name wins.
 */
static void
params_combine(const struct raw_param *raw, size_t nraw, struct mime_param **out_r, size_t *nout_r)
{
	struct mime_param *out = xcalloc(nraw ? nraw : 1, sizeof(*out));
	size_t nout = 0;

	for (size_t i = 0; i < nraw; i++) {
		int sec;
		bool ext, done = false;
		size_t blen = rfc2231_name(raw[i].name, &sec, &ext);
		char *base = xstrndup(raw[i].name, blen), *charset = NULL;
		struct buf v = BUF_INIT;

		for (char *q = base; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		for (size_t k = 0; k < nout; k++)
			if (strcmp(out[k].name, base) == 0)
				done = true;
		if (done) {
			free(base);
			continue;
		}
		/* Continuations: sections 0, 1, 2, ... in order, stopping at a gap. */
		for (int want = 0; (size_t)want < nraw; want++) {
			bool found = false;

			for (size_t k = 0; k < nraw && !found; k++) {
				int s;
				bool e;
				size_t bl = rfc2231_name(raw[k].name, &s, &e);
				const char *text = raw[k].value;

				if (s != want || bl != blen || strncasecmp(raw[k].name, base, bl) != 0)
					continue;
				found = true;
				if (want == 0 && e)
					text = rfc2231_split_charset(text, &charset);
				if (e)
					percent_decode(&v, text);
				else
					buf_appends(&v, text);
			}
			if (!found)
				break;
			done = true;
		}
		/* Else a single extended value "name*=charset'lang'text". */
		for (size_t k = 0; k < nraw && !done; k++) {
			int s;
			bool e;
			size_t bl = rfc2231_name(raw[k].name, &s, &e);

			if (s == -1 && e && bl == blen && strncasecmp(raw[k].name, base, bl) == 0) {
				percent_decode(&v, rfc2231_split_charset(raw[k].value, &charset));
				done = true;
			}
		}
		/* Else the plain value, if there is one (a lone "name*1" has none). */
		for (size_t k = 0; k < nraw && !done; k++) {
			if (strcasecmp(raw[k].name, base) == 0) {
				buf_appends(&v, raw[k].value);
				done = true;
			}
		}
		if (!done) {
			free(base);
			continue;
		}
		out[nout].name = base;
		out[nout].value = to_utf8(charset, &v);
		nout++;
		free(charset);
	}
	*out_r = out;
	*nout_r = nout;
}

static void
params_free(struct mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

/* Values from RFC 2047 encoded words (webmail often puts them in filename=). */
static char *
decode_words(char *v)
{
	char *out = NULL;
	size_t idx = 0;

	if (v == NULL || strstr(v, "=?") == NULL)
		return v;
	if (mailmime_encoded_phrase_parse("utf-8", v, strlen(v), &idx, "utf-8", &out) == MAILIMF_NO_ERROR &&
	    out != NULL && out[0] != '\0') {
		char *r = xstrdup(out);

		free(out);
		free(v);
		return r;
	}
	free(out);
	return v;
}

/* --- Content-Type, Content-Transfer-Encoding, Content-Disposition --- */

static bool
type_has_slash(const char *v)
{
	v += strcspn(v, " \t/;(\"");
	v += strspn(v, " \t");
	return *v == '/';
}

static const char *
discrete_name(const struct mailmime_discrete_type *t)
{
	switch (t->dt_type) {
	case MAILMIME_DISCRETE_TYPE_TEXT:        return "text";
	case MAILMIME_DISCRETE_TYPE_IMAGE:       return "image";
	case MAILMIME_DISCRETE_TYPE_AUDIO:       return "audio";
	case MAILMIME_DISCRETE_TYPE_VIDEO:       return "video";
	case MAILMIME_DISCRETE_TYPE_APPLICATION: return "application";
	default:                                 return t->dt_extension;
	}
}

static const char *
composite_name(const struct mailmime_composite_type *t)
{
	switch (t->ct_type) {
	case MAILMIME_COMPOSITE_TYPE_MESSAGE:   return "message";
	case MAILMIME_COMPOSITE_TYPE_MULTIPART: return "multipart";
	default:                                return t->ct_token;
	}
}

/* How many parameters in the list look like the start of a boundary value. */
static int
boundary_heads(const struct raw_param *raw, size_t n)
{
	int heads = 0;

	for (size_t i = 0; i < n; i++) {
		int sec;
		bool ext;
		size_t bl = rfc2231_name(raw[i].name, &sec, &ext);

		if (bl == 8 && strncasecmp(raw[i].name, "boundary", 8) == 0 && sec <= 0)
			heads++;
	}
	return heads;
}

static bool
parse_content_type(struct parser *ps, struct mime_part *p, const struct mime_field *f)
{
	struct mailmime_content *ct = NULL;
	struct raw_param *raw = NULL;
	char *v = field_value(p, f);
	const char *type = NULL;
	size_t idx = 0, nraw = 0;
	bool ok = false;
	int r;

	p->ct_field = true;
	if (!comments_ok(v)) {
		perr(ps, p, "Content-Type nests comments more than %d deep", MIME_MAX_COMMENT);
		goto out;
	}
	r = mailmime_content_parse(v, strlen(v), &idx, &ct);
	if (r == MAILIMF_ERROR_MEMORY) {
		kerr_set(ps->err, KERR_TEMP, "out of memory parsing Content-Type");
		goto out;
	}
	ok = true;
	/* Invalid: text/plain (RFC 2045 §5.2), even in a multipart/digest. */
	free(p->type);
	free(p->subtype);
	p->type = xstrdup("text");
	p->subtype = xstrdup("plain");
	if (r != MAILIMF_NO_ERROR || !type_has_slash(v) || ct->ct_subtype == NULL)
		goto out;
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE)
		type = discrete_name(ct->ct_type->tp_data.tp_discrete_type);
	else if (ct->ct_type->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE)
		type = composite_name(ct->ct_type->tp_data.tp_composite_type);
	if (type == NULL || type[0] == '\0' || ct->ct_subtype[0] == '\0')
		goto out;
	if (ct->ct_parameters != NULL && (size_t)clist_count(ct->ct_parameters) > MIME_MAX_PARAMS) {
		perr(ps, p, "Content-Type has more than %d parameters", MIME_MAX_PARAMS);
		ok = false;
		goto out;
	}
	raw = xcalloc(MIME_MAX_PARAMS, sizeof(*raw));
	for (clistiter *it = ct->ct_parameters ? clist_begin(ct->ct_parameters) : NULL; it != NULL;
	    it = clist_next(it)) {
		struct mailmime_parameter *pa = clist_content(it);

		raw[nraw].name = pa->pa_name;
		raw[nraw].value = pa->pa_value != NULL ? pa->pa_value : "";
		nraw++;
	}
	if (boundary_heads(raw, nraw) > 1) {
		perr(ps, p, "Content-Type has more than one boundary parameter");
		ok = false;
		goto out;
	}
	free(p->type);
	free(p->subtype);
	p->type = lower_dup(type);
	p->subtype = lower_dup(ct->ct_subtype);
	params_combine(raw, nraw, &p->params, &p->nparams);
	p->ct_valid = true;
out:
	free(raw);
	if (ct != NULL)
		mailmime_content_free(ct);
	free(v);
	return ok;
}

static bool
parse_cte(struct parser *ps, struct mime_part *p, const struct mime_field *f)
{
	struct mailmime_mechanism *m = NULL;
	char *v = field_value(p, f);
	size_t idx = 0;
	bool ok = false;
	int r;

	p->cte = MIME_CTE_OTHER;
	if (!comments_ok(v)) {
		perr(ps, p, "Content-Transfer-Encoding nests comments more than %d deep", MIME_MAX_COMMENT);
		goto out;
	}
	ok = true;
	r = mailmime_encoding_parse(v, strlen(v), &idx, &m);
	if (r == MAILIMF_ERROR_MEMORY) {
		kerr_set(ps->err, KERR_TEMP, "out of memory parsing Content-Transfer-Encoding");
		ok = false;
		goto out;
	}
	if (r != MAILIMF_NO_ERROR)
		goto out;
	/* "7bit garbage" is not 7bit: only blanks or a comment may follow. */
	idx += strspn(v + idx, " \t");
	if (v[idx] != '\0' && v[idx] != '(')
		goto out;
	switch (m->enc_type) {
	case MAILMIME_MECHANISM_7BIT:             p->cte = MIME_CTE_7BIT; break;
	case MAILMIME_MECHANISM_8BIT:             p->cte = MIME_CTE_8BIT; break;
	case MAILMIME_MECHANISM_BINARY:           p->cte = MIME_CTE_BINARY; break;
	case MAILMIME_MECHANISM_QUOTED_PRINTABLE: p->cte = MIME_CTE_QP; break;
	case MAILMIME_MECHANISM_BASE64:           p->cte = MIME_CTE_BASE64; break;
	default:                                  p->cte = MIME_CTE_OTHER; break;
	}
out:
	if (m != NULL)
		mailmime_mechanism_free(m);
	free(v);
	return ok;
}

static bool
parse_disposition(struct parser *ps, struct mime_part *p, const struct mime_field *f)
{
	struct mailmime_disposition *d = NULL;
	struct raw_param *raw = NULL;
	struct mime_param *params = NULL;
	size_t idx = 0, nraw = 0, nparams = 0;
	char *v = field_value(p, f);
	bool ok = false;
	int r;

	if (!comments_ok(v)) {
		perr(ps, p, "Content-Disposition nests comments more than %d deep", MIME_MAX_COMMENT);
		goto out;
	}
	ok = true;
	r = mailmime_disposition_parse(v, strlen(v), &idx, &d);
	if (r == MAILIMF_ERROR_MEMORY) {
		kerr_set(ps->err, KERR_TEMP, "out of memory parsing Content-Disposition");
		ok = false;
		goto out;
	}
	if (r != MAILIMF_NO_ERROR)
		goto out;       /* unparsable: no disposition, no file name */
	switch (d->dsp_type->dsp_type) {
	case MAILMIME_DISPOSITION_TYPE_INLINE:     p->disposition = xstrdup("inline"); break;
	case MAILMIME_DISPOSITION_TYPE_ATTACHMENT: p->disposition = xstrdup("attachment"); break;
	default:
		if (d->dsp_type->dsp_extension != NULL)
			p->disposition = lower_dup(d->dsp_type->dsp_extension);
		break;
	}
	if (d->dsp_parms != NULL && (size_t)clist_count(d->dsp_parms) > MIME_MAX_PARAMS) {
		perr(ps, p, "Content-Disposition has more than %d parameters", MIME_MAX_PARAMS);
		ok = false;
		goto out;
	}
	raw = xcalloc(MIME_MAX_PARAMS, sizeof(*raw));
	for (clistiter *it = d->dsp_parms ? clist_begin(d->dsp_parms) : NULL; it != NULL; it = clist_next(it)) {
		struct mailmime_disposition_parm *pa = clist_content(it);

		if (pa->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME && pa->pa_data.pa_filename != NULL) {
			raw[nraw].name = "filename";
			raw[nraw++].value = pa->pa_data.pa_filename;
		} else if (pa->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER) {
			raw[nraw].name = pa->pa_data.pa_parameter->pa_name;
			raw[nraw++].value = pa->pa_data.pa_parameter->pa_value != NULL ?
			    pa->pa_data.pa_parameter->pa_value : "";
		}
	}
	params_combine(raw, nraw, &params, &nparams);
	for (size_t i = 0; i < nparams; i++) {
		if (strcmp(params[i].name, "filename") == 0) {
			p->filename = decode_words(params[i].value);
			params[i].value = NULL;
			break;
		}
	}
out:
	params_free(params, nparams);
	free(raw);
	if (d != NULL)
		mailmime_disposition_free(d);
	free(v);
	return ok;
}

/* Parse the Content-* fields that shape the part; refuse ambiguous duplicates. */
static bool
parse_content_fields(struct parser *ps, struct mime_part *p, bool in_digest)
{
	const struct mime_field *ct = NULL, *cte = NULL, *cd = NULL;

	for (size_t i = 0; i < p->nfields; i++) {
		const struct mime_field *f = &p->fields[i];
		const struct mime_field **slot = f->id == MIME_F_CONTENT_TYPE ? &ct :
		    f->id == MIME_F_CTE ? &cte : f->id == MIME_F_DISPOSITION ? &cd : NULL;

		if (slot == NULL)
			continue;
		if (*slot != NULL) {
			perr(ps, p, "two %.*s fields", (int)f->name_len, p->buf + f->raw.start);
			return false;
		}
		*slot = f;
	}
	p->type = xstrdup(in_digest ? "message" : "text");
	p->subtype = xstrdup(in_digest ? "rfc822" : "plain");
	if (ct != NULL && !parse_content_type(ps, p, ct))
		return false;
	if (cte != NULL && !parse_cte(ps, p, cte))
		return false;
	if (cd != NULL && !parse_disposition(ps, p, cd))
		return false;
	if (p->filename == NULL && mime_part_param(p, "name") != NULL)
		p->filename = decode_words(xstrdup(mime_part_param(p, "name")));
	return true;
}

/* --- structure --- */

static struct mime_part *parse_entity(struct parser *ps, const char *buf, size_t start, size_t end,
    struct mime_part *parent, unsigned index, bool in_digest);

static void
add_child(struct mime_part *p, struct mime_part *child, size_t *cap)
{
	if (p->nchildren == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		p->children = xreallocarray(p->children, *cap, sizeof(*p->children));
	}
	p->children[p->nchildren++] = child;
}

/* The bytes children are parsed from: the body, or its decoding when a
 * composite was (illegally) base64/QP encoded. */
static bool
composite_body(struct parser *ps, struct mime_part *p, const char **b_r, size_t *s_r, size_t *e_r)
{
	struct buf d = BUF_INIT;
	size_t n = p->body.end - p->body.start, dlen;

	*b_r = p->buf;
	*s_r = p->body.start;
	*e_r = p->body.end;
	if (p->cte != MIME_CTE_BASE64 && p->cte != MIME_CTE_QP)
		return true;
	if (n > ps->len - ps->decoded_total) {
		perr(ps, p, "encoded %s/%s parts are too large in total", p->type, p->subtype);
		return false;
	}
	mime_part_decode(p, &d);
	ps->decoded_total += n;
	p->decoded = buf_steal(&d, &dlen);
	*b_r = p->decoded;
	*s_r = 0;
	*e_r = dlen;
	/* Enclosing multiparts never saw these lines; written out decoded, a
	 * line starting with their delimiter would split them. */
	for (const struct mime_part *a = p->parent; a != NULL; a = a->parent) {
		const char *bd = a->kind == MIME_MULTIPART ? mime_part_param(a, "boundary") : NULL;

		if (bd != NULL && find_delim(p->decoded, 0, 0, dlen, bd, strlen(bd)) < dlen) {
			perr(ps, p, "the decoded %s/%s part has a line starting with the boundary \"--%s\"",
			    p->type, p->subtype, bd);
			return false;
		}
	}
	return true;
}

static bool
parse_multipart(struct parser *ps, struct mime_part *p)
{
	const char *boundary = mime_part_param(p, "boundary"), *b;
	size_t blen, pos, bs, be, part_start = SIZE_MAX, ccap = 0, dcap = 0;
	bool in_digest = strcmp(p->subtype, "digest") == 0, closed = false;

	if (boundary == NULL || boundary[0] == '\0') {
		perr(ps, p, "multipart/%s without a boundary parameter", p->subtype);
		return false;
	}
	blen = strlen(boundary);
	if (blen > MIME_MAX_BOUNDARY) {
		perr(ps, p, "multipart boundary is longer than %d octets", MIME_MAX_BOUNDARY);
		return false;
	}
	for (size_t i = 0; i < blen; i++) {
		if ((unsigned char)boundary[i] < 32 || (unsigned char)boundary[i] > 126) {
			perr(ps, p, "multipart boundary has a byte outside printable ASCII");
			return false;
		}
	}
	if (!composite_body(ps, p, &b, &bs, &be))
		return false;
	p->preamble.start = p->preamble.end = bs;
	p->epilogue.start = p->epilogue.end = be;
	/* Only lines that start with "--boundary" matter: jump from one to the
	 * next instead of walking every line. */
	for (pos = bs; (pos = find_delim(b, bs, pos, be, boundary, blen)) < be;) {
		size_t eol, next, q = pos + 2 + blen;
		struct mime_delim *d;
		bool close = false;

		next = mime_line_next(b, q, be, &eol);
		if (q + 2 <= eol && b[q] == '-' && b[q + 1] == '-') {
			close = true;
			q += 2;
		}
		while (q < eol && is_wsp(b[q]))
			q++;
		if (q != eol) {
			perr(ps, p, "a line starts with the boundary delimiter \"--%s\" but is not one", boundary);
			return false;
		}
		if (p->ndelims == dcap) {
			dcap = dcap ? dcap * 2 : 4;
			p->delims = xreallocarray(p->delims, dcap, sizeof(*p->delims));
		}
		d = &p->delims[p->ndelims++];
		/* The line end before it: CRLF, or a lone LF or CR. */
		if (pos == bs)
			d->crlf = pos;
		else if (b[pos - 1] == '\n' && pos - 1 > bs && b[pos - 2] == '\r')
			d->crlf = pos - 2;
		else
			d->crlf = pos - 1;
		d->dash = pos;
		d->next = next;
		d->close = close;
		if (part_start == SIZE_MAX) {
			p->preamble.end = d->crlf;
		} else {
			struct mime_part *c = parse_entity(ps, b, part_start, d->crlf, p,
			    (unsigned)p->nchildren + 1, in_digest);

			if (c == NULL)
				return false;
			add_child(p, c, &ccap);
		}
		if (close) {
			p->epilogue.start = next;
			closed = true;
			break;
		}
		part_start = next;
		pos = next;
	}
	if (p->ndelims == 0) {
		perr(ps, p, "multipart/%s body has no boundary delimiter line \"--%s\"", p->subtype, boundary);
		return false;
	}
	if (!closed && part_start == be) {
		/* The body ends with a delimiter line: it closes, no empty part. */
		p->close_missing = true;
	} else if (!closed) {
		/* Repair a missing close delimiter: the last part runs to the end, less
		 * one line end (which would have belonged to the close delimiter). */
		size_t end = be;
		struct mime_part *c;

		if (end > part_start && b[end - 1] == '\n')
			end--;
		if (end > part_start && b[end - 1] == '\r')
			end--;
		c = parse_entity(ps, b, part_start, end, p, (unsigned)p->nchildren + 1, in_digest);
		if (c == NULL)
			return false;
		add_child(p, c, &ccap);
		p->close_missing = true;
	}
	if (p->nchildren == 0) {
		perr(ps, p, "multipart/%s has no body parts", p->subtype);
		return false;
	}
	return true;
}

static bool
parse_message(struct parser *ps, struct mime_part *p)
{
	const char *b;
	size_t bs, be, cap = 0;
	struct mime_part *inner;

	if (!composite_body(ps, p, &b, &bs, &be))
		return false;
	if ((inner = parse_entity(ps, b, bs, be, p, 1, false)) == NULL)
		return false;
	add_child(p, inner, &cap);
	return true;
}

static struct mime_part *
parse_entity(struct parser *ps, const char *buf, size_t start, size_t end, struct mime_part *parent,
    unsigned index, bool in_digest)
{
	struct mime_part *p = xcalloc(1, sizeof(*p));
	bool ok = false;

	p->buf = buf;
	p->parent = parent;
	p->index = index;
	p->depth = parent != NULL ? parent->depth + 1 : 0;
	p->span.start = start;
	p->span.end = end;
	p->cte = MIME_CTE_NONE;
	if (p->depth > MIME_MAX_DEPTH) {
		perr(ps, p, "MIME nesting is deeper than %d levels", MIME_MAX_DEPTH);
		goto out;
	}
	if (++ps->nparts > MIME_MAX_PARTS) {
		perr(ps, p, "more than %d MIME parts", MIME_MAX_PARTS);
		goto out;
	}
	if (!parse_header(ps, p, start, end) || !parse_content_fields(ps, p, in_digest))
		goto out;
	if (strcmp(p->type, "multipart") == 0) {
		p->kind = MIME_MULTIPART;
		ok = parse_multipart(ps, p);
	} else if (mime_part_is(p, "message", "rfc822") || mime_part_is(p, "message", "global")) {
		p->kind = MIME_MESSAGE;
		ok = parse_message(ps, p);
	} else {
		p->kind = MIME_LEAF;
		ok = true;
	}
out:
	if (!ok)
		mime_part_free(&p);
	return p;
}

struct mime_part *
mime_parse(const char *msg, size_t len, struct kerr *err)
{
	struct parser ps = { .len = len, .err = err };

	if (len == 0) {
		kerr_set(err, KERR_PERM, "malformed message: it is empty");
		return NULL;
	}
	return parse_entity(&ps, msg, 0, len, NULL, 1, false);
}

void
mime_part_free(struct mime_part **pp)
{
	struct mime_part *p;

	if (pp == NULL || (p = *pp) == NULL)
		return;
	for (size_t i = 0; i < p->nchildren; i++)
		mime_part_free(&p->children[i]);
	free(p->children);
	free(p->delims);
	free(p->fields);
	free(p->type);
	free(p->subtype);
	params_free(p->params, p->nparams);
	free(p->disposition);
	free(p->filename);
	free(p->decoded);
	free(p);
	*pp = NULL;
}
