/*
 * bench_verify - in-process verification speed and memory, for `make bench`.
 *
 *   bench_verify ANCHORS INTERMEDIATES SMALL.eml BIG.eml DOC.pdf
 *
 * Prints "key value" lines (tests/bench/run-verify makes the table):
 *   small_per_s     SMALL verified per second, MIME walk included (one core,
 *                   revocation off: no network in a benchmark)
 *   big_ms          BIG verified once (median of 3)
 *   big_bare_ms     the bare cost on BIG: one SHA-256 pass over the message,
 *                   one RSA verify, one chain step (the signer's certificate
 *                   checked with its issuer's key)
 *   big_rss_kib     peak RSS of a process that reads and verifies BIG
 *   big_bytes       BIG's size
 *   pdf_ms          DOC verified once (median of 3)
 *   pdf_bare_ms     SHA-256 over each signature's ByteRange bytes (once per signature)
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
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent/cli.h"
#include "smime/smime.h"
#include "tests/bench/bench.h"

static void
die(const char *what, const struct kerr *e)
{
	bench_die("bench_verify", what, e);
}

static double
median3(double v[3])
{
	qsort(v, 3, sizeof(v[0]), cmp_double);
	return v[1];
}

static struct smime_report *
verify(const char *name, const struct buf *b, const struct smime_verify_opts *o, bool doc)
{
	struct kerr e = KERR_INIT;
	struct smime_report *r = doc ? smime_verify_document(name, b->data, b->len, NULL, 0, o, &e)
	    : smime_verify_message(b->data, b->len, o, &e);

	if (r == NULL)
		die("verify", &e);
	return r;
}

/* One SHA-256 pass over n bytes, one RSA-2048 verify, one chain step. */
static double
bare_ms(const struct buf *data, const char *intermediates)
{
	FILE *fp = fopen(intermediates, "r");
	X509 *sub = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *kctx;
	unsigned char md[32], sig[256];
	size_t siglen = sizeof(sig);
	double best = 1e9;

	if (sub == NULL)
		die("intermediates", NULL);
	/* a throwaway RSA-2048 key and signature to verify */
	kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	EVP_PKEY_keygen_init(kctx);
	EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 2048);
	EVP_PKEY_keygen(kctx, &key);
	EVP_PKEY_CTX_free(kctx);
	kctx = EVP_PKEY_CTX_new(key, NULL);
	EVP_PKEY_sign_init(kctx);
	EVP_PKEY_CTX_set_signature_md(kctx, EVP_sha256());
	EVP_PKEY_sign(kctx, sig, &siglen, md, sizeof(md));
	EVP_PKEY_CTX_free(kctx);
	for (int round = 0; round < 3; round++) {
		double start = now_s();

		EVP_Digest(data->data, data->len, md, NULL, EVP_sha256(), NULL);
		kctx = EVP_PKEY_CTX_new(key, NULL);
		EVP_PKEY_verify_init(kctx);
		EVP_PKEY_CTX_set_signature_md(kctx, EVP_sha256());
		(void)EVP_PKEY_verify(kctx, sig, siglen, md, sizeof(md));
		EVP_PKEY_CTX_free(kctx);
		(void)X509_verify(sub, X509_get0_pubkey(sub));  /* a certificate signature check */
		if (now_s() - start < best)
			best = now_s() - start;
	}
	EVP_PKEY_free(key);
	X509_free(sub);
	fclose(fp);
	return best * 1000;
}

int
main(int argc, char **argv)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct buf small = BUF_INIT, big = BUF_INIT, pdf = BUF_INIT;
	struct kerr e = KERR_INIT;
	struct smime_trust *t;
	struct smime_report *r;
	struct rusage ru;
	double ms[3], start, el;
	long n = 0;
	int status;
	pid_t pid;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_verify ANCHORS INTERMEDIATES SMALL BIG DOC.pdf\n");
		return 2;
	}
	if ((t = smime_trust_new(argv[1], argv[2], NULL, &e)) == NULL)
		die("trust", &e);
	o.trust = t;
	o.revocation = SMIME_REVOCATION_OFF;

	/* Peak RSS of reading and verifying BIG, in a fresh child. */
	pid = fork();
	if (pid == 0) {
		struct buf in = BUF_INIT;

		if (!cli_read_all(argv[4], 1u << 30, &in, &e))
			_exit(3);
		r = verify("big", &in, &o, false);
		_exit(r->verdict == SMIME_VERDICT_VALID ? 0 : 4);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("child (BIG must verify as valid)", NULL);
	if (!cli_read_all(argv[3], 1u << 30, &small, &e) || !cli_read_all(argv[4], 1u << 30, &big, &e) ||
	    !cli_read_all(argv[5], 1u << 30, &pdf, &e))
		die("read", &e);
	printf("big_rss_kib %ld\n", ru.ru_maxrss);
	printf("big_bytes %zu\n", big.len);

	r = verify("small", &small, &o, false);
	if (r->verdict != SMIME_VERDICT_VALID)
		die("SMALL does not verify as valid", NULL);
	smime_report_free(&r);
	start = now_s();
	do {
		r = verify("small", &small, &o, false);
		smime_report_free(&r);
		n++;
		el = now_s() - start;
	} while (el < 2.0);
	printf("small_per_s %.0f\n", (double)n / el);

	for (int i = 0; i < 3; i++) {
		start = now_s();
		r = verify("big", &big, &o, false);
		ms[i] = (now_s() - start) * 1000;
		smime_report_free(&r);
	}
	printf("big_ms %.1f\n", median3(ms));
	printf("big_bare_ms %.1f\n", bare_ms(&big, argv[2]));

	r = verify("doc.pdf", &pdf, &o, true);
	if (r->n_sigs < 2)
		die("DOC must hold two signatures", NULL);
	smime_report_free(&r);
	for (int i = 0; i < 3; i++) {
		start = now_s();
		r = verify("doc.pdf", &pdf, &o, true);
		ms[i] = (now_s() - start) * 1000;
		smime_report_free(&r);
	}
	printf("pdf_ms %.1f\n", median3(ms));
	{
		/* Each signature hashes (nearly) the whole file: two passes. */
		unsigned char md[32];
		double best = 1e9;

		for (int round = 0; round < 3; round++) {
			start = now_s();
			EVP_Digest(pdf.data, pdf.len, md, NULL, EVP_sha256(), NULL);
			EVP_Digest(pdf.data, pdf.len, md, NULL, EVP_sha256(), NULL);
			if (now_s() - start < best)
				best = now_s() - start;
		}
		printf("pdf_bare_ms %.1f\n", best * 1000);
	}
	smime_trust_free(&t);
	buf_release(&small);
	buf_release(&big);
	buf_release(&pdf);
	return 0;
}
