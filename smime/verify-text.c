/* verify-text.c - the words of verification: verdict, reason, kind and
 * coverage codes (the contract's), sentences a clerk understands in
 * Vietnamese and English, and making hostile text safe to show. */
#include "config.h"

#include <string.h>

#include "smime/verify.h"

static const struct {
	const char *code;
	const char *vi;
	const char *en;
} reasons[SMIME_REASON_COUNT] = {
	{ "digest-mismatch",
	  "Chữ ký không khớp với nội dung: thư hoặc tài liệu đã bị sửa sau khi ký.",
	  "The signature does not match the content: the message or document was changed after signing." },
	{ "bad-signature",
	  "Giá trị chữ ký sai: chữ ký bị hỏng, bị giả mạo hoặc không thuộc về chứng thư số đi kèm.",
	  "The signature value is wrong: the signature is damaged, forged, or does not belong to the "
	  "certificate that comes with it." },
	{ "econtent-mismatch",
	  "Chữ ký mang theo một nội dung khác với nội dung được hiển thị; không được tin nội dung này.",
	  "The signature carries other content than the content shown; the content shown must not be trusted." },
	{ "no-signer",
	  "Không xác định được người ký: chữ ký không có người ký hoặc thiếu chứng thư số của người ký.",
	  "No signer can be found: the signature names no signer, or the signer's certificate is missing." },
	{ "multiple-signers",
	  "Chữ ký có nhiều người ký; chỉ chấp nhận chữ ký của một người.",
	  "The signature has several signers; only a signature by one signer is accepted." },
	{ "untrusted-chain",
	  "Chứng thư số không dẫn tới tổ chức chứng thực được tin cậy (thiếu chứng thư trung gian "
	  "hoặc do nơi không được tin cậy cấp).",
	  "The certificate does not lead to a trusted certification authority (an intermediate "
	  "certificate is missing, or it was issued by an untrusted party)." },
	{ "expired",
	  "Chứng thư số đã hết hạn tại thời điểm kiểm tra và không có bằng chứng về thời điểm ký.",
	  "The certificate had expired at the time checked, and there is no proof of when the "
	  "signature was made." },
	{ "not-yet-valid",
	  "Chứng thư số chưa có hiệu lực tại thời điểm kiểm tra.",
	  "The certificate was not yet valid at the time checked." },
	{ "revoked",
	  "Chứng thư số đã bị thu hồi.",
	  "The certificate has been revoked." },
	{ "revocation-unknown",
	  "Không kiểm tra được chứng thư số có bị thu hồi hay không.",
	  "Whether the certificate has been revoked could not be checked." },
	{ "key-usage",
	  "Chứng thư số không được phép dùng để ký loại nội dung này.",
	  "The certificate is not allowed to sign this kind of content." },
	{ "weak-algorithm",
	  "Chữ ký dùng thuật toán hoặc khóa yếu (MD5, SHA-1 hoặc khóa RSA dưới 2048 bit).",
	  "The signature uses a weak algorithm or key (MD5, SHA-1, or an RSA key under 2048 bits)." },
	{ "sender-mismatch",
	  "Địa chỉ người gửi không có trong chứng thư số của người ký: thư có thể bị giả danh.",
	  "The sender's address is not in the signer's certificate: the message may be sent in "
	  "someone else's name." },
	{ "time-mismatch",
	  "Thời điểm ký trong chữ ký khác xa ngày gửi ghi trong thư.",
	  "The signing time in the signature is far from the date written in the message." },
	{ "partial-coverage",
	  "Chữ ký chỉ bao phủ một phần nội dung; phần còn lại không được ký.",
	  "The signature covers only part of the content; the rest is not signed." },
	{ "modified-after-signing",
	  "Tài liệu đã bị thay đổi sau khi ký: có nội dung được thêm vào sau chữ ký.",
	  "The document was changed after it was signed: content was added after the signature." },
	{ "malformed",
	  "Chữ ký hoặc nội dung bị hỏng, không đầy đủ hoặc không đọc được.",
	  "The signature or the content is damaged, incomplete or unreadable." },
	{ "unsupported-algorithm",
	  "Chữ ký dùng thuật toán mà kyso chưa hỗ trợ, nên chưa kiểm tra được.",
	  "The signature uses an algorithm kyso does not support, so it could not be checked." },
};

static int
reason_index(enum smime_reason r)
{
	uint32_t bit = (uint32_t)r;

	if (bit == 0 || (bit & (bit - 1)) != 0)
		return -1;
	for (int i = 0; i < SMIME_REASON_COUNT; i++)
		if (bit == 1u << i)
			return i;
	return -1;
}

static bool
lang_vi(const char *lang)
{
	return lang != NULL && (lang[0] == 'v' || lang[0] == 'V') && (lang[1] == 'i' || lang[1] == 'I');
}

const char *
smime_reason_code(enum smime_reason r)
{
	int i = reason_index(r);

	return i < 0 ? NULL : reasons[i].code;
}

const char *
smime_reason_text(enum smime_reason r, const char *lang)
{
	int i = reason_index(r);

	if (i < 0)
		return NULL;
	return lang_vi(lang) ? reasons[i].vi : reasons[i].en;
}

static const struct {
	const char *code;
	const char *vi;
	const char *en;
} verdicts[] = {
	[SMIME_VERDICT_VALID] = { "valid", "Hợp lệ", "Valid" },
	[SMIME_VERDICT_PARTIAL] = { "partial", "Chỉ một phần được ký hợp lệ", "Only partly validly signed" },
	[SMIME_VERDICT_INVALID] = { "invalid", "Không hợp lệ", "Invalid" },
	[SMIME_VERDICT_INDETERMINATE] = { "indeterminate", "Chưa xác định được", "Cannot be determined" },
	[SMIME_VERDICT_UNSIGNED] = { "unsigned", "Không có chữ ký số", "Not signed" },
	[SMIME_VERDICT_ENCRYPTED] = { "encrypted", "Đã mã hóa, không kiểm tra được", "Encrypted, cannot be checked" },
	[SMIME_VERDICT_MALFORMED] = { "malformed", "Hỏng, không đọc được", "Malformed, cannot be read" },
};

const char *
smime_verdict_code(enum smime_verdict v)
{
	if ((unsigned)v >= sizeof(verdicts) / sizeof(verdicts[0]))
		return NULL;
	return verdicts[v].code;
}

const char *
smime_verdict_text(enum smime_verdict v, const char *lang)
{
	if ((unsigned)v >= sizeof(verdicts) / sizeof(verdicts[0]))
		return NULL;
	return lang_vi(lang) ? verdicts[v].vi : verdicts[v].en;
}

const char *
smime_sig_kind_code(enum smime_sig_kind k)
{
	switch (k) {
	case SMIME_KIND_MULTIPART_SIGNED: return "multipart-signed";
	case SMIME_KIND_OPAQUE: return "opaque";
	case SMIME_KIND_P7S: return "p7s";
	case SMIME_KIND_P7M: return "p7m";
	case SMIME_KIND_PDF: return "pdf";
	case SMIME_KIND_PDF_TIMESTAMP: return "pdf-timestamp";
	}
	return NULL;
}

const char *
smime_coverage_code(enum smime_coverage c)
{
	switch (c) {
	case SMIME_COVERS_WHOLE: return "whole";
	case SMIME_COVERS_PART: return "part";
	case SMIME_COVERS_PARTIAL_FILE: return "partial-file";
	}
	return NULL;
}

/* --- verdict arithmetic --- */

#define R_INVALID (SMIME_R_DIGEST_MISMATCH | SMIME_R_BAD_SIGNATURE | SMIME_R_ECONTENT_MISMATCH | \
	SMIME_R_NO_SIGNER | SMIME_R_MULTIPLE_SIGNERS | SMIME_R_NOT_YET_VALID | SMIME_R_REVOKED | \
	SMIME_R_KEY_USAGE | SMIME_R_WEAK_ALGORITHM | SMIME_R_SENDER_MISMATCH | SMIME_R_TIME_MISMATCH | \
	SMIME_R_PARTIAL_COVERAGE | SMIME_R_MODIFIED_AFTER_SIGNING)
#define R_INDETERMINATE (SMIME_R_UNTRUSTED_CHAIN | SMIME_R_EXPIRED | SMIME_R_REVOCATION_UNKNOWN | \
	SMIME_R_UNSUPPORTED)

uint32_t
verify_warnings(enum smime_revocation_policy rp)
{
	return rp == SMIME_REVOCATION_REQUIRE ? 0 : SMIME_R_REVOCATION_UNKNOWN;
}

enum smime_verdict
verify_verdict_of(uint32_t r, enum smime_revocation_policy rp)
{
	r &= ~verify_warnings(rp);
	if (r & SMIME_R_MALFORMED)
		return SMIME_VERDICT_MALFORMED;
	if (r & R_INVALID)
		return SMIME_VERDICT_INVALID;
	if (r & R_INDETERMINATE)
		return SMIME_VERDICT_INDETERMINATE;
	if (r != 0)
		return SMIME_VERDICT_INVALID;   /* an unknown bit is never valid */
	return SMIME_VERDICT_VALID;
}

int
verify_verdict_rank(enum smime_verdict v)
{
	switch (v) {
	case SMIME_VERDICT_VALID: return 0;
	case SMIME_VERDICT_PARTIAL: return 1;
	case SMIME_VERDICT_UNSIGNED: return 2;
	case SMIME_VERDICT_ENCRYPTED: return 3;
	case SMIME_VERDICT_INDETERMINATE: return 4;
	case SMIME_VERDICT_MALFORMED: return 5;
	case SMIME_VERDICT_INVALID: return 6;
	}
	return 7;
}

enum smime_verdict
verify_verdict_worst(enum smime_verdict a, enum smime_verdict b)
{
	return verify_verdict_rank(a) >= verify_verdict_rank(b) ? a : b;
}

/* --- safe text --- */

static bool
hidden_codepoint(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

char *
verify_clean_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf out = BUF_INIT;
	size_t i = 0;

	buf_reserve(&out, n + 1);
	while (i < n) {
		uint32_t c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && i + len <= n;

		if (ok && len > 1) {
			c &= 0xffu >> (len + 1);
			for (size_t k = 1; k < len; k++) {
				if ((p[i + k] & 0xc0) != 0x80) {
					ok = false;
					break;
				}
				c = (c << 6) | (p[i + k] & 0x3f);
			}
			/* overlong forms, surrogates, beyond U+10FFFF */
			if (ok && ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
			    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff))
				ok = false;
		}
		if (!ok) {
			buf_appends(&out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (hidden_codepoint(c))
			buf_append(&out, "?", 1);
		else
			buf_append(&out, p + i, len);
		i += len;
	}
	return buf_steal(&out, NULL);
}
