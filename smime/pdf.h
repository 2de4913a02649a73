/*
 * pdf.h - finding the signatures inside a PDF (internal to smime/).
 *
 * No cryptography here: this says which signatures a file holds, what kind
 * each is, and exactly which bytes each one covers; smime/verify checks the
 * CMS over those bytes.  The input is hostile: every size, count and depth is
 * bounded (see pdf.c), and any input gives a result or a KERR_PERM error,
 * never a crash, a hang or unbounded memory.
 *
 *   struct pdf_sig *sigs; size_t n;
 *   if (!pdf_find_signatures(data, len, &sigs, &n, &err)) ...malformed: err says why...
 *   ...
 *   pdf_sigs_free(&sigs, n);
 */
#ifndef KYSO_SMIME_PDF_H
#define KYSO_SMIME_PDF_H

#include "smime/smime-private.h"

enum pdf_sig_type {
	PDF_SIG_SIGNATURE,          /* /Type /Sig (or none): an approval or certification signature */
	PDF_SIG_DOC_TIMESTAMP,      /* /Type /DocTimeStamp, /SubFilter /ETSI.RFC3161 */
};

struct pdf_sig {
	enum pdf_sig_type type;
	char *subfilter;            /* owned: "adbe.pkcs7.detached", "ETSI.CAdES.detached",
	                               "adbe.pkcs7.sha1", "ETSI.RFC3161", ... as written; or NULL */
	char *field;                /* owned, UTF-8: the signature field's /T, or NULL */
	char *name, *reason, *location;  /* owned, UTF-8 (PDF text strings decoded), or NULL */
	char *signing_time;         /* owned: /M as written ("D:20221005..."), or NULL */
	int64_t byte_range[4];      /* as written: offset1 length1 offset2 length2 */
	bool byte_range_ok;         /* starts at 0, the gap is exactly this dictionary's
	                               /Contents hex string (with its < >), all within the file */
	bool covers_whole_file;     /* byte_range_ok and offset2 + length2 == the file's length */
	unsigned char *contents;    /* owned: /Contents decoded from hex (the CMS DER; trailing
	                               zero padding removed when the DER length says so) */
	size_t contents_len;
	bool certification;         /* referenced from /Perms /DocMDP (certification signature) */
	size_t dict_offset;         /* where the signature dictionary starts, for messages */
};

/* Find every signature dictionary in data, in file order.  false (and err,
 * KERR_PERM) when data is not a readable PDF.  A PDF without signatures is
 * true with *n_r == 0. */
bool pdf_find_signatures(const unsigned char *data, size_t len, struct pdf_sig **sigs_r,
    size_t *n_r, struct kerr *err);
void pdf_sigs_free(struct pdf_sig **sigsp, size_t n);
/* true when data starts like a PDF ("%PDF-" within the first 1024 bytes). */
bool pdf_sniff(const unsigned char *data, size_t len);

#endif
