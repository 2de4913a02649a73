/*
 * fold.h - Vietnamese-aware search folding, shared by the log writer
 * (agent/logdb.c fills messages.search) and the web view's search box, so
 * that "tran kim ngan" finds "Trần Kim Ngân".
 */
#ifndef KYSO_WEBUI_FOLD_H
#define KYSO_WEBUI_FOLD_H

/* UTF-8 -> lower-case ASCII words: accents and tone marks removed (NFC and
 * NFD input alike: "Trần", "Tra\u0300\u0302n"), "Đ"/"đ" -> "d", other Latin
 * letters with diacritics to their base letter, every other character that
 * is not [a-z0-9] to a single space, no leading/trailing space.  Invalid
 * UTF-8 bytes become spaces.  Caller owns the result (never NULL: aborts on
 * out-of-memory like smime/base.h's xmalloc). */
char *webui_fold(const char *utf8);

#endif
