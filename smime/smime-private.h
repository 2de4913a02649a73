/*
 * smime-private.h - internals shared between smime/'s own files.
 * Nothing outside smime/ includes this header.
 */
#ifndef KYSO_SMIME_PRIVATE_H
#define KYSO_SMIME_PRIVATE_H

#include "smime/smime.h"

/* Set e from the OpenSSL error queue (which it drains), prefixed by fmt. */
void smime_err_openssl(struct kerr *e, enum kerr_class cls, const char *fmt, ...) KYSO_PRINTF(3, 4);


#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct rev_cache;               /* smime/revocation.c */

struct smime_trust {
	X509_STORE *store;              /* owned: anchors + CRLs */
	STACK_OF(X509) *intermediates;  /* owned: the configured store, untrusted */
	bool have_crls;
	struct rev_cache *rev_cache;    /* owned, internally locked: revocation results */
};

/* Load every certificate in path (a PEM file with one or more, a DER file, or
 * a folder of such files) and append to *sk (created if NULL). */
bool smime_load_certs(const char *path, STACK_OF(X509) **sk, struct kerr *err);
/* The e-mail addresses a certificate carries (rfc822Name SANs, then subject
 * emailAddress), lower-cased; caller owns the array and strings. */
char **smime_cert_emails(X509 *cert, size_t *n_r);
void smime_strv_free(char ***vp, size_t n);
/* A name as UTF-8 text, RFC 2253 order without escaping of non-ASCII; caller owns. */
char *smime_name_text(const X509_NAME *name);

#include <openssl/evp.h>

enum signer_backend { SIGNER_OPENSSL, SIGNER_GPGME };

struct gpg_signer;      /* smime/gpgsm.c */

struct smime_signer {
	enum signer_backend backend;
	X509 *cert;                     /* owned */
	STACK_OF(X509) *chain;          /* owned: intermediates sent with signatures (no roots) */
	EVP_PKEY *pkey;                 /* owned (OpenSSL backend) */
	void *engine;                   /* owned ENGINE reference (PKCS#11), or NULL */
	struct gpg_signer *gpg;         /* owned (GPGME backend) */
	char *subject;                  /* owned, UTF-8 */
	/* Prepared once by smime_signer_open (OpenSSL backend) and reused for
	 * every message; indexed by enum smime_digest. */
	EVP_MD *md[3];                  /* owned: fetched digests (an implicit fetch per use is slow) */
	unsigned char *ess[3];          /* owned: DER ESS signing-certificate-v2 for each digest */
	int ess_len[3];
	unsigned char *smimecap;        /* owned: DER SMIMECapabilities (OpenSSL's standard list) */
	int smimecap_len;
	char **emails;                  /* owned: the certificate's addresses (smime_cert_emails) */
	size_t nemails;
};

/* smime/pkcs11.c: load a private key from a PKCS#11 token by RFC 7512 URI
 * through OpenSSL's pkcs11 engine.  *engine_r receives the engine reference
 * to release with smime_pkcs11_release(). */
EVP_PKEY *smime_pkcs11_load_key(const char *uri, const char *pin, const char *module,
    void **engine_r, struct kerr *err);
void smime_pkcs11_release(void **engine);

/* smime/gpgsm.c: the GPGME (gpgsm) backend. */
struct gpg_signer *smime_gpg_open(const char *fpr, const char *gnupghome, const char *secret,
    X509 **cert_r, struct kerr *err);
bool smime_gpg_sign(struct gpg_signer *g, bool detached, const char *data, size_t len,
    struct buf *der_out, const char **micalg_r, struct kerr *err);
void smime_gpg_free(struct gpg_signer **gp);

/* Base64 in lines of 76 characters with CRLF, appended to out. */
void smime_base64_lines(struct buf *out, const unsigned char *data, size_t len);

#endif
