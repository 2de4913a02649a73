/* libFuzzer harness: what a browser sends to the web view (webui/session.c,
 * server.c, pages.c parsers) must be parsed within bounds, never crash.
 *
 * Input: fields separated by \x01: COOKIE-HEADER, FORM-BODY, ORIGIN,
 * SEC-FETCH-SITE, REFERER, HOST, METHOD, URL, DAY, BEFORE, LANG, CSV-CELL.
 * Missing fields are NULL. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webui/webui-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NF 12

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size + 1), *f[NF] = { 0 }, *p = copy;
	size_t n = 0;
	char out[WEBUI_TOKEN_HEX + 1];
	enum webui_route_id route;
	int64_t a, b;
	struct buf csv = BUF_INIT;

	memcpy(copy, data, size);
	copy[size] = '\0';
	while (n < NF) {
		char *sep = strchr(p, '\x01');

		f[n++] = p;
		if (sep == NULL)
			break;
		*sep = '\0';
		p = sep + 1;
	}
	if (webui_cookie_get(f[0], "kyso_session", out, sizeof(out))) {
		if (strlen(out) == 0 || strlen(out) >= sizeof(out))
			abort();
		for (const char *c = out; *c != '\0'; c++)
			if (*c <= ' ' || *c == ';' || *c == ',' || *c == '"' || *c == '\\' || (unsigned char)*c > 0x7e)
				abort();
	}
	if (f[1] != NULL) {
		/* the body is not NUL-terminated for the parser: give its length */
		size_t len = strlen(f[1]);
		char *body = xmalloc(len > 0 ? len : 1);
		char *v;

		memcpy(body, f[1], len);
		v = webui_form_get(body, len, "csrf");
		free(v);
		v = webui_form_get(body, len, "password");
		free(v);
		free(body);
	}
	(void)webui_origin_ok(f[2], f[3], f[4], f[5]);
	(void)webui_host_is_local(f[5]);
	if (webui_route(f[6], f[7], &route, &a) == 200 && route == ROUTE_MESSAGE && a <= 0)
		abort();
	if (webui_parse_day(f[8], &a) && ((a % 86400) + 86400) % 86400 != 17 * 3600)
		abort();        /* local (UTC+7) midnights are 17:00 UTC */
	if (webui_parse_before(f[9], &a, &b) && (a <= 0 || b <= 0))
		abort();
	{
		const char *l = webui_lang_choose(f[10], f[11]);

		if (strcmp(l, "vi") != 0 && strcmp(l, "en") != 0)
			abort();
	}
	if (f[11] != NULL) {
		webui_csv_cell(&csv, f[11]);
		if (csv.len > 0) {
			const char *c = csv.data[0] == '"' ? csv.data + 1 : csv.data;

			if (*c == '=' || *c == '+' || *c == '-' || *c == '@')
				abort();        /* a formula reached the spreadsheet */
		}
		buf_release(&csv);
	}
	if (webui_token_valid(f[0]) && strlen(f[0]) != WEBUI_TOKEN_HEX)
		abort();
	free(copy);
	return 0;
}
