/*
 * Unit tests of smime/revocation.c: local CRLs, CRL distribution points
 * served by an in-process HTTP server (tests/unit/httpd.c), and OCSP asked of
 * a real `openssl ocsp` responder on loopback, through the real fetcher
 * (agent/fetch.c) wrapped in one that counts calls and can tamper with
 * requests and responses.
 *
 * The PKI is made once per run by tests/pki/mkpki with free ports baked into
 * the leaves' URLs, so parallel runs do not collide.  Special CRLs (stale,
 * wrong key, on hold, delta...) are made here with OpenSSL.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agent/fetch.h"
#include "smime/revocation.h"
#include "tests/unit/httpd.h"
#include "tests/unit/testmain.h"

/* ------------------------------------------------------------------ */
/* The PKI (made once, in the parent, before the tests fork) */

static char topdir[] = "/tmp/kyso-rev-XXXXXX";
static char *pkidir;
static uint16_t http_port, ocsp_port;
static char **env_keys, **env_vals;
static size_t env_n;

static const char *
openssl_cli(void)
{
	const char *s = getenv("OPENSSL_CLI");

	return s != NULL && *s != '\0' ? s : "openssl";
}

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
run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		abort();
	}
}

static void
pki_setup(void)
{
	char *cmd, *path, line[4096];
	FILE *fp;

	if (mkdtemp(topdir) == NULL)
		abort();
	http_port = httpd_free_port();
	do
		ocsp_port = httpd_free_port();
	while (ocsp_port == http_port);
	pkidir = xasprintf("%s/pki", topdir);
	cmd = xasprintf("KYSO_PKI_HTTP_PORT=%u KYSO_PKI_OCSP_PORT=%u OPENSSL_CLI=%s %s/tests/pki/mkpki %s "
	    ">%s/mkpki.log 2>&1", (unsigned)http_port, (unsigned)ocsp_port, openssl_cli(), kyso_srcdir(),
	    pkidir, topdir);
	run(cmd);
	free(cmd);
	path = xasprintf("%s/pki.env", pkidir);
	fp = fopen(path, "r");
	if (fp == NULL)
		abort();
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *eq = strchr(line, '=');

		if (line[0] == '#' || eq == NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*eq = '\0';
		env_keys = xreallocarray(env_keys, env_n + 1, sizeof(*env_keys));
		env_vals = xreallocarray(env_vals, env_n + 1, sizeof(*env_vals));
		env_keys[env_n] = xstrdup(line);
		env_vals[env_n++] = xstrdup(eq + 1);
	}
	fclose(fp);
	free(path);
	/* Two OCSP responder certificates: one delegated by sub-gov, one by
	 * the other hierarchy (authorised for nothing here); and an index
	 * without ngan (the responder will not know it). */
	cmd = xasprintf(
	    "set -e; cd %s; O=%s\n"
	    "printf '[ext]\\nbasicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
	    "extendedKeyUsage=OCSPSigning\\n' >resp.cnf\n"
	    "for r in deleg:sub-gov foreign:sub-pub; do n=${r%%:*}; ca=${r#*:}\n"
	    "  $O req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key "
	    "-subj \"/CN=OCSP $n\" -out $n.csr 2>/dev/null\n"
	    "  $O x509 -req -in $n.csr -CA $ca.pem -CAkey ca/$ca.key -set_serial 0x0c51 -days 30 "
	    "-extfile resp.cnf -extensions ext -out $n.pem 2>/dev/null\n"
	    "done\n"
	    "s=$($O x509 -in ngan.pem -noout -serial | cut -d= -f2)\n"
	    "grep -iv \"$s\" ca/sub-gov/index.txt >nongan.index\n", pkidir, openssl_cli());
	run(cmd);
	free(cmd);
}

static void
pki_teardown(void)
{
	char *cmd = xasprintf("rm -rf %s", topdir);

	run(cmd);
	free(cmd);
	for (size_t i = 0; i < env_n; i++) {
		free(env_keys[i]);
		free(env_vals[i]);
	}
	free(env_keys);
	free(env_vals);
	env_keys = env_vals = NULL;
	env_n = 0;
	free(pkidir);
}

/* ------------------------------------------------------------------ */
/* Helpers */

static X509 *
load_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	ck_assert_msg(fp != NULL, "%s", path);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	ck_assert_ptr_nonnull(x);
	return x;
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *k;

	ck_assert_msg(fp != NULL, "%s", path);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	ck_assert_ptr_nonnull(k);
	return k;
}

static char *
pki_file(const char *name)
{
	return xasprintf("%s/%s", pkidir, name);
}

static struct smime_trust *
trust_with(const char *crls)
{
	struct kerr err = KERR_INIT;
	struct smime_trust *t = smime_trust_new(env("PKI_ANCHORS"), env("PKI_INTERMEDIATES"), crls, &err);

	ck_assert_msg(t != NULL, "%s", err.msg);
	return t;
}

/* A fetcher that counts calls and may tamper with what goes through it. */
enum tamper { T_NONE, T_SIG, T_SERIAL, T_NO_NONCE, T_OTHER_NONCE, T_GARBAGE };

struct counter {
	struct fetch_opts fo;
	atomic_int calls;
	enum tamper tamper;
};

static bool
tamper_request(enum tamper t, const void *body, size_t len, unsigned char **der, int *der_len)
{
	const unsigned char *p = body;
	OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	int idx;

	if (req == NULL)
		return false;
	if (t == T_SERIAL) {
		ASN1_INTEGER *serial = NULL;
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));

		OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid);
		ASN1_INTEGER_set(serial, 12345);
	} else {
		idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
		if (idx >= 0)
			X509_EXTENSION_free(OCSP_REQUEST_delete_ext(req, idx));
		if (t == T_OTHER_NONCE)
			OCSP_request_add1_nonce(req, (unsigned char *)"not-the-nonce-we-sent", 21);
	}
	*der = NULL;
	*der_len = i2d_OCSP_REQUEST(req, der);
	OCSP_REQUEST_free(req);
	return *der_len > 0;
}

static void
tamper_signature(struct buf *out)
{
	const unsigned char *p = (const unsigned char *)out->data;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)out->len), *again;
	OCSP_BASICRESP *bs = resp != NULL ? OCSP_response_get1_basic(resp) : NULL;
	const ASN1_OCTET_STRING *sig = bs != NULL ? OCSP_resp_get0_signature(bs) : NULL;
	unsigned char *der = NULL;
	int len;

	ck_assert_ptr_nonnull(sig);
	((unsigned char *)ASN1_STRING_get0_data(sig))[ASN1_STRING_length(sig) / 2] ^= 0x01;
	again = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	len = i2d_OCSP_RESPONSE(again, &der);
	ck_assert_int_gt(len, 0);
	buf_reset(out);
	buf_append(out, der, (size_t)len);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(again);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
}

static bool
counting_fetch(void *ctx, const char *url, const char *ctype, const void *body, size_t body_len,
    size_t max, struct buf *out, struct kerr *err)
{
	struct counter *c = ctx;
	unsigned char *der = NULL;
	int der_len = 0;
	bool ok;

	atomic_fetch_add(&c->calls, 1);
	if (body != NULL && (c->tamper == T_SERIAL || c->tamper == T_NO_NONCE || c->tamper == T_OTHER_NONCE)) {
		ck_assert(tamper_request(c->tamper, body, body_len, &der, &der_len));
		body = der;
		body_len = (size_t)der_len;
	}
	ok = fetch_http(&c->fo, url, ctype, body, body_len, max, out, err);
	if (ok && body != NULL && c->tamper == T_SIG)
		tamper_signature(out);
	if (ok && body != NULL && c->tamper == T_GARBAGE) {
		buf_reset(out);
		buf_appends(out, "<html>proxy error</html>");
	}
	OPENSSL_free(der);
	return ok;
}

static struct smime_fetcher
counting_fetcher(struct counter *c, enum tamper t)
{
	struct smime_fetcher f = { counting_fetch, c };

	c->fo.timeout_ms = 2000;
	atomic_init(&c->calls, 0);
	c->tamper = t;
	return f;
}

static struct rev_result
check_at(X509 *cert, X509 *issuer, struct smime_trust *t, const struct smime_fetcher *f, int64_t at)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct rev_result r;
	struct kerr err = KERR_INIT;

	o.trust = t;
	o.fetcher = f;
	o.revocation = SMIME_REVOCATION_REQUIRE;
	ck_assert_msg(smime_revocation_check(cert, issuer, &o, at, &r, &err), "%s", err.msg);
	if (getenv("KYSO_TEST_VERBOSE") != NULL)        /* to read what a human would see */
		fprintf(stderr, "# %s [%s]%s %s\n", smime_rev_status_code(r.status), r.source,
		    r.cached ? " (cached)" : "", r.detail);
	ck_assert(r.status != REV_GOOD || r.this_update != 0);
	return r;
}

#define assert_status(r, st) \
	ck_assert_msg((r).status == (st), "status %s, want %s; source %s; detail %s", \
	    smime_rev_status_code((r).status), smime_rev_status_code(st), (r).source, (r).detail)
#define assert_detail(r, s) \
	ck_assert_msg(strstr((r).detail, (s)) != NULL, "detail lacks \"%s\": %s", (s), (r).detail)

/* ---- CRLs made here ---- */

struct entry {
	X509 *cert;
	int64_t revoked;        /* Unix time */
	int reason;             /* -1: none */
	int64_t invalid;        /* 0: none */
};

struct crl_spec {
	int64_t this_update, next_update;       /* 0 next: none */
	const struct entry *entries;
	int n;
	int64_t kept_since;                     /* expiredCertsOnCRL, 0: none */
	bool delta;
	bool unknown_critical;
	bool pem;
};

static ASN1_TIME *
asn1_at(int64_t t)
{
	return ASN1_TIME_set(NULL, (time_t)t);
}

/* Write a CRL for issuer signed by key into dir/name; returns the path. */
static char *
make_crl(const char *dir, const char *name, X509 *issuer, EVP_PKEY *key, const struct crl_spec *s)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tm;
	char *path = xasprintf("%s/%s", dir, name);
	BIO *bio;

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	tm = asn1_at(s->this_update);
	X509_CRL_set1_lastUpdate(crl, tm);
	ASN1_TIME_free(tm);
	if (s->next_update != 0) {
		tm = asn1_at(s->next_update);
		X509_CRL_set1_nextUpdate(crl, tm);
		ASN1_TIME_free(tm);
	}
	for (int i = 0; i < s->n; i++) {
		X509_REVOKED *rv = X509_REVOKED_new();

		X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(s->entries[i].cert));
		tm = asn1_at(s->entries[i].revoked);
		X509_REVOKED_set_revocationDate(rv, tm);
		ASN1_TIME_free(tm);
		if (s->entries[i].reason >= 0) {
			ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();

			ASN1_ENUMERATED_set(e, s->entries[i].reason);
			X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0);
			ASN1_ENUMERATED_free(e);
		}
		if (s->entries[i].invalid != 0) {
			ASN1_GENERALIZEDTIME *g = ASN1_GENERALIZEDTIME_set(NULL, (time_t)s->entries[i].invalid);

			X509_REVOKED_add1_ext_i2d(rv, NID_invalidity_date, g, 0, 0);
			ASN1_GENERALIZEDTIME_free(g);
		}
		X509_CRL_add0_revoked(crl, rv);
	}
	if (s->kept_since != 0) {
		ASN1_GENERALIZEDTIME *g = ASN1_GENERALIZEDTIME_set(NULL, (time_t)s->kept_since);
		ASN1_OBJECT *obj = OBJ_txt2obj("2.5.29.60", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		unsigned char *der = NULL;
		int len = i2d_ASN1_GENERALIZEDTIME(g, &der);
		X509_EXTENSION *ex;

		ASN1_OCTET_STRING_set(os, der, len);
		ex = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		X509_CRL_add_ext(crl, ex, -1);
		X509_EXTENSION_free(ex);
		ASN1_OCTET_STRING_free(os);
		OPENSSL_free(der);
		ASN1_OBJECT_free(obj);
		ASN1_GENERALIZEDTIME_free(g);
	}
	if (s->delta) {
		ASN1_INTEGER *base = ASN1_INTEGER_new();

		ASN1_INTEGER_set(base, 1000);
		X509_CRL_add1_ext_i2d(crl, NID_delta_crl, base, 1, 0);
		ASN1_INTEGER_free(base);
	}
	if (s->unknown_critical) {
		ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.7", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		X509_EXTENSION *ex;

		ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
		ex = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
		X509_CRL_add_ext(crl, ex, -1);
		X509_EXTENSION_free(ex);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	X509_CRL_sort(crl);
	ck_assert(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	bio = BIO_new_file(path, "wb");
	ck_assert_ptr_nonnull(bio);
	ck_assert(s->pem ? PEM_write_bio_X509_CRL(bio, crl) : i2d_X509_CRL_bio(bio, crl));
	BIO_free(bio);
	X509_CRL_free(crl);
	return path;
}

/* A new folder under the test's top folder. */
static char *
new_dir(void)
{
	char *d = xasprintf("%s/d-XXXXXX", topdir);

	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

/* ---- the OCSP responder (a real `openssl ocsp`) ---- */

static pid_t
ocsp_start(const char *index, const char *signer, const char *key, bool next_update)
{
	char port[8], *out = xasprintf("%s/ocsp.%d.out", topdir, (int)getpid());
	int64_t deadline = time(NULL) + 10;
	pid_t pid;

	unlink(out);
	snprintf(port, sizeof(port), "%u", (unsigned)ocsp_port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *fp;

		prctl(PR_SET_PDEATHSIG, SIGTERM);       /* a failed test cannot leave it running */
		fp = fopen(out, "w");
		if (fp == NULL)
			_exit(127);
		dup2(fileno(fp), 1);
		dup2(fileno(fp), 2);
		execlp(openssl_cli(), "openssl", "ocsp", "-index", index, "-CA", env("PKI_SUB_GOV"),
		    "-rsigner", signer, "-rkey", key, "-port", port,
		    next_update ? "-ndays" : NULL, "1", (char *)NULL);
		_exit(127);
	}
	for (;;) {
		FILE *fp = fopen(out, "r");
		char line[256] = "";
		bool up = false;

		if (fp != NULL) {
			while (fgets(line, sizeof(line), fp) != NULL)
				up = up || strncmp(line, "ACCEPT", 6) == 0;
			fclose(fp);
		}
		if (up)
			break;
		ck_assert_msg(time(NULL) < deadline && waitpid(pid, NULL, WNOHANG) == 0,
		    "openssl ocsp did not start (see %s)", out);
		usleep(10000);
	}
	free(out);
	return pid;
}

static void
ocsp_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- per-test state ---- */

static X509 *sub_gov, *sub_pub, *gov_root, *ngan, *vanthu, *revoked, *expired, *lanhdao, *an;
static EVP_PKEY *sub_gov_key;

static void
setup(void)
{
	sub_gov = load_cert(env("PKI_SUB_GOV"));
	sub_pub = load_cert(env("PKI_SUB_PUB"));
	gov_root = load_cert(env("PKI_GOV_ROOT"));
	ngan = load_cert(env("PKI_NGAN_CERT"));
	vanthu = load_cert(env("PKI_VANTHU_CERT"));
	revoked = load_cert(env("PKI_REVOKED_CERT"));
	expired = load_cert(env("PKI_EXPIRED_CERT"));
	lanhdao = load_cert(env("PKI_LANHDAO_CERT"));
	an = load_cert(env("PKI_AN_CERT"));
	sub_gov_key = load_key(env("PKI_SUB_GOV_KEY"));
}

static void
teardown(void)
{
	X509_free(sub_gov);
	X509_free(sub_pub);
	X509_free(gov_root);
	X509_free(ngan);
	X509_free(vanthu);
	X509_free(revoked);
	X509_free(expired);
	X509_free(lanhdao);
	X509_free(an);
	EVP_PKEY_free(sub_gov_key);
}

static int64_t
now(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ */
/* Policy and arguments */

START_TEST(policy_off)
{
	struct smime_trust *t = trust_with(env("PKI_CRL_SUB_GOV"));
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct rev_result r;
	struct kerr err = KERR_INIT;

	o.trust = t;
	o.fetcher = &f;
	o.revocation = SMIME_REVOCATION_OFF;
	ck_assert(smime_revocation_check(revoked, sub_gov, &o, 0, &r, &err));
	assert_status(r, REV_UNKNOWN);
	ck_assert_str_eq(r.source, "off");
	ck_assert_int_eq(atomic_load(&c.calls), 0);
	smime_trust_free(&t);
}
END_TEST

START_TEST(prefer_same_as_require)
{
	struct smime_trust *t = trust_with(env("PKI_CRL_SUB_GOV"));
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct rev_result r;
	struct kerr err = KERR_INIT;

	o.trust = t;
	ck_assert_int_eq(o.revocation, SMIME_REVOCATION_PREFER);
	ck_assert(smime_revocation_check(revoked, sub_gov, &o, 0, &r, &err));
	assert_status(r, REV_REVOKED);
	smime_trust_free(&t);
}
END_TEST

START_TEST(wrong_issuer_is_internal_error)
{
	struct smime_trust *t = trust_with(NULL);
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct rev_result r;
	struct kerr err = KERR_INIT;

	o.trust = t;
	ck_assert(!smime_revocation_check(ngan, sub_pub, &o, 0, &r, &err));
	ck_assert_int_eq(err.cls, KERR_INTERNAL);
	ck_assert_int_eq(r.status, REV_UNKNOWN);
	kerr_clear(&err);
	o.trust = NULL;
	ck_assert(!smime_revocation_check(ngan, sub_gov, &o, 0, &r, &err));
	ck_assert_int_eq(r.status, REV_UNKNOWN);
	smime_trust_free(&t);
}
END_TEST

START_TEST(self_signed)
{
	struct smime_trust *t = trust_with(NULL);
	struct rev_result r = check_at(gov_root, gov_root, t, NULL, 0);

	assert_status(r, REV_UNKNOWN);
	ck_assert_str_eq(r.source, "none");
	smime_trust_free(&t);
}
END_TEST

START_TEST(no_fetcher_no_crl)
{
	struct smime_trust *t = trust_with(NULL);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "no network access given");
	smime_trust_free(&t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Local CRLs */

START_TEST(local_good_and_revoked)
{
	struct smime_trust *t = trust_with(env("PKI_CRL_SUB_GOV"));
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	assert_status(r, REV_GOOD);
	ck_assert_str_eq(r.source, "crl:local");
	ck_assert(!r.cached);
	assert_detail(r, "not listed");
	ck_assert_int_gt(r.next_update, now() + 86400);

	r = check_at(revoked, sub_gov, t, NULL, 0);
	assert_status(r, REV_REVOKED);
	ck_assert_str_eq(r.source, "crl:local");
	ck_assert_int_eq(r.reason, REV_REASON_KEY_COMPROMISE);
	ck_assert_int_le(llabs(r.revoked_at - (now() - 3600)), 120);
	ck_assert(smime_revocation_revoked_by(&r, now()));
	assert_detail(r, "keyCompromise");
	smime_trust_free(&t);
}
END_TEST

/* Revoked an hour ago; a message signed two hours ago: still REV_REVOKED,
 * with the date, for the verifier to weigh. */
START_TEST(local_revoked_after_at)
{
	struct smime_trust *t = trust_with(env("PKI_CRL_SUB_GOV"));
	int64_t at = now() - 7200;
	struct rev_result r = check_at(revoked, sub_gov, t, NULL, at);

	assert_status(r, REV_REVOKED);
	ck_assert_int_gt(r.revoked_at, at);
	ck_assert(!smime_revocation_revoked_by(&r, at));
	ck_assert(smime_revocation_revoked_by(&r, now()));
	assert_detail(r, "after the time checked");
	smime_trust_free(&t);
}
END_TEST

START_TEST(local_wrong_key)
{
	char *dir = new_dir();
	EVP_PKEY *other = load_key(env("PKI_NGAN_KEY"));
	struct entry e = { ngan, now() - 60, 1, 0 };
	struct crl_spec s = { now() - 60, now() + 86400, &e, 1, 0, false, false, true };
	char *path = make_crl(dir, "bad.crl", sub_gov, other, &s);
	struct smime_trust *t = trust_with(path);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	/* it lists ngan, but nobody may believe it */
	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "signature does not verify with the issuer's key");
	ck_assert_ptr_nonnull(strstr(r.source, "crl:local"));
	r = check_at(vanthu, sub_gov, t, NULL, 0);
	assert_status(r, REV_UNKNOWN);
	smime_trust_free(&t);
	EVP_PKEY_free(other);
	free(path);
	free(dir);
}
END_TEST

/* A CRL made 2 h ago, due for update 1 h ago. */
START_TEST(local_stale)
{
	char *dir = new_dir();
	struct crl_spec s = { now() - 7200, now() - 3600, NULL, 0, 0, false, false, false };
	char *path = make_crl(dir, "stale.crl", sub_gov, sub_gov_key, &s);
	struct smime_trust *t = trust_with(path);
	struct rev_result r;

	r = check_at(ngan, sub_gov, t, NULL, 0);                /* now: stale */
	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "stale");
	r = check_at(ngan, sub_gov, t, NULL, now() - 5400);     /* inside its window */
	assert_status(r, REV_GOOD);
	r = check_at(ngan, sub_gov, t, NULL, now() - 10800);    /* before it was made: it knows */
	assert_status(r, REV_GOOD);
	smime_trust_free(&t);
	free(path);
	free(dir);
}
END_TEST

START_TEST(local_no_next_update)
{
	char *dir = new_dir();
	struct crl_spec fresh = { now() - 60, 0, NULL, 0, 0, false, false, false };
	struct crl_spec old = { now() - 7200, 0, NULL, 0, 0, false, false, false };
	char *p1 = make_crl(dir, "fresh.crl", sub_gov, sub_gov_key, &fresh);
	struct smime_trust *t = trust_with(p1);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	assert_status(r, REV_GOOD);                     /* within thisUpdate + 1 h */
	ck_assert_int_eq(r.next_update, 0);
	r = check_at(ngan, sub_gov, t, NULL, now() + 7 * 3600); /* a clock 7 h ahead: asked as now */
	assert_status(r, REV_GOOD);
	smime_trust_free(&t);
	free(p1);
	p1 = make_crl(dir, "old.crl", sub_gov, sub_gov_key, &old);
	t = trust_with(p1);
	r = check_at(ngan, sub_gov, t, NULL, 0);
	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "thisUpdate + 1 h");
	smime_trust_free(&t);
	free(p1);
	free(dir);
}
END_TEST

/* `expired` was valid from -730 d to -365 d.  A CRL made today may have
 * dropped it: not authoritative for a time inside its validity, unless the
 * CRL says it keeps expired certificates (expiredCertsOnCRL). */
START_TEST(local_expired_certificate)
{
	char *dir = new_dir();
	struct crl_spec s = { now() - 60, now() + 86400, NULL, 0, 0, false, false, false };
	char *p1 = make_crl(dir, "plain.crl", sub_gov, sub_gov_key, &s);
	struct smime_trust *t = trust_with(p1);
	int64_t at = now() - 500 * 86400;
	struct rev_result r = check_at(expired, sub_gov, t, NULL, at);

	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "after the certificate expired");
	smime_trust_free(&t);
	free(p1);

	s.kept_since = now() - 3000 * 86400;
	p1 = make_crl(dir, "kept.crl", sub_gov, sub_gov_key, &s);
	t = trust_with(p1);
	r = check_at(expired, sub_gov, t, NULL, at);
	assert_status(r, REV_GOOD);
	smime_trust_free(&t);
	free(p1);
	free(dir);
}
END_TEST

START_TEST(local_hold)
{
	char *dir = new_dir();
	struct entry e = { lanhdao, now() - 600, REV_REASON_CERTIFICATE_HOLD, 0 };
	struct crl_spec fresh = { now() - 60, now() + 86400, &e, 1, 0, false, false, false };
	struct crl_spec stale = { now() - 7200, now() - 3600, &e, 1, 0, false, false, false };
	char *p = make_crl(dir, "hold.crl", sub_gov, sub_gov_key, &fresh);
	struct smime_trust *t = trust_with(p);
	struct rev_result r = check_at(lanhdao, sub_gov, t, NULL, 0);

	assert_status(r, REV_REVOKED);
	ck_assert_int_eq(r.reason, REV_REASON_CERTIFICATE_HOLD);
	assert_detail(r, "certificateHold");
	smime_trust_free(&t);
	free(p);
	e.revoked = now() - 7300;
	p = make_crl(dir, "stalehold.crl", sub_gov, sub_gov_key, &stale);
	t = trust_with(p);
	r = check_at(lanhdao, sub_gov, t, NULL, 0);     /* the hold may have been lifted since */
	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "on hold");
	smime_trust_free(&t);
	free(p);
	free(dir);
}
END_TEST

/* invalidityDate before the revocation: revoked_by() uses the earlier. */
START_TEST(local_invalidity_date)
{
	char *dir = new_dir();
	struct entry e = { ngan, now() - 600, REV_REASON_KEY_COMPROMISE, now() - 86400 };
	struct crl_spec s = { now() - 60, now() + 86400, &e, 1, 0, false, false, false };
	char *p = make_crl(dir, "inv.crl", sub_gov, sub_gov_key, &s);
	struct smime_trust *t = trust_with(p);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, now() - 3600);

	assert_status(r, REV_REVOKED);
	ck_assert_int_le(llabs(r.invalid_since - (now() - 86400)), 5);
	ck_assert(smime_revocation_revoked_by(&r, now() - 3600));
	ck_assert(!smime_revocation_revoked_by(&r, now() - 2 * 86400));
	assert_detail(r, "key invalid since");
	smime_trust_free(&t);
	free(p);
	free(dir);
}
END_TEST

START_TEST(local_unsupported)
{
	static const char *const why[] = { "delta CRL", "unsupported critical extension 1.3.6.1.4.1.99999.7" };
	char *dir = new_dir();
	struct crl_spec s = { now() - 60, now() + 86400, NULL, 0, 0, _i == 0, _i == 1, false };
	char *p = make_crl(dir, "x.crl", sub_gov, sub_gov_key, &s);
	struct smime_trust *t = trust_with(p);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	assert_status(r, REV_UNKNOWN);
	assert_detail(r, why[_i]);
	smime_trust_free(&t);
	free(p);
	free(dir);
}
END_TEST

/* Several local CRLs: a revocation in an older one stands; else the newest decides. */
START_TEST(local_several)
{
	char *dir = new_dir();
	struct entry e = { ngan, now() - 86400, REV_REASON_KEY_COMPROMISE, 0 };
	struct crl_spec old = { now() - 86400 + 60, now() - 3600, &e, 1, 0, false, false, false };
	struct crl_spec fresh = { now() - 60, now() + 86400, NULL, 0, 0, false, false, false };
	char *p1 = make_crl(dir, "1-old.crl", sub_gov, sub_gov_key, &old);
	char *p2 = make_crl(dir, "2-fresh.crl", sub_gov, sub_gov_key, &fresh);
	struct smime_trust *t = trust_with(dir);
	struct rev_result r = check_at(ngan, sub_gov, t, NULL, 0);

	assert_status(r, REV_REVOKED);
	r = check_at(vanthu, sub_gov, t, NULL, 0);
	assert_status(r, REV_GOOD);
	ck_assert_int_le(llabs(r.this_update - (now() - 60)), 5);
	smime_trust_free(&t);
	free(p1);
	free(p2);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* CRL distribution points */

START_TEST(cdp_good_revoked_cached)
{
	struct httpd *h = httpd_start("127.0.0.1", http_port, httpd_serve_dir, (void *)env("PKI_CRLS_HTTP_DIR"));
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	char *want = xasprintf("crl:http://127.0.0.1:%u/sub-gov.crl", (unsigned)http_port);
	struct rev_result r;

	ck_assert_ptr_nonnull(h);
	r = check_at(ngan, sub_gov, t, &f, 0);
	assert_status(r, REV_GOOD);
	ck_assert_str_eq(r.source, want);
	ck_assert(!r.cached);
	ck_assert_int_eq(atomic_load(&c.calls), 1);

	r = check_at(revoked, sub_gov, t, &f, 0);       /* the same CRL, from the cache */
	assert_status(r, REV_REVOKED);
	ck_assert_int_eq(r.reason, REV_REASON_KEY_COMPROMISE);
	ck_assert(r.cached);
	ck_assert_str_eq(r.source, want);

	r = check_at(ngan, sub_gov, t, &f, 0);
	assert_status(r, REV_GOOD);
	ck_assert(r.cached);
	assert_detail(r, "cached");
	ck_assert_int_eq(atomic_load(&c.calls), 1);     /* no second fetch */
	ck_assert_int_eq(httpd_count(h), 1);

	smime_trust_free(&t);                           /* a new trust object: a new cache */
	t = trust_with(NULL);
	r = check_at(ngan, sub_gov, t, &f, 0);
	assert_status(r, REV_GOOD);
	ck_assert_int_eq(atomic_load(&c.calls), 2);
	httpd_stop(&h);
	smime_trust_free(&t);
	free(want);
}
END_TEST

/* The sub-CA, checked against the root's CRL: intermediates can be checked too. */
START_TEST(cdp_intermediate)
{
	struct httpd *h = httpd_start("127.0.0.1", http_port, httpd_serve_dir, (void *)env("PKI_CRLS_HTTP_DIR"));
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	struct rev_result r = check_at(sub_gov, gov_root, t, &f, 0);

	assert_status(r, REV_GOOD);
	ck_assert_ptr_nonnull(strstr(r.source, "/gov-root.crl"));
	httpd_stop(&h);
	smime_trust_free(&t);
}
END_TEST

/* Served CRLs that must not decide: PEM is fine; wrong key, stale, not a CRL are not. */
START_TEST(cdp_served)
{
	char *dir = new_dir();
	EVP_PKEY *other = load_key(env("PKI_SUB_PUB_KEY"));
	struct crl_spec good = { now() - 60, now() + 86400, NULL, 0, 0, false, false, true };
	struct crl_spec stale = { now() - 7200, now() - 3600, NULL, 0, 0, false, false, false };
	struct httpd *h = httpd_start("127.0.0.1", http_port, httpd_serve_dir, dir);
	struct smime_trust *t;
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	struct rev_result r;
	char *p, *garbage;
	FILE *fp;

	ck_assert_ptr_nonnull(h);
	switch (_i) {
	case 0:
		p = make_crl(dir, "sub-gov.crl", sub_gov, sub_gov_key, &good);  /* PEM */
		break;
	case 1:
		p = make_crl(dir, "sub-gov.crl", sub_gov, other, &good);
		break;
	case 2:
		p = make_crl(dir, "sub-gov.crl", sub_gov, sub_gov_key, &stale);
		break;
	default:
		p = xasprintf("%s/sub-gov.crl", dir);
		fp = fopen(p, "w");
		fputs("<html>captive portal</html>", fp);
		fclose(fp);
		break;
	}
	t = trust_with(NULL);
	r = check_at(ngan, sub_gov, t, &f, 0);
	switch (_i) {
	case 0:
		assert_status(r, REV_GOOD);
		break;
	case 1:
		assert_status(r, REV_UNKNOWN);
		assert_detail(r, "signature does not verify");
		break;
	case 2:
		assert_status(r, REV_UNKNOWN);
		assert_detail(r, "stale");
		break;
	default:
		assert_status(r, REV_UNKNOWN);
		assert_detail(r, "not a CRL");
		break;
	}
	if (_i != 0) {
		/* then OCSP was tried (nobody listens): never good */
		garbage = xasprintf("ocsp:http://127.0.0.1:%u/", (unsigned)ocsp_port);
		ck_assert_ptr_nonnull(strstr(r.source, garbage));
		assert_detail(r, "fetch failed");
		free(garbage);
	}
	httpd_stop(&h);
	smime_trust_free(&t);
	EVP_PKEY_free(other);
	free(p);
	free(dir);
}
END_TEST

/* Nothing listens anywhere: unknown, and the failure is remembered. */
START_TEST(all_down)
{
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	struct rev_result r = check_at(ngan, sub_gov, t, &f, 0);

	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "Connection refused");
	ck_assert_ptr_nonnull(strstr(r.source, "crl:http://"));
	ck_assert_ptr_nonnull(strstr(r.source, ",ocsp:http://"));
	ck_assert_int_eq(atomic_load(&c.calls), 2);
	r = check_at(vanthu, sub_gov, t, &f, 0);
	assert_status(r, REV_UNKNOWN);
	assert_detail(r, "(cached)");
	ck_assert_int_eq(atomic_load(&c.calls), 2);     /* not asked again for a while */
	smime_trust_free(&t);
}
END_TEST

struct thread_arg {
	struct smime_trust *t;
	const struct smime_fetcher *f;
	X509 *cert;
	int good;
};

static void *
thread_main(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 5; i++) {
		struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
		struct rev_result r;
		struct kerr err = KERR_INIT;

		o.trust = a->t;
		o.fetcher = a->f;
		if (smime_revocation_check(a->cert, sub_gov, &o, 0, &r, &err) && r.status == REV_GOOD)
			a->good++;
	}
	return NULL;
}

START_TEST(threads_share_the_cache)
{
	struct httpd *h = httpd_start("127.0.0.1", http_port, httpd_serve_dir, (void *)env("PKI_CRLS_HTTP_DIR"));
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	pthread_t th[8];
	struct thread_arg a[8];

	for (int i = 0; i < 8; i++) {
		a[i] = (struct thread_arg){ t, &f, i % 2 ? ngan : vanthu, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(a[i].good, 5);
	}
	ck_assert_int_ge(atomic_load(&c.calls), 1);
	ck_assert_int_le(atomic_load(&c.calls), 8);
	httpd_stop(&h);
	smime_trust_free(&t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* OCSP, from a real `openssl ocsp` (the CRL distribution point is down) */

enum responder { R_ISSUER, R_ISSUER_NO_NEXT, R_DELEGATED, R_LEAF, R_FOREIGN, R_NO_NGAN };

static pid_t
responder(enum responder which)
{
	char *signer = NULL, *key = NULL, *index = NULL;
	pid_t pid;

	switch (which) {
	case R_DELEGATED:
		signer = pki_file("deleg.pem");
		key = pki_file("deleg.key");
		break;
	case R_FOREIGN:
		signer = pki_file("foreign.pem");
		key = pki_file("foreign.key");
		break;
	case R_LEAF:
		signer = xstrdup(env("PKI_NGAN_CERT"));
		key = xstrdup(env("PKI_NGAN_KEY"));
		break;
	default:
		signer = xstrdup(env("PKI_SUB_GOV"));
		key = xstrdup(env("PKI_SUB_GOV_KEY"));
		break;
	}
	index = which == R_NO_NGAN ? pki_file("nongan.index") : xstrdup(env("PKI_SUB_GOV_INDEX"));
	pid = ocsp_start(index, signer, key, which != R_ISSUER_NO_NEXT);
	free(signer);
	free(key);
	free(index);
	return pid;
}

static const struct {
	enum responder resp;
	enum tamper tamper;
	const char *leaf;               /* "ngan" or "revoked" */
	enum rev_status want;
	const char *detail;
} ocsp_cases[] = {
	{ R_ISSUER, T_NONE, "ngan", REV_GOOD, "good per the OCSP response" },
	{ R_ISSUER, T_NONE, "revoked", REV_REVOKED, "keyCompromise" },
	{ R_ISSUER_NO_NEXT, T_NONE, "ngan", REV_GOOD, "next update (none)" },
	{ R_DELEGATED, T_NONE, "ngan", REV_GOOD, "good" },
	{ R_DELEGATED, T_NONE, "revoked", REV_REVOKED, "revoked" },
	{ R_NO_NGAN, T_NONE, "ngan", REV_UNKNOWN, "does not know the certificate" },
	{ R_LEAF, T_NONE, "ngan", REV_UNKNOWN, "does not verify" },
	{ R_FOREIGN, T_NONE, "ngan", REV_UNKNOWN, "does not verify" },
	{ R_ISSUER, T_SIG, "ngan", REV_UNKNOWN, "does not verify" },
	{ R_ISSUER, T_SIG, "revoked", REV_UNKNOWN, "does not verify" },
	{ R_ISSUER, T_SERIAL, "ngan", REV_UNKNOWN, "not about this certificate" },
	{ R_ISSUER, T_SERIAL, "revoked", REV_UNKNOWN, "not about this certificate" },
	{ R_ISSUER, T_NO_NONCE, "ngan", REV_GOOD, "no nonce" },
	{ R_ISSUER, T_OTHER_NONCE, "ngan", REV_UNKNOWN, "nonce is not ours" },
	{ R_ISSUER, T_GARBAGE, "ngan", REV_UNKNOWN, "not an OCSP response" },
};

START_TEST(ocsp)
{
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, ocsp_cases[_i].tamper);
	X509 *leaf = strcmp(ocsp_cases[_i].leaf, "ngan") == 0 ? ngan : revoked;
	pid_t pid = responder(ocsp_cases[_i].resp);
	char *src = xasprintf("ocsp:http://127.0.0.1:%u/", (unsigned)ocsp_port);
	struct rev_result r = check_at(leaf, sub_gov, t, &f, 0);

	ocsp_stop(pid);
	assert_status(r, ocsp_cases[_i].want);
	assert_detail(r, ocsp_cases[_i].detail);
	if (r.status != REV_UNKNOWN) {
		ck_assert_str_eq(r.source, src);
		assert_detail(r, "before that: crl:http://");  /* the distribution point was down */
		ck_assert_int_le(llabs(r.this_update - now()), 600);
	} else
		ck_assert_ptr_nonnull(strstr(r.source, src));
	if (r.status == REV_REVOKED) {
		ck_assert_int_eq(r.reason, REV_REASON_KEY_COMPROMISE);
		ck_assert_int_le(llabs(r.revoked_at - (now() - 3600)), 120);
	}
	ck_assert_int_eq(atomic_load(&c.calls), 2);     /* the CRL, then OCSP */
	free(src);
	smime_trust_free(&t);
}
END_TEST

START_TEST(ocsp_cached)
{
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	pid_t pid = responder(R_ISSUER);
	struct rev_result r = check_at(ngan, sub_gov, t, &f, 0);

	assert_status(r, REV_GOOD);
	ck_assert(!r.cached);
	ck_assert_int_eq(atomic_load(&c.calls), 2);
	ocsp_stop(pid);                                 /* the cache answers now */
	r = check_at(ngan, sub_gov, t, &f, 0);
	assert_status(r, REV_GOOD);
	ck_assert(r.cached);
	ck_assert_int_eq(atomic_load(&c.calls), 2);
	r = check_at(vanthu, sub_gov, t, &f, 0);        /* another serial: a new question, */
	assert_status(r, REV_UNKNOWN);                  /* and the responder is gone */
	ck_assert_int_eq(atomic_load(&c.calls), 3);
	smime_trust_free(&t);
}
END_TEST

/* An archived message: a current OCSP answer also covers the past. */
START_TEST(ocsp_past)
{
	struct smime_trust *t = trust_with(NULL);
	struct counter c;
	struct smime_fetcher f = counting_fetcher(&c, T_NONE);
	pid_t pid = responder(R_ISSUER);
	struct rev_result r = check_at(ngan, sub_gov, t, &f, now() - 20 * 3600);

	assert_status(r, REV_GOOD);
	r = check_at(revoked, sub_gov, t, &f, now() - 2 * 3600);
	assert_status(r, REV_REVOKED);
	ck_assert(!smime_revocation_revoked_by(&r, now() - 2 * 3600));
	ocsp_stop(pid);
	smime_trust_free(&t);
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(revoked_by_table)
{
	static const struct {
		enum rev_status st;
		int64_t revoked, invalid, t;
		bool want;
	} cases[] = {
		{ REV_REVOKED, 1000, 0, 1000, true },
		{ REV_REVOKED, 1000, 0, 999, false },
		{ REV_REVOKED, 1000, 500, 600, true },
		{ REV_REVOKED, 1000, 500, 400, false },
		{ REV_REVOKED, 1000, 2000, 1500, true },        /* a later invalidityDate changes nothing */
		{ REV_GOOD, 1000, 0, 2000, false },
		{ REV_UNKNOWN, 1000, 0, 2000, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rev_result r = { .status = cases[i].st, .revoked_at = cases[i].revoked,
		                        .invalid_since = cases[i].invalid };

		ck_assert_msg(smime_revocation_revoked_by(&r, cases[i].t) == cases[i].want, "case %zu", i);
	}
	ck_assert(!smime_revocation_revoked_by(NULL, 0));
	ck_assert_str_eq(smime_rev_reason_code(1), "keyCompromise");
	ck_assert_str_eq(smime_rev_reason_code(6), "certificateHold");
	ck_assert_str_eq(smime_rev_reason_code(-1), "unspecified");
	ck_assert_str_eq(smime_rev_reason_code(99), "unspecified");
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("revocation");
	TCase *tc = tcase_create("revocation");

	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, policy_off);
	tcase_add_test(tc, prefer_same_as_require);
	tcase_add_test(tc, wrong_issuer_is_internal_error);
	tcase_add_test(tc, self_signed);
	tcase_add_test(tc, no_fetcher_no_crl);
	tcase_add_test(tc, local_good_and_revoked);
	tcase_add_test(tc, local_revoked_after_at);
	tcase_add_test(tc, local_wrong_key);
	tcase_add_test(tc, local_stale);
	tcase_add_test(tc, local_no_next_update);
	tcase_add_test(tc, local_expired_certificate);
	tcase_add_test(tc, local_hold);
	tcase_add_test(tc, local_invalidity_date);
	tcase_add_loop_test(tc, local_unsupported, 0, 2);
	tcase_add_test(tc, local_several);
	tcase_add_test(tc, cdp_good_revoked_cached);
	tcase_add_test(tc, cdp_intermediate);
	tcase_add_loop_test(tc, cdp_served, 0, 4);
	tcase_add_test(tc, all_down);
	tcase_add_test(tc, threads_share_the_cache);
	tcase_add_loop_test(tc, ocsp, 0, (int)(sizeof(ocsp_cases) / sizeof(ocsp_cases[0])));
	tcase_add_test(tc, ocsp_cached);
	tcase_add_test(tc, ocsp_past);
	tcase_add_test(tc, revoked_by_table);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
