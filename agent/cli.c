/* cli.c - kyso sign (and, with the verification issue, kyso verify). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/conf.h"
#include "smime/smime.h"

#define MAX_MESSAGE (256u * 1024 * 1024)

bool
cli_read_all(const char *path, size_t max, struct buf *b, struct kerr *err)
{
	bool use_stdin = path == NULL || strcmp(path, "-") == 0;
	int fd = use_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok = false, sized = false;

	if (fd < 0) {
		kerr_set(err, KERR_PERM, "%s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((size_t)st.st_size > max) {
			kerr_set(err, KERR_PERM, "%s: larger than %zu bytes", path, max);
			goto out;
		}
		/* Exactly the file and one byte to see its end (buf_reserve would
		 * round a 34 MB message up to 64 MiB).  Read, not mapped: the
		 * signer reads the message more than once, and a file changed under
		 * a mapping between the reads would be signed inconsistently. */
		buf_reserve_exact(b, (size_t)st.st_size + 1);
		sized = true;
	}
	for (;;) {
		ssize_t n;

		if (!sized || b->cap - b->len - 1 == 0)
			buf_reserve(b, 65536);          /* a pipe, or a file that grew */
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kerr_set(err, KERR_PERM, "%s: %s", use_stdin ? "stdin" : path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len > max) {
			kerr_set(err, KERR_PERM, "%s: larger than %zu bytes", use_stdin ? "stdin" : path, max);
			goto out;
		}
	}
	ok = true;
out:
	if (!use_stdin)
		close(fd);
	return ok;
}

static bool
write_fd(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

bool
cli_write_all(const char *path, const char *data, size_t len, struct kerr *err)
{
	char *tmp = NULL, *dircopy = NULL;
	int fd = -1, dfd = -1;
	bool ok = false;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (!write_fd(1, data, len)) {
			kerr_set(err, KERR_PERM, "stdout: %s", strerror(errno));
			return false;
		}
		return true;
	}
	tmp = xasprintf("%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		kerr_set(err, KERR_PERM, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!write_fd(fd, data, len) || fsync(fd) != 0) {
		kerr_set(err, KERR_PERM, "%s: %s", path, strerror(errno));
		goto out;
	}
	(void)fchmod(fd, 0644);
	if (close(fd) != 0) {
		fd = -1;
		kerr_set(err, KERR_PERM, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		kerr_set(err, KERR_PERM, "%s: %s", path, strerror(errno));
		goto out;
	}
	dircopy = xstrdup(path);
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (!ok && tmp != NULL)
		unlink(tmp);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dircopy);
	return ok;
}

static void
sign_usage(FILE *fp)
{
	fputs("usage: kyso sign [--cert F --key F|pkcs11:URI [--chain F] [--pkcs11-module SO]\n"
	    "                  | --p12 F | --gpgsm FPR [--gnupghome D]]\n"
	    "                 [--pass-file F] [--digest sha256|sha384|sha512] [--opaque] [--rsa-pss]\n"
	    "                 [--trust F|D] [--intermediates F|D] [--crls D] [--organisation] [--keep-date]\n"
	    "                 [-o OUT] [IN]\n"
	    "Signs an RFC 5322 message (S/MIME). Reads IN or stdin, writes OUT or stdout.\n"
	    "The Date field is set to the signing time unless --keep-date is given.\n", fp);
}

int
cli_sign(int argc, char **argv)
{
	enum { O_CERT = 256, O_KEY, O_CHAIN, O_P12, O_GPGSM, O_GNUPGHOME, O_PASS, O_DIGEST, O_OPAQUE,
		O_PSS, O_TRUST, O_INTER, O_CRLS, O_ORG, O_MODULE, O_KEEPDATE };
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "chain", required_argument, NULL, O_CHAIN },
		{ "p12", required_argument, NULL, O_P12 },
		{ "gpgsm", required_argument, NULL, O_GPGSM },
		{ "gnupghome", required_argument, NULL, O_GNUPGHOME },
		{ "pass-file", required_argument, NULL, O_PASS },
		{ "pin-file", required_argument, NULL, O_PASS },
		{ "digest", required_argument, NULL, O_DIGEST },
		{ "opaque", no_argument, NULL, O_OPAQUE },
		{ "rsa-pss", no_argument, NULL, O_PSS },
		{ "trust", required_argument, NULL, O_TRUST },
		{ "intermediates", required_argument, NULL, O_INTER },
		{ "crls", required_argument, NULL, O_CRLS },
		{ "organisation", no_argument, NULL, O_ORG },
		{ "pkcs11-module", required_argument, NULL, O_MODULE },
		{ "keep-date", no_argument, NULL, O_KEEPDATE },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct smime_key_spec spec = { 0 };
	struct smime_sign_opts so = SMIME_SIGN_OPTS_INIT;
	const char *pass_file = NULL, *trust = NULL, *inter = NULL, *crls = NULL, *outpath = NULL, *in = NULL;
	struct smime_trust *t = NULL;
	struct smime_signer *s = NULL;
	struct buf msg = BUF_INIT, out = BUF_INIT;
	struct kerr err = KERR_INIT;
	char *secret = NULL;
	int ch, rc = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (ch) {
		case O_CERT: spec.cert = optarg; break;
		case O_KEY: spec.key = optarg; break;
		case O_CHAIN: spec.chain = optarg; break;
		case O_P12: spec.p12 = optarg; break;
		case O_GPGSM: spec.gpgsm = optarg; break;
		case O_GNUPGHOME: spec.gnupghome = optarg; break;
		case O_MODULE: spec.pkcs11_module = optarg; break;
		case O_PASS: pass_file = optarg; break;
		case O_OPAQUE: so.mode = SMIME_MODE_OPAQUE; break;
		case O_PSS: so.rsa_pss = true; break;
		case O_TRUST: trust = optarg; break;
		case O_INTER: inter = optarg; break;
		case O_CRLS: crls = optarg; break;
		case O_ORG: so.organisation = true; break;
		case O_KEEPDATE: so.set_date = false; break;
		case 'o': outpath = optarg; break;
		case O_DIGEST:
			if (strcmp(optarg, "sha256") == 0)
				so.digest = SMIME_DIGEST_SHA256;
			else if (strcmp(optarg, "sha384") == 0)
				so.digest = SMIME_DIGEST_SHA384;
			else if (strcmp(optarg, "sha512") == 0)
				so.digest = SMIME_DIGEST_SHA512;
			else {
				fprintf(stderr, "kyso sign: --digest must be sha256, sha384 or sha512\n");
				goto out;
			}
			break;
		case 'h':
			sign_usage(stdout);
			rc = 0;
			goto out;
		default:
			sign_usage(stderr);
			goto out;
		}
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "kyso sign: one input at a time\n");
		goto out;
	}
	in = optind < argc ? argv[optind] : NULL;
	if (pass_file != NULL && (secret = conf_read_secret(pass_file, &err)) == NULL)
		goto fail;
	spec.secret = secret;
	if ((trust != NULL || inter != NULL || crls != NULL) &&
	    (t = smime_trust_new(trust, inter, crls, &err)) == NULL)
		goto fail;
	so.trust = t;
	if ((s = smime_signer_open(&spec, &err)) == NULL)
		goto fail;
	if (!cli_read_all(in, MAX_MESSAGE, &msg, &err))
		goto fail;
	if (!smime_sign_message(s, &so, msg.data != NULL ? msg.data : "", msg.len, &out, &err))
		goto fail;
	if (!cli_write_all(outpath, out.data, out.len, &err))
		goto fail;
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "kyso sign: %s\n", err.msg);
	rc = err.cls == KERR_PERM || err.cls == KERR_CONFIG ? 1 : 2;
out:
	conf_secret_free(&secret);
	smime_signer_free(&s);
	smime_trust_free(&t);
	buf_release(&msg);
	buf_release(&out);
	return rc;
}
