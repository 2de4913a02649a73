/* libFuzzer harness: the template engine (webui/tmpl.c) must report syntax
 * errors and render any data, never crash or hang.
 *
 * Input: TEMPLATE [\x01 PARTIAL] \0 JSON.  TEMPLATE is added as "main",
 * PARTIAL (optional) as "p"; "main" is rendered with the JSON (or with no
 * context when it does not parse). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "webui/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nul = memchr(s, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - s) : size;
	const char *sep = memchr(s, '\x01', tlen);
	struct tmpl_set *set = NULL;
	struct json_object *ctx = NULL;
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	bool ok;

	ok = tmpl_add(&set, "main", s, sep != NULL ? (size_t)(sep - s) : tlen, &err);
	if (sep != NULL)
		ok = tmpl_add(&set, "p", sep + 1, tlen - (size_t)(sep + 1 - s), &err) || ok;
	if (nul != NULL) {
		struct json_tokener *tok = json_tokener_new_ex(32);

		ctx = json_tokener_parse_ex(tok, nul + 1, (int)(size - tlen - 1));
		json_tokener_free(tok);
	}
	if (ok)
		(void)tmpl_render(set, "main", ctx, &out);
	if (out.len > 0) {
		struct buf esc = BUF_INIT;

		/* the output, escaped again: any bytes at all */
		tmpl_escape(&esc, out.data, out.len > 4096 ? 4096 : out.len);
		buf_release(&esc);
	}
	buf_release(&out);
	json_object_put(ctx);
	tmpl_free(&set);
	return 0;
}
