/* gpgsm.c - the GPGME backend: signing with a key held by gpgsm (a keyring
 * in GNUPGHOME, or a smartcard reached through scdaemon).
 * gpgsm does no MIME or CRLF work: callers hand it the canonical bytes. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gpgme.h>
#include <openssl/x509.h>

#include "smime/smime-private.h"

struct gpg_signer {
	gpgme_ctx_t ctx;        /* owned */
	gpgme_key_t key;        /* owned reference */
	char *secret;           /* owned, wiped on free; NULL when the key has no passphrase */
};

static void
gpg_err(struct kerr *e, enum kerr_class cls, gpgme_error_t ge, const char *what)
{
	kerr_set(e, cls, "gpgsm: %s: %s (%s)", what, gpgme_strerror(ge), gpgme_strsource(ge));
}

static gpgme_error_t
passphrase_cb(void *hook, const char *uid_hint, const char *info, int prev_bad, int fd)
{
	struct gpg_signer *g = hook;
	size_t len;

	if (g->secret == NULL || prev_bad)
		return gpgme_error(GPG_ERR_BAD_PASSPHRASE);
	len = strlen(g->secret);
	if (gpgme_io_writen(fd, g->secret, len) != 0 || gpgme_io_writen(fd, "\n", 1) != 0)
		return gpgme_error(GPG_ERR_CANCELED);
	return 0;
}

struct gpg_signer *
smime_gpg_open(const char *fpr, const char *gnupghome, const char *secret, X509 **cert_r,
    struct kerr *err)
{
	struct gpg_signer *g = xcalloc(1, sizeof(*g));
	gpgme_data_t out = NULL;
	gpgme_error_t ge;
	const unsigned char *p;
	char *der = NULL;
	size_t len = 0;

	*cert_r = NULL;
	gpgme_check_version(NULL);
	ge = gpgme_engine_check_version(GPGME_PROTOCOL_CMS);
	if (ge != 0) {
		gpg_err(err, KERR_CONFIG, ge, "gpgsm is not available (install gpgsm)");
		goto fail;
	}
	if ((ge = gpgme_new(&g->ctx)) != 0 ||
	    (ge = gpgme_set_protocol(g->ctx, GPGME_PROTOCOL_CMS)) != 0 ||
	    (ge = gpgme_ctx_set_engine_info(g->ctx, GPGME_PROTOCOL_CMS, NULL, gnupghome)) != 0) {
		gpg_err(err, KERR_CONFIG, ge, "cannot start");
		goto fail;
	}
	gpgme_set_armor(g->ctx, 0);
	/* The signer and its intermediates, never the root (gpgsm: -2). */
	gpgme_set_include_certs(g->ctx, -2);
	if (secret != NULL) {
		g->secret = xstrdup(secret);
		gpgme_set_pinentry_mode(g->ctx, GPGME_PINENTRY_MODE_LOOPBACK);
		gpgme_set_passphrase_cb(g->ctx, passphrase_cb, g);
	}
	ge = gpgme_get_key(g->ctx, fpr, &g->key, 1);
	if (ge != 0) {
		gpg_err(err, KERR_CONFIG, ge, "no secret key for this fingerprint");
		kerr_prefix(err, "%s: ", fpr);
		goto fail;
	}
	/* The certificate itself, for the checks before signing. */
	if ((ge = gpgme_data_new(&out)) != 0 || (ge = gpgme_op_export(g->ctx, fpr, 0, out)) != 0) {
		gpg_err(err, KERR_CONFIG, ge, "cannot export the certificate");
		goto fail;
	}
	der = gpgme_data_release_and_get_mem(out, &len);
	out = NULL;
	p = (const unsigned char *)der;
	if (der == NULL || (*cert_r = d2i_X509(NULL, &p, (long)len)) == NULL) {
		kerr_set(err, KERR_CONFIG, "gpgsm: %s: exported certificate is unreadable", fpr);
		goto fail;
	}
	gpgme_free(der);
	return g;
fail:
	gpgme_free(der);
	gpgme_data_release(out);
	smime_gpg_free(&g);
	return NULL;
}

bool
smime_gpg_sign(struct gpg_signer *g, bool detached, const char *data, size_t len,
    struct buf *der_out, const char **micalg_r, struct kerr *err)
{
	gpgme_data_t in = NULL, out = NULL;
	gpgme_sign_result_t res;
	gpgme_error_t ge;
	bool ok = false;
	char chunk[65536];
	ssize_t n;

	gpgme_signers_clear(g->ctx);
	if ((ge = gpgme_signers_add(g->ctx, g->key)) != 0 ||
	    (ge = gpgme_data_new_from_mem(&in, data, len, 0)) != 0 ||
	    (ge = gpgme_data_new(&out)) != 0) {
		gpg_err(err, KERR_INTERNAL, ge, "cannot prepare");
		goto out;
	}
	ge = gpgme_op_sign(g->ctx, in, out, detached ? GPGME_SIG_MODE_DETACH : GPGME_SIG_MODE_NORMAL);
	if (ge != 0) {
		gpg_err(err, gpgme_err_code(ge) == GPG_ERR_BAD_PASSPHRASE ? KERR_CONFIG : KERR_TEMP, ge,
		    "signing failed");
		goto out;
	}
	res = gpgme_op_sign_result(g->ctx);
	if (res == NULL || res->signatures == NULL || res->invalid_signers != NULL) {
		kerr_set(err, KERR_CONFIG, "gpgsm: the key could not sign");
		goto out;
	}
	switch (res->signatures->hash_algo) {
	case GPGME_MD_SHA256: *micalg_r = "sha-256"; break;
	case GPGME_MD_SHA384: *micalg_r = "sha-384"; break;
	case GPGME_MD_SHA512: *micalg_r = "sha-512"; break;
	case GPGME_MD_SHA1:   *micalg_r = "sha-1"; break;
	default:
		kerr_set(err, KERR_CONFIG, "gpgsm signed with an unexpected digest (%s)",
		    gpgme_hash_algo_name(res->signatures->hash_algo));
		goto out;
	}
	gpgme_data_seek(out, 0, SEEK_SET);
	while ((n = gpgme_data_read(out, chunk, sizeof(chunk))) > 0)
		buf_append(der_out, chunk, (size_t)n);
	ok = n == 0;
	if (!ok)
		kerr_set(err, KERR_INTERNAL, "gpgsm: cannot read the signature");
out:
	gpgme_data_release(in);
	gpgme_data_release(out);
	return ok;
}

void
smime_gpg_free(struct gpg_signer **gp)
{
	struct gpg_signer *g;

	if (gp == NULL || *gp == NULL)
		return;
	g = *gp;
	if (g->key != NULL)
		gpgme_key_unref(g->key);
	if (g->ctx != NULL)
		gpgme_release(g->ctx);
	if (g->secret != NULL) {
		explicit_bzero(g->secret, strlen(g->secret));
		free(g->secret);
	}
	free(g);
	*gp = NULL;
}
