/*
 * revocation.c - CRL and OCSP checks of one certificate (see revocation.h,
 * docs/REVOCATION.md).
 *
 * Order matters, and is the one documented:
 *   1. CRLs in the trust store (no network);
 *   2. the certificate's CRL distribution points (http:// only, via the fetcher);
 *   3. OCSP at the authorityInfoAccess URLs (http:// only, via the fetcher).
 * The first source that says good or revoked decides.  Every other outcome
 * (absent, unreachable, malformed, badly signed, out of scope, stale) is a
 * note in the result's detail and the next source is tried; when none
 * decides, the answer is REV_UNKNOWN.  Nothing here turns an error into good.
 *
 * Time.  A source's thisUpdate/nextUpdate are compared with two clocks:
 * `now` (the real clock: is the data plausible, is it still current, how
 * long to cache it) and `at` (the time the caller asks about).  Evidence
 * about `at` is authoritative when either
 *   (a) it was made at or after `at` (thisUpdate >= at) and the certificate
 *       had not yet expired when it was made (CAs may drop expired
 *       certificates from CRLs and responders may forget them), unless the
 *       CRL's expiredCertsOnCRL or the response's archiveCutoff says it still
 *       keeps them; or
 *   (b) its validity window holds `at` (thisUpdate <= at <= nextUpdate, with
 *       SKEW seconds of tolerance; an absent nextUpdate counts as thisUpdate
 *       + 1 h).
 * For a current check (at = now), (b) is the usual "not stale" rule.
 * A listed certificate is revoked whatever the freshness (revocations are
 * final), except certificateHold, which only an authoritative source can say.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smime/revocation.h"

#define SKEW 300                /* seconds of clock difference tolerated */
#define DEFAULT_TTL 3600        /* no nextUpdate: good for thisUpdate + 1 h, cached 1 h */
#define MAX_TTL 86400           /* nothing is cached longer than a day */
#define FAIL_TTL 300            /* a failed source is not asked again for 5 minutes */
#define CACHE_MAX 4096          /* entries */
#define CACHE_MAX_CRLS 64       /* of which CRLs (they can be large) */
#define MAX_URLS 3              /* distribution points / OCSP URLs tried per certificate */

/* ------------------------------------------------------------------ */
/* Small helpers */

static int64_t
asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static const char *
fmt_time(int64_t t, char *b, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(b, n, "(none)");
	else
		strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return b;
}

/* The innermost OpenSSL error (with its data, e.g. a verify error) into b;
 * drains the queue.  "" when there was none. */
static const char *
openssl_reason(char *b, size_t n)
{
	unsigned long code, last = 0;
	const char *data = NULL, *last_data = NULL;
	int flags = 0;

	b[0] = '\0';
	while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		last = code;
		if (data != NULL && (flags & ERR_TXT_STRING) && data[0] != '\0')
			last_data = data;
	}
	if (last != 0) {
		const char *rs = ERR_reason_error_string(last);

		if (last_data != NULL)
			snprintf(b, n, "%s (%s)", rs != NULL ? rs : "error", last_data);
		else
			snprintf(b, n, "%s", rs != NULL ? rs : "error");
	}
	return b;
}

static void
appendf(char *dst, size_t n, const char *sep, const char *fmt, ...) KYSO_PRINTF(4, 5);

static void
appendf(char *dst, size_t n, const char *sep, const char *fmt, ...)
{
	size_t len = strlen(dst);
	va_list ap;

	if (len > 0 && len + 1 < n) {
		snprintf(dst + len, n - len, "%s", sep);
		len = strlen(dst);
	}
	if (len + 1 >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + len, n - len, fmt, ap);
	va_end(ap);
}

const char *
smime_rev_status_code(enum rev_status s)
{
	switch (s) {
	case REV_GOOD: return "good";
	case REV_REVOKED: return "revoked";
	case REV_UNKNOWN: return "unknown";
	}
	return "unknown";
}

const char *
smime_rev_reason_code(int reason)
{
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
		"superseded", "cessationOfOperation", "certificateHold", "unspecified",
		"removeFromCRL", "privilegeWithdrawn", "aACompromise",
	};

	if (reason < 0 || reason >= (int)(sizeof(names) / sizeof(names[0])))
		return "unspecified";
	return names[reason];
}

bool
smime_revocation_revoked_by(const struct rev_result *r, int64_t t)
{
	int64_t since;

	if (r == NULL || r->status != REV_REVOKED)
		return false;
	since = r->revoked_at;
	if (r->invalid_since != 0 && r->invalid_since < since)
		since = r->invalid_since;
	return since <= t;
}

/* ------------------------------------------------------------------ */
/* What a CRL or an OCSP response says about the certificate */

struct evidence {
	enum rev_status status;         /* GOOD: not listed / good; UNKNOWN: OCSP "unknown" */
	int64_t this_update;
	int64_t next_update;            /* 0: absent */
	int64_t revoked_at, invalid_since;
	int reason;
	int64_t kept_since;             /* expiredCertsOnCRL / archiveCutoff; 0: absent */
	bool no_nonce;                  /* OCSP: the response carried no nonce */
};

/* ------------------------------------------------------------------ */
/* The cache (one per trust object) */

enum centry_kind { CE_CRL, CE_OCSP, CE_FAIL };

struct centry {
	char *key;                      /* owned: "crl|URL", "ocsp|ISSUER|SERIAL|URL", "fail|..." */
	enum centry_kind kind;
	int64_t expires;                /* real time */
	uint64_t used;                  /* LRU clock */
	X509_CRL *crl;                  /* owned (CE_CRL); verified by the issuer below */
	unsigned char verified_by[32];  /* CE_CRL: SHA-256 of that issuer's certificate */
	struct evidence ev;             /* CE_OCSP */
	char *detail;                   /* owned: CE_FAIL why / CE_OCSP notes, or NULL */
};

struct rev_cache {
	pthread_mutex_t lock;
	struct centry *v;               /* owned */
	size_t n, cap;
	uint64_t clock;
};

struct rev_cache *
smime_rev_cache_new(void)
{
	struct rev_cache *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void
centry_clear(struct centry *e)
{
	free(e->key);
	X509_CRL_free(e->crl);
	free(e->detail);
	memset(e, 0, sizeof(*e));
}

void
smime_rev_cache_free(struct rev_cache **cp)
{
	struct rev_cache *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	for (size_t i = 0; i < c->n; i++)
		centry_clear(&c->v[i]);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}

/* Locked. */
static void
cache_remove_at(struct rev_cache *c, size_t i)
{
	centry_clear(&c->v[i]);
	c->v[i] = c->v[--c->n];
}

/* Copy the live entry for key into *out (caller clears it); false if none. */
static bool
cache_get(struct rev_cache *c, const char *key, int64_t now, struct centry *out)
{
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		struct centry *e = &c->v[i];

		if (strcmp(e->key, key) != 0)
			continue;
		if (e->expires <= now) {
			cache_remove_at(c, i);
			break;
		}
		e->used = ++c->clock;
		*out = *e;
		out->key = xstrdup(e->key);
		out->detail = e->detail != NULL ? xstrdup(e->detail) : NULL;
		if (e->crl != NULL)
			X509_CRL_up_ref(e->crl);
		found = true;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Store e (the cache takes ownership of its contents; *e is cleared). */
static void
cache_put(struct rev_cache *c, struct centry *e, int64_t now)
{
	size_t n_crls = 0;

	if (c == NULL) {
		centry_clear(e);
		return;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n;) {
		if (c->v[i].expires <= now || strcmp(c->v[i].key, e->key) == 0) {
			cache_remove_at(c, i);
			continue;
		}
		if (c->v[i].kind == CE_CRL)
			n_crls++;
		i++;
	}
	while (c->n > 0 && (c->n >= CACHE_MAX || (e->kind == CE_CRL && n_crls >= CACHE_MAX_CRLS))) {
		size_t lru = SIZE_MAX;

		for (size_t i = 0; i < c->n; i++) {
			if (e->kind == CE_CRL && c->n < CACHE_MAX && c->v[i].kind != CE_CRL)
				continue;
			if (lru == SIZE_MAX || c->v[i].used < c->v[lru].used)
				lru = i;
		}
		if (lru == SIZE_MAX)
			break;
		if (c->v[lru].kind == CE_CRL)
			n_crls--;
		cache_remove_at(c, lru);
	}
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	e->used = ++c->clock;
	c->v[c->n++] = *e;
	memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&c->lock);
}

/* How long to keep evidence with these update times. */
static int64_t
cache_expiry(int64_t next_update, int64_t now)
{
	if (next_update == 0)
		return now + DEFAULT_TTL;
	if (next_update <= now)
		return now + FAIL_TTL;          /* stale: still useful for the past, not for long */
	return next_update < now + MAX_TTL ? next_update : now + MAX_TTL;
}

static void
cache_fail(struct rev_cache *c, const char *key, const char *why, int64_t now)
{
	struct centry e = { .key = xstrdup(key), .kind = CE_FAIL, .expires = now + FAIL_TTL,
	                    .detail = xstrdup(why) };

	cache_put(c, &e, now);
}

/* ------------------------------------------------------------------ */
/* One check */

struct check {
	X509 *cert, *issuer;            /* borrowed */
	const struct smime_verify_opts *o;
	struct rev_cache *cache;        /* borrowed, may be NULL */
	const struct smime_fetcher *fetcher;    /* borrowed, NULL: no network */
	int64_t at, now;
	int64_t not_after;
	bool cert_is_ca;
	unsigned char issuer_sha256[32];
	char issuer_hex[65];
	char serial_hex[80];
	struct rev_result *r;
	char notes[512];                /* why earlier sources could not say */
	struct kerr *err;
	bool failed;                    /* an internal error: err is set */
};

static void
note(struct check *k, const char *fmt, ...) KYSO_PRINTF(2, 3);

static void
note(struct check *k, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	appendf(k->notes, sizeof(k->notes), "; ", "%s", line);
}

static void
tried(struct check *k, const char *src)
{
	appendf(k->r->source, sizeof(k->r->source), ",", "%s", src);
}

/* Is e authoritative for k->at?  false with why when not. */
static bool
covers(const struct check *k, const struct evidence *e, char *why, size_t n)
{
	int64_t next = e->next_update != 0 ? e->next_update : e->this_update + DEFAULT_TTL;
	char t1[32], t2[32];

	if (e->this_update > k->now + SKEW) {
		snprintf(why, n, "was made in the future (thisUpdate %s)", fmt_time(e->this_update, t1, sizeof(t1)));
		return false;
	}
	if (k->at <= e->this_update) {
		/* (a) made after the time asked about */
		if (k->not_after < e->this_update - SKEW &&
		    (e->kept_since == 0 || k->not_after < e->kept_since)) {
			snprintf(why, n, "was made %s, after the certificate expired (%s): expired "
			    "certificates may no longer be listed", fmt_time(e->this_update, t1, sizeof(t1)),
			    fmt_time(k->not_after, t2, sizeof(t2)));
			return false;
		}
		return true;
	}
	/* (b) its window holds the time asked about */
	if (k->at > next + SKEW) {
		snprintf(why, n, "is stale: its next update was due %s%s", fmt_time(next, t1, sizeof(t1)),
		    e->next_update == 0 ? " (none given: thisUpdate + 1 h)" : "");
		return false;
	}
	return true;
}

/* Decide from e (from src); true when it decides (r filled). */
static bool
decide(struct check *k, const struct evidence *e, const char *src, const char *what, bool cached)
{
	struct rev_result *r = k->r;
	char why[256], t1[32], t2[32];
	bool ok = covers(k, e, why, sizeof(why));

	if (e->status == REV_UNKNOWN) {
		note(k, "%s: the responder does not know the certificate", src);
		return false;
	}
	if (e->status == REV_REVOKED && e->reason == REV_REASON_CERTIFICATE_HOLD && !ok) {
		note(k, "%s: on hold, but %s %s", src, what, why);
		return false;
	}
	if (e->status == REV_GOOD && !ok) {
		note(k, "%s: %s %s", src, what, why);
		return false;
	}
	r->status = e->status;
	r->this_update = e->this_update;
	r->next_update = e->next_update;
	r->cached = cached;
	snprintf(r->source, sizeof(r->source), "%s", src);
	r->detail[0] = '\0';
	if (e->status == REV_REVOKED) {
		r->revoked_at = e->revoked_at;
		r->invalid_since = e->invalid_since;
		r->reason = e->reason;
		appendf(r->detail, sizeof(r->detail), "", "revoked %s, reason %s, per %s of %s",
		    fmt_time(e->revoked_at, t1, sizeof(t1)), smime_rev_reason_code(e->reason), what,
		    fmt_time(e->this_update, t2, sizeof(t2)));
		if (e->invalid_since != 0)
			appendf(r->detail, sizeof(r->detail), "", "; key invalid since %s",
			    fmt_time(e->invalid_since, t1, sizeof(t1)));
		if (e->revoked_at > k->at && (e->invalid_since == 0 || e->invalid_since > k->at))
			appendf(r->detail, sizeof(r->detail), "", "; after the time checked (%s)",
			    fmt_time(k->at, t1, sizeof(t1)));
	} else {
		appendf(r->detail, sizeof(r->detail), "", "%s per %s of %s (next update %s)",
		    strcmp(what, "the CRL") == 0 ? "not listed" : "good", what, fmt_time(e->this_update, t1, sizeof(t1)),
		    fmt_time(e->next_update, t2, sizeof(t2)));
	}
	if (e->no_nonce)
		appendf(r->detail, sizeof(r->detail), "", "; the response carried no nonce");
	if (cached)
		appendf(r->detail, sizeof(r->detail), "", "; cached");
	if (k->notes[0] != '\0')
		appendf(r->detail, sizeof(r->detail), "", "; before that: %s", k->notes);
	return true;
}

/* ------------------------------------------------------------------ */
/* CRLs */

static bool
names_overlap(const GENERAL_NAMES *a, const GENERAL_NAMES *b)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(a); i++)
		for (int j = 0; j < sk_GENERAL_NAME_num(b); j++)
			if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(a, i), sk_GENERAL_NAME_value(b, j)) == 0)
				return true;
	return false;
}

/* Does the CRL's issuingDistributionPoint (if any) cover the certificate? */
static bool
crl_scope_ok(const struct check *k, X509_CRL *crl, char *why, size_t n)
{
	int crit = -1;
	ISSUING_DIST_POINT *idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	bool ok = false;

	if (idp == NULL) {
		if (crit == -1)
			return true;
		snprintf(why, n, "unreadable issuingDistributionPoint");
		return false;
	}
	if (idp->indirectCRL > 0)
		snprintf(why, n, "an indirect CRL (not supported)");
	else if (idp->onlysomereasons != NULL)
		snprintf(why, n, "a CRL for some reasons only (not supported)");
	else if (idp->onlyattr > 0)
		snprintf(why, n, "a CRL of attribute certificates");
	else if (idp->onlyCA > 0 && !k->cert_is_ca)
		snprintf(why, n, "a CRL of CA certificates only");
	else if (idp->onlyuser > 0 && k->cert_is_ca)
		snprintf(why, n, "a CRL of end-entity certificates only");
	else if (idp->distpoint != NULL && idp->distpoint->type != 0)
		snprintf(why, n, "a distribution point given by relative name (not supported)");
	else if (idp->distpoint != NULL) {
		STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(k->cert, NID_crl_distribution_points, NULL, NULL);

		for (int i = 0; i < sk_DIST_POINT_num(dps) && !ok; i++) {
			DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

			ok = dp->distpoint != NULL && dp->distpoint->type == 0 &&
			    names_overlap(dp->distpoint->name.fullname, idp->distpoint->name.fullname);
		}
		sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
		if (!ok)
			snprintf(why, n, "a partitioned CRL whose distribution point is not the certificate's");
	} else
		ok = true;
	ISSUING_DIST_POINT_free(idp);
	return ok;
}

/* Is crl the issuer's, signed with its key?  false with why when not. */
static bool
crl_signed_by_issuer(const struct check *k, X509_CRL *crl, char *why, size_t n)
{
	EVP_PKEY *key = X509_get0_pubkey(k->issuer);

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(k->issuer)) != 0) {
		snprintf(why, n, "issued by another CA");
		return false;
	}
	if ((X509_get_key_usage(k->issuer) & KU_CRL_SIGN) == 0) {
		snprintf(why, n, "the issuer's key usage does not allow signing CRLs");
		return false;
	}
	if (key == NULL || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		snprintf(why, n, "signature does not verify with the issuer's key");
		return false;
	}
	return true;
}

/* Read the CRL's facts about the certificate into e.  verified: its
 * signature by the issuer was already checked.  false (why) when the CRL
 * cannot be used for this certificate. */
static bool
crl_evidence(const struct check *k, X509_CRL *crl, bool verified, struct evidence *e, char *why,
    size_t n)
{
	X509_REVOKED *rev = NULL;
	ASN1_OBJECT *eco = NULL;
	int idx, found;
	char oid[80];

	memset(e, 0, sizeof(*e));
	e->reason = -1;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(k->issuer)) != 0) {
		snprintf(why, n, "issued by another CA");
		return false;
	}
	if (!verified && !crl_signed_by_issuer(k, crl, why, n))
		return false;
	for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
		X509_EXTENSION *ex = X509_CRL_get_ext(crl, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));

		if (nid == NID_delta_crl) {
			snprintf(why, n, "a delta CRL (not supported)");
			return false;
		}
		if (X509_EXTENSION_get_critical(ex) && nid != NID_issuing_distribution_point) {
			OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ex), 1);
			snprintf(why, n, "unsupported critical extension %s", oid);
			return false;
		}
	}
	if (!crl_scope_ok(k, crl, why, n))
		return false;
	e->this_update = asn1_unix(X509_CRL_get0_lastUpdate(crl));
	e->next_update = asn1_unix(X509_CRL_get0_nextUpdate(crl));
	if (e->this_update == 0) {
		snprintf(why, n, "unreadable thisUpdate");
		return false;
	}
	/* expiredCertsOnCRL (2.5.29.60): certificates expired since then are kept */
	eco = OBJ_txt2obj("2.5.29.60", 1);
	idx = eco != NULL ? X509_CRL_get_ext_by_OBJ(crl, eco, -1) : -1;
	ASN1_OBJECT_free(eco);
	if (idx >= 0) {
		ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_CRL_get_ext(crl, idx));
		const unsigned char *p = ASN1_STRING_get0_data(v);
		ASN1_GENERALIZEDTIME *g = d2i_ASN1_GENERALIZEDTIME(NULL, &p, ASN1_STRING_length(v));

		e->kept_since = asn1_unix(g);
		ASN1_GENERALIZEDTIME_free(g);
	}
	found = X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(k->cert));
	if (found == 0 || rev == NULL) {
		e->status = REV_GOOD;
		return true;
	}
	if (found == 2) {
		snprintf(why, n, "a removeFromCRL entry (delta CRLs are not supported)");
		return false;
	}
	for (int i = 0; i < X509_REVOKED_get_ext_count(rev); i++) {
		X509_EXTENSION *ex = X509_REVOKED_get_ext(rev, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));

		if (X509_EXTENSION_get_critical(ex) && nid != NID_crl_reason && nid != NID_invalidity_date &&
		    nid != NID_hold_instruction_code) {
			OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ex), 1);
			snprintf(why, n, "the certificate's entry has an unsupported critical extension %s", oid);
			return false;
		}
	}
	e->status = REV_REVOKED;
	e->revoked_at = asn1_unix(X509_REVOKED_get0_revocationDate(rev));
	{
		int crit = -1;
		ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
		ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(rev, NID_invalidity_date, &crit, NULL);

		if (reason != NULL)
			e->reason = (int)ASN1_ENUMERATED_get(reason);
		if (inv != NULL)
			e->invalid_since = asn1_unix(inv);
		ASN1_ENUMERATED_free(reason);
		ASN1_GENERALIZEDTIME_free(inv);
	}
	if (e->revoked_at == 0) {
		snprintf(why, n, "unreadable revocation date");
		return false;
	}
	return true;
}

/* Decide from several CRLs of the issuer (the local store).  A revocation
 * (not a hold) in any valid CRL wins; otherwise the newest authoritative CRL. */
static bool
decide_crls(struct check *k, STACK_OF(X509_CRL) *crls, const char *src)
{
	struct evidence *ev = xcalloc((size_t)sk_X509_CRL_num(crls) + 1, sizeof(*ev));
	bool *usable = xcalloc((size_t)sk_X509_CRL_num(crls) + 1, sizeof(*usable));
	int n = sk_X509_CRL_num(crls), notes = 0;
	bool decided = false;
	char why[200], t1[32];

	for (int i = 0; i < n; i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);

		usable[i] = crl_evidence(k, crl, false, &ev[i], why, sizeof(why));
		if (!usable[i] && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(k->issuer)) == 0 &&
		    notes++ < 3)
			note(k, "%s: CRL of %s ignored: %s", src,
			    fmt_time(asn1_unix(X509_CRL_get0_lastUpdate(crl)), t1, sizeof(t1)), why);
	}
	for (int i = 0; i < n && !decided; i++)
		if (usable[i] && ev[i].status == REV_REVOKED && ev[i].reason != REV_REASON_CERTIFICATE_HOLD)
			decided = decide(k, &ev[i], src, "the CRL", false);
	while (!decided) {
		int best = -1;

		for (int i = 0; i < n; i++)
			if (usable[i] && (best < 0 || ev[i].this_update > ev[best].this_update))
				best = i;
		if (best < 0)
			break;
		decided = decide(k, &ev[best], src, "the CRL", false);
		usable[best] = false;
	}
	free(usable);
	free(ev);
	return decided;
}

static bool
check_local_crls(struct check *k)
{
	const struct smime_trust *t = k->o->trust;
	X509_STORE_CTX *ctx;
	STACK_OF(X509_CRL) *crls = NULL;
	bool decided = false;

	if (!t->have_crls)
		return false;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, t->store, NULL, NULL)) {
		X509_STORE_CTX_free(ctx);
		smime_err_openssl(k->err, KERR_INTERNAL, "revocation: X509_STORE_CTX");
		k->failed = true;
		return false;
	}
	crls = X509_STORE_CTX_get1_crls(ctx, X509_get_issuer_name(k->cert));
	ERR_clear_error();
	if (sk_X509_CRL_num(crls) > 0) {
		tried(k, "crl:local");
		decided = decide_crls(k, crls, "crl:local");
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_STORE_CTX_free(ctx);
	return decided;
}

static X509_CRL *
parse_crl(const struct buf *b)
{
	const unsigned char *p = (const unsigned char *)b->data;
	X509_CRL *crl = NULL;

	if (b->len >= 10 && memmem(b->data, b->len < 1024 ? b->len : 1024, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(b->data, (int)b->len);

		if (bio != NULL)
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else if (b->len > 0 && b->len < (size_t)INT32_MAX) {
		crl = d2i_X509_CRL(NULL, &p, (long)b->len);
		if (crl != NULL && p != (const unsigned char *)b->data + b->len) {
			X509_CRL_free(crl);     /* trailing bytes */
			crl = NULL;
		}
	}
	ERR_clear_error();
	return crl;
}

static bool
fetch(struct check *k, const char *url, const char *ctype, const void *body, size_t body_len,
    size_t max, struct buf *out, struct kerr *ferr)
{
	const struct smime_fetcher *f = k->fetcher;

	buf_reset(out);
	if (!f->fetch(f->ctx, url, ctype, body, body_len, max, out, ferr)) {
		if (!kerr_isset(ferr))
			kerr_set(ferr, KERR_TEMP, "fetch failed");
		return false;
	}
	if (out->len > max) {
		kerr_set(ferr, KERR_PERM, "more than %zu bytes", max);
		return false;
	}
	return true;
}

/* One distribution point URL; true when its CRL decides. */
static bool
check_crl_url(struct check *k, const char *url)
{
	char src[300], key[320], why[400];
	struct centry ce;
	struct buf body = BUF_INIT;
	struct kerr ferr = KERR_INIT;
	X509_CRL *crl = NULL;
	struct evidence ev;
	bool decided = false, cached = false, verified = false;

	snprintf(src, sizeof(src), "crl:%s", url);
	snprintf(key, sizeof(key), "crl|%s", url);
	tried(k, src);
	if (cache_get(k->cache, key, k->now, &ce)) {
		if (ce.kind == CE_FAIL) {
			note(k, "%s: %s (cached)", src, ce.detail != NULL ? ce.detail : "failed");
			centry_clear(&ce);
			return false;
		}
		crl = ce.crl;
		ce.crl = NULL;
		verified = memcmp(ce.verified_by, k->issuer_sha256, 32) == 0;
		cached = true;
		centry_clear(&ce);
	} else {
		if (!fetch(k, url, NULL, NULL, 0, REV_CRL_MAX, &body, &ferr)) {
			snprintf(why, sizeof(why), "fetch failed: %s", ferr.msg);
			note(k, "%s: %s", src, why);
			cache_fail(k->cache, key, why, k->now);
			goto out;
		}
		crl = parse_crl(&body);
		if (crl == NULL) {
			note(k, "%s: not a CRL (DER or PEM)", src);
			cache_fail(k->cache, key, "not a CRL (DER or PEM)", k->now);
			goto out;
		}
		/* only a CRL the issuer signed is kept: a forged one must not
		 * sit in the cache until the nextUpdate it claims */
		if (!crl_signed_by_issuer(k, crl, why, sizeof(why))) {
			char what[450];

			snprintf(what, sizeof(what), "CRL ignored: %s", why);
			note(k, "%s: %s", src, what);
			cache_fail(k->cache, key, what, k->now);
			goto out;
		}
		verified = true;
		{
			struct centry ne = { .key = xstrdup(key), .kind = CE_CRL,
			                     .expires = cache_expiry(asn1_unix(X509_CRL_get0_nextUpdate(crl)), k->now),
			                     .crl = crl };

			X509_CRL_up_ref(crl);
			memcpy(ne.verified_by, k->issuer_sha256, 32);
			cache_put(k->cache, &ne, k->now);
		}
	}
	if (!crl_evidence(k, crl, verified, &ev, why, sizeof(why))) {
		note(k, "%s: CRL ignored: %s", src, why);
		goto out;
	}
	decided = decide(k, &ev, src, "the CRL", cached);
out:
	X509_CRL_free(crl);
	buf_release(&body);
	return decided;
}

static bool
is_http(const char *s, size_t len)
{
	return len > 7 && strncasecmp(s, "http://", 7) == 0 && memchr(s, '\0', len) == NULL;
}

static bool
check_distribution_points(struct check *k)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(k->cert, NID_crl_distribution_points, NULL, NULL);
	bool decided = false;
	int urls = 0;

	for (int i = 0; i < sk_DIST_POINT_num(dps) && !decided && !k->failed; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		GENERAL_NAMES *names;

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		if (dp->reasons != NULL || dp->CRLissuer != NULL) {
			note(k, "crl: a distribution point with reasons or a CRL issuer (not supported)");
			continue;
		}
		names = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(names) && !decided; j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
			const char *s;
			int len;
			char *url;

			if (gn->type != GEN_URI)
				continue;
			s = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
			if (!is_http(s, (size_t)len)) {
				note(k, "crl: %.*s not fetched (only http:// is supported)", len > 60 ? 60 : len, s);
				continue;
			}
			if (k->fetcher == NULL) {
				note(k, "crl: no network access given: distribution point not fetched");
				goto out;
			}
			if (urls++ >= MAX_URLS)
				goto out;
			url = xstrndup(s, (size_t)len);
			decided = check_crl_url(k, url);
			free(url);
		}
	}
out:
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return decided;
}

/* ------------------------------------------------------------------ */
/* OCSP */

static void
ocsp_certs(const struct check *k, STACK_OF(X509) **sk)
{
	*sk = sk_X509_new_null();
	if (*sk == NULL)
		return;
	sk_X509_push(*sk, k->issuer);
	for (int i = 0; i < sk_X509_num(k->o->trust->intermediates); i++)
		sk_X509_push(*sk, sk_X509_value(k->o->trust->intermediates, i));
}

/* Ask url about the certificate; fill e.  false with why when there is no
 * usable answer (k->failed too on internal errors). */
static bool
ocsp_ask(struct check *k, const char *url, struct evidence *e, char *why, size_t n)
{
	OCSP_CERTID *id = NULL;
	OCSP_REQUEST *req = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	STACK_OF(X509) *certs = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	struct buf body = BUF_INIT;
	struct kerr ferr = KERR_INIT;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	char reason[200];
	int len, status, rsn = -1, idx, nonce;
	bool ok = false;

	memset(e, 0, sizeof(*e));
	e->reason = -1;
	id = OCSP_cert_to_id(NULL, k->cert, k->issuer);
	req = OCSP_REQUEST_new();
	if (id == NULL || req == NULL || OCSP_request_add0_id(req, OCSP_CERTID_dup(id)) == NULL ||
	    !OCSP_request_add1_nonce(req, NULL, -1) || (len = i2d_OCSP_REQUEST(req, &der)) <= 0) {
		smime_err_openssl(k->err, KERR_INTERNAL, "revocation: building an OCSP request");
		k->failed = true;
		snprintf(why, n, "internal error");
		goto out;
	}
	if (!fetch(k, url, "application/ocsp-request", der, (size_t)len, REV_OCSP_MAX, &body, &ferr)) {
		snprintf(why, n, "fetch failed: %s", ferr.msg);
		goto out;
	}
	p = (const unsigned char *)body.data;
	resp = body.len < (size_t)INT32_MAX ? d2i_OCSP_RESPONSE(NULL, &p, (long)body.len) : NULL;
	if (resp == NULL) {
		ERR_clear_error();
		snprintf(why, n, "not an OCSP response");
		goto out;
	}
	status = OCSP_response_status(resp);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(why, n, "the responder answered %s", OCSP_response_status_str(status));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs == NULL) {
		ERR_clear_error();
		snprintf(why, n, "not a basic OCSP response");
		goto out;
	}
	nonce = OCSP_check_nonce(req, bs);
	if (nonce <= 0 && nonce != -1) {
		snprintf(why, n, "the response's nonce is not ours (replayed or for another request)");
		goto out;
	}
	e->no_nonce = nonce == -1;
	ocsp_certs(k, &certs);
	if (certs == NULL || OCSP_basic_verify(bs, certs, k->o->trust->store, OCSP_NOEXPLICIT) <= 0) {
		openssl_reason(reason, sizeof(reason));
		snprintf(why, n, "the response does not verify: %s",
		    reason[0] != '\0' ? reason : "the responder is not authorised by the issuer");
		goto out;
	}
	idx = OCSP_resp_find(bs, id, -1);
	if (idx < 0) {
		snprintf(why, n, "the response is not about this certificate (another serial or issuer)");
		goto out;
	}
	status = OCSP_single_get0_status(OCSP_resp_get0(bs, idx), &rsn, &rev, &thisupd, &nextupd);
	if (status < 0 || thisupd == NULL) {
		snprintf(why, n, "unreadable single response");
		goto out;
	}
	if (!OCSP_check_validity(thisupd, nextupd, SKEW, -1)) {
		char t1[32], t2[32];

		ERR_clear_error();
		snprintf(why, n, "the response is not current (thisUpdate %s, nextUpdate %s)",
		    fmt_time(asn1_unix(thisupd), t1, sizeof(t1)), fmt_time(asn1_unix(nextupd), t2, sizeof(t2)));
		goto out;
	}
	e->this_update = asn1_unix(thisupd);
	e->next_update = asn1_unix(nextupd);
	{
		OCSP_SINGLERESP *single = OCSP_resp_get0(bs, idx);
		ASN1_GENERALIZEDTIME *cutoff = OCSP_SINGLERESP_get1_ext_d2i(single,
		    NID_id_pkix_OCSP_archiveCutoff, NULL, NULL);
		ASN1_GENERALIZEDTIME *inv = OCSP_SINGLERESP_get1_ext_d2i(single, NID_invalidity_date,
		    NULL, NULL);

		e->kept_since = asn1_unix(cutoff);
		e->invalid_since = asn1_unix(inv);
		ASN1_GENERALIZEDTIME_free(cutoff);
		ASN1_GENERALIZEDTIME_free(inv);
	}
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		e->status = REV_GOOD;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		e->status = REV_REVOKED;
		e->revoked_at = asn1_unix(rev);
		e->reason = rsn;
		if (e->revoked_at == 0) {
			snprintf(why, n, "unreadable revocation time");
			goto out;
		}
		break;
	default:
		e->status = REV_UNKNOWN;
		e->invalid_since = 0;
		break;
	}
	ok = true;
out:
	ERR_clear_error();
	sk_X509_free(certs);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	buf_release(&body);
	return ok;
}

static bool
check_ocsp_url(struct check *k, const char *url)
{
	char src[300], key[420], failkey[320], why[300];
	struct centry ce;
	struct evidence ev;

	snprintf(src, sizeof(src), "ocsp:%s", url);
	snprintf(key, sizeof(key), "ocsp|%s|%s|%s", k->issuer_hex, k->serial_hex, url);
	snprintf(failkey, sizeof(failkey), "fail|ocsp|%s", url);
	tried(k, src);
	if (cache_get(k->cache, key, k->now, &ce) || cache_get(k->cache, failkey, k->now, &ce)) {
		bool decided = false;

		if (ce.kind == CE_OCSP)
			decided = decide(k, &ce.ev, src, "the OCSP response", true);
		else
			note(k, "%s: %s (cached)", src, ce.detail != NULL ? ce.detail : "failed");
		centry_clear(&ce);
		return decided;
	}
	if (!ocsp_ask(k, url, &ev, why, sizeof(why))) {
		if (k->failed)
			return false;
		note(k, "%s: %s", src, why);
		/* a responder that cannot be reached fails for every certificate */
		cache_fail(k->cache, strncmp(why, "fetch failed", 12) == 0 ? failkey : key, why, k->now);
		return false;
	}
	{
		struct centry ne = { .key = xstrdup(key), .kind = CE_OCSP,
		                     .expires = cache_expiry(ev.next_update, k->now), .ev = ev };

		if (ev.status == REV_UNKNOWN && ne.expires > k->now + FAIL_TTL)
			ne.expires = k->now + FAIL_TTL;
		cache_put(k->cache, &ne, k->now);
	}
	return decide(k, &ev, src, "the OCSP response", false);
}

static bool
check_ocsp(struct check *k)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(k->cert);
	bool decided = false;
	int tries = 0;

	for (int i = 0; i < sk_OPENSSL_STRING_num(urls) && !decided && !k->failed; i++) {
		const char *url = sk_OPENSSL_STRING_value(urls, i);

		if (!is_http(url, strlen(url))) {
			note(k, "ocsp: %.60s not asked (only http:// is supported)", url);
			continue;
		}
		if (k->fetcher == NULL) {
			note(k, "ocsp: no network access given: responder not asked");
			break;
		}
		if (tries++ >= MAX_URLS)
			break;
		decided = check_ocsp_url(k, url);
	}
	X509_email_free(urls);
	return decided;
}

/* ------------------------------------------------------------------ */

bool
smime_revocation_check(X509 *cert, X509 *issuer, const struct smime_verify_opts *o, int64_t at,
    struct rev_result *r, struct kerr *err)
{
	struct check *k;
	unsigned int mdlen = 0;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	r->status = REV_UNKNOWN;
	r->reason = -1;
	if (o != NULL && o->revocation == SMIME_REVOCATION_OFF) {
		snprintf(r->source, sizeof(r->source), "off");
		snprintf(r->detail, sizeof(r->detail), "revocation is not checked (policy off)");
		return true;
	}
	if (o == NULL || o->trust == NULL || cert == NULL || issuer == NULL) {
		kerr_set(err, KERR_INTERNAL, "revocation check without a certificate, issuer or trust");
		return false;
	}
	if (X509_NAME_cmp(X509_get_subject_name(issuer), X509_get_issuer_name(cert)) != 0) {
		kerr_set(err, KERR_INTERNAL, "revocation check: the issuer given is not the certificate's issuer");
		return false;
	}
	if (X509_cmp(cert, issuer) == 0) {
		snprintf(r->source, sizeof(r->source), "none");
		snprintf(r->detail, sizeof(r->detail), "a self-signed certificate: nothing can revoke it");
		return true;
	}

	k = xcalloc(1, sizeof(*k));
	k->cert = cert;
	k->issuer = issuer;
	k->o = o;
	k->cache = o->trust->rev_cache;
	k->fetcher = o->fetcher != NULL && o->fetcher->fetch != NULL ? o->fetcher : NULL;
	k->now = (int64_t)time(NULL);
	/* Nothing can speak for the future: a later time (a signer's clock
	 * seven hours ahead) is asked about as now. */
	k->at = at > 0 && at < k->now ? at : k->now;
	k->not_after = asn1_unix(X509_get0_notAfter(cert));
	k->cert_is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
	k->r = r;
	k->err = err;
	if (!X509_digest(issuer, EVP_sha256(), k->issuer_sha256, &mdlen) || mdlen != 32) {
		smime_err_openssl(err, KERR_INTERNAL, "revocation: issuer digest");
		ok = false;
		goto out;
	}
	for (int i = 0; i < 32; i++)
		snprintf(k->issuer_hex + 2 * i, 3, "%02x", k->issuer_sha256[i]);
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
		char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

		snprintf(k->serial_hex, sizeof(k->serial_hex), "%s", hex != NULL ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
	}

	if (check_local_crls(k) || k->failed)
		goto out;
	if (check_distribution_points(k) || k->failed)
		goto out;
	if (check_ocsp(k) || k->failed)
		goto out;
	/* nobody could say */
	r->status = REV_UNKNOWN;
	if (r->source[0] == '\0')
		snprintf(r->source, sizeof(r->source), "none");
	snprintf(r->detail, sizeof(r->detail), "%s",
	    k->notes[0] != '\0' ? k->notes : "no CRL or OCSP responder for this certificate");
out:
	if (k->failed)
		ok = false;
	if (!ok) {
		r->status = REV_UNKNOWN;
		snprintf(r->detail, sizeof(r->detail), "internal error: %s", err->msg);
	}
	free(k);
	ERR_clear_error();
	return ok;
}
