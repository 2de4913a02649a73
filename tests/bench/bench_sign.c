/*
 * bench_sign - in-process signing speed and memory, for `make bench`.
 *
 *   bench_sign [--runs N] [--iterations I] FIGURE P12 PASSFILE SMALL.eml BIG.eml
 *
 * FIGURE is one of the keys below, or "all".  Prints one "key value" line
 * per figure (tests/bench/run turns them into the table with ratios against
 * the bare cost and the openssl and gpgsm command lines).  Rates and times
 * are the median of N runs (default 5); run it pinned to one core
 * (taskset -c 0) for figures that mean something on a shared machine.
 * A rate's run signs for half a second, or exactly I times with
 * --iterations (after one warm-up signature), which makes instruction
 * counts repeatable: under valgrind --tool=callgrind
 * --toggle-collect=smime_sign_message, a small_per_s run with --runs 1
 * --iterations 50 collects 51 signatures' worth.
 *   rsa_sign_per_s        RSA-2048 PKCS#1 v1.5 signatures of a digest, alone
 *   small_per_s           whole-message signatures of SMALL (verify-after on)
 *   small_noverify_per_s  the same without the re-verification
 *   big_ms                one detached signature of BIG
 *   big_opaque_ms         one opaque (enveloping) signature of BIG
 *   bare_ms               the bare cost on BIG: one SHA-256 pass over the message,
 *                         a CRLF scan, base64 of the attachment, one RSA signature
 *   big_rss_kib           peak RSS of a fresh process that reads BIG and signs it
 *                         (detached); big_opaque_rss_kib: opaque
 *   base_rss_kib          peak RSS of a fresh process that only opens the signer
 *                         (the floor: the libraries, the key)
 *   big_bytes             BIG's size
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
#include "tests/bench/bench.h"

#define MAX_RUNS 99

struct bench {
	const char *p12, *pass_path, *small_path, *big_path;
	char *pass;                     /* owned */
	struct smime_key_spec spec;
	int runs;
	long iterations;                /* signatures per rate run; 0: for 0.5 s */
};

static void
die(const char *what, const struct kerr *e)
{
	bench_die("bench_sign", what, e);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
read_file(const char *path, struct buf *b)
{
	struct kerr e = KERR_INIT;

	if (!cli_read_all(path, 1u << 30, b, &e))
		die("read", &e);
}

static struct smime_signer *
open_signer(const struct bench *bn)
{
	struct kerr e = KERR_INIT;
	struct smime_signer *s = smime_signer_open(&bn->spec, &e);

	if (s == NULL)
		die("open", &e);
	return s;
}

/* Signatures per second of msg: `count` of them, or for about `seconds`. */
static double
rate(struct smime_signer *s, const struct smime_sign_opts *o, const struct buf *msg, long count, double seconds)
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
	} while (count > 0 ? n < count : t < seconds);
	buf_release(&out);
	return (double)n / t;
}

static double
small_rate(const struct bench *bn, bool verify)
{
	struct smime_sign_opts o = SMIME_SIGN_OPTS_INIT;
	struct smime_signer *s = open_signer(bn);
	struct buf msg = BUF_INIT;
	double r[MAX_RUNS];

	read_file(bn->small_path, &msg);
	o.verify_after = verify;
	rate(s, &o, &msg, bn->iterations > 0 ? 1 : 0, 0.2);   /* warm up */
	for (int i = 0; i < bn->runs; i++)
		r[i] = rate(s, &o, &msg, bn->iterations, 0.5);
	smime_signer_free(&s);
	buf_release(&msg);
	return median(r, bn->runs);
}

static double
rsa_rate(const struct bench *bn)
{
	FILE *fp = fopen(bn->p12, "rb");
	PKCS12 *p12 = fp ? d2i_PKCS12_fp(fp, NULL) : NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	unsigned char dgst[32] = { 1 }, sig[512];
	double r[MAX_RUNS];

	if (p12 == NULL || !PKCS12_parse(p12, bn->pass, &pkey, &cert, NULL))
		die("p12", NULL);
	for (int i = 0; i < bn->runs; i++) {
		double start = now_s(), t;
		long n = 0;

		do {
			EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
			size_t siglen = sizeof(sig);

			if (EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
			    EVP_PKEY_sign(ctx, sig, &siglen, dgst, sizeof(dgst)) <= 0)
				die("rsa", NULL);
			EVP_PKEY_CTX_free(ctx);
			n++;
			t = now_s() - start;
		} while (t < 0.5);
		r[i] = (double)n / t;
	}
	EVP_PKEY_free(pkey);
	X509_free(cert);
	PKCS12_free(p12);
	fclose(fp);
	return median(r, bn->runs);
}

/* Milliseconds to sign BIG once, median of the runs (the first, which
 * faults the output buffer in, is not counted). */
static double
big_ms(const struct bench *bn, enum smime_sign_mode mode)
{
	struct smime_sign_opts o = SMIME_SIGN_OPTS_INIT;
	struct smime_signer *s = open_signer(bn);
	struct buf big = BUF_INIT, out = BUF_INIT;
	struct kerr e = KERR_INIT;
	double ms[MAX_RUNS];

	read_file(bn->big_path, &big);
	o.mode = mode;
	for (int i = -1; i < bn->runs; i++) {
		double start = now_s();

		buf_reset(&out);
		if (!smime_sign_message(s, &o, big.data, big.len, &out, &e))
			die("sign big", &e);
		if (i >= 0)
			ms[i] = (now_s() - start) * 1000;
	}
	smime_signer_free(&s);
	buf_release(&big);
	buf_release(&out);
	return median(ms, bn->runs);
}

/* The bare cost: what any signer must at least do with this message. */
static double
bare_ms(const struct bench *bn)
{
	FILE *fp = fopen(bn->p12, "rb");
	PKCS12 *p12 = fp ? d2i_PKCS12_fp(fp, NULL) : NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	struct buf big = BUF_INIT;
	unsigned char md[32], sig[512], *raw, *b64;
	size_t attach, siglen, crs = 0;
	double ms[MAX_RUNS];

	if (p12 == NULL || !PKCS12_parse(p12, bn->pass, &pkey, &cert, NULL))
		die("p12", NULL);
	read_file(bn->big_path, &big);
	attach = big.len * 3 / 4;
	raw = xmalloc(attach);
	b64 = xmalloc(attach / 3 * 4 + 8);
	memset(raw, 0x5a, attach);
	memset(b64, 0, attach / 3 * 4 + 8);
	for (int i = -1; i < bn->runs; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		double start = now_s();

		for (size_t k = 0; k < big.len; k++)           /* CRLF scan */
			crs += big.data[k] == '\n';
		EVP_Digest(big.data, big.len, md, NULL, EVP_sha256(), NULL);
		EVP_EncodeBlock(b64, raw, (int)(attach / 3 * 3));
		EVP_PKEY_sign_init(ctx);
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
		siglen = sizeof(sig);
		EVP_PKEY_sign(ctx, sig, &siglen, md, sizeof(md));
		EVP_PKEY_CTX_free(ctx);
		if (i >= 0)
			ms[i] = (now_s() - start) * 1000;
	}
	if (crs == 0)
		fprintf(stderr, "(no line ends)\n");
	free(raw);
	free(b64);
	buf_release(&big);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	PKCS12_free(p12);
	fclose(fp);
	return median(ms, bn->runs);
}

/* The child of rss_kib, a fresh process: open the signer, and unless
 * mode is "open", read BIG and sign it once ("detached" or "opaque"). */
static int
rss_child(const struct bench *bn, const char *mode)
{
	struct smime_sign_opts o = SMIME_SIGN_OPTS_INIT;
	struct smime_signer *s = open_signer(bn);
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct kerr e = KERR_INIT;

	if (strcmp(mode, "open") != 0) {
		o.mode = strcmp(mode, "opaque") == 0 ? SMIME_MODE_OPAQUE : SMIME_MODE_DETACHED;
		read_file(bn->big_path, &in);
		if (!smime_sign_message(s, &o, in.data, in.len, &out, &e))
			die("sign big", &e);
	}
	smime_signer_free(&s);
	buf_release(&in);
	buf_release(&out);
	return 0;
}

/*
 * Peak RSS (KiB) of a fresh process (this program again, exec'd) doing
 * rss_child's work.  Not a plain fork: a child inherits its parent's
 * resident pages, and they would count in its peak.  (Across exec the peak
 * of the forked image carries over, so this is called while this process
 * holds nothing large.)
 */
static long
rss_kib(const struct bench *bn, char **argv, const char *mode)
{
	struct rusage ru;
	int status;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		die("fork", NULL);
	if (pid == 0) {
		char *args[] = { argv[0], "--rss-child", (char *)mode, (char *)bn->p12, (char *)bn->pass_path,
		    (char *)bn->small_path, (char *)bn->big_path, NULL };

		execv("/proc/self/exe", args);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("child", NULL);
	return ru.ru_maxrss;
}

static bool
want(const char *figure, const char *key)
{
	return strcmp(figure, "all") == 0 || strcmp(figure, key) == 0;
}

int
main(int argc, char **argv)
{
	struct bench bn = { .runs = 5 };
	struct kerr e = KERR_INIT;
	const char *figure;
	int a = 1;

	if (argc > 1 && strcmp(argv[1], "--rss-child") == 0) {
		a = 2;          /* argv[2] is the mode */
	} else {
		for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
			if (strcmp(argv[a], "--runs") == 0)
				bn.runs = atoi(argv[a + 1]);
			else if (strcmp(argv[a], "--iterations") == 0)
				bn.iterations = atol(argv[a + 1]);
			else
				break;
		}
	}
	if (argc - a != 5 || bn.runs < 1 || bn.runs > MAX_RUNS || bn.iterations < 0) {
		fprintf(stderr, "usage: bench_sign [--runs N] [--iterations I] FIGURE|all P12 PASSFILE SMALL BIG\n");
		return 2;
	}
	figure = argv[a];
	bn.p12 = argv[a + 1];
	bn.pass_path = argv[a + 2];
	bn.small_path = argv[a + 3];
	bn.big_path = argv[a + 4];
	if ((bn.pass = conf_read_secret(argv[a + 2], &e)) == NULL)
		die("pass", &e);
	bn.spec.p12 = bn.p12;
	bn.spec.secret = bn.pass;
	if (a == 2)
		return rss_child(&bn, figure);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Memory first, while this process holds nothing large. */
	if (want(figure, "base_rss_kib"))
		printf("base_rss_kib %ld\n", rss_kib(&bn, argv, "open"));
	if (want(figure, "big_rss_kib"))
		printf("big_rss_kib %ld\n", rss_kib(&bn, argv, "detached"));
	if (want(figure, "big_opaque_rss_kib"))
		printf("big_opaque_rss_kib %ld\n", rss_kib(&bn, argv, "opaque"));
	if (want(figure, "big_bytes")) {
		struct buf big = BUF_INIT;

		read_file(bn.big_path, &big);
		printf("big_bytes %zu\n", big.len);
		buf_release(&big);
	}
	if (want(figure, "rsa_sign_per_s"))
		printf("rsa_sign_per_s %.0f\n", rsa_rate(&bn));
	if (want(figure, "small_per_s"))
		printf("small_per_s %.0f\n", small_rate(&bn, true));
	if (want(figure, "small_noverify_per_s"))
		printf("small_noverify_per_s %.0f\n", small_rate(&bn, false));
	if (want(figure, "big_ms"))
		printf("big_ms %.1f\n", big_ms(&bn, SMIME_MODE_DETACHED));
	if (want(figure, "big_opaque_ms"))
		printf("big_opaque_ms %.1f\n", big_ms(&bn, SMIME_MODE_OPAQUE));
	if (want(figure, "bare_ms"))
		printf("bare_ms %.1f\n", bare_ms(&bn));
	conf_secret_free(&bn.pass);
	return 0;
}
