# smime/: signing and verification. No network, no SQLite, no HTTP.
noinst_LIBRARIES += smime/libsmime.a
smime_libsmime_a_SOURCES = \
	smime/smime.h smime/base.h smime/smime-private.h \
	smime/base.c
smime_libsmime_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(GPGME_CFLAGS)
SMIME_LIBS = smime/libsmime.a $(OPENSSL_LIBS) $(GPGME_LIBS)
