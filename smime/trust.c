/* trust.c - trust anchors, the intermediates store, local CRLs, and small
 * certificate helpers shared by signing and verification. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "smime/smime-private.h"
#include "smime/revocation.h"

/* Call fn for path, or for each regular file in it when it is a folder
 * (sorted, hidden files and rehash links skipped: they repeat real files). */
static bool
for_each_file(const char *path, bool (*fn)(const char *file, void *ctx, struct kerr *err),
    void *ctx, struct kerr *err)
{
	struct dirent **names = NULL;
	struct stat st;
	bool ok = true;
	int n;

	if (stat(path, &st) != 0) {
		kerr_set(err, KERR_CONFIG, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode))
		return fn(path, ctx, err);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		kerr_set(err, KERR_CONFIG, "%s: %s", path, strerror(errno));
		return false;
	}
	for (int i = 0; i < n; i++) {
		char *file = xasprintf("%s/%s", path, names[i]->d_name);
		struct stat lst;

		if (ok && names[i]->d_name[0] != '.' && lstat(file, &lst) == 0 && S_ISREG(lst.st_mode))
			ok = fn(file, ctx, err);
		free(file);
		free(names[i]);
	}
	free(names);
	return ok;
}

static bool
load_certs_file(const char *file, void *ctx, struct kerr *err)
{
	STACK_OF(X509) *sk = ctx;
	BIO *bio = BIO_new_file(file, "rb");
	int before = sk_X509_num(sk);
	X509 *x;

	if (bio == NULL) {
		smime_err_openssl(err, KERR_CONFIG, "cannot read %s", file);
		return false;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	ERR_clear_error();      /* the end of the PEM stream reads as an error */
	if (sk_X509_num(sk) == before) {
		(void)BIO_reset(bio);
		x = d2i_X509_bio(bio, NULL);
		if (x != NULL)
			sk_X509_push(sk, x);
	}
	BIO_free(bio);
	if (sk_X509_num(sk) == before) {
		smime_err_openssl(err, KERR_CONFIG, "%s holds no certificate (PEM or DER)", file);
		return false;
	}
	return true;
}

bool
smime_load_certs(const char *path, STACK_OF(X509) **sk, struct kerr *err)
{
	if (*sk == NULL)
		*sk = sk_X509_new_null();
	return for_each_file(path, load_certs_file, *sk, err);
}

static bool
load_crls_file(const char *file, void *ctx, struct kerr *err)
{
	struct smime_trust *t = ctx;
	BIO *bio = BIO_new_file(file, "rb");
	X509_CRL *crl;
	int count = 0;

	if (bio == NULL) {
		smime_err_openssl(err, KERR_CONFIG, "cannot read %s", file);
		return false;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_crl(t->store, crl);
		X509_CRL_free(crl);
		count++;
	}
	ERR_clear_error();
	if (count == 0) {
		(void)BIO_reset(bio);
		crl = d2i_X509_CRL_bio(bio, NULL);
		if (crl != NULL) {
			X509_STORE_add_crl(t->store, crl);
			X509_CRL_free(crl);
			count++;
		}
	}
	BIO_free(bio);
	if (count == 0) {
		smime_err_openssl(err, KERR_CONFIG, "%s holds no CRL (PEM or DER)", file);
		return false;
	}
	t->have_crls = true;
	return true;
}

struct smime_trust *
smime_trust_new(const char *anchors, const char *intermediates, const char *crls, struct kerr *err)
{
	struct smime_trust *t = xcalloc(1, sizeof(*t));
	STACK_OF(X509) *roots = NULL;

	t->store = X509_STORE_new();
	t->intermediates = sk_X509_new_null();
	t->rev_cache = smime_rev_cache_new();
	if (t->store == NULL || t->intermediates == NULL) {
		kerr_set(err, KERR_INTERNAL, "out of memory");
		goto fail;
	}
	if (anchors != NULL) {
		if (!smime_load_certs(anchors, &roots, err)) {
			kerr_prefix(err, "trust anchors: ");
			goto fail;
		}
		for (int i = 0; i < sk_X509_num(roots); i++)
			X509_STORE_add_cert(t->store, sk_X509_value(roots, i));
		ERR_clear_error();      /* duplicates are harmless */
	}
	if (intermediates != NULL && !smime_load_certs(intermediates, &t->intermediates, err)) {
		kerr_prefix(err, "intermediates: ");
		goto fail;
	}
	if (crls != NULL && !for_each_file(crls, load_crls_file, t, err)) {
		kerr_prefix(err, "CRLs: ");
		goto fail;
	}
	sk_X509_pop_free(roots, X509_free);
	return t;
fail:
	sk_X509_pop_free(roots, X509_free);
	smime_trust_free(&t);
	return NULL;
}

void
smime_trust_free(struct smime_trust **tp)
{
	struct smime_trust *t;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->intermediates, X509_free);
	smime_rev_cache_free(&t->rev_cache);
	free(t);
	*tp = NULL;
}

static void
lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void
push_email(char ***v, size_t *n, const unsigned char *data, int len)
{
	char *e;

	if (data == NULL || len <= 0 || memchr(data, '\0', (size_t)len) != NULL)
		return;
	e = xstrndup((const char *)data, (size_t)len);
	lower_ascii(e);
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*v)[i], e) == 0) {
			free(e);
			return;
		}
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = e;
}

char **
smime_cert_emails(X509 *cert, size_t *n_r)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	const X509_NAME *subj = X509_get_subject_name(cert);
	char **v = NULL;
	size_t n = 0;
	int idx = -1;

	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

		if (gn->type == GEN_EMAIL)
			push_email(&v, &n, ASN1_STRING_get0_data(gn->d.rfc822Name),
			    ASN1_STRING_length(gn->d.rfc822Name));
	}
	GENERAL_NAMES_free(sans);
	while ((idx = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, idx)) >= 0) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));

		push_email(&v, &n, ASN1_STRING_get0_data(d), ASN1_STRING_length(d));
	}
	*n_r = n;
	return v;
}

void
smime_strv_free(char ***vp, size_t n)
{
	if (vp == NULL || *vp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*vp)[i]);
	free(*vp);
	*vp = NULL;
}

char *
smime_name_text(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long len;

	X509_NAME_print_ex(bio, name, 0, (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT);
	len = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	return s;
}
