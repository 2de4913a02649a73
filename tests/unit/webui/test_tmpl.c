/* Unit tests of webui/tmpl.c: every construct, escaping of hostile data,
 * syntax errors with their line, bounds; and the real templates/ load and
 * render (docs/TEMPLATES.md). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tests/unit/testmain.h"
#include "webui/tmpl.h"

/* Render text with the JSON ctx; returns a malloc'd string (caller frees). */
static char *
render_ok(const char *text, const char *json)
{
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;
	struct json_object *ctx = json != NULL ? json_tokener_parse(json) : NULL;
	struct buf out = BUF_INIT;

	ck_assert_msg(json == NULL || ctx != NULL, "bad test JSON: %s", json);
	ck_assert_msg(tmpl_add(&set, "t", text, strlen(text), &e), "%s", e.msg);
	ck_assert(tmpl_render(set, "t", ctx, &out));
	json_object_put(ctx);
	tmpl_free(&set);
	ck_assert_ptr_null(set);
	buf_append(&out, "", 0);
	return buf_steal(&out, NULL);
}

#define RENDER_IS(text, json, want) do {                                        \
		char *got_ = render_ok((text), (json));                         \
		ck_assert_msg(strcmp(got_, (want)) == 0, "template %s\n got  [%s]\n want [%s]", \
		    (text), got_, (want));                                      \
		free(got_);                                                     \
	} while (0)

/* The template must be refused with an error containing want. */
static void
syntax_error(const char *text, const char *want)
{
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;

	ck_assert_msg(!tmpl_add(&set, "page", text, strlen(text), &e), "accepted: %s", text);
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	ck_assert_msg(strstr(e.msg, want) != NULL, "template %s\n error [%s]\n want  [%s]", text, e.msg, want);
	ck_assert_ptr_null(set);
}

START_TEST(variables)
{
	RENDER_IS("plain text", NULL, "plain text");
	RENDER_IS("", "{}", "");
	RENDER_IS("Hi {{name}}!", "{\"name\":\"Ngân\"}", "Hi Ngân!");
	RENDER_IS("{{ name }}", "{\"name\":\"x\"}", "x");
	RENDER_IS("{{a.b.c}}", "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "deep");
	RENDER_IS("[{{a.b.c}}]", "{\"a\":{\"b\":1}}", "[]");
	RENDER_IS("[{{missing}}][{{a.missing}}]", "{\"a\":{}}", "[][]");
	RENDER_IS("{{i}} {{neg}} {{d}} {{b}} {{f}} [{{n}}] [{{o}}] [{{arr}}]",
	    "{\"i\":42,\"neg\":-7,\"d\":1.5,\"b\":true,\"f\":false,\"n\":null,\"o\":{},\"arr\":[1]}",
	    "42 -7 1.5 true false [] [] []");
	RENDER_IS("{{big}}", "{\"big\":9007199254740993}", "9007199254740993");
	RENDER_IS("{{list.0}}-{{list.2}}-{{list.9}}-{{list.x}}", "{\"list\":[\"a\",\"b\",\"c\"]}", "a-c--");
	/* no context at all */
	RENDER_IS("[{{x}}]{{#x}}y{{/x}}{{^x}}n{{/x}}", NULL, "[]n");
	/* a lone { or } is text */
	RENDER_IS("a { b } c {x} }}", "{}", "a { b } c {x} }}");
}
END_TEST

START_TEST(comments)
{
	RENDER_IS("a{{! a comment with {{ and # }}b", "{}", "ab");
	RENDER_IS("a{{!\nmulti\nline\n}}b", "{}", "ab");
}
END_TEST

START_TEST(sections)
{
	const char *rows = "{\"rows\":[{\"id\":1,\"s\":\"a\",\"r\":[\"x\",\"y\"]},"
	    "{\"id\":2,\"s\":\"b\",\"r\":[]},{\"id\":3}],\"title\":\"T\"}";

	RENDER_IS("{{#rows}}<{{id}}:{{s}}:{{#r}}({{.}}){{/r}}{{^r}}-{{/r}}:{{title}}>{{/rows}}", rows,
	    "<1:a:(x)(y):T><2:b:-:T><3::-:T>");
	/* object: entered once with it as context; scalar true: once */
	RENDER_IS("{{#u}}{{address}}/{{admin}}{{/u}}", "{\"u\":{\"address\":\"a@b\",\"admin\":false}}",
	    "a@b/false");
	RENDER_IS("{{#u.admin}}ADMIN{{/u.admin}}{{^u.admin}}user{{/u.admin}}", "{\"u\":{\"admin\":true}}", "ADMIN");
	RENDER_IS("{{#u.admin}}ADMIN{{/u.admin}}{{^u.admin}}user{{/u.admin}}", "{\"u\":{\"admin\":false}}", "user");
	RENDER_IS("{{#s}}[{{.}}]{{/s}}", "{\"s\":\"text\"}", "[text]");
	RENDER_IS("{{#n}}[{{.}}]{{/n}}", "{\"n\":5}", "[5]");
	/* falsy: missing, null, false, 0, 0.0, "", [] -> skipped, inverted shown */
	RENDER_IS("{{#a}}1{{/a}}{{#b}}2{{/b}}{{#c}}3{{/c}}{{#d}}4{{/d}}{{#e}}5{{/e}}{{#f}}6{{/f}}{{#g}}7{{/g}}",
	    "{\"b\":null,\"c\":false,\"d\":0,\"e\":\"\",\"f\":[],\"g\":0.0}", "");
	RENDER_IS("{{^a}}1{{/a}}{{^b}}2{{/b}}{{^c}}3{{/c}}{{^d}}4{{/d}}{{^e}}5{{/e}}{{^f}}6{{/f}}{{^g}}7{{/g}}",
	    "{\"b\":null,\"c\":false,\"d\":0,\"e\":\"\",\"f\":[],\"g\":0.0}", "1234567");
	RENDER_IS("{{^o}}empty{{/o}}", "{\"o\":{}}", "");
	/* nested arrays of objects, lookup walks up the stack */
	RENDER_IS("{{#days}}{{day}}:{{#bars}}{{cls}}@{{day}}/{{lang}};{{/bars}}|{{/days}}",
	    "{\"lang\":\"vi\",\"days\":[{\"day\":\"d1\",\"bars\":[{\"cls\":\"v-valid\"},{\"cls\":\"v-invalid\"}]},"
	    "{\"day\":\"d2\",\"bars\":[{\"cls\":\"v-x\",\"day\":\"own\"}]}]}",
	    "d1:v-valid@d1/vi;v-invalid@d1/vi;|d2:v-x@own/vi;|");
	/* a dotted name does not fall back once its first part is found */
	RENDER_IS("{{#inner}}[{{a.b}}]{{/inner}}", "{\"a\":{\"b\":\"outer\"},\"inner\":{\"a\":{}}}", "[]");
	/* arrays of arrays */
	RENDER_IS("{{#m}}({{#.}}{{.}}{{/.}}){{/m}}", "{\"m\":[[1,2],[3]]}", "(12)(3)");
	/* positions: innermost array section; an object section keeps the outer one */
	RENDER_IS("[{{@index}}]{{#a}}{{@index}}/{{@number}}:{{#b}}{{@number}}{{/b}}{{#o}}{{@number}}{{/o}};{{/a}}",
	    "{\"a\":[{\"b\":[1,1]},{\"o\":{}}]}", "[]0/1:12;1/2:2;");
	/* section names with spaces, closed the same way */
	RENDER_IS("{{# a }}x{{/ a }}", "{\"a\":1}", "x");
}
END_TEST

START_TEST(indirect)
{
	const char *ctx = "{\"t\":{\"reason\":{\"expired\":\"Hết hạn\",\"revoked\":\"Đã thu hồi\"},"
	    "\"verdict\":{\"valid\":\"Hợp lệ\"}},\"verdict\":\"valid\",\"reasons\":[\"expired\",\"revoked\",\"new-code\"]}";

	RENDER_IS("{{t.verdict.[verdict]}}", ctx, "Hợp lệ");
	RENDER_IS("{{#reasons}}<{{t.reason.[.]}}>{{/reasons}}", ctx, "<Hết hạn><Đã thu hồi><>");
	/* fallback to the code itself when the text is missing */
	RENDER_IS("{{#reasons}}{{#t.reason.[.]}}{{.}}{{/t.reason.[.]}}{{^t.reason.[.]}}{{.}}{{/t.reason.[.]}};{{/reasons}}",
	    ctx, "Hết hạn;Đã thu hồi;new-code;");
	/* hostile key: no such member, renders nothing */
	RENDER_IS("[{{t.reason.[k]}}]", "{\"t\":{\"reason\":{}},\"k\":\"__proto__\"}", "[]");
	RENDER_IS("[{{t.[k]}}]", "{\"t\":{\"1\":\"one\"},\"k\":1}", "[one]");
	RENDER_IS("[{{[k]}}]", "{\"x\":\"X\",\"k\":\"x\"}", "[X]");
	RENDER_IS("[{{t.[k]}}]", "{\"t\":{},\"k\":{}}", "[]");
}
END_TEST

START_TEST(partials)
{
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;
	struct json_object *ctx = json_tokener_parse("{\"title\":\"<T>\",\"items\":[{\"n\":\"a\"},{\"n\":\"b\"}]}");
	struct buf out = BUF_INIT;
	const char *page = "{{> head}}{{#items}}{{>item}}{{/items}}{{>foot}}";

	ck_assert(tmpl_add(&set, "page", page, strlen(page), &e));
	ck_assert(tmpl_add(&set, "head", "<h1>{{title}}</h1>", 18, &e));
	ck_assert(tmpl_add(&set, "item", "<li>{{n}}/{{title}}</li>", 24, &e));
	ck_assert(tmpl_add(&set, "foot", "<hr>", 4, &e));
	ck_assert(tmpl_render(set, "page", ctx, &out));
	ck_assert_str_eq(out.data, "<h1>&lt;T&gt;</h1><li>a/&lt;T&gt;</li><li>b/&lt;T&gt;</li><hr>");
	/* replacing a template by name */
	ck_assert(tmpl_add(&set, "foot", "<footer>", 8, &e));
	buf_reset(&out);
	ck_assert(tmpl_render(set, "page", ctx, &out));
	ck_assert_ptr_nonnull(strstr(out.data, "<footer>"));
	/* unknown template */
	buf_reset(&out);
	ck_assert(!tmpl_render(set, "nope", ctx, &out));
	ck_assert(!tmpl_render(NULL, "page", ctx, &out));
	/* unknown partial at render time */
	ck_assert(tmpl_add(&set, "broken", "a{{>nope}}b", 11, &e));
	ck_assert(!tmpl_render(set, "broken", ctx, &out));
	buf_release(&out);
	json_object_put(ctx);
	tmpl_free(&set);
	tmpl_free(&set);        /* NULL is fine */
	tmpl_free(NULL);
}
END_TEST

START_TEST(recursion_refused)
{
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;
	struct json_object *ctx = json_tokener_parse("{\"kids\":[{\"kids\":[{\"kids\":[]}]}]}");
	struct buf out = BUF_INIT;
	const char *tree = "<ul>{{#kids}}<li>{{>tree}}</li>{{/kids}}</ul>";

	/* bounded recursion over data is fine */
	ck_assert(tmpl_add(&set, "tree", tree, strlen(tree), &e));
	ck_assert(tmpl_render(set, "tree", ctx, &out));
	ck_assert_str_eq(out.data, "<ul><li><ul><li><ul></ul></li></ul></li></ul>");
	/* a partial that includes itself unconditionally is stopped at depth 16 */
	ck_assert(tmpl_add(&set, "loop", "x{{>loop}}", 10, &e));
	buf_reset(&out);
	ck_assert(!tmpl_render(set, "loop", ctx, &out));
	ck_assert_uint_le(out.len, 17);
	/* two partials including each other */
	ck_assert(tmpl_add(&set, "a", "{{>b}}", 6, &e));
	ck_assert(tmpl_add(&set, "b", "{{>a}}", 6, &e));
	ck_assert(!tmpl_render(set, "a", ctx, &out));
	buf_release(&out);
	json_object_put(ctx);
	tmpl_free(&set);
}
END_TEST

START_TEST(render_bounded)
{
	/* 64 nested sections over a 100-element array would be 100^64 rounds:
	 * the step limit stops it quickly */
	struct buf t = BUF_INIT, out = BUF_INIT, j = BUF_INIT;
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;
	struct json_object *ctx;

	for (int i = 0; i < 60; i++)
		buf_appends(&t, "{{#a}}");
	buf_appends(&t, "x");
	for (int i = 0; i < 60; i++)
		buf_appends(&t, "{{/a}}");
	buf_appends(&j, "{\"a\":[");
	for (int i = 0; i < 100; i++)
		buf_appends(&j, i ? ",1" : "1");
	buf_appends(&j, "]}");
	ctx = json_tokener_parse(j.data);
	ck_assert(tmpl_add(&set, "t", t.data, t.len, &e));
	ck_assert(!tmpl_render(set, "t", ctx, &out));
	ck_assert_uint_le(out.len, 64u * 1024 * 1024);
	buf_release(&t);
	buf_release(&out);
	buf_release(&j);
	json_object_put(ctx);
	tmpl_free(&set);
}
END_TEST

START_TEST(escaping)
{
	RENDER_IS("{{s}}", "{\"s\":\"<script>alert(1)</script>\"}", "&lt;script&gt;alert(1)&lt;/script&gt;");
	RENDER_IS("<img alt=\"{{s}}\">", "{\"s\":\"\\\" onerror=alert(1) x=\\\"\"}",
	    "<img alt=\"&quot; onerror&#61;alert(1) x&#61;&quot;\">");
	RENDER_IS("<i title='{{s}}'>", "{\"s\":\"' onmouseover='x\"}", "<i title='&#39; onmouseover&#61;&#39;x'>");
	RENDER_IS("{{s}}", "{\"s\":\"a&b `c` =d\"}", "a&amp;b &#96;c&#96; &#61;d");
	RENDER_IS("{{s|attr}}", "{\"s\":\"<\\\"&\"}", "&lt;&quot;&amp;");
	RENDER_IS("{{s}}", "{\"s\":\"&lt;already\"}", "&amp;lt;already");
	/* names and keys from data are escaped too, in sections and partials */
	RENDER_IS("{{#r}}{{.}}{{/r}}", "{\"r\":[\"<b>\",\"<img src=x onerror=alert(1)>\"]}",
	    "&lt;b&gt;&lt;img src&#61;x onerror&#61;alert(1)&gt;");
	/* Vietnamese, NFC and NFD, kept byte for byte */
	RENDER_IS("{{s}}", "{\"s\":\"Trần Kim Ngân Tra\\u0300\\u0302n Đ ễ 𝄞\"}", "Trần Kim Ngân Tra\xcc\x80\xcc\x82n Đ ễ 𝄞");
	/* NUL and control characters (except tab, LF, CR) become U+FFFD */
	RENDER_IS("[{{s}}]", "{\"s\":\"a\\u0000b\\u0001c\\td\\ne\\u007f\"}", "[a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td\ne\xef\xbf\xbd]");
}
END_TEST

START_TEST(escape_utf8)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "abc", 3, "abc" },
		{ "\xc3\xa9", 2, "\xc3\xa9" },                          /* é */
		{ "\xc3", 1, "\xef\xbf\xbd" },                          /* truncated */
		{ "\xc3(", 2, "\xef\xbf\xbd(" },                        /* bad continuation */
		{ "\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd" },          /* never valid */
		{ "\xc0\xbc", 2, "\xef\xbf\xbd\xef\xbf\xbd" },          /* overlong '<' */
		{ "\xe0\x80\xbc", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* overlong '<' */
		{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* > U+10FFFF */
		{ "\xf0\x9d\x84\x9e", 4, "\xf0\x9d\x84\x9e" },          /* U+1D11E */
		{ "\xe1\xba", 2, "\xef\xbf\xbd\xef\xbf\xbd" },          /* truncated 3-byte */
		{ "<\xe1\xba<", 4, "&lt;\xef\xbf\xbd\xef\xbf\xbd&lt;" },
		{ "a\0b", 3, "a\xef\xbf\xbd" "b" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;

		tmpl_escape(&out, cases[i].in, cases[i].len);
		buf_append(&out, "", 0);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0, "case %zu: got [%s]", i, out.data);
		buf_release(&out);
	}
}
END_TEST

START_TEST(url_filter)
{
	RENDER_IS("<a href=\"/log?q={{q|url}}\">", "{\"q\":\"javascript:alert(1)\"}", "<a href=\"/log?q=javascript%3Aalert%281%29\">");
	RENDER_IS("{{q|url}}", "{\"q\":\"a b&c=d/e?f#g\\\"<'>\"}", "a%20b%26c%3Dd%2Fe%3Ff%23g%22%3C%27%3E");
	RENDER_IS("{{q|url}}", "{\"q\":\"Trần\"}", "Tr%E1%BA%A7n");
	RENDER_IS("{{q|url}}", "{\"q\":\"AZaz09-._~\"}", "AZaz09-._~");
	RENDER_IS("{{n|url}}/{{m|url}}", "{\"n\":12}", "12/");
	RENDER_IS("{{ q | url }}", "{\"q\":\"x y\"}", "x%20y");
}
END_TEST

START_TEST(time_filter)
{
	/* Vietnam's time (UTC+7), whatever TZ says */
	setenv("TZ", "America/New_York", 1);
	tzset();
	RENDER_IS("{{t|time}}", "{\"t\":1764374400}", "2025-11-29 07:00:00");
	RENDER_IS("{{t|date}}", "{\"t\":1764374400}", "2025-11-29");
	RENDER_IS("{{t|time}}", "{\"t\":\"1764374400\"}", "2025-11-29 07:00:00");
	RENDER_IS("[{{t|time}}]", "{\"t\":\"<not a time>\"}", "[&lt;not a time&gt;]");
	RENDER_IS("[{{t|time}}][{{u|time}}]", "{\"t\":null}", "[][]");
	RENDER_IS("[{{t|time}}]", "{\"t\":999999999999999}", "[999999999999999]");
}
END_TEST

START_TEST(syntax_errors)
{
	syntax_error("line1\n{{#rows}}\nx\n", "page:2: unclosed section {{#rows}}");
	syntax_error("a\nb\n{{#a}}{{#b}}\n{{/a}}{{/b}}", "page:4: {{/a}} does not match {{#b}} opened at line 3");
	syntax_error("\n\n{{/x}}", "page:3: {{/x}} closes no open section");
	syntax_error("a\n{{name", "page:2: unclosed tag");
	syntax_error("{{{raw}}}", "page:1: {{{ is not supported");
	syntax_error("\n{{& raw}}", "page:2: {{& is not supported");
	syntax_error("{{=<% %>=}}", "delimiters");
	syntax_error("x\ny\nz {{name|html}}", "page:3: unknown filter \"html\"");
	syntax_error("{{name|}}", "page:1: unknown filter");
	syntax_error("{{name|url|url}}", "page:1: bad filter");
	syntax_error("{{#a|url}}{{/a}}", "a filter is only allowed on {{name}}");
	syntax_error("{{}}", "page:1: empty tag");
	syntax_error("{{   }}", "page:1: empty tag");
	syntax_error("{{a b}}", "page:1: bad name");
	syntax_error("{{a..b}}", "page:1: bad name");
	syntax_error("{{.a}}", "page:1: bad name");
	syntax_error("{{a.}}", "page:1: bad name");
	syntax_error("{{<x>}}", "page:1: bad name");
	syntax_error("{{t.[k}}", "page:1: missing ]");
	syntax_error("{{t.[[[[[[k]]]]]]}}", "names nest too deep");
	syntax_error("{{>}}", "page:1: bad partial name");
	syntax_error("{{@key}}", "page:1: unknown special name");
	syntax_error("{{#@index}}{{/@index}}", "page:1: bad name");
	syntax_error("{{> a/../b}}", "page:1: bad partial name");
	syntax_error("{{!never closed", "page:1: unclosed tag");
	{
		struct tmpl_set *set = NULL;
		struct kerr e = KERR_INIT;

		ck_assert(!tmpl_add(&set, "nul", "a\n\0b", 4, &e));
		ck_assert_msg(strstr(e.msg, "nul:2: NUL byte") != NULL, "%s", e.msg);
	}
	/* line numbers count newlines inside comments and tags */
	syntax_error("{{!\n\n}}\n{{#a}}", "page:4: unclosed section");
}
END_TEST

START_TEST(bounds)
{
	struct tmpl_set *set = NULL;
	struct kerr e = KERR_INIT;
	struct buf t = BUF_INIT;
	char *big;

	/* sections nested deeper than 64 */
	for (int i = 0; i < 70; i++)
		buf_appends(&t, "{{#a}}\n");
	for (int i = 0; i < 70; i++)
		buf_appends(&t, "{{/a}}");
	ck_assert(!tmpl_add(&set, "deep", t.data, t.len, &e));
	ck_assert_msg(strstr(e.msg, "nest deeper than 64") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "deep:65:") != NULL, "%s", e.msg);
	/* a template over the size limit */
	big = malloc(2 * 1024 * 1024);
	memset(big, 'x', 2 * 1024 * 1024);
	ck_assert(!tmpl_add(&set, "big", big, 2 * 1024 * 1024, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "larger than"));
	free(big);
	/* name too long */
	buf_reset(&t);
	buf_appends(&t, "{{");
	for (int i = 0; i < 200; i++)
		buf_appends(&t, "a");
	buf_appends(&t, "}}");
	ck_assert(!tmpl_add(&set, "long", t.data, t.len, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "too long"));
	ck_assert_ptr_null(set);
	ck_assert(!tmpl_add(&set, NULL, "x", 1, &e));
	ck_assert(!tmpl_add(&set, "", "x", 1, &e));
	buf_release(&t);
}
END_TEST

/* Parsing one byte at a time: every prefix is accepted or refused cleanly. */
START_TEST(prefixes)
{
	const char *text = "<p>{{! c }}{{#rows}}{{id}}{{^r}}-{{/r}}{{t.reason.[.]}}{{x|url}}{{>p}}{{/rows}}</p>";
	size_t n = strlen(text);

	for (size_t i = 0; i <= n; i++) {
		struct tmpl_set *set = NULL;
		struct kerr e = KERR_INIT;
		struct buf out = BUF_INIT;

		if (tmpl_add(&set, "p", text, i, &e)) {
			(void)tmpl_render(set, "p", NULL, &out);
		} else {
			ck_assert_int_eq(e.cls, KERR_CONFIG);
			ck_assert_ptr_nonnull(strstr(e.msg, "p:1: "));
		}
		buf_release(&out);
		tmpl_free(&set);
	}
}
END_TEST

START_TEST(load_dir)
{
	char dir[] = "/tmp/kyso-tmpl-XXXXXX";
	char path[256], cmd[300];
	struct tmpl_set *set;
	struct kerr e = KERR_INIT;
	struct buf out = BUF_INIT;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/page.html", dir);
	f = fopen(path, "w");
	fputs("{{>head}}<main>\n{{body}}</main>", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/head.html", dir);
	f = fopen(path, "w");
	fputs("<h1>{{title}}</h1>", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	f = fopen(path, "w");
	fputs("{{#ignored", f);
	fclose(f);
	set = tmpl_load_dir(dir, &e);
	ck_assert_msg(set != NULL, "%s", e.msg);
	{
		struct json_object *ctx = json_tokener_parse("{\"title\":\"a\",\"body\":\"<b>\"}");

		ck_assert(tmpl_render(set, "page", ctx, &out));
		ck_assert_str_eq(out.data, "<h1>a</h1><main>\n&lt;b&gt;</main>");
		json_object_put(ctx);
	}
	tmpl_free(&set);
	/* a missing partial is found at load time */
	snprintf(path, sizeof(path), "%s/other.html", dir);
	f = fopen(path, "w");
	fputs("\n\n{{> nothere}}", f);
	fclose(f);
	ck_assert_ptr_null(tmpl_load_dir(dir, &e));
	ck_assert_msg(strstr(e.msg, "other.html:3: unknown partial {{> nothere}}") != NULL, "%s", e.msg);
	/* a syntax error names the file and line */
	f = fopen(path, "w");
	fputs("a\nb\n{{#x}}", f);
	fclose(f);
	ck_assert_ptr_null(tmpl_load_dir(dir, &e));
	ck_assert_msg(strstr(e.msg, "other.html:3: unclosed section") != NULL, "%s", e.msg);
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	/* no such folder / empty folder */
	ck_assert_ptr_null(tmpl_load_dir(dir, &e));
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/kyso-tmpl-XXXXXX")));
	ck_assert_ptr_null(tmpl_load_dir(dir, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "no *.html"));
	rmdir(dir);
	buf_release(&out);
}
END_TEST


/* --- the real templates/ --- */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_append(&b, "", 0);
	return buf_steal(&b, NULL);
}

static struct json_object *
load_json(const char *rel)
{
	char path[512];
	struct json_object *o;

	snprintf(path, sizeof(path), "%s/%s", kyso_srcdir(), rel);
	o = json_object_from_file(path);
	ck_assert_msg(o != NULL, "%s: %s", path, json_util_get_last_err());
	return o;
}

/* Same keys, recursively, and every leaf a non-empty string. */
static void
same_keys(struct json_object *a, struct json_object *b, const char *where)
{
	json_object_object_foreach(a, k, va) {
		struct json_object *vb = NULL;

		ck_assert_msg(json_object_object_get_ex(b, k, &vb), "%s.%s missing in the other language", where, k);
		if (json_object_is_type(va, json_type_object)) {
			char sub[256];

			ck_assert_msg(json_object_is_type(vb, json_type_object), "%s.%s", where, k);
			snprintf(sub, sizeof(sub), "%s.%s", where, k);
			same_keys(va, vb, sub);
		} else {
			ck_assert_msg(json_object_is_type(va, json_type_string) && json_object_get_string_len(va) > 0,
			    "%s.%s: not a non-empty string", where, k);
		}
	}
}

START_TEST(i18n_complete)
{
	struct json_object *vi = load_json("templates/i18n/vi.json");
	struct json_object *en = load_json("templates/i18n/en.json");
	static const char *const verdicts[] = { "valid", "partial", "invalid", "indeterminate", "unsigned",
		"encrypted", "malformed", "sent", "pending", "failed" };
	static const char *const reasons[] = { "digest-mismatch", "bad-signature", "econtent-mismatch",
		"no-signer", "multiple-signers", "untrusted-chain", "expired", "not-yet-valid", "revoked",
		"revocation-unknown", "key-usage", "weak-algorithm", "sender-mismatch", "time-mismatch",
		"partial-coverage", "modified-after-signing", "malformed", "unsupported-algorithm" };
	struct json_object *o;

	same_keys(vi, en, "vi");
	same_keys(en, vi, "en");
	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
		ck_assert(json_object_object_get_ex(vi, "verdict", &o));
		ck_assert_msg(json_object_object_get_ex(o, verdicts[i], NULL), "verdict %s", verdicts[i]);
	}
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		ck_assert(json_object_object_get_ex(vi, "reason", &o));
		ck_assert_msg(json_object_object_get_ex(o, reasons[i], NULL), "reason %s", reasons[i]);
	}
	ck_assert(json_object_object_get_ex(vi, "nav", &o) && json_object_object_get_ex(o, "vi", &o));
	ck_assert_str_eq(json_object_get_string(o), "Tiếng Việt");
	json_object_put(vi);
	json_object_put(en);
}
END_TEST

/* Does the dotted name (no brackets) exist in o? */
static bool
has_path(struct json_object *o, const char *name)
{
	char *dup = strdup(name), *save = NULL;
	bool ok = true;

	for (char *p = strtok_r(dup, ".", &save); p != NULL; p = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, p, &o)) {
			ok = false;
			break;
		}
	free(dup);
	return ok;
}

static const char *const page_names[] = { "login", "log", "message", "accounts", "overview", "error" };
static const char *const partial_names[] = { "head", "nav", "footer", "verdict", "attverdict", "reasons" };

/* Every {{t.x.y}} the templates use exists in both languages; no inline
 * style or script, no on*= handlers. */
START_TEST(templates_static)
{
	struct json_object *lang[2] = { load_json("templates/i18n/vi.json"), load_json("templates/i18n/en.json") };
	unsigned refs = 0;

	for (size_t i = 0; i < sizeof(page_names) / sizeof(page_names[0]) + sizeof(partial_names) / sizeof(partial_names[0]); i++) {
		const char *nm = i < 6 ? page_names[i] : partial_names[i - 6];
		char path[512];
		char *text;

		snprintf(path, sizeof(path), "%s/templates/%s.html", kyso_srcdir(), nm);
		text = slurp(path);
		for (const char *p = text; (p = strstr(p, "{{")) != NULL; p += 2) {
			const char *q = p + 2;
			char name[128];
			size_t n = 0;

			if (*q == '#' || *q == '^' || *q == '/')
				q++;
			while (*q == ' ')
				q++;
			if (strncmp(q, "t.", 2) != 0)
				continue;
			q += 2;
			while (n + 1 < sizeof(name) && *q != '}' && *q != '|' && *q != ' ' && *q != '[')
				name[n++] = *q++;
			name[n] = '\0';
			if (*q == '[' || (n > 0 && name[n - 1] == '.'))
				continue;       /* indirect: checked by rendering */
			for (int l = 0; l < 2; l++)
				ck_assert_msg(has_path(lang[l], name), "%s.html: t.%s missing in %s", nm, name,
				    l == 0 ? "vi.json" : "en.json");
			refs++;
		}
		ck_assert_msg(strstr(text, "style=") == NULL, "%s.html: inline style", nm);
		for (const char *p = text; (p = strstr(p, "<script")) != NULL; p++)
			ck_assert_msg(strncmp(p, "<script src=\"/static/kyso.js\" defer></script>",
			    strlen("<script src=\"/static/kyso.js\" defer></script>")) == 0,
			    "%s.html: inline script", nm);
		for (const char *p = text; (p = strstr(p, " on")) != NULL; p++) {
			const char *q = p + 3;

			while (*q >= 'a' && *q <= 'z')
				q++;
			ck_assert_msg(*q != '=' || q == p + 3, "%s.html: event handler attribute", nm);
		}
		ck_assert_msg(strstr(text, "href=\"{{") == NULL && strstr(text, "src=\"{{") == NULL &&
		    strstr(text, "action=\"{{") == NULL, "%s.html: a URL starting with data", nm);
		free(text);
	}
	ck_assert_uint_gt(refs, 100);
	json_object_put(lang[0]);
	json_object_put(lang[1]);
}
END_TEST

/* Render every page in both languages with tests/unit/webui/tmpl-pages.json
 * (hostile rows included).  KYSO_TMPL_OUT=dir also writes them there. */
START_TEST(pages_render)
{
	char dir[512];
	struct kerr e = KERR_INIT;
	struct tmpl_set *set;
	struct json_object *data = load_json("tests/unit/webui/tmpl-pages.json");
	struct json_object *common, *pages;
	static const char *const langs[2] = { "vi", "en" };
	const char *outdir = getenv("KYSO_TMPL_OUT");

	snprintf(dir, sizeof(dir), "%s/templates", kyso_srcdir());
	set = tmpl_load_dir(dir, &e);
	ck_assert_msg(set != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(data, "common", &common));
	ck_assert(json_object_object_get_ex(data, "pages", &pages));
	for (int l = 0; l < 2; l++) {
		char ipath[64];
		struct json_object *t;

		snprintf(ipath, sizeof(ipath), "templates/i18n/%s.json", langs[l]);
		t = load_json(ipath);
		json_object_object_foreach(pages, name, over) {
			struct json_object *ctx = NULL;
			struct buf out = BUF_INIT;
			struct json_object *w;

			json_object_deep_copy(common, &ctx, NULL);
			json_object_object_foreach(over, k, v) {
				struct json_object *c = NULL;

				json_object_deep_copy(v, &c, NULL);
				json_object_object_add(ctx, k, c);
			}
			json_object_object_add(ctx, "t", json_object_get(t));
			json_object_object_add(ctx, "lang", json_object_new_string(langs[l]));
			json_object_object_add(ctx, "other_lang", json_object_new_string(langs[1 - l]));
			ck_assert_msg(tmpl_render(set, name, ctx, &out), "%s/%s", langs[l], name);
			buf_append(&out, "", 0);
			if (outdir != NULL) {
				char path[600];
				FILE *f;

				snprintf(path, sizeof(path), "%s/%s-%s.html", outdir, name, langs[l]);
				f = fopen(path, "w");
				ck_assert_ptr_nonnull(f);
				fwrite(out.data, 1, out.len, f);
				fclose(f);
			}
			ck_assert_msg(strncmp(out.data, "<!doctype html>\n<html lang=\"", 28) == 0, "%s", name);
			ck_assert_msg(strncmp(out.data + 28, langs[l], 2) == 0, "%s", name);
			ck_assert_msg(strstr(out.data, "{{") == NULL, "%s: unrendered tag", name);
			/* hostile data is text */
			ck_assert_msg(strstr(out.data, "<script>") == NULL, "%s/%s: <script> got through", langs[l], name);
			ck_assert_msg(strstr(out.data, "<img src=x") == NULL, "%s: <img> got through", name);
			ck_assert_msg(strstr(out.data, "<svg onload") == NULL, "%s: <svg> got through", name);
			ck_assert_msg(strstr(out.data, "onerror=") == NULL, "%s: onerror= got through", name);
			ck_assert_msg(strstr(out.data, "<b>NO") == NULL && strstr(out.data, "<b>bad") == NULL &&
			    strstr(out.data, "<b>x") == NULL && strstr(out.data, "code<b>") == NULL,
			    "%s: <b> got through", name);
			ck_assert_msg(strstr(out.data, "href=\"javascript") == NULL, "%s", name);
			ck_assert_msg(strstr(out.data, "href=\"//") == NULL, "%s: link to another host", name);
			/* the language switch, the words of this language */
			ck_assert_msg(strstr(out.data, ">Tiếng Việt</a> | <a ") != NULL, "%s", name);
			ck_assert(json_object_object_get_ex(t, "footer", &w));
			ck_assert_msg(strstr(out.data, json_object_get_string(w)) != NULL, "%s: footer", name);
			if (strcmp(name, "log") == 0 || strcmp(name, "message") == 0) {
				struct json_object *r;

				ck_assert_ptr_nonnull(strstr(out.data, "&lt;script&gt;alert(1)&lt;/script&gt;"));
				ck_assert(json_object_object_get_ex(t, "reason", &r) &&
				    json_object_object_get_ex(r, "digest-mismatch", &r));
				ck_assert_msg(strstr(out.data, json_object_get_string(r)) != NULL, "%s: reason words", name);
				ck_assert_ptr_nonnull(strstr(out.data, "class=\"badge v-invalid\""));
			}
			if (strcmp(name, "log") == 0) {
				ck_assert_ptr_nonnull(strstr(out.data, "made-up-code&lt;b&gt;"));
				ck_assert_ptr_nonnull(strstr(out.data, "href=\"/log?before=1764360000.40&amp;verdict&#61;invalid&amp;q&#61;tran%20kim\""));
				ck_assert_ptr_nonnull(strstr(out.data, "href=\"/log.csv?verdict&#61;invalid&amp;q&#61;tran%20kim\""));
				ck_assert_ptr_nonnull(strstr(out.data, "<option value=\"invalid\" selected>"));
				/* the signed attachments' badge and filter (att_verdict) */
				ck_assert_ptr_nonnull(strstr(out.data, "<select name=\"att\">"));
				ck_assert_ptr_nonnull(strstr(out.data, "<option value=\"valid\" selected>"));
				ck_assert(json_object_object_get_ex(t, "att", &w));
				{
					struct json_object *lab = NULL, *val = NULL;
					char want[256];

					ck_assert(json_object_object_get_ex(w, "label", &lab) &&
					    json_object_object_get_ex(w, "valid", &val));
					snprintf(want, sizeof(want), "<span class=\"badge att a-valid\">%s: %s</span>",
					    json_object_get_string(lab), json_object_get_string(val));
					ck_assert_msg(strstr(out.data, want) != NULL, "%s/log: no %s", langs[l], want);
				}
				/* an unknown code is shown as itself, escaped */
				ck_assert_ptr_nonnull(strstr(out.data, "class=\"badge att a-made-up&quot; onerror&#61;alert(7)\""));
				/* rows without it have no attachment badge: one per row that has it */
				{
					size_t n = 0;

					for (const char *p = out.data; (p = strstr(p, "class=\"badge att ")) != NULL; p++)
						n++;
					ck_assert_uint_eq(n, 2);
				}
				ck_assert_ptr_nonnull(strstr(out.data, "href=\"/message/42\""));
				ck_assert_ptr_nonnull(strstr(out.data, "2025-11-29 07:00:00"));
				/* newest first, as given */
				ck_assert(strstr(out.data, "/message/42") < strstr(out.data, "/message/41"));
			}
			if (strcmp(name, "message") == 0) {
				ck_assert_ptr_nonnull(strstr(out.data, "id=\"sig-1\""));
				ck_assert_ptr_nonnull(strstr(out.data, "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"));
				ck_assert_ptr_nonnull(strstr(out.data, "250 2.0.0 Ok: queued as 4XyZ"));
				ck_assert_ptr_nonnull(strstr(out.data, "javascript:alert(6)"));  /* as text */
				ck_assert_ptr_nonnull(strstr(out.data, "<span class=\"badge att a-partial\">"));
			}
			if (strcmp(name, "overview") == 0)
				ck_assert_ptr_nonnull(strstr(out.data, "<rect x=\"40\" y=\"80\" width=\"200\" height=\"100\" class=\"v-valid\">"));
			if (strcmp(name, "login") == 0 || strcmp(name, "log") == 0)
				ck_assert_ptr_nonnull(strstr(out.data, "name=\"csrf\" value=\"0123456789abcdef"));
			if (strcmp(name, "error") == 0) {
				ck_assert(json_object_object_get_ex(t, "msg", &w) && json_object_object_get_ex(w, "not_found", &w));
				ck_assert_ptr_nonnull(strstr(out.data, json_object_get_string(w)));
				ck_assert_ptr_null(strstr(out.data, "action=\"/logout\""));
			}
			buf_release(&out);
			json_object_put(ctx);
		}
		json_object_put(t);
	}
	json_object_put(data);
	tmpl_free(&set);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("tmpl");
	TCase *tc = tcase_create("engine");

	tcase_add_test(tc, variables);
	tcase_add_test(tc, comments);
	tcase_add_test(tc, sections);
	tcase_add_test(tc, indirect);
	tcase_add_test(tc, partials);
	tcase_add_test(tc, recursion_refused);
	tcase_add_test(tc, render_bounded);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, escape_utf8);
	tcase_add_test(tc, url_filter);
	tcase_add_test(tc, time_filter);
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, bounds);
	tcase_add_test(tc, prefixes);
	tcase_add_test(tc, load_dir);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tc = tcase_create("templates");
	tcase_add_test(tc, i18n_complete);
	tcase_add_test(tc, templates_static);
	tcase_add_test(tc, pages_render);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
