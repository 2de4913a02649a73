/*
 * mime.h - INTERNAL to smime/: a small MIME parser that finds a message's
 * structure with exact byte offsets, and the canonicaliser that makes a
 * message's signed entity transport-proof before it is hashed (RFC 8551
 * §3.1, RFC 1847).  Nothing outside smime/ includes this header (except its
 * unit tests and fuzz harness); no libetpan type appears in it (libetpan
 * parses the header field values inside mime.c).
 *
 * How to use (parser, e.g. the verifier):
 *   struct kerr err = KERR_INIT;
 *   struct mime_part *root = mime_parse(msg, len, &err);   // caller owns root
 *   if (root == NULL) ...err.cls is KERR_PERM for a malformed message...
 *   if (mime_part_is(root, "multipart", "signed")) {
 *           const struct mime_part *first = root->children[0];
 *           // the signed bytes, exactly: first->buf + first->span.start,
 *           //   first->span.end - first->span.start
 *   }
 *   mime_part_free(&root);
 * Offsets are into the part's `buf`, which is the caller's message (borrowed:
 * keep msg alive and unchanged while the tree is used) except below a
 * composite part that was (illegally) base64/QP encoded, whose decoded body
 * the tree owns.
 *
 * How to use (canonicaliser, the signer):
 *   struct smime_canon c = SMIME_CANON_INIT;
 *   if (!smime_canonicalise(msg, len, &c, &err)) ...KERR_PERM: tell the user...
 *   send c.outer + "MIME-Version: 1.0\r\n" + a multipart/signed whose first
 *   part is exactly c.entity;  smime_canon_release(&c);
 * The entity's lines that start with '-' are its own delimiter lines or lines
 * kept from the input (QP and base64 output never starts a line with '-'),
 * so a random multipart/signed boundary cannot collide with them.
 *
 * Structure rules (both users see the same tree):
 *   - Line ends may be CRLF, LF or a lone CR, mixed.  A header ends at the first
 *     empty line; input that ends inside the header is "only headers" (empty
 *     body).  A header line that is neither a field ("name:") nor a
 *     continuation is an error (KERR_PERM), as are NUL bytes in a header,
 *     field names outside printable ASCII, and a header line longer than
 *     MIME_MAX_LINE octets.  Field values may hold raw UTF-8 (RFC 6532).
 *   - Content-Type, -Transfer-Encoding and -Disposition values are parsed by
 *     libetpan; RFC 2231 parameter continuations and charsets are combined
 *     here (Debian's libetpan 1.9.4 does not).  A missing or syntactically
 *     invalid Content-Type means text/plain (RFC 2045 §5.2), message/rfc822
 *     inside multipart/digest.  Two Content-Type, Content-Transfer-Encoding
 *     or Content-Disposition fields in one header, or two boundary
 *     parameters, are errors: readers disagree on which one wins.
 *   - Multipart: delimiter lines are "--boundary", optionally "--", then
 *     optional spaces/tabs (transport padding).  The line end before a
 *     delimiter belongs to the delimiter (RFC 2046 §5.1.1).  A line that
 *     starts with "--boundary" but is not a delimiter is an error (RFC 2046
 *     forbids it and readers disagree), as is a multipart without any
 *     delimiter line or without a body part, a missing/empty boundary, one
 *     longer than MIME_MAX_BOUNDARY or with bytes outside printable ASCII and
 *     space.  A missing close delimiter is repaired here (the verifier may
 *     want to read a truncated message): the last part ends at the end of the
 *     body (less one final line end), or at the last delimiter line if nothing
 *     follows it; close_missing is set.  The canonicaliser refuses it.
 *   - message/rfc822 and message/global are parsed recursively; other
 *     message types are leaves.  A composite that is (illegally) base64 or
 *     QP encoded is decoded and parsed; a decoded line that starts with an
 *     enclosing multipart's "--boundary" is an error (written out decoded,
 *     it would split the enclosing multipart).
 *
 * Limits (each exceeded limit is a KERR_PERM error, never a crash or a huge
 * allocation): nesting MIME_MAX_DEPTH levels of multipart and message/rfc822;
 * MIME_MAX_PARTS entities per message; MIME_MAX_FIELDS fields per header and
 * MIME_MAX_FIELDS_TOTAL in the whole message; MIME_MAX_HEADER octets per
 * header; MIME_MAX_LINE octets per header line; MIME_MAX_PARAMS parameters
 * per field; comments nested more than MIME_MAX_COMMENT deep in a
 * Content-* value (libetpan's comment parser recurses).  Decoded bodies of
 * encoded composite parts may total at most the input length.
 */
#ifndef KYSO_SMIME_MIME_H
#define KYSO_SMIME_MIME_H

#include "smime/base.h"

#define MIME_MAX_DEPTH        32
#define MIME_MAX_PARTS        4096
#define MIME_MAX_FIELDS       512
#define MIME_MAX_FIELDS_TOTAL 16384
#define MIME_MAX_HEADER       (256 * 1024)
#define MIME_MAX_LINE         998
#define MIME_MAX_BOUNDARY     70      /* RFC 2046 §5.1.1 */
#define MIME_MAX_PARAMS       64
#define MIME_MAX_COMMENT      16

enum mime_kind {
	MIME_LEAF,       /* a discrete body (text, application, message/delivery-status, ...) */
	MIME_MULTIPART,  /* children[] are the body parts */
	MIME_MESSAGE,    /* message/rfc822 or message/global: children[0] is the inner message */
};

enum mime_cte {
	MIME_CTE_NONE,   /* no Content-Transfer-Encoding field: 7bit */
	MIME_CTE_7BIT,
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_OTHER,  /* an unknown token, or an unparsable value */
};

/* What a header field is, by its name (case-insensitive). */
enum mime_field_id {
	MIME_F_OTHER,
	MIME_F_CONTENT_TYPE,
	MIME_F_CTE,              /* Content-Transfer-Encoding */
	MIME_F_DISPOSITION,      /* Content-Disposition */
	MIME_F_CONTENT_LENGTH,   /* not MIME; stale after re-encoding */
	MIME_F_CONTENT_OTHER,    /* any other Content-* field */
	MIME_F_MIME_VERSION,
	MIME_F_BCC,              /* Bcc and Resent-Bcc */
};

/* [start, end) in a part's buf. */
struct mime_span {
	size_t start;
	size_t end;
};

struct mime_field {
	enum mime_field_id id;
	struct mime_span raw;    /* the field with its continuation lines and its final
	                            line end (if any; the last field of a part before a
	                            delimiter has none) */
	size_t name_len;         /* name = buf + raw.start, without trailing blanks */
	struct mime_span value;  /* after the ':' up to the last line end, still folded */
};

/* A boundary delimiter line of a multipart. */
struct mime_delim {
	size_t crlf;    /* the line end before it (belongs to it); == dash for the first */
	size_t dash;    /* the "--" */
	size_t next;    /* first byte after its own line end */
	bool close;     /* "--boundary--" */
};

struct mime_param {
	char *name;     /* owned; lower case, RFC 2231 "*N*" suffixes combined */
	char *value;    /* owned; RFC 2231 values percent-decoded and in UTF-8 when the
	                   charset was known; quotes removed */
};

struct mime_part {
	enum mime_kind kind;
	const char *buf;            /* borrowed: the bytes the offsets below refer to */
	struct mime_span span;      /* the whole entity: header, blank line, body */
	struct mime_span header;    /* the header block without the blank line */
	struct mime_span body;
	bool has_blank;             /* a blank line ended the header */
	struct mime_field *fields;  /* owned, nfields */
	size_t nfields;

	char *type;                 /* owned; lower case; "text" when defaulted */
	char *subtype;              /* owned; lower case; "plain" when defaulted */
	bool ct_field;              /* a Content-Type field is present */
	bool ct_valid;              /* ... and it parsed (else the type is the default) */
	struct mime_param *params;  /* owned; Content-Type parameters, nparams */
	size_t nparams;
	enum mime_cte cte;
	char *disposition;          /* owned; lower case ("attachment", "inline") or NULL */
	char *filename;             /* owned; UTF-8 (RFC 2231/2047 decoded) from
	                               Content-Disposition filename, else Content-Type
	                               name; NULL if neither */

	struct mime_part **children;  /* owned; multipart: the parts; message: the inner message */
	size_t nchildren;
	struct mime_delim *delims;  /* owned; multipart delimiter lines in order, ndelims */
	size_t ndelims;
	struct mime_span preamble;  /* multipart only; empty when absent */
	struct mime_span epilogue;  /* after the close delimiter's line end */
	bool close_missing;         /* the close delimiter was absent (repaired) */
	char *decoded;              /* owned; a composite's decoded body when it was
	                               base64/QP encoded; its children's buf */

	struct mime_part *parent;   /* borrowed; NULL for the root */
	unsigned depth;             /* 0 for the root */
	unsigned index;             /* 1-based position among its siblings */
};

/* Parse msg (borrowed; must outlive the tree).  Returns the root (caller owns;
 * mime_part_free) or NULL with err set (KERR_PERM for a malformed message). */
struct mime_part *mime_parse(const char *msg, size_t len, struct kerr *err);
void mime_part_free(struct mime_part **pp);

/* True if the part's type/subtype is as given (lower case; subtype NULL = any). */
bool mime_part_is(const struct mime_part *p, const char *type, const char *subtype);
/* A Content-Type parameter (name in lower case) or NULL.  Borrowed from p. */
const char *mime_part_param(const struct mime_part *p, const char *name);
/* The first field with that id, or NULL.  Borrowed from p. */
const struct mime_field *mime_part_field(const struct mime_part *p, enum mime_field_id id);
/* The part's position for messages to people: "top" for the root, else the
 * 1-based index at each level ("part 2.1"; a message/rfc822's inner message
 * is a level of its own). */
void mime_part_path(const struct mime_part *p, char *out, size_t outlen);

/* The line starting at pos (< end): *eol_r is where its line end (CRLF, LF or
 * a lone CR) starts, or end; returns the start of the next line. */
size_t mime_line_next(const char *b, size_t pos, size_t end, size_t *eol_r);

/* Byte classes for mime_scan. */
enum mime_scan {
	MIME_SCAN_EOL = 1,      /* CR or LF */
	MIME_SCAN_TEXT = 2,     /* CR, LF, NUL or an 8-bit byte */
	MIME_SCAN_QP = 4,       /* CR, LF, '=', or any byte but TAB and 0x20-0x7e */
	MIME_SCAN_B64 = 8,      /* any byte outside the base64 alphabet A-Z a-z 0-9 + / */
	MIME_SCAN_8BIT = 16,    /* a byte >= 0x80 */
};
/* The offset of the first byte of class cls in [pos, end), or end.  Sixteen
 * bytes at a time where the CPU allows (SSE2); the scans are what makes
 * parsing and canonicalising a large attachment cost little more than
 * reading it. */
size_t mime_scan(const char *b, size_t pos, size_t end, enum mime_scan cls);

/* Decoding, streamed: put() receives the decoded bytes in chunks. */
struct mime_sink {
	void (*put)(void *ctx, const unsigned char *p, size_t n);
	void *ctx;
};
/* RFC 2045 §6.8, lenient: characters outside the alphabet are skipped, the
 * first '=' ends the data, incomplete final groups give what bits they hold. */
void mime_decode_base64(const char *p, size_t n, const struct mime_sink *out);
/* RFC 2045 §6.7, lenient: trailing blanks dropped, soft breaks joined, hard line
 * ends become CRLF (no CRLF after an unterminated last line), "=XX" with hex
 * digits of either case decoded, any other '=' kept as it is. */
void mime_decode_qp(const char *p, size_t n, const struct mime_sink *out);
/* Decode a leaf's body by its Content-Transfer-Encoding into out (appended;
 * pre-sized).  7bit/8bit/binary/unknown bodies are copied as they are. */
void mime_part_decode(const struct mime_part *p, struct buf *out);

/* --- canonicaliser (canon.c) --- */

struct smime_canon {
	struct buf outer;   /* owned; the top-level header fields that stay outside the
	                       signed entity, in their original order, CRLF line ends,
	                       folding kept; without Content-*, MIME-Version, Bcc and
	                       Resent-Bcc; no trailing blank line */
	struct buf entity;  /* owned; the signed MIME entity: its Content-* fields, an
	                       empty line, the body; every line ends in CRLF, every body
	                       line is 7-bit and at most 76 octets + CRLF */
};

#define SMIME_CANON_INIT { BUF_INIT, BUF_INIT }

/*
 * Canonicalise msg (borrowed, len octets) for signing.  On success out holds
 * the result (release it with smime_canon_release); on failure out is empty
 * and err says why (KERR_PERM: the message is malformed or over a limit).
 * Deterministic; canonicalising "MIME-Version: 1.0" + entity again gives the
 * same entity.  What it does:
 *   - line ends become CRLF everywhere except inside bodies that are
 *     re-encoded from raw bytes (non-text 8bit/binary -> base64 of the bytes);
 *   - top-level Content-* fields move into the entity (Content-Length is
 *     dropped); MIME-Version, Bcc and Resent-Bcc are dropped; a missing
 *     Content-Type becomes "text/plain; charset=utf-8" if the body is valid
 *     UTF-8 with 8-bit bytes, "charset=us-ascii" if it is 7-bit, else
 *     "charset=unknown-8bit" (RFC 1428: still text, bytes kept exactly);
 *   - header fields are kept as written (raw UTF-8 allowed, RFC 6532), only
 *     their line ends are normalised; nothing is folded or RFC 2047-encoded;
 *   - multipart: preamble and epilogue are dropped, each part is
 *     canonicalised recursively; a missing close delimiter is KERR_PERM (the
 *     message is most likely truncated, and signing it would vouch for a cut
 *     attachment);
 *   - a leaf is kept as it is when it is already transport-safe (7-bit, no
 *     NUL, lines <= 76 octets, no trailing blanks, no line starting "From ";
 *     for QP also well-formed; for base64 only alphabet, padding at the end);
 *     otherwise a text part becomes quoted-printable (line ends first made CRLF;
 *     '=', 8-bit, controls except TAB, trailing blanks, a line-initial 'F',
 *     '.' and '-' are encoded, so no output line can start "From ", be an
 *     SMTP end-of-data, or look like a boundary delimiter; soft breaks keep
 *     lines <= 76) and anything else
 *     becomes base64 of its decoded bytes (a base64 part stays base64: it is
 *     re-wrapped / repaired).  8bit and binary labels become 7bit, QP or
 *     base64, since a relay that downgrades 8-bit would change the bytes;
 *   - message/rfc822 and message/global are never encoded: the inner message
 *     is canonicalised (an encoded one is decoded first); composites carry no
 *     Content-Transfer-Encoding other than 7bit; other message types and
 *     unknown encodings must already be transport-safe, else KERR_PERM.
 */
bool smime_canonicalise(const char *msg, size_t len, struct smime_canon *out, struct kerr *err);
void smime_canon_release(struct smime_canon *c);

/*
 * The same in two steps, for a caller that places the entity itself (the
 * signer writes it straight into the outgoing message, so that a large
 * attachment is not held twice):
 *   size_t n;
 *   struct smime_canon_job *j = smime_canon_prepare(msg, len, &outer, &n, &err);
 *   if (j == NULL) ...as smime_canonicalise fails...
 *   ...find room for n bytes at dst...
 *   ok = smime_canon_write(j, dst, &err);      // exactly n bytes, no NUL
 *   smime_canon_job_free(&j);
 * prepare parses and checks everything (every KERR_PERM refusal happens
 * here) and appends the outer fields to outer (reserved exactly); write
 * fails only on an internal error.  The job borrows msg until it is freed.
 */
struct smime_canon_job;
struct smime_canon_job *smime_canon_prepare(const char *msg, size_t len, struct buf *outer, size_t *entity_len_r,
    struct kerr *err);                                          /* caller owns */
bool smime_canon_write(struct smime_canon_job *j, char *dst, struct kerr *err);
void smime_canon_job_free(struct smime_canon_job **jp);

#endif
