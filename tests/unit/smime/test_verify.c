/*
 * Unit tests of the verification engine (smime/verify*.c): every reason
 * code produced by a message or document made here, the message and
 * document verdicts, sender spoofing, coverage, nesting, bare documents,
 * round trips of smime_sign_message, and bad input that must give a
 * verdict, never a crash.
 *
 * The PKI is made once per run by tests/pki/mkpki (in the parent, before
 * the tests fork); signatures are made here with OpenSSL, so each test can
 * shape exactly the CMS it needs (leaf only, no certificates, no signer,
 * two signers, eContent where none belongs, a broken signature value...).
 * Signed PDFs come from tests/data/mkpdf.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "smime/smime.h"
#include "tests/unit/testmain.h"

/* ------------------------------------------------------------------ */
/* The fixture: a PKI, its trust objects, signed PDFs */

static char topdir[] = "/tmp/kyso-vfy-XXXXXX";
static char *pkidir, *pdfdir;
static char **env_keys, **env_vals;
static size_t env_n;
static bool have_pdfs;
static struct smime_trust *trust_full;     /* anchors + intermediates + local CRLs */
static struct smime_trust *trust_anchors;  /* anchors only */

#define NGAN "ngan@benluc.longan.gov.vn"
#define HDRS_NGAN "From: =?UTF-8?B?VHLhuqduIEtpbSBOZ8Oibg==?= <" NGAN ">\r\nTo: ubnd@longan.gov.vn\r\n" \
	"Subject: test\r\nMessage-ID: <t.1@benluc.longan.gov.vn>\r\n"
#define ENTITY "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" \
	"K\xc3\xadnh g\xe1\xbb\xadi: UBND t\xe1\xbb\x89nh Long An.\r\nN\xe1\xbb\x99i dung c\xc3\xb4ng v\xc4\x83n.\r\n"

static const char *
env(const char *key)
{
	for (size_t i = 0; i < env_n; i++)
		if (strcmp(env_keys[i], key) == 0)
			return env_vals[i];
	fprintf(stderr, "pki.env has no %s\n", key);
	abort();
}

static void
load_env(const char *file)
{
	FILE *fp = fopen(file, "r");
	char line[4096];

	if (fp == NULL)
		abort();
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *eq = strchr(line, '=');

		if (eq == NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*eq = '\0';
		env_keys = xreallocarray(env_keys, env_n + 1, sizeof(*env_keys));
		env_vals = xreallocarray(env_vals, env_n + 1, sizeof(*env_vals));
		env_keys[env_n] = xstrdup(line);
		env_vals[env_n] = xstrdup(eq + 1);
		env_n++;
	}
	fclose(fp);
}

static char *
leaf_file(const char *leaf, const char *ext)
{
	return xasprintf("%s/%s%s", pkidir, leaf, ext);
}

static X509 *
read_cert(const char *file)
{
	FILE *fp = fopen(file, "r");
	X509 *x = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

	if (fp != NULL)
		fclose(fp);
	if (x == NULL)
		abort();
	return x;
}

static X509 *
cert_of(const char *leaf)
{
	char *f = leaf_file(leaf, ".pem");
	X509 *x = read_cert(f);

	free(f);
	return x;
}

static EVP_PKEY *
key_of(const char *leaf)
{
	char *f = leaf_file(leaf, ".key");
	FILE *fp = fopen(f, "r");
	EVP_PKEY *k = fp != NULL ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;

	if (fp != NULL)
		fclose(fp);
	free(f);
	if (k == NULL)
		abort();
	return k;
}

static STACK_OF(X509) *
chain_of(const char *leaf)
{
	char *f = leaf_file(leaf, ".chain.pem");
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *fp = fopen(f, "r");
	X509 *x;

	while (fp != NULL && (x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	ERR_clear_error();
	if (fp != NULL)
		fclose(fp);
	free(f);
	return sk;
}

/* ------------------------------------------------------------------ */
/* Making signatures and messages */

struct so {                             /* how to sign */
	const char *signer;             /* leaf name; NULL: "ngan" */
	const char *cosigner;           /* a second signerInfo, or NULL */
	const EVP_MD *md;               /* NULL: SHA-256 */
	bool opaque;                    /* embed the content */
	bool no_certs;                  /* no certificate at all in the CMS */
	bool leaf_only;                 /* only the signer's certificate, no sub-CA */
	bool no_attrs;                  /* no signed attributes */
	bool no_signers;                /* a SignedData with no signerInfo */
	int64_t signing_time;           /* 0: now */
	const char *econtent;           /* a "detached" signature that carries this content */
	bool break_sig;                 /* flip a bit of the signature value */
	bool unknown_digest;            /* turn the digest OID into one nobody knows */
};

static void
sign_cms(const char *data, size_t len, const struct so *so, struct buf *der)
{
	const char *signer = so->signer != NULL ? so->signer : "ngan";
	const EVP_MD *md = so->md != NULL ? so->md : EVP_sha256();
	unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP;
	STACK_OF(X509) *chain = so->leaf_only || so->no_certs ? NULL : chain_of(signer);
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si = NULL;
	BIO *in;
	unsigned char *out = NULL;
	int n;

	if (so->no_signers) {
		/* a SignedData with no signerInfo (CMS_final refuses to make one) */
		PKCS7 *p7 = PKCS7_new();
		X509 *cert = cert_of(signer);

		ck_assert(PKCS7_set_type(p7, NID_pkcs7_signed));
		ck_assert(PKCS7_content_new(p7, NID_pkcs7_data));
		PKCS7_set_detached(p7, 1);
		ck_assert(PKCS7_add_certificate(p7, cert));
		n = i2d_PKCS7(p7, &out);
		ck_assert_int_gt(n, 0);
		buf_reset(der);
		buf_append(der, out, (size_t)n);
		OPENSSL_free(out);
		PKCS7_free(p7);
		X509_free(cert);
		sk_X509_pop_free(chain, X509_free);
		return;
	}
	if (!so->opaque && so->econtent == NULL)
		flags |= CMS_DETACHED;
	if (so->no_attrs)
		flags |= CMS_NOATTR;
	cms = CMS_sign(NULL, NULL, chain, NULL, flags);
	ck_assert_ptr_nonnull(cms);
	if (!so->no_signers) {
		const char *names[2] = { signer, so->cosigner };

		for (int i = 0; i < 2 && names[i] != NULL; i++) {
			X509 *cert = cert_of(names[i]);
			EVP_PKEY *key = key_of(names[i]);
			CMS_SignerInfo *s = CMS_add1_signer(cms, cert, key, md, flags | (so->no_certs ? CMS_NOCERTS : 0));

			ck_assert_ptr_nonnull(s);
			if (!so->no_attrs) {
				ASN1_TIME *t = ASN1_TIME_set(NULL, so->signing_time != 0 ? (time_t)so->signing_time : time(NULL));

				ck_assert(CMS_signed_add1_attr_by_NID(s, NID_pkcs9_signingTime, t->type, t, -1));
				ASN1_TIME_free(t);
			}
			if (si == NULL)
				si = s;
			X509_free(cert);
			EVP_PKEY_free(key);
		}
	}
	if (so->econtent != NULL)
		in = BIO_new_mem_buf(so->econtent, (int)strlen(so->econtent));
	else
		in = BIO_new_mem_buf(data, (int)len);
	ck_assert_msg(CMS_final(cms, in, NULL, flags), "CMS_final failed");
	if (so->break_sig && si != NULL) {
		ASN1_OCTET_STRING *s = CMS_SignerInfo_get0_signature(si);

		((unsigned char *)ASN1_STRING_get0_data(s))[20] ^= 0x01;
	}
	n = i2d_CMS_ContentInfo(cms, &out);
	ck_assert_int_gt(n, 0);
	if (so->unknown_digest) {
		static const unsigned char sha256_oid[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
		int patched = 0;

		for (int i = 0; i + (int)sizeof(sha256_oid) <= n; i++) {
			if (memcmp(out + i, sha256_oid, sizeof(sha256_oid)) == 0) {
				out[i + sizeof(sha256_oid) - 1] = 0x7f;
				patched++;
			}
		}
		ck_assert_int_gt(patched, 0);
	}
	buf_reset(der);
	buf_append(der, out, (size_t)n);
	OPENSSL_free(out);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(chain, X509_free);
}

static void
b64(struct buf *out, const struct buf *der)
{
	unsigned char line[120];

	for (size_t off = 0; off < der->len; off += 57) {
		size_t n = der->len - off < 57 ? der->len - off : 57;
		int k = EVP_EncodeBlock(line, (const unsigned char *)der->data + off, (int)n);

		buf_append(out, line, (size_t)k);
		buf_appends(out, "\r\n");
	}
}

/* "Date: ..." in Vietnam's time zone, for t (0: now), with CRLF. */
static void
date_hdr(struct buf *out, int64_t t)
{
	time_t tt = (time_t)(t != 0 ? t : time(NULL)) + 7 * 3600;
	struct tm tm;
	char s[80];

	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "Date: %a, %d %b %Y %H:%M:%S +0700\r\n", &tm);
	buf_appends(out, s);
}

/* hdrs (NULL: from ngan, dated now) + a multipart/signed over entity. */
static void
mk_signed(struct buf *out, const char *hdrs, const char *entity, const struct so *so)
{
	struct buf der = BUF_INIT;

	sign_cms(entity, strlen(entity), so, &der);
	buf_reset(out);
	buf_appends(out, hdrs != NULL ? hdrs : HDRS_NGAN);
	if (hdrs == NULL)
		date_hdr(out, so->signing_time);
	buf_appends(out, "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
	    " micalg=sha-256; boundary=\"=-=b=-=\"\r\n\r\nThis is a signed message.\r\n--=-=b=-=\r\n");
	buf_appends(out, entity);
	buf_appends(out, "\r\n--=-=b=-=\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n");
	b64(out, &der);
	buf_appends(out, "--=-=b=-=--\r\n");
	buf_release(&der);
}

/* The S/MIME entity of an opaque signature (no message header). */
static void
mk_opaque_entity(struct buf *out, const char *entity, const struct so *so_in)
{
	struct so so = *so_in;
	struct buf der = BUF_INIT;

	so.opaque = true;
	sign_cms(entity, strlen(entity), &so, &der);
	buf_appends(out, "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n");
	b64(out, &der);
	buf_release(&der);
}

static void
mk_opaque(struct buf *out, const char *hdrs, const char *entity, const struct so *so)
{
	buf_reset(out);
	buf_appends(out, hdrs != NULL ? hdrs : HDRS_NGAN);
	if (hdrs == NULL)
		date_hdr(out, so->signing_time);
	buf_appends(out, "MIME-Version: 1.0\r\n");
	mk_opaque_entity(out, entity, so);
}

/* The signed body part of mk_signed (from "Content-Type: multipart/signed"). */
static const char *
signed_entity(const struct buf *msg)
{
	const char *p = strstr(msg->data, "Content-Type: multipart/signed");

	ck_assert_ptr_nonnull(p);
	return p;
}

/* ------------------------------------------------------------------ */
/* Verifying */

static struct smime_verify_opts
opts(void)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;

	o.trust = trust_full;
	return o;
}

static struct smime_report *
verify_o(const struct buf *msg, const struct smime_verify_opts *o)
{
	struct kerr err = KERR_INIT;
	struct smime_report *r = smime_verify_message(msg->data != NULL ? msg->data : "", msg->len, o, &err);

	ck_assert_msg(r != NULL, "internal error: %s", err.msg);
	return r;
}

static struct smime_report *
verify(const struct buf *msg)
{
	struct smime_verify_opts o = opts();

	return verify_o(msg, &o);
}

static char *
describe(const struct smime_report *r)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "verdict=%s reasons=%#x detail=%s", smime_verdict_code(r->verdict), r->reasons,
	    r->detail != NULL ? r->detail : "-");
	for (size_t i = 0; i < r->n_sigs; i++)
		buf_printf(&b, " | sig %zu where=%s verdict=%s reasons=%#x detail=%s", i, r->sigs[i].where,
		    smime_verdict_code(r->sigs[i].verdict), r->sigs[i].reasons,
		    r->sigs[i].detail != NULL ? r->sigs[i].detail : "-");
	return buf_steal(&b, NULL);
}

/* The message verdict is v and its reasons hold at least must. */
#define EXPECT(r, v, must) do {                                                         \
		char *d_ = describe(r);                                                 \
		ck_assert_msg((r)->verdict == (v) && ((r)->reasons & (must)) == (uint32_t)(must), \
		    "want %s with %#x, got %s", smime_verdict_code(v), (unsigned)(must), d_); \
		free(d_);                                                               \
	} while (0)
/* Signature i's verdict is v and its reasons hold at least must. */
#define EXPECT_SIG(r, i, v, must) do {                                                  \
		char *d_ = describe(r);                                                 \
		ck_assert_msg((r)->n_sigs > (i) && (r)->sigs[i].verdict == (v) &&       \
		    ((r)->sigs[i].reasons & (must)) == (uint32_t)(must),                \
		    "want sig %d %s with %#x, got %s", (int)(i), smime_verdict_code(v), (unsigned)(must), d_); \
		free(d_);                                                               \
	} while (0)

/* Sign entity with so in a multipart/signed from ngan, verify with o (NULL:
 * the full trust), and expect v with must. */
static void
check_signed(const struct so *so, const struct smime_verify_opts *o, enum smime_verdict v, uint32_t must)
{
	struct buf msg = BUF_INIT;
	struct smime_report *r;
	struct smime_verify_opts def = opts();

	mk_signed(&msg, NULL, ENTITY, so);
	r = verify_o(&msg, o != NULL ? o : &def);
	EXPECT(r, v, must);
	smime_report_free(&r);
	buf_release(&msg);
}

/* ------------------------------------------------------------------ */
/* Valid signatures and what the report says about them */

START_TEST(valid_detached_report)
{
	struct buf msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;
	const struct smime_sig *s;

	mk_signed(&msg, NULL, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_uint_eq(r->reasons, 0);
	ck_assert_uint_eq(r->n_sigs, 1);
	s = &r->sigs[0];
	ck_assert_str_eq(s->where, "message");
	ck_assert_int_eq(s->kind, SMIME_KIND_MULTIPART_SIGNED);
	ck_assert_int_eq(s->covers, SMIME_COVERS_WHOLE);
	ck_assert(s->has_signer);
	ck_assert_str_eq(s->signer.subject, "CN=Trần Kim Ngân,O=UBND huyện Bến Lức,ST=Long An,C=VN");
	ck_assert_uint_eq(s->signer.n_emails, 1);
	ck_assert_str_eq(s->signer.emails[0], NGAN);
	ck_assert_uint_eq(strlen(s->signer.sha256), 64);
	ck_assert(strlen(s->signer.serial) > 0);
	ck_assert(strstr(s->signer.issuer, "CN=CA phục vụ các cơ quan Nhà nước") != NULL);
	ck_assert_uint_eq(s->n_chain, 3);
	ck_assert(strstr(s->chain[2], "CA chuyên dùng Chính phủ") != NULL);
	ck_assert_str_eq(s->digest_alg, "sha256");
	ck_assert(s->signing_time > time(NULL) - 600 && s->signing_time <= time(NULL) + 5);
	ck_assert_ptr_nonnull(s->revocation);
	ck_assert(strstr(s->revocation, "good") != NULL);
	ck_assert_str_eq(r->from, NGAN);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

START_TEST(valid_opaque)
{
	struct buf msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	mk_opaque(&msg, NULL, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_OPAQUE);
	ck_assert_int_eq(r->sigs[0].covers, SMIME_COVERS_WHOLE);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

START_TEST(valid_kinds_of_certificates)
{
	/* legal shapes that must verify: no keyUsage, ECDSA, address only in the subject */
	static const char *const leaves[] = { "noku", "ecdsa", "subjemail", "an" };

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		struct buf msg = BUF_INIT, hdrs = BUF_INIT;
		struct so so = { .signer = leaves[i] };
		char *key = xasprintf("PKI_%s_EMAIL", leaves[i]);
		struct smime_report *r;

		for (char *p = key; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		buf_printf(&hdrs, "From: <%s>\r\nTo: x@y.vn\r\nSubject: t\r\n", env(key));
		date_hdr(&hdrs, 0);
		mk_signed(&msg, hdrs.data, ENTITY, &so);
		r = verify(&msg);
		EXPECT(r, SMIME_VERDICT_VALID, 0);
		smime_report_free(&r);
		buf_release(&msg);
		buf_release(&hdrs);
		free(key);
	}
}
END_TEST

START_TEST(lf_only_message)
{
	/* a message stored with bare LFs: the signed bytes are hashed as CRLF */
	struct buf msg = BUF_INIT, lf = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	mk_signed(&msg, NULL, ENTITY, &so);
	for (size_t i = 0; i < msg.len; i++)
		if (msg.data[i] != '\r')
			buf_append(&lf, msg.data + i, 1);
	r = verify(&lf);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&lf);
}
END_TEST

START_TEST(legacy_x_pkcs7)
{
	struct buf msg = BUF_INIT, fixed = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;
	const char *p;

	mk_signed(&msg, NULL, ENTITY, &so);
	/* protocol and part type in their old x- spelling */
	for (p = msg.data; *p != '\0';) {
		const char *q = strstr(p, "application/pkcs7-signature");

		if (q == NULL) {
			buf_appends(&fixed, p);
			break;
		}
		buf_append(&fixed, p, (size_t)(q - p));
		buf_appends(&fixed, "application/x-pkcs7-signature");
		p = q + strlen("application/pkcs7-signature");
	}
	r = verify(&fixed);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&fixed);
}
END_TEST

START_TEST(roundtrip_smime_sign)
{
	/* kyso's own signatures, from a PKCS#12 file and from PEM files, detached and opaque */
	struct smime_key_spec specs[2];
	char *secret = NULL;
	FILE *fp = fopen(env("PKI_PASS_FILE"), "r");
	char line[256] = "";

	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	fclose(fp);
	line[strcspn(line, "\n")] = '\0';
	secret = line;
	memset(specs, 0, sizeof(specs));
	specs[0].p12 = env("PKI_NGAN_P12");
	specs[0].secret = secret;
	specs[1].cert = env("PKI_NGAN_CERT");
	specs[1].key = env("PKI_NGAN_ENCKEY");
	specs[1].chain = env("PKI_NGAN_CHAIN");
	specs[1].secret = secret;
	for (int b = 0; b < 2; b++) {
		struct kerr err = KERR_INIT;
		struct smime_signer *s = smime_signer_open(&specs[b], &err);

		ck_assert_msg(s != NULL, "%s", err.msg);
		for (int mode = 0; mode < 2; mode++) {
			struct smime_sign_opts so = SMIME_SIGN_OPTS_INIT;
			struct buf in = BUF_INIT, out = BUF_INIT;
			struct smime_report *r;

			so.mode = mode == 0 ? SMIME_MODE_DETACHED : SMIME_MODE_OPAQUE;
			buf_appends(&in, HDRS_NGAN);
			date_hdr(&in, 0);
			buf_appends(&in, "MIME-Version: 1.0\n" ENTITY);
			ck_assert_msg(smime_sign_message(s, &so, in.data, in.len, &out, &err), "%s", err.msg);
			r = verify(&out);
			EXPECT(r, SMIME_VERDICT_VALID, 0);
			ck_assert_int_eq(r->sigs[0].kind, mode == 0 ? SMIME_KIND_MULTIPART_SIGNED : SMIME_KIND_OPAQUE);
			smime_report_free(&r);
			buf_release(&in);
			buf_release(&out);
		}
		smime_signer_free(&s);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Integrity */

START_TEST(digest_mismatch_tampered_body)
{
	struct buf msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;
	char *p;

	mk_signed(&msg, NULL, ENTITY, &so);
	p = strstr(msg.data, "Long An");
	ck_assert_ptr_nonnull(p);
	p[0] = 'S';                     /* "Song An" */
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH);
	EXPECT_SIG(r, 0, SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

START_TEST(bad_signature_value)
{
	struct so so = { .break_sig = true };

	check_signed(&so, NULL, SMIME_VERDICT_INVALID, SMIME_R_BAD_SIGNATURE);
}
END_TEST

START_TEST(no_signed_attributes)
{
	struct so so = { .no_attrs = true };
	struct buf msg = BUF_INIT;
	struct smime_report *r;
	char *p;

	check_signed(&so, NULL, SMIME_VERDICT_VALID, 0);
	/* ...and tampered: the signature over the content itself fails */
	mk_signed(&msg, NULL, ENTITY, &so);
	p = strstr(msg.data, "Long An");
	p[0] = 'S';
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

START_TEST(econtent_confusion)
{
	/* a p7s that carries other content (CVE-2018-18509) must not pass */
	struct so so = { .econtent = "Content-Type: text/plain\r\n\r\nThis is the REAL message.\r\n" };

	check_signed(&so, NULL, SMIME_VERDICT_INVALID, SMIME_R_ECONTENT_MISMATCH);
}
END_TEST

START_TEST(unsupported_digest)
{
	struct so so = { .unknown_digest = true };

	check_signed(&so, NULL, SMIME_VERDICT_INDETERMINATE, SMIME_R_UNSUPPORTED);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Signers */

START_TEST(zero_signerinfos)
{
	struct so so = { .no_signers = true };

	check_signed(&so, NULL, SMIME_VERDICT_INVALID, SMIME_R_NO_SIGNER);
}
END_TEST

START_TEST(signer_certificate_missing)
{
	struct so so = { .no_certs = true };

	check_signed(&so, NULL, SMIME_VERDICT_INDETERMINATE, SMIME_R_NO_SIGNER);
}
END_TEST

START_TEST(multiple_signers)
{
	struct so so = { .cosigner = "vanthu" };
	struct smime_verify_opts o = opts();
	struct buf msg = BUF_INIT;
	struct smime_report *r;

	check_signed(&so, NULL, SMIME_VERDICT_INVALID, SMIME_R_MULTIPLE_SIGNERS);
	/* allowed: both must verify and one must be the sender */
	o.allow_multiple_signers = true;
	mk_signed(&msg, NULL, ENTITY, &so);
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_uint_eq(r->n_sigs, 2);
	EXPECT_SIG(r, 1, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	/* allowed, but one of them does not verify */
	so.cosigner = "expired";
	mk_signed(&msg, NULL, ENTITY, &so);
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_INDETERMINATE, SMIME_R_EXPIRED);
	smime_report_free(&r);
	/* allowed, but none is the sender */
	so.signer = "lanhdao";
	so.cosigner = "vanthu";
	mk_signed(&msg, NULL, ENTITY, &so);
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Chains, validity, revocation */

START_TEST(leaf_only_uses_the_intermediates_store)
{
	struct so so = { .leaf_only = true };
	struct smime_verify_opts o = opts();

	check_signed(&so, NULL, SMIME_VERDICT_VALID, 0);
	o.trust = trust_anchors;
	o.revocation = SMIME_REVOCATION_OFF;
	check_signed(&so, &o, SMIME_VERDICT_INDETERMINATE, SMIME_R_UNTRUSTED_CHAIN);
	/* with the sub-CA in the signature, the anchors alone are enough */
	so.leaf_only = false;
	check_signed(&so, &o, SMIME_VERDICT_VALID, 0);
}
END_TEST

START_TEST(untrusted_selfsigned)
{
	struct buf hdrs = BUF_INIT;
	struct buf msg = BUF_INIT;
	struct so so = { .signer = "selfsigned" };
	struct smime_report *r;

	buf_printf(&hdrs, "From: %s\r\nSubject: t\r\n", env("PKI_SELFSIGNED_EMAIL"));
	date_hdr(&hdrs, 0);
	mk_signed(&msg, hdrs.data, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INDETERMINATE, SMIME_R_UNTRUSTED_CHAIN);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&hdrs);
}
END_TEST

static void
check_leaf(const char *leaf, int64_t signing_time, const struct smime_verify_opts *o, enum smime_verdict v,
    uint32_t must)
{
	struct buf hdrs = BUF_INIT, msg = BUF_INIT;
	struct so so = { .signer = leaf, .signing_time = signing_time };
	char *key = xasprintf("PKI_%s_EMAIL", leaf);
	struct smime_report *r;
	struct smime_verify_opts def = opts();

	for (char *p = key; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	buf_printf(&hdrs, "From: <%s>\r\nTo: x@y.vn\r\nSubject: t\r\n", env(key));
	date_hdr(&hdrs, signing_time);
	mk_signed(&msg, hdrs.data, ENTITY, &so);
	r = verify_o(&msg, o != NULL ? o : &def);
	EXPECT(r, v, must);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&hdrs);
	free(key);
}

START_TEST(expired_now_valid_then)
{
	/* the "expired" leaf is valid from -2 y to -1 y */
	int64_t then = (int64_t)time(NULL) - 500 * 86400;
	struct smime_verify_opts o = opts();

	check_leaf("expired", then, NULL, SMIME_VERDICT_INDETERMINATE, SMIME_R_EXPIRED);
	o.at = then;
	o.revocation = SMIME_REVOCATION_OFF;    /* the test CRLs were not yet issued then */
	check_leaf("expired", then, &o, SMIME_VERDICT_VALID, 0);
}
END_TEST

START_TEST(not_yet_valid)
{
	check_leaf("notyet", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_NOT_YET_VALID);
}
END_TEST

START_TEST(revoked_local_crl)
{
	struct smime_verify_opts o = opts();

	int64_t before = (int64_t)time(NULL) - 2 * 3600;   /* the leaf was revoked 1 h ago */

	check_leaf("revoked", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_REVOKED);
	/* it claims to have signed before the revocation, but only it says so */
	check_leaf("revoked", before, NULL, SMIME_VERDICT_INDETERMINATE, SMIME_R_REVOKED);
	/* checked as of a time before the revocation (an archived message) */
	o.at = before + 600;
	check_leaf("revoked", before, &o, SMIME_VERDICT_VALID, 0);
	o.at = 0;
	o.revocation = SMIME_REVOCATION_OFF;
	check_leaf("revoked", 0, &o, SMIME_VERDICT_VALID, 0);
}
END_TEST

START_TEST(revocation_unknown)
{
	/* no CRL and no network: a warning under "prefer", never valid under "require" */
	struct smime_verify_opts o = opts();
	struct buf msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	o.trust = trust_anchors;
	o.revocation = SMIME_REVOCATION_PREFER;
	mk_signed(&msg, NULL, ENTITY, &so);
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	EXPECT_SIG(r, 0, SMIME_VERDICT_VALID, SMIME_R_REVOCATION_UNKNOWN);
	smime_report_free(&r);
	o.revocation = SMIME_REVOCATION_REQUIRE;
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_INDETERMINATE, SMIME_R_REVOCATION_UNKNOWN);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

START_TEST(key_usage)
{
	check_leaf("wrongku", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_KEY_USAGE);
	check_leaf("wrongeku", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_KEY_USAGE);
}
END_TEST

START_TEST(weak_algorithms)
{
	const char *allowed[] = { NULL, NULL };
	struct smime_verify_opts o = opts();
	struct so so = { .md = EVP_sha1() };

	check_signed(&so, NULL, SMIME_VERDICT_INVALID, SMIME_R_WEAK_ALGORITHM);
	check_leaf("sha1", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_WEAK_ALGORITHM);
	check_leaf("rsa1024", 0, NULL, SMIME_VERDICT_INVALID, SMIME_R_WEAK_ALGORITHM);
	/* a sender allowed to use SHA-1 for now */
	allowed[0] = NGAN;
	o.weak_allowed = allowed;
	check_signed(&so, &o, SMIME_VERDICT_VALID, 0);
	allowed[0] = env("PKI_RSA1024_EMAIL");
	check_leaf("rsa1024", 0, &o, SMIME_VERDICT_VALID, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The sender */

static void
check_from(const char *hdrs, const struct smime_verify_opts *o, enum smime_verdict v, uint32_t must)
{
	struct buf h = BUF_INIT, msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;
	struct smime_verify_opts def = opts();

	buf_appends(&h, hdrs);
	date_hdr(&h, 0);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify_o(&msg, o != NULL ? o : &def);
	EXPECT(r, v, must);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&h);
}

START_TEST(sender_spoofing)
{
	/* someone else's address */
	check_from("From: Trần Kim Ngân <lanhdao@benluc.longan.gov.vn>\r\n", NULL, SMIME_VERDICT_INVALID,
	    SMIME_R_SENDER_MISMATCH);
	/* the signer's address as display name only */
	check_from("From: \"" NGAN "\" <boss@evil.example>\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	check_from("From: " NGAN " <boss@evil.example>\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	/* a quoted local part that contains the address */
	check_from("From: \"" NGAN "\"@evil.example\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	/* two From fields: which one a reader shows is anyone's guess */
	check_from("From: " NGAN "\r\nFrom: boss@evil.example\r\n", NULL, SMIME_VERDICT_INVALID,
	    SMIME_R_SENDER_MISMATCH);
	/* an address followed by junk another reader may show */
	check_from("From: <" NGAN "> boss@evil.example\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	/* no From at all */
	check_from("Subject: no sender\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	/* a Sender does not replace a single From */
	check_from("From: boss@evil.example\r\nSender: " NGAN "\r\n", NULL, SMIME_VERDICT_INVALID,
	    SMIME_R_SENDER_MISMATCH);
	/* several From mailboxes: the Sender is the one checked */
	check_from("From: boss@benluc.longan.gov.vn, " NGAN "\r\nSender: " NGAN "\r\n", NULL, SMIME_VERDICT_VALID, 0);
	check_from("From: boss@benluc.longan.gov.vn, " NGAN "\r\n", NULL, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	/* case and comments do not matter; the display name is never trusted */
	check_from("From: NGAN@BenLuc.LongAn.gov.vn (Tr\xe1\xba\xa7n Kim Ng\xc3\xa2n)\r\n", NULL, SMIME_VERDICT_VALID, 0);
	check_from("From: \"Ai \xc4\x91\xc3\xb3\" <" NGAN ">\r\n", NULL, SMIME_VERDICT_VALID, 0);
}
END_TEST

START_TEST(organisation_certificate)
{
	static const char *subjects[] = { "CN=UBND HUYỆN BẾN LỨC (thử nghiệm),O=UBND TỈNH LONG AN", NULL };
	static const char *addresses[] = { "vanthu@benluc.longan.gov.vn, ubnd@benluc.longan.gov.vn", NULL };
	static const char *partial[] = { "CN=UBND HUYỆN BẾN", NULL };
	struct smime_verify_opts o = opts();
	struct buf msg = BUF_INIT, h = BUF_INIT;
	struct so so = { .signer = "org" };
	struct smime_report *r;

	buf_appends(&h, "From: V\xc4\x83n th\xc6\xb0 <vanthu@benluc.longan.gov.vn>\r\n");
	date_hdr(&h, 0);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	ck_assert_uint_eq(r->sigs[0].signer.n_emails, 0);
	smime_report_free(&r);
	o.org_subjects = subjects;
	o.org_addresses = addresses;
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	/* a subject fragment that stops inside an RDN does not match */
	o.org_subjects = partial;
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	smime_report_free(&r);
	/* an address the site did not list */
	o.org_subjects = subjects;
	buf_reset(&h);
	buf_appends(&h, "From: other@benluc.longan.gov.vn\r\n");
	date_hdr(&h, 0);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify_o(&msg, &o);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&h);
}
END_TEST

START_TEST(time_mismatch)
{
	int64_t now = (int64_t)time(NULL);
	struct buf h = BUF_INIT, msg = BUF_INIT;
	struct so so = { .signing_time = now };
	struct smime_report *r;

	/* the Date says six hours later than the signature */
	buf_appends(&h, HDRS_NGAN);
	date_hdr(&h, now + 6 * 3600);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_TIME_MISMATCH);
	smime_report_free(&r);
	/* within the tolerance */
	buf_reset(&h);
	buf_appends(&h, HDRS_NGAN);
	date_hdr(&h, now - 50 * 60);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	/* local time written as UTC: the signing time is the Date + 7 h */
	buf_reset(&h);
	buf_appends(&h, HDRS_NGAN);
	date_hdr(&h, now - 7 * 3600);
	mk_signed(&msg, h.data, ENTITY, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert(r->sigs[0].detail != NULL && strstr(r->sigs[0].detail, "plus 7 h") != NULL);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Coverage and structure */

START_TEST(signed_part_in_unsigned_multipart)
{
	struct buf inner = BUF_INIT, msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	mk_signed(&inner, NULL, ENTITY, &so);
	/* a mailing list's footer after the signed part */
	buf_appends(&msg, HDRS_NGAN);
	date_hdr(&msg, 0);
	buf_appends(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n");
	buf_appends(&msg, signed_entity(&inner));
	buf_appends(&msg, "\r\n--outer\r\nContent-Type: text/plain\r\n\r\nList footer: unsubscribe here.\r\n--outer--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_PARTIAL, SMIME_R_PARTIAL_COVERAGE);
	EXPECT_SIG(r, 0, SMIME_VERDICT_VALID, 0);
	ck_assert_str_eq(r->sigs[0].where, "part 1");
	ck_assert_int_eq(r->sigs[0].covers, SMIME_COVERS_PART);
	smime_report_free(&r);
	/* even as the only part, it is not the whole message */
	buf_reset(&msg);
	buf_appends(&msg, HDRS_NGAN);
	date_hdr(&msg, 0);
	buf_appends(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n");
	buf_appends(&msg, signed_entity(&inner));
	buf_appends(&msg, "\r\n--outer--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_PARTIAL, SMIME_R_PARTIAL_COVERAGE);
	smime_report_free(&r);
	/* two signed parts: their combination is signed by nobody */
	buf_reset(&msg);
	buf_appends(&msg, HDRS_NGAN);
	date_hdr(&msg, 0);
	buf_appends(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n");
	buf_appends(&msg, signed_entity(&inner));
	buf_appends(&msg, "\r\n--outer\r\n");
	buf_appends(&msg, signed_entity(&inner));
	buf_appends(&msg, "\r\n--outer--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_PARTIAL, SMIME_R_PARTIAL_COVERAGE);
	ck_assert_uint_eq(r->n_sigs, 2);
	smime_report_free(&r);
	buf_release(&inner);
	buf_release(&msg);
}
END_TEST

START_TEST(nested_signatures)
{
	/* an opaque signature inside a multipart/signed, both by the sender: valid */
	struct buf op = BUF_INIT, msg = BUF_INIT;
	struct so so = { 0 }, alice = { .signer = "lanhdao" };
	struct smime_report *r;

	mk_opaque_entity(&op, ENTITY, &so);
	mk_signed(&msg, NULL, op.data, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_uint_eq(r->n_sigs, 2);
	smime_report_free(&r);
	/* the inner one by someone else than the sender: not the sender's message */
	buf_reset(&op);
	mk_opaque_entity(&op, ENTITY, &alice);
	mk_signed(&msg, NULL, op.data, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_SENDER_MISMATCH);
	smime_report_free(&r);
	buf_release(&op);
	buf_release(&msg);
}
END_TEST

START_TEST(forwarded_signed_message)
{
	struct buf inner = BUF_INIT, msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	mk_signed(&inner, NULL, ENTITY, &so);
	buf_appends(&msg, "From: vanthu@benluc.longan.gov.vn\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=fw\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
	    "--fw\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"cv.eml\"\r\n\r\n");
	buf_append(&msg, inner.data, inner.len);
	buf_appends(&msg, "\r\n--fw--\r\n");
	r = verify(&msg);
	/* the outer message is not signed; the forwarded one is valid on its own */
	EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
	ck_assert_uint_eq(r->n_sigs, 1);
	ck_assert_str_eq(r->sigs[0].where, "attachment cv.eml");
	EXPECT_SIG(r, 0, SMIME_VERDICT_VALID, 0);
	ck_assert_uint_eq(r->n_attachments, 1);
	ck_assert_str_eq(r->attachments[0].name, "cv.eml");
	ck_assert_int_eq(r->attachments[0].verdict, SMIME_VERDICT_VALID);
	smime_report_free(&r);
	buf_release(&inner);
	buf_release(&msg);
}
END_TEST

START_TEST(unsigned_message)
{
	struct buf msg = BUF_INIT;
	struct smime_report *r;

	buf_appends(&msg, HDRS_NGAN "\r\nHello.\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
	ck_assert_uint_eq(r->n_sigs, 0);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

static void
encrypt_to_ngan(const char *entity, struct buf *der)
{
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(entity, (int)strlen(entity));
	CMS_ContentInfo *cms;
	unsigned char *out = NULL;
	int n;

	sk_X509_push(rcpts, cert_of("ngan"));
	cms = CMS_encrypt(rcpts, in, EVP_aes_256_cbc(), CMS_BINARY);
	ck_assert_ptr_nonnull(cms);
	n = i2d_CMS_ContentInfo(cms, &out);
	buf_append(der, out, (size_t)n);
	OPENSSL_free(out);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_pop_free(rcpts, X509_free);
}

START_TEST(encrypted)
{
	struct buf der = BUF_INIT, msg = BUF_INIT, env_entity = BUF_INIT;
	struct so so = { 0 };
	struct smime_report *r;

	encrypt_to_ngan(ENTITY, &der);
	buf_appends(&env_entity, "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	b64(&env_entity, &der);
	buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\n");
	buf_append(&msg, env_entity.data, env_entity.len);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_ENCRYPTED, 0);
	smime_report_free(&r);
	/* signed around the encrypted entity: the signature vouches for the
	 * ciphertext only, so the message stays "encrypted", never "valid" */
	mk_signed(&msg, NULL, env_entity.data, &so);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_ENCRYPTED, 0);
	EXPECT_SIG(r, 0, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	buf_release(&der);
	buf_release(&msg);
	buf_release(&env_entity);
}
END_TEST

START_TEST(malformed_signature_part)
{
	struct buf msg = BUF_INIT;
	struct smime_report *r;

	buf_appends(&msg, HDRS_NGAN);
	date_hdr(&msg, 0);
	buf_appends(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
	    " boundary=b\r\n\r\n--b\r\n" ENTITY "\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nTm90IGEgc2lnbmF0dXJlIGF0IGFsbC4=\r\n--b--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	EXPECT_SIG(r, 0, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	smime_report_free(&r);
	/* multipart/signed with one part only */
	buf_reset(&msg);
	buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
	    "protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\n" ENTITY "\r\n--b--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	smime_report_free(&r);
	buf_release(&msg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Attachments and bare documents */

static const char QD[] = "%PDF-1.7\n% not really a PDF: the bytes of a decision, QD-12\n%%EOF\n";

static void
der_of_detached(const char *data, size_t len, const char *signer, struct buf *der)
{
	struct so so = { .signer = signer };

	sign_cms(data, len, &so, der);
}

START_TEST(p7s_beside_attachment)
{
	static const char *const names[] = { "QD-12.doc.p7s", "QD-12.p7s" };
	struct buf der = BUF_INIT;

	der_of_detached("decision bytes\r\n", 16, "lanhdao", &der);
	for (int k = 0; k < 2; k++) {
		for (int tamper = 0; tamper < 2; tamper++) {
			struct buf msg = BUF_INIT;
			struct smime_report *r;

			buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
			    "--m\r\nContent-Type: text/plain\r\n\r\nQuyết định kèm theo.\r\n"
			    "--m\r\nContent-Type: application/msword; name=QD-12.doc\r\n"
			    "Content-Disposition: attachment; filename=QD-12.doc\r\n\r\n");
			buf_appends(&msg, tamper ? "decision byteZ" : "decision bytes");
			buf_printf(&msg, "\r\n\r\n--m\r\nContent-Type: application/pkcs7-signature; name=%s\r\n"
			    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=%s\r\n\r\n",
			    names[k], names[k]);
			b64(&msg, &der);
			buf_appends(&msg, "--m--\r\n");
			r = verify(&msg);
			/* the message itself is not signed; the document is */
			EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
			ck_assert_uint_eq(r->n_attachments, 2);
			ck_assert_str_eq(r->attachments[0].name, "QD-12.doc");
			ck_assert_int_eq(r->attachments[0].verdict, tamper ? SMIME_VERDICT_INVALID : SMIME_VERDICT_VALID);
			EXPECT_SIG(r, 0, tamper ? SMIME_VERDICT_INVALID : SMIME_VERDICT_VALID, 0);
			ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_P7S);
			ck_assert_str_eq(r->sigs[0].where, "attachment QD-12.doc");
			smime_report_free(&r);
			buf_release(&msg);
		}
	}
	buf_release(&der);
}
END_TEST

START_TEST(p7m_attachment)
{
	struct buf der = BUF_INIT, msg = BUF_INIT;
	struct so so = { .signer = "lanhdao", .opaque = true };
	struct smime_report *r;

	sign_cms(QD, strlen(QD), &so, &der);
	buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
	    "--m\r\nContent-Type: text/plain\r\n\r\nKèm quyết định.\r\n"
	    "--m\r\nContent-Type: application/octet-stream; name=QD-12.pdf.p7m\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=QD-12.pdf.p7m\r\n\r\n");
	b64(&msg, &der);
	buf_appends(&msg, "--m--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
	EXPECT_SIG(r, 0, SMIME_VERDICT_VALID, 0);
	ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_P7M);
	ck_assert_str_eq(r->sigs[0].file, "QD-12.pdf");
	ck_assert_int_eq(r->attachments[0].verdict, SMIME_VERDICT_VALID);
	smime_report_free(&r);
	buf_release(&der);
	buf_release(&msg);
}
END_TEST

static struct smime_report *
verify_doc(const char *name, const char *data, size_t len, const struct buf *p7s)
{
	struct smime_verify_opts o = opts();
	struct kerr err = KERR_INIT;
	struct smime_report *r = smime_verify_document(name, data, len, p7s != NULL ? p7s->data : NULL,
	    p7s != NULL ? p7s->len : 0, &o, &err);

	ck_assert_msg(r != NULL, "%s", err.msg);
	return r;
}

START_TEST(bare_documents)
{
	struct buf der = BUF_INIT, p7m = BUF_INIT, env_der = BUF_INIT;
	struct so so = { .signer = "org", .opaque = true };
	struct smime_report *r;

	/* a file and its .p7s */
	der_of_detached(QD, strlen(QD), "lanhdao", &der);
	r = verify_doc("QD-12.pdf", QD, strlen(QD), &der);
	/* a PDF without signature dictionaries, signed by its .p7s */
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	smime_report_free(&r);
	r = verify_doc("QD-12.txt", "decision bytes\r\n", 16, NULL);
	EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
	smime_report_free(&r);
	der_of_detached("decision bytes\r\n", 16, "lanhdao", &der);
	r = verify_doc("QD-12.txt", "decision bytes\r\n", 16, &der);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_P7S);
	smime_report_free(&r);
	r = verify_doc("QD-12.txt", "decision byteZ\r\n", 16, &der);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH);
	smime_report_free(&r);
	/* a .p7m: the inner name is reported */
	sign_cms("decision bytes\r\n", 16, &so, &p7m);
	r = verify_doc("QD-12.txt.p7m", p7m.data, p7m.len, NULL);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_P7M);
	ck_assert_str_eq(r->sigs[0].file, "QD-12.txt");
	smime_report_free(&r);
	/* a detached signature alone signs nothing */
	r = verify_doc("QD-12.p7s", der.data, der.len, NULL);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	smime_report_free(&r);
	/* an encrypted file */
	encrypt_to_ngan("secret", &env_der);
	r = verify_doc("secret.p7m", env_der.data, env_der.len, NULL);
	EXPECT(r, SMIME_VERDICT_ENCRYPTED, 0);
	smime_report_free(&r);
	buf_release(&der);
	buf_release(&p7m);
	buf_release(&env_der);
}
END_TEST

static void
read_file(const char *path, struct buf *b)
{
	FILE *fp = fopen(path, "rb");
	char chunk[65536];
	size_t n;

	ck_assert_msg(fp != NULL, "%s", path);
	buf_reset(b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(b, chunk, n);
	fclose(fp);
}

static struct smime_report *
verify_pdf_file(const char *name, struct buf *data)
{
	char *path = xasprintf("%s/%s", pdfdir, name);

	read_file(path, data);
	free(path);
	return verify_doc(name, data->data, data->len, NULL);
}

START_TEST(pdf_documents)
{
	struct buf data = BUF_INIT, msg = BUF_INIT;
	struct smime_report *r;

	if (!have_pdfs)
		return;         /* reported by the fixture */
	r = verify_pdf_file("one.pdf", &data);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_int_eq(r->sigs[0].kind, SMIME_KIND_PDF);
	ck_assert_int_eq(r->sigs[0].covers, SMIME_COVERS_WHOLE);
	smime_report_free(&r);
	/* the leader's then the organisation's signature */
	r = verify_pdf_file("two.pdf", &data);
	EXPECT(r, SMIME_VERDICT_VALID, 0);
	ck_assert_uint_eq(r->n_sigs, 2);
	ck_assert_int_eq(r->sigs[0].covers, SMIME_COVERS_PARTIAL_FILE);
	ck_assert_int_eq(r->sigs[1].covers, SMIME_COVERS_WHOLE);
	smime_report_free(&r);
	/* signed, then appended to */
	r = verify_pdf_file("changed.pdf", &data);
	EXPECT(r, SMIME_VERDICT_PARTIAL, SMIME_R_MODIFIED_AFTER_SIGNING);
	smime_report_free(&r);
	/* a document timestamp after the signatures: it proves time, not authorship */
	r = verify_pdf_file("docts.pdf", &data);
	EXPECT(r, SMIME_VERDICT_PARTIAL, SMIME_R_MODIFIED_AFTER_SIGNING);
	ck_assert_int_eq(r->sigs[2].kind, SMIME_KIND_PDF_TIMESTAMP);
	ck_assert_int_eq(r->sigs[2].verdict, SMIME_VERDICT_VALID);
	smime_report_free(&r);
	/* legacy adbe.pkcs7.sha1: SHA-1 */
	r = verify_pdf_file("sha1.pdf", &data);
	EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_WEAK_ALGORITHM);
	smime_report_free(&r);
	/* one byte of the signed range changed */
	r = verify_pdf_file("one.pdf", &data);
	smime_report_free(&r);
	{
		char *p = memmem(data.data, data.len, "/Type /Page", 11);

		ck_assert_ptr_nonnull(p);
		p[7] = 'X';
		r = verify_doc("one.pdf", data.data, data.len, NULL);
		EXPECT(r, SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH);
		smime_report_free(&r);
	}
	/* a signed PDF attached to an unsigned message */
	{
		char *two = xasprintf("%s/two.pdf", pdfdir);

		read_file(two, &data);
		free(two);
	}
	buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
	    "--m\r\nContent-Type: text/plain\r\n\r\nKèm quyết định.\r\n"
	    "--m\r\nContent-Type: application/pdf; name=QD-12.pdf\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=QD-12.pdf\r\n\r\n");
	b64(&msg, &data);
	buf_appends(&msg, "--m--\r\n");
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_UNSIGNED, 0);
	ck_assert_uint_eq(r->n_sigs, 2);
	ck_assert_msg(strncmp(r->sigs[0].where, "attachment QD-12.pdf, signature 1", 33) == 0, "%s", r->sigs[0].where);
	ck_assert_int_eq(r->attachments[0].verdict, SMIME_VERDICT_VALID);
	smime_report_free(&r);
	buf_release(&data);
	buf_release(&msg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input gives a verdict, never a crash; and never "valid" */

START_TEST(every_prefix_of_a_signed_message)
{
	struct buf msg = BUF_INIT;
	struct so so = { 0 };
	struct smime_verify_opts o = opts();

	size_t limit;

	o.revocation = SMIME_REVOCATION_OFF;
	mk_signed(&msg, NULL, ENTITY, &so);
	limit = (size_t)(strstr(msg.data, "--=-=b=-=--") - msg.data);
	for (size_t n = 0; n < msg.len; n++) {
		struct kerr err = KERR_INIT;
		struct smime_report *r = smime_verify_message(msg.data, n, &o, &err);

		ck_assert_ptr_nonnull(r);
		/* the close delimiter, the last line end and "==" may go: what is
		 * signed and the signature are intact */
		if (n + 4 < limit)
			ck_assert_msg(r->verdict != SMIME_VERDICT_VALID, "prefix of %zu bytes (of %zu) is valid: ...%s", n,
			    msg.len, msg.data + n - 40);
		smime_report_free(&r);
	}
	buf_release(&msg);
}
END_TEST

START_TEST(garbage_and_nesting)
{
	struct buf msg = BUF_INIT, op = BUF_INIT, next = BUF_INIT;
	struct smime_report *r;
	struct so so = { 0 };
	unsigned seed = 1;

	/* random bytes */
	for (int i = 0; i < 4096; i++) {
		unsigned char c;

		seed = seed * 1103515245 + 12345;
		c = (unsigned char)(seed >> 16);
		buf_append(&msg, &c, 1);
	}
	r = verify(&msg);
	ck_assert_int_ne(r->verdict, SMIME_VERDICT_VALID);
	smime_report_free(&r);
	/* the empty message */
	buf_reset(&msg);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	smime_report_free(&r);
	/* multiparts nested deeper than the parser allows */
	buf_reset(&msg);
	buf_appends(&msg, HDRS_NGAN "MIME-Version: 1.0\r\n");
	for (int i = 0; i < 40; i++)
		buf_printf(&msg, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_appends(&msg, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	for (int i = 39; i >= 0; i--)
		buf_printf(&msg, "--b%d--\r\n", i);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	smime_report_free(&r);
	/* opaque signatures nested deeper than kyso follows */
	buf_appends(&op, ENTITY);
	for (int i = 0; i < 10; i++) {
		buf_reset(&next);
		mk_opaque_entity(&next, op.data, &so);
		buf_reset(&op);
		buf_append(&op, next.data, next.len);
	}
	buf_reset(&msg);
	buf_appends(&msg, HDRS_NGAN);
	date_hdr(&msg, 0);
	buf_appends(&msg, "MIME-Version: 1.0\r\n");
	buf_append(&msg, op.data, op.len);
	r = verify(&msg);
	EXPECT(r, SMIME_VERDICT_MALFORMED, SMIME_R_MALFORMED);
	ck_assert_ptr_nonnull(r->detail);
	smime_report_free(&r);
	buf_release(&msg);
	buf_release(&op);
	buf_release(&next);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Words */

START_TEST(codes_and_texts)
{
	for (int i = 0; i < SMIME_REASON_COUNT; i++) {
		enum smime_reason r = (enum smime_reason)(1u << i);

		ck_assert_ptr_nonnull(smime_reason_code(r));
		ck_assert_ptr_nonnull(smime_reason_text(r, "vi"));
		ck_assert_ptr_nonnull(smime_reason_text(r, "en"));
		ck_assert_str_ne(smime_reason_text(r, "vi"), smime_reason_text(r, "en"));
	}
	ck_assert_ptr_null(smime_reason_code((enum smime_reason)(1u << SMIME_REASON_COUNT)));
	ck_assert_ptr_null(smime_reason_code((enum smime_reason)3));
	ck_assert_str_eq(smime_reason_code(SMIME_R_DIGEST_MISMATCH), "digest-mismatch");
	ck_assert_str_eq(smime_reason_code(SMIME_R_MODIFIED_AFTER_SIGNING), "modified-after-signing");
	for (int v = SMIME_VERDICT_VALID; v <= SMIME_VERDICT_MALFORMED; v++) {
		ck_assert_ptr_nonnull(smime_verdict_code((enum smime_verdict)v));
		ck_assert_ptr_nonnull(smime_verdict_text((enum smime_verdict)v, "vi"));
	}
	ck_assert_str_eq(smime_verdict_code(SMIME_VERDICT_INDETERMINATE), "indeterminate");
	ck_assert_str_eq(smime_verdict_text(SMIME_VERDICT_VALID, "vi"), "Hợp lệ");
	ck_assert_str_eq(smime_sig_kind_code(SMIME_KIND_MULTIPART_SIGNED), "multipart-signed");
	ck_assert_str_eq(smime_sig_kind_code(SMIME_KIND_P7M), "p7m");
	ck_assert_str_eq(smime_coverage_code(SMIME_COVERS_PARTIAL_FILE), "partial-file");
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
make_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("verify");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, valid_detached_report);
	tcase_add_test(tc, valid_opaque);
	tcase_add_test(tc, valid_kinds_of_certificates);
	tcase_add_test(tc, lf_only_message);
	tcase_add_test(tc, legacy_x_pkcs7);
	tcase_add_test(tc, roundtrip_smime_sign);
	tcase_add_test(tc, digest_mismatch_tampered_body);
	tcase_add_test(tc, bad_signature_value);
	tcase_add_test(tc, no_signed_attributes);
	tcase_add_test(tc, econtent_confusion);
	tcase_add_test(tc, unsupported_digest);
	tcase_add_test(tc, zero_signerinfos);
	tcase_add_test(tc, signer_certificate_missing);
	tcase_add_test(tc, multiple_signers);
	tcase_add_test(tc, leaf_only_uses_the_intermediates_store);
	tcase_add_test(tc, untrusted_selfsigned);
	tcase_add_test(tc, expired_now_valid_then);
	tcase_add_test(tc, not_yet_valid);
	tcase_add_test(tc, revoked_local_crl);
	tcase_add_test(tc, revocation_unknown);
	tcase_add_test(tc, key_usage);
	tcase_add_test(tc, weak_algorithms);
	tcase_add_test(tc, sender_spoofing);
	tcase_add_test(tc, organisation_certificate);
	tcase_add_test(tc, time_mismatch);
	tcase_add_test(tc, signed_part_in_unsigned_multipart);
	tcase_add_test(tc, nested_signatures);
	tcase_add_test(tc, forwarded_signed_message);
	tcase_add_test(tc, unsigned_message);
	tcase_add_test(tc, encrypted);
	tcase_add_test(tc, malformed_signature_part);
	tcase_add_test(tc, p7s_beside_attachment);
	tcase_add_test(tc, p7m_attachment);
	tcase_add_test(tc, bare_documents);
	tcase_add_test(tc, pdf_documents);
	tcase_add_test(tc, every_prefix_of_a_signed_message);
	tcase_add_test(tc, garbage_and_nesting);
	tcase_add_test(tc, codes_and_texts);
	suite_add_tcase(s, tc);
	return s;
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int
main(void)
{
	struct kerr err = KERR_INIT;
	SRunner *sr;
	char *cmd, *anchors, *inter, *crls;
	int failed;

	if (mkdtemp(topdir) == NULL)
		return 99;
	pkidir = xasprintf("%s/pki", topdir);
	pdfdir = xasprintf("%s/pdf", topdir);
	cmd = xasprintf("'%s/tests/pki/mkpki' '%s' >/dev/null", kyso_srcdir(), pkidir);
	if (run(cmd) != 0) {
		printf("Bail out! tests/pki/mkpki failed\n");
		return 99;
	}
	free(cmd);
	cmd = xasprintf("%s/pki.env", pkidir);
	load_env(cmd);
	free(cmd);
	cmd = xasprintf("%s/tests/data/mkpdf", kyso_srcdir());
	have_pdfs = access(cmd, R_OK) == 0;
	free(cmd);
	cmd = xasprintf("perl '%s/tests/data/mkpdf' '%s' '%s' >/dev/null 2>&1", kyso_srcdir(), pdfdir, pkidir);
	have_pdfs = have_pdfs && run(cmd) == 0;
	free(cmd);
	if (!have_pdfs)
		printf("# tests/data/mkpdf is missing or failed: the PDF cases check nothing\n");
	anchors = xasprintf("%s", env("PKI_ANCHORS"));
	inter = xasprintf("%s", env("PKI_INTERMEDIATES"));
	crls = xasprintf("%s", env("PKI_CRLS_DIR"));
	trust_full = smime_trust_new(anchors, inter, crls, &err);
	trust_anchors = smime_trust_new(anchors, NULL, NULL, &err);
	if (trust_full == NULL || trust_anchors == NULL) {
		printf("Bail out! trust: %s\n", err.msg);
		return 99;
	}
	sr = srunner_create(make_suite());
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	smime_trust_free(&trust_full);
	smime_trust_free(&trust_anchors);
	cmd = xasprintf("rm -rf '%s'", topdir);
	run(cmd);
	free(cmd);
	free(anchors);
	free(inter);
	free(crls);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
