/* verify-pdf.c - the signatures of a PDF and the document's verdict.
 *
 * smime/pdf.c says which signature dictionaries the file holds and exactly
 * which bytes each covers; here each CMS is checked over those bytes
 * (verify_cms) and the document is judged:
 *   valid          every signature is valid and the last one covers the
 *                  whole file;
 *   partial        every signature is valid but bytes were added after the
 *                  last one (modified-after-signing): an incremental update
 *                  nobody signed;
 *   invalid / malformed / indeterminate  the worst signature's;
 *   unsigned       no signature (document timestamps alone sign nothing).
 * A document timestamp (ETSI.RFC3161) is checked (imprint, TSA chain) and
 * reported; an invalid one makes the document invalid, but a valid one does
 * not count as covering the file: it proves when bytes existed, not who
 * wrote them, and anyone can timestamp a changed file.  kyso does not
 * analyse what an incremental update changed (pyHanko's form-filling vs
 * other modifications): any unsigned bytes after the last signature make
 * the document "partial". */
#include "config.h"

#include <string.h>
#include <time.h>

#include "smime/pdf.h"
#include "smime/verify.h"

#define VERIFY_MAX_PDF_SIGS 32  /* signatures checked in one PDF */

/* "D:YYYYMMDDHHmmSSOHH'mm'" (ISO 32000-1 7.9.4); 0 when unreadable. */
static int64_t
pdf_date(const char *s)
{
	int f[6] = { 0, 1, 1, 0, 0, 0 };
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	struct tm tm;
	int64_t t, off = 0;
	size_t i = 0;

	if (s == NULL)
		return 0;
	if (s[0] == 'D' && s[1] == ':')
		s += 2;
	for (int k = 0; k < 6; k++) {
		int v = 0, w;

		for (w = 0; w < width[k] && s[i] >= '0' && s[i] <= '9'; w++, i++)
			v = v * 10 + (s[i] - '0');
		if (w == 0 && k == 0)
			return 0;
		if (w == 0)
			break;
		if (w != width[k])
			return 0;
		f[k] = v;
	}
	if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60)
		return 0;
	if (s[i] == '+' || s[i] == '-') {
		int sign = s[i] == '-' ? -1 : 1, hh = 0, mm = 0;

		i++;
		if (s[i] >= '0' && s[i] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9') {
			hh = (s[i] - '0') * 10 + (s[i + 1] - '0');
			i += 2;
			if (s[i] == '\'')
				i++;
			if (s[i] >= '0' && s[i] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9')
				mm = (s[i] - '0') * 10 + (s[i + 1] - '0');
		}
		off = sign * ((int64_t)hh * 3600 + (int64_t)mm * 60);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	t = (int64_t)timegm(&tm);
	return t - off;
}

static bool
subfilter_is(const struct pdf_sig *s, const char *want)
{
	return s->subfilter != NULL && strcmp(s->subfilter, want) == 0;
}

/* The two ranges a ByteRange names, when they lie inside the file. */
static bool
ranges_of(const struct pdf_sig *s, size_t len, struct vrange r[2], const unsigned char *data)
{
	for (int k = 0; k < 2; k++) {
		int64_t off = s->byte_range[2 * k], n = s->byte_range[2 * k + 1];

		if (off < 0 || n < 0 || (uint64_t)off > len || (uint64_t)n > len - (uint64_t)off)
			return false;
		r[k].p = data + off;
		r[k].n = (size_t)n;
	}
	return true;
}

enum smime_verdict
verify_pdf(struct vctx *v, const char *where, const char *file, const unsigned char *data, size_t len,
    const char *sender, bool weak_ok, uint32_t *reasons_r)
{
	struct pdf_sig *sigs = NULL;
	struct kerr perr = KERR_INIT;
	enum smime_verdict sig_worst = SMIME_VERDICT_VALID, ts_worst = SMIME_VERDICT_VALID;
	uint32_t reasons = 0;
	size_t n = 0, nsig = 0;
	bool whole = false;

	*reasons_r = 0;
	if (!pdf_find_signatures(data, len, &sigs, &n, &perr)) {
		*reasons_r = SMIME_R_MALFORMED;
		return SMIME_VERDICT_MALFORMED;
	}
	if (n == 0)
		return SMIME_VERDICT_UNSIGNED;
	for (size_t i = 0; i < n; i++) {
		const struct pdf_sig *s = &sigs[i];
		bool ts = s->type == PDF_SIG_DOC_TIMESTAMP || subfilter_is(s, "ETSI.RFC3161");
		char *w = xasprintf("%s, %s %zu%s%s%s", where, ts ? "timestamp" : "signature", i + 1,
		    s->field != NULL ? " (" : "", s->field != NULL ? s->field : "", s->field != NULL ? ")" : "");
		struct vjob job;
		struct vresult res = VRESULT_INIT;
		char extra[200];

		memset(&job, 0, sizeof(job));
		job.where = w;
		job.file = file;
		job.kind = ts ? SMIME_KIND_PDF_TIMESTAMP : SMIME_KIND_PDF;
		job.covers = s->covers_whole_file ? SMIME_COVERS_WHOLE : SMIME_COVERS_PARTIAL_FILE;
		job.purpose = ts ? VP_TIMESTAMP : VP_DOCUMENT;
		job.content = ts ? VC_TSTINFO : subfilter_is(s, "adbe.pkcs7.sha1") ? VC_DIGEST_SHA1 : VC_DETACHED;
		job.der = s->contents;
		job.der_len = s->contents != NULL ? s->contents_len : 0;
		job.sender = sender;
		job.weak_ok = weak_ok;
		job.fallback_time = pdf_date(s->signing_time);
		if (i >= VERIFY_MAX_PDF_SIGS) {
			v->truncated = true;
			free(w);
			break;
		}
		if (!s->byte_range_ok) {
			job.extra_reasons = SMIME_R_PARTIAL_COVERAGE;
			snprintf(extra, sizeof(extra), "the ByteRange [%lld %lld %lld %lld] does not cover the file "
			    "except exactly its own signature value", (long long)s->byte_range[0],
			    (long long)s->byte_range[1], (long long)s->byte_range[2], (long long)s->byte_range[3]);
			job.extra_detail = extra;
			job.covers = SMIME_COVERS_PARTIAL_FILE;
		} else if (!s->covers_whole_file) {
			snprintf(extra, sizeof(extra), "covers the first %lld bytes; %lld bytes were added after it",
			    (long long)(s->byte_range[2] + s->byte_range[3]),
			    (long long)((int64_t)len - (s->byte_range[2] + s->byte_range[3])));
			job.extra_detail = extra;
		}
		if (s->contents == NULL) {
			struct smime_sig *ms = verify_sig_add(v, w, job.kind, job.covers, file);

			if (ms != NULL) {
				ms->reasons = SMIME_R_MALFORMED | job.extra_reasons;
				ms->verdict = SMIME_VERDICT_MALFORMED;
				ms->detail = xstrdup("the signature's /Contents cannot be read");
			}
			res.verdict = SMIME_VERDICT_MALFORMED;
			res.reasons = SMIME_R_MALFORMED;
		} else if (!ranges_of(s, len, job.ranges, data)) {
			struct smime_sig *ms = verify_sig_add(v, w, job.kind, job.covers, file);

			if (ms != NULL) {
				ms->reasons = SMIME_R_MALFORMED | SMIME_R_PARTIAL_COVERAGE;
				ms->verdict = SMIME_VERDICT_MALFORMED;
				ms->detail = xstrdup("the ByteRange points outside the file");
			}
			res.verdict = SMIME_VERDICT_MALFORMED;
			res.reasons = SMIME_R_MALFORMED;
		} else {
			job.n_ranges = 2;
			verify_cms(v, &job, &res);
			if (res.encrypted) {
				res.verdict = SMIME_VERDICT_MALFORMED;
				res.reasons = SMIME_R_MALFORMED;
			}
			vresult_release(&res);
		}
		free(w);
		if (ts) {
			/* an untrusted timestamp is only ignored; a wrong one is a failure */
			if (res.verdict == SMIME_VERDICT_INVALID || res.verdict == SMIME_VERDICT_MALFORMED) {
				ts_worst = verify_verdict_worst(ts_worst, res.verdict);
				reasons |= res.reasons;
			}
			continue;
		}
		nsig++;
		sig_worst = verify_verdict_worst(sig_worst, res.verdict);
		if (res.verdict != SMIME_VERDICT_VALID)
			reasons |= res.reasons;
		if (res.verdict == SMIME_VERDICT_VALID && s->covers_whole_file)
			whole = true;
	}
	pdf_sigs_free(&sigs, n);
	*reasons_r = reasons & ~verify_warnings(v->o->revocation);
	if (nsig == 0)
		return ts_worst != SMIME_VERDICT_VALID ? ts_worst : SMIME_VERDICT_UNSIGNED;
	sig_worst = verify_verdict_worst(sig_worst, ts_worst);
	if (sig_worst != SMIME_VERDICT_VALID)
		return sig_worst;
	if (!whole) {
		*reasons_r |= SMIME_R_MODIFIED_AFTER_SIGNING;
		return SMIME_VERDICT_PARTIAL;
	}
	return SMIME_VERDICT_VALID;
}
