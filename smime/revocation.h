/*
 * revocation.h - is a certificate revoked?  (internal to smime/)
 *
 * Sources, in order: CRLs in the trust object's local store; the CRL from
 * the certificate's distribution point; OCSP from its authorityInfoAccess.
 * The network is reached only through the caller's struct smime_fetcher
 * (smime/ opens no socket).  CRLs and OCSP responses are verified (signature
 * by the issuer or an authorised responder, freshness, nonce where sent).
 * Results are cached in the trust object (thread-safe), until the CRL's or
 * response's nextUpdate (one hour when absent).
 */
#ifndef KYSO_SMIME_REVOCATION_H
#define KYSO_SMIME_REVOCATION_H

#include "smime/smime-private.h"

enum rev_status {
	REV_GOOD,
	REV_REVOKED,
	REV_UNKNOWN,                /* no source could say (none, unreachable, stale, bad) */
};

struct rev_result {
	enum rev_status status;
	int64_t revoked_at;         /* REV_REVOKED: revocationDate */
	int reason;                 /* REV_REVOKED: CRL reason code, -1 when absent */
	char source[300];           /* "crl:local", "crl:http://...", "ocsp:http://...", "none" */
	char detail[256];           /* one line for humans, e.g. why it is unknown */
};

/* Decide cert's status (issued by issuer) at time at, under o->revocation
 * (OFF: REV_UNKNOWN with source "off", no work done).  false only on
 * internal errors; an unreachable source is REV_UNKNOWN, not an error. */
bool smime_revocation_check(X509 *cert, X509 *issuer, const struct smime_verify_opts *o,
    int64_t at, struct rev_result *r, struct kerr *err);

#endif
