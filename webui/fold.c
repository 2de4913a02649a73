/*
 * fold.c - see fold.h.  Vietnamese-aware search folding, table-driven:
 * no locale, no iconv, no allocation beyond the result.
 *
 * How a code point is folded:
 *   - ASCII letters and digits: lower-cased / kept;
 *   - U+00C0..U+024F (Latin-1 Supplement letters, Latin Extended-A and -B)
 *     and U+1E00..U+1EFF (Latin Extended Additional, where precomposed
 *     Vietnamese lives: Ạ..ỹ): the table below gives the base letter(s);
 *   - fullwidth ASCII letters and digits (U+FF10.., U+FF21.., U+FF41..);
 *   - combining marks (U+0300..U+036F, and U+1AB0..U+1AFF, U+1DC0..U+1DFF,
 *     U+20D0..U+20FF, U+FE20..U+FE2F) and invisible format characters
 *     (soft hyphen, zero-width space/joiners, word joiner, BOM) are dropped,
 *     so that NFD input ("a" U+0300 U+0302) folds like NFC ("ầ");
 *   - everything else (punctuation, other scripts, invalid UTF-8 bytes) is a
 *     word separator: runs of separators become one space, none at the ends.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smime/base.h"
#include "webui/fold.h"

/*
 * Base letters for U+00C0..U+024F, 16 code points a line.  ' ' is a
 * separator; '*' means "see latin_multi" (a letter that folds to two).
 */
static const char latin[] =
    /* 00C0 ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏ */ "aaaaaa*ceeeeiiii"
    /* 00D0 ÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞß */ "dnooooo ouuuuy**"
    /* 00E0 àáâãäåæçèéêëìíîï */ "aaaaaa*ceeeeiiii"
    /* 00F0 ðñòóôõö÷øùúûüýþÿ */ "dnooooo ouuuuy*y"
    /* 0100 ĀāĂăĄąĆćĈĉĊċČčĎď */ "aaaaaaccccccccdd"
    /* 0110 ĐđĒēĔĕĖėĘęĚěĜĝĞğ */ "ddeeeeeeeeeegggg"
    /* 0120 ĠġĢģĤĥĦħĨĩĪīĬĭĮį */ "gggghhhhiiiiiiii"
    /* 0130 İıĲĳĴĵĶķĸĹĺĻļĽľĿ */ "ii**jjkkklllllll"
    /* 0140 ŀŁłŃńŅņŇňŉŊŋŌōŎŏ */ "lllnnnnnnnnnoooo"
    /* 0150 ŐőŒœŔŕŖŗŘřŚśŜŝŞş */ "oo**rrrrrrssssss"
    /* 0160 ŠšŢţŤťŦŧŨũŪūŬŭŮů */ "ssttttttuuuuuuuu"
    /* 0170 ŰűŲųŴŵŶŷŸŹźŻżŽžſ */ "uuuuwwyyyzzzzzzs"
    /* 0180 ƀƁƂƃƄƅƆƇƈƉƊƋƌƍƎƏ */ "bbbbbboccdddddee"
    /* 0190 ƐƑƒƓƔƕƖƗƘƙƚƛƜƝƞƟ */ "effgg*iikkllmnno"
    /* 01A0 ƠơƢƣƤƥƦƧƨƩƪƫƬƭƮƯ */ "oooopprssssttttu"
    /* 01B0 ưƱƲƳƴƵƶƷƸƹƺƻƼƽƾƿ */ "uuvyyzzzzzz    w"
    /* 01C0 ǀǁǂǃǄǅǆǇǈǉǊǋǌǍǎǏ */ "    *********aai"
    /* 01D0 ǐǑǒǓǔǕǖǗǘǙǚǛǜǝǞǟ */ "ioouuuuuuuuuueaa"
    /* 01E0 ǠǡǢǣǤǥǦǧǨǩǪǫǬǭǮǯ */ "aa**ggggkkoooozz"
    /* 01F0 ǰǱǲǳǴǵǶǷǸǹǺǻǼǽǾǿ */ "j***gg*wnnaa**oo"
    /* 0200 ȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏ */ "aaaaeeeeiiiioooo"
    /* 0210 ȐȑȒȓȔȕȖȗȘșȚțȜȝȞȟ */ "rrrruuuussttyyhh"
    /* 0220 ȠȡȢȣȤȥȦȧȨȩȪȫȬȭȮȯ */ "nd**zzaaeeoooooo"
    /* 0230 ȰȱȲȳȴȵȶȷȸȹȺȻȼȽȾȿ */ "ooyylntj**acclts"
    /* 0240 ɀɁɂɃɄɅɆɇɈɉɊɋɌɍɎɏ */ "z  buveejjqqrryy";

/* Base letters for U+1E00..U+1EFF (Latin Extended Additional). */
static const char latin_add[] =
    /* 1E00 ḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏ */ "aabbbbbbccdddddd"
    /* 1E10 ḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟ */ "ddddeeeeeeeeeeff"
    /* 1E20 ḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯ */ "gghhhhhhhhhhiiii"
    /* 1E30 ḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿ */ "kkkkkkllllllllmm"
    /* 1E40 ṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏ */ "mmmmnnnnnnnnoooo"
    /* 1E50 ṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟ */ "oooopppprrrrrrrr"
    /* 1E60 ṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯ */ "sssssssssstttttt"
    /* 1E70 ṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿ */ "ttuuuuuuuuuuvvvv"
    /* 1E80 ẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏ */ "wwwwwwwwwwxxxxyy"
    /* 1E90 ẐẑẒẓẔẕẖẗẘẙẚẛẜẝẞẟ */ "zzzzzzhtwyasss*d"
    /* 1EA0 ẠạẢảẤấẦầẨẩẪẫẬậẮắ */ "aaaaaaaaaaaaaaaa"
    /* 1EB0 ẰằẲẳẴẵẶặẸẹẺẻẼẽẾế */ "aaaaaaaaeeeeeeee"
    /* 1EC0 ỀềỂểỄễỆệỈỉỊịỌọỎỏ */ "eeeeeeeeiiiioooo"
    /* 1ED0 ỐốỒồỔổỖỗỘộỚớỜờỞở */ "oooooooooooooooo"
    /* 1EE0 ỠỡỢợỤụỦủỨứỪừỬửỮữ */ "oooouuuuuuuuuuuu"
    /* 1EF0 ỰựỲỳỴỵỶỷỸỹỺỻỼỽỾỿ */ "uuyyyyyyyyllvvyy";

/* The letters that fold to two (marked '*' above). */
static const struct {
	uint32_t cp;
	char to[3];
} latin_multi[] = {
	{ 0x00C6, "ae" }, { 0x00DE, "th" }, { 0x00DF, "ss" }, { 0x00E6, "ae" },
	{ 0x00FE, "th" }, { 0x0132, "ij" }, { 0x0133, "ij" }, { 0x0152, "oe" },
	{ 0x0153, "oe" }, { 0x0195, "hv" }, { 0x01C4, "dz" }, { 0x01C5, "dz" },
	{ 0x01C6, "dz" }, { 0x01C7, "lj" }, { 0x01C8, "lj" }, { 0x01C9, "lj" },
	{ 0x01CA, "nj" }, { 0x01CB, "nj" }, { 0x01CC, "nj" }, { 0x01E2, "ae" },
	{ 0x01E3, "ae" }, { 0x01F1, "dz" }, { 0x01F2, "dz" }, { 0x01F3, "dz" },
	{ 0x01F6, "hv" }, { 0x01FC, "ae" }, { 0x01FD, "ae" }, { 0x0222, "ou" },
	{ 0x0223, "ou" }, { 0x0238, "db" }, { 0x0239, "qp" }, { 0x1E9E, "ss" },
};

_Static_assert(sizeof(latin) - 1 == 0x250 - 0xC0, "latin table covers U+00C0..U+024F");
_Static_assert(sizeof(latin_add) - 1 == 0x100, "latin_add table covers U+1E00..U+1EFF");

/* Characters that vanish without separating words. */
static bool
ignorable(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
	    (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
	    (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0x00AD || (cp >= 0x200B && cp <= 0x200D) ||
	    cp == 0x2060 || cp == 0xFEFF;
}

/*
 * Decode one UTF-8 sequence at s (n bytes left, n >= 1).  Returns its
 * length, or 0 when the first byte does not start a valid sequence
 * (overlong forms, surrogates, beyond U+10FFFF and truncation are invalid).
 */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		cp = s[0] & 0x1F, len = 2, min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		cp = s[0] & 0x0F, len = 3, min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		cp = s[0] & 0x07, len = 4, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	*cp_r = cp;
	return len;
}

/* What cp folds to: a static string of [a-z0-9] ("" = separator), or NULL
 * when it is ignorable. */
static const char *
fold_cp(uint32_t cp, char one[2])
{
	char c = ' ';

	if (ignorable(cp))
		return NULL;
	if (cp < 0x80) {
		if (cp >= 'A' && cp <= 'Z')
			c = (char)(cp - 'A' + 'a');
		else if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
			c = (char)cp;
	} else if (cp >= 0xC0 && cp <= 0x24F) {
		c = latin[cp - 0xC0];
	} else if (cp >= 0x1E00 && cp <= 0x1EFF) {
		c = latin_add[cp - 0x1E00];
	} else if (cp >= 0xFF10 && cp <= 0xFF19) {
		c = (char)(cp - 0xFF10 + '0');
	} else if (cp >= 0xFF21 && cp <= 0xFF3A) {
		c = (char)(cp - 0xFF21 + 'a');
	} else if (cp >= 0xFF41 && cp <= 0xFF5A) {
		c = (char)(cp - 0xFF41 + 'a');
	}
	if (c == '*') {
		for (size_t i = 0; i < sizeof(latin_multi) / sizeof(latin_multi[0]); i++)
			if (latin_multi[i].cp == cp)
				return latin_multi[i].to;
		c = ' ';        /* not reached: every '*' has an entry (tested) */
	}
	if (c == ' ')
		return "";
	one[0] = c;
	one[1] = '\0';
	return one;
}

char *
webui_fold(const char *utf8)
{
	const unsigned char *s = (const unsigned char *)(utf8 != NULL ? utf8 : "");
	size_t n = strlen((const char *)s);
	/* Every input byte yields at most one output byte: ASCII 1:1, a
	 * two-letter fold comes from at least two bytes, separators collapse. */
	char *out = xmalloc(n + 1);
	size_t o = 0;
	bool space = false;

	while (n > 0) {
		uint32_t cp = 0;
		size_t len = utf8_decode(s, n, &cp);
		char one[2];
		const char *to;

		if (len == 0) {         /* invalid byte: a separator */
			to = "";
			len = 1;
		} else {
			to = fold_cp(cp, one);
		}
		s += len, n -= len;
		if (to == NULL)
			continue;
		if (*to == '\0') {
			space = true;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		while (*to != '\0')
			out[o++] = *to++;
	}
	out[o] = '\0';
	return out;
}
