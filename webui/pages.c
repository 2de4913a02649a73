/*
 * pages.c - what each page shows: the filter read from the query, the
 * store's answer, and the context handed to the template (docs/WEB.md lists
 * the keys).  Everything from mail is attacker-controlled: it only ever
 * reaches HTML through the template engine, which escapes it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webui/tmpl.h"
#include "webui/webui-private.h"

const char *const webui_verdicts[] = {
	"valid", "partial", "invalid", "indeterminate", "unsigned", "encrypted", "malformed",
	"sent", "pending", "failed",
};
const size_t webui_n_verdicts = sizeof(webui_verdicts) / sizeof(webui_verdicts[0]);

/* The attachment filter's values (att=): any signed attachment, or the
 * signed attachments' combined verdict (agent/logdb.h att_verdict). */
static const char *const att_verdicts[] = { "any", "valid", "partial", "invalid", "indeterminate" };
#define N_ATT_VERDICTS (sizeof(att_verdicts) / sizeof(att_verdicts[0]))

/* --- small parsers --- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: days since 1970-01-01 */
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

bool
webui_parse_day(const char *s, int64_t *t_r)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, m, d;
	bool leap;

	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (unsigned)atoi(s);
	m = (unsigned)atoi(s + 5);
	d = (unsigned)atoi(s + 8);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return false;
	*t_r = days_from_civil(y, m, d) * 86400 - WEBUI_TZ_OFFSET;
	return true;
}

bool
webui_parse_before(const char *s, int64_t *time_r, int64_t *id_r)
{
	char *end;
	long long t, id;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	t = strtoll(s, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9' || t <= 0 || t > 99999999999LL)
		return false;
	id = strtoll(end + 1, &end, 10);
	if (*end != '\0' || id <= 0 || id > 999999999999999LL)
		return false;
	*time_r = t;
	*id_r = id;
	return true;
}

void
webui_format_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)(t + WEBUI_TZ_OFFSET);
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outsz, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, outsz, "?");
}

/* --- i18n and the common context --- */

const char *
webui_i18n(struct webui *w, const char *lang, const char *key)
{
	struct json_object *o = w->i18n[strcmp(lang, "en") == 0 ? 1 : 0];
	char part[64];
	const char *p = key;

	/* "a.b" walks nested objects; a flat "a.b" key works too */
	if (json_object_object_get_ex(o, key, &o) && json_object_is_type(o, json_type_string))
		return json_object_get_string(o);
	o = w->i18n[strcmp(lang, "en") == 0 ? 1 : 0];
	while (*p != '\0') {
		size_t n = strcspn(p, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!json_object_object_get_ex(o, part, &o))
			return NULL;
		p += n;
		if (*p == '.')
			p++;
	}
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static void
add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v != NULL ? json_object_new_string(v) : NULL);
}

/* Percent-encode s for a query value. */
static void
url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			buf_append(b, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			buf_append(b, e, 3);
		}
	}
}

static const char *const filter_keys[] = { "direction", "verdict", "att", "account", "from", "to", "q" };

/* The filter's part of the query string ("direction=in&q=..."), caller owns. */
static char *
filter_query(struct webui_req *r)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(filter_keys) / sizeof(filter_keys[0]); i++) {
		const char *v = webui_arg(r, filter_keys[i]);

		if (v == NULL || v[0] == '\0' || strlen(v) > 200)
			continue;
		if (b.len > 0)
			buf_append(&b, "&", 1);
		buf_appends(&b, filter_keys[i]);
		buf_append(&b, "=", 1);
		url_encode(&b, v);
	}
	if (b.data == NULL)
		buf_appends(&b, "");
	return buf_steal(&b, NULL);
}

/* Account names this session may see (admins: every one), in a json array
 * of {name,address,selected}. */
static struct json_object *
visible_accounts(struct webui *w, struct webui_req *r, const char *selected)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < w->o.n_accounts; i++) {
		struct json_object *e;
		bool dup = false;

		if (!r->sess.admin && strcmp(w->o.accounts[i], r->sess.address) != 0)
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(w->o.account_names[j], w->o.account_names[i]) == 0)
				dup = true;
		if (dup)
			continue;
		e = json_object_new_object();
		add_str(e, "name", w->o.account_names[i]);
		add_str(e, "address", w->o.accounts[i]);
		json_object_object_add(e, "selected", json_object_new_boolean(selected != NULL &&
		    strcmp(selected, w->o.account_names[i]) == 0));
		json_object_array_add(a, e);
	}
	return a;
}

/* The strings for a page, as this thread's own copy: json-c's reference
 * counts are not atomic, so objects shared between web threads must never
 * be put into (and released with) a page's context. */
static struct json_object *
thread_i18n(struct webui *w, int idx)
{
	struct json_object **tl = pthread_getspecific(w->i18n_key);

	if (tl == NULL) {
		tl = xcalloc(2, sizeof(*tl));
		pthread_setspecific(w->i18n_key, tl);
	}
	if (tl[idx] == NULL && json_object_deep_copy(w->i18n[idx], &tl[idx], NULL) != 0)
		return NULL;
	return tl[idx];
}

void
webui_i18n_thread_free(void *p)
{
	struct json_object **tl = p;

	json_object_put(tl[0]);
	json_object_put(tl[1]);
	free(tl);
}

enum MHD_Result
webui_render(struct webui *w, struct webui_req *r, unsigned code, const char *name,
    struct json_object *page, const char *csrf, const char *flash)
{
	struct json_object *ctx = json_object_new_object();
	struct json_object *t = thread_i18n(w, strcmp(r->lang, "en") == 0 ? 1 : 0);
	struct buf out = BUF_INIT;
	char *q = filter_query(r);
	struct buf lu = BUF_INIT;
	enum MHD_Result ret;

	json_object_object_add(ctx, "t", json_object_get(t));
	add_str(ctx, "lang", r->lang);
	add_str(ctx, "other_lang", strcmp(r->lang, "en") == 0 ? "vi" : "en");
	if (r->logged_in) {
		struct json_object *u = json_object_new_object();

		add_str(u, "address", r->sess.address);
		add_str(u, "account", r->sess.account);
		json_object_object_add(u, "admin", json_object_new_boolean(r->sess.admin));
		json_object_object_add(ctx, "user", u);
		json_object_object_add(ctx, "accounts", visible_accounts(w, r, webui_arg(r, "account")));
	} else {
		json_object_object_add(ctx, "user", NULL);
		json_object_object_add(ctx, "accounts", json_object_new_array());
	}
	add_str(ctx, "csrf", csrf != NULL ? csrf : r->logged_in ? r->sess.csrf : "");
	add_str(ctx, "path", r->url);
	add_str(ctx, "query", q);
	/* the language switch keeps the page and its filter */
	buf_appends(&lu, r->url);
	buf_appends(&lu, "?");
	if (q[0] != '\0') {
		buf_appends(&lu, q);
		buf_appends(&lu, "&");
	}
	buf_printf(&lu, "lang=%s", strcmp(r->lang, "en") == 0 ? "vi" : "en");
	add_str(ctx, "lang_url", lu.data);
	buf_release(&lu);
	{
		struct json_object *f = json_object_new_object();

		for (size_t i = 0; i < sizeof(filter_keys) / sizeof(filter_keys[0]); i++) {
			const char *v = webui_arg(r, filter_keys[i]);

			add_str(f, filter_keys[i], v != NULL && strlen(v) <= 200 ? v : "");
		}
		{
			struct json_object *vs = json_object_new_array(), *ds = json_object_new_array();
			const char *cur = webui_arg(r, "verdict"), *dir = webui_arg(r, "direction");
			static const char *const dirs[] = { "in", "out" };

			for (size_t i = 0; i < webui_n_verdicts; i++) {
				struct json_object *e = json_object_new_object();

				add_str(e, "code", webui_verdicts[i]);
				json_object_object_add(e, "selected", json_object_new_boolean(cur != NULL &&
				    strcmp(cur, webui_verdicts[i]) == 0));
				json_object_array_add(vs, e);
			}
			for (size_t i = 0; i < 2; i++) {
				struct json_object *e = json_object_new_object();

				add_str(e, "code", dirs[i]);
				json_object_object_add(e, "selected", json_object_new_boolean(dir != NULL &&
				    strcmp(dir, dirs[i]) == 0));
				json_object_array_add(ds, e);
			}
			json_object_object_add(f, "verdicts", vs);
			json_object_object_add(f, "directions", ds);
			{
				struct json_object *as = json_object_new_array();
				const char *att = webui_arg(r, "att");

				for (size_t i = 0; i < N_ATT_VERDICTS; i++) {
					struct json_object *e = json_object_new_object();

					add_str(e, "code", att_verdicts[i]);
					json_object_object_add(e, "selected", json_object_new_boolean(att != NULL &&
					    strcmp(att, att_verdicts[i]) == 0));
					json_object_array_add(as, e);
				}
				json_object_object_add(f, "atts", as);
			}
		}
		json_object_object_add(ctx, "filter", f);
	}
	json_object_object_add(ctx, "page", page != NULL ? page : json_object_new_object());
	add_str(ctx, "flash", flash);
	json_object_object_add(ctx, "code", json_object_new_int((int)code));
	free(q);
	buf_reserve_exact(&out, 64 * 1024);    /* a log page is ~40 KB: no regrowing */
	if (!tmpl_render(w->tmpl, name, ctx, &out)) {
		json_object_put(ctx);
		buf_release(&out);
		return webui_respond_text(w, r, 500, "template error");
	}
	json_object_put(ctx);
	ret = webui_respond(w, r, code, "text/html; charset=utf-8", &out);
	buf_release(&out);
	return ret;
}

enum MHD_Result
webui_error(struct webui *w, struct webui_req *r, unsigned code, const char *key)
{
	struct json_object *page;
	char k[64];
	const char *msg;

	snprintf(k, sizeof(k), "msg.%s", key);
	msg = webui_i18n(w, r->lang, k);
	/* answers no person reads as a page (static files, CSV, metrics,
	 * bodies refused before reading them): short text */
	if (r->route == ROUTE_STATIC || r->route == ROUTE_LOG_CSV || r->route == ROUTE_METRICS ||
	    r->route == ROUTE_HEALTHZ || r->bad_uri || (r->route == ROUTE_NONE && !r->not_found) ||
	    code == 413 || code == 405) {
		char line[200];

		snprintf(line, sizeof(line), "%u %s", code, msg != NULL ? msg : key);
		return webui_respond_text(w, r, code, line);
	}
	page = json_object_new_object();
	json_object_object_add(page, "code", json_object_new_int((int)code));
	add_str(page, "error", key);
	return webui_render(w, r, code, "error", page, NULL, NULL);
}

/* --- the filter --- */

struct filter_ctx {
	struct store_filter f;
	const char *acct[1];
	int64_t day_from, day_to;
};

static bool
verdict_known(const char *v)
{
	for (size_t i = 0; i < webui_n_verdicts; i++)
		if (strcmp(v, webui_verdicts[i]) == 0)
			return true;
	return false;
}

/* Read the filter from the query.  Invalid values are ignored (the page
 * shows everything they would have filtered). */
static void
read_filter(struct webui_req *r, struct filter_ctx *fc)
{
	const char *v;
	int64_t t;

	memset(fc, 0, sizeof(*fc));
	if (!r->sess.admin) {
		fc->acct[0] = r->sess.account;
		fc->f.accounts = fc->acct;
		fc->f.n_accounts = 1;
	}
	v = webui_arg(r, "direction");
	if (v != NULL && (strcmp(v, "in") == 0 || strcmp(v, "out") == 0))
		fc->f.direction = v;
	v = webui_arg(r, "verdict");
	if (v != NULL && verdict_known(v))
		fc->f.verdict = v;
	v = webui_arg(r, "att");
	for (size_t i = 0; v != NULL && i < N_ATT_VERDICTS; i++)
		if (strcmp(v, att_verdicts[i]) == 0)
			fc->f.att_verdict = v;
	v = webui_arg(r, "account");
	if (v != NULL && v[0] != '\0' && strlen(v) <= 128)
		fc->f.account = v;
	if (webui_parse_day(webui_arg(r, "from"), &t))
		fc->f.from_time = t;
	if (webui_parse_day(webui_arg(r, "to"), &t))
		fc->f.to_time = t + 86400;      /* the whole "to" day */
	v = webui_arg(r, "q");
	if (v != NULL && v[0] != '\0' && strlen(v) <= 200)
		fc->f.q = v;
	webui_parse_before(webui_arg(r, "before"), &fc->f.before_time, &fc->f.before_id);
}

static enum MHD_Result
store_failed(struct webui *w, struct webui_req *r, const struct kerr *err)
{
	return webui_error(w, r, err->cls == KERR_PERM ? 404 : 503,
	    err->cls == KERR_PERM ? "not_found" : "unavailable");
}

/* --- pages --- */

enum MHD_Result
webui_page_log(struct webui *w, struct webui_req *r)
{
	struct filter_ctx fc;
	struct kerr err = KERR_INIT;
	struct store *s = webui_store_get(w, &err);
	struct json_object *page, *next;

	if (s == NULL)
		return store_failed(w, r, &err);
	read_filter(r, &fc);
	fc.f.limit = 50;
	page = store_list(s, &fc.f, &err);
	webui_store_put(w, s);
	if (page == NULL)
		return store_failed(w, r, &err);
	if (json_object_object_get_ex(page, "next", &next) && next != NULL) {
		struct json_object *t, *i;

		if (json_object_object_get_ex(next, "time", &t) && json_object_object_get_ex(next, "id", &i)) {
			char *q = filter_query(r);
			char *u = xasprintf("/log?%s%sbefore=%lld.%lld", q, q[0] != '\0' ? "&" : "",
			    (long long)json_object_get_int64(t), (long long)json_object_get_int64(i));

			add_str(page, "next_url", u);
			free(u);
			free(q);
		}
	}
	json_object_object_add(page, "first", json_object_new_boolean(fc.f.before_time == 0));
	{
		char *q = filter_query(r);
		char *u = xasprintf("/log.csv%s%s", q[0] != '\0' ? "?" : "", q);

		add_str(page, "csv_url", u);
		free(u);
		free(q);
	}
	return webui_render(w, r, 200, "log", page, NULL, NULL);
}

enum MHD_Result
webui_page_message(struct webui *w, struct webui_req *r)
{
	struct kerr err = KERR_INIT;
	struct store *s = webui_store_get(w, &err);
	struct json_object *page;
	const char *acct[1] = { r->sess.account };

	if (s == NULL)
		return store_failed(w, r, &err);
	page = store_message(s, r->id, r->sess.admin ? NULL : acct, r->sess.admin ? 0 : 1, &err);
	webui_store_put(w, s);
	if (page == NULL) {
		if (err.cls == KERR_PERM || !kerr_isset(&err))
			return webui_error(w, r, 404, "not_found");
		return store_failed(w, r, &err);
	}
	return webui_render(w, r, 200, "message", page, NULL, NULL);
}

enum MHD_Result
webui_page_accounts(struct webui *w, struct webui_req *r)
{
	struct kerr err = KERR_INIT;
	struct store *s = webui_store_get(w, &err);
	struct json_object *page;
	const char *acct[1] = { r->sess.account };

	if (s == NULL)
		return store_failed(w, r, &err);
	page = store_accounts(s, r->sess.admin ? NULL : acct, r->sess.admin ? 0 : 1, &err);
	webui_store_put(w, s);
	if (page == NULL)
		return store_failed(w, r, &err);
	if (json_object_is_type(page, json_type_array)) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "accounts", page);
		page = o;
	}
	return webui_render(w, r, 200, "accounts", page, NULL, NULL);
}

enum MHD_Result
webui_page_overview(struct webui *w, struct webui_req *r)
{
	struct kerr err = KERR_INIT;
	struct store *s = webui_store_get(w, &err);
	struct json_object *page;
	const char *acct[1] = { r->sess.account };

	if (s == NULL)
		return store_failed(w, r, &err);
	page = store_overview(s, 30, r->sess.admin ? NULL : acct, r->sess.admin ? 0 : 1, &err);
	webui_store_put(w, s);
	if (page == NULL)
		return store_failed(w, r, &err);
	json_object_object_add(page, "chart", webui_chart(page, 720, 240));
	return webui_render(w, r, 200, "overview", page, NULL, NULL);
}

/* --- CSV: pulled by libmicrohttpd in chunks; each chunk is one keyset page
 * of the store (500 rows), so memory stays bounded whatever the filter --- */

struct csv_stream {
	struct webui *w;                /* borrowed */
	struct store_filter f;
	char *strs[6];                  /* owned copies behind f's strings */
	char account[128];
	const char *acct[1];
	struct buf out;
	size_t off;
	bool done, header;
};

static const char *
row_str(struct json_object *row, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(row, k, &v) || v == NULL)
		return "";
	return json_object_get_string(v);
}

void
webui_csv_row(struct buf *out, struct json_object *row)
{
	static const char *const cols[] = { "id", "time", "direction", "account", "from_addr",
		"from_name", "to_addrs", "subject", "attachments", "verdict", "reasons", "signer", "att_verdict" };
	struct json_object *v;

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (i > 0)
			buf_append(out, ",", 1);
		if (strcmp(cols[i], "time") == 0) {
			char tb[32];

			json_object_object_get_ex(row, "time", &v);
			webui_format_time(json_object_get_int64(v), tb, sizeof(tb));
			webui_csv_cell(out, tb);
		} else if (strcmp(cols[i], "reasons") == 0 &&
		    json_object_object_get_ex(row, "reasons", &v) && json_object_is_type(v, json_type_array)) {
			struct buf rb = BUF_INIT;

			for (size_t j = 0; j < json_object_array_length(v); j++) {
				if (j > 0)
					buf_append(&rb, " ", 1);
				buf_appends(&rb, json_object_get_string(json_object_array_get_idx(v, j)));
			}
			webui_csv_cell(out, rb.data != NULL ? rb.data : "");
			buf_release(&rb);
		} else {
			webui_csv_cell(out, row_str(row, cols[i]));
		}
	}
	buf_append(out, "\r\n", 2);
}

static bool
csv_fill(struct csv_stream *cs)
{
	struct kerr err = KERR_INIT;
	struct store *s = webui_store_get(cs->w, &err);
	struct json_object *page, *rows, *next;

	if (s == NULL)
		return false;
	cs->f.limit = 500;
	page = store_list(s, &cs->f, &err);
	webui_store_put(cs->w, s);
	if (page == NULL)
		return false;
	if (json_object_object_get_ex(page, "rows", &rows))
		for (size_t i = 0; i < json_object_array_length(rows); i++)
			webui_csv_row(&cs->out, json_object_array_get_idx(rows, i));
	cs->done = true;
	if (json_object_object_get_ex(page, "next", &next) && next != NULL) {
		struct json_object *t, *id;

		if (json_object_object_get_ex(next, "time", &t) && json_object_object_get_ex(next, "id", &id)) {
			cs->f.before_time = json_object_get_int64(t);
			cs->f.before_id = json_object_get_int64(id);
			cs->done = false;
		}
	}
	json_object_put(page);
	return true;
}

static ssize_t
csv_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct csv_stream *cs = cls;
	size_t n;

	(void)pos;
	if (!cs->header) {
		cs->header = true;
		buf_appends(&cs->out, "\xEF\xBB\xBF" "id,time,direction,account,from,from_name,to,subject,"
		    "attachments,verdict,reasons,signer,attachment_verdict\r\n");
	}
	while (cs->off == cs->out.len && !cs->done) {
		buf_reset(&cs->out);
		cs->off = 0;
		if (!csv_fill(cs))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (cs->off == cs->out.len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = cs->out.len - cs->off;
	if (n > max)
		n = max;
	memcpy(buf, cs->out.data + cs->off, n);
	cs->off += n;
	return (ssize_t)n;
}

static void
csv_free(void *cls)
{
	struct csv_stream *cs = cls;

	for (size_t i = 0; i < 6; i++)
		free(cs->strs[i]);
	buf_release(&cs->out);
	free(cs);
}

enum MHD_Result
webui_page_csv(struct webui *w, struct webui_req *r)
{
	struct csv_stream *cs = xcalloc(1, sizeof(*cs));
	struct filter_ctx fc;

	read_filter(r, &fc);
	cs->w = w;
	cs->f = fc.f;
	/* the query's strings live only as long as the request: copy them */
#define KEEP(field, i) do { if (fc.f.field != NULL) cs->f.field = cs->strs[i] = xstrdup(fc.f.field); } while (0)
	KEEP(direction, 0);
	KEEP(verdict, 1);
	KEEP(account, 2);
	KEEP(q, 3);
	KEEP(att_verdict, 4);
#undef KEEP
	if (!r->sess.admin) {
		snprintf(cs->account, sizeof(cs->account), "%s", r->sess.account);
		cs->acct[0] = cs->account;
		cs->f.accounts = cs->acct;
		cs->f.n_accounts = 1;
	}
	cs->f.before_time = cs->f.before_id = 0;
	r->disposition = "attachment; filename=\"kyso-log.csv\"";
	return webui_respond_stream(w, r, "text/csv; charset=utf-8", csv_read, cs, csv_free);
}

/* --- /metrics from store_metrics() --- */

/* Write one json value as a Prometheus label value (escaped). */
static void
prom_label(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			buf_appends(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

static bool
label_ok(const char *s)
{
	/* values come from our own database, still: escape, and skip the absurd */
	return s != NULL && strlen(s) < 200;
}

void
webui_metrics_store(struct buf *out, struct json_object *m)
{
	struct json_object *v, *h;

	if (json_object_object_get_ex(m, "messages", &v) && json_object_is_type(v, json_type_object)) {
		buf_appends(out, "# HELP kyso_log_messages Log entries by direction and verdict.\n"
		    "# TYPE kyso_log_messages gauge\n");
		json_object_object_foreach(v, dir, verdicts) {
			if (!json_object_is_type(verdicts, json_type_object) || !label_ok(dir))
				continue;
			json_object_object_foreach(verdicts, verdict, n) {
				if (!label_ok(verdict))
					continue;
				buf_appends(out, "kyso_log_messages{direction=\"");
				prom_label(out, dir);
				buf_appends(out, "\",verdict=\"");
				prom_label(out, verdict);
				buf_printf(out, "\"} %lld\n", (long long)json_object_get_int64(n));
			}
		}
	}
	if (json_object_object_get_ex(m, "reasons", &v) && json_object_is_type(v, json_type_object)) {
		buf_appends(out, "# HELP kyso_log_failures Log entries carrying each reason code.\n"
		    "# TYPE kyso_log_failures gauge\n");
		json_object_object_foreach(v, reason, n) {
			if (!label_ok(reason))
				continue;
			buf_appends(out, "kyso_log_failures{reason=\"");
			prom_label(out, reason);
			buf_printf(out, "\"} %lld\n", (long long)json_object_get_int64(n));
		}
	}
	if (json_object_object_get_ex(m, "queue_depth", &v) && v != NULL)
		buf_printf(out, "# HELP kyso_queue_depth Outgoing messages not yet done or failed.\n"
		    "# TYPE kyso_queue_depth gauge\nkyso_queue_depth %lld\n", (long long)json_object_get_int64(v));
	if (json_object_object_get_ex(m, "verify_ms", &h) && json_object_is_type(h, json_type_object) &&
	    json_object_object_get_ex(h, "buckets", &v) && json_object_is_type(v, json_type_array)) {
		struct json_object *x;

		buf_appends(out, "# HELP kyso_verify_ms Verification time of incoming mail, last 24 hours.\n"
		    "# TYPE kyso_verify_ms histogram\n");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *b = json_object_array_get_idx(v, i), *le, *n;

			if (!json_object_object_get_ex(b, "le", &le) || !json_object_object_get_ex(b, "count", &n))
				continue;
			buf_appends(out, "kyso_verify_ms_bucket{le=\"");
			prom_label(out, json_object_get_string(le));
			buf_printf(out, "\"} %lld\n", (long long)json_object_get_int64(n));
		}
		if (json_object_object_get_ex(h, "sum", &x))
			buf_printf(out, "kyso_verify_ms_sum %lld\n", (long long)json_object_get_int64(x));
		if (json_object_object_get_ex(h, "count", &x))
			buf_printf(out, "kyso_verify_ms_count %lld\n", (long long)json_object_get_int64(x));
	}
	if (json_object_object_get_ex(m, "accounts", &v) && json_object_is_type(v, json_type_array)) {
		buf_appends(out, "# HELP kyso_account_state Each account's connection state (1 for the current one).\n"
		    "# TYPE kyso_account_state gauge\n");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *a = json_object_array_get_idx(v, i), *acct, *st;

			if (!json_object_object_get_ex(a, "account", &acct) || !json_object_object_get_ex(a, "state", &st) ||
			    !label_ok(json_object_get_string(acct)) || !label_ok(json_object_get_string(st)))
				continue;
			buf_appends(out, "kyso_account_state{account=\"");
			prom_label(out, json_object_get_string(acct));
			buf_appends(out, "\",state=\"");
			prom_label(out, json_object_get_string(st));
			buf_appends(out, "\"} 1\n");
		}
		buf_appends(out, "# TYPE kyso_account_backlog gauge\n");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *a = json_object_array_get_idx(v, i), *acct, *bl;

			if (!json_object_object_get_ex(a, "account", &acct) || !json_object_object_get_ex(a, "backlog", &bl) ||
			    !label_ok(json_object_get_string(acct)))
				continue;
			buf_appends(out, "kyso_account_backlog{account=\"");
			prom_label(out, json_object_get_string(acct));
			buf_printf(out, "\"} %lld\n", (long long)json_object_get_int64(bl));
		}
	}
}
