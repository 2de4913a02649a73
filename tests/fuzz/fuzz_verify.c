/*
 * libFuzzer harness: the message walker and everything behind it
 * (smime/verify.c, verify-cms.c, verify-pdf.c, with mime.c, pdf.c and
 * revocation.c under them).  Any input must give a report, never a crash,
 * a hang or unbounded memory; and the report must hold together: a verdict
 * and reason bits of the contract, every signature's strings present, and
 * "valid" only with a valid signature over the whole message.
 * Seeds: tests/fuzz/corpus/verify (signed by the PKI in fuzz-trust.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smime/smime.h"
#include "tests/fuzz/fuzz-trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smime_trust *trust;

static void
check_report(const struct smime_report *r)
{
	bool whole_valid = false;

	if (r->verdict > SMIME_VERDICT_MALFORMED || (r->reasons >> SMIME_REASON_COUNT) != 0)
		abort();
	if (r->verdict == SMIME_VERDICT_VALID && r->reasons != 0)
		abort();
	for (size_t i = 0; i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];

		if (s->where == NULL || smime_verdict_code(s->verdict) == NULL || smime_sig_kind_code(s->kind) == NULL ||
		    smime_coverage_code(s->covers) == NULL || (s->reasons >> SMIME_REASON_COUNT) != 0)
			abort();
		if (s->has_signer && (s->signer.subject == NULL || s->signer.sha256 == NULL || s->signer.serial == NULL))
			abort();
		for (size_t k = 0; k < s->n_chain; k++)
			if (s->chain[k] == NULL)
				abort();
		if (s->verdict == SMIME_VERDICT_VALID && s->covers == SMIME_COVERS_WHOLE &&
		    (s->kind == SMIME_KIND_MULTIPART_SIGNED || s->kind == SMIME_KIND_OPAQUE) &&
		    strcmp(s->where, "message") == 0)
			whole_valid = true;
	}
	if (r->verdict == SMIME_VERDICT_VALID && !whole_valid)
		abort();        /* valid without a valid signature over the whole message */
	for (size_t i = 0; i < r->n_attachments; i++)
		if (r->attachments[i].content_type == NULL || smime_verdict_code(r->attachments[i].verdict) == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct kerr err = KERR_INIT;
	struct smime_report *r;

	if (trust == NULL && (trust = fuzz_trust_new()) == NULL)
		abort();
	o.trust = trust;
	o.at = FUZZ_AT;
	o.attachment_digests = true;
	r = smime_verify_message((const char *)data, size, &o, &err);
	if (r == NULL)
		abort();        /* NULL is for internal errors only */
	check_report(r);
	smime_report_free(&r);
	return 0;
}
