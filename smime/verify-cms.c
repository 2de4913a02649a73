/* verify-cms.c - one CMS SignedData, checked as a clerk needs it checked.
 *
 * The order matters: parse (malformed) -> what the CMS carries (encrypted,
 * eContent where none belongs) -> per signerInfo: the signer's certificate ->
 * integrity (messageDigest over the exact bytes, then the signature value)
 * -> the chain, built here with the anchors and untrusted = the CMS's
 * certificates + the configured intermediates (OpenSSL 3.0's CMS_verify
 * does not use extra certificates for chain building) at the verification
 * time -> key usage -> weak algorithms -> revocation -> the sender and the
 * Date header (mail).  Every check runs even after one fails, so the report
 * says everything that is wrong; the verdict comes from the reasons
 * (verify_verdict_of), never from a single "ok" flag. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "smime/mime.h"
#include "smime/revocation.h"
#include "smime/verify.h"

#define DETAIL_MAX 1200

static const EVP_MD *md_by_nid(int nid);

/* --- small helpers --- */

void
verify_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int64_t
verify_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static void
fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

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

bool
verify_weak_allowed(const struct smime_verify_opts *o, const char *addr)
{
	if (o->weak_allowed == NULL || addr == NULL)
		return false;
	for (size_t i = 0; o->weak_allowed[i] != NULL; i++)
		if (ascii_caseeq(o->weak_allowed[i], addr))
			return true;
	return false;
}

static void detail_add(struct buf *d, const char *fmt, ...) KYSO_PRINTF(2, 3);

static void
detail_add(struct buf *d, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (d->len >= DETAIL_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->len > 0)
		buf_appends(d, "; ");
	buf_appends(d, line);
}

/* The OpenSSL error queue as one short phrase (drains it). */
static void
detail_openssl(struct buf *d, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[200];

	if (e != 0) {
		const char *r = ERR_reason_error_string(e);

		snprintf(reason, sizeof(reason), "%s", r != NULL ? r : "unknown error");
		detail_add(d, "%s: %s", what, reason);
	} else {
		detail_add(d, "%s", what);
	}
	ERR_clear_error();
}

static char *
clean_owned(char *s)
{
	char *c;

	if (s == NULL)
		return NULL;
	c = verify_clean_text(s, strlen(s));
	free(s);
	return c;
}

/* --- the report --- */

struct smime_sig *
verify_sig_add(struct vctx *v, const char *where, enum smime_sig_kind kind, enum smime_coverage covers,
    const char *file)
{
	struct smime_report *r = v->r;
	struct smime_sig *s;

	if (r->n_sigs >= VERIFY_MAX_SIGS) {
		v->truncated = true;
		return NULL;
	}
	if (r->n_sigs == v->sig_cap) {
		v->sig_cap = v->sig_cap ? v->sig_cap * 2 : 4;
		r->sigs = xreallocarray(r->sigs, v->sig_cap, sizeof(*r->sigs));
	}
	s = &r->sigs[r->n_sigs++];
	memset(s, 0, sizeof(*s));
	s->where = verify_clean_text(where, strlen(where));
	s->kind = kind;
	s->covers = covers;
	s->verdict = SMIME_VERDICT_MALFORMED;
	s->file = file != NULL ? verify_clean_text(file, strlen(file)) : NULL;
	return s;
}

struct smime_attachment *
verify_att_add(struct vctx *v, const char *name, const char *content_type)
{
	struct smime_report *r = v->r;
	struct smime_attachment *a;

	if (r->n_attachments >= VERIFY_MAX_ATTACHMENTS) {
		v->truncated = true;
		return NULL;
	}
	if (r->n_attachments == v->att_cap) {
		v->att_cap = v->att_cap ? v->att_cap * 2 : 4;
		r->attachments = xreallocarray(r->attachments, v->att_cap, sizeof(*r->attachments));
	}
	a = &r->attachments[r->n_attachments++];
	memset(a, 0, sizeof(*a));
	a->name = name != NULL ? verify_clean_text(name, strlen(name)) : NULL;
	a->content_type = xstrdup(content_type != NULL ? content_type : "application/octet-stream");
	a->verdict = SMIME_VERDICT_UNSIGNED;
	return a;
}

/* What the report says about a certificate, computed once per X509 object
 * and kept with it (ex_data): certificates come from the cache of parsed
 * certificates and the trust store, message after message. */
static int extra_idx = -1;
static pthread_once_t extra_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t extra_lock = PTHREAD_MUTEX_INITIALIZER;

static void
extra_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct smime_cert_info *ci = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ci == NULL)
		return;
	free(ci->subject);
	free(ci->issuer);
	free(ci->serial);
	free(ci->sha256);
	smime_strv_free(&ci->emails, ci->n_emails);
	free(ci);
}

static void
extra_init(void)
{
	extra_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, extra_free);
}

static struct smime_cert_info *
extra_compute(X509 *x)
{
	struct smime_cert_info *ci = xcalloc(1, sizeof(*ci));
	ASN1_INTEGER *serial = X509_get_serialNumber(x);
	BIGNUM *bn = serial != NULL ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char **emails;

	ci->subject = clean_owned(smime_name_text(X509_get_subject_name(x)));
	ci->issuer = clean_owned(smime_name_text(X509_get_issuer_name(x)));
	ci->serial = xstrdup(hex != NULL ? hex : "");
	for (char *p = ci->serial; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	OPENSSL_free(hex);
	BN_free(bn);
	ci->sha256 = xmalloc(2 * 32 + 1);
	if (X509_digest(x, md_by_nid(NID_sha256), md, &mdlen) && mdlen == 32)
		verify_hex(md, 32, ci->sha256);
	else
		ci->sha256[0] = '\0';
	emails = smime_cert_emails(x, &ci->n_emails);
	for (size_t i = 0; i < ci->n_emails; i++)
		emails[i] = clean_owned(emails[i]);
	ci->emails = emails;
	ci->not_before = verify_asn1_time(X509_get0_notBefore(x));
	ci->not_after = verify_asn1_time(X509_get0_notAfter(x));
	ERR_clear_error();
	return ci;
}

/* Borrowed for as long as the caller holds x. */
static const struct smime_cert_info *
cert_extra(X509 *x)
{
	struct smime_cert_info *ci, *mine;

	pthread_once(&extra_once, extra_init);
	pthread_mutex_lock(&extra_lock);
	ci = extra_idx >= 0 ? X509_get_ex_data(x, extra_idx) : NULL;
	pthread_mutex_unlock(&extra_lock);
	if (ci != NULL)
		return ci;
	mine = extra_compute(x);
	pthread_mutex_lock(&extra_lock);
	ci = extra_idx >= 0 ? X509_get_ex_data(x, extra_idx) : NULL;
	if (ci == NULL && extra_idx >= 0 && X509_set_ex_data(x, extra_idx, mine)) {
		ci = mine;
		mine = NULL;
	}
	pthread_mutex_unlock(&extra_lock);
	if (ci == NULL)
		abort();        /* OpenSSL out of memory: as xmalloc does */
	extra_free(NULL, mine, NULL, 0, 0, NULL);
	return ci;
}

static void
cert_info(X509 *x, struct smime_cert_info *ci)
{
	const struct smime_cert_info *e = cert_extra(x);

	ci->subject = xstrdup(e->subject);
	ci->issuer = xstrdup(e->issuer);
	ci->serial = xstrdup(e->serial);
	ci->sha256 = xstrdup(e->sha256);
	ci->n_emails = e->n_emails;
	ci->emails = e->n_emails > 0 ? xcalloc(e->n_emails, sizeof(*ci->emails)) : NULL;
	for (size_t i = 0; i < e->n_emails; i++)
		ci->emails[i] = xstrdup(e->emails[i]);
	ci->not_before = e->not_before;
	ci->not_after = e->not_after;
}

static void
add_malformed(struct vctx *v, const struct vjob *job, const char *detail)
{
	struct smime_sig *s = verify_sig_add(v, job->where, job->kind, job->covers, job->file);

	if (s == NULL)
		return;
	s->reasons = SMIME_R_MALFORMED | job->extra_reasons;
	s->verdict = SMIME_VERDICT_MALFORMED;
	if (job->extra_detail != NULL)
		s->detail = xasprintf("%s; %s", detail, job->extra_detail);
	else
		s->detail = xstrdup(detail);
}

/* --- DER sniffing and decoding --- */

static bool
b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	    c == '/' || c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

static void
put_buf(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
}

const unsigned char *
verify_der_of(const unsigned char *data, size_t *len_r, struct buf *out)
{
	size_t len = *len_r, i = 0;
	struct mime_sink sink = { put_buf, out };
	const unsigned char *begin;

	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	if (i == len || data[i] == 0x30)
		return data;            /* DER (or BER) */
	if (len - i > 11 && memcmp(data + i, "-----BEGIN ", 11) == 0) {
		const unsigned char *nl = memchr(data + i, '\n', len - i), *end;

		if (nl == NULL)
			return data;
		begin = nl + 1;
		end = begin;
		while (end < data + len && !(end[0] == '-' && (size_t)(data + len - end) >= 5 &&
		    memcmp(end, "-----", 5) == 0))
			end++;
		buf_reset(out);
		mime_decode_base64((const char *)begin, (size_t)(end - begin), &sink);
		*len_r = out->len;
		return (const unsigned char *)(out->data != NULL ? out->data : "");
	}
	for (size_t k = i; k < len; k++)
		if (!b64_char(data[k]))
			return data;
	buf_reset(out);
	mime_decode_base64((const char *)data + i, len - i, &sink);
	*len_r = out->len;
	return (const unsigned char *)(out->data != NULL ? out->data : "");
}

/* The ContentInfo's contentType, read from the first bytes without parsing
 * the rest (a .p7m may be large). */
enum vcms_type
verify_cms_type(const unsigned char *der, size_t len)
{
	static const unsigned char signed_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
	static const unsigned char env_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03 };
	static const unsigned char authenv_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17 };
	const unsigned char *p = der;
	long plen;
	int tag, cls, r;
	long max = len > 64 ? 64 : (long)len;

	if (len < 2)
		return VCMS_NONE;
	r = ASN1_get_object(&p, &plen, &tag, &cls, max);
	if ((r & 0x80) != 0 && ERR_GET_REASON(ERR_peek_last_error()) != ASN1_R_TOO_LONG) {
		ERR_clear_error();
		return VCMS_NONE;
	}
	ERR_clear_error();
	if (tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL || !(r & V_ASN1_CONSTRUCTED))
		return VCMS_NONE;
	max -= (long)(p - der);
	r = ASN1_get_object(&p, &plen, &tag, &cls, max);
	ERR_clear_error();
	if ((r & 0x80) != 0 || tag != V_ASN1_OBJECT || cls != V_ASN1_UNIVERSAL || plen > max - (p - der))
		return VCMS_NONE;
	if ((size_t)plen == sizeof(signed_oid) && memcmp(p, signed_oid, sizeof(signed_oid)) == 0)
		return VCMS_SIGNED;
	if (((size_t)plen == sizeof(env_oid) && memcmp(p, env_oid, sizeof(env_oid)) == 0) ||
	    ((size_t)plen == sizeof(authenv_oid) && memcmp(p, authenv_oid, sizeof(authenv_oid)) == 0))
		return VCMS_ENVELOPED;
	return VCMS_OTHER;
}

/* --- hashing the signed content --- */

struct dcache {
	const EVP_MD *md;
	EVP_MD_CTX *ctx[2];             /* [0] canonical (bare LF as CRLF), [1] raw bytes */
	unsigned char val[2][EVP_MAX_MD_SIZE];
	unsigned int len[2];
	bool bare_lf;                   /* [1] differs from [0] */
};

struct content {
	const struct vrange *ranges;
	size_t n;
	bool canon;
	struct dcache c[4];
	size_t nc;
};

/* The first LF at or after pos that is not preceded by a CR, or n.  Sixteen
 * bytes at a time (SSE2): a signed entity is mostly CRLF lines, and this
 * scan is all canonicalisation costs when it has no bare LF. */
static size_t
next_bare_lf(const unsigned char *p, size_t pos, size_t n)
{
	size_t i = pos;

	if (i == 0 && n > 0) {
		if (p[0] == '\n')
			return 0;
		i = 1;
	}
#ifdef __SSE2__
	{
		const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');

		for (; i + 16 <= n; i += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));

			if (m != 0) {
				__m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(p + i - 1));

				m &= ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(prev, cr));
				if (m != 0)
					return i + (size_t)__builtin_ctz(m);
			}
		}
	}
#endif
	for (; i < n; i++)
		if (p[i] == '\n' && p[i - 1] != '\r')
			return i;
	return n;
}

static void
hash_canon(EVP_MD_CTX *c, const unsigned char *p, size_t n, bool *bare_lf)
{
	size_t start = 0, i;

	while ((i = next_bare_lf(p, start, n)) < n) {
		EVP_DigestUpdate(c, p + start, i - start);
		EVP_DigestUpdate(c, "\r\n", 2);
		start = i + 1;
		*bare_lf = true;
	}
	EVP_DigestUpdate(c, p + start, n - start);
}

/* The digest of the content with md: canonical ([0]) or raw ([1]). NULL on
 * internal errors. */
static struct dcache *
content_digest(struct content *ct, const EVP_MD *md)
{
	struct dcache *d = NULL;

	for (size_t i = 0; i < ct->nc; i++)
		if (EVP_MD_get_type(ct->c[i].md) == EVP_MD_get_type(md))
			return &ct->c[i];
	if (ct->nc == sizeof(ct->c) / sizeof(ct->c[0]))
		return NULL;
	d = &ct->c[ct->nc++];
	memset(d, 0, sizeof(*d));
	d->md = md;
	d->ctx[0] = EVP_MD_CTX_new();
	if (d->ctx[0] == NULL || !EVP_DigestInit_ex(d->ctx[0], md, NULL))
		return NULL;
	for (size_t i = 0; i < ct->n; i++) {
		if (ct->canon)
			hash_canon(d->ctx[0], ct->ranges[i].p, ct->ranges[i].n, &d->bare_lf);
		else
			EVP_DigestUpdate(d->ctx[0], ct->ranges[i].p, ct->ranges[i].n);
	}
	if (d->bare_lf) {
		d->ctx[1] = EVP_MD_CTX_new();
		if (d->ctx[1] == NULL || !EVP_DigestInit_ex(d->ctx[1], md, NULL))
			return NULL;
		for (size_t i = 0; i < ct->n; i++)
			EVP_DigestUpdate(d->ctx[1], ct->ranges[i].p, ct->ranges[i].n);
	}
	for (int k = 0; k < (d->bare_lf ? 2 : 1); k++) {
		EVP_MD_CTX *tmp = EVP_MD_CTX_new();
		bool ok = tmp != NULL && EVP_MD_CTX_copy_ex(tmp, d->ctx[k]);

		if (ok && (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0) {
			/* RFC 8419: SHAKE256 gives 512 bits (with Ed448), SHAKE128 256 */
			d->len[k] = EVP_MD_get_type(md) == NID_shake256 ? 64 : 32;
			ok = EVP_DigestFinalXOF(tmp, d->val[k], d->len[k]) != 0;
		} else if (ok) {
			ok = EVP_DigestFinal_ex(tmp, d->val[k], &d->len[k]) != 0;
		}
		EVP_MD_CTX_free(tmp);
		if (!ok)
			return NULL;
	}
	return d;
}

static void
content_release(struct content *ct)
{
	for (size_t i = 0; i < ct->nc; i++) {
		EVP_MD_CTX_free(ct->c[i].ctx[0]);
		EVP_MD_CTX_free(ct->c[i].ctx[1]);
	}
	ct->nc = 0;
}

static bool
hash_ranges(const EVP_MD *md, const struct vrange *r, size_t n, unsigned char *out, unsigned int *len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c != NULL && EVP_DigestInit_ex(c, md, NULL);

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(c, r[i].p, r[i].n) != 0;
	ok = ok && EVP_DigestFinal_ex(c, out, len);
	EVP_MD_CTX_free(c);
	return ok;
}

/* --- algorithms --- */

static bool
weak_md_nid(int nid)
{
	return nid == NID_md5 || nid == NID_sha1 || nid == NID_md2 || nid == NID_md4 || nid == NID_mdc2 ||
	    nid == NID_md5_sha1;
}

/* Digests fetched once: an implicit fetch at every EVP_DigestInit is slow. */
static const int fetched_nids[] = {
	NID_sha256, NID_sha384, NID_sha512, NID_sha1, NID_sha224, NID_md5, NID_sha512_224, NID_sha512_256,
	NID_sha3_256, NID_sha3_384, NID_sha3_512, NID_shake256, NID_shake128,
};
static EVP_MD *fetched_mds[sizeof(fetched_nids) / sizeof(fetched_nids[0])];
static pthread_once_t fetched_once = PTHREAD_ONCE_INIT;

static void
fetch_mds(void)
{
	for (size_t i = 0; i < sizeof(fetched_nids) / sizeof(fetched_nids[0]); i++)
		fetched_mds[i] = EVP_MD_fetch(NULL, OBJ_nid2sn(fetched_nids[i]), NULL);
	ERR_clear_error();
}

static const EVP_MD *
md_by_nid(int nid)
{
	pthread_once(&fetched_once, fetch_mds);
	for (size_t i = 0; i < sizeof(fetched_nids) / sizeof(fetched_nids[0]); i++)
		if (fetched_nids[i] == nid && fetched_mds[i] != NULL)
			return fetched_mds[i];
	return EVP_get_digestbynid(nid);
}

/* The digest named by an AlgorithmIdentifier; some signers put a signature
 * algorithm there (sha256WithRSAEncryption), as OpenSSL tolerates. */
static const EVP_MD *
md_of_algor(const X509_ALGOR *alg, int *nid_r)
{
	const ASN1_OBJECT *obj = NULL;
	int nid, mdnid = NID_undef, pknid;
	const EVP_MD *md;

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = OBJ_obj2nid(obj);
	md = nid != NID_undef ? md_by_nid(nid) : NULL;
	if (md == NULL && OBJ_find_sigid_algs(nid, &mdnid, &pknid) && mdnid != NID_undef) {
		md = md_by_nid(mdnid);
		nid = mdnid;
	}
	*nid_r = nid;
	return md;
}

static const char *
md_name(int nid, char *out, size_t n)
{
	const char *sn = OBJ_nid2sn(nid);

	snprintf(out, n, "%s", sn != NULL ? sn : "unknown");
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

/* A key too short to trust: RSA/DSA under 2048 bits, EC under 224. */
static bool
weak_key(EVP_PKEY *k, char *why, size_t n)
{
	int id, bits;

	if (k == NULL)
		return false;
	id = EVP_PKEY_get_base_id(k);
	bits = EVP_PKEY_get_bits(k);
	if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_DSA) && bits < 2048) {
		snprintf(why, n, "%s-%d key", id == EVP_PKEY_DSA ? "DSA" : "RSA", bits);
		return true;
	}
	if (id == EVP_PKEY_EC && bits < 224) {
		snprintf(why, n, "EC-%d key", bits);
		return true;
	}
	return false;
}

static bool
weak_cert_sig(X509 *x, char *why, size_t n)
{
	int md = NID_undef, pk = NID_undef, nid = X509_get_signature_nid(x);

	if (OBJ_find_sigid_algs(nid, &md, &pk) && weak_md_nid(md)) {
		snprintf(why, n, "certificate signed with %s", OBJ_nid2sn(nid));
		return true;
	}
	return false;
}

/* --- the chain --- */

struct chain_rec {
	uint32_t reasons;
	char first[200];
};

static int
chain_cb(int ok, X509_STORE_CTX *ctx)
{
	struct chain_rec *rec = X509_STORE_CTX_get_app_data(ctx);
	int e, depth;
	uint32_t r;

	if (ok)
		return 1;
	e = X509_STORE_CTX_get_error(ctx);
	depth = X509_STORE_CTX_get_error_depth(ctx);
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		r = SMIME_R_EXPIRED;
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		r = SMIME_R_NOT_YET_VALID;
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		r = depth == 0 ? SMIME_R_KEY_USAGE : SMIME_R_UNTRUSTED_CHAIN;
		break;
	case X509_V_ERR_CERT_REVOKED:
		r = SMIME_R_REVOKED;
		break;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		r = SMIME_R_WEAK_ALGORITHM;
		break;
	default:
		r = SMIME_R_UNTRUSTED_CHAIN;
		break;
	}
	if (rec != NULL) {
		if (rec->first[0] == '\0')
			snprintf(rec->first, sizeof(rec->first), "%s (depth %d)",
			    X509_verify_cert_error_string(e), depth);
		rec->reasons |= r;
	}
	/* Go on: every problem of the chain is recorded; the verdict comes from them. */
	return 1;
}

/* --- EdDSA (RFC 8419), which OpenSSL 3.0's CMS code cannot verify --- */

static bool
is_eddsa(EVP_PKEY *k)
{
	int id = k != NULL ? EVP_PKEY_get_base_id(k) : 0;

	return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
}

static int
der_cmp(const void *a, const void *b)
{
	const struct buf *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->data, y->data, n);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The DER of the signed attributes as a SET OF (what the signature covers). */
static bool
signed_attrs_der(CMS_SignerInfo *si, struct buf *out)
{
	int n = CMS_signed_get_attr_count(si);
	struct buf *enc;
	size_t total = 0;
	bool ok = true;

	if (n <= 0)
		return false;
	enc = xcalloc((size_t)n, sizeof(*enc));
	for (int i = 0; i < n && ok; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &der);

		if (len <= 0) {
			ok = false;
			break;
		}
		buf_append(&enc[i], der, (size_t)len);
		OPENSSL_free(der);
		total += (size_t)len;
	}
	if (ok) {
		qsort(enc, (size_t)n, sizeof(*enc), der_cmp);
		buf_append(out, "\x31", 1);
		if (total < 0x80) {
			unsigned char l = (unsigned char)total;

			buf_append(out, &l, 1);
		} else {
			unsigned char l[9];
			int k = 0;

			for (size_t t = total; t > 0; t >>= 8)
				k++;
			l[0] = (unsigned char)(0x80 | k);
			for (int i = 0; i < k; i++)
				l[1 + i] = (unsigned char)(total >> (8 * (k - 1 - i)));
			buf_append(out, l, (size_t)k + 1);
		}
		for (int i = 0; i < n; i++)
			buf_append(out, enc[i].data, enc[i].len);
	}
	for (int i = 0; i < n; i++)
		buf_release(&enc[i]);
	free(enc);
	return ok;
}

/* The signature value over tbs with an EdDSA key: 1 good, 0 bad. */
static int
eddsa_verify(CMS_SignerInfo *si, EVP_PKEY *pk, const unsigned char *tbs, size_t tbslen)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = 0;

	if (c != NULL && sig != NULL && EVP_DigestVerifyInit_ex(c, NULL, NULL, NULL, NULL, pk, NULL) > 0)
		r = EVP_DigestVerify(c, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig), tbs, tbslen) == 1;
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return r;
}

/* --- one signerInfo --- */

struct signer_job {
	struct vctx *v;
	const struct vjob *job;
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;          /* the CMS's certificates (owned by the caller) */
	struct content *ct;             /* the bytes its digest covers */
	uint32_t cms_reasons;           /* reasons found for the whole CMS */
	const char *cms_detail;
	int64_t tst_time;               /* VC_TSTINFO: genTime */
	const char *tst_md;             /* VC_TSTINFO: imprint algorithm */
};

static bool
has_signed_attrs(CMS_SignerInfo *si)
{
	return CMS_signed_get_attr_count(si) >= 0;
}

static int64_t
signing_time_of(CMS_SignerInfo *si)
{
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;

	if (idx < 0 || (a = CMS_signed_get_attr(si, idx)) == NULL || X509_ATTRIBUTE_count(a) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL)
		return 0;
	if (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME)
		return verify_asn1_time(t->value.utctime);
	return 0;
}

/* ESS signingCertificate(V2): when present, it must name the signer. */
static int
check_ess(CMS_SignerInfo *si, STACK_OF(X509) *chain, struct buf *detail)
{
	ASN1_STRING *s1 = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
	    V_ASN1_SEQUENCE);
	ASN1_STRING *s2 = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
	    V_ASN1_SEQUENCE);
	ESS_SIGNING_CERT *ss = NULL;
	ESS_SIGNING_CERT_V2 *ss2 = NULL;
	const unsigned char *p;
	int r = 1;

	ERR_clear_error();
	if (s1 == NULL && s2 == NULL)
		return 1;
	if (s1 != NULL) {
		p = ASN1_STRING_get0_data(s1);
		ss = d2i_ESS_SIGNING_CERT(NULL, &p, ASN1_STRING_length(s1));
	}
	if (s2 != NULL) {
		p = ASN1_STRING_get0_data(s2);
		ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(s2));
	}
	if ((s1 != NULL && ss == NULL) || (s2 != NULL && ss2 == NULL)) {
		detail_add(detail, "the signing-certificate attribute cannot be read");
		r = 0;
	} else if (OSSL_ESS_check_signing_certs(ss, ss2, chain, 0) <= 0) {
		detail_add(detail, "the signing-certificate attribute names another certificate");
		r = 0;
	}
	ERR_clear_error();
	ESS_SIGNING_CERT_free(ss);
	ESS_SIGNING_CERT_V2_free(ss2);
	return r;
}

static bool
doc_eku_ok(X509 *x)
{
	static const char *const ok[] = {
		"1.3.6.1.5.5.7.3.36",           /* id-kp-documentSigning (RFC 9336) */
		"1.2.840.113583.1.1.5",         /* Adobe Authentic Documents Trust */
		"1.3.6.1.4.1.311.10.3.12",      /* Microsoft document signing */
		"1.3.6.1.5.5.7.3.4",            /* emailProtection */
		"2.5.29.37.0",                  /* anyExtendedKeyUsage */
	};
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	bool found = false;
	char txt[80];

	if (eku == NULL) {
		ERR_clear_error();
		/* present but unreadable: X509 flags it invalid, the chain check reports it */
		return (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) == 0;
	}
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && !found; i++) {
		if (OBJ_obj2txt(txt, sizeof(txt), sk_ASN1_OBJECT_value(eku, i), 1) <= 0)
			continue;
		for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
			if (strcmp(txt, ok[k]) == 0)
				found = true;
	}
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return found;
}

/* Organisation certificates: org_subjects[i] must appear in the subject as
 * whole RDNs (at the start or after a ',', and ending at the end or a ','). */
static bool
org_subject_matches(const char *subject, const char *want)
{
	size_t wl = strlen(want);

	if (wl == 0)
		return false;
	for (const char *p = subject; (p = strstr(p, want)) != NULL; p++) {
		bool starts = p == subject || p[-1] == ',';
		bool ends = p[wl] == '\0' || p[wl] == ',';

		if (starts && ends)
			return true;
	}
	return false;
}

static bool
org_address_listed(const char *list, const char *addr)
{
	const char *p = list;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		char one[320];

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (ascii_caseeq(one, addr))
				return true;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

static bool
sender_matches(const struct smime_verify_opts *o, const struct smime_cert_info *ci, const char *addr,
    bool *by_org_r)
{
	*by_org_r = false;
	for (size_t i = 0; i < ci->n_emails; i++)
		if (ascii_caseeq(ci->emails[i], addr))
			return true;
	if (o->org_subjects == NULL || o->org_addresses == NULL || ci->subject == NULL)
		return false;
	for (size_t i = 0; o->org_subjects[i] != NULL && o->org_addresses[i] != NULL; i++) {
		if (org_subject_matches(ci->subject, o->org_subjects[i]) &&
		    org_address_listed(o->org_addresses[i], addr)) {
			*by_org_r = true;
			return true;
		}
	}
	return false;
}

static void
check_time(const struct vjob *job, int64_t st, uint32_t *reasons, struct buf *detail)
{
	int64_t d;
	char a[40], b[40];

	if (job->date == 0 || st == 0)
		return;
	d = st - job->date;
	if (d >= -VERIFY_TIME_TOLERANCE && d <= VERIFY_TIME_TOLERANCE)
		return;
	fmt_time(st, a, sizeof(a));
	fmt_time(job->date, b, sizeof(b));
	if (d - VERIFY_TIME_VN_OFFSET >= -VERIFY_TIME_TOLERANCE && d - VERIFY_TIME_VN_OFFSET <= VERIFY_TIME_TOLERANCE) {
		detail_add(detail, "signing time %s is the Date %s plus 7 h: Vietnam local time written as UTC, "
		    "accepted", a, b);
		return;
	}
	*reasons |= SMIME_R_TIME_MISMATCH;
	detail_add(detail, "signing time %s but the Date header says %s", a, b);
}

/* The signing time the signature claims (before the chain is known). */
static int64_t
signing_time_early(const struct signer_job *sj, CMS_SignerInfo *si)
{
	int64_t st = sj->job->content == VC_TSTINFO ? sj->tst_time : has_signed_attrs(si) ? signing_time_of(si) : 0;

	return st != 0 ? st : sj->job->fallback_time;
}

/* Revocation of every certificate of an anchored chain but the anchor. */
static void
check_revocation(struct signer_job *sj, STACK_OF(X509) *chain, int64_t st, struct smime_sig *sig, uint32_t *reasons,
    bool *no_poe_r, struct buf *detail)
{
	const struct smime_verify_opts *o = sj->v->o;
	int n = sk_X509_num(chain);
	struct buf how = BUF_INIT;

	if (o->revocation == SMIME_REVOCATION_OFF)
		return;
	if (n < 2) {
		sig->revocation = xstrdup("anchor");
		return;
	}
	for (int i = 0; i + 1 < n; i++) {
		struct rev_result rr;
		struct kerr e = KERR_INIT;

		memset(&rr, 0, sizeof(rr));
		if (!smime_revocation_check(sk_X509_value(chain, i), sk_X509_value(chain, i + 1), o, sj->v->at, &rr, &e)) {
			rr.status = REV_UNKNOWN;
			snprintf(rr.source, sizeof(rr.source), "error");
			snprintf(rr.detail, sizeof(rr.detail), "%s", e.msg);
		}
		ERR_clear_error();
		if (i == 0 || rr.status != REV_GOOD) {
			if (how.len > 0)
				buf_appends(&how, "; ");
			if (i > 0)
				buf_printf(&how, "CA %d: ", i);
			buf_printf(&how, "%s %s", rr.source,
			    rr.status == REV_GOOD ? "good" : rr.status == REV_REVOKED ? "revoked" : "unknown");
		}
		if (rr.status == REV_REVOKED) {
			/* docs/REVOCATION.md: revoked (or the key compromised) by the
			 * time it says it signed: invalid.  Revoked only after the time
			 * checked (now, or the operator's --at: times kyso can trust):
			 * it stood then.  In between, only the signer's own signingTime
			 * says it came first: indeterminate (REVOKED_NO_POE). */
			const char *who = i == 0 ? "the certificate was" : "a CA certificate was";
			int64_t when = rr.invalid_since != 0 && rr.invalid_since < rr.revoked_at ? rr.invalid_since : rr.revoked_at;
			char t[40];

			fmt_time(when, t, sizeof(t));
			if (smime_revocation_revoked_by(&rr, st != 0 ? st : sj->v->at) || when == 0) {
				*reasons |= SMIME_R_REVOKED;
				detail_add(detail, "%s revoked on %s (%s), before it signed", who, t, smime_rev_reason_code(rr.reason));
			} else if (!smime_revocation_revoked_by(&rr, sj->v->at)) {
				detail_add(detail, "%s revoked later, on %s (%s); it was not revoked at the time checked", who, t,
				    smime_rev_reason_code(rr.reason));
			} else {
				*reasons |= SMIME_R_REVOKED;
				*no_poe_r = true;
				detail_add(detail, "%s revoked on %s (%s), after the time the signer claims to have signed, but "
				    "nothing proves that time: check it as of a time another record proves (--at)", who, t,
				    smime_rev_reason_code(rr.reason));
			}
		} else if (rr.status == REV_UNKNOWN) {
			*reasons |= SMIME_R_REVOCATION_UNKNOWN;
			if (rr.detail[0] != '\0')
				detail_add(detail, "revocation%s: %s", i == 0 ? "" : " of a CA certificate", rr.detail);
		}
	}
	sig->revocation = verify_clean_text(how.data != NULL ? how.data : "", how.len);
	buf_release(&how);
}

static void
verify_signer(struct signer_job *sj, CMS_SignerInfo *si, struct smime_sig *sig, bool multiple)
{
	struct vctx *v = sj->v;
	const struct vjob *job = sj->job;
	const struct smime_verify_opts *o = v->o;
	struct buf detail = BUF_INIT;
	uint32_t reasons = sj->cms_reasons | job->extra_reasons;
	X509 *signer = NULL;
	X509_ALGOR *dig = NULL, *sigalg = NULL;
	const EVP_MD *md;
	int mdnid = NID_undef;
	struct dcache *dc = NULL;
	X509_STORE_CTX *xctx = NULL;
	X509_STORE *empty = NULL;
	STACK_OF(X509) *untrusted = NULL, *chain = NULL;
	struct chain_rec rec;
	bool anchored = false, no_cert = false, signer_usable = true, rev_no_poe = false;
	EVP_PKEY *pk = NULL;
	int64_t st;
	char why[120], name[40];

	memset(&rec, 0, sizeof(rec));
	if (sj->cms_detail != NULL)
		detail_add(&detail, "%s", sj->cms_detail);
	if (job->extra_detail != NULL)
		detail_add(&detail, "%s", job->extra_detail);
	if (multiple && !o->allow_multiple_signers)
		reasons |= SMIME_R_MULTIPLE_SIGNERS;

	/* the signer's certificate: from the CMS only */
	for (int i = 0; i < sk_X509_num(sj->certs); i++) {
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(sj->certs, i)) == 0) {
			signer = sk_X509_value(sj->certs, i);
			break;
		}
	}
	ERR_clear_error();
	if (signer == NULL) {
		reasons |= SMIME_R_NO_SIGNER;
		no_cert = true;
		detail_add(&detail, "the signer's certificate is not in the signature");
	} else {
		sig->has_signer = true;
		cert_info(signer, &sig->signer);
		CMS_SignerInfo_set1_signer_cert(si, signer);
		pk = X509_get0_pubkey(signer);
		ERR_clear_error();
		if (pk == NULL) {
			reasons |= SMIME_R_UNSUPPORTED;
			detail_add(&detail, "the signer's key type is not supported");
			signer_usable = false;
		}
	}

	/* integrity */
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sigalg);
	md = dig != NULL ? md_of_algor(dig, &mdnid) : NULL;
	if (md == NULL) {
		const ASN1_OBJECT *obj = NULL;
		char oid[80] = "?";

		if (dig != NULL) {
			X509_ALGOR_get0(&obj, NULL, NULL, dig);
			OBJ_obj2txt(oid, sizeof(oid), obj, 0);
		}
		reasons |= SMIME_R_UNSUPPORTED;
		detail_add(&detail, "digest algorithm %s is not supported", oid);
		goto chain;
	}
	sig->digest_alg = xstrdup(md_name(mdnid, name, sizeof(name)));
	if (is_eddsa(pk)) {
		int want = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? NID_sha512 : NID_shake256;

		if (mdnid != want) {
			reasons |= SMIME_R_BAD_SIGNATURE;
			detail_add(&detail, "%s must be used with %s (RFC 8419), not %s",
			    EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? "Ed25519" : "Ed448", OBJ_nid2sn(want), name);
		}
	}
	dc = content_digest(sj->ct, md);
	if (dc == NULL) {
		kerr_set(v->err, KERR_INTERNAL, "cannot hash the signed content");
		reasons |= SMIME_R_MALFORMED;
		goto chain;
	}
	if (has_signed_attrs(si)) {
		ASN1_OCTET_STRING *mdattr = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
		    V_ASN1_OCTET_STRING);
		const ASN1_OBJECT *ctattr = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3,
		    V_ASN1_OBJECT);

		ERR_clear_error();
		if (mdattr == NULL) {
			reasons |= SMIME_R_MALFORMED;
			detail_add(&detail, "the signed attributes hold no single messageDigest");
		} else {
			const unsigned char *mv = ASN1_STRING_get0_data(mdattr);
			unsigned int ml = (unsigned int)ASN1_STRING_length(mdattr);
			bool match = ml == dc->len[0] && memcmp(mv, dc->val[0], ml) == 0;

			if (!match && dc->bare_lf && ml == dc->len[1] && memcmp(mv, dc->val[1], ml) == 0)
				match = true;   /* signed as it is stored, with bare LFs */
			if (!match) {
				reasons |= SMIME_R_DIGEST_MISMATCH;
				detail_add(&detail, "the %s digest of the content differs from the signed messageDigest",
				    name);
			}
		}
		if (ctattr != NULL && OBJ_cmp(ctattr, CMS_get0_eContentType(sj->cms)) != 0) {
			reasons |= SMIME_R_ECONTENT_MISMATCH;
			detail_add(&detail, "the signed content-type attribute differs from the content's type");
		}
		if (signer != NULL && signer_usable && is_eddsa(pk)) {
			struct buf tbs = BUF_INIT;

			if (!signed_attrs_der(si, &tbs) || !eddsa_verify(si, pk, (const unsigned char *)tbs.data, tbs.len)) {
				reasons |= SMIME_R_BAD_SIGNATURE;
				detail_add(&detail, "the signature value does not verify");
			}
			buf_release(&tbs);
		} else if (signer != NULL && signer_usable && CMS_SignerInfo_verify(si) <= 0) {
			reasons |= SMIME_R_BAD_SIGNATURE;
			detail_openssl(&detail, "the signature value does not verify");
		}
	} else if (signer != NULL && signer_usable && is_eddsa(pk)) {
		/* no signed attributes: PureEdDSA over the content itself */
		struct buf all = BUF_INIT;

		for (size_t i = 0; i < sj->ct->n; i++)
			buf_append(&all, sj->ct->ranges[i].p, sj->ct->ranges[i].n);
		if (!eddsa_verify(si, pk, (const unsigned char *)(all.data != NULL ? all.data : ""), all.len)) {
			reasons |= SMIME_R_DIGEST_MISMATCH;
			detail_add(&detail, "no signed attributes, and the signature does not match the content "
			    "(the content or the signature was changed)");
		}
		buf_release(&all);
	} else if (signer != NULL && signer_usable) {
		/* no signed attributes: the signature is over the content's digest */
		int r = -1;

		for (int k = 0; k < (dc->bare_lf ? 2 : 1) && r != 1; k++) {
			BIO *b = BIO_new(BIO_f_md());
			EVP_MD_CTX *bctx = NULL;

			if (b != NULL && BIO_set_md(b, md) > 0 && BIO_get_md_ctx(b, &bctx) > 0 &&
			    EVP_MD_CTX_copy_ex(bctx, dc->ctx[k]))
				r = CMS_SignerInfo_verify_content(si, b);
			BIO_free(b);
		}
		if (r != 1) {
			reasons |= SMIME_R_DIGEST_MISMATCH;
			detail_openssl(&detail, "no signed attributes, and the signature does not match the content "
			    "(the content or the signature was changed)");
		}
		ERR_clear_error();
	}
	if (weak_md_nid(mdnid)) {
		if (job->weak_ok)
			detail_add(&detail, "%s tolerated for this sender", name);
		else
			reasons |= SMIME_R_WEAK_ALGORITHM;
		detail_add(&detail, "digest %s", name);
	}
	if (sigalg != NULL) {
		const ASN1_OBJECT *obj = NULL;
		int snid, smd = NID_undef, spk;

		X509_ALGOR_get0(&obj, NULL, NULL, sigalg);
		snid = OBJ_obj2nid(obj);
		if (OBJ_find_sigid_algs(snid, &smd, &spk) && weak_md_nid(smd)) {
			if (!job->weak_ok)
				reasons |= SMIME_R_WEAK_ALGORITHM;
			detail_add(&detail, "signature algorithm %s", OBJ_nid2sn(snid));
		}
	}

chain:
	if (signer == NULL)
		goto decide;
	if (weak_key(X509_get0_pubkey(signer), why, sizeof(why))) {
		if (!job->weak_ok)
			reasons |= SMIME_R_WEAK_ALGORITHM;
		detail_add(&detail, "signer's %s", why);
	}
	untrusted = sk_X509_dup(sj->certs);
	if (o->trust != NULL)
		for (int i = 0; i < sk_X509_num(o->trust->intermediates); i++)
			sk_X509_push(untrusted, sk_X509_value(o->trust->intermediates, i));
	if (o->trust == NULL)
		empty = X509_STORE_new();
	xctx = X509_STORE_CTX_new();
	if (untrusted == NULL || xctx == NULL ||
	    !X509_STORE_CTX_init(xctx, o->trust != NULL ? o->trust->store : empty, signer, untrusted)) {
		kerr_set(v->err, KERR_INTERNAL, "cannot prepare the chain check");
		reasons |= SMIME_R_UNTRUSTED_CHAIN;
		ERR_clear_error();
		goto decide;
	}
	X509_STORE_CTX_set_time(xctx, 0, (time_t)v->at);
	if (job->purpose == VP_MAIL)
		X509_STORE_CTX_set_purpose(xctx, X509_PURPOSE_SMIME_SIGN);
	else if (job->purpose == VP_TIMESTAMP)
		X509_STORE_CTX_set_purpose(xctx, X509_PURPOSE_TIMESTAMP_SIGN);
	X509_STORE_CTX_set_app_data(xctx, &rec);
	X509_STORE_CTX_set_verify_cb(xctx, chain_cb);
	if (X509_verify_cert(xctx) <= 0 && rec.reasons == 0) {
		rec.reasons |= SMIME_R_UNTRUSTED_CHAIN;
		snprintf(rec.first, sizeof(rec.first), "%s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(xctx)));
	}
	ERR_clear_error();
	reasons |= rec.reasons;
	if (rec.first[0] != '\0')
		detail_add(&detail, "chain: %s", rec.first);
	chain = X509_STORE_CTX_get1_chain(xctx);
	anchored = (rec.reasons & SMIME_R_UNTRUSTED_CHAIN) == 0 && chain != NULL &&
	    X509_STORE_CTX_get_num_untrusted(xctx) < sk_X509_num(chain);
	if (chain != NULL) {
		int n = sk_X509_num(chain);
		/* weak algorithms in the chain below the anchor */
		int below = anchored ? n - 1 : n;

		sig->chain = xcalloc((size_t)n + 1, sizeof(*sig->chain));
		sig->chain_der = xcalloc((size_t)n + 1, sizeof(*sig->chain_der));
		for (int i = 0; i < n; i++) {
			X509 *x = sk_X509_value(chain, i);
			int dl = i2d_X509(x, NULL);

			if (dl > 0) {
				unsigned char *dp;

				buf_reserve_exact(&sig->chain_der[i], (size_t)dl);
				dp = (unsigned char *)sig->chain_der[i].data;
				if (i2d_X509(x, &dp) == dl) {
					sig->chain_der[i].len = (size_t)dl;
					sig->chain_der[i].data[dl] = '\0';
				}
			}
			sig->chain[sig->n_chain++] = xstrdup(cert_extra(x)->subject);
		}
		for (int i = 0; i < below; i++) {
			X509 *x = sk_X509_value(chain, i);

			if (weak_cert_sig(x, why, sizeof(why)) || (i > 0 && weak_key(X509_get0_pubkey(x), why, sizeof(why)))) {
				if (!job->weak_ok)
					reasons |= SMIME_R_WEAK_ALGORITHM;
				detail_add(&detail, "%s: %s", i == 0 ? "signer" : "CA", why);
			}
		}
		if (has_signed_attrs(si) && !check_ess(si, chain, &detail))
			reasons |= SMIME_R_BAD_SIGNATURE;
	}

	/* key usage and extended key usage of the signer */
	{
		uint32_t ku = X509_get_key_usage(signer);
		uint32_t flags = X509_get_extension_flags(signer);
		uint32_t xku = X509_get_extended_key_usage(signer);

		if (ku != UINT32_MAX && (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0) {
			reasons |= SMIME_R_KEY_USAGE;
			detail_add(&detail, "key usage allows neither digitalSignature nor nonRepudiation");
		}
		if ((flags & EXFLAG_XKUSAGE) != 0) {
			bool ok;

			if (job->purpose == VP_MAIL)
				ok = (xku & (XKU_SMIME | XKU_ANYEKU)) != 0;
			else if (job->purpose == VP_TIMESTAMP)
				ok = (xku & XKU_TIMESTAMP) != 0;
			else
				ok = doc_eku_ok(signer);
			if (!ok) {
				reasons |= SMIME_R_KEY_USAGE;
				detail_add(&detail, "extended key usage does not allow %s",
				    job->purpose == VP_MAIL ? "e-mail protection" :
				    job->purpose == VP_TIMESTAMP ? "time stamping" : "document signing");
			}
		}
	}

	if (anchored)
		check_revocation(sj, chain, signing_time_early(sj, si), sig, &reasons, &rev_no_poe, &detail);
	else if (o->revocation != SMIME_REVOCATION_OFF)
		sig->revocation = xstrdup("not checked (no trusted chain)");

decide:
	st = job->content == VC_TSTINFO ? sj->tst_time : has_signed_attrs(si) ? signing_time_of(si) : 0;
	if (st == 0)
		st = job->fallback_time;
	sig->signing_time = st;
	if (signer != NULL && st != 0 && (reasons & SMIME_R_EXPIRED) != 0 && st <= sig->signer.not_after &&
	    st >= sig->signer.not_before) {
		char t[40];

		fmt_time(st, t, sizeof(t));
		detail_add(&detail, "it says it was signed on %s, while the certificate was valid, but that time "
		    "is the signer's own claim: check it as of that time (--at) if another record proves it", t);
	}
	if (job->purpose == VP_MAIL) {
		bool by_org = false;

		if (job->sender == NULL) {
			reasons |= SMIME_R_SENDER_MISMATCH;
			detail_add(&detail, "%s", job->sender_problem != NULL ? job->sender_problem :
			    "the message has no sender address");
		} else if (signer != NULL && !sender_matches(o, &sig->signer, job->sender, &by_org)) {
			reasons |= SMIME_R_SENDER_MISMATCH;
			detail_add(&detail, "the sender %s is not an address of the certificate", job->sender);
		} else if (by_org) {
			detail_add(&detail, "organisation certificate authorised for %s", job->sender);
		}
		check_time(job, st, &reasons, &detail);
	}
	if (job->content == VC_TSTINFO && sj->tst_md != NULL)
		detail_add(&detail, "document timestamp over %s", sj->tst_md);

	sig->reasons = reasons;
	sig->verdict = verify_verdict_of(reasons, o->revocation);
	if (rev_no_poe && sig->verdict == SMIME_VERDICT_INVALID &&
	    verify_verdict_of(reasons & ~(uint32_t)SMIME_R_REVOKED, o->revocation) != SMIME_VERDICT_INVALID)
		sig->verdict = SMIME_VERDICT_INDETERMINATE;     /* revoked, and no proof it signed before */
	if (no_cert && sig->verdict == SMIME_VERDICT_INVALID &&
	    (reasons & ~(SMIME_R_NO_SIGNER | SMIME_R_UNTRUSTED_CHAIN | SMIME_R_EXPIRED | SMIME_R_REVOCATION_UNKNOWN)) == 0)
		sig->verdict = SMIME_VERDICT_INDETERMINATE;     /* cannot be checked without the certificate */
	sig->detail = detail.len > 0 ? verify_clean_text(detail.data, detail.len) : NULL;
	buf_release(&detail);
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_CTX_free(xctx);
	X509_STORE_free(empty);
	sk_X509_free(untrusted);
	ERR_clear_error();
}

/* --- parsing a CMS fast ---
 *
 * OpenSSL 3.0 decodes every public key it parses through its provider
 * decoders, which costs far more than the rest of a signature check (about
 * 0.2 ms a certificate).  The same certificates come in message after
 * message (the sender's, the sub-CA's), so a CMS is parsed without its
 * certificates and each certificate is taken from a small cache keyed by its
 * exact DER, parsed once.  Only definite-length DER is rewritten this way;
 * anything else is parsed as it is. */

#define CERT_CACHE_SLOTS 2048           /* open addressing; at most half used */
#define CERT_CACHE_MAX_DER (16 * 1024)  /* certificates larger than this are not kept */
#define STRIP_MAX_DER (4u * 1024 * 1024) /* larger CMS (a big .p7m) are parsed as they are */

struct cert_slot {
	uint64_t hash;
	size_t len;
	unsigned char *der;             /* owned */
	X509 *x;                        /* owned (one reference) */
};

static pthread_mutex_t cert_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cert_slot *cert_cache;    /* CERT_CACHE_SLOTS, allocated on first use */
static size_t cert_cache_used;

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* The certificate with exactly these DER bytes (a new reference), or NULL
 * when they are not a certificate. */
static X509 *
cert_from_der(const unsigned char *der, size_t len)
{
	uint64_t h;
	size_t i;
	const unsigned char *p = der;
	X509 *x = NULL;

	if (len > CERT_CACHE_MAX_DER)
		return d2i_X509(NULL, &p, (long)len);
	h = fnv1a(der, len);
	pthread_mutex_lock(&cert_cache_lock);
	if (cert_cache == NULL)
		cert_cache = xcalloc(CERT_CACHE_SLOTS, sizeof(*cert_cache));
	for (i = h % CERT_CACHE_SLOTS; cert_cache[i].der != NULL; i = (i + 1) % CERT_CACHE_SLOTS) {
		if (cert_cache[i].hash == h && cert_cache[i].len == len && memcmp(cert_cache[i].der, der, len) == 0) {
			x = cert_cache[i].x;
			X509_up_ref(x);
			pthread_mutex_unlock(&cert_cache_lock);
			return x;
		}
	}
	pthread_mutex_unlock(&cert_cache_lock);
	/* parse outside the lock: it is the slow part */
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		X509_free(x);
		return NULL;
	}
	pthread_mutex_lock(&cert_cache_lock);
	if (cert_cache_used >= CERT_CACHE_SLOTS / 2) {
		/* full: start again (bounded memory, no eviction bookkeeping) */
		for (size_t k = 0; k < CERT_CACHE_SLOTS; k++) {
			free(cert_cache[k].der);
			X509_free(cert_cache[k].x);
		}
		memset(cert_cache, 0, CERT_CACHE_SLOTS * sizeof(*cert_cache));
		cert_cache_used = 0;
	}
	for (i = h % CERT_CACHE_SLOTS; cert_cache[i].der != NULL; i = (i + 1) % CERT_CACHE_SLOTS)
		if (cert_cache[i].hash == h && cert_cache[i].len == len && memcmp(cert_cache[i].der, der, len) == 0)
			break;
	if (cert_cache[i].der == NULL) {
		cert_cache[i].hash = h;
		cert_cache[i].len = len;
		cert_cache[i].der = xmalloc(len);
		memcpy(cert_cache[i].der, der, len);
		cert_cache[i].x = x;
		X509_up_ref(x);
		cert_cache_used++;
	}
	pthread_mutex_unlock(&cert_cache_lock);
	return x;
}

struct tlv {
	const unsigned char *start;     /* the tag */
	const unsigned char *content;
	size_t len;                     /* of the content */
	size_t total;                   /* header + content */
	int tag, cls;
	bool cons;
};

/* One definite-length TLV at p (< end). */
static bool
tlv_read(const unsigned char *p, const unsigned char *end, struct tlv *t)
{
	const unsigned char *q = p;
	long len;
	int tag, cls, r;

	if (p >= end)
		return false;
	r = ASN1_get_object(&q, &len, &tag, &cls, (long)(end - p));
	if ((r & 0x80) != 0 || r == (V_ASN1_CONSTRUCTED | 1) || len < 0 || len > end - q) {
		ERR_clear_error();
		return false;
	}
	t->start = p;
	t->content = q;
	t->len = (size_t)len;
	t->total = (size_t)(q - p) + (size_t)len;
	t->tag = tag;
	t->cls = cls;
	t->cons = (r & V_ASN1_CONSTRUCTED) != 0;
	return true;
}

static void
der_header(struct buf *out, unsigned char tag, size_t len)
{
	unsigned char h[10];
	size_t n = 0;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (unsigned char)len;
	} else {
		int k = 0;

		for (size_t t = len; t > 0; t >>= 8)
			k++;
		h[n++] = (unsigned char)(0x80 | k);
		for (int i = k - 1; i >= 0; i--)
			h[n++] = (unsigned char)(len >> (8 * i));
	}
	buf_append(out, h, n);
}

static size_t
der_header_len(size_t len)
{
	size_t k = 0;

	if (len < 0x80)
		return 2;
	for (size_t t = len; t > 0; t >>= 8)
		k++;
	return 2 + k;
}

/* A ContentInfo/SignedData without its certificates (appended to out), and
 * the certificates' DER (ranges into der).  false when der is not shaped so
 * (then it is parsed as it is). */
static bool
strip_certs(const unsigned char *der, size_t len, struct buf *out, struct vrange *certs, size_t *ncerts_r,
    size_t max_certs)
{
	static const unsigned char signed_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
	const unsigned char *end = der + len;
	struct tlv ci, oid, c0, sd, child, cs = { 0 }, cert;
	const unsigned char *p;
	size_t ncerts = 0, sd_len, c0_len;
	int idx = 0;
	bool found = false;

	if (len > STRIP_MAX_DER || !tlv_read(der, end, &ci) || ci.tag != V_ASN1_SEQUENCE || !ci.cons)
		return false;
	if (!tlv_read(ci.content, ci.content + ci.len, &oid) || oid.tag != V_ASN1_OBJECT ||
	    oid.len != sizeof(signed_oid) || memcmp(oid.content, signed_oid, sizeof(signed_oid)) != 0)
		return false;
	if (!tlv_read(oid.start + oid.total, ci.content + ci.len, &c0) || c0.cls != V_ASN1_CONTEXT_SPECIFIC ||
	    c0.tag != 0 || !c0.cons || c0.start + c0.total != ci.content + ci.len)
		return false;
	if (!tlv_read(c0.content, c0.content + c0.len, &sd) || sd.tag != V_ASN1_SEQUENCE || !sd.cons ||
	    sd.total != c0.len)
		return false;
	for (p = sd.content; p < sd.content + sd.len; p += child.total, idx++) {
		if (!tlv_read(p, sd.content + sd.len, &child))
			return false;
		if (idx == 3 && child.cls == V_ASN1_CONTEXT_SPECIFIC && child.tag == 0 && child.cons) {
			cs = child;
			found = true;
		}
	}
	if (!found)
		return false;
	for (p = cs.content; p < cs.content + cs.len; p += cert.total) {
		if (!tlv_read(p, cs.content + cs.len, &cert) || cert.tag != V_ASN1_SEQUENCE ||
		    cert.cls != V_ASN1_UNIVERSAL || ncerts == max_certs)
			return false;
		certs[ncerts].p = cert.start;
		certs[ncerts].n = cert.total;
		ncerts++;
	}
	sd_len = sd.len - cs.total;
	c0_len = der_header_len(sd_len) + sd_len;
	der_header(out, 0x30, oid.total + der_header_len(c0_len) + c0_len);
	buf_append(out, oid.start, oid.total);
	der_header(out, 0xa0, c0_len);
	der_header(out, 0x30, sd_len);
	buf_append(out, sd.content, (size_t)(cs.start - sd.content));
	buf_append(out, cs.start + cs.total, (size_t)(sd.content + sd.len - (cs.start + cs.total)));
	*ncerts_r = ncerts;
	return true;
}

#define MAX_CMS_CERTS 64

/* Parse a CMS; *certs_r gets its certificates (caller owns).  *end_r is
 * where the CMS ended in der. */
static CMS_ContentInfo *
cms_parse(const unsigned char *der, size_t len, STACK_OF(X509) **certs_r, const unsigned char **end_r)
{
	struct buf stripped = BUF_INIT;
	struct vrange certs[MAX_CMS_CERTS];
	size_t ncerts = 0;
	CMS_ContentInfo *cms = NULL;
	const unsigned char *p;
	struct tlv whole;

	*certs_r = NULL;
	if (tlv_read(der, der + len, &whole) && strip_certs(der, whole.total, &stripped, certs, &ncerts, MAX_CMS_CERTS)) {
		p = (const unsigned char *)stripped.data;
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)stripped.len);
		if (cms != NULL && p == (const unsigned char *)stripped.data + stripped.len) {
			STACK_OF(X509) *sk = sk_X509_new_null();

			for (size_t i = 0; i < ncerts; i++) {
				X509 *x = cert_from_der(certs[i].p, certs[i].n);

				if (x != NULL)
					sk_X509_push(sk, x);
			}
			ERR_clear_error();
			*certs_r = sk;
			*end_r = der + whole.total;
			buf_release(&stripped);
			return cms;
		}
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	buf_release(&stripped);
	ERR_clear_error();
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms != NULL) {
		*certs_r = CMS_get1_certs(cms);
		*end_r = p;
	}
	return cms;
}

/* --- one CMS --- */

static bool
oid_is(const ASN1_OBJECT *o, int nid)
{
	return o != NULL && OBJ_obj2nid(o) == nid;
}

/* adbe.pkcs7.sha1 and RFC 3161 timestamps: the eContent says what the
 * ranges' digest is. */
static void
check_embedded_digest(struct signer_job *sj, const unsigned char *ec, size_t eclen, uint32_t *reasons,
    struct buf *detail, TS_TST_INFO **tst_r)
{
	const struct vjob *job = sj->job;
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;

	if (job->content == VC_DIGEST_SHA1) {
		if (!hash_ranges(md_by_nid(NID_sha1), job->ranges, job->n_ranges, h, &hl) || eclen != hl ||
		    memcmp(ec, h, hl) != 0) {
			*reasons |= SMIME_R_DIGEST_MISMATCH;
			detail_add(detail, "the SHA-1 digest inside the signature differs from the document's");
		}
		if (!job->weak_ok)
			*reasons |= SMIME_R_WEAK_ALGORITHM;
		detail_add(detail, "adbe.pkcs7.sha1 (SHA-1 of the document)");
		return;
	}
	/* VC_TSTINFO */
	{
		const unsigned char *p = ec;
		TS_TST_INFO *tst = d2i_TS_TST_INFO(NULL, &p, (long)eclen);
		TS_MSG_IMPRINT *mi;
		const EVP_MD *md;
		ASN1_OCTET_STRING *want;
		int nid = NID_undef;
		static char mdname[40];

		if (!oid_is(CMS_get0_eContentType(sj->cms), NID_id_smime_ct_TSTInfo) || tst == NULL) {
			*reasons |= SMIME_R_MALFORMED;
			detail_add(detail, "the document timestamp holds no TSTInfo");
			TS_TST_INFO_free(tst);
			ERR_clear_error();
			return;
		}
		mi = TS_TST_INFO_get_msg_imprint(tst);
		md = md_of_algor(TS_MSG_IMPRINT_get_algo(mi), &nid);
		want = TS_MSG_IMPRINT_get_msg(mi);
		if (md == NULL) {
			*reasons |= SMIME_R_MALFORMED;
			detail_add(detail, "the timestamp's imprint algorithm is not supported");
		} else if (!hash_ranges(md, job->ranges, job->n_ranges, h, &hl) ||
		    (unsigned int)ASN1_STRING_length(want) != hl || memcmp(ASN1_STRING_get0_data(want), h, hl) != 0) {
			*reasons |= SMIME_R_DIGEST_MISMATCH;
			detail_add(detail, "the timestamp's imprint differs from the document's digest");
		}
		if (md != NULL && weak_md_nid(nid) && !job->weak_ok)
			*reasons |= SMIME_R_WEAK_ALGORITHM;
		if (md != NULL)
			sj->tst_md = md_name(nid, mdname, sizeof(mdname));
		sj->tst_time = verify_asn1_time(TS_TST_INFO_get_time(tst));
		*tst_r = tst;
		ERR_clear_error();
	}
}

bool
verify_cms(struct vctx *v, const struct vjob *job, struct vresult *res)
{
	struct vresult init = VRESULT_INIT;
	const unsigned char *p = job->der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	ASN1_OCTET_STRING **pos;
	const unsigned char *ec = NULL;
	size_t eclen = 0;
	struct content ct;
	struct signer_job sj;
	struct buf cms_detail = BUF_INIT;
	TS_TST_INFO *tst = NULL;
	struct vrange ecr;
	int nsi;

	*res = init;
	res->first_sig = v->r->n_sigs;
	memset(&ct, 0, sizeof(ct));
	memset(&sj, 0, sizeof(sj));
	if (++v->work > VERIFY_MAX_WORK) {
		v->truncated = true;
		add_malformed(v, job, "too many signatures in one message: not checked");
		goto out;
	}
	if (job->der_len == 0 || job->der_len > VERIFY_MAX_CMS) {
		add_malformed(v, job, job->der_len == 0 ? "the signature is empty" : "the signature is too large");
		goto out;
	}
	cms = cms_parse(job->der, job->der_len, &certs, &p);
	if (cms == NULL) {
		struct buf d = BUF_INIT;

		detail_openssl(&d, "not a CMS signature");
		add_malformed(v, job, d.data);
		buf_release(&d);
		goto out;
	}
	ERR_clear_error();
	res->is_cms = true;
	for (const unsigned char *q = p; q < job->der + job->der_len; q++) {
		if (*q != 0) {
			add_malformed(v, job, "bytes follow the signature's CMS structure");
			goto out;
		}
	}
	if (oid_is(CMS_get0_type(cms), NID_pkcs7_enveloped) || oid_is(CMS_get0_type(cms), NID_id_smime_ct_authEnvelopedData)) {
		res->encrypted = true;
		res->verdict = SMIME_VERDICT_ENCRYPTED;
		goto out;
	}
	if (!oid_is(CMS_get0_type(cms), NID_pkcs7_signed)) {
		char t[80] = "?", d[160];

		OBJ_obj2txt(t, sizeof(t), CMS_get0_type(cms), 0);
		snprintf(d, sizeof(d), "a CMS %s, not a signature", t);
		add_malformed(v, job, d);
		goto out;
	}

	/* what the CMS carries */
	pos = CMS_get0_content(cms);
	if (pos != NULL && *pos != NULL) {
		ec = ASN1_STRING_get0_data(*pos);
		eclen = (size_t)ASN1_STRING_length(*pos);
	}
	sj.v = v;
	sj.job = job;
	sj.cms = cms;
	sj.ct = &ct;
	switch (job->content) {
	case VC_DETACHED:
		if (ec != NULL) {
			sj.cms_reasons |= SMIME_R_ECONTENT_MISMATCH;
			detail_add(&cms_detail, "a detached signature that also carries content of its own (%zu bytes)",
			    eclen);
		}
		if (!oid_is(CMS_get0_eContentType(cms), NID_pkcs7_data)) {
			sj.cms_reasons |= SMIME_R_ECONTENT_MISMATCH;
			detail_add(&cms_detail, "the signed content is not of type data");
		}
		ct.ranges = job->ranges;
		ct.n = job->n_ranges;
		ct.canon = job->canon_lf;
		break;
	case VC_ENCAPSULATED:
		if (ec == NULL) {
			add_malformed(v, job, "the signature does not contain the signed content");
			goto out;
		}
		if (!oid_is(CMS_get0_eContentType(cms), NID_pkcs7_data)) {
			add_malformed(v, job, "the signed content is not of type data");
			goto out;
		}
		res->econtent = ec;
		res->econtent_len = eclen;
		/* FALLTHROUGH */
	case VC_DIGEST_SHA1:
	case VC_TSTINFO:
		if (ec == NULL) {
			add_malformed(v, job, "the signature does not contain the content it must carry");
			goto out;
		}
		ecr.p = ec;
		ecr.n = eclen;
		ct.ranges = &ecr;
		ct.n = 1;
		ct.canon = false;
		if (job->content != VC_ENCAPSULATED)
			check_embedded_digest(&sj, ec, eclen, &sj.cms_reasons, &cms_detail, &tst);
		break;
	}
	sj.cms_detail = cms_detail.data;

	if (certs == NULL)
		certs = sk_X509_new_null();
	ERR_clear_error();
	sj.certs = certs;
	sis = CMS_get0_SignerInfos(cms);
	nsi = sk_CMS_SignerInfo_num(sis);
	if (nsi <= 0) {
		struct smime_sig *s = verify_sig_add(v, job->where, job->kind, job->covers, job->file);

		if (s != NULL) {
			s->reasons = SMIME_R_NO_SIGNER | sj.cms_reasons | job->extra_reasons;
			s->verdict = SMIME_VERDICT_INVALID;
			s->detail = xstrdup("the signature has no signerInfo: nobody signed it");
		}
		goto out;
	}
	if (nsi > VERIFY_MAX_SIGNERINFOS) {
		add_malformed(v, job, "the signature has too many signerInfos");
		goto out;
	}
	for (int i = 0; i < nsi; i++) {
		struct smime_sig *s = verify_sig_add(v, job->where, job->kind, job->covers, job->file);

		if (s == NULL)
			break;
		verify_signer(&sj, sk_CMS_SignerInfo_value(sis, i), s, nsi > 1);
	}
	/* Co-signers (when allowed): every one must verify, and one of them
	 * must be the sender; the others need not carry the sender's address. */
	if (nsi > 1 && v->o->allow_multiple_signers && job->purpose == VP_MAIL) {
		bool one_is_sender = false;

		for (size_t i = res->first_sig; i < v->r->n_sigs; i++)
			if (v->r->sigs[i].has_signer && !(v->r->sigs[i].reasons & SMIME_R_SENDER_MISMATCH))
				one_is_sender = true;
		for (size_t i = res->first_sig; one_is_sender && i < v->r->n_sigs; i++) {
			struct smime_sig *s = &v->r->sigs[i];

			if (s->reasons & SMIME_R_SENDER_MISMATCH) {
				s->reasons &= ~(uint32_t)SMIME_R_SENDER_MISMATCH;
				s->verdict = verify_verdict_of(s->reasons, v->o->revocation);
			}
		}
	}
out:
	res->n_sigs = v->r->n_sigs - res->first_sig;
	if (res->n_sigs > 0) {
		res->verdict = SMIME_VERDICT_VALID;
		for (size_t i = res->first_sig; i < v->r->n_sigs; i++) {
			res->verdict = verify_verdict_worst(res->verdict, v->r->sigs[i].verdict);
			res->reasons |= v->r->sigs[i].reasons;
		}
	} else if (!res->encrypted) {
		res->verdict = SMIME_VERDICT_MALFORMED;
		res->reasons |= SMIME_R_MALFORMED;
	}
	content_release(&ct);
	TS_TST_INFO_free(tst);
	sk_X509_pop_free(certs, X509_free);
	buf_release(&cms_detail);
	res->cms = cms;
	ERR_clear_error();
	return !kerr_isset(v->err);
}

void
vresult_release(struct vresult *res)
{
	CMS_ContentInfo_free(res->cms);
	res->cms = NULL;
	res->econtent = NULL;
	res->econtent_len = 0;
}
