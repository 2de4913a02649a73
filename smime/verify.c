/* verify.c - what is signed in a message, by whom, and what it means for
 * the message as a whole: the MIME walker and the message and document
 * verdicts (docs/VERIFICATION.md says the same in words).
 *
 * The walker visits the message tree from mime_parse (exact byte offsets
 * into the caller's bytes):
 *   multipart/signed  -> its first part's exact bytes against its p7s, then
 *                        the first part is walked (a nested signature);
 *   application/pkcs7-mime signed-data -> the eContent is verified, parsed
 *                        as a MIME entity and walked in its place;
 *   enveloped-data    -> "encrypted": nothing inside can be seen;
 *   message/rfc822    -> a forwarded message: an attachment with a verdict
 *                        of its own, judged against its own From and Date;
 *   other multiparts  -> each part; their own signatures cover parts only;
 *   leaves            -> attachments: PDFs, .p7m files, .p7s beside a file.
 * Coverage: only a signature whose content is the whole displayed message
 * (the top entity, or the content of such a signature) can make the message
 * valid.  A signed part inside an unsigned multipart is "partial" even when
 * it is the only part, and several separately signed parts are "partial"
 * too: their combination is not signed by anyone. */
#include "config.h"

#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "smime/mime.h"
#include "smime/pdf.h"
#include "smime/verify.h"

enum cov {
	COV_NONE,       /* nothing of it is covered by a valid signature */
	COV_FULL,       /* a valid signature covers all of it */
	COV_PARTIAL,    /* valid signatures cover some of it */
	COV_ENCRYPTED,  /* it is encrypted: nothing can be said about what is inside */
};

/* One displayed message: the top one, or a forwarded one (message/rfc822). */
struct msg {
	struct vctx *v;
	char *sender;                   /* owned, lower case: the address checked; NULL when none */
	const char *sender_problem;     /* static: why sender is NULL */
	int64_t date;                   /* the Date header, 0 when absent or unreadable */
	bool weak_ok;
	char *prefix;                   /* owned: "" for the top message, "attachment NAME" for a forwarded one */
	unsigned layers;                /* opaque / .p7m layers entered */
	unsigned fwd_depth;             /* forwarded messages entered */
	/* the signatures over displayed content (not attachments): */
	enum smime_verdict body;        /* the worst of their verdicts; VALID when there are none */
	uint32_t reasons;               /* union of their reasons, when not valid */
	bool malformed;                 /* part of the structure cannot be read */
	char *detail;                   /* owned: why, for the report */
	long last_att;                  /* the attachment entry walk_leaf() made, or -1 */
};

static enum cov walk(struct msg *m, const struct mime_part *p, const char *path, bool whole);

/* --- small helpers --- */

static bool
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;

		if (x != y)
			return false;
	}
	return *a == *b;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n, k;

	if (s == NULL)
		return false;
	n = strlen(s);
	k = strlen(suffix);
	return n >= k && ascii_caseeq(s + n - k, suffix);
}

static void
lower_ascii(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void
msg_malformed(struct msg *m, const char *fmt, ...) KYSO_PRINTF(2, 3);

static void
msg_malformed(struct msg *m, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->malformed = true;
	if (m->detail == NULL)
		m->detail = verify_clean_text(line, strlen(line));
}

static char *
child_path(const char *path, unsigned index)
{
	return path[0] == '\0' ? xasprintf("%u", index) : xasprintf("%s.%u", path, index);
}

/* "message", "part 1.2", "attachment fwd.eml", "attachment fwd.eml, part 1.2" */
static char *
where_of(const struct msg *m, const char *path, bool whole)
{
	if (m->prefix[0] == '\0')
		return whole ? xstrdup("message") : xasprintf("part %s", path);
	return whole ? xstrdup(m->prefix) : xasprintf("%s, part %s", m->prefix, path);
}

static enum smime_verdict
doc_combine(enum smime_verdict a, enum smime_verdict b)
{
	if (a == SMIME_VERDICT_UNSIGNED)
		return b;
	if (b == SMIME_VERDICT_UNSIGNED)
		return a;
	return verify_verdict_worst(a, b);
}

/* A signature over displayed content of m. */
static void
note_body(struct msg *m, const struct vresult *res)
{
	m->body = verify_verdict_worst(m->body, res->verdict);
	if (res->verdict != SMIME_VERDICT_VALID)
		m->reasons |= res->reasons & ~verify_warnings(m->v->o->revocation);
}

/* --- sender and date --- */

/* Skip blanks, line ends and (nested) comments from i; the new index. */
static size_t
skip_cfws(const char *s, size_t n, size_t i)
{
	int depth = 0;

	while (i < n) {
		char c = s[i];

		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(' && ++depth > MIME_MAX_COMMENT)
				return i;
			else if (c == ')')
				depth--;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '(') {
			depth = 1;
			i++;
		} else {
			break;
		}
	}
	return depth == 0 ? i : 0;
}

static const struct mime_field *
field_named(const struct mime_part *p, const char *name, size_t *count_r)
{
	const struct mime_field *first = NULL;
	size_t count = 0, nl = strlen(name);

	for (size_t i = 0; i < p->nfields; i++) {
		const struct mime_field *f = &p->fields[i];

		if (f->name_len == nl && strncasecmp(p->buf + f->raw.start, name, nl) == 0) {
			if (first == NULL)
				first = f;
			count++;
		}
	}
	*count_r = count;
	return first;
}

/* The mailboxes of an address field, parsed strictly: the whole value must
 * be a mailbox list (a comment may follow).  NULL when it is not. */
static struct mailimf_mailbox_list *
parse_mailboxes(const struct mime_part *p, const struct mime_field *f)
{
	const char *v = p->buf + f->value.start;
	size_t n = f->value.end - f->value.start, idx = 0, end;
	struct mailimf_mailbox_list *l = NULL;

	if (mailimf_mailbox_list_parse(v, n, &idx, &l) != MAILIMF_NO_ERROR)
		return NULL;
	end = skip_cfws(v, n, idx);
	if (end != n || clist_count(l->mb_list) == 0) {
		mailimf_mailbox_list_free(l);
		return NULL;
	}
	return l;
}

static void
find_sender(const struct mime_part *p, struct msg *m)
{
	size_t nfrom, nsender;
	const struct mime_field *from = field_named(p, "From", &nfrom);
	const struct mime_field *sender = field_named(p, "Sender", &nsender);
	struct mailimf_mailbox_list *l = NULL, *ls = NULL;
	const char *addr = NULL;

	if (nfrom == 0) {
		m->sender_problem = "the message has no From field";
		return;
	}
	if (nfrom > 1) {
		m->sender_problem = "the message has several From fields: the sender is ambiguous";
		return;
	}
	if ((l = parse_mailboxes(p, from)) == NULL) {
		m->sender_problem = "the From field is not a readable address";
		return;
	}
	if (clist_count(l->mb_list) == 1) {
		addr = ((struct mailimf_mailbox *)clist_content(clist_begin(l->mb_list)))->mb_addr_spec;
	} else if (nsender != 1) {
		m->sender_problem = "the From field names several people and there is no single Sender field";
	} else if ((ls = parse_mailboxes(p, sender)) == NULL || clist_count(ls->mb_list) != 1) {
		m->sender_problem = "the Sender field is not a single readable address";
	} else {
		addr = ((struct mailimf_mailbox *)clist_content(clist_begin(ls->mb_list)))->mb_addr_spec;
	}
	if (addr != NULL) {
		m->sender = verify_clean_text(addr, strlen(addr));
		lower_ascii(m->sender);
	}
	if (l != NULL)
		mailimf_mailbox_list_free(l);
	if (ls != NULL)
		mailimf_mailbox_list_free(ls);
}

static int64_t
find_date(const struct mime_part *p)
{
	size_t n;
	const struct mime_field *f = field_named(p, "Date", &n);
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;
	int64_t t = 0;

	if (f == NULL || n != 1)
		return 0;
	if (mailimf_date_time_parse(p->buf + f->value.start, f->value.end - f->value.start, &idx, &dt) !=
	    MAILIMF_NO_ERROR)
		return 0;
	if (dt->dt_year >= 1970 && dt->dt_year <= 9999 && dt->dt_month >= 1 && dt->dt_month <= 12 &&
	    dt->dt_day >= 1 && dt->dt_day <= 31 && dt->dt_hour >= 0 && dt->dt_hour <= 23 && dt->dt_min >= 0 &&
	    dt->dt_min <= 59 && dt->dt_sec >= 0 && dt->dt_sec <= 60 && dt->dt_zone >= -2400 && dt->dt_zone <= 2400) {
		struct tm tm;
		int zone = dt->dt_zone < 0 ? -dt->dt_zone : dt->dt_zone;
		int64_t off = (int64_t)(zone / 100) * 3600 + (int64_t)(zone % 100) * 60;

		memset(&tm, 0, sizeof(tm));
		tm.tm_year = dt->dt_year - 1900;
		tm.tm_mon = dt->dt_month - 1;
		tm.tm_mday = dt->dt_day;
		tm.tm_hour = dt->dt_hour;
		tm.tm_min = dt->dt_min;
		tm.tm_sec = dt->dt_sec;
		t = (int64_t)timegm(&tm) - (dt->dt_zone < 0 ? -off : off);
	}
	mailimf_date_time_free(dt);
	return t;
}

static void
msg_init(struct msg *m, struct vctx *v, const struct mime_part *hdr, const char *prefix)
{
	memset(m, 0, sizeof(*m));
	m->v = v;
	m->prefix = xstrdup(prefix);
	m->body = SMIME_VERDICT_VALID;
	m->last_att = -1;
	find_sender(hdr, m);
	m->date = find_date(hdr);
	m->weak_ok = verify_weak_allowed(v->o, m->sender);
}

static void
msg_release(struct msg *m)
{
	free(m->sender);
	free(m->prefix);
	free(m->detail);
	m->sender = m->prefix = m->detail = NULL;
}

/* The verdict of a displayed message from its coverage and the verdicts of
 * the signatures over its content. */
static enum smime_verdict
msg_verdict(struct msg *m, enum cov c, uint32_t *reasons_r)
{
	enum smime_verdict v;
	uint32_t reasons = m->reasons;

	switch (c) {
	case COV_FULL: v = SMIME_VERDICT_VALID; break;
	case COV_PARTIAL: v = SMIME_VERDICT_PARTIAL; reasons |= SMIME_R_PARTIAL_COVERAGE; break;
	case COV_ENCRYPTED: v = SMIME_VERDICT_ENCRYPTED; break;
	case COV_NONE: default: v = SMIME_VERDICT_UNSIGNED; break;
	}
	if (m->body != SMIME_VERDICT_VALID)
		v = verify_verdict_worst(v, m->body);
	if (m->malformed || (m->v->truncated && verify_verdict_rank(v) < verify_verdict_rank(SMIME_VERDICT_MALFORMED))) {
		v = verify_verdict_worst(v, SMIME_VERDICT_MALFORMED);
		reasons |= SMIME_R_MALFORMED;
		if (m->detail == NULL && m->v->truncated)
			m->detail = xstrdup("the message holds more than kyso checks (signatures, parts or layers): "
			    "it was not checked completely");
	}
	if (v == SMIME_VERDICT_VALID || v == SMIME_VERDICT_UNSIGNED || v == SMIME_VERDICT_ENCRYPTED)
		reasons = 0;
	*reasons_r = reasons;
	return v;
}

/* --- decoding parts --- */

static void
part_decode(const struct mime_part *p, struct buf *out)
{
	buf_reset(out);
	mime_part_decode(p, out);
}

static void
put_buf(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
}

/* The first bytes of a leaf, decoded: enough to recognise a PDF or a CMS. */
static void
part_decode_head(const struct mime_part *p, struct buf *out)
{
	struct mime_sink sink = { put_buf, out };
	const char *b = p->buf + p->body.start;
	size_t n = p->body.end - p->body.start;

	buf_reset(out);
	if (n > 2048)
		n = 2048;
	if (p->cte == MIME_CTE_BASE64)
		mime_decode_base64(b, n & ~(size_t)3, &sink);
	else if (p->cte == MIME_CTE_QP)
		mime_decode_qp(b, n, &sink);
	else
		buf_append(out, b, n);
}

static void
att_digest(struct vctx *v, struct smime_attachment *a, const unsigned char *data, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (a == NULL)
		return;
	a->size = len;
	if (v->o->attachment_digests && EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) && mdlen == 32)
		verify_hex(md, 32, a->sha256);
}

static struct smime_attachment *
att_at(struct msg *m, long i)
{
	return i >= 0 && (size_t)i < m->v->r->n_attachments ? &m->v->r->attachments[i] : NULL;
}

static char *
content_type_of(const struct mime_part *p)
{
	return xasprintf("%s/%s", p->type, p->subtype);
}

/* --- signatures in the message structure --- */

static bool
is_pkcs7_signature(const struct mime_part *p)
{
	return mime_part_is(p, "application", "pkcs7-signature") ||
	    mime_part_is(p, "application", "x-pkcs7-signature");
}

static bool
is_pkcs7_mime(const struct mime_part *p)
{
	return mime_part_is(p, "application", "pkcs7-mime") || mime_part_is(p, "application", "x-pkcs7-mime");
}

static void
job_mail(struct msg *m, struct vjob *job, const char *where)
{
	memset(job, 0, sizeof(*job));
	job->where = where;
	job->purpose = VP_MAIL;
	job->sender = m->sender;
	job->sender_problem = m->sender_problem;
	job->date = m->date;
	job->weak_ok = m->weak_ok;
}

/* multipart/signed (RFC 1847, RFC 8551 §3.5). */
static enum cov
walk_signed(struct msg *m, const struct mime_part *p, const char *path, bool whole)
{
	const char *protocol = mime_part_param(p, "protocol");
	struct buf sigbuf = BUF_INIT, der_buf = BUF_INIT;
	struct vresult res = VRESULT_INIT;
	enum cov inner = COV_NONE, c;
	char *where = where_of(m, path, whole), *cpath;
	struct vjob job;
	const struct mime_part *content, *sigpart;

	if (protocol != NULL && !ascii_caseeq(protocol, "application/pkcs7-signature") &&
	    !ascii_caseeq(protocol, "application/x-pkcs7-signature")) {
		/* another protocol (OpenPGP): not checked here; its content is shown unsigned */
		cpath = child_path(path, 1);
		c = walk(m, p->children[0], cpath, whole);
		free(cpath);
		free(where);
		return c;
	}
	if (p->nchildren != 2 || !is_pkcs7_signature(p->children[1])) {
		struct smime_sig *s = verify_sig_add(m->v, where, SMIME_KIND_MULTIPART_SIGNED,
		    whole ? SMIME_COVERS_WHOLE : SMIME_COVERS_PART, NULL);

		if (s != NULL) {
			s->reasons = SMIME_R_MALFORMED;
			s->verdict = SMIME_VERDICT_MALFORMED;
			s->detail = xstrdup(p->nchildren != 2 ? "multipart/signed must have exactly two parts" :
			    "the second part of multipart/signed is not an S/MIME signature");
		}
		res.verdict = SMIME_VERDICT_MALFORMED;
		res.reasons = SMIME_R_MALFORMED;
		note_body(m, &res);
		cpath = child_path(path, 1);
		walk(m, p->children[0], cpath, whole);
		free(cpath);
		free(where);
		return COV_NONE;
	}
	content = p->children[0];
	sigpart = p->children[1];
	part_decode(sigpart, &sigbuf);
	job_mail(m, &job, where);
	job.kind = SMIME_KIND_MULTIPART_SIGNED;
	job.covers = whole ? SMIME_COVERS_WHOLE : SMIME_COVERS_PART;
	job.content = VC_DETACHED;
	job.der_len = sigbuf.len;
	job.der = verify_der_of((const unsigned char *)(sigbuf.data != NULL ? sigbuf.data : ""), &job.der_len, &der_buf);
	/* the signed bytes, exactly as they are in the message */
	job.ranges[0].p = (const unsigned char *)content->buf + content->span.start;
	job.ranges[0].n = content->span.end - content->span.start;
	job.n_ranges = 1;
	job.canon_lf = true;
	if (p->close_missing)
		job.extra_detail = "the multipart/signed has no closing boundary (truncated message?)";
	verify_cms(m->v, &job, &res);
	buf_release(&sigbuf);
	buf_release(&der_buf);
	if (res.encrypted) {
		struct smime_sig *s = verify_sig_add(m->v, where, SMIME_KIND_MULTIPART_SIGNED, job.covers, NULL);

		if (s != NULL) {
			s->reasons = SMIME_R_MALFORMED;
			s->verdict = SMIME_VERDICT_MALFORMED;
			s->detail = xstrdup("the signature part holds encrypted data, not a signature");
		}
		res.verdict = SMIME_VERDICT_MALFORMED;
		res.reasons = SMIME_R_MALFORMED;
	}
	note_body(m, &res);
	vresult_release(&res);

	cpath = child_path(path, 1);
	inner = walk(m, content, cpath, whole);
	free(cpath);
	free(where);
	if (res.verdict != SMIME_VERDICT_VALID)
		return inner;
	/* A valid signature around encrypted content vouches for the ciphertext
	 * only, not for what it hides (someone may have wrapped another's
	 * encrypted message): encrypted, never valid. */
	return inner == COV_ENCRYPTED ? COV_ENCRYPTED : COV_FULL;
}

/* application/pkcs7-mime signed-data (or a .p7m) that is the message's
 * content: verify, then walk its eContent in its place. */
static enum cov
walk_opaque(struct msg *m, const struct mime_part *p, const char *path, bool whole, const unsigned char *der,
    size_t der_len)
{
	struct vresult res = VRESULT_INIT;
	char *where = where_of(m, path, whole);
	enum cov inner = COV_NONE;
	struct vjob job;

	job_mail(m, &job, where);
	job.kind = SMIME_KIND_OPAQUE;
	job.covers = whole ? SMIME_COVERS_WHOLE : SMIME_COVERS_PART;
	job.content = VC_ENCAPSULATED;
	job.der = der;
	job.der_len = der_len;
	verify_cms(m->v, &job, &res);
	free(where);
	if (res.encrypted) {
		vresult_release(&res);
		return whole ? COV_ENCRYPTED : COV_NONE;
	}
	note_body(m, &res);
	if (res.econtent != NULL) {
		struct kerr perr = KERR_INIT;
		struct mime_part *root = NULL;

		if (m->layers + 1 > VERIFY_MAX_LAYERS) {
			m->v->truncated = true;
			msg_malformed(m, "signatures nested more than %d deep", VERIFY_MAX_LAYERS);
		} else if (res.econtent_len == 0 ||
		    (root = mime_parse((const char *)res.econtent, res.econtent_len, &perr)) == NULL) {
			msg_malformed(m, "the signed content is not a readable MIME entity: %s",
			    res.econtent_len == 0 ? "it is empty" : perr.msg);
		} else {
			m->layers++;
			inner = walk(m, root, path, whole);
			m->layers--;
		}
		mime_part_free(&root);
	}
	vresult_release(&res);
	if (res.verdict != SMIME_VERDICT_VALID)
		return inner;
	return inner == COV_ENCRYPTED ? COV_ENCRYPTED : COV_FULL;
}

/* --- attachments --- */

/* The name a .p7m file had before it was signed: "QD-12.pdf.p7m" -> "QD-12.pdf". */
static char *
p7m_inner_name(const char *name)
{
	size_t n;

	if (name == NULL)
		return NULL;
	n = strlen(name);
	if (ends_with(name, ".p7m") && n > 4)
		return xstrndup(name, n - 4);
	return xstrdup(name);
}

/* A .p7m file: an enveloping signature around a document. */
static enum smime_verdict
verify_p7m_file(struct vctx *v, const char *where, const char *name, const unsigned char *data, size_t len,
    const char *sender, bool weak_ok, unsigned layers, uint32_t *reasons_r)
{
	struct buf der_buf = BUF_INIT;
	struct vresult res = VRESULT_INIT;
	char *inner = p7m_inner_name(name);
	struct vjob job;
	enum smime_verdict verdict;

	memset(&job, 0, sizeof(job));
	job.where = where;
	job.file = inner;
	job.kind = SMIME_KIND_P7M;
	job.covers = SMIME_COVERS_WHOLE;
	job.purpose = VP_DOCUMENT;
	job.content = VC_ENCAPSULATED;
	job.der_len = len;
	job.der = verify_der_of(data, &job.der_len, &der_buf);
	job.sender = sender;
	job.weak_ok = weak_ok;
	if (verify_cms_type(job.der, job.der_len) == VCMS_ENVELOPED) {
		*reasons_r = 0;
		verdict = SMIME_VERDICT_ENCRYPTED;
		goto out;
	}
	verify_cms(v, &job, &res);
	verdict = res.encrypted ? SMIME_VERDICT_ENCRYPTED : res.verdict;
	*reasons_r = res.reasons;
	/* a signed PDF inside: its own signatures count too */
	if (res.econtent != NULL && pdf_sniff(res.econtent, res.econtent_len) && layers + 1 <= VERIFY_MAX_LAYERS) {
		char *w = xasprintf("%s (%s)", where, inner != NULL ? inner : "content");
		uint32_t pr = 0;
		enum smime_verdict pv = verify_pdf(v, w, inner, res.econtent, res.econtent_len, sender, weak_ok, &pr);

		verdict = doc_combine(verdict, pv);
		*reasons_r |= pr;
		free(w);
	}
out:
	vresult_release(&res);
	buf_release(&der_buf);
	free(inner);
	return verdict;
}

/* A detached .p7s over another file. */
static enum smime_verdict
verify_p7s_file(struct vctx *v, const char *where, const char *target, const unsigned char *sig, size_t sig_len,
    const unsigned char *data, size_t len, const char *sender, bool weak_ok, uint32_t *reasons_r)
{
	struct buf der_buf = BUF_INIT;
	struct vresult res = VRESULT_INIT;
	struct vjob job;
	enum smime_verdict verdict;

	memset(&job, 0, sizeof(job));
	job.where = where;
	job.file = target;
	job.kind = SMIME_KIND_P7S;
	job.covers = SMIME_COVERS_WHOLE;
	job.purpose = VP_DOCUMENT;
	job.content = VC_DETACHED;
	job.der_len = sig_len;
	job.der = verify_der_of(sig, &job.der_len, &der_buf);
	job.ranges[0].p = data;
	job.ranges[0].n = len;
	job.n_ranges = 1;
	job.sender = sender;
	job.weak_ok = weak_ok;
	verify_cms(v, &job, &res);
	verdict = res.verdict;
	*reasons_r = res.reasons;
	if (res.encrypted) {
		verdict = SMIME_VERDICT_MALFORMED;
		*reasons_r = SMIME_R_MALFORMED;
	}
	vresult_release(&res);
	buf_release(&der_buf);
	return verdict;
}

static bool
is_p7s_file(const struct mime_part *p)
{
	return p->kind == MIME_LEAF && (ends_with(p->filename, ".p7s") || is_pkcs7_signature(p));
}

static bool
is_attachment(const struct mime_part *p)
{
	if (p->filename != NULL || (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0))
		return true;
	return strcmp(p->type, "text") != 0 && strcmp(p->type, "multipart") != 0 && strcmp(p->type, "message") != 0;
}

static char *
att_where(const struct msg *m, const char *name, const char *path)
{
	char *w;

	if (name != NULL)
		w = m->prefix[0] == '\0' ? xasprintf("attachment %s", name) : xasprintf("%s, attachment %s", m->prefix, name);
	else
		w = m->prefix[0] == '\0' ? xasprintf("attachment part %s", path) :
		    xasprintf("%s, attachment part %s", m->prefix, path);
	return w;
}

static enum cov
walk_leaf(struct msg *m, const struct mime_part *p, const char *path, bool whole)
{
	struct vctx *v = m->v;
	struct buf head = BUF_INIT, data = BUF_INIT;
	struct smime_attachment *a = NULL;
	const char *stype = mime_part_param(p, "smime-type");
	char *ct = content_type_of(p), *where = NULL;
	enum smime_verdict verdict = SMIME_VERDICT_UNSIGNED;
	uint32_t reasons = 0;
	enum cov c = COV_NONE;
	bool pkcs7 = is_pkcs7_mime(p), named_p7m = ends_with(p->filename, ".p7m") &&
	    !ascii_caseeq(p->filename, "smime.p7m");

	m->last_att = -1;
	/* S/MIME entities that are the message's content */
	if (pkcs7 && stype != NULL && (ascii_caseeq(stype, "enveloped-data") || ascii_caseeq(stype, "authEnveloped-data"))) {
		if (whole) {
			c = COV_ENCRYPTED;
			goto out;
		}
		verdict = SMIME_VERDICT_ENCRYPTED;
		goto attachment;
	}
	if ((pkcs7 && (whole || !named_p7m) && (stype == NULL || ascii_caseeq(stype, "signed-data"))) ||
	    (whole && ascii_caseeq(p->filename != NULL ? p->filename : "", "smime.p7m"))) {
		struct buf der_buf = BUF_INIT;
		size_t len;
		const unsigned char *der;
		enum vcms_type t;

		part_decode(p, &data);
		len = data.len;
		der = verify_der_of((const unsigned char *)(data.data != NULL ? data.data : ""), &len, &der_buf);
		t = verify_cms_type(der, len);
		if (t == VCMS_ENVELOPED) {
			buf_release(&der_buf);
			if (whole) {
				c = COV_ENCRYPTED;
				goto out;
			}
			verdict = SMIME_VERDICT_ENCRYPTED;
			goto attachment;
		}
		c = walk_opaque(m, p, path, whole, der, len);
		buf_release(&der_buf);
		goto out;
	}
	if (!is_attachment(p))
		goto out;

attachment:
	a = verify_att_add(v, p->filename, ct);
	m->last_att = a != NULL ? (long)(a - v->r->attachments) : -1;
	if (verdict == SMIME_VERDICT_ENCRYPTED) {
		if (a != NULL) {
			a->verdict = verdict;
			a->size = p->body.end - p->body.start;
		}
		goto out;
	}
	where = att_where(m, p->filename, path);
	part_decode_head(p, &head);
	if (named_p7m || (pkcs7 && stype == NULL)) {
		part_decode(p, &data);
		if (m->layers + 1 > VERIFY_MAX_LAYERS) {
			v->truncated = true;
			verdict = SMIME_VERDICT_MALFORMED;
		} else {
			verdict = verify_p7m_file(v, where, p->filename, (const unsigned char *)data.data, data.len,
			    m->sender, m->weak_ok, m->layers, &reasons);
		}
	} else if (is_p7s_file(p)) {
		/* checked with its file by walk_multipart(); alone, it signs nothing here */
		part_decode(p, &data);
	} else if (pdf_sniff((const unsigned char *)(head.data != NULL ? head.data : ""), head.len)) {
		/* a PDF by its bytes, whatever its name or type says */
		part_decode(p, &data);
		verdict = verify_pdf(v, where, p->filename, (const unsigned char *)data.data, data.len,
		    m->sender, m->weak_ok, &reasons);
	} else if (v->o->attachment_digests) {
		part_decode(p, &data);
	}
	if (a != NULL) {
		a->verdict = verdict;
		if (data.data != NULL || v->o->attachment_digests)
			att_digest(v, a, (const unsigned char *)(data.data != NULL ? data.data : ""), data.len);
		else
			a->size = p->body.end - p->body.start;
	}
out:
	(void)reasons;
	buf_release(&head);
	buf_release(&data);
	free(where);
	free(ct);
	return c;
}

/* The file a .p7s signs, among its siblings: "QD-12.pdf.p7s" signs
 * "QD-12.pdf"; "QD-12.p7s" signs "QD-12.<anything>" when only one sibling
 * has that stem. */
static long
p7s_target(const struct mime_part *mp, size_t k)
{
	const char *name = mp->children[k]->filename;
	size_t n, stem_len;
	long found = -1;
	int matches = 0;

	if (name == NULL || !ends_with(name, ".p7s"))
		return -1;
	n = strlen(name);
	stem_len = n - 4;
	for (size_t i = 0; i < mp->nchildren; i++) {
		const char *f = mp->children[i]->filename;

		if (i == k || f == NULL || mp->children[i]->kind != MIME_LEAF || is_p7s_file(mp->children[i]))
			continue;
		if (strlen(f) == stem_len && strncasecmp(f, name, stem_len) == 0)
			return (long)i;
	}
	for (size_t i = 0; i < mp->nchildren; i++) {
		const char *f = mp->children[i]->filename, *dot;

		if (i == k || f == NULL || mp->children[i]->kind != MIME_LEAF || is_p7s_file(mp->children[i]))
			continue;
		dot = strrchr(f, '.');
		if (dot != NULL && (size_t)(dot - f) == stem_len && strncasecmp(f, name, stem_len) == 0) {
			found = (long)i;
			matches++;
		}
	}
	return matches == 1 ? found : -1;
}

static enum cov
walk_multipart(struct msg *m, const struct mime_part *p, const char *path)
{
	long *att = xcalloc(p->nchildren, sizeof(*att));
	bool any = false;

	for (size_t i = 0; i < p->nchildren; i++) {
		char *cp = child_path(path, (unsigned)i + 1);
		enum cov c = walk(m, p->children[i], cp, false);

		att[i] = p->children[i]->kind == MIME_LEAF ? m->last_att : -1;
		if (c == COV_FULL || c == COV_PARTIAL)
			any = true;
		free(cp);
	}
	/* .p7s files beside the files they sign */
	for (size_t k = 0; k < p->nchildren; k++) {
		const struct mime_part *sp = p->children[k];
		struct smime_attachment *sa, *ta;
		struct buf sig = BUF_INIT, data = BUF_INIT;
		enum smime_verdict verdict;
		uint32_t reasons = 0;
		long t;
		char *where;

		if (!is_p7s_file(sp) || att[k] < 0)
			continue;
		sa = att_at(m, att[k]);
		t = p7s_target(p, k);
		where = att_where(m, t >= 0 ? p->children[t]->filename : sp->filename, path);
		if (t < 0) {
			struct smime_sig *s = verify_sig_add(m->v, where, SMIME_KIND_P7S, SMIME_COVERS_WHOLE, sp->filename);

			if (s != NULL) {
				s->reasons = SMIME_R_MALFORMED;
				s->verdict = SMIME_VERDICT_MALFORMED;
				s->detail = xstrdup("a detached signature file without the file it signs "
				    "(expected NAME.p7s beside NAME, or NAME.p7s beside NAME.ext)");
			}
			if (sa != NULL)
				sa->verdict = SMIME_VERDICT_MALFORMED;
			free(where);
			continue;
		}
		part_decode(sp, &sig);
		part_decode(p->children[t], &data);
		verdict = verify_p7s_file(m->v, where, p->children[t]->filename,
		    (const unsigned char *)(sig.data != NULL ? sig.data : ""), sig.len,
		    (const unsigned char *)(data.data != NULL ? data.data : ""), data.len, m->sender, m->weak_ok, &reasons);
		if (sa != NULL)
			sa->verdict = verdict;
		ta = att_at(m, att[t]);
		if (ta != NULL)
			ta->verdict = doc_combine(ta->verdict, verdict);
		buf_release(&sig);
		buf_release(&data);
		free(where);
	}
	free(att);
	m->last_att = -1;
	return any ? COV_PARTIAL : COV_NONE;
}

/* message/rfc822: a forwarded message, an attachment with its own verdict. */
static enum cov
walk_forwarded(struct msg *m, const struct mime_part *p, const char *path)
{
	struct vctx *v = m->v;
	const struct mime_part *inner = p->nchildren > 0 ? p->children[0] : NULL;
	char *name = p->filename != NULL ? xstrdup(p->filename) : xasprintf("part %s (message/rfc822)", path);
	char *prefix = m->prefix[0] == '\0' ? xasprintf("attachment %s", name) :
	    xasprintf("%s, attachment %s", m->prefix, name);
	char *ct = content_type_of(p);
	struct smime_attachment *a = verify_att_add(v, p->filename != NULL ? p->filename : name, ct);
	long ai = a != NULL ? (long)(a - v->r->attachments) : -1;
	struct msg fm;
	enum cov c;
	uint32_t reasons;

	if (inner == NULL || m->fwd_depth + 1 > VERIFY_MAX_LAYERS) {
		if (a != NULL)
			a->verdict = SMIME_VERDICT_MALFORMED;
		v->truncated = v->truncated || inner != NULL;
		goto out;
	}
	msg_init(&fm, v, inner, prefix);
	fm.layers = m->layers;
	fm.fwd_depth = m->fwd_depth + 1;
	c = walk(&fm, inner, "", true);
	a = att_at(m, ai);
	if (a != NULL) {
		a->verdict = msg_verdict(&fm, c, &reasons);
		att_digest(v, a, (const unsigned char *)p->buf + p->body.start, p->body.end - p->body.start);
	}
	msg_release(&fm);
out:
	free(ct);
	free(prefix);
	free(name);
	m->last_att = -1;
	return COV_NONE;
}

static enum cov
walk(struct msg *m, const struct mime_part *p, const char *path, bool whole)
{
	if (m->v->truncated)
		return COV_NONE;
	switch (p->kind) {
	case MIME_MULTIPART:
		if (strcmp(p->subtype, "signed") == 0)
			return walk_signed(m, p, path, whole);
		return walk_multipart(m, p, path);
	case MIME_MESSAGE:
		return walk_forwarded(m, p, path);
	case MIME_LEAF:
		break;
	}
	return walk_leaf(m, p, path, whole);
}

/* --- the entry points --- */

static struct smime_report *
report_new(struct vctx *v, const struct smime_verify_opts *o, struct kerr *err)
{
	struct smime_report *r = xcalloc(1, sizeof(*r));

	memset(v, 0, sizeof(*v));
	v->o = o;
	v->r = r;
	v->err = err;
	v->at = o->at != 0 ? o->at : (int64_t)time(NULL);
	r->verdict = SMIME_VERDICT_MALFORMED;
	return r;
}

struct smime_report *
smime_verify_message(const char *msg, size_t len, const struct smime_verify_opts *o, struct kerr *err)
{
	struct vctx v;
	struct smime_report *r = report_new(&v, o, err);
	struct kerr perr = KERR_INIT;
	struct mime_part *root = NULL;
	struct msg m;
	enum cov c;

	if (len > VERIFY_MAX_INPUT) {
		r->reasons = SMIME_R_MALFORMED;
		r->detail = xasprintf("the message is larger than %zu bytes", VERIFY_MAX_INPUT);
		return r;
	}
	if ((root = mime_parse(msg, len, &perr)) == NULL) {
		r->reasons = SMIME_R_MALFORMED;
		r->detail = verify_clean_text(perr.msg, strlen(perr.msg));
		return r;
	}
	msg_init(&m, &v, root, "");
	c = walk(&m, root, "", true);
	r->verdict = msg_verdict(&m, c, &r->reasons);
	r->from = m.sender;
	m.sender = NULL;
	r->detail = m.detail;
	m.detail = NULL;
	msg_release(&m);
	mime_part_free(&root);
	if (kerr_isset(err) && err->cls == KERR_INTERNAL) {
		smime_report_free(&r);
		return NULL;
	}
	return r;
}

struct smime_report *
smime_verify_document(const char *name, const char *data, size_t len, const char *p7s, size_t p7s_len,
    const struct smime_verify_opts *o, struct kerr *err)
{
	struct vctx v;
	struct smime_report *r = report_new(&v, o, err);
	const unsigned char *d = (const unsigned char *)(data != NULL ? data : "");
	bool pdf = pdf_sniff(d, len);
	struct smime_attachment *a;
	enum smime_verdict verdict = SMIME_VERDICT_UNSIGNED;
	uint32_t reasons = 0, rr = 0;

	a = verify_att_add(&v, name, pdf ? "application/pdf" : "application/octet-stream");
	if (len > VERIFY_MAX_INPUT) {
		r->reasons = SMIME_R_MALFORMED;
		r->detail = xasprintf("the document is larger than %zu bytes", VERIFY_MAX_INPUT);
		if (a != NULL)
			a->verdict = SMIME_VERDICT_MALFORMED;
		return r;
	}
	if (p7s != NULL) {
		verdict = verify_p7s_file(&v, "document", name, (const unsigned char *)p7s, p7s_len, d, len, NULL, false,
		    &rr);
		reasons |= rr;
	}
	if (pdf) {
		enum smime_verdict pv = verify_pdf(&v, "document", name, d, len, NULL, false, &rr);

		if (pv == SMIME_VERDICT_MALFORMED && r->detail == NULL)
			r->detail = xstrdup("the PDF cannot be read");
		verdict = doc_combine(verdict, pv);
		reasons |= rr;
	} else if (p7s == NULL) {
		struct buf der_buf = BUF_INIT;
		size_t dl = len;
		const unsigned char *der = verify_der_of(d, &dl, &der_buf);
		enum vcms_type t = verify_cms_type(der, dl);

		buf_release(&der_buf);
		if (t == VCMS_ENVELOPED) {
			verdict = SMIME_VERDICT_ENCRYPTED;
		} else if (t == VCMS_SIGNED) {
			verdict = verify_p7m_file(&v, "document", name, d, len, NULL, false, 0, &rr);
			reasons |= rr;
		}
	}
	if (v.truncated && verify_verdict_rank(verdict) < verify_verdict_rank(SMIME_VERDICT_MALFORMED)) {
		verdict = SMIME_VERDICT_MALFORMED;
		reasons |= SMIME_R_MALFORMED;
	}
	r->verdict = verdict;
	r->reasons = verdict == SMIME_VERDICT_VALID || verdict == SMIME_VERDICT_UNSIGNED ||
	    verdict == SMIME_VERDICT_ENCRYPTED ? 0 : reasons & ~verify_warnings(o->revocation);
	if (r->verdict == SMIME_VERDICT_PARTIAL)
		r->reasons |= SMIME_R_MODIFIED_AFTER_SIGNING;
	a = r->n_attachments > 0 ? &r->attachments[0] : NULL;
	if (a != NULL) {
		a->verdict = verdict;
		att_digest(&v, a, d, len);
	}
	if (kerr_isset(err) && err->cls == KERR_INTERNAL) {
		smime_report_free(&r);
		return NULL;
	}
	return r;
}

static void
cert_info_release(struct smime_cert_info *ci)
{
	free(ci->subject);
	free(ci->issuer);
	free(ci->serial);
	free(ci->sha256);
	smime_strv_free(&ci->emails, ci->n_emails);
}

void
smime_report_free(struct smime_report **rp)
{
	struct smime_report *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	for (size_t i = 0; i < r->n_sigs; i++) {
		struct smime_sig *s = &r->sigs[i];

		free(s->where);
		cert_info_release(&s->signer);
		if (s->chain_der != NULL)
			for (size_t j = 0; j < s->n_chain; j++)
				buf_release(&s->chain_der[j]);
		free(s->chain_der);
		smime_strv_free(&s->chain, s->n_chain);
		free(s->digest_alg);
		free(s->revocation);
		free(s->detail);
		free(s->file);
	}
	free(r->sigs);
	for (size_t i = 0; i < r->n_attachments; i++) {
		free(r->attachments[i].name);
		free(r->attachments[i].content_type);
	}
	free(r->attachments);
	free(r->from);
	free(r->detail);
	free(r);
	*rp = NULL;
}

bool
smime_trust_add(struct smime_trust *t, const char *anchors, const char *intermediates, struct kerr *err)
{
	STACK_OF(X509) *roots = NULL;

	if (anchors != NULL) {
		if (!smime_load_certs(anchors, &roots, err)) {
			kerr_prefix(err, "trust anchors: ");
			sk_X509_pop_free(roots, X509_free);
			return false;
		}
		for (int i = 0; i < sk_X509_num(roots); i++)
			X509_STORE_add_cert(t->store, sk_X509_value(roots, i));
		ERR_clear_error();      /* duplicates are harmless */
		sk_X509_pop_free(roots, X509_free);
	}
	if (intermediates != NULL && !smime_load_certs(intermediates, &t->intermediates, err)) {
		kerr_prefix(err, "intermediates: ");
		return false;
	}
	return true;
}
