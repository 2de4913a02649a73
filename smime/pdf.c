/*
 * pdf.c - finding the signature dictionaries of a PDF (see pdf.h and
 * docs/PDF-SIGNATURES.md).
 *
 * How.  One pass over the file with a PDF tokenizer (ISO 32000-1 7.2, 7.3):
 * comments, literal strings (nested parentheses, escapes), hex strings and
 * names are whole tokens, so nothing inside them is ever read as structure,
 * and the data of every stream is skipped without being tokenized (by its
 * /Length when that is a direct integer followed by "endstream", else up to
 * the next "endstream").  Over the tokens runs a small stack parser of
 * indirect objects, "N G obj ... endobj", with dictionaries and arrays.  A
 * signature dictionary is a complete (closed) dictionary inside an indirect
 * object that has /ByteRange, or whose /Type is /Sig or /DocTimeStamp and that
 * has /Contents.  The parser knows where each dictionary and each value starts
 * and ends, so the ByteRange check compares offsets, never searches text: the
 * gap must begin and end exactly where this dictionary's /Contents token does.
 * Every byte the parser reads before the gap is signed, and the gap can only
 * be a hex string, so the reading of a signed revision cannot be changed by
 * the unsigned bytes.  Everything is linear in the file's size: each byte is
 * lexed once, stream data is skipped with memmem(), and the little that is
 * kept for field names and DocMDP is sorted once at the end.
 *
 * What is not read, on purpose.  No xref table or xref stream is followed: the
 * scan sees the objects of every revision, including ones a later revision
 * replaced or freed, and reports every signature dictionary it meets (a
 * replaced one still covers only its own revision, so it reads as "not the
 * whole file", which is the truth about the bytes).  Object streams are not
 * decompressed (no zlib): a signature dictionary must be a direct object in
 * the file, as its /Contents must be byte-addressable; fields, the catalog's
 * /Perms and SigRef dictionaries inside object streams are not seen, so the
 * field name and the certification flag are best effort.  In an encrypted
 * file (/Encrypt in a trailer or an xref stream) /Contents is not encrypted
 * (ISO 32000-1 7.6.1) but every other string is: name, reason, location,
 * signing_time and field are NULL there.
 *
 * Refused (reported, byte_range_ok false): a /ByteRange that is not a direct
 * array of exactly four non-negative integers starting with 0 (references,
 * reals, out-of-range numbers, more than two ranges); a gap that is not
 * exactly this dictionary's /Contents token, or a /Contents that is not a
 * well-formed hex string (or is given by reference); a duplicate /ByteRange
 * or /Contents key or any syntax error in the dictionary; a second range
 * past the end of the file; a dictionary that ends after the signed bytes.
 * Recovery from broken syntax: "N G obj" ends an object left open; endobj,
 * stream, endstream, xref, trailer and startxref end any open containers; an
 * unclosed dictionary is never a signature; an unterminated string or stream
 * runs to the end of the file (what follows is not found: that errs towards
 * "changed after signing", never towards "covers the whole file").
 *
 * Limits (inputs beyond them give the answer described, never more work):
 *   PDF_MAX_SIGS      1024 signature dictionaries; more is a KERR_PERM error
 *   PDF_MAX_DEPTH     32 nested dictionaries/arrays; deeper values are skipped
 *                     and the enclosing dictionaries marked malformed
 *   PDF_MAX_CONTENTS  8 MiB of decoded /Contents; larger gives contents NULL
 *   PDF_MAX_TEXT      4096 bytes of a decoded text string; longer is cut
 *   PDF_MAX_NAME      127 bytes of a decoded name (the PDF 1.7 limit)
 *   PDF_MAX_RECORDS   262144 field dictionaries remembered for names
 *   PDF_MAX_FACTS     4096 DocMDP-related objects remembered
 *   PDF_MAX_LEVELS    16 /Parent levels in a field name
 *   PDF_MAX_BER_DEPTH 32 nested indefinite-length BER values in /Contents
 * Numbers that do not fit an int64_t are kept saturated and never accepted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "smime/pdf.h"

#define PDF_SNIFF_WINDOW        1024
#define PDF_MAX_SIGS            1024
#define PDF_MAX_DEPTH           32
#define PDF_MAX_CONTENTS        ((size_t)8 * 1024 * 1024)
#define PDF_MAX_TEXT            4096
#define PDF_MAX_NAME            127
#define PDF_MAX_RECORDS         262144
#define PDF_MAX_FACTS           4096
#define PDF_MAX_LEVELS          16
#define PDF_MAX_BER_DEPTH       32
#define PDF_MAX_REFS            64      /* /Perms targets and /Perms references kept */
#define PDF_MAX_SIGREFS         4       /* /Reference elements given by reference */

/* --- bytes --- */

/* Character classes (ISO 32000-1 7.2.2): white-space, delimiter, regular. */
enum { CL_REGULAR, CL_WS, CL_DELIM };

static const unsigned char char_class[256] = {
	['\0'] = CL_WS, ['\t'] = CL_WS, ['\n'] = CL_WS, ['\f'] = CL_WS, ['\r'] = CL_WS, [' '] = CL_WS,
	['('] = CL_DELIM, [')'] = CL_DELIM, ['<'] = CL_DELIM, ['>'] = CL_DELIM, ['['] = CL_DELIM,
	[']'] = CL_DELIM, ['{'] = CL_DELIM, ['}'] = CL_DELIM, ['/'] = CL_DELIM, ['%'] = CL_DELIM,
};

static bool
is_ws(unsigned char c)
{
	return char_class[c] == CL_WS;
}

static bool
is_regular(unsigned char c)
{
	return char_class[c] == CL_REGULAR;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* --- tokens --- */

enum tk {
	TK_EOF, TK_INT, TK_REAL, TK_NAME, TK_LSTR, TK_HSTR,
	TK_DICT_OPEN, TK_DICT_CLOSE, TK_ARR_OPEN, TK_ARR_CLOSE, TK_KW, TK_BAD,
};

struct tok {
	enum tk type;           /* TK_EOF also means "absent" where a token is remembered */
	bool bad;               /* INT: out of range; LSTR/HSTR: unterminated or bad digits */
	size_t start, end;      /* [start, end) in the input, delimiters included */
	int64_t ival;           /* TK_INT (saturated when bad) */
};

struct lexer {
	const unsigned char *d; /* borrowed: the caller's input */
	size_t len;
	size_t pos;             /* where the next token is lexed */
	struct tok la[4];       /* lookahead (at most 3), a ring: la[head] comes next */
	size_t head, nla;
};

static size_t
lex_literal(const unsigned char *d, size_t n, size_t i, struct tok *t)
{
	size_t depth = 0;

	t->type = TK_LSTR;
	for (; i < n; i++) {
		if (d[i] == '\\') {
			i++;            /* the escaped byte, whatever it is */
		} else if (d[i] == '(') {
			depth++;
		} else if (d[i] == ')' && --depth == 0) {
			return i + 1;
		}
	}
	t->bad = true;          /* unterminated: it runs to the end of the file */
	return n;
}

static size_t
lex_hex(const unsigned char *d, size_t n, size_t i, struct tok *t)
{
	t->type = TK_HSTR;
	for (i++; i < n && d[i] != '>'; i++)
		if (hexval(d[i]) < 0 && !is_ws(d[i]))
			t->bad = true;
	if (i == n) {
		t->bad = true;
		return n;
	}
	return i + 1;
}

/* A run of regular characters: an integer, a real or a keyword. */
static void
classify(const unsigned char *d, size_t s, size_t e, struct tok *t)
{
	bool neg = false, digits = false, dot = false;
	uint64_t v = 0;
	size_t i = s;

	if (i < e && (d[i] == '+' || d[i] == '-')) {
		neg = d[i] == '-';
		i++;
	}
	for (; i < e; i++) {
		if (d[i] >= '0' && d[i] <= '9') {
			digits = true;
			if (!dot && !t->bad) {
				if (v >= (uint64_t)INT64_MAX / 10 &&
				    (v > (uint64_t)INT64_MAX / 10 || (uint64_t)(d[i] - '0') > (uint64_t)INT64_MAX % 10))
					t->bad = true;
				else
					v = v * 10 + (uint64_t)(d[i] - '0');
			}
		} else if (d[i] == '.' && !dot) {
			dot = true;
		} else {
			t->type = TK_KW;
			t->bad = false;
			return;
		}
	}
	if (!digits) {
		t->type = TK_KW;
		t->bad = false;
	} else if (dot) {
		t->type = TK_REAL;
		t->bad = false;
	} else {
		t->type = TK_INT;
		if (t->bad)
			t->ival = neg ? INT64_MIN : INT64_MAX;
		else
			t->ival = neg ? -(int64_t)v : (int64_t)v;
	}
}

static void
lex_one(struct lexer *lx, struct tok *t)
{
	const unsigned char *d = lx->d;
	size_t n = lx->len, i = lx->pos;

	memset(t, 0, sizeof(*t));
	for (;;) {
		while (i < n && is_ws(d[i]))
			i++;
		if (i < n && d[i] == '%') {
			while (i < n && d[i] != '\r' && d[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	t->start = i;
	if (i >= n) {
		t->type = TK_EOF;
		t->start = t->end = lx->pos = n;
		return;
	}
	switch (d[i]) {
	case '(':
		i = lex_literal(d, n, i, t);
		break;
	case '<':
		if (i + 1 < n && d[i + 1] == '<') {
			t->type = TK_DICT_OPEN;
			i += 2;
		} else {
			i = lex_hex(d, n, i, t);
		}
		break;
	case '>':
		if (i + 1 < n && d[i + 1] == '>') {
			t->type = TK_DICT_CLOSE;
			i += 2;
		} else {
			t->type = TK_BAD;
			i++;
		}
		break;
	case '[':
		t->type = TK_ARR_OPEN;
		i++;
		break;
	case ']':
		t->type = TK_ARR_CLOSE;
		i++;
		break;
	case '/':
		t->type = TK_NAME;
		for (i++; i < n && is_regular(d[i]); i++)
			;
		break;
	case ')': case '{': case '}':
		t->type = TK_BAD;
		i++;
		break;
	default:
		for (; i < n && is_regular(d[i]); i++)
			;
		classify(d, t->start, i, t);
		break;
	}
	t->end = lx->pos = i;
}

static const struct tok *
peek(struct lexer *lx, size_t k)
{
	while (lx->nla <= k) {
		lex_one(lx, &lx->la[(lx->head + lx->nla) & 3]);
		lx->nla++;
	}
	return &lx->la[(lx->head + k) & 3];
}

static struct tok
take(struct lexer *lx)
{
	struct tok t = *peek(lx, 0);

	lx->head = (lx->head + 1) & 3;
	lx->nla--;
	return t;
}

static bool
tok_is(const struct lexer *lx, const struct tok *t, const char *kw)
{
	size_t n = strlen(kw);      /* kw is a literal: the compiler knows n */

	return t->type == TK_KW && t->end - t->start == n && memcmp(lx->d + t->start, kw, n) == 0;
}

/* The name's bytes with #xx decoded, NUL-terminated, into out[PDF_MAX_NAME + 1];
 * false when longer than PDF_MAX_NAME or holding a NUL. */
static bool
name_decode(const unsigned char *d, const struct tok *t, char *out)
{
	size_t k = 0;

	for (size_t i = t->start + 1; i < t->end; i++) {
		int c = d[i];

		if (c == '#' && i + 2 < t->end && hexval(d[i + 1]) >= 0 && hexval(d[i + 2]) >= 0) {
			c = hexval(d[i + 1]) * 16 + hexval(d[i + 2]);
			i += 2;
		}
		if (c == 0 || k == PDF_MAX_NAME)
			return false;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return true;
}

static bool
name_is(const unsigned char *d, const struct tok *t, const char *want)
{
	char nm[PDF_MAX_NAME + 1];

	return t->type == TK_NAME && name_decode(d, t, nm) && strcmp(nm, want) == 0;
}

/* --- string values --- */

/* Decode a string token (literal or hex) into out, which has room for cap
 * bytes; returns how many were written (the rest is cut). */
static size_t
str_bytes(const unsigned char *d, const struct tok *t, unsigned char *out, size_t cap)
{
	size_t k = 0, i = t->start + 1;
	size_t end = t->end;

	if (t->type == TK_HSTR) {
		int hi = -1;

		if (end > i && d[end - 1] == '>')
			end--;
		for (; i < end && k < cap; i++) {
			int v = hexval(d[i]);

			if (v < 0)
				continue;
			if (hi < 0) {
				hi = v;
			} else {
				out[k++] = (unsigned char)(hi << 4 | v);
				hi = -1;
			}
		}
		if (hi >= 0 && k < cap)
			out[k++] = (unsigned char)(hi << 4);    /* an odd last digit is followed by 0 */
		return k;
	}
	if (!t->bad && end > i)
		end--;                                  /* the closing ')' */
	while (i < end && k < cap) {
		unsigned char c = d[i++];

		if (c == '\r') {                        /* an end of line reads as LF */
			if (i < end && d[i] == '\n')
				i++;
			out[k++] = '\n';
			continue;
		}
		if (c != '\\') {
			out[k++] = c;
			continue;
		}
		if (i >= end)
			break;
		c = d[i++];
		switch (c) {
		case 'n': out[k++] = '\n'; break;
		case 'r': out[k++] = '\r'; break;
		case 't': out[k++] = '\t'; break;
		case 'b': out[k++] = '\b'; break;
		case 'f': out[k++] = '\f'; break;
		case '\r':                              /* a line continuation */
			if (i < end && d[i] == '\n')
				i++;
			break;
		case '\n':
			break;
		default:
			if (c >= '0' && c <= '7') {
				unsigned v = (unsigned)(c - '0');

				for (int j = 0; j < 2 && i < end && d[i] >= '0' && d[i] <= '7'; j++)
					v = v * 8 + (unsigned)(d[i++] - '0');
				out[k++] = (unsigned char)v;
			} else {
				out[k++] = c;           /* \( \) \\ and unknown escapes */
			}
			break;
		}
	}
	return k;
}

/* PDFDocEncoding (ISO 32000-1 D.2) where it differs from Latin-1; 0xFFFD undefined. */
static const uint16_t pdfdoc_18[8] = {
	0x02D8, 0x02C7, 0x02C6, 0x02D9, 0x02DD, 0x02DB, 0x02DA, 0x02DC,
};
static const uint16_t pdfdoc_80[33] = {
	0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044,
	0x2039, 0x203A, 0x2212, 0x2030, 0x201E, 0x201C, 0x201D, 0x2018,
	0x2019, 0x201A, 0x2122, 0xFB01, 0xFB02, 0x0141, 0x0152, 0x0160,
	0x0178, 0x017D, 0x0131, 0x0142, 0x0153, 0x0161, 0x017E, 0xFFFD,
	0x20AC,
};

static uint32_t
pdfdoc_cp(unsigned char c)
{
	if (c >= 0x18 && c <= 0x1F)
		return pdfdoc_18[c - 0x18];
	if (c >= 0x80 && c <= 0xA0)
		return pdfdoc_80[c - 0x80];
	if (c == 0x7F || c == 0xAD)
		return 0xFFFD;
	return c;
}

/* Append one code point as UTF-8; controls other than TAB, LF and CR, and
 * anything that is not a Unicode scalar value, become U+FFFD. */
static void
put_cp(struct buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp < 0xA0) ||
	    (cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(b, u, n);
}

/* One UTF-8 sequence at s[0..n): the code point (0xFFFD when invalid) and
 * how many bytes it took (at least 1). */
static uint32_t
utf8_next(const unsigned char *s, size_t n, size_t *used)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;
	uint32_t cp;

	*used = 1;
	if (s[0] < 0x80)
		return s[0];
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0xFFFD;
	}
	if (len > n)
		return 0xFFFD;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0xFFFD;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
		return 0xFFFD;
	*used = len;
	return cp;
}

/* A PDF text string's bytes (ISO 32000-2 7.9.2.2) as UTF-8: UTF-16BE after
 * FE FF, UTF-8 after EF BB BF, else PDFDocEncoding.  Language escapes
 * (ESC lang ESC) in the Unicode forms are dropped.  Caller owns the result. */
static char *
text_utf8(const unsigned char *s, size_t n)
{
	struct buf b = BUF_INIT;
	bool in_esc = false;

	if (n >= 2 && s[0] == 0xFE && s[1] == 0xFF) {
		for (size_t i = 2; i < n; i += 2) {
			uint32_t cp;

			if (i + 1 >= n) {
				put_cp(&b, 0xFFFD);     /* an odd byte at the end */
				break;
			}
			cp = (uint32_t)s[i] << 8 | s[i + 1];
			if (cp == 0x1B) {
				in_esc = !in_esc;
				continue;
			}
			if (in_esc)
				continue;
			if (cp >= 0xD800 && cp < 0xDC00 && i + 3 < n) {
				uint32_t lo = (uint32_t)s[i + 2] << 8 | s[i + 3];

				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					i += 2;
				}
			}
			put_cp(&b, cp);         /* a lone surrogate becomes U+FFFD there */
		}
	} else if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
		for (size_t i = 3, used; i < n; i += used) {
			uint32_t cp = utf8_next(s + i, n - i, &used);

			if (cp == 0x1B) {
				in_esc = !in_esc;
				continue;
			}
			if (!in_esc)
				put_cp(&b, cp);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			put_cp(&b, pdfdoc_cp(s[i]));
	}
	buf_appends(&b, "");            /* an empty string is "", not NULL */
	return buf_steal(&b, NULL);
}

/* The UTF-8 text of a string token, or NULL when t is not a string. */
static char *
tok_text(const unsigned char *d, const struct tok *t)
{
	unsigned char raw[PDF_MAX_TEXT];
	size_t n;

	if (t->type != TK_LSTR && t->type != TK_HSTR)
		return NULL;
	n = str_bytes(d, t, raw, sizeof(raw));
	if (n == sizeof(raw) && raw[0] == 0xFE && raw[1] == 0xFF && n % 2 != 0)
		n--;                            /* cut on a UTF-16 unit */
	return text_utf8(raw, n);
}

/* --- BER, to know where the CMS in /Contents ends --- */

/* Length of the BER element at p[0..n), or 0 when there is none. */
static size_t
ber_len(const unsigned char *p, size_t n, unsigned depth)
{
	size_t i = 1, len = 0;
	unsigned char l;

	if (n < 2 || depth > PDF_MAX_BER_DEPTH)
		return 0;
	if ((p[0] & 0x1F) == 0x1F) {            /* a high tag number: base-128 bytes */
		do {
			if (i >= n || i > 5)
				return 0;
		} while (p[i++] & 0x80);
	}
	if (i >= n)
		return 0;
	l = p[i++];
	if (l == 0x80) {                        /* indefinite: children up to 00 00 */
		if (!(p[0] & 0x20))
			return 0;
		for (;;) {
			size_t c;

			if (n - i < 2)
				return 0;
			if (p[i] == 0 && p[i + 1] == 0)
				return i + 2;
			c = ber_len(p + i, n - i, depth + 1);
			if (c == 0)
				return 0;
			i += c;
		}
	}
	if (l < 0x80) {
		len = l;
	} else {
		size_t k = l & 0x7F;

		if (k > 4)
			return 0;
		for (; k > 0; k--) {
			if (i >= n)
				return 0;
			len = len << 8 | p[i++];
		}
	}
	if (len > n - i)
		return 0;
	return i + len;
}

/* The length without the zero padding after the DER (or BER) element. */
static size_t
der_trim(const unsigned char *b, size_t n)
{
	size_t l;

	if (n == 0 || b[0] == 0)
		return n;
	l = ber_len(b, n, 0);
	if (l == 0)
		return n;
	for (size_t i = l; i < n; i++)
		if (b[i] != 0)
			return n;
	return l;
}

/* --- the object parser --- */

enum key {
	K_NONE, K_OTHER, K_TYPE, K_BYTERANGE, K_CONTENTS, K_SUBFILTER, K_M, K_NAME, K_REASON,
	K_LOCATION, K_T, K_V, K_PARENT, K_PERMS, K_DOCMDP, K_REFERENCE, K_TRANSFORMMETHOD,
	K_TRANSFORMPARAMS, K_P, K_ENCRYPT, K_LENGTH,
	K_ELEM,                 /* not a key: the container is an array element */
};

#define KEY(s, k) { s, sizeof(s) - 1, k }

static const struct {
	const char *name;
	size_t len;
	enum key key;
} key_names[] = {
	KEY("Type", K_TYPE), KEY("ByteRange", K_BYTERANGE), KEY("Contents", K_CONTENTS),
	KEY("SubFilter", K_SUBFILTER), KEY("M", K_M), KEY("Name", K_NAME), KEY("Reason", K_REASON),
	KEY("Location", K_LOCATION), KEY("T", K_T), KEY("V", K_V), KEY("Parent", K_PARENT),
	KEY("Perms", K_PERMS), KEY("DocMDP", K_DOCMDP), KEY("Reference", K_REFERENCE),
	KEY("TransformMethod", K_TRANSFORMMETHOD), KEY("TransformParams", K_TRANSFORMPARAMS),
	KEY("P", K_P), KEY("Encrypt", K_ENCRYPT), KEY("Length", K_LENGTH),
};

#define KEY_BIT(k) (UINT32_C(1) << (k))

enum dtype { DT_OTHER, DT_SIG, DT_DOCTS, DT_SIGREF, DT_XREF };

struct ref {
	int64_t num, gen;       /* num < 0: none */
};

#define NOREF ((struct ref){ -1, 0 })

static bool
ref_eq(struct ref a, struct ref b)
{
	return a.num >= 0 && a.num == b.num && a.gen == b.gen;
}

/* What a dictionary being parsed has shown so far. */
struct dict {
	size_t start;                   /* offset of its "<<" */
	uint32_t seen;                  /* KEY_BIT of the known keys met */
	bool bad;                       /* syntax error, duplicate key, or too deep inside */
	enum dtype type;
	struct tok subfilter, contents, m, name, reason, location, t;   /* TK_EOF: absent */
	int64_t br[4];                  /* /ByteRange's first four elements */
	size_t br_n;                    /* how many elements it has */
	bool br_bad;                    /* /ByteRange is not an array of plain integers */
	struct ref v, parent, docmdp, perms, tparams;
	int v_sig;                      /* a direct signature dictionary as /V, or -1 */
	struct ref sigrefs[PDF_MAX_SIGREFS];    /* /Reference elements given by reference */
	size_t nsigrefs;
	bool mdp;                       /* /Reference holds a direct DocMDP SigRef ... */
	int mdp_p;                      /* ... with this /P (0: not there) */
	struct ref mdp_tparams;         /* ... or its /TransformParams by reference */
	bool tm_docmdp;                 /* /TransformMethod /DocMDP */
	int p;                          /* /P when an integer 1..3, else 0 */
	int tp_p;                       /* the /P of a direct /TransformParams dictionary */
	bool encrypt;                   /* has /Encrypt */
	int64_t length;                 /* /Length when a direct integer, else -1 */
};

struct frame {
	bool is_dict;
	enum key pkey;          /* what this container is the value of: a key, K_ELEM or K_NONE */
	enum key key;           /* dict: the key whose value comes next; K_NONE: a key comes next */
	struct dict d;          /* dict frames only */
};

/* A signature dictionary found, with what resolving its field and DocMDP needs. */
struct found {
	struct pdf_sig s;
	size_t order;
	bool has_id;
	struct ref id;                  /* the indirect object it is the value of */
	struct ref sigrefs[PDF_MAX_SIGREFS];
	size_t nsigrefs;
	bool mdp;
	int mdp_p;
	struct ref mdp_tparams;
};

/* A dictionary with /T or with a /V worth following: a field, maybe. */
struct record {
	bool has_id;
	struct ref id, parent, v;
	int v_sig;
	struct tok t;
};

/* An object the DocMDP chain may pass through: SigRef, TransformParams, /Perms. */
struct fact {
	struct ref id;
	bool tm_docmdp;
	int p, tp_p;
	struct ref tparams, docmdp;
};

struct parser {
	struct lexer lx;
	struct frame fr[PDF_MAX_DEPTH];
	size_t depth;                   /* frames in use */
	size_t deep;                    /* containers open beyond PDF_MAX_DEPTH */
	bool in_obj;                    /* between "N G obj" and "endobj" */
	struct ref obj;
	bool trailer_next;              /* "trailer" was the last top-level token */
	bool top_is_trailer;            /* fr[0] is the trailer dictionary */
	bool after_dict;                /* the last token closed a top-level dictionary */
	int64_t after_length;           /* ... whose /Length was this */
	bool encrypted;
	struct found *sigs;             /* owned, with what each one owns, until moved out */
	size_t nsigs, capsigs;
	bool too_many;
	struct record *recs;            /* owned */
	size_t nrecs, caprecs;
	struct fact *facts;             /* owned */
	size_t nfacts, capfacts;
	struct ref certrefs[PDF_MAX_REFS];      /* /Perms /DocMDP targets */
	size_t ncertrefs;
	struct ref permsrefs[PDF_MAX_REFS];     /* /Perms given by reference */
	size_t npermsrefs;
};

static void
dict_init(struct dict *d, size_t start)
{
	memset(d, 0, sizeof(*d));       /* every tok is TK_EOF: absent */
	d->start = start;
	d->v = d->parent = d->docmdp = d->perms = d->tparams = d->mdp_tparams = NOREF;
	d->v_sig = -1;
	d->length = -1;
}

static void
abandon(struct parser *p)
{
	p->depth = 0;
	p->deep = 0;
	p->top_is_trailer = false;
}

static void
push(struct parser *p, bool is_dict, enum key pkey, size_t start)
{
	struct frame *f;

	if (p->depth == PDF_MAX_DEPTH) {
		for (size_t i = 0; i < p->depth; i++)
			if (p->fr[i].is_dict)
				p->fr[i].d.bad = true;
		p->deep = 1;
		return;
	}
	f = &p->fr[p->depth++];
	f->is_dict = is_dict;
	f->pkey = pkey;
	f->key = K_NONE;
	if (is_dict)
		dict_init(&f->d, start);
}

static void
add_ref(struct ref *v, size_t *n, struct ref r)
{
	for (size_t i = 0; i < *n; i++)
		if (ref_eq(v[i], r))
			return;
	if (*n < PDF_MAX_REFS && r.num >= 0)
		v[(*n)++] = r;
}

static bool
hex_wellformed(const unsigned char *d, const struct tok *t)
{
	size_t digits = 0;

	if (t->type != TK_HSTR || t->bad)
		return false;
	for (size_t i = t->start + 1; i + 1 < t->end; i++)
		if (hexval(d[i]) >= 0)
			digits++;
	return digits % 2 == 0;
}

static char *
name_text(const unsigned char *d, const struct tok *t)
{
	char nm[PDF_MAX_NAME + 1];

	if (t->type != TK_NAME || !name_decode(d, t, nm))
		return NULL;
	for (char *q = nm; *q != '\0'; q++)
		if ((unsigned char)*q < '!' || (unsigned char)*q > '~')
			*q = '?';
	return xstrdup(nm);
}

static void
decode_contents(const unsigned char *d, const struct tok *t, struct pdf_sig *s)
{
	size_t cap, n;
	unsigned char *b;

	if (t->type != TK_LSTR && t->type != TK_HSTR)
		return;
	cap = t->end - t->start;        /* decoding never grows a string */
	if (t->type == TK_HSTR)
		cap = cap / 2 + 1;
	if (cap > PDF_MAX_CONTENTS + 1)
		cap = PDF_MAX_CONTENTS + 1;
	b = xmalloc(cap);
	n = str_bytes(d, t, b, cap);
	if (n > PDF_MAX_CONTENTS) {
		free(b);
		return;
	}
	s->contents = b;
	s->contents_len = der_trim(b, n);
}

static int
add_sig(struct parser *p, const struct dict *dd, size_t end, bool obj_value)
{
	const unsigned char *d = p->lx.d;
	size_t len = p->lx.len;
	struct found *f;
	struct pdf_sig *s;
	char *sf;

	if (p->nsigs == PDF_MAX_SIGS) {
		p->too_many = true;
		return -1;
	}
	if (p->nsigs == p->capsigs) {
		p->capsigs = p->capsigs ? 2 * p->capsigs : 8;
		p->sigs = xreallocarray(p->sigs, p->capsigs, sizeof(*p->sigs));
	}
	f = &p->sigs[p->nsigs];
	memset(f, 0, sizeof(*f));
	f->order = p->nsigs;
	f->has_id = obj_value && p->obj.num >= 0;
	f->id = f->has_id ? p->obj : NOREF;
	memcpy(f->sigrefs, dd->sigrefs, sizeof(f->sigrefs));
	f->nsigrefs = dd->nsigrefs;
	f->mdp = dd->mdp;
	f->mdp_p = dd->mdp_p;
	f->mdp_tparams = dd->mdp_tparams;

	s = &f->s;
	s->subfilter = sf = name_text(d, &dd->subfilter);
	s->type = dd->type == DT_DOCTS || (sf != NULL && strcmp(sf, "ETSI.RFC3161") == 0) ?
	    PDF_SIG_DOC_TIMESTAMP : PDF_SIG_SIGNATURE;
	s->name = tok_text(d, &dd->name);
	s->reason = tok_text(d, &dd->reason);
	s->location = tok_text(d, &dd->location);
	s->signing_time = tok_text(d, &dd->m);
	for (size_t i = 0; i < 4 && i < dd->br_n; i++)
		s->byte_range[i] = dd->br[i];
	decode_contents(d, &dd->contents, s);
	s->dict_offset = dd->start;

	if (!dd->bad && (dd->seen & KEY_BIT(K_BYTERANGE)) && !dd->br_bad && dd->br_n == 4 &&
	    hex_wellformed(d, &dd->contents) &&
	    dd->br[0] == 0 && dd->br[1] >= 0 && dd->br[2] >= 0 && dd->br[3] >= 0 &&
	    (uint64_t)dd->br[1] == dd->contents.start && (uint64_t)dd->br[2] == dd->contents.end &&
	    (uint64_t)dd->br[3] <= len - dd->contents.end &&
	    end <= dd->contents.end + (uint64_t)dd->br[3]) {
		s->byte_range_ok = true;
		s->covers_whole_file = dd->contents.end + (uint64_t)dd->br[3] == len;
	}
	return (int)p->nsigs++;
}

static void
add_record(struct parser *p, const struct dict *d, bool obj_value)
{
	struct record *r;

	if (p->nrecs == PDF_MAX_RECORDS)
		return;                 /* best effort: later fields go unnamed */
	if (p->nrecs == p->caprecs) {
		p->caprecs = p->caprecs ? 2 * p->caprecs : 64;
		p->recs = xreallocarray(p->recs, p->caprecs, sizeof(*p->recs));
	}
	r = &p->recs[p->nrecs++];
	r->has_id = obj_value && p->obj.num >= 0;
	r->id = r->has_id ? p->obj : NOREF;
	r->parent = d->parent;
	r->v = d->v;
	r->v_sig = d->v_sig >= 0 ? d->v_sig : -1;
	r->t = d->t;
}

static void
add_fact(struct parser *p, const struct dict *d)
{
	struct fact *f;

	if (p->nfacts == PDF_MAX_FACTS || p->obj.num < 0)
		return;
	if (p->nfacts == p->capfacts) {
		p->capfacts = p->capfacts ? 2 * p->capfacts : 16;
		p->facts = xreallocarray(p->facts, p->capfacts, sizeof(*p->facts));
	}
	f = &p->facts[p->nfacts++];
	f->id = p->obj;
	f->tm_docmdp = d->tm_docmdp;
	f->p = d->p;
	f->tp_p = d->tp_p;
	f->tparams = d->tparams;
	f->docmdp = d->docmdp;
}

static bool
is_sig_dict(const struct dict *d)
{
	return (d->seen & KEY_BIT(K_BYTERANGE)) ||
	    ((d->type == DT_SIG || d->type == DT_DOCTS) && (d->seen & KEY_BIT(K_CONTENTS)));
}

static void
close_dict(struct parser *p, size_t end)
{
	struct frame *f = &p->fr[p->depth - 1];
	struct dict *d = &f->d;
	bool top = p->depth == 1;
	int sig = -1;

	if (p->in_obj) {
		if (is_sig_dict(d))
			sig = add_sig(p, d, end, top);
		if (d->t.type != TK_EOF || d->v.num >= 0 || d->v_sig >= 0)
			add_record(p, d, top);
		if (top && (d->tm_docmdp || d->p != 0 || d->tp_p != 0 || d->docmdp.num >= 0 ||
		    d->tparams.num >= 0))
			add_fact(p, d);
	}
	if (d->encrypt && ((top && p->top_is_trailer) || d->type == DT_XREF))
		p->encrypted = true;
	if (d->perms.num >= 0)
		add_ref(p->permsrefs, &p->npermsrefs, d->perms);
	p->depth--;
	if (top) {
		p->after_dict = true;
		p->after_length = d->length;
		p->top_is_trailer = false;
		return;
	}

	struct frame *up = &p->fr[p->depth - 1];

	switch (f->pkey) {
	case K_V:
		if (up->is_dict && sig >= 0)
			up->d.v_sig = sig;
		break;
	case K_TRANSFORMPARAMS:
		if (up->is_dict)
			up->d.tp_p = d->p;
		break;
	case K_PERMS:
		if (d->docmdp.num >= 0)
			add_ref(p->certrefs, &p->ncertrefs, d->docmdp);
		break;
	case K_ENCRYPT:
		if (up->is_dict)
			up->d.encrypt = true;
		break;
	case K_ELEM:
		/* a SigRef inside a signature dictionary's /Reference array */
		if (!up->is_dict && up->pkey == K_REFERENCE && p->depth >= 2 && d->tm_docmdp) {
			struct dict *sd = &p->fr[p->depth - 2].d;

			sd->mdp = true;
			sd->mdp_p = d->tp_p;
			sd->mdp_tparams = d->tparams;
		}
		break;
	default:
		break;
	}
}

static enum key
key_of(const unsigned char *d, const struct tok *t)
{
	char nm[PDF_MAX_NAME + 1];
	const char *name = (const char *)d + t->start + 1;
	size_t len = t->end - t->start - 1;

	if (len > 15)                   /* longer than any key we know: "TransformMethod" */
		return K_OTHER;
	if (memchr(name, '#', len) != NULL) {
		if (!name_decode(d, t, nm))
			return K_OTHER;
		name = nm;
		len = strlen(nm);
	}
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_names[i].len == len && memcmp(name, key_names[i].name, len) == 0)
			return key_names[i].key;
	return K_OTHER;
}

static enum dtype
dtype_of(const unsigned char *d, const struct tok *t)
{
	if (t->type != TK_NAME || t->end - t->start > 3 * PDF_MAX_NAME + 1)
		return DT_OTHER;
	if (name_is(d, t, "Sig"))
		return DT_SIG;
	if (name_is(d, t, "DocTimeStamp"))
		return DT_DOCTS;
	if (name_is(d, t, "SigRef"))
		return DT_SIGREF;
	if (name_is(d, t, "XRef"))
		return DT_XREF;
	return DT_OTHER;
}

/* A scalar value (r: it was "N G R") for the pending key of dict frame f. */
static void
dict_value(struct parser *p, struct frame *f, const struct tok *t, const struct ref *r)
{
	const unsigned char *d = p->lx.d;
	struct dict *dd = &f->d;
	bool str = t->type == TK_LSTR || t->type == TK_HSTR;

	if (t->type == TK_BAD || (t->type == TK_KW && !tok_is(&p->lx, t, "true") &&
	    !tok_is(&p->lx, t, "false") && !tok_is(&p->lx, t, "null")))
		dd->bad = true;
	switch (f->key) {
	case K_TYPE:
		if (t->type == TK_NAME)
			dd->type = dtype_of(d, t);
		break;
	case K_BYTERANGE:
		dd->br_bad = true;
		break;
	case K_CONTENTS:
		if (str)
			dd->contents = *t;
		break;
	case K_SUBFILTER:
		if (t->type == TK_NAME)
			dd->subfilter = *t;
		break;
	case K_M:
		if (str)
			dd->m = *t;
		break;
	case K_NAME:
		if (str)
			dd->name = *t;
		break;
	case K_REASON:
		if (str)
			dd->reason = *t;
		break;
	case K_LOCATION:
		if (str)
			dd->location = *t;
		break;
	case K_T:
		if (str)
			dd->t = *t;
		break;
	case K_V:
		if (r != NULL)
			dd->v = *r;
		break;
	case K_PARENT:
		if (r != NULL)
			dd->parent = *r;
		break;
	case K_PERMS:
		if (r != NULL)
			dd->perms = *r;
		break;
	case K_DOCMDP:
		if (r != NULL)
			dd->docmdp = *r;
		break;
	case K_TRANSFORMMETHOD:
		dd->tm_docmdp = name_is(d, t, "DocMDP");
		break;
	case K_TRANSFORMPARAMS:
		if (r != NULL)
			dd->tparams = *r;
		break;
	case K_P:
		if (t->type == TK_INT && r == NULL && t->ival >= 1 && t->ival <= 3)
			dd->p = (int)t->ival;
		break;
	case K_ENCRYPT:
		dd->encrypt = true;
		break;
	case K_LENGTH:
		if (t->type == TK_INT && r == NULL && !t->bad && t->ival >= 0)
			dd->length = t->ival;
		break;
	default:
		break;
	}
}

/* A scalar element (or, t NULL, a container) of array frame f. */
static void
array_elem(struct parser *p, struct frame *f, const struct tok *t, const struct ref *r)
{
	struct dict *pd;

	if (p->depth < 2 || !p->fr[p->depth - 2].is_dict)
		return;
	pd = &p->fr[p->depth - 2].d;
	if (f->pkey == K_BYTERANGE) {
		if (t != NULL && t->type == TK_INT && r == NULL && !t->bad) {
			if (pd->br_n < 4)
				pd->br[pd->br_n] = t->ival;
		} else {
			if (t != NULL && t->type == TK_INT && r == NULL && pd->br_n < 4)
				pd->br[pd->br_n] = t->ival;     /* saturated, kept as written */
			pd->br_bad = true;
		}
		pd->br_n++;
	} else if (f->pkey == K_REFERENCE && r != NULL && pd->nsigrefs < PDF_MAX_SIGREFS) {
		pd->sigrefs[pd->nsigrefs++] = *r;
	}
}

/* t is an INT: when "t G R" follows, take it and fill *r. */
static bool
take_ref(struct parser *p, const struct tok *t, struct ref *r)
{
	const struct tok *g = peek(&p->lx, 0);

	if (g->type != TK_INT || !tok_is(&p->lx, peek(&p->lx, 1), "R"))
		return false;
	r->num = t->bad || t->ival < 0 || g->bad || g->ival < 0 ? -1 : t->ival;
	r->gen = g->ival;
	take(&p->lx);
	take(&p->lx);
	return true;
}

static void
mark_bad(struct parser *p)
{
	for (size_t i = p->depth; i-- > 0;) {
		if (p->fr[i].is_dict) {
			p->fr[i].d.bad = true;
			return;
		}
	}
}

/* A token inside a container (p->depth > 0, p->deep == 0). */
static void
on_token(struct parser *p, const struct tok *t)
{
	struct frame *f = &p->fr[p->depth - 1];
	struct ref r;
	bool is_ref = false;

	switch (t->type) {
	case TK_DICT_OPEN:
	case TK_ARR_OPEN:
		if (f->is_dict) {
			enum key k = f->key;

			if (k == K_NONE) {
				f->d.bad = true;        /* a value where a key belongs */
				k = K_OTHER;
			} else if (k == K_BYTERANGE && t->type == TK_DICT_OPEN) {
				f->d.br_bad = true;
			}
			f->key = K_NONE;
			push(p, t->type == TK_DICT_OPEN, k, t->start);
		} else {
			array_elem(p, f, NULL, NULL);
			push(p, t->type == TK_DICT_OPEN, K_ELEM, t->start);
		}
		return;
	case TK_DICT_CLOSE:
		if (f->is_dict) {
			if (f->key != K_NONE)
				f->d.bad = true;        /* a key without a value */
			close_dict(p, t->end);
		} else {
			mark_bad(p);
		}
		return;
	case TK_ARR_CLOSE:
		if (!f->is_dict)
			p->depth--;
		else
			f->d.bad = true;
		return;
	default:
		break;
	}
	if (f->is_dict && f->key == K_NONE) {
		if (t->type == TK_NAME) {
			enum key k = key_of(p->lx.d, t);

			if (k != K_OTHER) {
				if (f->d.seen & KEY_BIT(k))
					f->d.bad = true;        /* a duplicate key */
				f->d.seen |= KEY_BIT(k);
			}
			f->key = k;
		} else {
			f->d.bad = true;
		}
		return;
	}
	if (t->type == TK_INT)
		is_ref = take_ref(p, t, &r);
	if (f->is_dict) {
		dict_value(p, f, t, is_ref ? &r : NULL);
		f->key = K_NONE;
	} else {
		if (t->type == TK_BAD)
			mark_bad(p);
		array_elem(p, f, t, is_ref ? &r : NULL);
	}
}

/* Skip a stream's data: the "stream" keyword ended at pos.  With a direct
 * /Length, the data must be followed by "endstream" (or, in a broken file,
 * "endobj"); otherwise the data runs to the next "endstream". */
static void
skip_stream(struct parser *p, size_t pos, int64_t length)
{
	struct lexer *lx = &p->lx;
	const unsigned char *d = lx->d, *e;
	size_t n = lx->len, start = pos;

	lx->nla = 0;            /* nothing after "stream" is ever looked ahead, but be sure */
	if (start < n && d[start] == '\r')
		start++;
	if (start < n && d[start] == '\n')
		start++;
	if (length >= 0 && (uint64_t)length <= n - start) {
		size_t j = start + (size_t)length;

		while (j < n && is_ws(d[j]))
			j++;
		if (n - j >= 9 && memcmp(d + j, "endstream", 9) == 0) {
			lx->pos = j + 9;
			return;
		}
		if (n - j >= 6 && memcmp(d + j, "endobj", 6) == 0) {
			lx->pos = j;            /* "endstream" left out: the object ends here */
			return;
		}
	}
	e = memmem(d + start, n - start, "endstream", 9);
	lx->pos = e != NULL ? (size_t)(e - d) + 9 : n;
}

static bool
is_structural(const struct lexer *lx, const struct tok *t)
{
	static const char *const kw[] = {
		"obj", "endobj", "stream", "endstream", "xref", "trailer", "startxref",
	};

	if (t->type != TK_KW || t->end - t->start < 3 || t->end - t->start > 9)
		return false;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (tok_is(lx, t, kw[i]))
			return true;
	return false;
}

static void
parse(struct parser *p)
{
	struct lexer *lx = &p->lx;

	for (;;) {
		struct tok t = take(lx);
		bool after_dict = p->after_dict;

		p->after_dict = false;
		if (t.type == TK_EOF)
			break;
		if (t.type == TK_INT && peek(lx, 0)->type == TK_INT && tok_is(lx, peek(lx, 1), "obj")) {
			struct tok g = take(lx);

			take(lx);
			abandon(p);     /* an object left open ends here */
			p->in_obj = true;
			p->trailer_next = false;
			p->obj.num = t.bad || t.ival < 0 || g.bad || g.ival < 0 ? -1 : t.ival;
			p->obj.gen = g.ival;
			continue;
		}
		if (is_structural(lx, &t)) {
			abandon(p);
			if (tok_is(lx, &t, "stream"))
				skip_stream(p, t.end, after_dict ? p->after_length : -1);
			else if (!tok_is(lx, &t, "endstream"))
				p->in_obj = false;
			p->trailer_next = tok_is(lx, &t, "trailer");
			continue;
		}
		if (p->deep > 0) {
			if (t.type == TK_DICT_OPEN || t.type == TK_ARR_OPEN)
				p->deep++;
			else if (t.type == TK_DICT_CLOSE || t.type == TK_ARR_CLOSE)
				p->deep--;
			continue;
		}
		if (p->depth == 0) {
			if (t.type == TK_DICT_OPEN || t.type == TK_ARR_OPEN) {
				push(p, t.type == TK_DICT_OPEN, K_NONE, t.start);
				p->top_is_trailer = p->trailer_next && !p->in_obj;
			}
			p->trailer_next = false;
			continue;
		}
		on_token(p, &t);
	}
	abandon(p);
}

/* --- after the pass: field names and DocMDP --- */

struct idx {
	int64_t num, gen;
	size_t i;
};

static int
idx_cmp(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;

	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The last entry (in file order) for r in a sorted index, or -1. */
static ssize_t
idx_find(const struct idx *v, size_t n, struct ref r)
{
	size_t lo = 0, hi = n;

	if (r.num < 0)
		return -1;
	while (lo < hi) {                       /* first entry > (r, any i) */
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].num < r.num || (v[mid].num == r.num && v[mid].gen <= r.gen))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || v[lo - 1].num != r.num || v[lo - 1].gen != r.gen)
		return -1;
	return (ssize_t)v[lo - 1].i;
}

static const struct fact *
fact_find(const struct parser *p, struct ref r)
{
	for (size_t i = p->nfacts; i-- > 0;)
		if (ref_eq(p->facts[i].id, r))
			return &p->facts[i];
	return NULL;
}

/* The /P of a TransformParams given directly (p) or by reference. */
static int
tparams_p(const struct parser *p, int direct, struct ref tparams)
{
	const struct fact *tp;

	if (direct != 0)
		return direct;
	tp = fact_find(p, tparams);
	return tp != NULL ? tp->p : 0;
}

static void
resolve_docmdp(struct parser *p)
{
	for (size_t i = 0; i < p->npermsrefs; i++) {
		const struct fact *pf = fact_find(p, p->permsrefs[i]);

		if (pf != NULL && pf->docmdp.num >= 0)
			add_ref(p->certrefs, &p->ncertrefs, pf->docmdp);
	}
	for (size_t k = 0; k < p->nsigs; k++) {
		struct found *f = &p->sigs[k];
		bool cert = false, mdp = f->mdp;
		int pval = 0;

		for (size_t i = 0; i < p->ncertrefs && f->has_id; i++)
			if (ref_eq(p->certrefs[i], f->id))
				cert = true;
		if (mdp) {
			pval = tparams_p(p, f->mdp_p, f->mdp_tparams);
		} else {
			for (size_t i = 0; i < f->nsigrefs; i++) {
				const struct fact *sr = fact_find(p, f->sigrefs[i]);

				if (sr != NULL && sr->tm_docmdp) {
					mdp = true;
					pval = tparams_p(p, sr->tp_p, sr->tparams);
					break;
				}
			}
		}
		f->s.certification = cert || mdp;
		if (f->s.certification)
			f->s.docmdp_p = pval >= 1 && pval <= 3 ? pval : 2;
	}
}

static void
resolve_fields(struct parser *p)
{
	const unsigned char *d = p->lx.d;
	struct idx *byv = xcalloc(p->nrecs + 1, sizeof(*byv));
	struct idx *byid = xcalloc(p->nrecs + 1, sizeof(*byid));
	ssize_t *rec_of = xcalloc(p->nsigs + 1, sizeof(*rec_of));
	size_t nv = 0, nid = 0;

	for (size_t k = 0; k < p->nsigs; k++)
		rec_of[k] = -1;
	for (size_t i = 0; i < p->nrecs; i++) {
		const struct record *r = &p->recs[i];

		if (r->v.num >= 0)
			byv[nv++] = (struct idx){ r->v.num, r->v.gen, i };
		if (r->has_id)
			byid[nid++] = (struct idx){ r->id.num, r->id.gen, i };
		if (r->v_sig >= 0 && (size_t)r->v_sig < p->nsigs)
			rec_of[r->v_sig] = (ssize_t)i;
	}
	qsort(byv, nv, sizeof(*byv), idx_cmp);
	qsort(byid, nid, sizeof(*byid), idx_cmp);
	for (size_t k = 0; k < p->nsigs; k++) {
		struct found *f = &p->sigs[k];
		ssize_t ri = f->has_id ? idx_find(byv, nv, f->id) : -1;
		const struct tok *parts[PDF_MAX_LEVELS];
		size_t nparts = 0;
		struct buf name = BUF_INIT;

		if (rec_of[k] > ri)
			ri = rec_of[k];
		/* the field's /T, then its parents', up to PDF_MAX_LEVELS */
		for (size_t level = 0; ri >= 0 && level < PDF_MAX_LEVELS; level++) {
			const struct record *r = &p->recs[ri];

			if (r->t.type != TK_EOF)
				parts[nparts++] = &r->t;
			ri = idx_find(byid, nid, r->parent);
		}
		if (nparts == 0)
			continue;
		while (nparts-- > 0) {
			char *s = tok_text(d, parts[nparts]);

			buf_appends(&name, s);
			if (nparts > 0)
				buf_appends(&name, ".");
			free(s);
		}
		f->s.field = buf_steal(&name, NULL);
	}
	free(rec_of);
	free(byid);
	free(byv);
}

static int
found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->s.dict_offset != y->s.dict_offset)
		return x->s.dict_offset < y->s.dict_offset ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
sig_release(struct pdf_sig *s)
{
	free(s->subfilter);
	free(s->field);
	free(s->name);
	free(s->reason);
	free(s->location);
	free(s->signing_time);
	free(s->contents);
	memset(s, 0, sizeof(*s));
}

/* --- the API --- */

bool
pdf_sniff(const unsigned char *data, size_t len)
{
	size_t n = len < PDF_SNIFF_WINDOW ? len : PDF_SNIFF_WINDOW;

	return data != NULL && n >= 5 && memmem(data, n, "%PDF-", 5) != NULL;
}

bool
pdf_find_signatures(const unsigned char *data, size_t len, struct pdf_sig **sigs_r,
    size_t *n_r, struct kerr *err)
{
	struct parser *p = NULL;
	const unsigned char *hdr;
	bool ok = false;

	*sigs_r = NULL;
	*n_r = 0;
	if (!pdf_sniff(data, len)) {
		kerr_set(err, KERR_PERM, "not a PDF: no %%PDF- header in the first %d bytes",
		    PDF_SNIFF_WINDOW);
		goto out;
	}
	hdr = memmem(data, len < PDF_SNIFF_WINDOW ? len : PDF_SNIFF_WINDOW, "%PDF-", 5);
	p = xcalloc(1, sizeof(*p));
	p->lx.d = data;
	p->lx.len = len;
	p->lx.pos = (size_t)(hdr - data);       /* bytes before the header are not PDF */
	p->obj = NOREF;
	p->after_length = -1;
	parse(p);
	if (p->too_many) {
		kerr_set(err, KERR_PERM, "PDF has more than %d signature dictionaries", PDF_MAX_SIGS);
		goto out;
	}
	resolve_docmdp(p);
	resolve_fields(p);
	if (p->nsigs > 1)
		qsort(p->sigs, p->nsigs, sizeof(*p->sigs), found_cmp);
	if (p->nsigs > 0) {
		*sigs_r = xcalloc(p->nsigs, sizeof(**sigs_r));
		for (size_t i = 0; i < p->nsigs; i++) {
			struct pdf_sig *s = &p->sigs[i].s;

			if (p->encrypted) {     /* every string but /Contents is encrypted */
				xfree(&s->name);
				xfree(&s->reason);
				xfree(&s->location);
				xfree(&s->signing_time);
				xfree(&s->field);
			}
			(*sigs_r)[i] = *s;
			memset(s, 0, sizeof(*s));       /* moved */
		}
		*n_r = p->nsigs;
	}
	ok = true;
out:
	if (p != NULL) {
		for (size_t i = 0; i < p->nsigs; i++)
			sig_release(&p->sigs[i].s);
		free(p->sigs);
		free(p->recs);
		free(p->facts);
		free(p);
	}
	return ok;
}

void
pdf_sigs_free(struct pdf_sig **sigsp, size_t n)
{
	if (sigsp == NULL || *sigsp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		sig_release(&(*sigsp)[i]);
	xfree(sigsp);
}
