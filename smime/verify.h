/*
 * verify.h - INTERNAL to smime/: the pieces of the verification engine
 * (smime/verify*.c).  Nothing outside smime/ includes it (except its unit
 * tests and fuzz harnesses).
 *
 *   verify.c       the message walker, smime_verify_message/_document,
 *                  the message and document verdicts
 *   verify-cms.c   one CMS SignedData: integrity, signer, chain, validity,
 *                  revocation, key usage, weak algorithms, sender, time
 *   verify-pdf.c   the signatures of a PDF (found by smime/pdf.c)
 *   verify-text.c  codes and texts (vi/en) of verdicts and reasons
 *
 * How the pieces meet: the walker finds a signature, fills a struct vjob
 * (which bytes are signed, what the signature is for, whom it must be from)
 * and calls verify_cms(), which appends one struct smime_sig per signerInfo
 * to the report and returns what the walker needs in a struct vresult.
 */
#ifndef KYSO_SMIME_VERIFY_H
#define KYSO_SMIME_VERIFY_H

#include <openssl/cms.h>

#include "smime/smime-private.h"

/* Limits (docs/VERIFICATION.md, "Limits").  MIME limits are in mime.h. */
#define VERIFY_MAX_SIGS         128     /* struct smime_sig entries per report */
#define VERIFY_MAX_SIGNERINFOS  16      /* signerInfos looked at in one CMS */
#define VERIFY_MAX_ATTACHMENTS  1024    /* struct smime_attachment entries per report */
#define VERIFY_MAX_LAYERS       8       /* opaque signed-data / .p7m layers inside each other */
#define VERIFY_MAX_CMS          (512u * 1024 * 1024)    /* bytes of one DER CMS */
#define VERIFY_MAX_INPUT        ((size_t)1 << 30)       /* bytes of one message or document */
#define VERIFY_MAX_WORK         256     /* CMS structures verified per report */
/* Date header vs signingTime (docs/VERIFICATION.md, "Time"). */
#define VERIFY_TIME_TOLERANCE   3600    /* seconds either way */
#define VERIFY_TIME_VN_OFFSET   (7 * 3600)      /* local time written as UTC (UTC+7) */

/* Per report. */
struct vctx {
	const struct smime_verify_opts *o;      /* borrowed */
	struct smime_report *r;                 /* borrowed: the report being filled */
	int64_t at;                             /* o->at, or now */
	size_t sig_cap, att_cap;
	unsigned work;                          /* CMS structures verified so far */
	bool truncated;                         /* a limit was reached: some things were not checked */
	struct kerr *err;                       /* borrowed: internal errors only */
};

enum vpurpose {
	VP_MAIL,        /* S/MIME: emailProtection EKU, sender and time checks */
	VP_DOCUMENT,    /* a file: document-signing EKUs, no sender */
	VP_TIMESTAMP,   /* an RFC 3161 document timestamp: timeStamping EKU */
};

enum vcontent {
	VC_DETACHED,            /* the content is given (ranges); eContent must be absent */
	VC_ENCAPSULATED,        /* the content is the eContent (opaque, .p7m) */
	VC_DIGEST_SHA1,         /* adbe.pkcs7.sha1: eContent is SHA-1 of the ranges */
	VC_TSTINFO,             /* ETSI.RFC3161: eContent is a TSTInfo whose imprint is a hash of the ranges */
};

struct vrange {
	const unsigned char *p;         /* borrowed */
	size_t n;
};

struct vjob {
	const char *where;              /* borrowed: "message", "part 1.2", "attachment QD-12.pdf" */
	const char *file;               /* borrowed: the file's name, or NULL */
	enum smime_sig_kind kind;
	enum smime_coverage covers;
	enum vpurpose purpose;
	enum vcontent content;
	const unsigned char *der;       /* borrowed: the CMS (DER or BER) */
	size_t der_len;
	struct vrange ranges[2];        /* VC_DETACHED, VC_DIGEST_SHA1, VC_TSTINFO */
	size_t n_ranges;
	bool canon_lf;                  /* hash a bare LF as CRLF (MIME entities) */
	const char *sender;             /* VP_MAIL: the address the signer must own, or NULL */
	const char *sender_problem;     /* VP_MAIL: why there is no usable sender, or NULL */
	int64_t date;                   /* VP_MAIL: the Date header, 0 when absent */
	bool weak_ok;                   /* the sender is allowed SHA-1 / short RSA keys */
	int64_t fallback_time;          /* a signing time from elsewhere (PDF /M), or 0 */
	uint32_t extra_reasons;         /* reasons the caller found (e.g. PDF coverage) */
	const char *extra_detail;       /* and their words, or NULL */
};

struct vresult {
	enum smime_verdict verdict;     /* the worst over its signerInfos (VALID when all are) */
	uint32_t reasons;               /* union over its signerInfos */
	bool encrypted;                 /* enveloped or authEnveloped data: nothing verified */
	bool is_cms;                    /* it parsed as a CMS ContentInfo */
	const unsigned char *econtent;  /* VC_ENCAPSULATED: the signed content (borrowed from cms) */
	size_t econtent_len;
	CMS_ContentInfo *cms;           /* owned: keeps econtent alive; vresult_release() */
	size_t first_sig, n_sigs;       /* the entries it added to the report */
};
#define VRESULT_INIT { SMIME_VERDICT_MALFORMED, 0, false, false, NULL, 0, NULL, 0, 0 }

/* Verify one CMS as job says; appends its entries to v->r (at least one,
 * unless a limit was reached).  false only on internal errors. */
bool verify_cms(struct vctx *v, const struct vjob *job, struct vresult *res);
void vresult_release(struct vresult *res);

/* Peek at a CMS without parsing it (its first bytes): signed data,
 * enveloped data, another CMS type, or not a CMS at all. */
enum vcms_type { VCMS_NONE, VCMS_SIGNED, VCMS_ENVELOPED, VCMS_OTHER };
enum vcms_type verify_cms_type(const unsigned char *der, size_t len);

/* Turn a signature file's bytes into DER: PEM ("-----BEGIN PKCS7/CMS-----")
 * or bare base64 text is decoded into out and out is returned; DER is
 * returned as it is.  *len_r is updated. */
const unsigned char *verify_der_of(const unsigned char *data, size_t *len_r, struct buf *out);

/* A new entry in the report (NULL when VERIFY_MAX_SIGS is reached; then
 * v->truncated is set).  where and file are copied. */
struct smime_sig *verify_sig_add(struct vctx *v, const char *where, enum smime_sig_kind kind,
    enum smime_coverage covers, const char *file);
/* A new attachment entry (NULL when VERIFY_MAX_ATTACHMENTS is reached). */
struct smime_attachment *verify_att_add(struct vctx *v, const char *name, const char *content_type);

/* The verdict of a set of reasons on one signature (verify-text.c):
 * MALFORMED, INVALID, INDETERMINATE or VALID. */
enum smime_verdict verify_verdict_of(uint32_t reasons, enum smime_revocation_policy rp);
/* Reasons that are only warnings on a valid signature (revocation-unknown
 * under "prefer"). */
uint32_t verify_warnings(enum smime_revocation_policy rp);

/* Order of badness for combining verdicts: VALID < PARTIAL < UNSIGNED <
 * ENCRYPTED < INDETERMINATE < MALFORMED < INVALID. */
int verify_verdict_rank(enum smime_verdict v);
enum smime_verdict verify_verdict_worst(enum smime_verdict a, enum smime_verdict b);

/* Text made safe to show: invalid UTF-8 becomes U+FFFD, control and
 * bidirectional formatting characters become '?' (caller owns). */
char *verify_clean_text(const char *s, size_t n);

/* The PDF's signatures (verify-pdf.c): appends entries to v->r for each
 * signature and timestamp, and returns the document verdict (VALID,
 * PARTIAL, INVALID, INDETERMINATE, UNSIGNED or MALFORMED) and its reasons. */
enum smime_verdict verify_pdf(struct vctx *v, const char *where, const char *file,
    const unsigned char *data, size_t len, const char *sender, bool weak_ok, uint32_t *reasons_r);

/* Lower-case ASCII copy; is addr one of the weak-allowed senders? */
bool verify_weak_allowed(const struct smime_verify_opts *o, const char *addr);

/* Time helpers. */
int64_t verify_asn1_time(const ASN1_TIME *t);   /* 0 when unreadable */
void verify_hex(const unsigned char *p, size_t n, char *out);   /* out: 2n+1 */

#endif
