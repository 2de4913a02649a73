/*
 * smime-private.h - internals shared between smime/'s own files.
 * Nothing outside smime/ includes this header.
 */
#ifndef KYSO_SMIME_PRIVATE_H
#define KYSO_SMIME_PRIVATE_H

#include "smime/smime.h"

/* Set e from the OpenSSL error queue (which it drains), prefixed by fmt. */
void smime_err_openssl(struct kerr *e, enum kerr_class cls, const char *fmt, ...) KYSO_PRINTF(3, 4);

#endif
