/* signer.c - signing keys from files, tokens and gpgsm behind one interface;
 * the certificate checks made before anything is signed; CMS SignedData. */
#include "config.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "smime/smime-private.h"

static int
pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *secret = u;
	size_t len;

	if (secret == NULL)
		return -1;
	len = strlen(secret);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, secret, len);
	return (int)len;
}

static bool
is_self_signed(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

/* Keep only intermediates: roots are never sent, and the signer itself is
 * added to the CMS separately. */
static void
keep_intermediates(struct smime_signer *s)
{
	for (int i = sk_X509_num(s->chain) - 1; i >= 0; i--) {
		X509 *x = sk_X509_value(s->chain, i);

		if (is_self_signed(x) || X509_cmp(x, s->cert) == 0)
			X509_free(sk_X509_delete(s->chain, i));
	}
}

static bool
open_p12(struct smime_signer *s, const struct smime_key_spec *spec, struct kerr *err)
{
	BIO *bio = BIO_new_file(spec->p12, "rb");
	PKCS12 *p12 = NULL;
	const char *pass = spec->secret != NULL ? spec->secret : "";
	bool ok = false;

	if (bio == NULL || (p12 = d2i_PKCS12_bio(bio, NULL)) == NULL) {
		smime_err_openssl(err, KERR_CONFIG, "%s is not a readable PKCS#12 file", spec->p12);
		goto out;
	}
	if (!PKCS12_verify_mac(p12, pass, -1)) {
		ERR_clear_error();
		kerr_set(err, KERR_CONFIG, "%s: wrong password (the PKCS#12 integrity check failed)", spec->p12);
		goto out;
	}
	if (!PKCS12_parse(p12, pass, &s->pkey, &s->cert, &s->chain)) {
		/* Files exported by older tools use RC2/3DES: those need the legacy provider. */
		ERR_clear_error();
		if (OSSL_PROVIDER_available(NULL, "legacy") ||
		    OSSL_PROVIDER_load(NULL, "legacy") == NULL ||
		    (!OSSL_PROVIDER_available(NULL, "default") && OSSL_PROVIDER_load(NULL, "default") == NULL) ||
		    !PKCS12_parse(p12, pass, &s->pkey, &s->cert, &s->chain)) {
			smime_err_openssl(err, KERR_CONFIG, "%s: cannot decrypt the PKCS#12 contents", spec->p12);
			goto out;
		}
	}
	if (s->pkey == NULL || s->cert == NULL) {
		kerr_set(err, KERR_CONFIG, "%s holds no private key with its certificate", spec->p12);
		goto out;
	}
	if (s->chain == NULL)
		s->chain = sk_X509_new_null();
	ok = true;
out:
	PKCS12_free(p12);
	BIO_free(bio);
	return ok;
}

static bool
open_pem(struct smime_signer *s, const struct smime_key_spec *spec, struct kerr *err)
{
	STACK_OF(X509) *certs = NULL;
	BIO *bio = NULL;
	bool ok = false;

	if (!smime_load_certs(spec->cert, &certs, err))
		goto out;
	s->cert = sk_X509_shift(certs);         /* the first is the signer; the rest, a chain */
	s->chain = certs;
	certs = NULL;
	if (spec->chain != NULL && !smime_load_certs(spec->chain, &s->chain, err))
		goto out;
	if (strncmp(spec->key, "pkcs11:", 7) == 0) {
		s->pkey = smime_pkcs11_load_key(spec->key, spec->secret, spec->pkcs11_module, &s->engine, err);
		if (s->pkey == NULL)
			goto out;
	} else {
		bio = BIO_new_file(spec->key, "rb");
		if (bio == NULL) {
			smime_err_openssl(err, KERR_CONFIG, "cannot read key %s", spec->key);
			goto out;
		}
		s->pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, (void *)spec->secret);
		if (s->pkey == NULL) {
			unsigned long e = ERR_peek_last_error();

			if (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ || ERR_GET_REASON(e) == PEM_R_BAD_DECRYPT ||
			    ERR_GET_REASON(e) == EVP_R_BAD_DECRYPT || spec->secret != NULL)
				smime_err_openssl(err, KERR_CONFIG, "%s: cannot decrypt the key (wrong passphrase?)",
				    spec->key);
			else
				smime_err_openssl(err, KERR_CONFIG, "%s is not a readable PEM private key", spec->key);
			goto out;
		}
	}
	if (X509_check_private_key(s->cert, s->pkey) != 1) {
		smime_err_openssl(err, KERR_CONFIG, "the key %s does not belong to the certificate %s",
		    spec->key, spec->cert);
		goto out;
	}
	ok = true;
out:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return ok;
}

static const char *const digest_names[] = { "SHA256", "SHA384", "SHA512" };

/*
 * What every signature by this signer shares, made once here rather than per
 * message: the digests fetched from the provider, the ESS
 * signing-certificate-v2 attribute for each (a hash of the certificate), and
 * the SMIMECapabilities attribute.  The bytes are those CMS_add1_signer and
 * OSSL_ESS_signing_cert_v2_new_init would produce for each message.
 */
static bool
prepare_openssl(struct smime_signer *s, struct kerr *err)
{
	STACK_OF(X509_ALGOR) *smcap = NULL;
	bool ok = false;

	for (size_t d = 0; d < sizeof(digest_names) / sizeof(digest_names[0]); d++) {
		ESS_SIGNING_CERT_V2 *sc = NULL;

		s->md[d] = EVP_MD_fetch(NULL, digest_names[d], NULL);
		if (s->md[d] != NULL)
			sc = OSSL_ESS_signing_cert_v2_new_init(s->md[d], s->cert, NULL, 0);
		if (sc == NULL || (s->ess_len[d] = i2d_ESS_SIGNING_CERT_V2(sc, &s->ess[d])) <= 0) {
			ESS_SIGNING_CERT_V2_free(sc);
			smime_err_openssl(err, KERR_INTERNAL, "cannot prepare %s signatures", digest_names[d]);
			goto out;
		}
		ESS_SIGNING_CERT_V2_free(sc);
	}
	if (!CMS_add_standard_smimecap(&smcap) || (s->smimecap_len = i2d_X509_ALGORS(smcap, &s->smimecap)) <= 0) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot build the SMIMECapabilities attribute");
		goto out;
	}
	ok = true;
out:
	sk_X509_ALGOR_pop_free(smcap, X509_ALGOR_free);
	return ok;
}

struct smime_signer *
smime_signer_open(const struct smime_key_spec *spec, struct kerr *err)
{
	struct smime_signer *s = xcalloc(1, sizeof(*s));
	int sources = (spec->p12 != NULL) + (spec->cert != NULL || spec->key != NULL) + (spec->gpgsm != NULL);
	bool ok;

	if (sources != 1) {
		kerr_set(err, KERR_CONFIG, "give exactly one key: a PKCS#12 file, a certificate and key, "
		    "or a gpgsm fingerprint");
		goto fail;
	}
	if (spec->p12 != NULL) {
		ok = open_p12(s, spec, err);
	} else if (spec->gpgsm != NULL) {
		s->backend = SIGNER_GPGME;
		s->gpg = smime_gpg_open(spec->gpgsm, spec->gnupghome, spec->secret, &s->cert, err);
		s->chain = sk_X509_new_null();
		ok = s->gpg != NULL;
	} else if (spec->cert == NULL || spec->key == NULL) {
		kerr_set(err, KERR_CONFIG, "a certificate needs its key, and a key its certificate");
		ok = false;
	} else {
		ok = open_pem(s, spec, err);
	}
	if (!ok)
		goto fail;
	keep_intermediates(s);
	if (s->backend == SIGNER_OPENSSL && !prepare_openssl(s, err))
		goto fail;
	s->subject = smime_name_text(X509_get_subject_name(s->cert));
	s->emails = smime_cert_emails(s->cert, &s->nemails);
	return s;
fail:
	smime_signer_free(&s);
	return NULL;
}

void
smime_signer_free(struct smime_signer **sp)
{
	struct smime_signer *s;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	for (size_t d = 0; d < sizeof(s->md) / sizeof(s->md[0]); d++) {
		EVP_MD_free(s->md[d]);
		OPENSSL_free(s->ess[d]);
	}
	OPENSSL_free(s->smimecap);
	smime_strv_free(&s->emails, s->nemails);
	EVP_PKEY_free(s->pkey);
	smime_pkcs11_release(&s->engine);
	smime_gpg_free(&s->gpg);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	free(s->subject);
	free(s);
	*sp = NULL;
}

const char *
smime_signer_subject(const struct smime_signer *s)
{
	return s->subject;
}

/* --- checks before signing --- */

static bool
weak_signature_alg(X509 *x)
{
	int md = NID_undef, pk = NID_undef;

	if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk))
		return false;
	return md == NID_md5 || md == NID_sha1 || md == NID_md2 || md == NID_md4;
}

bool
smime_signer_check(const struct smime_signer *s, const struct smime_sign_opts *o, const char *addr,
    struct kerr *err)
{
	time_t now = o->now != 0 ? (time_t)o->now : time(NULL);
	EVP_PKEY *pub = X509_get0_pubkey(s->cert);
	uint32_t ku = X509_get_key_usage(s->cert);
	uint32_t xku = X509_get_extended_key_usage(s->cert);
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	bool ok = false;

	if (X509_cmp_time(X509_get0_notBefore(s->cert), &now) > 0) {
		kerr_set(err, KERR_PERM, "certificate not yet valid (%s): it cannot sign yet", s->subject);
		return false;
	}
	if (X509_cmp_time(X509_get0_notAfter(s->cert), &now) < 0) {
		kerr_set(err, KERR_PERM, "certificate expired (%s): renew it before signing", s->subject);
		return false;
	}
	/* Key usage absent means any; present, it must allow signatures. */
	if (ku != UINT32_MAX && (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0) {
		kerr_set(err, KERR_PERM, "certificate key usage allows neither digitalSignature nor "
		    "nonRepudiation (%s)", s->subject);
		return false;
	}
	if ((X509_get_extension_flags(s->cert) & EXFLAG_XKUSAGE) && xku != UINT32_MAX &&
	    (xku & (XKU_SMIME | XKU_ANYEKU)) == 0) {
		kerr_set(err, KERR_PERM, "certificate extended key usage lacks emailProtection (%s)", s->subject);
		return false;
	}
	if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pub) < 2048) {
		kerr_set(err, KERR_PERM, "certificate key is too weak: RSA-%d (at least 2048 bits)",
		    EVP_PKEY_get_bits(pub));
		return false;
	}
	if (weak_signature_alg(s->cert)) {
		kerr_set(err, KERR_PERM, "certificate is signed with a weak algorithm (%s)",
		    OBJ_nid2sn(X509_get_signature_nid(s->cert)));
		return false;
	}
	if (!o->organisation) {
		bool found = false;

		for (size_t i = 0; i < s->nemails && addr != NULL; i++)
			if (strcasecmp(s->emails[i], addr) == 0)
				found = true;
		if (addr == NULL) {
			kerr_set(err, KERR_PERM, "the message has no From address to sign for");
			return false;
		}
		if (!found) {
			kerr_set(err, KERR_PERM, "certificate (%s) does not carry the sender address %s",
			    s->subject, addr);
			return false;
		}
	}
	if (o->trust == NULL)
		return true;

	untrusted = sk_X509_dup(s->chain);
	for (int i = 0; i < sk_X509_num(o->trust->intermediates); i++)
		sk_X509_push(untrusted, sk_X509_value(o->trust->intermediates, i));
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, o->trust->store, s->cert, untrusted)) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot prepare the chain check");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
	if (o->trust->have_crls)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		/* Revocation of a certificate whose issuer publishes no CRL here
		 * is unknown, not a reason to refuse signing. */
		if (e == X509_V_ERR_UNABLE_TO_GET_CRL) {
			X509_STORE_CTX_cleanup(ctx);
			X509_STORE_CTX_init(ctx, o->trust->store, s->cert, untrusted);
			X509_STORE_CTX_set_time(ctx, 0, now);
			X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
			if (X509_verify_cert(ctx) == 1)
				goto chain_ok;
			e = X509_STORE_CTX_get_error(ctx);
		}
		if (e == X509_V_ERR_CERT_REVOKED)
			kerr_set(err, KERR_PERM, "certificate is revoked (%s): it must not sign", s->subject);
		else
			kerr_set(err, KERR_PERM, "certificate does not chain to the trust anchors: %s (%s)",
			    X509_verify_cert_error_string(e), s->subject);
		goto out;
	}
chain_ok:
	for (int i = 1; i < sk_X509_num(X509_STORE_CTX_get0_chain(ctx)); i++) {
		X509 *ca = sk_X509_value(X509_STORE_CTX_get0_chain(ctx), i);

		if (!is_self_signed(ca) && weak_signature_alg(ca)) {
			kerr_set(err, KERR_PERM, "the chain holds a certificate signed with a weak algorithm (%s)",
			    OBJ_nid2sn(X509_get_signature_nid(ca)));
			goto out;
		}
	}
	ok = true;
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return ok;
}

/* --- CMS --- */

/* The digest's index in the signer's prepared tables, and its micalg. */
static size_t
digest_index(enum smime_digest d, const char **micalg_r)
{
	switch (d) {
	case SMIME_DIGEST_SHA384: *micalg_r = "sha-384"; return 1;
	case SMIME_DIGEST_SHA512: *micalg_r = "sha-512"; return 2;
	case SMIME_DIGEST_SHA256: break;
	}
	*micalg_r = "sha-256";
	return 0;
}

/* The attributes CMS_add1_signer would add (SMIMECapabilities, asked off
 * with CMS_NOSMIMECAP), then ESS signing-certificate-v2 and signingTime. */
static bool
add_attributes(const struct smime_signer *s, CMS_SignerInfo *si, size_t d, time_t now, struct kerr *err)
{
	ASN1_TIME *t = ASN1_TIME_set(NULL, now);
	bool ok = false;

	if (t == NULL) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot build the signed attributes");
		goto out;
	}
	if (!CMS_signed_add1_attr_by_NID(si, NID_SMIMECapabilities, V_ASN1_SEQUENCE, s->smimecap,
	        s->smimecap_len) ||
	    !CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, s->ess[d],
	        s->ess_len[d]) ||
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t, -1)) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot add the signed attributes");
		goto out;
	}
	ok = true;
out:
	ASN1_TIME_free(t);
	return ok;
}

/* Detached signatures hash the content once, here, and put the digest in the
 * messageDigest attribute themselves (CMS_PARTIAL + CMS_SignerInfo_sign), so
 * the self-check need not hash it again.  Opaque ones embed the content and
 * go through CMS_final, as do RSA-PSS ones. */
static bool
cms_sign_openssl(struct smime_signer *s, const struct smime_sign_opts *o, const char *data, size_t len,
    struct buf *der_out, const char **micalg_r, unsigned char *md_r, unsigned int *mdlen_r,
    struct kerr *err)
{
	bool detached = o->mode == SMIME_MODE_DETACHED;
	unsigned int flags = CMS_PARTIAL | CMS_BINARY | (detached ? CMS_DETACHED : 0);
	size_t d = digest_index(o->digest, micalg_r);
	const EVP_MD *md = s->md[d];
	time_t now = o->now != 0 ? (time_t)o->now : time(NULL);
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	BIO *in = NULL;
	unsigned char *w;
	int derlen;
	bool ok = false;

	if (len > INT32_MAX) {
		kerr_set(err, KERR_PERM, "message too large to sign (%zu bytes)", len);
		goto out;
	}
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	if (cms == NULL) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot start a CMS structure");
		goto out;
	}
	si = CMS_add1_signer(cms, s->cert, s->pkey, md, flags | CMS_NOSMIMECAP | (o->rsa_pss ? CMS_KEY_PARAM : 0));
	if (si == NULL) {
		smime_err_openssl(err, KERR_CONFIG, "the key cannot sign with %s", EVP_MD_get0_name(md));
		goto out;
	}
	if (o->rsa_pss) {
		EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);

		if (EVP_PKEY_get_base_id(s->pkey) != EVP_PKEY_RSA ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0) {
			smime_err_openssl(err, KERR_CONFIG, "RSA-PSS needs an RSA key");
			goto out;
		}
	}
	if (!add_attributes(s, si, d, now, err))
		goto out;
	for (int i = 0; i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, i)))
			ERR_clear_error();      /* already present */
	/* RSA-PSS parameters are written by CMS_final's path only: PSS takes it. */
	if (detached && !o->rsa_pss) {
		if (!EVP_Digest(data, len, md_r, mdlen_r, md, NULL) ||
		    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
		        OBJ_nid2obj(NID_pkcs7_data), -1) ||
		    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING,
		        md_r, (int)*mdlen_r) ||
		    !CMS_SignerInfo_sign(si)) {
			smime_err_openssl(err, KERR_TEMP, "signing failed");
			goto out;
		}
	} else {
		*mdlen_r = 0;
		in = BIO_new_mem_buf(data, (int)len);
		if (in == NULL || !CMS_final(cms, in, NULL, flags)) {
			smime_err_openssl(err, KERR_TEMP, "signing failed");
			goto out;
		}
	}
	/* Encoded straight into der_out, reserved exactly: an enveloping
	 * signature holds the whole message. */
	derlen = i2d_CMS_ContentInfo(cms, NULL);
	if (derlen > 0) {
		buf_reserve_exact(der_out, (size_t)derlen);
		w = (unsigned char *)der_out->data + der_out->len;
		if (i2d_CMS_ContentInfo(cms, &w) != derlen)
			derlen = 0;
	}
	if (derlen <= 0) {
		smime_err_openssl(err, KERR_INTERNAL, "cannot encode the signature");
		goto out;
	}
	der_out->len += (size_t)derlen;
	der_out->data[der_out->len] = '\0';
	ok = true;
out:
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return ok;
}

/* One DER TLV at p (before end), single-byte tag and definite length, as
 * OpenSSL's encoder writes them: its tag, contents and the byte after it. */
static bool
der_tlv(const unsigned char *p, const unsigned char *end, unsigned char *tag_r, const unsigned char **body_r,
    const unsigned char **next_r)
{
	size_t len, n;

	if (end - p < 2 || (p[0] & 0x1f) == 0x1f)
		return false;
	*tag_r = p[0];
	len = p[1];
	p += 2;
	if (len & 0x80) {
		n = len & 0x7f;
		if (n == 0 || n > 4 || (size_t)(end - p) < n)
			return false;
		for (len = 0; n > 0; n--)
			len = len << 8 | *p++;
	}
	if ((size_t)(end - p) < len)
		return false;
	*body_r = p;
	*next_r = p + len;
	return true;
}

/* Is [p, p + n) byte for byte the encoding of x? */
static bool
der_is_cert(const unsigned char *p, size_t n, X509 *x)
{
	unsigned char *d = NULL;
	int len = i2d_X509(x, &d);
	bool same = len > 0 && (size_t)len == n && memcmp(d, p, n) == 0;

	OPENSSL_free(d);
	return same;
}

/*
 * For the self-check: a copy of a SignedData's DER in which each embedded
 * certificate is re-tagged from SEQUENCE (0x30) to [0] (0xa0), that is as a
 * CMS extendedCertificate, which OpenSSL keeps as opaque bytes, provided it
 * is byte for byte our certificate or one of our intermediates.  Parsing
 * those again would prove nothing (they parsed when the signer was opened)
 * and is most of the cost of parsing a small signature: OpenSSL 3.0 builds
 * decoders for every certificate's public key.  Everything else (the
 * SignerInfo with its attributes and signature, the algorithms, the
 * structure and every length) is parsed as before.  NULL (caller parses the
 * DER as it is) when the DER is not shaped as expected.  Caller frees.
 */
static unsigned char *
der_with_opaque_certs(const struct smime_signer *s, const unsigned char *der, size_t derlen)
{
	const unsigned char *b = der, *end = b + derlen;
	const unsigned char *ci, *ci_end, *sd, *sd_end, *body, *next, *p;
	unsigned char tag, *copy = NULL;

	/* ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData } */
	if (!der_tlv(b, end, &tag, &ci, &ci_end) || tag != 0x30 || ci_end != end ||
	    !der_tlv(ci, ci_end, &tag, &body, &next) || tag != 0x06 ||
	    !der_tlv(next, ci_end, &tag, &body, &next) || tag != 0xa0 || next != ci_end ||
	    !der_tlv(body, next, &tag, &sd, &sd_end) || tag != 0x30 || sd_end != next)
		return NULL;
	/* SignedData ::= SEQUENCE { version INTEGER, digestAlgorithms SET,
	 *     encapContentInfo SEQUENCE, certificates [0] IMPLICIT SET OPTIONAL, ... } */
	if (!der_tlv(sd, sd_end, &tag, &body, &next) || tag != 0x02 ||
	    !der_tlv(next, sd_end, &tag, &body, &next) || tag != 0x31 ||
	    !der_tlv(next, sd_end, &tag, &body, &next) || tag != 0x30 ||
	    !der_tlv(next, sd_end, &tag, &body, &next) || tag != 0xa0)
		return NULL;
	copy = OPENSSL_memdup(b, derlen);
	if (copy == NULL)
		return NULL;
	for (p = body; p < next;) {
		const unsigned char *cb, *cnext;
		bool ours = false;

		if (!der_tlv(p, next, &tag, &cb, &cnext) || tag != 0x30)
			goto fail;
		ours = der_is_cert(p, (size_t)(cnext - p), s->cert);
		for (int i = 0; !ours && i < sk_X509_num(s->chain); i++)
			ours = der_is_cert(p, (size_t)(cnext - p), sk_X509_value(s->chain, i));
		if (!ours)
			goto fail;
		copy[p - b] = 0xa0;
		p = cnext;
	}
	return copy;
fail:
	OPENSSL_free(copy);
	return NULL;
}

/* Re-verify what was just made, before anyone sees it: catches a token or
 * gpgsm that signed with another key or over other bytes, or a broken
 * signature.  When md is given (a detached signature whose content digest we
 * computed ourselves) the content is not hashed again: the messageDigest
 * attribute must equal it and the signature over the attributes must verify. */
static bool
self_check(const struct smime_signer *s, const struct smime_sign_opts *o, const unsigned char *der,
    size_t derlen, const char *data, size_t len, const unsigned char *md, unsigned int mdlen, struct kerr *err)
{
	unsigned char *opaque = md != NULL && mdlen > 0 ? der_with_opaque_certs(s, der, derlen) : NULL;
	const unsigned char *start = opaque != NULL ? opaque : der, *p = start;
	CMS_ContentInfo *cms = derlen <= LONG_MAX ? d2i_CMS_ContentInfo(NULL, &p, (long)derlen) : NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	BIO *content = NULL, *out = NULL;
	X509_STORE *store = NULL;
	bool detached = o->mode == SMIME_MODE_DETACHED;
	bool ok = false;

	/* When the signature is checked against our own certificate (md given),
	 * the embedded certificates are compared with ours instead of parsed
	 * (der_with_opaque_certs); CMS_verify takes the keys from them. */
	if (cms == NULL || p != start + derlen) {
		smime_err_openssl(err, KERR_INTERNAL, "self-check: the signature does not parse");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		kerr_set(err, KERR_INTERNAL, "self-check: expected one signer");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	if (CMS_SignerInfo_cert_cmp(si, s->cert) != 0) {
		kerr_set(err, KERR_INTERNAL, "self-check: the signature names another certificate");
		goto out;
	}
	if (md != NULL && mdlen > 0) {
		X509_ATTRIBUTE *a;
		ASN1_OCTET_STRING *got;

		a = CMS_signed_get_attr(si, CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1));
		got = a != NULL ? X509_ATTRIBUTE_get0_data(a, 0, V_ASN1_OCTET_STRING, NULL) : NULL;
		CMS_SignerInfo_set1_signer_cert(si, s->cert);
		if (got == NULL || (unsigned int)ASN1_STRING_length(got) != mdlen ||
		    memcmp(ASN1_STRING_get0_data(got), md, mdlen) != 0 || CMS_SignerInfo_verify(si) != 1) {
			smime_err_openssl(err, KERR_INTERNAL, "self-check: the new signature does not verify");
			goto out;
		}
		ok = true;
		goto out;
	}
	store = X509_STORE_new();
	if (detached)
		content = BIO_new_mem_buf(data, (int)len);
	out = BIO_new(BIO_s_null());
	if (!CMS_verify(cms, NULL, store, content, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY)) {
		smime_err_openssl(err, KERR_INTERNAL, "self-check: the new signature does not verify");
		goto out;
	}
	if (!detached) {
		ASN1_OCTET_STRING **pos = CMS_get0_content(cms);

		if (pos == NULL || *pos == NULL || (size_t)ASN1_STRING_length(*pos) != len ||
		    memcmp(ASN1_STRING_get0_data(*pos), data, len) != 0) {
			kerr_set(err, KERR_INTERNAL, "self-check: the signed content differs from the message");
			goto out;
		}
	}
	ok = true;
out:
	X509_STORE_free(store);
	BIO_free(content);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(opaque);
	return ok;
}

bool
smime_sign_data(struct smime_signer *s, const struct smime_sign_opts *o, const char *data, size_t len,
    struct buf *der_out, const char **micalg_r, struct kerr *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t start = der_out->len;
	bool ok;

	/* Both backends append to der_out; the self-check reads it there. */
	if (s->backend == SIGNER_GPGME)
		ok = smime_gpg_sign(s->gpg, o->mode == SMIME_MODE_DETACHED, data, len, der_out, micalg_r, err);
	else
		ok = cms_sign_openssl(s, o, data, len, der_out, micalg_r, md, &mdlen, err);
	if (ok && o->verify_after)
		ok = self_check(s, o, (const unsigned char *)der_out->data + start, der_out->len - start, data, len,
		    mdlen > 0 ? md : NULL, mdlen, err);
	if (!ok && der_out->data != NULL) {
		der_out->len = start;
		der_out->data[start] = '\0';
	}
	return ok;
}

void
smime_base64_lines(struct buf *out, const unsigned char *data, size_t len)
{
	size_t lines = (len + 56) / 57;

	buf_reserve(out, lines * 78 + 1);
	for (size_t off = 0; off < len; off += 57) {
		size_t chunk = len - off < 57 ? len - off : 57;
		int n = EVP_EncodeBlock((unsigned char *)out->data + out->len, data + off, (int)chunk);

		out->len += (size_t)n;
		out->data[out->len++] = '\r';
		out->data[out->len++] = '\n';
	}
	out->data[out->len] = '\0';
}
