/*
 * pdf.h - finding the signatures inside a PDF (internal to smime/).
 *
 * No cryptography here: this says which signatures a file holds, what kind
 * each is, and exactly which bytes each one covers; smime/verify checks the
 * CMS over those bytes.  The input is hostile: every size, count and depth is
 * bounded (see pdf.c), and any input gives a result or a KERR_PERM error,
 * never a crash, a hang or unbounded memory.  docs/PDF-SIGNATURES.md has the
 * rules in prose.
 *
 *   struct pdf_sig *sigs; size_t n;
 *   if (!pdf_find_signatures(data, len, &sigs, &n, &err)) ...malformed: err says why...
 *   ...
 *   pdf_sigs_free(&sigs, n);
 *
 * What the verifier does with each signature, by subfilter:
 *   adbe.pkcs7.detached, ETSI.CAdES.detached: contents is a CMS SignedData
 *     without eContent; the signed content is the bytes of the two ranges,
 *     data[byte_range[0] .. +byte_range[1]) then data[byte_range[2] .. +byte_range[3]).
 *   adbe.pkcs7.sha1 (legacy): contents is an *enveloping* CMS SignedData; its
 *     eContent is the 20-byte SHA-1 digest of those same range bytes.  Check
 *     that digest, then the CMS over its eContent.
 *   ETSI.RFC3161 (type PDF_SIG_DOC_TIMESTAMP): contents is an RFC 3161
 *     TimeStampToken; its TSTInfo messageImprint is the digest of the range
 *     bytes.  It proves when the file existed, not who signed it.
 * Only a signature with byte_range_ok may be shown as a document signature.
 * The file was changed after its last signature when no signature that
 * verifies has covers_whole_file (later signatures, timestamps and other
 * incremental updates are what make earlier ones not cover the whole file).
 */
#ifndef KYSO_SMIME_PDF_H
#define KYSO_SMIME_PDF_H

#include "smime/smime-private.h"

enum pdf_sig_type {
	PDF_SIG_SIGNATURE,          /* /Type /Sig (or none): an approval or certification signature */
	PDF_SIG_DOC_TIMESTAMP,      /* /Type /DocTimeStamp, or /SubFilter /ETSI.RFC3161 */
};

struct pdf_sig {
	enum pdf_sig_type type;
	char *subfilter;            /* owned: "adbe.pkcs7.detached", "ETSI.CAdES.detached",
	                               "adbe.pkcs7.sha1", "ETSI.RFC3161", ... as written (#xx
	                               escapes decoded, bytes outside '!'..'~' as '?'); or NULL */
	char *field;                /* owned, UTF-8: the signature field's name (its /T, with
	                               its parents' /T joined by '.'), or NULL (best effort) */
	char *name, *reason, *location;  /* owned, UTF-8 (PDF text strings decoded), or NULL */
	char *signing_time;         /* owned: /M as written ("D:20221005..."), or NULL */
	int64_t byte_range[4];      /* as written: offset1 length1 offset2 length2 (0 when
	                               absent; the first four when there are more) */
	bool byte_range_ok;         /* exactly four non-negative integers, starting at 0; the gap
	                               is exactly this dictionary's /Contents hex string (with
	                               its < >, well-formed, unique in the dictionary); the
	                               second range ends within the file; the dictionary itself
	                               lies within the signed bytes */
	bool covers_whole_file;     /* byte_range_ok and offset2 + length2 == the file's length */
	unsigned char *contents;    /* owned: /Contents decoded from hex (the CMS DER; trailing
	                               zero padding removed when the DER length says so), or
	                               NULL when absent, not a string or over the size limit */
	size_t contents_len;
	bool certification;         /* referenced from /Perms /DocMDP, or its own /Reference
	                               has a DocMDP transform (certification signature) */
	size_t dict_offset;         /* where the signature dictionary starts, for messages */
	int docmdp_p;               /* certification only: the DocMDP permissions /P, 1 = no
	                               changes allowed, 2 = form filling and signing, 3 = also
	                               annotations (2 when not stated); 0 otherwise */
};

/* Find every signature dictionary in data, in file order.  false (and err,
 * KERR_PERM) when data is not a readable PDF (no "%PDF-" in the first 1024
 * bytes) or holds more signature dictionaries than the limit.  A PDF without
 * signatures is true with *n_r == 0 and *sigs_r == NULL.  Caller owns
 * *sigs_r; data is only borrowed during the call. */
bool pdf_find_signatures(const unsigned char *data, size_t len, struct pdf_sig **sigs_r,
    size_t *n_r, struct kerr *err);
/* Free the array and everything in it; accepts NULL; sets *sigsp = NULL. */
void pdf_sigs_free(struct pdf_sig **sigsp, size_t n);
/* true when data starts like a PDF ("%PDF-" within the first 1024 bytes). */
bool pdf_sniff(const unsigned char *data, size_t len);

#endif
