/*
 * libFuzzer harness: one CMS as kyso meets it in files (smime/verify-cms.c:
 * the fast parse that takes certificates from the cache, the checks of
 * each signerInfo, PEM/base64 decoding): the input as an enveloping .p7m,
 * and as a detached .p7s over a fixed document.  Any input gives a report,
 * never a crash; "valid" needs a valid signature entry.
 * Seeds: tests/fuzz/corpus/cms (the .p7s ones sign DOCUMENT below).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smime/smime.h"
#include "tests/fuzz/fuzz-trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char DOCUMENT[] = "Quyet dinh so 12/QD-UBND\r\n";
static struct smime_trust *trust;

static void
check(struct smime_report *r)
{
	bool any_valid = false;

	if (r == NULL || r->verdict > SMIME_VERDICT_MALFORMED)
		abort();
	for (size_t i = 0; i < r->n_sigs; i++)
		if (r->sigs[i].verdict == SMIME_VERDICT_VALID)
			any_valid = true;
	if (r->verdict == SMIME_VERDICT_VALID && !any_valid)
		abort();
	smime_report_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct kerr err = KERR_INIT;

	if (trust == NULL && (trust = fuzz_trust_new()) == NULL)
		abort();
	o.trust = trust;
	o.at = FUZZ_AT;
	o.allow_multiple_signers = size > 0 && (data[size - 1] & 1);
	check(smime_verify_document("QD-12.txt.p7m", (const char *)data, size, NULL, 0, &o, &err));
	check(smime_verify_document("QD-12.txt", DOCUMENT, strlen(DOCUMENT), (const char *)data, size, &o, &err));
	return 0;
}
