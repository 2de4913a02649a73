/*
 * smime.h - kyso's S/MIME library: signing and verification of mail and
 * documents.  No network, no SQLite, no HTTP: callers hand it bytes and
 * configuration and get bytes and verdicts back.
 *
 * How to use: see the sections below as they are filled in (signing,
 * verification).  Every fallible call takes a `struct kerr *` (smime/base.h).
 * No OpenSSL or GPGME type appears in this header.
 */
#ifndef KYSO_SMIME_H
#define KYSO_SMIME_H

#include "smime/base.h"

/* ------------------------------------------------------------------------
 * Trust: the site's anchors (roots), an intermediates store (Vietnamese
 * signatures often carry only the signer's certificate) and local CRLs.
 * Each argument is a PEM file or a folder of PEM files; NULL for none.
 * A trust object is immutable once made and may be shared between threads.
 */
struct smime_trust;

struct smime_trust *smime_trust_new(const char *anchors, const char *intermediates,
    const char *crls, struct kerr *err);                       /* caller owns */
/* Add more anchors and/or intermediates (either may be NULL) to a trust
 * object that is not yet shared (kyso verify --trust A --trust B). */
bool smime_trust_add(struct smime_trust *t, const char *anchors, const char *intermediates,
    struct kerr *err);
void smime_trust_free(struct smime_trust **tp);

/* ------------------------------------------------------------------------
 * Signing.
 *
 *   struct smime_key_spec spec = { .p12 = "ngan.p12", .secret = password };
 *   struct smime_signer *s = smime_signer_open(&spec, &err);
 *   struct smime_sign_opts o = SMIME_SIGN_OPTS_INIT;
 *   o.trust = trust;
 *   if (!smime_sign_message(s, &o, msg, len, &out, &err)) ...refused: err says why...
 *   smime_signer_free(&s);
 *
 * A signer holds one private key (a file, a PKCS#11 token, or a gpgsm
 * keyring) and its certificate; the rest of kyso does not know which backend.
 * A signer is used by one thread at a time.
 */
enum smime_digest { SMIME_DIGEST_SHA256 = 0, SMIME_DIGEST_SHA384, SMIME_DIGEST_SHA512 };
enum smime_sign_mode { SMIME_MODE_DETACHED = 0, SMIME_MODE_OPAQUE };

struct smime_key_spec {                 /* every field borrowed for the call */
	const char *p12;                /* PKCS#12 file, or */
	const char *cert, *key;         /* PEM certificate + PEM key file or pkcs11: URI, or */
	const char *gpgsm, *gnupghome;  /* gpgsm certificate fingerprint (+ GNUPGHOME; NULL: default) */
	const char *chain;              /* optional PEM intermediates (cert/key only) */
	const char *secret;             /* p12 password, key passphrase or token PIN; may be NULL */
	const char *pkcs11_module;      /* PKCS#11 module; NULL: the pkcs11 engine's default */
};

struct smime_signer *smime_signer_open(const struct smime_key_spec *spec, struct kerr *err);
void smime_signer_free(struct smime_signer **sp);
/* The signer's certificate subject, UTF-8, RFC 2253 order (borrowed until free). */
const char *smime_signer_subject(const struct smime_signer *s);

struct smime_sign_opts {
	enum smime_digest digest;
	enum smime_sign_mode mode;
	bool rsa_pss;                   /* RSA-PSS instead of PKCS#1 v1.5 (OpenSSL backends) */
	const struct smime_trust *trust;/* chain check before signing; NULL skips it */
	bool organisation;              /* an organisation certificate: no address match */
	bool verify_after;              /* re-verify the result before releasing it */
	int64_t now;                    /* 0: the current time */
	bool set_date;                  /* replace Date with the signing time (sent now) */
};
#define SMIME_SIGN_OPTS_INIT { SMIME_DIGEST_SHA256, SMIME_MODE_DETACHED, false, NULL, false, true, 0, true }

/* Refuse a certificate that must not sign mail from addr: expired or not yet
 * valid, wrong key usage or EKU, no chain to the trust anchors, weak key or
 * algorithm, or addr not among its addresses (unless organisation).
 * KERR_PERM with the reason. */
bool smime_signer_check(const struct smime_signer *s, const struct smime_sign_opts *o,
    const char *addr, struct kerr *err);

/* Sign a complete RFC 5322 message (LF or CRLF) into out (appended):
 * multipart/signed (detached) or application/pkcs7-mime (opaque), Bcc removed.
 * The From address (Sender when From holds several) must pass smime_signer_check. */
bool smime_sign_message(struct smime_signer *s, const struct smime_sign_opts *o,
    const char *msg, size_t len, struct buf *out, struct kerr *err);

/* Sign bytes as they are: a DER CMS SignedData, detached or enveloping,
 * appended to der_out; re-verified first when o->verify_after. */
bool smime_sign_data(struct smime_signer *s, const struct smime_sign_opts *o,
    const char *data, size_t len, struct buf *der_out, const char **micalg_r, struct kerr *err);

/* ------------------------------------------------------------------------
 * Verification (the contract; implemented in smime/verify*.c).
 *
 *   struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
 *   o.trust = trust;
 *   struct smime_report *r = smime_verify_message(msg, len, &o, &err);
 *   ...r->verdict, r->reasons, r->sigs[i]...
 *   smime_report_free(&r);
 *
 * Verdicts follow ETSI EN 319 102-1 (passed / failed / indeterminate) with
 * the message-level ones mail needs.  docs/VERIFICATION.md explains each
 * verdict and reason code; a wrong "valid" is the worst bug kyso can have.
 */
enum smime_verdict {
	SMIME_VERDICT_VALID = 0,
	SMIME_VERDICT_PARTIAL,          /* valid signatures cover only part of it */
	SMIME_VERDICT_INVALID,
	SMIME_VERDICT_INDETERMINATE,
	SMIME_VERDICT_UNSIGNED,
	SMIME_VERDICT_ENCRYPTED,
	SMIME_VERDICT_MALFORMED,
};

/* Reason codes, as bits (a signature may have several). */
enum smime_reason {
	SMIME_R_DIGEST_MISMATCH        = 1u << 0,
	SMIME_R_BAD_SIGNATURE          = 1u << 1,
	SMIME_R_ECONTENT_MISMATCH      = 1u << 2,
	SMIME_R_NO_SIGNER              = 1u << 3,
	SMIME_R_MULTIPLE_SIGNERS       = 1u << 4,
	SMIME_R_UNTRUSTED_CHAIN        = 1u << 5,
	SMIME_R_EXPIRED                = 1u << 6,
	SMIME_R_NOT_YET_VALID          = 1u << 7,
	SMIME_R_REVOKED                = 1u << 8,
	SMIME_R_REVOCATION_UNKNOWN     = 1u << 9,
	SMIME_R_KEY_USAGE              = 1u << 10,
	SMIME_R_WEAK_ALGORITHM         = 1u << 11,
	SMIME_R_SENDER_MISMATCH        = 1u << 12,
	SMIME_R_TIME_MISMATCH          = 1u << 13,
	SMIME_R_PARTIAL_COVERAGE       = 1u << 14,
	SMIME_R_MODIFIED_AFTER_SIGNING = 1u << 15,
	SMIME_R_MALFORMED              = 1u << 16,
	SMIME_R_UNSUPPORTED            = 1u << 17,  /* an algorithm kyso cannot check: indeterminate */
};
#define SMIME_REASON_COUNT 18

/* "digest-mismatch", ... (the codes of the contract); NULL for an unknown bit. */
const char *smime_reason_code(enum smime_reason r);
/* One sentence explaining the reason, in Vietnamese ("vi") or English. */
const char *smime_reason_text(enum smime_reason r, const char *lang);
const char *smime_verdict_code(enum smime_verdict v);     /* "valid", ... */
const char *smime_verdict_text(enum smime_verdict v, const char *lang);

/* Network access for revocation data (CRL distribution points, OCSP), given
 * by the caller: smime/ itself never opens a socket.  fetch() GETs url, or
 * POSTs body with content_type when body != NULL, into out (at most max
 * bytes), false + err on failure.  Called from the verifying thread. */
struct smime_fetcher {
	bool (*fetch)(void *ctx, const char *url, const char *content_type,
	    const void *body, size_t body_len, size_t max, struct buf *out, struct kerr *err);
	void *ctx;
};

enum smime_revocation_policy {
	SMIME_REVOCATION_OFF = 0,       /* not checked */
	SMIME_REVOCATION_PREFER,        /* checked when data can be had; unknown is a warning */
	SMIME_REVOCATION_REQUIRE,       /* unknown status is indeterminate, never valid */
};

struct smime_verify_opts {
	const struct smime_trust *trust;        /* borrowed; required */
	int64_t at;                             /* validity time; 0: now */
	enum smime_revocation_policy revocation;
	const struct smime_fetcher *fetcher;    /* borrowed; NULL: local CRLs only */
	bool allow_multiple_signers;            /* else two signerInfos is a reason */
	/* Senders (addresses, lower case) whose SHA-1 / RSA < 2048 is tolerated. */
	const char *const *weak_allowed;        /* borrowed, NULL-terminated, or NULL */
	/* Organisation certificates: a certificate whose subject contains
	 * org_subjects[i] (UTF-8 substring of its RFC 2253 text) may sign for
	 * org_addresses[i] (comma-separated).  Both NULL-terminated, or NULL. */
	const char *const *org_subjects;
	const char *const *org_addresses;
	/* Fill struct smime_attachment's size and sha256 for every attachment
	 * (evidence for the log).  It decodes and hashes every attachment, so it
	 * costs time on big messages; off, sha256 is "" and size is the encoded
	 * size of attachments that were not decoded anyway. */
	bool attachment_digests;
};
#define SMIME_VERIFY_OPTS_INIT { NULL, 0, SMIME_REVOCATION_PREFER, NULL, false, NULL, NULL, NULL, false }

enum smime_sig_kind {
	SMIME_KIND_MULTIPART_SIGNED = 0,
	SMIME_KIND_OPAQUE,              /* application/pkcs7-mime signed-data */
	SMIME_KIND_P7S,                 /* detached .p7s beside an attached file */
	SMIME_KIND_P7M,                 /* enveloping .p7m attachment */
	SMIME_KIND_PDF,                 /* a signature inside a PDF */
	SMIME_KIND_PDF_TIMESTAMP,       /* an ETSI.RFC3161 document timestamp in a PDF */
};
const char *smime_sig_kind_code(enum smime_sig_kind k);  /* "multipart-signed", ... "pdf" */

enum smime_coverage {
	SMIME_COVERS_WHOLE = 0,         /* the whole displayed message / the whole file */
	SMIME_COVERS_PART,              /* one part of the message */
	SMIME_COVERS_PARTIAL_FILE,      /* a PDF signature followed by later changes */
};
const char *smime_coverage_code(enum smime_coverage c);  /* "whole", "part", "partial-file" */

struct smime_cert_info {                /* every string owned, UTF-8 */
	char *subject, *issuer;         /* RFC 2253 order */
	char *serial;                   /* hex */
	char *sha256;                   /* hex fingerprint of the DER */
	char **emails;                  /* rfc822Name + emailAddress, lower case */
	size_t n_emails;
	int64_t not_before, not_after;  /* Unix time */
};

struct smime_sig {
	char *where;                    /* owned: "message", "part 1.2", "attachment QD-12.pdf" */
	enum smime_sig_kind kind;
	enum smime_verdict verdict;     /* VALID, INVALID, INDETERMINATE or MALFORMED */
	uint32_t reasons;               /* enum smime_reason bits */
	enum smime_coverage covers;
	bool has_signer;
	struct smime_cert_info signer;
	char **chain;                   /* owned: subjects from the signer up to the anchor */
	size_t n_chain;
	int64_t signing_time;           /* 0 when absent */
	char *digest_alg;               /* owned: "sha256", ... or NULL */
	char *revocation;               /* owned: how revocation was decided, e.g. "crl:local good",
	                                   "ocsp:http://... good", "unknown", or NULL when off */
	char *detail;                   /* owned: one line for humans (OpenSSL's words), or NULL */
	char *file;                     /* owned: the attached file's name, or NULL */
	struct buf *chain_der;          /* owned: DER of each chain certificate, n_chain of
	                                   them in chain[]'s order (evidence), or NULL */
};

struct smime_attachment {
	char *name;                     /* owned, UTF-8 (may be NULL) */
	char *content_type;             /* owned */
	size_t size;                    /* decoded bytes */
	char sha256[65];                /* hex of the decoded bytes */
	enum smime_verdict verdict;     /* its own (documents), UNSIGNED when none */
};

struct smime_report {
	enum smime_verdict verdict;     /* the message's (or document's) verdict */
	uint32_t reasons;               /* why it is not valid, when it is not */
	struct smime_sig *sigs;         /* owned */
	size_t n_sigs;
	struct smime_attachment *attachments;   /* owned */
	size_t n_attachments;
	char *from;                     /* owned: the From (or Sender) address checked, or NULL */
	char *detail;                   /* owned: one line on why it is malformed or was not checked
	                                   completely, or NULL */
};

/* Verify a whole RFC 5322 message (LF or CRLF).  Returns a report (caller
 * owns) for any input, malformed included; NULL only on internal errors. */
struct smime_report *smime_verify_message(const char *msg, size_t len,
    const struct smime_verify_opts *o, struct kerr *err);
/* Verify a bare document as a clerk would check one: a PDF, a .p7m, or a
 * file with its detached .p7s (p7s may be NULL).  name is for the report. */
struct smime_report *smime_verify_document(const char *name, const char *data, size_t len,
    const char *p7s, size_t p7s_len, const struct smime_verify_opts *o, struct kerr *err);
void smime_report_free(struct smime_report **rp);

/* The library's version string, e.g. "kyso 0.1.0 (OpenSSL 3.0.x, GPGME 1.18.0)".
 * Borrowed, static. */
const char *smime_version(void);

#endif
