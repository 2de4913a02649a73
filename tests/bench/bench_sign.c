/*
 * bench_sign - in-process signing speed and memory, for `make bench`.
 *
 *   bench_sign P12 PASSFILE SMALL.eml BIG.eml
 *
 * Prints one "key value" line per figure (tests/bench/run turns them into
 * the table with ratios against the openssl and gpgsm command lines):
 *   rsa_sign_per_s      RSA-2048 PKCS#1 v1.5 signatures of a digest, alone
 *   small_per_s         whole-message signatures of SMALL (verify-after on)
 *   small_noverify_per_s  the same without the re-verification
 *   big_ms              one signature of BIG (median of 3)
 *   bare_ms             the bare cost on BIG's attachment: one SHA-256 pass over the
 *                       message, a CRLF scan, base64 of the attachment, one RSA signature
 *   big_rss_kib         peak RSS of a process that signs BIG once
 *   big_bytes           BIG's size
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>

#include "agent/cli.h"
#include "agent/conf.h"
#include "smime/smime.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct kerr *e)
{
	fprintf(stderr, "bench_sign: %s: %s\n", what, e != NULL ? e->msg : "");
	exit(2);
}

static double
rate(struct smime_signer *s, const struct smime_sign_opts *o, const struct buf *msg, double seconds)
{
	struct buf out = BUF_INIT;
	struct kerr e = KERR_INIT;
	double start = now_s(), t;
	long n = 0;

	do {
		buf_reset(&out);
		if (!smime_sign_message(s, o, msg->data, msg->len, &out, &e))
			die("sign", &e);
		n++;
		t = now_s() - start;
	} while (t < seconds);
	buf_release(&out);
	return (double)n / t;
}

static double
rsa_rate(const char *p12path, const char *pass)
{
	FILE *fp = fopen(p12path, "rb");
	PKCS12 *p12 = fp ? d2i_PKCS12_fp(fp, NULL) : NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	unsigned char dgst[32] = { 1 }, sig[512];
	double start, t;
	long n = 0;

	if (p12 == NULL || !PKCS12_parse(p12, pass, &pkey, &cert, NULL))
		die("p12", NULL);
	start = now_s();
	do {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		size_t siglen = sizeof(sig);

		if (EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
		    EVP_PKEY_sign(ctx, sig, &siglen, dgst, sizeof(dgst)) <= 0)
			die("rsa", NULL);
		EVP_PKEY_CTX_free(ctx);
		n++;
		t = now_s() - start;
	} while (t < 1.0);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	PKCS12_free(p12);
	fclose(fp);
	return (double)n / t;
}

/* The bare cost: what any signer must at least do with this message. */
static double
bare_ms(const char *p12path, const char *pass, const struct buf *big)
{
	FILE *fp = fopen(p12path, "rb");
	PKCS12 *p12 = fp ? d2i_PKCS12_fp(fp, NULL) : NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	unsigned char md[32], sig[512];
	size_t attach = big->len * 3 / 4, siglen = sizeof(sig);
	unsigned char *raw = xmalloc(attach), *b64 = xmalloc(attach / 3 * 4 + 8);
	size_t crs = 0;
	double start, best = 1e9;

	if (p12 == NULL || !PKCS12_parse(p12, pass, &pkey, &cert, NULL))
		die("p12", NULL);
	memset(raw, 0x5a, attach);
	for (int round = 0; round < 3; round++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);

		start = now_s();
		for (size_t i = 0; i < big->len; i++)           /* CRLF scan */
			crs += big->data[i] == '\n';
		EVP_Digest(big->data, big->len, md, NULL, EVP_sha256(), NULL);
		EVP_EncodeBlock(b64, raw, (int)(attach / 3 * 3));
		EVP_PKEY_sign_init(ctx);
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
		siglen = sizeof(sig);
		EVP_PKEY_sign(ctx, sig, &siglen, md, sizeof(md));
		EVP_PKEY_CTX_free(ctx);
		if (now_s() - start < best)
			best = now_s() - start;
	}
	if (crs == 0)
		fprintf(stderr, "(no line ends)\n");
	free(raw);
	free(b64);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	PKCS12_free(p12);
	fclose(fp);
	return best * 1000;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct smime_key_spec spec = { 0 };
	struct smime_sign_opts o = SMIME_SIGN_OPTS_INIT;
	struct buf small = BUF_INIT, big = BUF_INIT, out = BUF_INIT;
	struct kerr e = KERR_INIT;
	struct smime_signer *s;
	double ms[3];
	char *pass;
	pid_t pid;
	int status;
	struct rusage ru;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_sign P12 PASSFILE SMALL BIG\n");
		return 2;
	}
	if ((pass = conf_read_secret(argv[2], &e)) == NULL)
		die("pass", &e);
	spec.p12 = argv[1];
	spec.secret = pass;
	if (!cli_read_all(argv[3], 1u << 30, &small, &e) || !cli_read_all(argv[4], 1u << 30, &big, &e))
		die("read", &e);

	/* Peak RSS of signing BIG alone, in a fresh child. */
	buf_release(&small);
	pid = fork();
	if (pid == 0) {
		struct buf in = BUF_INIT, so = BUF_INIT;
		struct smime_signer *cs;

		if (!cli_read_all(argv[4], 1u << 30, &in, &e) || (cs = smime_signer_open(&spec, &e)) == NULL ||
		    !smime_sign_message(cs, &o, in.data, in.len, &so, &e))
			_exit(3);
		_exit(0);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("child", NULL);
	printf("big_rss_kib %ld\n", ru.ru_maxrss);
	printf("big_bytes %zu\n", big.len);
	if (!cli_read_all(argv[3], 1u << 30, &small, &e))
		die("read", &e);

	if ((s = smime_signer_open(&spec, &e)) == NULL)
		die("open", &e);
	printf("rsa_sign_per_s %.0f\n", rsa_rate(argv[1], pass));
	printf("small_per_s %.0f\n", rate(s, &o, &small, 2.0));
	o.verify_after = false;
	printf("small_noverify_per_s %.0f\n", rate(s, &o, &small, 2.0));
	o.verify_after = true;
	for (int i = 0; i < 3; i++) {
		double start = now_s();

		buf_reset(&out);
		if (!smime_sign_message(s, &o, big.data, big.len, &out, &e))
			die("sign big", &e);
		ms[i] = (now_s() - start) * 1000;
	}
	qsort(ms, 3, sizeof(ms[0]), cmp_double);
	printf("big_ms %.1f\n", ms[1]);
	printf("bare_ms %.1f\n", bare_ms(argv[1], pass, &big));
	smime_signer_free(&s);
	conf_secret_free(&pass);
	buf_release(&small);
	buf_release(&big);
	buf_release(&out);
	return 0;
}
