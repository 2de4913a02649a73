/*
 * smime.h - kyso's S/MIME library: signing and verification of mail and
 * documents.  No network, no SQLite, no HTTP: callers hand it bytes and
 * configuration and get bytes and verdicts back.
 *
 * How to use: see the sections below as they are filled in (signing,
 * verification).  Every fallible call takes a `struct kerr *` (smime/base.h).
 * No OpenSSL or GPGME type appears in this header.
 */
#ifndef KYSO_SMIME_H
#define KYSO_SMIME_H

#include "smime/base.h"

/* The library's version string, e.g. "kyso 0.1.0 (OpenSSL 3.0.x, GPGME 1.18.0)".
 * Borrowed, static. */
const char *smime_version(void);

#endif
