# smime/: signing and verification. No network, no SQLite, no HTTP.
noinst_LIBRARIES += smime/libsmime.a
smime_libsmime_a_SOURCES = \
	smime/smime.h smime/base.h smime/smime-private.h \
	smime/base.c
smime_libsmime_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(GPGME_CFLAGS)
SMIME_LIBS = smime/libsmime.a $(OPENSSL_LIBS) $(GPGME_LIBS)
# signing: trust store, key backends (files, PKCS#11, gpgsm), CMS, message assembly
smime_libsmime_a_SOURCES += smime/trust.c smime/signer.c smime/pkcs11.c smime/gpgsm.c smime/sign.c
# MIME parsing and canonicalisation for signing (smime/mime.h is internal to smime/)
smime_libsmime_a_SOURCES += smime/mime.h smime/mime.c smime/canon.c
smime_libsmime_a_CFLAGS += $(LIBETPAN_CFLAGS)
SMIME_LIBS += $(LIBETPAN_LIBS)
# revocation: local CRLs, CRL distribution points and OCSP through the caller's fetcher
smime_libsmime_a_SOURCES += smime/revocation.h smime/revocation.c
# PDF signature dictionaries: finding them and their exact coverage (smime/pdf.h is internal)
smime_libsmime_a_SOURCES += smime/pdf.h smime/pdf.c
# verification: the message walker, one CMS's checks, PDF signatures, verdict words (smime/verify.h is internal)
smime_libsmime_a_SOURCES += smime/verify.h smime/verify.c smime/verify-cms.c smime/verify-pdf.c smime/verify-text.c
