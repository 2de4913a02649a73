/*
 * revocation.h - is a certificate revoked?  (internal to smime/)
 *
 * Sources, in order: CRLs in the trust object's local store; the CRL from
 * the certificate's distribution point; OCSP from its authorityInfoAccess.
 * The first source that gives an answer (good or revoked) decides; a source
 * that cannot (absent, unreachable, stale, badly signed) is noted in detail
 * and the next one is tried.  The network is reached only through the
 * caller's struct smime_fetcher (smime/ opens no socket).  CRLs and OCSP
 * responses are verified (signature by the issuer or an authorised
 * responder, scope, freshness, nonce where sent).  Fetched CRLs, OCSP
 * answers and fetch failures are cached in the trust object (thread-safe,
 * bounded), until the CRL's or response's nextUpdate (one hour when absent;
 * at most a day; failures five minutes).  docs/REVOCATION.md has the rules.
 *
 *   struct rev_result r;
 *   if (!smime_revocation_check(cert, issuer, opts, signing_time, &r, &err))
 *           ...internal error...
 *   if (smime_revocation_revoked_by(&r, signing_time)) ...revoked when it signed...
 *
 * The time `at`: for REV_GOOD, the source is authoritative for `at` (see
 * docs/REVOCATION.md: a CRL or response issued after `at` counts for an
 * archived message even when it is no longer current).  REV_REVOKED is
 * returned whenever a valid source lists the certificate, with its
 * revocationDate in revoked_at, even when that is after `at`: whether a
 * signature made before the revocation still stands depends on how far the
 * signing time can be trusted, which only the verifier knows.
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
	int64_t revoked_at;         /* REV_REVOKED: revocationDate (Unix time) */
	int64_t invalid_since;      /* REV_REVOKED: invalidityDate (key compromised since), 0 when absent */
	int reason;                 /* REV_REVOKED: CRL reason code (RFC 5280 5.3.1), -1 when absent */
	int64_t this_update;        /* GOOD/REVOKED: when the deciding CRL or response was made */
	int64_t next_update;        /* GOOD/REVOKED: its nextUpdate, 0 when absent */
	bool cached;                /* GOOD/REVOKED: answered from the trust object's cache */
	char source[300];           /* "crl:local", "crl:http://...", "ocsp:http://...";
	                               REV_UNKNOWN: "none" when no source exists, else the
	                               sources tried, comma-separated; "off" under policy OFF */
	char detail[512];           /* one line for humans, e.g. why it is unknown */
};

/* CRL reason codes (RFC 5280 5.3.1). */
#define REV_REASON_KEY_COMPROMISE 1
#define REV_REASON_CA_COMPROMISE 2
#define REV_REASON_CERTIFICATE_HOLD 6

/* Size caps for fetched data. */
#define REV_CRL_MAX ((size_t)32 << 20)
#define REV_OCSP_MAX ((size_t)256 << 10)

/* Decide cert's status (issued by issuer) at time at (0, or a time after
 * now: now), under
 * o->revocation (OFF: REV_UNKNOWN with source "off", no work done).  o->trust
 * gives the local CRLs, the anchors (for OCSP responder chains) and the
 * cache; o->fetcher, when not NULL, reaches distribution points and OCSP.
 * false only on internal errors (KERR_INTERNAL: issuer is not cert's issuer,
 * out of memory in OpenSSL); an unreachable or bad source is REV_UNKNOWN,
 * never REV_GOOD.  All arguments are borrowed for the call. */
bool smime_revocation_check(X509 *cert, X509 *issuer, const struct smime_verify_opts *o,
    int64_t at, struct rev_result *r, struct kerr *err);

/* true when r says REV_REVOKED and the revocation (or the invalidityDate,
 * when earlier) is at or before t.  The verifier's rule of thumb: with t
 * the signing time, true means "revoked when it signed".  A certificate
 * revoked after t is still reported by the verifier as revoked unless t is
 * a time it can trust (see docs/REVOCATION.md). */
bool smime_revocation_revoked_by(const struct rev_result *r, int64_t t);

/* "good", "revoked", "unknown". */
const char *smime_rev_status_code(enum rev_status s);
/* "keyCompromise", ... or "unspecified" (-1 or unknown codes). */
const char *smime_rev_reason_code(int reason);

/* The cache held by struct smime_trust (smime/trust.c makes and frees it). */
struct rev_cache *smime_rev_cache_new(void);                  /* caller owns */
void smime_rev_cache_free(struct rev_cache **cp);

#endif
