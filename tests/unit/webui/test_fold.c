/* Unit tests of webui/fold.c: Vietnamese-aware search folding. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smime/base.h"
#include "webui/fold.h"
#include "tests/unit/testmain.h"

/* Every Vietnamese letter with a diacritic: the 12 vowels (a ă â e ê i o ô
 * ơ u ư y) in both cases with no tone and the five tones (huyền, hỏi, ngã,
 * sắc, nặng), precomposed (NFC) and decomposed (NFD), plus đ/Đ.  Generated
 * with Python's unicodedata.normalize; the expected fold is the base letter. */
static const struct {
	const char *nfc, *nfd, *want;
} vn[] = {
	{ "a", "a", "a" },  /* a */
	{ "à", "a\xcc\x80", "a" },  /* à */
	{ "ả", "a\xcc\x89", "a" },  /* ả */
	{ "ã", "a\xcc\x83", "a" },  /* ã */
	{ "á", "a\xcc\x81", "a" },  /* á */
	{ "ạ", "a\xcc\xa3", "a" },  /* ạ */
	{ "A", "A", "a" },  /* A */
	{ "À", "A\xcc\x80", "a" },  /* À */
	{ "Ả", "A\xcc\x89", "a" },  /* Ả */
	{ "Ã", "A\xcc\x83", "a" },  /* Ã */
	{ "Á", "A\xcc\x81", "a" },  /* Á */
	{ "Ạ", "A\xcc\xa3", "a" },  /* Ạ */
	{ "ă", "a\xcc\x86", "a" },  /* ă */
	{ "ằ", "a\xcc\x86\xcc\x80", "a" },  /* ằ */
	{ "ẳ", "a\xcc\x86\xcc\x89", "a" },  /* ẳ */
	{ "ẵ", "a\xcc\x86\xcc\x83", "a" },  /* ẵ */
	{ "ắ", "a\xcc\x86\xcc\x81", "a" },  /* ắ */
	{ "ặ", "a\xcc\xa3\xcc\x86", "a" },  /* ặ */
	{ "Ă", "A\xcc\x86", "a" },  /* Ă */
	{ "Ằ", "A\xcc\x86\xcc\x80", "a" },  /* Ằ */
	{ "Ẳ", "A\xcc\x86\xcc\x89", "a" },  /* Ẳ */
	{ "Ẵ", "A\xcc\x86\xcc\x83", "a" },  /* Ẵ */
	{ "Ắ", "A\xcc\x86\xcc\x81", "a" },  /* Ắ */
	{ "Ặ", "A\xcc\xa3\xcc\x86", "a" },  /* Ặ */
	{ "â", "a\xcc\x82", "a" },  /* â */
	{ "ầ", "a\xcc\x82\xcc\x80", "a" },  /* ầ */
	{ "ẩ", "a\xcc\x82\xcc\x89", "a" },  /* ẩ */
	{ "ẫ", "a\xcc\x82\xcc\x83", "a" },  /* ẫ */
	{ "ấ", "a\xcc\x82\xcc\x81", "a" },  /* ấ */
	{ "ậ", "a\xcc\xa3\xcc\x82", "a" },  /* ậ */
	{ "Â", "A\xcc\x82", "a" },  /* Â */
	{ "Ầ", "A\xcc\x82\xcc\x80", "a" },  /* Ầ */
	{ "Ẩ", "A\xcc\x82\xcc\x89", "a" },  /* Ẩ */
	{ "Ẫ", "A\xcc\x82\xcc\x83", "a" },  /* Ẫ */
	{ "Ấ", "A\xcc\x82\xcc\x81", "a" },  /* Ấ */
	{ "Ậ", "A\xcc\xa3\xcc\x82", "a" },  /* Ậ */
	{ "e", "e", "e" },  /* e */
	{ "è", "e\xcc\x80", "e" },  /* è */
	{ "ẻ", "e\xcc\x89", "e" },  /* ẻ */
	{ "ẽ", "e\xcc\x83", "e" },  /* ẽ */
	{ "é", "e\xcc\x81", "e" },  /* é */
	{ "ẹ", "e\xcc\xa3", "e" },  /* ẹ */
	{ "E", "E", "e" },  /* E */
	{ "È", "E\xcc\x80", "e" },  /* È */
	{ "Ẻ", "E\xcc\x89", "e" },  /* Ẻ */
	{ "Ẽ", "E\xcc\x83", "e" },  /* Ẽ */
	{ "É", "E\xcc\x81", "e" },  /* É */
	{ "Ẹ", "E\xcc\xa3", "e" },  /* Ẹ */
	{ "ê", "e\xcc\x82", "e" },  /* ê */
	{ "ề", "e\xcc\x82\xcc\x80", "e" },  /* ề */
	{ "ể", "e\xcc\x82\xcc\x89", "e" },  /* ể */
	{ "ễ", "e\xcc\x82\xcc\x83", "e" },  /* ễ */
	{ "ế", "e\xcc\x82\xcc\x81", "e" },  /* ế */
	{ "ệ", "e\xcc\xa3\xcc\x82", "e" },  /* ệ */
	{ "Ê", "E\xcc\x82", "e" },  /* Ê */
	{ "Ề", "E\xcc\x82\xcc\x80", "e" },  /* Ề */
	{ "Ể", "E\xcc\x82\xcc\x89", "e" },  /* Ể */
	{ "Ễ", "E\xcc\x82\xcc\x83", "e" },  /* Ễ */
	{ "Ế", "E\xcc\x82\xcc\x81", "e" },  /* Ế */
	{ "Ệ", "E\xcc\xa3\xcc\x82", "e" },  /* Ệ */
	{ "i", "i", "i" },  /* i */
	{ "ì", "i\xcc\x80", "i" },  /* ì */
	{ "ỉ", "i\xcc\x89", "i" },  /* ỉ */
	{ "ĩ", "i\xcc\x83", "i" },  /* ĩ */
	{ "í", "i\xcc\x81", "i" },  /* í */
	{ "ị", "i\xcc\xa3", "i" },  /* ị */
	{ "I", "I", "i" },  /* I */
	{ "Ì", "I\xcc\x80", "i" },  /* Ì */
	{ "Ỉ", "I\xcc\x89", "i" },  /* Ỉ */
	{ "Ĩ", "I\xcc\x83", "i" },  /* Ĩ */
	{ "Í", "I\xcc\x81", "i" },  /* Í */
	{ "Ị", "I\xcc\xa3", "i" },  /* Ị */
	{ "o", "o", "o" },  /* o */
	{ "ò", "o\xcc\x80", "o" },  /* ò */
	{ "ỏ", "o\xcc\x89", "o" },  /* ỏ */
	{ "õ", "o\xcc\x83", "o" },  /* õ */
	{ "ó", "o\xcc\x81", "o" },  /* ó */
	{ "ọ", "o\xcc\xa3", "o" },  /* ọ */
	{ "O", "O", "o" },  /* O */
	{ "Ò", "O\xcc\x80", "o" },  /* Ò */
	{ "Ỏ", "O\xcc\x89", "o" },  /* Ỏ */
	{ "Õ", "O\xcc\x83", "o" },  /* Õ */
	{ "Ó", "O\xcc\x81", "o" },  /* Ó */
	{ "Ọ", "O\xcc\xa3", "o" },  /* Ọ */
	{ "ô", "o\xcc\x82", "o" },  /* ô */
	{ "ồ", "o\xcc\x82\xcc\x80", "o" },  /* ồ */
	{ "ổ", "o\xcc\x82\xcc\x89", "o" },  /* ổ */
	{ "ỗ", "o\xcc\x82\xcc\x83", "o" },  /* ỗ */
	{ "ố", "o\xcc\x82\xcc\x81", "o" },  /* ố */
	{ "ộ", "o\xcc\xa3\xcc\x82", "o" },  /* ộ */
	{ "Ô", "O\xcc\x82", "o" },  /* Ô */
	{ "Ồ", "O\xcc\x82\xcc\x80", "o" },  /* Ồ */
	{ "Ổ", "O\xcc\x82\xcc\x89", "o" },  /* Ổ */
	{ "Ỗ", "O\xcc\x82\xcc\x83", "o" },  /* Ỗ */
	{ "Ố", "O\xcc\x82\xcc\x81", "o" },  /* Ố */
	{ "Ộ", "O\xcc\xa3\xcc\x82", "o" },  /* Ộ */
	{ "ơ", "o\xcc\x9b", "o" },  /* ơ */
	{ "ờ", "o\xcc\x9b\xcc\x80", "o" },  /* ờ */
	{ "ở", "o\xcc\x9b\xcc\x89", "o" },  /* ở */
	{ "ỡ", "o\xcc\x9b\xcc\x83", "o" },  /* ỡ */
	{ "ớ", "o\xcc\x9b\xcc\x81", "o" },  /* ớ */
	{ "ợ", "o\xcc\x9b\xcc\xa3", "o" },  /* ợ */
	{ "Ơ", "O\xcc\x9b", "o" },  /* Ơ */
	{ "Ờ", "O\xcc\x9b\xcc\x80", "o" },  /* Ờ */
	{ "Ở", "O\xcc\x9b\xcc\x89", "o" },  /* Ở */
	{ "Ỡ", "O\xcc\x9b\xcc\x83", "o" },  /* Ỡ */
	{ "Ớ", "O\xcc\x9b\xcc\x81", "o" },  /* Ớ */
	{ "Ợ", "O\xcc\x9b\xcc\xa3", "o" },  /* Ợ */
	{ "u", "u", "u" },  /* u */
	{ "ù", "u\xcc\x80", "u" },  /* ù */
	{ "ủ", "u\xcc\x89", "u" },  /* ủ */
	{ "ũ", "u\xcc\x83", "u" },  /* ũ */
	{ "ú", "u\xcc\x81", "u" },  /* ú */
	{ "ụ", "u\xcc\xa3", "u" },  /* ụ */
	{ "U", "U", "u" },  /* U */
	{ "Ù", "U\xcc\x80", "u" },  /* Ù */
	{ "Ủ", "U\xcc\x89", "u" },  /* Ủ */
	{ "Ũ", "U\xcc\x83", "u" },  /* Ũ */
	{ "Ú", "U\xcc\x81", "u" },  /* Ú */
	{ "Ụ", "U\xcc\xa3", "u" },  /* Ụ */
	{ "ư", "u\xcc\x9b", "u" },  /* ư */
	{ "ừ", "u\xcc\x9b\xcc\x80", "u" },  /* ừ */
	{ "ử", "u\xcc\x9b\xcc\x89", "u" },  /* ử */
	{ "ữ", "u\xcc\x9b\xcc\x83", "u" },  /* ữ */
	{ "ứ", "u\xcc\x9b\xcc\x81", "u" },  /* ứ */
	{ "ự", "u\xcc\x9b\xcc\xa3", "u" },  /* ự */
	{ "Ư", "U\xcc\x9b", "u" },  /* Ư */
	{ "Ừ", "U\xcc\x9b\xcc\x80", "u" },  /* Ừ */
	{ "Ử", "U\xcc\x9b\xcc\x89", "u" },  /* Ử */
	{ "Ữ", "U\xcc\x9b\xcc\x83", "u" },  /* Ữ */
	{ "Ứ", "U\xcc\x9b\xcc\x81", "u" },  /* Ứ */
	{ "Ự", "U\xcc\x9b\xcc\xa3", "u" },  /* Ự */
	{ "y", "y", "y" },  /* y */
	{ "ỳ", "y\xcc\x80", "y" },  /* ỳ */
	{ "ỷ", "y\xcc\x89", "y" },  /* ỷ */
	{ "ỹ", "y\xcc\x83", "y" },  /* ỹ */
	{ "ý", "y\xcc\x81", "y" },  /* ý */
	{ "ỵ", "y\xcc\xa3", "y" },  /* ỵ */
	{ "Y", "Y", "y" },  /* Y */
	{ "Ỳ", "Y\xcc\x80", "y" },  /* Ỳ */
	{ "Ỷ", "Y\xcc\x89", "y" },  /* Ỷ */
	{ "Ỹ", "Y\xcc\x83", "y" },  /* Ỹ */
	{ "Ý", "Y\xcc\x81", "y" },  /* Ý */
	{ "Ỵ", "Y\xcc\xa3", "y" },  /* Ỵ */
	{ "đ", "\xc4\x91", "d" },  /* đ */
	{ "Đ", "\xc4\x90", "d" },  /* Đ */
};

static void
expect(const char *in, const char *want)
{
	char *got = webui_fold(in);

	ck_assert_msg(strcmp(got, want) == 0, "fold(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	free(got);
}

START_TEST(every_vietnamese_letter)
{
	ck_assert_uint_eq(sizeof(vn) / sizeof(vn[0]), 146);
	for (size_t i = 0; i < sizeof(vn) / sizeof(vn[0]); i++) {
		char in[64];

		expect(vn[i].nfc, vn[i].want);
		expect(vn[i].nfd, vn[i].want);
		/* inside a word, between letters */
		snprintf(in, sizeof(in), "X%sY", vn[i].nfc);
		{
			char want[8];

			snprintf(want, sizeof(want), "x%sy", vn[i].want);
			expect(in, want);
			snprintf(in, sizeof(in), "X%sY", vn[i].nfd);
			expect(in, want);
		}
	}
}
END_TEST

START_TEST(names_and_subjects)
{
	static const char *const cases[][2] = {
		{ "Trần Kim Ngân", "tran kim ngan" },
		{ "Tra\xcc\x80\xcc\x82n Kim Nga\xcc\x82n", "tran kim ngan" },      /* NFD, marks in either order */
		{ "Tra\xcc\x82\xcc\x80n Kim Nga\xcc\x82n", "tran kim ngan" },
		{ "NGUYỄN VĂN ĐỨC", "nguyen van duc" },
		{ "Đặng Thị Thu Hương", "dang thi thu huong" },
		{ "Công văn số 123/UBND-VP về việc triển khai",
		  "cong van so 123 ubnd vp ve viec trien khai" },
		{ "  --Sở Tài chính, tỉnh Bến Lức!!  ", "so tai chinh tinh ben luc" },
		{ "Phạm_Quốc.Khánh@benluc.gov.vn", "pham quoc khanh benluc gov vn" },
		{ "ƯỚC TÍNH Ỷ LẠI", "uoc tinh y lai" },
		{ "ngâ", "nga" },
		{ "TRAN", "tran" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(cases[i][0], cases[i][1]);
}
END_TEST

START_TEST(latin_letters)
{
	static const char *const cases[][2] = {
		{ "Ångström Müller Françoise Øresund", "angstrom muller francoise oresund" },
		{ "Łódź Źródło Ščuka Țară Șir", "lodz zrodlo scuka tara sir" },
		{ "Straße Æsir œuvre Þór", "strasse aesir oeuvre thor" },
		{ "ǅemal Ǉubljana ĳs", "dzemal ljubljana ijs" },
		{ "ǍǏǑǓ ȀȄȈȌ Ơ ơ Ư ư", "aiou aeio o o u u" },
		{ "ＡＢＣ１２３ｘ", "abc123x" },
		{ "ḂḊḞ ẞ", "bdf ss" },
		{ "a\xc2\xad" "b", "ab" },              /* soft hyphen vanishes */
		{ "a\xe2\x80\x8b" "b", "ab" },          /* zero-width space vanishes */
		{ "\xef\xbb\xbfTr\xe1\xba\xa7n", "tran" },   /* BOM */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(cases[i][0], cases[i][1]);
}
END_TEST

START_TEST(other_scripts_separate)
{
	static const char *const cases[][2] = {
		{ "Trần Иван 中文 abc", "tran abc" },
		{ "Ngân—Hà…«Hải»", "ngan ha hai" },
		{ "€100 ×2 ÷3 ©®", "100 2 3" },
		{ "Αθήνα", "" },
		{ "x\xf0\x9f\x98\x80y", "x y" },        /* emoji */
		{ "\xcc\x80\xcc\x81", "" },            /* lone combining marks */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(cases[i][0], cases[i][1]);
}
END_TEST

START_TEST(invalid_utf8)
{
	static const char *const cases[][2] = {
		{ "a\xff" "b", "a b" },
		{ "a\xc3", "a" },                      /* truncated at the end */
		{ "a\xc3" "b", "a b" },                /* lead byte then ASCII */
		{ "a\x80\x80" "b", "a b" },            /* stray continuations */
		{ "a\xc0\xa1" "b", "a b" },            /* overlong '!' */
		{ "a\xe0\x80\xa1" "b", "a b" },        /* overlong, 3 bytes */
		{ "a\xed\xa0\x80" "b", "a b" },        /* surrogate */
		{ "a\xf4\x90\x80\x80" "b", "a b" },    /* beyond U+10FFFF */
		{ "a\xf8\x88\x80\x80\x80" "b", "a b" },
		{ "\xe1\xba", "" },                    /* half of "ầ" */
		{ "Tr\xe1\xba\xa7\xe1n", "tra n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(cases[i][0], cases[i][1]);
}
END_TEST

START_TEST(empty_and_null)
{
	expect("", "");
	expect("   ", "");
	expect("!?./", "");
	{
		char *got = webui_fold(NULL);

		ck_assert_str_eq(got, "");
		free(got);
	}
}
END_TEST

/* Every code point of the folded ranges, and every byte string of length 1
 * and 2: output is [a-z0-9 ] only, no double or edge spaces, never longer
 * than the input. */
START_TEST(output_shape)
{
	char in[8];

	for (uint32_t cp = 0x80; cp < 0x2100; cp++) {
		char *got;
		size_t n;

		if (cp < 0x800) {
			in[0] = (char)(0xC0 | (cp >> 6));
			in[1] = (char)(0x80 | (cp & 0x3F));
			n = 2;
		} else {
			in[0] = (char)(0xE0 | (cp >> 12));
			in[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			in[2] = (char)(0x80 | (cp & 0x3F));
			n = 3;
		}
		in[n] = '\0';
		got = webui_fold(in);
		ck_assert_uint_le(strlen(got), n);
		for (const char *p = got; *p != '\0'; p++)
			ck_assert_msg((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'),
			    "U+%04X -> \"%s\"", (unsigned)cp, got);
		if (cp >= 0x1EA0 && cp <= 0x1EF9)      /* Vietnamese block: all letters */
			ck_assert_msg(strlen(got) == 1, "U+%04X -> \"%s\"", (unsigned)cp, got);
		free(got);
	}
	for (unsigned a = 1; a < 256; a++)
		for (unsigned b = 1; b < 256; b++) {
			char *got;
			size_t len;

			in[0] = (char)a, in[1] = (char)b, in[2] = '\0';
			got = webui_fold(in);
			len = strlen(got);
			ck_assert_uint_le(len, 2);
			if (len > 0) {
				ck_assert(got[0] != ' ' && got[len - 1] != ' ');
			}
			free(got);
		}
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("fold");
	TCase *tc = tcase_create("fold");

	tcase_add_test(tc, every_vietnamese_letter);
	tcase_add_test(tc, names_and_subjects);
	tcase_add_test(tc, latin_letters);
	tcase_add_test(tc, other_scripts_separate);
	tcase_add_test(tc, invalid_utf8);
	tcase_add_test(tc, empty_and_null);
	tcase_add_test(tc, output_shape);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
