/*
 * libFuzzer harness: finding the signatures of a PDF (smime/pdf.c) must
 * answer or refuse (KERR_PERM), never crash, hang or allocate hugely; and
 * the answer must hold its promises:
 *   - signatures in file order, each dictionary inside the file;
 *   - byte_range_ok: [0, l1) and [o2, o2 + l2) within the file, the gap
 *     exactly "<" hex digits and whitespace ">";
 *   - covers_whole_file exactly when byte_range_ok and o2 + l2 == length;
 *   - every text is UTF-8 without controls other than TAB, LF, CR; the
 *     subfilter printable ASCII;
 *   - the unsigned bytes cannot change the reading: with every accepted gap's
 *     hex digits replaced by '0', the same signatures are found with the same
 *     ranges and flags.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smime/pdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL)
		return;
	while (*p != '\0') {
		size_t n;
		uint32_t cp;

		if (*p < 0x80) {
			if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
				abort();
			if (*p == 0x7F)
				abort();
			p++;
			continue;
		}
		if ((*p & 0xE0) == 0xC0) {
			n = 2;
			cp = *p & 0x1F;
		} else if ((*p & 0xF0) == 0xE0) {
			n = 3;
			cp = *p & 0x0F;
		} else if ((*p & 0xF8) == 0xF0) {
			n = 4;
			cp = *p & 0x07;
		} else {
			abort();
		}
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				abort();
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000) || (cp >= 0x80 && cp < 0xA0))
			abort();
		p += n;
	}
}

static bool
is_hexdigit_or_ws(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\0';
}

static void
check(const uint8_t *data, size_t size, const struct pdf_sig *sigs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct pdf_sig *s = &sigs[i];
		const int64_t *b = s->byte_range;

		if (s->dict_offset >= size || (i > 0 && sigs[i - 1].dict_offset > s->dict_offset))
			abort();
		if (s->byte_range_ok) {
			if (b[0] != 0 || b[1] <= 0 || b[2] <= b[1] + 1 || b[3] < 0 ||
			    (uint64_t)b[2] + (uint64_t)b[3] > size)
				abort();
			if (data[b[1]] != '<' || data[b[2] - 1] != '>' || s->dict_offset >= (size_t)b[1])
				abort();
			for (int64_t k = b[1] + 1; k < b[2] - 1; k++)
				if (!is_hexdigit_or_ws(data[k]))
					abort();
		}
		if (s->covers_whole_file != (s->byte_range_ok && (uint64_t)b[2] + (uint64_t)b[3] == size))
			abort();
		if ((s->contents == NULL && s->contents_len != 0) || s->contents_len > size)
			abort();
		if (s->certification ? s->docmdp_p < 1 || s->docmdp_p > 3 : s->docmdp_p != 0)
			abort();
		if (s->type != PDF_SIG_SIGNATURE && s->type != PDF_SIG_DOC_TIMESTAMP)
			abort();
		check_utf8(s->field);
		check_utf8(s->name);
		check_utf8(s->reason);
		check_utf8(s->location);
		check_utf8(s->signing_time);
		for (const char *q = s->subfilter; q != NULL && *q != '\0'; q++)
			if (*q < '!' || *q > '~')
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pdf_sig *sigs = NULL, *again = NULL;
	size_t n = 0, n2 = 0;
	struct kerr err = KERR_INIT;
	unsigned char *zeroed;
	bool any = false;

	(void)pdf_sniff(data, size);
	if (!pdf_find_signatures(data, size, &sigs, &n, &err)) {
		if (err.cls != KERR_PERM || err.msg[0] == '\0' || sigs != NULL || n != 0)
			abort();
		return 0;
	}
	if ((n == 0) != (sigs == NULL))
		abort();
	check(data, size, sigs, n);

	/* the gaps are not signed: what is in them must not change the reading */
	zeroed = malloc(size ? size : 1);
	if (zeroed == NULL)
		abort();
	memcpy(zeroed, data, size);
	for (size_t i = 0; i < n; i++) {
		if (!sigs[i].byte_range_ok)
			continue;
		for (int64_t k = sigs[i].byte_range[1] + 1; k < sigs[i].byte_range[2] - 1; k++)
			if (zeroed[k] != ' ' && zeroed[k] != '\t' && zeroed[k] != '\r' && zeroed[k] != '\n' &&
			    zeroed[k] != '\f' && zeroed[k] != '\0')
				zeroed[k] = '0';
		any = true;
	}
	if (any) {
		if (!pdf_find_signatures(zeroed, size, &again, &n2, &err) || n2 != n)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (again[i].dict_offset != sigs[i].dict_offset ||
			    memcmp(again[i].byte_range, sigs[i].byte_range, sizeof(sigs[i].byte_range)) != 0 ||
			    again[i].byte_range_ok != sigs[i].byte_range_ok ||
			    again[i].covers_whole_file != sigs[i].covers_whole_file ||
			    again[i].type != sigs[i].type || again[i].certification != sigs[i].certification)
				abort();
		}
		pdf_sigs_free(&again, n2);
	}
	free(zeroed);
	pdf_sigs_free(&sigs, n);
	return 0;
}
