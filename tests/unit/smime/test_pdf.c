/*
 * Unit tests of smime/pdf.c: finding a PDF's signature dictionaries and the
 * exact bytes each covers.  Table-driven, with bad inputs in every table:
 *   synthetic  small PDFs written here from templates (the ByteRange filled in
 *              by the test), hostile structure: decoys in strings, streams and
 *              comments, nesting, duplicates, numbers, encodings, limits
 *   text       PDF text strings (PDFDocEncoding, UTF-16BE, UTF-8, escapes)
 *   files      PDFs signed by tests/data/mkpdf with the test PKI; every range
 *              is checked against what the generator computed, and every
 *              signature we extract is verified by openssl over exactly the
 *              bytes we say it covers (cms -verify, ts -verify, SHA-1 eContent)
 *   prefixes   every prefix of a signed PDF: no crash, and every answer is
 *              consistent with the whole file's
 *   corpus     pyHanko's signed PDFs (/work/shared/corpora/pyhanko-pdf): the
 *              signatures and coverage its verdicts.tsv records, and openssl
 *              agrees with our extraction where it said crypto=OK
 *   hostile    pathological inputs finish quickly (linear time, bounded memory)
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "smime/pdf.h"
#include "tests/unit/testmain.h"

/* --- helpers --- */

static const char NONE[] = "\001must be NULL";  /* expectation: the field is NULL */
#define ANY NULL                                 /* expectation: not checked */

static void
check_str(const char *got, const char *want, const char *what, const char *name, size_t i)
{
	if (want == ANY)
		return;
	if (want == NONE) {
		ck_assert_msg(got == NULL, "%s: sig %zu: %s is \"%s\", want NULL", name, i, what, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: sig %zu: %s is NULL, want \"%s\"", name, i, what, want);
	ck_assert_msg(strcmp(got, want) == 0, "%s: sig %zu: %s is \"%s\", want \"%s\"", name, i, what,
	    got, want);
}

static unsigned char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char chunk[65536];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return (unsigned char *)buf_steal(&b, len_r);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
openssl_cli(void)
{
	const char *o = getenv("OPENSSL_CLI");

	return o != NULL && *o != '\0' ? o : "openssl";
}

/* The bytes a signature covers (the two ranges), which must be in the file. */
static void
range_bytes(const unsigned char *d, size_t len, const struct pdf_sig *s, struct buf *out)
{
	ck_assert(s->byte_range_ok);
	ck_assert((uint64_t)s->byte_range[2] + (uint64_t)s->byte_range[3] <= len);
	buf_append(out, d + s->byte_range[0], (size_t)s->byte_range[1]);
	buf_append(out, d + s->byte_range[2], (size_t)s->byte_range[3]);
}

/* --- templates: "@C@" is a hex /Contents (a 5-byte DER + zero padding);
 * "@BR@" its ByteRange, the second range running to the end of the first
 * "%%EOF\n" after it (the end of its revision) or of the file; "@BRZ@" the
 * same written with leading zeros; "@BR0@" the same with length2 0 --- */

#define C_HEX "<3003020105" "0000000000000000000000000000000000000000000000000000000000000000" ">"
#define BR_PH "[0 __________ __________ __________]"

static void
replace_all(struct buf *b, const char *from, const char *to)
{
	struct buf out = BUF_INIT;
	size_t fl = strlen(from);
	const char *p = b->data, *q;

	while ((q = memmem(p, b->len - (size_t)(p - b->data), from, fl)) != NULL) {
		buf_append(&out, p, (size_t)(q - p));
		buf_appends(&out, to);
		p = q + fl;
	}
	buf_append(&out, p, b->len - (size_t)(p - b->data));
	buf_release(b);
	*b = out;
}

static void
expand(const char *tmpl, size_t tlen, struct buf *b)
{
	char *ph;

	buf_append(b, tmpl, tlen);
	replace_all(b, "@C@", C_HEX);
	replace_all(b, "@BR0@", "[0 __________ __________ ~~~~~~~~~~]");
	replace_all(b, "@BRZ@", "[0 _________Z __________ __________]");
	replace_all(b, "@BR@", BR_PH);
	while ((ph = memmem(b->data, b->len, "[0 _________", 12)) != NULL) {
		char *c = memmem(ph, b->len - (size_t)(ph - b->data), C_HEX, strlen(C_HEX));
		size_t l1, o2, end = b->len;
		char num[40], *eof;

		if (c == NULL) {        /* the Contents before the ByteRange */
			for (char *q = b->data; (q = memmem(q, (size_t)(ph - q), C_HEX, strlen(C_HEX))) != NULL; q++)
				c = q;
		}
		ck_assert_ptr_nonnull(c);
		l1 = (size_t)(c - b->data);
		o2 = l1 + strlen(C_HEX);
		eof = memmem(ph, b->len - (size_t)(ph - b->data), "%%EOF\n", 6);
		if (eof != NULL)
			end = (size_t)(eof - b->data) + 6;
		if (ph[25] == '~')
			end = o2;
		snprintf(num, sizeof(num), ph[12] == 'Z' ? "%010zu %010zu %010zu" : "%-10zu %-10zu %-10zu", l1, o2,
		    end - o2);
		memcpy(ph + 3, num, 32);
	}
}

/* --- synthetic PDFs --- */

struct exp_sig {
	bool ok, whole;
	enum pdf_sig_type type;
	const char *subfilter, *field, *name;
	bool cert;
	int p;
	size_t clen;            /* 0: not checked */
	bool no_contents;       /* contents must be NULL */
};

struct syn_case {
	const char *name;
	const char *tmpl;
	bool fails;             /* pdf_find_signatures says false */
	size_t n;
	struct exp_sig s[3];
};

#define SIG "<< /Type /Sig /SubFilter /adbe.pkcs7.detached /ByteRange @BR@ /Contents @C@ >>"
#define HDR "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
#define OK1 { .ok = true, .whole = true, .subfilter = "adbe.pkcs7.detached", .clen = 5 }
#define W .ok = true, .whole = true

static const struct syn_case synthetic[] = {
	{ "minimal", HDR "1 0 obj\n" SIG "\nendobj\n%%EOF\n", false, 1, { OK1 } },
	{ "no header", "1 0 obj\n" SIG "\nendobj\n", true, 0, { { 0 } } },
	{ "empty", "", true, 0, { { 0 } } },
	{ "header only", "%PDF-", false, 0, { { 0 } } },
	{ "no signature", HDR "1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n", false, 0,
	  { { 0 } } },
	{ "junk before the header", "\x01\x02junk\n" HDR "1 0 obj\n" SIG "\nendobj\n", false, 1, { OK1 } },
	{ "CR line ends", "%PDF-1.4\r1 0 obj\r" SIG "\rendobj\r", false, 1, { OK1 } },
	{ "no whitespace at all", "%PDF-1.4\n1 0 obj<</Type/Sig/SubFilter/adbe.pkcs7.detached/ByteRange@BR@"
	  "/Contents@C@>>endobj", false, 1, { OK1 } },
	{ "leading zeros in ByteRange", HDR "1 0 obj\n<< /Type /Sig /SubFilter /adbe.pkcs7.detached "
	  "/ByteRange @BRZ@ /Contents @C@ >>\nendobj\n", false, 1, { OK1 } },
	{ "Contents before ByteRange", HDR "1 0 obj\n<< /Contents @C@ /Type /Sig /ByteRange @BR@ >>\nendobj\n",
	  false, 1, { { .ok = true, .whole = true } } },
	{ "names with #xx", HDR "1 0 obj\n<< /Type /Sig /SubFilter /adbe#2Epkcs7#2edetached /Byte#52ange @BR@ "
	  "/Contents @C@ >>\nendobj\n", false, 1, { OK1 } },
	{ "bytes after its %%EOF", HDR "1 0 obj\n" SIG "\nendobj\n%%EOF\n((( <<", false, 1,
	  { { .ok = true, .whole = false } } },
	{ "an update after it", HDR "1 0 obj\n" SIG "\nendobj\n%%EOF\n2 0 obj << /A 1 >> endobj\n%%EOF\n", false, 1,
	  { { .ok = true, .whole = false } } },
	/* decoys: none of these is a signature dictionary */
	{ "in a literal string", HDR "1 0 obj\n<< /Title (" SIG ") >>\nendobj\n", false, 0, { { 0 } } },
	{ "in a string with escapes", HDR "1 0 obj\n(\\) " SIG " \\() endobj\n", false, 0, { { 0 } } },
	{ "in a comment", HDR "% 1 0 obj " SIG "\n", false, 0, { { 0 } } },
	{ "in a stream", HDR "1 0 obj\n<< /Length 200 >>\nstream\n" SIG "\nendstream\nendobj\n", false, 0,
	  { { 0 } } },
	{ "in a stream, indirect Length", HDR "1 0 obj\n<< /Length 2 0 R >>\nstream\n2 0 obj " SIG
	  " endobj\nendstream\nendobj\n", false, 0, { { 0 } } },
	{ "in a stream past a fake endstream (Length skips it)",
	  HDR "1 0 obj\n<< /Length 9 >>\nstream\nendstream\nendstream\nendobj\n"
	  "2 0 obj\n<< /Length 87 >>\nstream\nxx endstream endobj 3 0 obj << /Type /Sig /ByteRange [0 1 2 3] "
	  "/Contents <00> >> endobj\nendstream\nendobj\n", false, 0, { { 0 } } },
	{ "stream without endstream, Length right", HDR "1 0 obj\n<< /Length 4 >>\nstream\nabcd\nendobj\n"
	  "2 0 obj\n" SIG "\nendobj\n3 0 obj << /Length 1 >> stream\nx\nendstream endobj\n", false, 1,
	  { { .ok = true, .whole = true } } },
	{ "in a stream, wrong Length", HDR "1 0 obj\n<< /Length 3 >>\nstream\n" SIG "\nendstream\nendobj\n",
	  false, 0, { { 0 } } },
	{ "in a stream without endstream", HDR "1 0 obj\n<< /Length 5 >>\nstream\n3 0 obj " SIG " endobj\n",
	  false, 0, { { 0 } } },
	{ "outside any object", HDR SIG "\n", false, 0, { { 0 } } },
	{ "in the trailer", HDR "trailer\n" SIG "\n", false, 0, { { 0 } } },
	{ "unclosed dictionary", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ \nendobj\n", false, 0,
	  { { 0 } } },
	{ "after an unterminated string", HDR "1 0 obj (unterminated endobj\n2 0 obj\n" SIG "\nendobj\n", false, 0,
	  { { 0 } } },
	{ "after an unterminated hex string", HDR "1 0 obj <414 endobj\n2 0 obj\n" SIG "\nendobj\n", false, 0,
	  { { 0 } } },
	/* found, with recovery */
	{ "object left open", HDR "1 0 obj << /A [ 1 2 \n2 0 obj\n" SIG "\nendobj\n", false, 1, { OK1 } },
	{ "inside an array", HDR "1 0 obj\n[ " SIG " ]\nendobj\n", false, 1, { OK1 } },
	{ "direct /V of a field", HDR "1 0 obj\n<< /FT /Sig /T (F\\351) /V " SIG " >>\nendobj\n", false, 1,
	  { { .ok = true, .whole = true, .field = "F\xc3\xa9" } } },
	{ "field by reference, parents",
	  HDR "1 0 obj << /T (top) >> endobj\n2 0 obj << /T (mid) /Parent 1 0 R >> endobj\n"
	  "3 0 obj << /FT /Sig /T (leaf) /Parent 2 0 R /V 4 0 R >> endobj\n4 0 obj\n" SIG "\nendobj\n", false, 1,
	  { { W, .field = "top.mid.leaf" } } },
	{ "field parent loop", HDR "1 0 obj << /T (a) /Parent 2 0 R >> endobj\n2 0 obj << /T (b) /Parent 1 0 R "
	  "/V 3 0 R >> endobj\n3 0 obj\n" SIG "\nendobj\n", false, 1, { { W, .field = ANY } } },
	{ "field replaced by a later revision",
	  HDR "1 0 obj << /T (old) /V 2 0 R >> endobj\n2 0 obj\n" SIG "\nendobj\n1 0 obj << /T (new) /V 2 0 R >> "
	  "endobj\n", false, 1, { { W, .field = "new" } } },
	{ "no field", HDR "1 0 obj\n" SIG "\nendobj\n", false, 1, { { W, .field = NONE } } },
	{ "document timestamp by /Type", HDR "1 0 obj\n<< /Type /DocTimeStamp /ByteRange @BR@ /Contents @C@ >>\n"
	  "endobj\n", false, 1, { { W, .type = PDF_SIG_DOC_TIMESTAMP, .subfilter = NONE } } },
	{ "document timestamp by /SubFilter", HDR "1 0 obj\n<< /Type /Sig /SubFilter /ETSI.RFC3161 "
	  "/ByteRange @BR@ /Contents @C@ >>\nendobj\n", false, 1,
	  { { W, .type = PDF_SIG_DOC_TIMESTAMP, .subfilter = "ETSI.RFC3161" } } },
	{ "odd bytes in the subfilter", HDR "1 0 obj\n<< /SubFilter /a#01b#FFc /ByteRange @BR@ /Contents @C@ >>\n"
	  "endobj\n", false, 1, { { W, .subfilter = "a?b?c" } } },
	{ "subfilter not a name", HDR "1 0 obj\n<< /SubFilter (adbe.pkcs7.detached) /ByteRange @BR@ "
	  "/Contents @C@ >>\nendobj\n", false, 1, { { W, .subfilter = NONE } } },
	{ "/Type /Sig without ByteRange", HDR "1 0 obj\n<< /Type /Sig /Contents <3003020105> >>\nendobj\n", false,
	  1, { { .ok = false, .clen = 5 } } },
	{ "/Type /Sig without Contents or ByteRange", HDR "1 0 obj\n<< /Type /Sig >>\nendobj\n", false, 0,
	  { { 0 } } },
	/* certification */
	{ "certification, direct",
	  HDR "1 0 obj << /Type /Catalog /Perms << /DocMDP 2 0 R >> >> endobj\n2 0 obj\n"
	  "<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Reference [ << /Type /SigRef /TransformMethod /DocMDP "
	  "/TransformParams << /Type /TransformParams /P 1 /V /1.2 >> >> ] >>\nendobj\n", false, 1,
	  { { W, .cert = true, .p = 1 } } },
	{ "certification, all indirect",
	  HDR "1 0 obj << /Type /Catalog /Perms 2 0 R >> endobj\n2 0 obj << /DocMDP 3 0 R >> endobj\n3 0 obj\n"
	  "<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Reference [ 4 0 R ] >>\nendobj\n"
	  "4 0 obj << /Type /SigRef /TransformMethod /DocMDP /TransformParams 5 0 R >> endobj\n"
	  "5 0 obj << /Type /TransformParams /P 3 >> endobj\n", false, 1, { { W, .cert = true, .p = 3 } } },
	{ "certification, P not stated",
	  HDR "1 0 obj << /Perms << /DocMDP 2 0 R >> >> endobj\n2 0 obj\n" SIG "\nendobj\n", false, 1,
	  { { W, .cert = true, .p = 2 } } },
	{ "certification, out-of-range P",
	  HDR "2 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Reference [ << /TransformMethod /DocMDP "
	  "/TransformParams << /P 7 >> >> ] >>\nendobj\n", false, 1, { { W, .cert = true, .p = 2 } } },
	{ "not certification: UR3 and FieldMDP",
	  HDR "1 0 obj << /Perms << /UR3 2 0 R >> >> endobj\n2 0 obj\n<< /Type /Sig /ByteRange @BR@ "
	  "/Contents @C@ /Reference [ << /TransformMethod /FieldMDP >> ] >>\nendobj\n", false, 1,
	  { { W, .cert = false, .p = 0 } } },
	/* encryption: only /Contents is not encrypted */
	{ "encrypted (trailer)", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Name (x) >>\nendobj\n"
	  "2 0 obj << /FT /Sig /T (f) /V 1 0 R >> endobj\ntrailer << /Encrypt 5 0 R >>\n", false, 1,
	  { { W, .name = NONE, .field = NONE } } },
	{ "encrypted (xref stream)", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Name (x) >>\n"
	  "endobj\n2 0 obj << /Type /XRef /Encrypt << /Filter /Standard >> /Length 0 >> stream\n\nendstream "
	  "endobj\n", false, 1, { { W, .name = NONE } } },
	{ "not encrypted: /Encrypt elsewhere", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ "
	  "/Name (x) /Encrypt 3 0 R >>\nendobj\n", false, 1, { { W, .name = "x" } } },
	/* ByteRange and Contents: refused */
	{ "dictionary outside the signed bytes", HDR "1 0 obj\n<< /Type /Sig /Contents @C@ /ByteRange @BR0@ >>\n"
	  "endobj\n", false, 1, { { .ok = false } } },
	{ "second range short of the dictionary", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR0@ /Contents @C@ >>\n"
	  "endobj\n", false, 1, { { .ok = false } } },
	{ "duplicate /Contents", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Contents <00> >>\n"
	  "endobj\n", false, 1, { { .ok = false } } },
	{ "duplicate /ByteRange", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /ByteRange [0 1 2 3] "
	  ">>\nendobj\n", false, 1, { { .ok = false } } },
	{ "ByteRange of two ranges' worth plus one", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3 4] "
	  "/Contents @C@ >>\nendobj\n", false, 1, { { .ok = false } } },
	{ "ByteRange with a reference", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 0 R] /Contents @C@ >>\n"
	  "endobj\n", false, 1, { { .ok = false } } },
	{ "ByteRange a dictionary", HDR "1 0 obj\n<< /Type /Sig /ByteRange << /A 1 >> /Contents @C@ >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "ByteRange nested array", HDR "1 0 obj\n<< /Type /Sig /ByteRange [[0 1] 2 3] /Contents @C@ >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "Contents a reference", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] /Contents 5 0 R >>\nendobj\n",
	  false, 1, { { .ok = false, .no_contents = true } } },
	{ "Contents an array", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] /Contents [<00>] >>\nendobj\n",
	  false, 1, { { .ok = false, .no_contents = true } } },
	{ "key without value", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Name >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "value without key", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ 42 >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "stray keyword", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /X foo >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "stray ) in the dictionary", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /X ) >>\nendobj\n",
	  false, 1, { { .ok = false } } },
	{ "too deep inside", HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /X "
	  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] >>\nendobj\n", false, 1,
	  { { .ok = false } } },
	{ "deep elsewhere, fine here", HDR "1 0 obj\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ << >> ]]]]]]]\nendobj\n"
	  "2 0 obj\n" SIG "\nendobj\n", false, 1, { OK1 } },
	{ "unbalanced deep elsewhere", HDR "1 0 obj [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ endobj\n"
	  "2 0 obj\n" SIG "\nendobj\n", false, 1, { OK1 } },
	/* Contents decoding */
	{ "Contents BER indefinite length", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] "
	  "/Contents <308002010500000000000000> >>\nendobj\n", false, 1, { { .ok = false, .clen = 7 } } },
	{ "Contents all zero", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] /Contents <00000000> >>\nendobj\n",
	  false, 1, { { .ok = false, .clen = 4 } } },
	{ "Contents with junk after the DER", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] "
	  "/Contents <3003020105000001> >>\nendobj\n", false, 1, { { .ok = false, .clen = 8 } } },
	{ "Contents DER length beyond", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] "
	  "/Contents <3084FFFFFFFF0000> >>\nendobj\n", false, 1, { { .ok = false, .clen = 8 } } },
	{ "Contents with spaces", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] "
	  "/Contents <30 03 02\n01 05 00> >>\nendobj\n", false, 1, { { .ok = false, .clen = 5 } } },
	{ "Contents literal", HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 1 2 3] /Contents (0\\003\\002\\001\\005) >>\n"
	  "endobj\n", false, 1, { { .ok = false, .clen = 5 } } },
	/* several */
	{ "two in one file, only the last covers it",
	  HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 10 20 30] /Contents <00> >>\nendobj\n2 0 obj\n" SIG "\nendobj\n",
	  false, 2, { { .ok = false }, OK1 } },
	{ "nested signature dictionaries, file order",
	  HDR "1 0 obj\n<< /Type /Sig /X << /Type /Sig /Contents <3003020106> >> /Contents <3003020107> >>\n"
	  "endobj\n", false, 2, { { .ok = false, .clen = 5 }, { .ok = false, .clen = 5 } } },
};

static void
check_sig(const struct pdf_sig *s, const struct exp_sig *e, const char *name, size_t i)
{
	ck_assert_msg(s->byte_range_ok == e->ok, "%s: sig %zu: byte_range_ok %d", name, i, s->byte_range_ok);
	ck_assert_msg(s->covers_whole_file == e->whole, "%s: sig %zu: covers_whole_file %d", name, i,
	    s->covers_whole_file);
	ck_assert_msg(!s->covers_whole_file || s->byte_range_ok, "%s: whole without ok", name);
	ck_assert_msg(s->type == e->type, "%s: sig %zu: type %d", name, i, s->type);
	check_str(s->subfilter, e->subfilter, "subfilter", name, i);
	check_str(s->field, e->field, "field", name, i);
	check_str(s->name, e->name, "name", name, i);
	ck_assert_msg(s->certification == e->cert, "%s: sig %zu: certification %d", name, i, s->certification);
	ck_assert_msg(s->docmdp_p == e->p, "%s: sig %zu: docmdp_p %d", name, i, s->docmdp_p);
	if (e->clen != 0)
		ck_assert_msg(s->contents != NULL && s->contents_len == e->clen, "%s: sig %zu: contents_len %zu",
		    name, i, s->contents_len);
	if (e->no_contents)
		ck_assert_msg(s->contents == NULL && s->contents_len == 0, "%s: sig %zu: has contents", name, i);
	ck_assert_msg(s->contents != NULL || s->contents_len == 0, "%s: length without contents", name);
}

/* Invariants every answer keeps, whatever the input. */
static void
check_invariants(const unsigned char *d, size_t len, const struct pdf_sig *sigs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const struct pdf_sig *s = &sigs[i];

		ck_assert_msg(s->dict_offset < len, "%s: dict_offset", name);
		ck_assert_msg(i == 0 || sigs[i - 1].dict_offset <= s->dict_offset, "%s: not in file order", name);
		if (s->byte_range_ok) {
			const int64_t *b = s->byte_range;

			ck_assert_msg(b[0] == 0 && b[1] > 0 && b[2] > b[1] && b[3] >= 0, "%s: ranges", name);
			ck_assert_msg((uint64_t)b[2] + (uint64_t)b[3] <= len, "%s: beyond the end", name);
			ck_assert_msg(d[b[1]] == '<' && d[b[2] - 1] == '>', "%s: gap is not <...>", name);
			int64_t k = b[1] + 1;   /* (no ck_assert per byte: each one writes to Check's pipe) */

			while (k < b[2] - 1 && d[k] != '\0' && strchr("0123456789abcdefABCDEF \t\r\n\f", d[k]) != NULL)
				k++;
			ck_assert_msg(k == b[2] - 1, "%s: gap holds 0x%02x", name, d[k]);
			ck_assert_msg(s->dict_offset < (size_t)b[1], "%s: dictionary after the gap", name);
		}
		ck_assert_msg(s->covers_whole_file == (s->byte_range_ok &&
		    (uint64_t)s->byte_range[2] + (uint64_t)s->byte_range[3] == len), "%s: coverage", name);
		ck_assert_msg(s->contents_len <= len, "%s: contents_len", name);
	}
}

START_TEST(synthetic_pdfs)
{
	const struct syn_case *c = &synthetic[_i];
	struct buf b = BUF_INIT;
	struct pdf_sig *sigs = (struct pdf_sig *)&b;    /* must be reset by the call */
	size_t n = 99;
	struct kerr err = KERR_INIT;
	bool ok;

	expand(c->tmpl, strlen(c->tmpl), &b);
	ok = pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err);
	ck_assert_msg(ok == !c->fails, "%s: %s", c->name, err.msg);
	if (!ok) {
		ck_assert_int_eq(err.cls, KERR_PERM);
		ck_assert(err.msg[0] != '\0');
		ck_assert_ptr_null(sigs);
		ck_assert_uint_eq(n, 0);
		buf_release(&b);
		return;
	}
	ck_assert_msg(n == c->n, "%s: %zu signatures, want %zu", c->name, n, c->n);
	ck_assert(n > 0 || sigs == NULL);
	check_invariants((const unsigned char *)b.data, b.len, sigs, n, c->name);
	for (size_t i = 0; i < n && i < 3; i++)
		check_sig(&sigs[i], &c->s[i], c->name, i);
	pdf_sigs_free(&sigs, n);
	ck_assert_ptr_null(sigs);
	pdf_sigs_free(&sigs, 0);
	pdf_sigs_free(NULL, 0);
	buf_release(&b);
}
END_TEST

/* --- text strings --- */

#define R "\xef\xbf\xbd"        /* U+FFFD */

struct text_case {
	const char *pdf;        /* the /Name value as written */
	const char *utf8;       /* NULL: /Name is not a text string */
};

static const struct text_case texts[] = {
	{ "(plain)", "plain" },
	{ "()", "" },
	{ "<>", "" },
	{ "(a\\(b\\)c\\\\d)", "a(b)c\\d" },
	{ "(nested (parens) ok)", "nested (parens) ok" },
	{ "(\\n\\r\\t\\b\\f)", "\n\r\t\xef\xbf\xbd\xef\xbf\xbd" },      /* BS and FF are controls */
	{ "(\\101\\60\\0601\\7)", "A00" "1" "\xef\xbf\xbd" },
	{ "(\\q\\%)", "q%" },
	{ "(line\\\ncontinued\\\r\nhere)", "linecontinuedhere" },
	{ "(cr\rcrlf\r\nlf\n)", "cr\ncrlf\nlf\n" },
	{ "(Tr\\351s \\200 \\222 \\240 \\030)", "Tr\xc3\xa9s \xe2\x80\xa2 \xe2\x84\xa2 \xe2\x82\xac \xcb\x98" },
	{ "(\\177\\237\\255)", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* undefined in PDFDocEncoding */
	{ "<54 72 e1 BA A7 6e>", "Tr\xc3\xa1\xc2\xba\xc2\xa7n" },           /* no BOM: PDFDocEncoding */
	{ "<FEFF005400721EA7006E>", "Tr\xe1\xba\xa7n" },                    /* U+1EA7 */
	{ "<feff 0054 0072 1ea7 006e 0020 004b 0069 006d 0020 004e 0067 00e2 006e>", "Tr\xe1\xba\xa7n Kim Ng\xc3\xa2n" },
	{ "<FEFFD83DDE00>", "\xf0\x9f\x98\x80" },                           /* a surrogate pair */
	{ "<FEFFD83D0041>", "\xef\xbf\xbd" "A" },                           /* a lone high surrogate */
	{ "<FEFFDE00>", "\xef\xbf\xbd" },                                   /* a lone low surrogate */
	{ "<FEFF004100>", "A\xef\xbf\xbd" },                                /* an odd byte */
	{ "<FEFF0000000700410085>", "\xef\xbf\xbd\xef\xbf\xbd" "A" "\xef\xbf\xbd" },    /* NUL, BEL, C1 */
	{ "<FEFF001B7669564E001B0041>", "A" },                                /* a language escape */
	{ "<FEFF001B7669>", "" },                                           /* an unterminated one */
	{ "(\\376\\377\\000A\\000B)", "AB" },                               /* UTF-16 written as octal */
	{ "<EFBBBF5469E1BABF6E67>", "Ti\xe1\xba\xbfng" },                   /* PDF 2.0 UTF-8 */
	{ "<EFBBBFC0AFE080AFEDA080F4908080FF41>", R R R R R R R R R R R R R "A" },  /* overlong, surrogate, >10FFFF */
	{ "<4>", "@" },                                                     /* an odd digit: 0x40 */
	{ "/Name", NULL },
	{ "42", NULL },
	{ "[(a)]", NULL },
	{ "5 0 R", NULL },
};

START_TEST(text_strings)
{
	const struct text_case *c = &texts[_i];
	struct buf tmpl = BUF_INIT, b = BUF_INIT;
	struct pdf_sig *sigs;
	size_t n;
	struct kerr err = KERR_INIT;

	buf_appends(&tmpl, HDR);
	buf_printf(&tmpl, "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Name %s /Reason %s "
	    "/Location %s /M %s >>\nendobj\n", c->pdf, c->pdf, c->pdf, c->pdf);
	expand(tmpl.data, tmpl.len, &b);
	buf_release(&tmpl);
	ck_assert_msg(pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err), "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(sigs[0].byte_range_ok, "%s", c->pdf);
	check_str(sigs[0].name, c->utf8 != NULL ? c->utf8 : NONE, "name", c->pdf, 0);
	check_str(sigs[0].reason, c->utf8 != NULL ? c->utf8 : NONE, "reason", c->pdf, 0);
	check_str(sigs[0].location, c->utf8 != NULL ? c->utf8 : NONE, "location", c->pdf, 0);
	check_str(sigs[0].signing_time, c->utf8 != NULL ? c->utf8 : NONE, "signing_time", c->pdf, 0);
	pdf_sigs_free(&sigs, n);
	buf_release(&b);
}
END_TEST

START_TEST(long_text_is_cut)
{
	struct buf t = BUF_INIT, b = BUF_INIT;
	struct pdf_sig *sigs;
	size_t n;
	struct kerr err = KERR_INIT;

	buf_appends(&t, HDR "1 0 obj\n<< /Type /Sig /ByteRange @BR@ /Contents @C@ /Name <FEFF");
	for (int i = 0; i < 100000; i++)
		buf_appends(&t, "1EA7");
	buf_appends(&t, "> /Reason (");
	for (int i = 0; i < 100000; i++)
		buf_appends(&t, "\\351");
	buf_appends(&t, ") >>\nendobj\n");
	expand(t.data, t.len, &b);
	ck_assert(pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err));
	ck_assert_uint_eq(n, 1);
	ck_assert(sigs[0].byte_range_ok && sigs[0].covers_whole_file);
	ck_assert_uint_eq(strlen(sigs[0].name), 4094 / 2 * 3);         /* 2047 units of 3 bytes */
	ck_assert_uint_eq(strlen(sigs[0].reason), 4096 * 2);
	pdf_sigs_free(&sigs, n);
	buf_release(&b);
	buf_release(&t);
}
END_TEST

/* --- limits --- */

START_TEST(too_many_signatures)
{
	for (int count = 1024; count <= 1025; count++) {
		struct buf b = BUF_INIT;
		struct pdf_sig *sigs;
		size_t n;
		struct kerr err = KERR_INIT;
		bool ok;

		buf_appends(&b, HDR);
		for (int i = 0; i < count; i++)
			buf_printf(&b, "%d 0 obj << /Type /Sig /ByteRange [0 1 2 3] /Contents <30020500> >> endobj\n", i + 1);
		ok = pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err);
		if (count == 1024) {
			ck_assert_msg(ok, "%s", err.msg);
			ck_assert_uint_eq(n, 1024);
			ck_assert_uint_eq(sigs[1023].contents_len, 4);
			pdf_sigs_free(&sigs, n);
		} else {
			ck_assert(!ok);
			ck_assert_int_eq(err.cls, KERR_PERM);
			ck_assert_ptr_null(strstr(err.msg, "\n"));
			ck_assert_ptr_nonnull(strstr(err.msg, "1024"));
			ck_assert_ptr_null(sigs);
		}
		buf_release(&b);
	}
}
END_TEST

START_TEST(huge_contents)
{
	/* a /Contents over the 8 MiB limit: found, contents NULL, coverage still exact */
	struct buf t = BUF_INIT;
	struct pdf_sig *sigs;
	size_t n, hexlen = (size_t)2 * (8 * 1024 * 1024 + 16);
	struct kerr err = KERR_INIT;
	char br[64];
	size_t l1, o2;

	buf_appends(&t, HDR "1 0 obj\n<< /Type /Sig /ByteRange [0 __________ __________ __________] /Contents ");
	l1 = t.len;
	buf_appends(&t, "<30");
	buf_reserve(&t, hexlen);
	memset(t.data + t.len, '0', hexlen);
	t.len += hexlen;
	buf_appends(&t, ">");
	o2 = t.len;
	buf_appends(&t, " >>\nendobj\n");
	snprintf(br, sizeof(br), "%-10zu %-10zu %-10zu", l1, o2, t.len - o2);
	memcpy(strstr(t.data, "[0 ____") + 3, br, 32);
	ck_assert(pdf_find_signatures((const unsigned char *)t.data, t.len, &sigs, &n, &err));
	ck_assert_uint_eq(n, 1);
	ck_assert(sigs[0].byte_range_ok && sigs[0].covers_whole_file);
	ck_assert_ptr_null(sigs[0].contents);
	ck_assert_uint_eq(sigs[0].contents_len, 0);
	pdf_sigs_free(&sigs, n);
	buf_release(&t);
}
END_TEST

/* Pathological inputs: each must finish fast, whatever it returns. */
static void
hostile_one(const char *name, const char *unit, size_t unit_len, size_t total)
{
	struct buf b = BUF_INIT;
	struct pdf_sig *sigs = NULL;
	size_t n = 0;
	struct kerr err = KERR_INIT;
	double t0;

	buf_appends(&b, HDR);
	while (b.len < total)
		buf_append(&b, unit, unit_len);
	t0 = now_s();
	if (pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err))
		check_invariants((const unsigned char *)b.data, b.len, sigs, n, name);
	ck_assert_msg(now_s() - t0 < 10.0, "%s: %.1f s for %zu bytes", name, now_s() - t0, b.len);
	pdf_sigs_free(&sigs, n);
	buf_release(&b);
}

static const struct {
	const char *name, *unit;
} hostile[] = {
	{ "open parens", "(" },
	{ "open brackets", "[" },
	{ "open dicts", "<<" },
	{ "closers", ">>])" },
	{ "hex opener", "<" },
	{ "objects", "1 0 obj " },
	{ "references", "1 0 R " },
	{ "ints", "1 " },
	{ "obj in dicts", "1 0 obj << /V << /ByteRange [0 " },
	{ "signatures", "1 0 obj << /Type /Sig /Contents <3000> /ByteRange [0 1 2 3] >> endobj " },
	{ "fields", "1 0 obj << /T (a) /Parent 1 0 R /V 1 0 R >> endobj " },
	{ "streams without end", "1 0 obj << /Length 99999999 >> stream\n" },
	{ "streams", "<< /Length 1 >> stream\nx\nendstream " },
	{ "names", "/Contents/ByteRange/Type/Sig" },
	{ "big numbers", "99999999999999999999999999999 -99999999999999999999999 " },
	{ "backslashes", "(\\\\\\" },
	{ "perms", "1 0 obj << /Perms 1 0 R /DocMDP 1 0 R /Reference [1 0 R] >> endobj " },
	{ "nested arrays in dict", "<< /A [[[[ " },
};

START_TEST(hostile_inputs)
{
	hostile_one(hostile[_i].name, hostile[_i].unit, strlen(hostile[_i].unit), (size_t)4 << 20);
}
END_TEST

START_TEST(random_bytes)
{
	unsigned seed = 12345;

	for (int round = 0; round < 300; round++) {
		unsigned char d[2048];
		struct pdf_sig *sigs = NULL;
		size_t n = 0;
		struct kerr err = KERR_INIT;
		static const char *const atoms[] = {
			"<<", ">>", "[", "]", "(", ")", "<", ">", "/ByteRange", "/Contents", "/Type", "/Sig",
			"/V", "/T", "/Parent", "/Perms", "/DocMDP", "/Reference", "/TransformMethod", "/P",
			" 0 ", " 1 ", " 12 ", " R ", " obj ", " endobj ", " stream\n", "endstream", "\\", "%",
			"<3003020105>", "\n", "trailer", "/Encrypt", "/Length 5 ",
		};
		size_t k = 0;

		memcpy(d, "%PDF-1.7\n", 9);
		k = 9;
		while (k < sizeof(d) - 32) {
			seed = seed * 1103515245 + 12345;
			if ((seed >> 16) % 4 == 0) {
				d[k++] = (unsigned char)(seed >> 8);
			} else {
				const char *a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];

				memcpy(d + k, a, strlen(a));
				k += strlen(a);
			}
		}
		if (pdf_find_signatures(d, k, &sigs, &n, &err))
			check_invariants(d, k, sigs, n, "random");
		pdf_sigs_free(&sigs, n);
	}
}
END_TEST

/* --- files signed by tests/data/mkpdf --- */

static char fixture_dir[64];
static bool fixture_ok;

static void
files_setup(void)
{
	char cmd[1024];

	snprintf(fixture_dir, sizeof(fixture_dir), "/tmp/kpdf.XXXXXX");
	if (mkdtemp(fixture_dir) == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "'%s/tests/pki/mkpki' '%s/pki' >'%s/mkpki.log' 2>&1 && "
	    "'%s/tests/data/mkpdf' '%s/pdf' '%s/pki' >'%s/mkpdf.log' 2>&1",
	    kyso_srcdir(), fixture_dir, fixture_dir, kyso_srcdir(), fixture_dir, fixture_dir, fixture_dir);
	fixture_ok = system(cmd) == 0;
	/* the oracle checks our extraction, not trust: the sub-CAs go in as anchors too
	 * (Vietnamese-style signatures carry only the signer's certificate) */
	snprintf(cmd, sizeof(cmd), "cat '%s/pki/anchors.pem' '%s/pki/intermediates.pem' >'%s/cas.pem'",
	    fixture_dir, fixture_dir, fixture_dir);
	fixture_ok = fixture_ok && system(cmd) == 0;
	if (!fixture_ok) {
		snprintf(cmd, sizeof(cmd), "cat '%s/mkpki.log' '%s/mkpdf.log' >&2", fixture_dir, fixture_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_pdf: cannot make the test PDFs\n");
	}
}

static void
files_teardown(void)
{
	char cmd[128];

	if (fixture_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_pdf: cannot remove %s\n", fixture_dir);
	}
}

/* The ranges mkpdf computed for NAME: "l1 o2 l2" per signature; false when unlisted. */
static bool
generated_ranges(const char *name, int64_t r[][3], size_t *n_r)
{
	char path[256], line[1024];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "%s/pdf/files.txt", fixture_dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	*n_r = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tok, *save = NULL;

		tok = strtok_r(line, " \n", &save);
		if (tok == NULL || strcmp(tok, name) != 0)
			continue;
		found = true;
		for (size_t k = 0; (tok = strtok_r(NULL, " \n", &save)) != NULL && k < 12; k++) {
			r[k / 3][k % 3] = strtoll(tok, NULL, 10);
			*n_r = k / 3 + 1;
		}
	}
	fclose(f);
	return found;
}

enum oracle { OR_NONE, OR_CMS, OR_SHA1, OR_TSA };
enum br_rule { BR_GENERATED, BR_GAP, BR_OVERLAP, BR_BEYOND, BR_NEGATIVE, BR_THREE, BR_FIRST, BR_REAL,
	BR_HUGE, BR_ABSENT, BR_SAME };

struct file_sig {
	bool ok, whole;
	enum pdf_sig_type type;
	const char *subfilter, *field, *name, *reason, *location, *time;
	bool cert;
	int p;
	enum oracle oracle;
};

struct file_case {
	const char *file;
	size_t n;
	enum br_rule br;
	bool no_contents;
	struct file_sig s[3];
};

#define NGAN_NAME "Tr\xe1\xba\xa7n Kim Ng\xc3\xa2n"
#define NGAN_FIELD "Ch\xe1\xbb\xaf k\xc3\xbd l\xc3\xa3nh \xc4\x91\xe1\xba\xa1o"
#define NGAN_REASON "Ph\xc3\xaa duy\xe1\xbb\x87t v\xc4\x83n b\xe1\xba\xa3n"
#define NGAN_LOC "B\xc3\xa9n L(u)c, Long An\\VN \xe2\x84\xa2"
#define NGAN_TIME "D:20260105093000+07'00'"
#define NGAN(whole) { true, whole, PDF_SIG_SIGNATURE, "adbe.pkcs7.detached", NGAN_FIELD, NGAN_NAME, \
	NGAN_REASON, NGAN_LOC, NGAN_TIME, false, 0, OR_CMS }
#define ORG(whole) { true, whole, PDF_SIG_SIGNATURE, "ETSI.CAdES.detached", "ubnd.dau", \
	"UBND HUY\xe1\xbb\x86N B\xe1\xba\xbeN L\xe1\xbb\xa8" "C", "S\xe1\xbb\x91 15/Q\xc4\x90-UBND", \
	"B\xe1\xba\xbfn L\xe1\xbb\xa9" "c", "D:20260105101500+07'00'", false, 0, OR_CMS }
#define BROKEN { false, false, PDF_SIG_SIGNATURE, "adbe.pkcs7.detached", NGAN_FIELD, NGAN_NAME, \
	ANY, ANY, ANY, false, 0, OR_NONE }

static const struct file_case files[] = {
	{ "one.pdf", 1, BR_GENERATED, false, { NGAN(true) } },
	{ "two.pdf", 2, BR_GENERATED, false, { NGAN(false), ORG(true) } },
	{ "changed.pdf", 2, BR_GENERATED, false, { NGAN(false), ORG(false) } },
	{ "docts.pdf", 3, BR_GENERATED, false, { NGAN(false), ORG(false),
	  { true, true, PDF_SIG_DOC_TIMESTAMP, "ETSI.RFC3161", "Timestamp", NONE, NONE, NONE, NONE, false, 0,
	    OR_TSA } } },
	{ "sha1.pdf", 1, BR_GENERATED, false, { { true, true, PDF_SIG_SIGNATURE, "adbe.pkcs7.sha1", "Legacy", "Ngan",
	  NONE, NONE, NGAN_TIME, false, 0, OR_SHA1 } } },
	{ "certified.pdf", 2, BR_GENERATED, false, {
	  { true, false, PDF_SIG_SIGNATURE, "adbe.pkcs7.detached", NGAN_FIELD, "L\xc3\xaa V\xc4\x83n \xc4\x90\xe1\xba\xa1o",
	    NONE, NONE, NGAN_TIME, true, 2, OR_CMS }, ORG(true) } },
	{ "xrefstream.pdf", 1, BR_GENERATED, false, { { true, true, PDF_SIG_SIGNATURE, "adbe.pkcs7.detached", NONE,
	  "Ngan", NONE, NONE, NGAN_TIME, false, 0, OR_CMS } } },
	{ "broken-gap.pdf", 1, BR_GAP, false, { BROKEN } },
	{ "broken-overlap.pdf", 1, BR_OVERLAP, false, { BROKEN } },
	{ "broken-beyond.pdf", 1, BR_BEYOND, false, { BROKEN } },
	{ "broken-negative.pdf", 1, BR_NEGATIVE, false, { BROKEN } },
	{ "broken-three.pdf", 1, BR_THREE, false, { BROKEN } },
	{ "broken-first.pdf", 1, BR_FIRST, false, { BROKEN } },
	{ "broken-real.pdf", 1, BR_REAL, false, { BROKEN } },
	{ "broken-huge.pdf", 1, BR_HUGE, false, { BROKEN } },
	{ "broken-indirect.pdf", 1, BR_ABSENT, false, { BROKEN } },
	{ "broken-nocontents.pdf", 1, BR_SAME, true, { BROKEN } },
	{ "broken-oddhex.pdf", 1, BR_SAME, false, { BROKEN } },
	{ "broken-badhex.pdf", 1, BR_SAME, false, { BROKEN } },
	{ "broken-literal.pdf", 1, BR_SAME, false, { BROKEN } },
};

static void
check_byte_range(const struct file_case *c, const struct pdf_sig *sigs, size_t n)
{
	int64_t r[4][3], one[4][3];
	size_t nr = 0, none = 0;
	const int64_t *b = sigs[0].byte_range;
	int64_t l1, o2, l2;

	if (c->br == BR_GENERATED) {
		ck_assert_msg(generated_ranges(c->file, r, &nr), "%s not in files.txt", c->file);
		ck_assert_uint_eq(nr, n);
		for (size_t i = 0; i < n; i++) {
			const int64_t *g = sigs[i].byte_range;

			ck_assert_msg(g[0] == 0 && g[1] == r[i][0] && g[2] == r[i][1] && g[3] == r[i][2],
			    "%s: sig %zu: [%lld %lld %lld %lld], mkpdf wrote [0 %lld %lld %lld]", c->file, i,
			    (long long)g[0], (long long)g[1], (long long)g[2], (long long)g[3],
			    (long long)r[i][0], (long long)r[i][1], (long long)r[i][2]);
		}
		return;
	}
	ck_assert(generated_ranges("one.pdf", one, &none) && none == 1);
	l1 = one[0][0];
	o2 = one[0][1];
	l2 = one[0][2];
	switch (c->br) {
	case BR_GAP: ck_assert(b[0] == 0 && b[1] == l1 + 1 && b[2] == o2 && b[3] == l2); break;
	case BR_OVERLAP: ck_assert(b[1] == l1 && b[2] == l1 - 100 && b[2] + b[3] == o2 + l2); break;
	case BR_BEYOND: ck_assert(b[1] == l1 && b[2] == o2 && b[3] == l2 + 1); break;
	case BR_NEGATIVE: ck_assert(b[1] == l1 && b[2] == -o2 && b[3] == l2); break;
	case BR_THREE: ck_assert(b[1] == l1 && b[2] == o2 && b[3] == 0); break;
	case BR_FIRST: ck_assert(b[0] == 1 && b[1] == l1 - 1 && b[2] == o2 && b[3] == l2); break;
	case BR_REAL: ck_assert(b[1] == l1 && b[2] == o2 && b[3] == 0); break;
	case BR_HUGE: ck_assert(b[1] == l1 && b[2] == o2 && b[3] == INT64_MAX); break;
	case BR_ABSENT: ck_assert(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0); break;
	case BR_SAME: ck_assert(b[0] == 0 && b[1] == l1 && b[2] == o2 && b[3] == l2); break;
	default: ck_abort();
	}
}

/* Verify what we extracted with openssl, over exactly the bytes we say are covered. */
static void
oracle_check(const unsigned char *d, size_t len, const struct pdf_sig *s, enum oracle how, const char *name)
{
	char rpath[128], cpath[128], epath[128], cmd[2048];
	struct buf r = BUF_INIT;
	const char *pki = fixture_dir;

	if (how == OR_NONE)
		return;
	snprintf(rpath, sizeof(rpath), "%s/ranges.%d", fixture_dir, (int)getpid());
	snprintf(cpath, sizeof(cpath), "%s/contents.%d", fixture_dir, (int)getpid());
	snprintf(epath, sizeof(epath), "%s/econtent.%d", fixture_dir, (int)getpid());
	range_bytes(d, len, s, &r);
	write_file(rpath, r.data, r.len);
	write_file(cpath, s->contents, s->contents_len);
	switch (how) {
	case OR_CMS:
		snprintf(cmd, sizeof(cmd), "%s cms -verify -binary -inform DER -in %s -content %s "
		    "-CAfile %s/cas.pem -purpose any -out /dev/null", openssl_cli(), cpath, rpath, pki);
		break;
	case OR_SHA1:
		snprintf(cmd, sizeof(cmd), "%s cms -verify -binary -inform DER -in %s "
		    "-CAfile %s/cas.pem -purpose any -out %s", openssl_cli(), cpath, pki, epath);
		break;
	case OR_TSA:
		snprintf(cmd, sizeof(cmd), "%s ts -verify -data %s -in %s -token_in -CAfile %s/pki/anchors.pem "
		    "-untrusted %s/pki/intermediates.pem", openssl_cli(), rpath, cpath, pki, pki);
		break;
	default:
		ck_abort();
	}
	/* its output goes to the test's log (stderr) when it fails, never to stdout (TAP) */
	{
		char full[2400];

		snprintf(full, sizeof(full), "%s >%s 2>&1 || { cat %s >&2; exit 1; }", cmd, epath, epath);
		if (how == OR_SHA1)
			snprintf(full, sizeof(full), "%s 2>%s.log || { cat %s.log >&2; exit 1; }", cmd, epath, epath);
		ck_assert_msg(system(full) == 0, "%s: openssl does not verify what we extracted: %s", name, cmd);
	}
	if (how == OR_SHA1) {   /* the eContent is the SHA-1 of the range bytes */
		size_t elen;
		unsigned char *e = read_file(epath, &elen), md[EVP_MAX_MD_SIZE];
		unsigned mdlen;

		ck_assert_ptr_nonnull(e);
		ck_assert(EVP_Digest(r.data, r.len, md, &mdlen, EVP_sha1(), NULL) == 1);
		ck_assert_msg(elen == mdlen && memcmp(e, md, mdlen) == 0, "%s: eContent is not SHA-1 of the ranges",
		    name);
		free(e);
	}
	unlink(rpath);
	unlink(cpath);
	unlink(epath);
	strncat(epath, ".log", sizeof(epath) - strlen(epath) - 1);
	unlink(epath);
	buf_release(&r);
}

static unsigned char *
fixture_file(const char *name, size_t *len_r)
{
	char path[256];
	unsigned char *d;

	ck_assert_msg(fixture_ok, "tests/data/mkpdf did not make the test PDFs (see the log)");
	snprintf(path, sizeof(path), "%s/pdf/%s", fixture_dir, name);
	d = read_file(path, len_r);
	ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
	return d;
}

START_TEST(signed_files)
{
	const struct file_case *c = &files[_i];
	size_t len, n;
	unsigned char *d = fixture_file(c->file, &len);
	struct pdf_sig *sigs;
	struct kerr err = KERR_INIT;

	ck_assert_msg(pdf_find_signatures(d, len, &sigs, &n, &err), "%s: %s", c->file, err.msg);
	ck_assert_msg(n == c->n, "%s: %zu signatures, want %zu", c->file, n, c->n);
	check_invariants(d, len, sigs, n, c->file);
	check_byte_range(c, sigs, n);
	for (size_t i = 0; i < n; i++) {
		const struct file_sig *e = &c->s[i];
		const struct pdf_sig *s = &sigs[i];

		ck_assert_msg(s->byte_range_ok == e->ok, "%s: sig %zu: byte_range_ok", c->file, i);
		ck_assert_msg(s->covers_whole_file == e->whole, "%s: sig %zu: covers_whole_file", c->file, i);
		ck_assert_msg(s->type == e->type, "%s: sig %zu: type", c->file, i);
		check_str(s->subfilter, e->subfilter, "subfilter", c->file, i);
		check_str(s->field, e->field, "field", c->file, i);
		check_str(s->name, e->name, "name", c->file, i);
		check_str(s->reason, e->reason, "reason", c->file, i);
		check_str(s->location, e->location, "location", c->file, i);
		check_str(s->signing_time, e->time, "signing_time", c->file, i);
		ck_assert_msg(s->certification == e->cert && s->docmdp_p == e->p, "%s: sig %zu: certification",
		    c->file, i);
		ck_assert_msg((s->contents == NULL) == c->no_contents, "%s: sig %zu: contents", c->file, i);
		ck_assert_msg(c->br != BR_GENERATED || s->contents_len < 8192, "%s: sig %zu: padding kept", c->file, i);
		oracle_check(d, len, s, e->oracle, c->file);
	}
	pdf_sigs_free(&sigs, n);
	free(d);
}
END_TEST

/* Every prefix of a signed file: no crash, and each answer agrees with the
 * whole file's (same dictionaries and ranges; a signature is complete and
 * covers "the whole file" exactly when the prefix reaches its end). */
static void
prefixes_of(const char *file, size_t step)
{
	size_t len, nfull;
	unsigned char *d = fixture_file(file, &len);
	struct pdf_sig *full;
	struct kerr err = KERR_INIT;

	ck_assert(pdf_find_signatures(d, len, &full, &nfull, &err));
	for (size_t k = 0; k <= len; k += (k < 64 || len - k < 64 ? 1 : step)) {
		unsigned char *p = xmalloc(k);     /* a copy of exactly k bytes, so ASan sees any overrun */
		struct pdf_sig *sigs = NULL;
		size_t n = 0;
		bool ok;

		memcpy(p, d, k);
		ok = pdf_find_signatures(p, k, &sigs, &n, &err);
		ck_assert_msg(ok == (k >= 5), "%s: prefix %zu: %s", file, k, err.msg);
		check_invariants(p, k, sigs, n, file);
		for (size_t j = 0; j < nfull; j++) {
			uint64_t end = (uint64_t)full[j].byte_range[2] + (uint64_t)full[j].byte_range[3];
			bool seen = false;

			for (size_t i = 0; i < n; i++) {
				if (sigs[i].dict_offset != full[j].dict_offset)
					continue;
				seen = true;
				ck_assert_msg(sigs[i].byte_range_ok == (k >= end), "%s: prefix %zu: sig %zu ok", file, k, j);
				ck_assert_msg(sigs[i].covers_whole_file == (k == end), "%s: prefix %zu: whole", file, k);
				ck_assert(memcmp(sigs[i].byte_range, full[j].byte_range, sizeof(full[j].byte_range)) == 0);
				if (k >= end) {
					ck_assert_uint_eq(sigs[i].contents_len, full[j].contents_len);
					ck_assert(memcmp(sigs[i].contents, full[j].contents, full[j].contents_len) == 0);
				}
			}
			ck_assert_msg(seen || k < end, "%s: prefix %zu: sig %zu missing", file, k, j);
		}
		for (size_t i = 0; i < n; i++) {
			bool known = false;

			for (size_t j = 0; j < nfull; j++)
				known = known || sigs[i].dict_offset == full[j].dict_offset;
			ck_assert_msg(known, "%s: prefix %zu: a signature the whole file has not", file, k);
		}
		pdf_sigs_free(&sigs, n);
		free(p);
	}
	pdf_sigs_free(&full, nfull);
	free(d);
}

START_TEST(every_prefix_one)
{
	prefixes_of("one.pdf", 1);
}
END_TEST

START_TEST(prefixes_docts)
{
	prefixes_of("docts.pdf", 7);
}
END_TEST

/* --- pyHanko's corpus --- */

static bool
corpus_dir(char *out, size_t outlen)
{
	const char *candidates[2];
	char a[512];
	struct stat st;

	snprintf(a, sizeof(a), "%s/../shared/corpora/pyhanko-pdf", kyso_srcdir());
	candidates[0] = a;
	candidates[1] = "/work/shared/corpora/pyhanko-pdf";
	for (size_t i = 0; i < 2; i++) {
		char tsv[600];

		snprintf(tsv, sizeof(tsv), "%s/verdicts.tsv", candidates[i]);
		if (stat(tsv, &st) == 0) {
			snprintf(out, outlen, "%s", candidates[i]);
			return true;
		}
	}
	return false;
}

struct corpus_entry {
	int64_t br[4];
	bool whole, hole_mismatch, crypto_ok;
};

/* The "sig@..." entries of a verdicts.tsv line's why column. */
static size_t
corpus_entries(const char *why, struct corpus_entry *e, size_t max)
{
	size_t n = 0;
	const char *p = why;

	while ((p = strstr(p, "sig@")) != NULL && n < max) {
		const char *next = strstr(p + 4, "sig@");
		const char *end = next != NULL ? next : p + strlen(p);
		char seg[1024];
		long long a, b, c, d;
		const char *r;

		snprintf(seg, sizeof(seg), "%.*s", (int)(end - p), p);
		r = strstr(seg, "range=[");
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(sscanf(r, "range=[%lld %lld %lld %lld]", &a, &b, &c, &d), 4);
		e[n].br[0] = a;
		e[n].br[1] = b;
		e[n].br[2] = c;
		e[n].br[3] = d;
		e[n].whole = strstr(seg, "cov=WHOLE_FILE") != NULL;
		ck_assert(e[n].whole || strstr(seg, "cov=PREFIX") != NULL);
		e[n].hole_mismatch = strstr(seg, "hole != /Contents") != NULL;
		e[n].crypto_ok = strstr(seg, "crypto=OK") != NULL;
		n++;
		p = end;
	}
	return n;
}

static size_t
count_occurrences(const unsigned char *d, size_t len, const char *s)
{
	size_t n = 0, sl = strlen(s);
	const unsigned char *p = d, *q;

	while ((q = memmem(p, len - (size_t)(p - d), s, sl)) != NULL) {
		n++;
		p = q + sl;
	}
	return n;
}

START_TEST(pyhanko_corpus)
{
	char dir[512], path[1024], line[8192];
	FILE *tsv;
	size_t nfiles = 0, sigs_total = 0, verified = 0;
	char tmpdir[] = "/tmp/kpdfc.XXXXXX";

	if (!corpus_dir(dir, sizeof(dir))) {
		fprintf(stderr, "# SKIP pyhanko corpus: no verdicts.tsv in $KYSO_SRCDIR/../shared/corpora/"
		    "pyhanko-pdf or /work/shared/corpora/pyhanko-pdf\n");
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/verdicts.tsv", dir);
	tsv = fopen(path, "r");
	ck_assert_ptr_nonnull(tsv);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), tsv));         /* the header */
	while (fgets(line, sizeof(line), tsv) != NULL) {
		char *file = line, *verdict, *why;
		struct corpus_entry e[8];
		size_t ne, len, n, matched = 0;
		unsigned char *d;
		struct pdf_sig *sigs;
		struct kerr err = KERR_INIT;
		bool *used;

		verdict = strchr(file, '\t');
		ck_assert_ptr_nonnull(verdict);
		*verdict++ = '\0';
		why = strchr(verdict, '\t');
		ck_assert_ptr_nonnull(why);
		*why++ = '\0';
		ne = corpus_entries(why, e, 8);
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		d = read_file(path, &len);
		ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
		ck_assert_msg(pdf_find_signatures(d, len, &sigs, &n, &err), "%s: %s", file, err.msg);
		check_invariants(d, len, sigs, n, file);
		used = xcalloc(n + 1, sizeof(*used));
		/* each signature the verdicts record: found, in order, with its coverage */
		for (size_t j = 0, i = 0; j < ne; j++) {
			while (i < n && memcmp(sigs[i].byte_range, e[j].br, sizeof(e[j].br)) != 0)
				i++;
			ck_assert_msg(i < n, "%s: no signature with ByteRange [%lld %lld %lld %lld]", file,
			    (long long)e[j].br[0], (long long)e[j].br[1], (long long)e[j].br[2], (long long)e[j].br[3]);
			used[i] = true;
			matched++;
			ck_assert_msg(sigs[i].byte_range_ok == !e[j].hole_mismatch, "%s: sig %zu: byte_range_ok", file, i);
			ck_assert_msg(sigs[i].covers_whole_file == (e[j].whole && !e[j].hole_mismatch),
			    "%s: sig %zu: covers_whole_file", file, i);
			if (e[j].crypto_ok && sigs[i].byte_range_ok) {
				char rp[128], cp[128], cmd[1024];
				struct buf r = BUF_INIT;

				snprintf(rp, sizeof(rp), "%s/r", tmpdir);
				snprintf(cp, sizeof(cp), "%s/c", tmpdir);
				range_bytes(d, len, &sigs[i], &r);
				write_file(rp, r.data, r.len);
				write_file(cp, sigs[i].contents, sigs[i].contents_len);
				snprintf(cmd, sizeof(cmd), "%s cms -verify -noverify -binary -inform DER -in %s -content %s "
				    "-out /dev/null >/dev/null 2>&1", openssl_cli(), cp, rp);
				ck_assert_msg(system(cmd) == 0, "%s: sig %zu: openssl does not verify our extraction", file, i);
				verified++;
				buf_release(&r);
			}
			i++;
		}
		/* anything else we report is not a usable signature (e.g. a one-range ByteRange) */
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(used[i] || !sigs[i].byte_range_ok, "%s: sig %zu not in the verdicts", file, i);
		if (strstr(verdict, "certification") != NULL)
			ck_assert_msg(n > 0 && sigs[0].certification, "%s: not a certification signature", file);
		if (strstr(why, "encrypted") != NULL || strstr(verdict, "encrypted") != NULL)
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(sigs[i].name == NULL && sigs[i].signing_time == NULL && sigs[i].field == NULL,
				    "%s: text from an encrypted file", file);
		{
			size_t want = count_occurrences(d, len, "/ETSI.RFC3161"), got = 0;

			for (size_t i = 0; i < n; i++)
				got += sigs[i].type == PDF_SIG_DOC_TIMESTAMP;
			ck_assert_msg(got == want, "%s: %zu document timestamps, the file names %zu", file, got, want);
		}
		sigs_total += matched;
		nfiles++;
		free(used);
		pdf_sigs_free(&sigs, n);
		free(d);
	}
	fclose(tsv);
	rmdir(tmpdir);
	ck_assert_uint_ge(nfiles, 30);
	fprintf(stderr, "# pyhanko corpus: %zu files, %zu signatures as recorded, %zu verified by openssl\n",
	    nfiles, sigs_total, verified);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

/* --- speed: finding must cost a small fraction of hashing what is signed --- */

START_TEST(speed_10mib)
{
	struct buf b = BUF_INIT, t = BUF_INIT;
	struct pdf_sig *sigs;
	size_t n;
	struct kerr err = KERR_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	double t0, t_find, t_hash;
	unsigned seed = 7;

	/* a 10 MiB document: big binary streams, pages of objects, an xref table, two signatures */
	buf_appends(&t, HDR);
	for (int i = 0; t.len < (size_t)10 << 20; i++) {
		if (i % 8 == 0) {
			size_t sz = 200000;

			buf_printf(&t, "%d 0 obj\n<< /Length %zu /Filter /FlateDecode >>\nstream\n", 100 + i, sz);
			buf_reserve(&t, sz);
			for (size_t k = 0; k < sz; k++) {
				seed = seed * 1103515245 + 12345;
				t.data[t.len++] = (char)(seed >> 16);
			}
			buf_appends(&t, "\nendstream\nendobj\n");
		} else {
			buf_printf(&t, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
			    "/Resources << /Font << /F1 7 0 R >> >> /Annots [4 0 R 5 0 R] /Title (page %d) >>\nendobj\n",
			    100 + i, 101 + i, i);
		}
		if (i == 20)
			buf_appends(&t, "3 0 obj\n" SIG "\nendobj\n%%EOF\n");
	}
	buf_appends(&t, "xref\n0 2000\n");
	for (int i = 0; i < 2000; i++)
		buf_appends(&t, "0000012345 00000 n \n");
	buf_appends(&t, "4 0 obj\n" SIG "\nendobj\n%%EOF\n");
	expand(t.data, t.len, &b);
	t0 = now_s();
	ck_assert(pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err));
	t_find = now_s() - t0;
	ck_assert_uint_eq(n, 2);
	ck_assert(sigs[0].byte_range_ok && !sigs[0].covers_whole_file);
	ck_assert(sigs[1].byte_range_ok && sigs[1].covers_whole_file);
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, b.data, (size_t)sigs[i].byte_range[1]);
		EVP_DigestUpdate(ctx, b.data + sigs[i].byte_range[2], (size_t)sigs[i].byte_range[3]);
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		EVP_MD_CTX_free(ctx);
	}
	t_hash = now_s() - t0;
	fprintf(stderr, "# speed: %zu bytes, find %.2f ms, SHA-256 of the ranges %.2f ms (%.0f%%)\n", b.len,
	    t_find * 1e3, t_hash * 1e3, 100 * t_find / t_hash);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
	ck_assert_msg(t_find < t_hash, "finding (%.1f ms) is slower than hashing (%.1f ms)", t_find * 1e3,
	    t_hash * 1e3);
#endif
	pdf_sigs_free(&sigs, n);

	/* the worst realistic shape: 10 MiB of small objects and no stream, all tokenized */
	buf_reset(&t);
	buf_appends(&t, HDR);
	for (int i = 0; t.len < (size_t)10 << 20; i++)
		buf_printf(&t, "%d 0 obj\n<< /Type /Annot /Subtype /Widget /Rect [0.0 0.0 100.5 20.25] /T (field %d) "
		    "/P 3 0 R /F 4 /DA (/Helv 0 Tf 0 g) /MK << /BG [1 1 1] >> >>\nendobj\n", i + 10, i);
	buf_appends(&t, "4 0 obj\n" SIG "\nendobj\n%%EOF\n");
	buf_reset(&b);
	expand(t.data, t.len, &b);
	t0 = now_s();
	ck_assert(pdf_find_signatures((const unsigned char *)b.data, b.len, &sigs, &n, &err));
	t_find = now_s() - t0;
	ck_assert_uint_eq(n, 1);
	ck_assert(sigs[0].covers_whole_file);
	fprintf(stderr, "# speed: %zu bytes of small objects, find %.2f ms\n", b.len, t_find * 1e3);
	ck_assert_msg(t_find < 5.0, "%.1f s for 10 MiB of objects", t_find);
	pdf_sigs_free(&sigs, n);
	buf_release(&b);
	buf_release(&t);
}
END_TEST

START_TEST(sniff)
{
	unsigned char big[2048];

	ck_assert(pdf_sniff((const unsigned char *)"%PDF-1.7", 8));
	ck_assert(pdf_sniff((const unsigned char *)"%PDF-", 5));
	ck_assert(!pdf_sniff((const unsigned char *)"%PDF", 4));
	ck_assert(!pdf_sniff((const unsigned char *)"", 0));
	ck_assert(!pdf_sniff(NULL, 0));
	ck_assert(!pdf_sniff((const unsigned char *)"%!PS-Adobe", 10));
	memset(big, ' ', sizeof(big));
	memcpy(big + 1019, "%PDF-", 5);
	ck_assert(pdf_sniff(big, sizeof(big)));
	memset(big, ' ', sizeof(big));
	memcpy(big + 1020, "%PDF-", 5);
	ck_assert(!pdf_sniff(big, sizeof(big)));
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("pdf");
	TCase *tc = tcase_create("pdf");
	TCase *fc = tcase_create("files");
	TCase *slow = tcase_create("slow");

	tcase_add_test(tc, sniff);
	tcase_add_loop_test(tc, synthetic_pdfs, 0, (int)(sizeof(synthetic) / sizeof(synthetic[0])));
	tcase_add_loop_test(tc, text_strings, 0, (int)(sizeof(texts) / sizeof(texts[0])));
	tcase_add_test(tc, long_text_is_cut);
	tcase_add_test(tc, too_many_signatures);
	tcase_add_test(tc, random_bytes);
	tcase_add_test(tc, pyhanko_corpus);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(fc, files_setup, files_teardown);
	tcase_add_loop_test(fc, signed_files, 0, (int)(sizeof(files) / sizeof(files[0])));
	tcase_add_test(fc, every_prefix_one);
	tcase_add_test(fc, prefixes_docts);
	tcase_set_timeout(fc, 300);
	suite_add_tcase(s, fc);

	tcase_add_test(slow, huge_contents);
	tcase_add_loop_test(slow, hostile_inputs, 0, (int)(sizeof(hostile) / sizeof(hostile[0])));
	tcase_add_test(slow, speed_10mib);
	tcase_set_timeout(slow, 300);
	suite_add_tcase(s, slow);
	return s;
}

KYSO_TEST_MAIN(make_suite)
