/* pkcs11.c - private keys on PKCS#11 tokens through OpenSSL's pkcs11 engine
 * (Debian: libengine-pkcs11-openssl).  The key never leaves the token: we get
 * an EVP_PKEY handle whose operations the engine forwards to the token.
 * ENGINE is deprecated API in OpenSSL 3, but Debian 12 ships the token
 * bridge only as an engine; this file is the one place that uses it. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "config.h"

#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>

#include "smime/smime-private.h"

EVP_PKEY *
smime_pkcs11_load_key(const char *uri, const char *pin, const char *module, void **engine_r,
    struct kerr *err)
{
	ENGINE *e = NULL;
	EVP_PKEY *pkey = NULL;
	bool inited = false;

	*engine_r = NULL;
	ENGINE_load_builtin_engines();
	e = ENGINE_by_id("pkcs11");
	if (e == NULL) {
		smime_err_openssl(err, KERR_CONFIG,
		    "PKCS#11: OpenSSL's pkcs11 engine is missing (install libengine-pkcs11-openssl)");
		goto out;
	}
	if (module != NULL && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0)) {
		smime_err_openssl(err, KERR_CONFIG, "PKCS#11: cannot use module %s", module);
		goto out;
	}
	if (!ENGINE_init(e)) {
		smime_err_openssl(err, KERR_CONFIG, "PKCS#11: cannot start the pkcs11 engine");
		goto out;
	}
	inited = true;
	if (pin != NULL && !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		smime_err_openssl(err, KERR_CONFIG, "PKCS#11: cannot set the PIN");
		goto out;
	}
	pkey = ENGINE_load_private_key(e, uri, NULL, NULL);
	if (pkey == NULL) {
		smime_err_openssl(err, KERR_CONFIG,
		    "PKCS#11: cannot use the key %s (token missing, wrong PIN, or no such object)", uri);
		goto out;
	}
	*engine_r = e;
	return pkey;
out:
	if (e != NULL) {
		if (inited)
			ENGINE_finish(e);
		ENGINE_free(e);
	}
	return NULL;
}

void
smime_pkcs11_release(void **engine)
{
	if (engine == NULL || *engine == NULL)
		return;
	ENGINE_finish(*engine);
	ENGINE_free(*engine);
	*engine = NULL;
}
