/* logdb.c - the signed-mail log in SQLite (see logdb.h for the schema). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libetpan/libetpan.h>
#include <sqlite3.h>

#include "agent/agent.h"
#include "agent/logdb.h"
#include "smime/mime.h"
#include "webui/fold.h"

struct logdb {
	sqlite3 *db;            /* owned */
	pthread_mutex_t lock;   /* serialises every call */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  direction TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  folder TEXT,"
    "  uidvalidity INTEGER, uid INTEGER,"
    "  message_id TEXT,"
    "  from_addr TEXT, from_name TEXT,"
    "  to_addrs TEXT,"
    "  subject TEXT,"
    "  date_hdr INTEGER,"
    "  verdict TEXT NOT NULL,"
    "  reasons TEXT NOT NULL,"
    "  signer TEXT,"
    "  signer_email TEXT,"
    "  attachments TEXT,"
    "  n_attachments INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER,"
    "  verify_ms INTEGER,"
    "  journal_id INTEGER,"
    "  search TEXT NOT NULL,"
    "  report TEXT NOT NULL,"
    "  att_verdict TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_time ON messages (time DESC, id DESC);"
    "CREATE INDEX IF NOT EXISTS messages_acct ON messages (account, time DESC, id DESC);"
    "CREATE INDEX IF NOT EXISTS messages_verdict ON messages (verdict, time DESC, id DESC);"
    "CREATE INDEX IF NOT EXISTS messages_dir ON messages (direction, time DESC, id DESC);"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_place ON messages (account, folder, uidvalidity, uid)"
    "  WHERE direction = 'in';"
    "CREATE INDEX IF NOT EXISTS messages_journal ON messages (journal_id) WHERE direction = 'out';"
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(search, content='messages',"
    "  content_rowid='id', tokenize='unicode61', prefix='2 3 4');"
    "CREATE TRIGGER IF NOT EXISTS messages_ai AFTER INSERT ON messages BEGIN"
    "  INSERT INTO messages_fts (rowid, search) VALUES (new.id, new.search); END;"
    "CREATE TRIGGER IF NOT EXISTS messages_ad AFTER DELETE ON messages BEGIN"
    "  INSERT INTO messages_fts (messages_fts, rowid, search) VALUES ('delete', old.id, old.search); END;"
    "CREATE TRIGGER IF NOT EXISTS messages_au AFTER UPDATE OF search ON messages BEGIN"
    "  INSERT INTO messages_fts (messages_fts, rowid, search) VALUES ('delete', old.id, old.search);"
    "  INSERT INTO messages_fts (rowid, search) VALUES (new.id, new.search); END;"
    "CREATE TABLE IF NOT EXISTS evidence ("
    "  message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    "  sig INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  source TEXT,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS evidence_message ON evidence (message);"
    "CREATE TABLE IF NOT EXISTS account_status ("
    "  account TEXT PRIMARY KEY, address TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  last_idle INTEGER,"
    "  backlog INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT, last_error_time INTEGER,"
    "  updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS folder_state ("
    "  account TEXT NOT NULL, folder TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (account, folder));";

static void
db_err(struct kerr *e, sqlite3 *db, const char *what)
{
	int code = sqlite3_errcode(db) & 0xff;

	kerr_set(e, code == SQLITE_FULL || code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR
	    ? KERR_TEMP : KERR_INTERNAL, "log: %s: %s", what, sqlite3_errmsg(db));
}

static bool
exec_sql(struct logdb *l, const char *sql, struct kerr *err)
{
	char *msg = NULL;

	if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int code = sqlite3_errcode(l->db) & 0xff;

		kerr_set(err, code == SQLITE_FULL || code == SQLITE_BUSY || code == SQLITE_IOERR ? KERR_TEMP : KERR_INTERNAL,
		    "log: %s", msg != NULL ? msg : "error");
		sqlite3_free(msg);
		return false;
	}
	return true;
}

/* A log made before messages.att_verdict existed (schema version 1 all the
 * same): add the column, NULL in the old rows (not filled from their
 * reports: the log is evidence, rows are not rewritten); then its indexes. */
static bool
add_att_verdict(struct logdb *l, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	int rc;

	if (sqlite3_prepare_v2(l->db, "PRAGMA table_info(messages)", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "table_info");
		return false;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (name != NULL && strcmp(name, "att_verdict") == 0)
			found = true;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_err(err, l->db, "table_info");
		return false;
	}
	if (!found && !exec_sql(l, "ALTER TABLE messages ADD COLUMN att_verdict TEXT", err))
		return false;
	/* the web view's attachment filter, in page order: one code, or any
	 * (partial: only rows with a signed attachment are in them) */
	return exec_sql(l, "CREATE INDEX IF NOT EXISTS messages_att ON messages (att_verdict, time DESC, id DESC)"
	    " WHERE att_verdict IS NOT NULL;"
	    "CREATE INDEX IF NOT EXISTS messages_att_any ON messages (time DESC, id DESC)"
	    " WHERE att_verdict IS NOT NULL;", err);
}

struct logdb *
logdb_open(const char *path, struct kerr *err)
{
	struct logdb *l = xcalloc(1, sizeof(*l));
	sqlite3_stmt *st = NULL;
	int version = 0;

	pthread_mutex_init(&l->lock, NULL);
	if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK) {
		kerr_set(err, KERR_CONFIG, "log %s: %s", path, l->db != NULL ? sqlite3_errmsg(l->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(l->db, 5000);
	if (!exec_sql(l, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err))
		goto fail;
	if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "user_version");
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > LOGDB_SCHEMA_VERSION) {
		kerr_set(err, KERR_CONFIG, "log %s: schema version %d is newer than this kyso's (%d)", path, version,
		    LOGDB_SCHEMA_VERSION);
		goto fail;
	}
	if (!exec_sql(l, "BEGIN IMMEDIATE", err))
		goto fail;
	if (!exec_sql(l, schema, err) || !add_att_verdict(l, err) || !exec_sql(l, "PRAGMA user_version = 1", err)) {
		(void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (!exec_sql(l, "COMMIT", err))
		goto fail;
	return l;
fail:
	logdb_close(&l);
	return NULL;
}

void
logdb_close(struct logdb **lp)
{
	if (lp == NULL || *lp == NULL)
		return;
	sqlite3_close((*lp)->db);
	pthread_mutex_destroy(&(*lp)->lock);
	free(*lp);
	*lp = NULL;
}

/* ---- header helpers ---- */

/* Copy s replacing invalid UTF-8 (and NUL) by U+FFFD; everything else kept. */
static char *
utf8_clean(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_reserve(&b, n + 1);
	while (i < n) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && i + len <= n && c != 0;

		if (ok && len > 1) {
			uint32_t cp = c & (0xff >> (len + 1));

			for (size_t k = 1; k < len; k++) {
				if ((p[i + k] & 0xc0) != 0x80) {
					ok = false;
					break;
				}
				cp = (cp << 6) | (p[i + k] & 0x3f);
			}
			if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
				ok = false;
		}
		if (ok) {
			buf_append(&b, p + i, len);
			i += len;
		} else {
			buf_appends(&b, "\xef\xbf\xbd");
			i++;
		}
	}
	buf_append(&b, "", 0);
	return buf_steal(&b, NULL);
}

/* Unfold: line ends removed (RFC 5322 2.2.3), leading/trailing blanks trimmed. */
static char *
unfold(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	char *out;
	size_t start = 0, end;

	buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			buf_append(&b, s + i, 1);
	out = buf_steal(&b, &end);
	while (start < end && (out[start] == ' ' || out[start] == '\t'))
		start++;
	while (end > start && (out[end - 1] == ' ' || out[end - 1] == '\t'))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode one encoded word's text (B or Q) into raw bytes. */
static void
ew_decode(char enc, const char *t, size_t n, struct buf *out)
{
	if (enc == 'b' || enc == 'B') {
		unsigned v = 0, bits = 0;

		for (size_t i = 0; i < n; i++) {
			const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
			const char *q = t[i] != '\0' ? strchr(al, t[i]) : NULL;

			if (q == NULL)
				continue;
			v = (v << 6) | (unsigned)(q - al);
			bits += 6;
			if (bits >= 8) {
				char c = (char)((v >> (bits - 8)) & 0xff);

				bits -= 8;
				buf_append(out, &c, 1);
			}
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < n && hexval((unsigned char)t[i + 1]) >= 0 &&
		    hexval((unsigned char)t[i + 2]) >= 0) {
			c = (char)(hexval((unsigned char)t[i + 1]) * 16 + hexval((unsigned char)t[i + 2]));
			i += 2;
		}
		buf_append(out, &c, 1);
	}
}

/* Convert bytes in charset to UTF-8, appended; false when iconv cannot. */
static bool
to_utf8(const char *charset, const char *s, size_t n, struct buf *out)
{
	iconv_t cd;
	char *in = (char *)s;
	size_t inleft = n;
	bool ok = true;

	if (strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "utf8") == 0 ||
	    strcasecmp(charset, "us-ascii") == 0) {
		buf_append(out, s, n);
		return true;
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return false;
	while (inleft > 0) {
		char tmp[512], *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t rc = iconv(cd, &in, &inleft, &o, &oleft);

		buf_append(out, tmp, sizeof(tmp) - oleft);
		if (rc == (size_t)-1 && errno != E2BIG) {
			if (errno == EILSEQ && inleft > 0) {
				buf_appends(out, "\xef\xbf\xbd");
				in++;
				inleft--;
				continue;
			}
			ok = inleft == 0;
			break;
		}
	}
	iconv_close(cd);
	return ok;
}

/* RFC 2047: decode the encoded words of an unfolded header value; the rest
 * is kept as it is (raw UTF-8 allowed, RFC 6532).  Blanks between two
 * adjacent encoded words are dropped.  The result is valid UTF-8. */
static char *
rfc2047_decode(const char *s)
{
	struct buf b = BUF_INIT;
	size_t n = strlen(s), i = 0, pending_ws = 0;
	bool last_ew = false;
	char *raw, *res;

	buf_append(&b, "", 0);
	while (i < n) {
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?') {
			/* =?charset?X?text?= */
			const char *cs = s + i + 2, *q1 = strchr(cs, '?'), *q2, *end;

			if (q1 != NULL && q1[1] != '\0' && q1[2] == '?' && (q2 = q1 + 3, (end = strstr(q2, "?=")) != NULL) &&
			    strchr("bBqQ", q1[1]) != NULL && q1 > cs && q1 - cs < 64) {
				char charset[64];
				struct buf raw_b = BUF_INIT;
				char *star;

				memcpy(charset, cs, (size_t)(q1 - cs));
				charset[q1 - cs] = '\0';
				if ((star = strchr(charset, '*')) != NULL) /* RFC 2231 language */
					*star = '\0';
				ew_decode(q1[1], q2, (size_t)(end - q2), &raw_b);
				if (!last_ew && pending_ws > 0)
					buf_append(&b, s + i - pending_ws, pending_ws);
				if (!to_utf8(charset, raw_b.data != NULL ? raw_b.data : "", raw_b.len, &b))
					buf_append(&b, s + i, (size_t)(end + 2 - (s + i)));
				buf_release(&raw_b);
				i = (size_t)(end + 2 - s);
				last_ew = true;
				pending_ws = 0;
				continue;
			}
		}
		if (s[i] == ' ' || s[i] == '\t') {
			pending_ws++;
			i++;
			continue;
		}
		if (pending_ws > 0)
			buf_append(&b, s + i - pending_ws, pending_ws);
		pending_ws = 0;
		last_ew = false;
		buf_append(&b, s + i, 1);
		i++;
	}
	if (pending_ws > 0)
		buf_append(&b, s + n - pending_ws, pending_ws);
	raw = buf_steal(&b, &n);
	res = utf8_clean(raw, n);
	free(raw);
	return res;
}

/* The message's top-level header fields we keep. */
struct hdrs {
	char *from, *to, *cc, *bcc, *date, *subject, *message_id;   /* owned, unfolded raw values */
};

static void
hdrs_release(struct hdrs *h)
{
	free(h->from);
	free(h->to);
	free(h->cc);
	free(h->bcc);
	free(h->date);
	free(h->subject);
	free(h->message_id);
	memset(h, 0, sizeof(*h));
}

/* A small scan of the top-level header (independent of the MIME parser, so
 * that a malformed message still gets its From and Subject logged). */
static void
hdrs_parse(const char *msg, size_t len, struct hdrs *h)
{
	size_t pos = 0;

	memset(h, 0, sizeof(*h));
	while (pos < len) {
		size_t eol = pos, next, fend;
		const char *colon;
		char **slot = NULL;

		while (eol < len && msg[eol] != '\n')
			eol++;
		if (eol == pos || (eol == pos + 1 && msg[pos] == '\r'))
			break;  /* the blank line */
		/* extend over continuation lines */
		fend = eol;
		next = eol < len ? eol + 1 : len;
		while (next < len && (msg[next] == ' ' || msg[next] == '\t')) {
			fend = next;
			while (fend < len && msg[fend] != '\n')
				fend++;
			next = fend < len ? fend + 1 : len;
		}
		colon = memchr(msg + pos, ':', eol - pos);
		if (colon != NULL) {
			size_t nl = (size_t)(colon - (msg + pos));

			while (nl > 0 && (msg[pos + nl - 1] == ' ' || msg[pos + nl - 1] == '\t'))
				nl--;
#define F(name, field) else if (nl == sizeof(name) - 1 && strncasecmp(msg + pos, name, nl) == 0) slot = &h->field
			if (0)
				;
			F("from", from);
			F("to", to);
			F("cc", cc);
			F("bcc", bcc);
			F("date", date);
			F("subject", subject);
			F("message-id", message_id);
#undef F
			if (slot != NULL && *slot == NULL) {
				const char *v = colon + 1;

				*slot = unfold(v, (size_t)(msg + fend - v));
			}
		}
		pos = next;
	}
}

/* Split an address list on commas outside quotes, <> and comments. */
static size_t
addr_split(const char *s, char ***items_r)
{
	char **items = NULL;
	size_t n = 0, start = 0, i;
	int depth = 0, angle = 0;
	bool quoted = false;

	for (i = 0;; i++) {
		char c = s[i];

		if (c == '\0' || (c == ',' && !quoted && depth == 0 && angle == 0)) {
			char *it = unfold(s + start, i - start);

			if (it[0] != '\0') {
				items = xreallocarray(items, n + 1, sizeof(*items));
				items[n++] = it;
			} else {
				free(it);
			}
			start = i + 1;
			if (c == '\0')
				break;
			continue;
		}
		if (c == '\\' && s[i + 1] != '\0') {
			i++;
			continue;
		}
		if (c == '"' && depth == 0)
			quoted = !quoted;
		else if (!quoted && c == '(')
			depth++;
		else if (!quoted && c == ')' && depth > 0)
			depth--;
		else if (!quoted && depth == 0 && c == '<')
			angle++;
		else if (!quoted && depth == 0 && c == '>' && angle > 0)
			angle--;
	}
	*items_r = items;
	return n;
}

/* One mailbox "Name <a@b>" / "a@b (Name)" / "a@b": address and decoded name. */
static void
mailbox_parse(const char *s, char **addr_r, char **name_r)
{
	const char *lt = NULL, *gt;
	bool quoted = false;

	*addr_r = NULL;
	*name_r = NULL;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '<' && !quoted)
			lt = p;
	}
	if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
		struct buf nb = BUF_INIT;
		char *name, *dec;

		*addr_r = unfold(lt + 1, (size_t)(gt - lt - 1));
		buf_append(&nb, "", 0);
		for (const char *p = s; p < lt; p++) {
			if (*p == '"')
				continue;
			if (*p == '\\' && p + 1 < lt)
				p++;
			buf_append(&nb, p, 1);
		}
		name = unfold(nb.data, nb.len);
		buf_release(&nb);
		dec = rfc2047_decode(name);
		free(name);
		if (dec[0] != '\0')
			*name_r = dec;
		else
			free(dec);
		return;
	}
	{
		const char *par = strchr(s, '(');

		*addr_r = unfold(s, par != NULL ? (size_t)(par - s) : strlen(s));
		if (par != NULL) {
			const char *close = strrchr(par, ')');
			char *name = unfold(par + 1, close != NULL ? (size_t)(close - par - 1) : strlen(par + 1));

			*name_r = rfc2047_decode(name);
			free(name);
		}
	}
}

static void
addrs_append(struct buf *b, const char *list)
{
	char **items = NULL;
	size_t n;

	if (list == NULL)
		return;
	n = addr_split(list, &items);
	for (size_t i = 0; i < n; i++) {
		char *addr, *name;
		/* group syntax "team: a@x, b@y;" -> strip the group name */
		char *it = items[i], *colon = strchr(it, ':'), *at = strchr(it, '@');

		if (colon != NULL && (at == NULL || colon < at) && strchr(it, '"') == NULL)
			it = colon + 1;
		mailbox_parse(it, &addr, &name);
		if (addr[0] != '\0' && strchr(addr, ';') != NULL)
			*strchr(addr, ';') = '\0';
		if (addr[0] != '\0') {
			char *clean = utf8_clean(addr, strlen(addr));

			if (b->len > 0)
				buf_appends(b, ", ");
			buf_appends(b, clean);
			free(clean);
		}
		free(addr);
		free(name);
		free(items[i]);
	}
	free(items);
}

/* The Date header as Unix time, or -1. */
static int64_t
date_parse(const char *s)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;
	struct tm tm;
	int64_t t;
	int zone, zmin;

	if (s == NULL || mailimf_date_time_parse(s, strlen(s), &idx, &dt) != MAILIMF_NO_ERROR || dt == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = dt->dt_year - 1900;
	tm.tm_mon = dt->dt_month - 1;
	tm.tm_mday = dt->dt_day;
	tm.tm_hour = dt->dt_hour;
	tm.tm_min = dt->dt_min;
	tm.tm_sec = dt->dt_sec;
	zone = dt->dt_zone;
	mailimf_date_time_free(dt);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	t = (int64_t)timegm(&tm);
	zmin = (zone < 0 ? -1 : 1) * ((abs(zone) / 100) * 60 + abs(zone) % 100);
	return t - (int64_t)zmin * 60;
}

/* ---- report JSON ---- */

static struct json_object *
jstr(const char *s)
{
	char *c;
	struct json_object *o;

	if (s == NULL)
		return NULL;
	c = utf8_clean(s, strlen(s));
	o = json_object_new_string(c);
	free(c);
	return o;
}

static struct json_object *
reasons_array(uint32_t reasons)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < SMIME_REASON_COUNT; i++)
		if (reasons & (1u << i))
			json_object_array_add(a, json_object_new_string(smime_reason_code((enum smime_reason)(1u << i))));
	return a;
}

static void
reasons_text(uint32_t reasons, struct buf *b)
{
	buf_append(b, "", 0);
	for (unsigned i = 0; i < SMIME_REASON_COUNT; i++) {
		if (reasons & (1u << i)) {
			const char *c = smime_reason_code((enum smime_reason)(1u << i));

			if (c == NULL)
				continue;
			if (b->len > 0)
				buf_appends(b, " ");
			buf_appends(b, c);
		}
	}
}

static struct json_object *
signer_json(const struct smime_cert_info *ci)
{
	struct json_object *o = json_object_new_object(), *em = json_object_new_array();

	json_object_object_add(o, "subject", jstr(ci->subject));
	json_object_object_add(o, "issuer", jstr(ci->issuer));
	json_object_object_add(o, "serial", jstr(ci->serial));
	json_object_object_add(o, "sha256", jstr(ci->sha256));
	for (size_t i = 0; i < ci->n_emails; i++)
		json_object_array_add(em, jstr(ci->emails[i]));
	json_object_object_add(o, "emails", em);
	json_object_object_add(o, "not_before", json_object_new_int64(ci->not_before));
	json_object_object_add(o, "not_after", json_object_new_int64(ci->not_after));
	return o;
}

/* The parts of the MIME tree in pre-order. */
struct partlist {
	const struct mime_part **p;
	size_t n;
};

static void
parts_collect(const struct mime_part *p, struct partlist *pl)
{
	pl->p = xreallocarray(pl->p, pl->n + 1, sizeof(*pl->p));
	pl->p[pl->n++] = p;
	for (size_t i = 0; i < p->nchildren; i++)
		parts_collect(p->children[i], pl);
}

/* Does part p lie in the subtree of root? */
static bool
in_subtree(const struct mime_part *p, const struct mime_part *root)
{
	for (; p != NULL; p = p->parent)
		if (p == root)
			return true;
	return false;
}

static const struct mime_part *
part_by_filename(const struct partlist *pl, const char *name)
{
	for (size_t i = 0; name != NULL && i < pl->n; i++)
		if (pl->p[i]->filename != NULL && strcmp(pl->p[i]->filename, name) == 0)
			return pl->p[i];
	return NULL;
}

static bool
is_signed_container(const struct mime_part *p, enum smime_sig_kind k)
{
	if (k == SMIME_KIND_MULTIPART_SIGNED)
		return mime_part_is(p, "multipart", "signed");
	return mime_part_is(p, "application", "pkcs7-mime") || mime_part_is(p, "application", "x-pkcs7-mime");
}

/* Which part does signature s cover?  *content_r is the covered subtree,
 * *container_r the part carrying the signature (may equal content). */
static void
sig_target(const struct partlist *pl, const struct smime_sig *s, const struct mime_part **container_r,
    const struct mime_part **content_r)
{
	const struct mime_part *t = NULL;
	const char *w = s->where != NULL ? s->where : "";

	*container_r = *content_r = NULL;
	if (pl->n == 0)
		return;
	if (s->kind == SMIME_KIND_MULTIPART_SIGNED || s->kind == SMIME_KIND_OPAQUE) {
		if (strcmp(w, "message") == 0) {
			for (size_t i = 0; i < pl->n && t == NULL; i++)
				if (is_signed_container(pl->p[i], s->kind))
					t = pl->p[i];
		} else if (strncmp(w, "part ", 5) == 0) {
			for (size_t i = 0; i < pl->n && t == NULL; i++) {
				char path[256];

				mime_part_path(pl->p[i], path, sizeof(path));
				if (strcmp(path, w) == 0)
					t = pl->p[i];
			}
		}
		if (t == NULL && strncmp(w, "attachment ", 11) == 0) {
			/* inside an attached message: point at the attachment */
			char *name = xstrdup(w + 11), *cut = strstr(name, ", part ");

			if (cut != NULL)
				*cut = '\0';
			t = part_by_filename(pl, name);
			free(name);
			*container_r = *content_r = t;
			return;
		}
		*container_r = t;
		*content_r = t != NULL && s->kind == SMIME_KIND_MULTIPART_SIGNED && t->nchildren > 0 ? t->children[0] : t;
		return;
	}
	/* attachments: .p7s covers the file it names; .p7m / PDF the file itself */
	t = part_by_filename(pl, s->file);
	if (t == NULL && strncmp(w, "attachment ", 11) == 0)
		t = part_by_filename(pl, w + 11);
	*container_r = *content_r = t;
}

static struct json_object *
mime_json(const struct partlist *pl, const struct smime_report *r)
{
	struct json_object *arr = json_object_new_array();
	size_t nsigs = r != NULL ? r->n_sigs : 0;
	const struct mime_part **cont = xcalloc(nsigs + 1, sizeof(*cont));
	const struct mime_part **content = xcalloc(nsigs + 1, sizeof(*content));

	for (size_t s = 0; s < nsigs; s++)
		sig_target(pl, &r->sigs[s], &cont[s], &content[s]);
	for (size_t i = 0; i < pl->n; i++) {
		const struct mime_part *p = pl->p[i];
		struct json_object *o = json_object_new_object(), *cov = json_object_new_array();
		char path[256], type[256];

		mime_part_path(p, path, sizeof(path));
		snprintf(type, sizeof(type), "%s/%s", p->type != NULL ? p->type : "text",
		    p->subtype != NULL ? p->subtype : "plain");
		json_object_object_add(o, "part", jstr(strcmp(path, "top") == 0 ? "top" : path + 5));
		json_object_object_add(o, "type", jstr(type));
		json_object_object_add(o, "name", jstr(p->filename));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)(p->span.end - p->span.start)));
		json_object_object_add(o, "depth", json_object_new_int((int)p->depth));
		for (size_t s = 0; r != NULL && s < r->n_sigs; s++)
			if (content[s] != NULL && in_subtree(p, content[s]))
				json_object_array_add(cov, json_object_new_int((int)s));
		json_object_object_add(o, "covered_by", cov);
		json_object_array_add(arr, o);
	}
	free(cont);
	free(content);
	return arr;
}

static struct json_object *
sigs_json(const struct smime_report *r)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; r != NULL && i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];
		struct json_object *o = json_object_new_object(), *ch = json_object_new_array();

		json_object_object_add(o, "where", jstr(s->where));
		json_object_object_add(o, "kind", json_object_new_string(smime_sig_kind_code(s->kind)));
		json_object_object_add(o, "verdict", json_object_new_string(smime_verdict_code(s->verdict)));
		json_object_object_add(o, "reasons", reasons_array(s->reasons));
		json_object_object_add(o, "covers", json_object_new_string(smime_coverage_code(s->covers)));
		json_object_object_add(o, "signer", s->has_signer ? signer_json(&s->signer) : NULL);
		for (size_t k = 0; k < s->n_chain; k++)
			json_object_array_add(ch, jstr(s->chain[k]));
		json_object_object_add(o, "chain", ch);
		json_object_object_add(o, "signing_time", json_object_new_int64(s->signing_time));
		json_object_object_add(o, "digest", jstr(s->digest_alg));
		json_object_object_add(o, "revocation", jstr(s->revocation));
		json_object_object_add(o, "detail", jstr(s->detail));
		json_object_object_add(o, "file", jstr(s->file));
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *
atts_json(const struct smime_report *r)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; r != NULL && i < r->n_attachments; i++) {
		const struct smime_attachment *a = &r->attachments[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", jstr(a->name));
		json_object_object_add(o, "content_type", jstr(a->content_type));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)a->size));
		json_object_object_add(o, "sha256", jstr(a->sha256));
		json_object_object_add(o, "verdict", json_object_new_string(smime_verdict_code(a->verdict)));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Everything logdb derives from a message (and its report, when verified). */
struct row {
	struct hdrs h;
	char *from_addr, *from_name;     /* owned */
	struct buf to;                   /* "a@x, b@y" */
	char *subject, *message_id;      /* owned, decoded / cleaned */
	int64_t date;                    /* -1: none */
	struct buf reasons, atts, search;
	const char *signer, *signer_email;   /* borrowed from the report */
	char *report;                    /* owned JSON text */
};

static void
row_release(struct row *w)
{
	hdrs_release(&w->h);
	free(w->from_addr);
	free(w->from_name);
	buf_release(&w->to);
	free(w->subject);
	free(w->message_id);
	buf_release(&w->reasons);
	buf_release(&w->atts);
	buf_release(&w->search);
	free(w->report);
}

static void
search_add(struct buf *b, const char *s)
{
	char *f;

	if (s == NULL || s[0] == '\0')
		return;
	f = webui_fold(s);
	if (f[0] != '\0') {
		if (b->len > 0)
			buf_appends(b, " ");
		buf_appends(b, f);
	}
	free(f);
}

static void
row_build(struct row *w, const char *msg, size_t len, const struct smime_report *r, enum smime_verdict verdict,
    bool outgoing)
{
	struct json_object *root = json_object_new_object(), *hj = json_object_new_object();
	struct partlist pl = { NULL, 0 };
	struct mime_part *tree = NULL;
	struct kerr e = KERR_INIT;

	memset(w, 0, sizeof(*w));
	hdrs_parse(msg, len, &w->h);
	if (w->h.from != NULL) {
		char **items = NULL;
		size_t n = addr_split(w->h.from, &items);

		if (n > 0) {
			char *a, *nm;

			mailbox_parse(items[0], &a, &nm);
			w->from_addr = utf8_clean(a, strlen(a));
			free(a);
			w->from_name = nm;
		}
		for (size_t i = 0; i < n; i++)
			free(items[i]);
		free(items);
	}
	buf_append(&w->to, "", 0);
	addrs_append(&w->to, w->h.to);
	addrs_append(&w->to, w->h.cc);
	if (outgoing)   /* a draft's Bcc (the signed copy has none) */
		addrs_append(&w->to, w->h.bcc);
	w->subject = w->h.subject != NULL ? rfc2047_decode(w->h.subject) : NULL;
	w->message_id = w->h.message_id != NULL ? utf8_clean(w->h.message_id, strlen(w->h.message_id)) : NULL;
	w->date = date_parse(w->h.date);

	reasons_text(r != NULL ? r->reasons : 0, &w->reasons);
	buf_append(&w->atts, "", 0);
	buf_append(&w->search, "", 0);
	search_add(&w->search, w->from_name);
	search_add(&w->search, w->from_addr);
	search_add(&w->search, w->subject);
	for (size_t i = 0; r != NULL && i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];

		if (s->has_signer && w->signer == NULL) {
			w->signer = s->signer.subject;
			w->signer_email = s->signer.n_emails > 0 ? s->signer.emails[0] : NULL;
		}
		if (s->has_signer)
			search_add(&w->search, s->signer.subject);
		for (size_t k = s->has_signer ? 1 : 0; k < s->n_chain; k++)
			search_add(&w->search, s->chain[k]);
	}
	for (size_t i = 0; r != NULL && i < r->n_attachments; i++) {
		const char *nm = r->attachments[i].name;

		if (nm == NULL)
			continue;
		if (w->atts.len > 0)
			buf_appends(&w->atts, ", ");
		buf_appends(&w->atts, nm);
		search_add(&w->search, nm);
	}

	tree = mime_parse(msg, len, &e);
	if (tree != NULL)
		parts_collect(tree, &pl);

	json_object_object_add(root, "verdict", json_object_new_string(smime_verdict_code(verdict)));
	json_object_object_add(root, "reasons", reasons_array(r != NULL ? r->reasons : 0));
	json_object_object_add(root, "detail", jstr(r != NULL ? r->detail : NULL));
	json_object_object_add(root, "from", jstr(r != NULL ? r->from : NULL));
	json_object_object_add(hj, "from", jstr(w->h.from != NULL ? w->h.from : NULL));
	json_object_object_add(hj, "to", jstr(w->h.to));
	json_object_object_add(hj, "cc", jstr(w->h.cc));
	json_object_object_add(hj, "date", jstr(w->h.date));
	json_object_object_add(hj, "subject", jstr(w->subject));
	json_object_object_add(hj, "message-id", jstr(w->message_id));
	json_object_object_add(root, "headers", hj);
	json_object_object_add(root, "mime", mime_json(&pl, r));
	json_object_object_add(root, "sigs", sigs_json(r));
	json_object_object_add(root, "attachments", atts_json(r));
	w->report = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	free(pl.p);
	mime_part_free(&tree);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static const char insert_sql[] =
    "INSERT INTO messages (time, direction, account, address, folder, uidvalidity, uid, message_id,"
    " from_addr, from_name, to_addrs, subject, date_hdr, verdict, reasons, signer, signer_email,"
    " attachments, n_attachments, size, verify_ms, journal_id, search, report, att_verdict)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
    " ?21, ?22, ?23, ?24, ?25)";

/* Bind the row's columns to insert_sql's parameters. */
static void
row_bind(sqlite3_stmt *st, const struct row *w, const char *direction, const struct logdb_place *p,
    const char *verdict, size_t n_atts, size_t size, int64_t verify_ms, int64_t journal_id, const char *att_verdict)
{
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	bind_text(st, 2, direction);
	bind_text(st, 3, p->account != NULL ? p->account : "");
	bind_text(st, 4, p->address != NULL ? p->address : "");
	bind_text(st, 5, p->folder);
	sqlite3_bind_int64(st, 6, p->uidvalidity);
	sqlite3_bind_int64(st, 7, p->uid);
	bind_text(st, 8, w->message_id);
	bind_text(st, 9, w->from_addr);
	bind_text(st, 10, w->from_name);
	bind_text(st, 11, w->to.data);
	bind_text(st, 12, w->subject);
	if (w->date >= 0)
		sqlite3_bind_int64(st, 13, w->date);
	else
		sqlite3_bind_null(st, 13);
	bind_text(st, 14, verdict);
	bind_text(st, 15, w->reasons.data);
	bind_text(st, 16, w->signer);
	bind_text(st, 17, w->signer_email);
	bind_text(st, 18, w->atts.len > 0 ? w->atts.data : NULL);
	sqlite3_bind_int64(st, 19, (int64_t)n_atts);
	sqlite3_bind_int64(st, 20, (int64_t)size);
	if (verify_ms >= 0)
		sqlite3_bind_int64(st, 21, verify_ms);
	else
		sqlite3_bind_null(st, 21);
	if (journal_id > 0)
		sqlite3_bind_int64(st, 22, journal_id);
	else
		sqlite3_bind_null(st, 22);
	bind_text(st, 23, w->search.data);
	bind_text(st, 24, w->report);
	bind_text(st, 25, att_verdict);
}

static bool
step_done(struct logdb *l, sqlite3_stmt *st, const char *what, struct kerr *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_err(err, l->db, what);
		return false;
	}
	return true;
}

static bool
add_evidence(struct logdb *l, int64_t id, const struct smime_report *r, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = true;

	if (sqlite3_prepare_v2(l->db, "INSERT INTO evidence (message, sig, kind, source, data) VALUES (?, ?, ?, ?, ?)",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare evidence");
		return false;
	}
	for (size_t i = 0; ok && i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];

		for (size_t k = 0; ok && s->chain_der != NULL && k < s->n_chain; k++) {
			if (s->chain_der[k].len == 0)
				continue;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, (int64_t)i);
			bind_text(st, 3, "certificate");
			/* the signer's certificate travels in the CMS; the rest of
			 * the chain came from the CMS or the local trust stores */
			bind_text(st, 4, k == 0 ? "cms" : k + 1 == s->n_chain ? "local" : "chain");
			sqlite3_bind_blob(st, 5, s->chain_der[k].data, (int)s->chain_der[k].len, SQLITE_TRANSIENT);
			ok = step_done(l, st, "insert evidence", err);
		}
		/* Revocation: smime/ reports how each certificate of the chain was
		 * decided ("crl:local good; CA 1: ocsp:http://... good"); the bytes
		 * of the CRLs / OCSP answers are not handed out (yet), so each
		 * decision is one row with its text as source and empty data. */
		for (const char *rv = s->revocation; ok && rv != NULL && *rv != '\0';) {
			const char *end = strstr(rv, "; "), *item = rv;
			size_t n = end != NULL ? (size_t)(end - rv) : strlen(rv);
			char one[600];

			rv = end != NULL ? end + 2 : NULL;
			if (strncmp(item, "CA ", 3) == 0 && memchr(item, ':', n) != NULL) {
				const char *c = memchr(item, ':', n);

				n -= (size_t)(c + 2 - item);
				item = c + 2;
			}
			if (n >= sizeof(one))
				n = sizeof(one) - 1;
			memcpy(one, item, n);
			one[n] = '\0';
			if (strncmp(one, "crl:", 4) != 0 && strncmp(one, "ocsp:", 5) != 0)
				continue;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, (int64_t)i);
			bind_text(st, 3, one[0] == 'c' ? "crl" : "ocsp");
			bind_text(st, 4, one);
			sqlite3_bind_zeroblob(st, 5, 0);
			ok = step_done(l, st, "insert evidence", err);
		}
	}
	sqlite3_finalize(st);
	return ok;
}

bool
logdb_seen(struct logdb *l, const struct logdb_place *p, bool *seen_r, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;
	int rc;

	*seen_r = false;
	pthread_mutex_lock(&l->lock);
	if (sqlite3_prepare_v2(l->db, "SELECT 1 FROM messages WHERE direction = 'in' AND account = ? AND folder = ?"
	    " AND uidvalidity = ? AND uid = ?", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare seen");
		goto out;
	}
	bind_text(st, 1, p->account);
	bind_text(st, 2, p->folder);
	sqlite3_bind_int64(st, 3, p->uidvalidity);
	sqlite3_bind_int64(st, 4, p->uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seen_r = true;
	else if (rc != SQLITE_DONE) {
		db_err(err, l->db, "seen");
		goto out;
	}
	ok = true;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

bool
logdb_add_incoming(struct logdb *l, const struct logdb_place *p, const char *msg, size_t len,
    const struct smime_report *r, int64_t verify_ms, int64_t *id_r, struct kerr *err)
{
	struct row w;
	sqlite3_stmt *st = NULL;
	bool ok = false, in_tx = false;
	int64_t id;
	enum smime_verdict v = r != NULL ? r->verdict : SMIME_VERDICT_MALFORMED, att_v = SMIME_VERDICT_UNSIGNED;
	bool has_att;

	row_build(&w, msg, len, r, v, false);
	pthread_mutex_lock(&l->lock);
	if (!exec_sql(l, "BEGIN IMMEDIATE", err))
		goto out;
	in_tx = true;
	if (sqlite3_prepare_v2(l->db, "DELETE FROM messages WHERE direction = 'in' AND account = ? AND folder IS ?"
	    " AND uidvalidity = ? AND uid = ?", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare replace");
		goto out;
	}
	bind_text(st, 1, p->account != NULL ? p->account : "");
	bind_text(st, 2, p->folder);
	sqlite3_bind_int64(st, 3, p->uidvalidity);
	sqlite3_bind_int64(st, 4, p->uid);
	if (!step_done(l, st, "replace", err))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(l->db, insert_sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare insert");
		goto out;
	}
	/* the signed attachments' combined verdict: the same as the second
	 * keyword's (inbox.c); NULL when no attachment is signed */
	has_att = inbox_attachment_verdict(r, &att_v);
	row_bind(st, &w, "in", p, smime_verdict_code(v), r != NULL ? r->n_attachments : 0, len, verify_ms, 0,
	    has_att ? smime_verdict_code(att_v) : NULL);
	if (!step_done(l, st, "insert", err))
		goto out;
	id = sqlite3_last_insert_rowid(l->db);
	if (r != NULL && !add_evidence(l, id, r, err))
		goto out;
	if (!exec_sql(l, "COMMIT", err))
		goto out;
	in_tx = false;
	if (id_r != NULL)
		*id_r = id;
	ok = true;
out:
	sqlite3_finalize(st);
	if (in_tx)
		(void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&l->lock);
	row_release(&w);
	return ok;
}

bool
logdb_add_outgoing(struct logdb *l, const struct logdb_place *p, int64_t journal_id, const char *msg, size_t len,
    struct kerr *err)
{
	struct row w;
	sqlite3_stmt *st = NULL;
	bool ok = false, in_tx = false;

	row_build(&w, msg, len, NULL, SMIME_VERDICT_VALID, true);
	{
		/* an outgoing row: verdict 'pending', and the report says so */
		struct json_object *o = json_tokener_parse(w.report);

		if (o != NULL) {
			json_object_object_add(o, "verdict", json_object_new_string("pending"));
			json_object_object_add(o, "smtp", NULL);
			free(w.report);
			w.report = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(o);
		}
	}
	pthread_mutex_lock(&l->lock);
	if (!exec_sql(l, "BEGIN IMMEDIATE", err))
		goto out;
	in_tx = true;
	if (sqlite3_prepare_v2(l->db, "DELETE FROM messages WHERE direction = 'out' AND journal_id = ?", -1, &st,
	    NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare replace");
		goto out;
	}
	sqlite3_bind_int64(st, 1, journal_id);
	if (!step_done(l, st, "replace", err))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(l->db, insert_sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare insert");
		goto out;
	}
	row_bind(st, &w, "out", p, "pending", 0, len, -1, journal_id, NULL);
	if (!step_done(l, st, "insert", err) || !exec_sql(l, "COMMIT", err))
		goto out;
	in_tx = false;
	ok = true;
out:
	sqlite3_finalize(st);
	if (in_tx)
		(void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&l->lock);
	row_release(&w);
	return ok;
}

bool
logdb_set_outgoing(struct logdb *l, int64_t journal_id, const char *verdict, const char *detail, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false, in_tx = false;
	int64_t id = 0;
	char *report = NULL;
	struct json_object *o = NULL;

	if (verdict == NULL || (strcmp(verdict, "sent") != 0 && strcmp(verdict, "pending") != 0 &&
	    strcmp(verdict, "failed") != 0)) {
		kerr_set(err, KERR_INTERNAL, "log: outgoing verdict must be sent, pending or failed");
		return false;
	}
	pthread_mutex_lock(&l->lock);
	if (!exec_sql(l, "BEGIN IMMEDIATE", err))
		goto out;
	in_tx = true;
	if (sqlite3_prepare_v2(l->db, "SELECT id, report FROM messages WHERE direction = 'out' AND journal_id = ?",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare outgoing");
		goto out;
	}
	sqlite3_bind_int64(st, 1, journal_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		kerr_set(err, KERR_PERM, "log: no outgoing message for journal id %lld", (long long)journal_id);
		goto out;
	}
	id = sqlite3_column_int64(st, 0);
	o = json_tokener_parse((const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	st = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	json_object_object_add(o, "verdict", json_object_new_string(verdict));
	if (strcmp(verdict, "sent") == 0)
		json_object_object_add(o, "smtp", jstr(detail));
	else if (detail != NULL)
		json_object_object_add(o, "detail", jstr(detail));
	report = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (sqlite3_prepare_v2(l->db, "UPDATE messages SET verdict = ?, report = ?, time = ? WHERE id = ?", -1, &st,
	    NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare update");
		goto out;
	}
	bind_text(st, 1, verdict);
	bind_text(st, 2, report);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 4, id);
	if (!step_done(l, st, "update outgoing", err) || !exec_sql(l, "COMMIT", err))
		goto out;
	in_tx = false;
	ok = true;
out:
	sqlite3_finalize(st);
	if (in_tx)
		(void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&l->lock);
	json_object_put(o);
	free(report);
	return ok;
}

/* One upsert of account_status; which fields change depends on the call. */
static bool
account_upsert(struct logdb *l, const char *sql, const char *account, const char *address, const char *state,
    const char *error, int64_t num, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	pthread_mutex_lock(&l->lock);
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare account status");
		goto out;
	}
	bind_text(st, 1, account);
	bind_text(st, 2, address != NULL ? address : "");
	bind_text(st, 3, state);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	bind_text(st, 5, error);
	sqlite3_bind_int64(st, 6, num);
	ok = step_done(l, st, "account status", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

bool
logdb_account_state(struct logdb *l, const char *account, const char *address, const char *state,
    const char *error, struct kerr *err)
{
	static const char sql[] =
	    "INSERT INTO account_status (account, address, state, since, last_error, last_error_time, updated)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?5 IS NULL THEN NULL ELSE ?4 END, ?4)"
	    " ON CONFLICT (account) DO UPDATE SET"
	    "  address = CASE WHEN excluded.address = '' THEN address ELSE excluded.address END,"
	    "  since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END,"
	    "  state = excluded.state,"
	    "  last_error = COALESCE(excluded.last_error, last_error),"
	    "  last_error_time = COALESCE(excluded.last_error_time, last_error_time),"
	    "  updated = excluded.updated";

	if (state == NULL || (strcmp(state, "connecting") != 0 && strcmp(state, "connected") != 0 &&
	    strcmp(state, "idle") != 0 && strcmp(state, "error") != 0 && strcmp(state, "stopped") != 0)) {
		kerr_set(err, KERR_INTERNAL, "log: unknown account state");
		return false;
	}
	return account_upsert(l, sql, account, address, state, error, 0, err);
}

bool
logdb_account_idle(struct logdb *l, const char *account, int64_t when, struct kerr *err)
{
	static const char sql[] =
	    "INSERT INTO account_status (account, address, state, since, last_idle, updated)"
	    " VALUES (?1, ?2, ?3, ?4, ?6, ?4)"
	    " ON CONFLICT (account) DO UPDATE SET"
	    "  since = CASE WHEN state = 'idle' THEN since ELSE excluded.since END,"
	    "  state = 'idle', last_idle = excluded.last_idle, updated = excluded.updated";

	return account_upsert(l, sql, account, NULL, "idle", NULL, when, err);
}

bool
logdb_account_backlog(struct logdb *l, const char *account, int64_t backlog, struct kerr *err)
{
	static const char sql[] =
	    "INSERT INTO account_status (account, address, state, since, backlog, updated)"
	    " VALUES (?1, ?2, ?3, ?4, ?6, ?4)"
	    " ON CONFLICT (account) DO UPDATE SET backlog = excluded.backlog, updated = excluded.updated";

	return account_upsert(l, sql, account, NULL, "connected", NULL, backlog, err);
}

bool
logdb_folder_get(struct logdb *l, const char *account, const char *folder, uint32_t *uidvalidity_r,
    uint32_t *last_uid_r, bool *found_r, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;
	int rc;

	*found_r = false;
	*uidvalidity_r = *last_uid_r = 0;
	pthread_mutex_lock(&l->lock);
	if (sqlite3_prepare_v2(l->db, "SELECT uidvalidity, last_uid FROM folder_state WHERE account = ? AND folder = ?",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare folder state");
		goto out;
	}
	bind_text(st, 1, account);
	bind_text(st, 2, folder);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found_r = true;
		*uidvalidity_r = (uint32_t)sqlite3_column_int64(st, 0);
		*last_uid_r = (uint32_t)sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		db_err(err, l->db, "folder state");
		goto out;
	}
	ok = true;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

bool
logdb_folder_set(struct logdb *l, const char *account, const char *folder, uint32_t uidvalidity,
    uint32_t last_uid, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	pthread_mutex_lock(&l->lock);
	if (sqlite3_prepare_v2(l->db, "INSERT INTO folder_state (account, folder, uidvalidity, last_uid, updated)"
	    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
	    " last_uid = excluded.last_uid, updated = excluded.updated", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, l->db, "prepare folder state");
		goto out;
	}
	bind_text(st, 1, account);
	bind_text(st, 2, folder);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_int64(st, 4, last_uid);
	sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
	ok = step_done(l, st, "folder state", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&l->lock);
	return ok;
}
