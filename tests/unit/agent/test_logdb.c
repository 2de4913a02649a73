/* Unit tests of agent/logdb.c: the signed-mail log in SQLite. */
#include "config.h"

#include <json-c/json.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/logdb.h"
#include "tests/unit/testmain.h"

static char dir[] = "/tmp/kyso-logdb-XXXXXX";
static char path[128];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kyso.db", dir);
}

static void
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/kyso-logdb-XXXXXX");
}

static const char msg1[] =
    "From: =?UTF-8?B?VHLhuqduIEtpbSBOZ8Oibg==?= <ngan@benluc.longan.gov.vn>\r\n"
    "To: vanthu@benluc.longan.gov.vn, \"Ubnd, Tinh\" <ubnd@longan.gov.vn>\r\n"
    "Cc: group: c1@x.vn, c2@x.vn;\r\n"
    "Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_s=E1=BB=91?= 12\r\n"
    "Date: Sun, 29 Nov 2026 18:00:00 +0700\r\n"
    "Message-ID: <abc@benluc>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=BB\r\n"
    "\r\n"
    "--BB\r\n"
    "Content-Type: multipart/mixed; boundary=CC\r\n"
    "\r\n"
    "--CC\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--CC\r\n"
    "Content-Type: application/pdf; name=\"QD-12.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"QD-12.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--CC--\r\n"
    "--BB\r\n"
    "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAAA\r\n"
    "--BB--\r\n";

static char *subj_signer = "CN=Trần Kim Ngân,O=UBND xã Bến Lức,C=VN";

/* A report shaped like the verifier's, made by hand. */
static struct smime_report *
fake_report(enum smime_verdict v, uint32_t reasons)
{
	struct smime_report *r = calloc(1, sizeof(*r));
	struct smime_sig *s;

	r->verdict = v;
	r->reasons = reasons;
	r->from = strdup("ngan@benluc.longan.gov.vn");
	r->n_sigs = 1;
	r->sigs = calloc(1, sizeof(*r->sigs));
	s = &r->sigs[0];
	s->where = strdup("message");
	s->kind = SMIME_KIND_MULTIPART_SIGNED;
	s->verdict = v;
	s->reasons = reasons;
	s->covers = SMIME_COVERS_WHOLE;
	s->has_signer = true;
	s->signer.subject = strdup(subj_signer);
	s->signer.issuer = strdup("CN=Ban Cơ yếu Chính phủ CA,C=VN");
	s->signer.serial = strdup("0a1b");
	s->signer.sha256 = strdup("00ff");
	s->signer.emails = calloc(2, sizeof(char *));
	s->signer.emails[0] = strdup("ngan@benluc.longan.gov.vn");
	s->signer.n_emails = 1;
	s->n_chain = 2;
	s->chain = calloc(3, sizeof(char *));
	s->chain[0] = strdup(subj_signer);
	s->chain[1] = strdup("CN=Ban Cơ yếu Chính phủ CA,C=VN");
	s->chain_der = calloc(3, sizeof(struct buf));
	buf_append(&s->chain_der[0], "\x30\x03\x02\x01\x00", 5);
	buf_append(&s->chain_der[1], "\x30\x03\x02\x01\x01", 5);
	s->digest_alg = strdup("sha256");
	s->revocation = strdup("crl:local good; CA 1: ocsp:http://127.0.0.1:18081/ unknown; CA 2: none unknown");
	r->n_attachments = 1;
	r->attachments = calloc(1, sizeof(*r->attachments));
	r->attachments[0].name = strdup("QD-12.pdf");
	r->attachments[0].content_type = strdup("application/pdf");
	r->attachments[0].size = 5;
	strcpy(r->attachments[0].sha256, "ab");
	r->attachments[0].verdict = SMIME_VERDICT_UNSIGNED;
	return r;
}

/* Strict UTF-8 (no overlongs, surrogates or NUL). */
static bool
utf8_valid(const unsigned char *p)
{
	while (*p != 0) {
		unsigned c = *p, len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		    (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp = len == 1 ? c : c & (0xffu >> (len + 1));

		if (len == 0)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

static struct logdb *
open_log(void)
{
	struct kerr e = KERR_INIT;
	struct logdb *l = logdb_open(path, &e);

	ck_assert_msg(l != NULL, "%s", e.msg);
	return l;
}

static sqlite3 *
ro(void)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql, as text (caller frees), or NULL. */
static char *
q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *out = NULL;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void
is_q(sqlite3 *db, const char *sql, const char *want)
{
	char *got = q1(db, sql);

	if (want == NULL)
		ck_assert_msg(got == NULL, "%s: got %s, want NULL", sql, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: got %s, want %s", sql, got ? got : "NULL", want);
	free(got);
}

START_TEST(schema_version)
{
	struct logdb *l = open_log();
	sqlite3 *db;

	logdb_close(&l);
	l = open_log();     /* opening again keeps everything */
	db = ro();
	is_q(db, "PRAGMA user_version", "1");
	is_q(db, "PRAGMA journal_mode", "wal");
	is_q(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('messages','messages_fts','evidence',"
	    "'account_status','folder_state','messages_place','messages_time','messages_acct','messages_verdict',"
	    "'messages_dir')", "10");
	sqlite3_close(db);
	logdb_close(&l);
	/* a newer schema is refused */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	{
		struct kerr e = KERR_INIT;

		ck_assert_ptr_null(logdb_open(path, &e));
		ck_assert_int_eq(e.cls, KERR_CONFIG);
		ck_assert_ptr_nonnull(strstr(e.msg, "newer"));
	}
	/* a path that cannot be opened */
	{
		struct kerr e = KERR_INIT;

		ck_assert_ptr_null(logdb_open("/nonexistent-dir/x/kyso.db", &e));
		ck_assert(kerr_isset(&e));
	}
}
END_TEST

static const struct logdb_place place1 = { "vanthu", "vanthu@benluc.longan.gov.vn", "INBOX", 77, 5 };

START_TEST(incoming_row)
{
	struct logdb *l = open_log();
	struct smime_report *r = fake_report(SMIME_VERDICT_VALID, 0);
	struct kerr e = KERR_INIT;
	int64_t id = 0;
	bool seen = true;
	sqlite3 *db;
	char *rep;
	struct json_object *j, *x;

	ck_assert(logdb_seen(l, &place1, &seen, &e));
	ck_assert(!seen);
	ck_assert_msg(logdb_add_incoming(l, &place1, msg1, strlen(msg1), r, 12, &id, &e), "%s", e.msg);
	ck_assert_int_gt(id, 0);
	ck_assert(logdb_seen(l, &place1, &seen, &e));
	ck_assert(seen);
	db = ro();
	is_q(db, "SELECT from_addr FROM messages", "ngan@benluc.longan.gov.vn");
	is_q(db, "SELECT from_name FROM messages", "Trần Kim Ngân");
	is_q(db, "SELECT subject FROM messages", "Công văn số 12");
	is_q(db, "SELECT to_addrs FROM messages", "vanthu@benluc.longan.gov.vn, ubnd@longan.gov.vn, c1@x.vn, c2@x.vn");
	is_q(db, "SELECT date_hdr FROM messages", "1795950000");
	is_q(db, "SELECT message_id FROM messages", "<abc@benluc>");
	is_q(db, "SELECT verdict || '|' || reasons || '|' || direction FROM messages", "valid||in");
	is_q(db, "SELECT signer FROM messages", subj_signer);
	is_q(db, "SELECT signer_email FROM messages", "ngan@benluc.longan.gov.vn");
	is_q(db, "SELECT attachments || '|' || n_attachments || '|' || verify_ms FROM messages", "QD-12.pdf|1|12");
	is_q(db, "SELECT size = length(CAST(report AS BLOB)) OR size > 0 FROM messages", "1");
	is_q(db, "SELECT account || ' ' || address || ' ' || folder || ' ' || uidvalidity || ' ' || uid FROM messages",
	    "vanthu vanthu@benluc.longan.gov.vn INBOX 77 5");
	/* evidence: two certificates and the CRL decision */
	is_q(db, "SELECT count(*) FROM evidence WHERE kind = 'certificate' AND sig = 0", "2");
	is_q(db, "SELECT hex(data) FROM evidence WHERE kind = 'certificate' AND source = 'cms'", "3003020100");
	is_q(db, "SELECT source || '|' || length(data) FROM evidence WHERE kind = 'crl'", "crl:local good|0");
	is_q(db, "SELECT source FROM evidence WHERE kind = 'ocsp'", "ocsp:http://127.0.0.1:18081/ unknown");
	is_q(db, "SELECT count(*) FROM evidence WHERE kind IN ('crl', 'ocsp')", "2");
	/* the report */
	rep = q1(db, "SELECT report FROM messages");
	j = json_tokener_parse(rep);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_object_get_ex(j, "verdict", &x));
	ck_assert_str_eq(json_object_get_string(x), "valid");
	ck_assert(json_object_object_get_ex(j, "headers", &x));
	ck_assert(json_object_object_get_ex(x, "subject", &x));
	ck_assert_str_eq(json_object_get_string(x), "Công văn số 12");
	ck_assert(json_object_object_get_ex(j, "mime", &x));
	/* top, 1 (mixed), 1.1 text, 1.2 pdf, 2 p7s */
	ck_assert_int_eq((int)json_object_array_length(x), 5);
	{
		struct json_object *p0 = json_object_array_get_idx(x, 0), *p2 = json_object_array_get_idx(x, 2),
		    *p4 = json_object_array_get_idx(x, 4), *v;

		ck_assert(json_object_object_get_ex(p0, "part", &v));
		ck_assert_str_eq(json_object_get_string(v), "top");
		ck_assert(json_object_object_get_ex(p0, "type", &v));
		ck_assert_str_eq(json_object_get_string(v), "multipart/signed");
		ck_assert(json_object_object_get_ex(p0, "covered_by", &v));   /* the container */
		ck_assert_int_eq((int)json_object_array_length(v), 0);
		ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 1), "covered_by", &v));
		ck_assert_int_eq((int)json_object_array_length(v), 1);    /* the signed entity */
		ck_assert(json_object_object_get_ex(p2, "part", &v));
		ck_assert_str_eq(json_object_get_string(v), "1.1");
		ck_assert(json_object_object_get_ex(p2, "covered_by", &v));
		ck_assert_int_eq((int)json_object_array_length(v), 1);
		ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(v, 0)), 0);
		ck_assert(json_object_object_get_ex(p4, "covered_by", &v));   /* the signature part */
		ck_assert_int_eq((int)json_object_array_length(v), 0);
		ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 3), "name", &v));
		ck_assert_str_eq(json_object_get_string(v), "QD-12.pdf");
	}
	ck_assert(json_object_object_get_ex(j, "sigs", &x));
	ck_assert_int_eq((int)json_object_array_length(x), 1);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 0), "signer", &x));
	ck_assert(json_object_object_get_ex(x, "emails", &x));
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(x, 0)), "ngan@benluc.longan.gov.vn");
	json_object_put(j);
	free(rep);
	sqlite3_close(db);

	/* the same place again: replaced (re-verified), evidence not doubled */
	smime_report_free(&r);
	r = fake_report(SMIME_VERDICT_INVALID, SMIME_R_DIGEST_MISMATCH | SMIME_R_REVOKED);
	ck_assert_msg(logdb_add_incoming(l, &place1, msg1, strlen(msg1), r, 3, NULL, &e), "%s", e.msg);
	db = ro();
	is_q(db, "SELECT count(*) FROM messages", "1");
	is_q(db, "SELECT verdict || '|' || reasons FROM messages", "invalid|digest-mismatch revoked");
	is_q(db, "SELECT count(*) FROM evidence", "4");
	is_q(db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'ngan'", "1");
	/* another uidvalidity is another row */
	{
		struct logdb_place p2 = place1;

		p2.uidvalidity = 78;
		ck_assert(logdb_add_incoming(l, &p2, msg1, strlen(msg1), r, 3, NULL, &e));
	}
	is_q(db, "SELECT count(*) FROM messages", "2");
	sqlite3_close(db);
	smime_report_free(&r);
	logdb_close(&l);
}
END_TEST

START_TEST(fts_folded)
{
	struct logdb *l = open_log();
	struct smime_report *r = fake_report(SMIME_VERDICT_VALID, 0);
	struct kerr e = KERR_INIT;
	sqlite3 *db;
	char *search;

	ck_assert(logdb_add_incoming(l, &place1, msg1, strlen(msg1), r, 1, NULL, &e));
	db = ro();
	search = q1(db, "SELECT search FROM messages");
	ck_assert_ptr_nonnull(search);
	/* whatever the folding does to accents, the ASCII words are there */
	ck_assert_msg(strstr(search, "ngan@benluc") != NULL || strstr(search, "ngan") != NULL, "%s", search);
	free(search);
	is_q(db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'benluc'", "1");
	is_q(db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'qd'", "1");
	is_q(db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'nothere'", "0");
	/* the fts rowid joins the message */
	is_q(db, "SELECT m.uid FROM messages_fts f JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH 'benluc'",
	    "5");
	sqlite3_close(db);
	smime_report_free(&r);
	logdb_close(&l);
}
END_TEST

/* Set the fake report's attachments: n verdicts (SMIME_VERDICT_*). */
static void
set_atts(struct smime_report *r, const enum smime_verdict *v, size_t n)
{
	for (size_t i = 0; i < r->n_attachments; i++) {
		free(r->attachments[i].name);
		free(r->attachments[i].content_type);
	}
	free(r->attachments);
	r->attachments = calloc(n + 1, sizeof(*r->attachments));
	r->n_attachments = n;
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "QD-%zu.pdf", i);
		r->attachments[i].name = strdup(name);
		r->attachments[i].content_type = strdup("application/pdf");
		r->attachments[i].size = 5;
		strcpy(r->attachments[i].sha256, "ab");
		r->attachments[i].verdict = v[i];
	}
}

/* messages.att_verdict: the signed attachments' worst verdict, as the
 * second keyword's (inbox_attachment_verdict), NULL when none is signed
 * and for 'out' rows. */
START_TEST(attachment_verdict)
{
	static const struct {
		enum smime_verdict msg, att[3];
		size_t n;
		const char *want;
	} cases[] = {
		{ SMIME_VERDICT_VALID, { SMIME_VERDICT_UNSIGNED }, 1, NULL },
		{ SMIME_VERDICT_VALID, { 0 }, 0, NULL },
		/* the usual official document: an unsigned mail, a signed PDF */
		{ SMIME_VERDICT_UNSIGNED, { SMIME_VERDICT_VALID, SMIME_VERDICT_UNSIGNED }, 2, "valid" },
		{ SMIME_VERDICT_VALID, { SMIME_VERDICT_VALID, SMIME_VERDICT_PARTIAL }, 2, "partial" },
		{ SMIME_VERDICT_VALID, { SMIME_VERDICT_PARTIAL, SMIME_VERDICT_MALFORMED, SMIME_VERDICT_VALID }, 3,
		    "indeterminate" },
		{ SMIME_VERDICT_INVALID, { SMIME_VERDICT_ENCRYPTED }, 1, "indeterminate" },
		{ SMIME_VERDICT_VALID, { SMIME_VERDICT_INDETERMINATE, SMIME_VERDICT_INVALID, SMIME_VERDICT_VALID }, 3,
		    "invalid" },
	};
	struct logdb *l = open_log();
	struct kerr e = KERR_INIT;
	struct logdb_place p = place1;
	struct logdb_place po = { "vanthu", "vanthu@benluc.longan.gov.vn", "Ký số", 9, 3 };
	sqlite3 *db;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smime_report *r = fake_report(cases[i].msg, 0);
		int64_t id = 0;
		char sql[128];

		set_atts(r, cases[i].att, cases[i].n);
		p.uid = (uint32_t)(100 + i);
		ck_assert_msg(logdb_add_incoming(l, &p, msg1, strlen(msg1), r, 3, &id, &e), "%s", e.msg);
		db = ro();
		snprintf(sql, sizeof(sql), "SELECT att_verdict FROM messages WHERE id = %lld", (long long)id);
		is_q(db, sql, cases[i].want);
		snprintf(sql, sizeof(sql), "SELECT verdict FROM messages WHERE id = %lld", (long long)id);
		is_q(db, sql, smime_verdict_code(cases[i].msg));
		sqlite3_close(db);
		smime_report_free(&r);
	}
	/* no report (could not verify): none */
	p.uid = 99;
	ck_assert(logdb_add_incoming(l, &p, msg1, strlen(msg1), NULL, 3, NULL, &e));
	ck_assert(logdb_add_outgoing(l, &po, 41, msg1, strlen(msg1), &e));
	ck_assert(logdb_set_outgoing(l, 41, "sent", "250 ok", &e));
	db = ro();
	is_q(db, "SELECT count(*) FROM messages WHERE uid = 99 AND att_verdict IS NULL", "1");
	is_q(db, "SELECT count(*) FROM messages WHERE direction = 'out' AND att_verdict IS NULL", "1");
	is_q(db, "SELECT count(*) FROM messages WHERE att_verdict IS NOT NULL", "5");
	sqlite3_close(db);
	logdb_close(&l);
}
END_TEST

/* A log made before att_verdict existed (the same schema version 1) opens:
 * the column is added, the old rows keep NULL, new rows get it. */
START_TEST(old_log_gets_column)
{
	static const enum smime_verdict valid[1] = { SMIME_VERDICT_VALID };
	struct logdb *l = open_log();
	struct smime_report *r = fake_report(SMIME_VERDICT_UNSIGNED, 0);
	struct kerr e = KERR_INIT;
	struct logdb_place p = place1;
	sqlite3 *db;

	set_atts(r, valid, 1);
	ck_assert(logdb_add_incoming(l, &p, msg1, strlen(msg1), r, 3, NULL, &e));
	logdb_close(&l);
	/* make it an earlier build's log: no att_verdict column */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, "DROP INDEX messages_att; DROP INDEX messages_att_any;"
	    " ALTER TABLE messages DROP COLUMN att_verdict", NULL, NULL, NULL) == SQLITE_OK,
	    "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	db = ro();
	is_q(db, "SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'att_verdict'", "0");
	is_q(db, "PRAGMA user_version", "1");
	sqlite3_close(db);

	l = open_log();
	p.uid = 6;
	ck_assert_msg(logdb_add_incoming(l, &p, msg1, strlen(msg1), r, 3, NULL, &e), "%s", e.msg);
	db = ro();
	is_q(db, "SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'att_verdict'", "1");
	is_q(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('messages_att', 'messages_att_any')", "2");
	is_q(db, "PRAGMA user_version", "1");
	is_q(db, "SELECT att_verdict FROM messages WHERE uid = 5", NULL);
	is_q(db, "SELECT att_verdict FROM messages WHERE uid = 6", "valid");
	is_q(db, "SELECT verdict FROM messages WHERE uid = 6", "unsigned");
	sqlite3_close(db);
	logdb_close(&l);
	/* and opening again does not add it twice */
	l = open_log();
	logdb_close(&l);
	smime_report_free(&r);
}
END_TEST

START_TEST(outgoing_lifecycle)
{
	struct logdb *l = open_log();
	struct kerr e = KERR_INIT;
	struct logdb_place p = { "vanthu", "vanthu@benluc.longan.gov.vn", "Ký số", 9, 3 };
	sqlite3 *db;

	ck_assert_msg(logdb_add_outgoing(l, &p, 41, msg1, strlen(msg1), &e), "%s", e.msg);
	ck_assert(logdb_add_outgoing(l, &p, 41, msg1, strlen(msg1), &e));   /* idempotent */
	db = ro();
	is_q(db, "SELECT count(*) FROM messages WHERE direction = 'out'", "1");
	is_q(db, "SELECT verdict || '|' || journal_id || '|' || folder FROM messages", "pending|41|Ký số");
	sqlite3_close(db);
	ck_assert(logdb_set_outgoing(l, 41, "sent", "250 2.0.0 Ok: queued as ABC", &e));
	db = ro();
	is_q(db, "SELECT verdict FROM messages", "sent");
	is_q(db, "SELECT json_extract(report, '$.smtp') FROM messages", "250 2.0.0 Ok: queued as ABC");
	is_q(db, "SELECT json_extract(report, '$.verdict') FROM messages", "sent");
	sqlite3_close(db);
	{
		/* a draft (failed before signing) still has its Bcc: logged for 'out' */
		char *draft = malloc(strlen(msg1) + 64);

		sprintf(draft, "Bcc: hidden@x.vn\r\n%s", msg1);
		ck_assert(logdb_add_outgoing(l, &p, 42, draft, strlen(draft), &e));
		free(draft);
	}
	ck_assert(logdb_set_outgoing(l, 42, "failed", "550 5.1.1 no such user", &e));
	db = ro();
	is_q(db, "SELECT verdict || '|' || json_extract(report, '$.detail') FROM messages WHERE journal_id = 42",
	    "failed|550 5.1.1 no such user");
	is_q(db, "SELECT to_addrs FROM messages WHERE journal_id = 42",
	    "vanthu@benluc.longan.gov.vn, ubnd@longan.gov.vn, c1@x.vn, c2@x.vn, hidden@x.vn");
	sqlite3_close(db);
	/* unknown journal id, bad verdict */
	ck_assert(!logdb_set_outgoing(l, 999, "sent", NULL, &e));
	ck_assert_int_eq(e.cls, KERR_PERM);
	kerr_clear(&e);
	ck_assert(!logdb_set_outgoing(l, 41, "valid", NULL, &e));
	ck_assert(kerr_isset(&e));
	logdb_close(&l);
}
END_TEST

START_TEST(account_status)
{
	struct logdb *l = open_log();
	struct kerr e = KERR_INIT;
	sqlite3 *db;

	ck_assert(logdb_account_state(l, "vanthu", "vanthu@x.vn", "connecting", NULL, &e));
	ck_assert(logdb_account_state(l, "vanthu", "vanthu@x.vn", "error", "imap x:993: connection refused", &e));
	ck_assert(logdb_account_state(l, "vanthu", "vanthu@x.vn", "connected", NULL, &e));
	ck_assert(logdb_account_idle(l, "vanthu", 1234, &e));
	ck_assert(logdb_account_backlog(l, "vanthu", 17, &e));
	db = ro();
	is_q(db, "SELECT state || '|' || address || '|' || last_idle || '|' || backlog FROM account_status",
	    "idle|vanthu@x.vn|1234|17");
	is_q(db, "SELECT last_error FROM account_status", "imap x:993: connection refused");
	is_q(db, "SELECT last_error_time > 0 AND since > 0 AND updated > 0 FROM account_status", "1");
	sqlite3_close(db);
	ck_assert(!logdb_account_state(l, "vanthu", "vanthu@x.vn", "dancing", NULL, &e));
	/* idle/backlog for an account never seen before make a row */
	ck_assert(logdb_account_backlog(l, "other", 3, &e));
	db = ro();
	is_q(db, "SELECT count(*) FROM account_status", "2");
	sqlite3_close(db);
	logdb_close(&l);
}
END_TEST

START_TEST(folder_state)
{
	struct logdb *l = open_log();
	struct kerr e = KERR_INIT;
	uint32_t uv = 1, last = 1;
	bool found = true;

	ck_assert(logdb_folder_get(l, "a", "INBOX", &uv, &last, &found, &e));
	ck_assert(!found);
	ck_assert(logdb_folder_set(l, "a", "INBOX", 4000000000u, 12, &e));
	ck_assert(logdb_folder_set(l, "a", "INBOX", 4000000000u, 13, &e));
	ck_assert(logdb_folder_get(l, "a", "INBOX", &uv, &last, &found, &e));
	ck_assert(found);
	ck_assert_uint_eq(uv, 4000000000u);
	ck_assert_uint_eq(last, 13);
	ck_assert(logdb_folder_get(l, "a", "Ký số", &uv, &last, &found, &e));
	ck_assert(!found);
	logdb_close(&l);
}
END_TEST

START_TEST(hostile_verbatim)
{
	static const char subj[] = "\"'<script>alert(1)</script>&amp; <img src=x onerror=alert(2)>";
	struct logdb *l = open_log();
	struct smime_report *r = fake_report(SMIME_VERDICT_UNSIGNED, 0);
	struct kerr e = KERR_INIT;
	struct buf m = BUF_INIT;
	sqlite3 *db;
	char sql[512];

	free(r->attachments[0].name);
	r->attachments[0].name = strdup("a\"b'<svg onload=x>.pdf");
	buf_printf(&m, "From: \"Evil \\\"<b>\\\"\" <e@x.vn>\r\nSubject: %s\r\n\tsecond line\r\n"
	    "Date: not a date\r\nTo: ;;;,,<>\r\n\r\nbody\xff\r\n", subj);
	ck_assert_msg(logdb_add_incoming(l, &place1, m.data, m.len, r, 0, NULL, &e), "%s", e.msg);
	db = ro();
	snprintf(sql, sizeof(sql), "SELECT subject FROM messages");
	{
		char *got = q1(db, sql), want[256];

		snprintf(want, sizeof(want), "%s\tsecond line", subj);
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, want);
		free(got);
	}
	is_q(db, "SELECT from_name FROM messages", "Evil \"<b>\"");
	is_q(db, "SELECT attachments FROM messages", "a\"b'<svg onload=x>.pdf");
	is_q(db, "SELECT date_hdr FROM messages", NULL);
	is_q(db, "SELECT json_valid(report) FROM messages", "1");
	is_q(db, "SELECT json_extract(report, '$.attachments[0].name') FROM messages", "a\"b'<svg onload=x>.pdf");
	sqlite3_close(db);
	buf_release(&m);
	/* not a message at all, and no report */
	{
		struct logdb_place p = place1;

		p.uid = 6;
		ck_assert(logdb_add_incoming(l, &p, "\x01\x02\xff", 3, NULL, 0, NULL, &e));
		p.uid = 7;
		ck_assert(logdb_add_incoming(l, &p, "", 0, NULL, 0, NULL, &e));
	}
	db = ro();
	is_q(db, "SELECT count(*) FROM messages WHERE verdict = 'malformed'", "2");
	sqlite3_close(db);
	smime_report_free(&r);
	logdb_close(&l);
}
END_TEST

/* Every prefix of a message and random byte mutations of it: no crash (ASan
 * in CI), always a row with a valid JSON report and valid UTF-8 text. */
START_TEST(mangled_input)
{
	struct kerr e = KERR_INIT;
	struct logdb *l;
	struct smime_report *r = fake_report(SMIME_VERDICT_VALID, 0);
	static const char extra[] =
	    "From: =?x-unknown?Q?a=FF?= \"q\\\"\" (c (nested)) <>\r\nSubject: =?UTF-8?B?****?= =?UTF-8?Q?=C3?=\r\n"
	    "To: \"unterminated <a@b\r\nCc: ,,,@,<<>>\r\nDate: Mon, 99 Foo 2026 99:99:99 +9999\r\n\r\nx";
	char *m = xstrdup(msg1);
	size_t n = strlen(msg1);
	unsigned seed = 12345;
	char sql[64];
	sqlite3 *db;
	char *cnt;

	snprintf(path, sizeof(path), "%s/mangled.db", dir);
	l = open_log();
	for (size_t i = 0; i <= n + 1000; i++) {
		struct logdb_place p = place1;
		const char *in = msg1;
		size_t len = i;

		p.uid = (uint32_t)i + 1;
		if (i > n && i <= n + sizeof(extra) - 1) {
			in = extra;
			len = i - n;
		} else if (i > n) {
			memcpy(m, msg1, n);
			for (int k = 0; k < 8; k++) {
				seed = seed * 1103515245u + 12345u;
				m[(seed >> 8) % n] = (char)((seed >> 16) & 0xff);
			}
			in = m;
			len = n;
		}
		ck_assert_msg(logdb_add_incoming(l, &p, in, len, (i % 2) ? r : NULL, 0, NULL, &e), "%zu: %s", i, e.msg);
	}
	logdb_close(&l);
	db = ro();
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages");
	cnt = q1(db, sql);
	ck_assert_int_eq(atoi(cnt), (int)(n + 1001));
	free(cnt);
	is_q(db, "SELECT count(*) FROM messages WHERE NOT json_valid(report)", "0");
	{
		/* the text columns and the report hold valid UTF-8 */
		sqlite3_stmt *st;
		int rows = 0;

		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT subject, from_name, from_addr, to_addrs, message_id, report,"
		    " search FROM messages", -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < 7; c++) {
				const unsigned char *t = sqlite3_column_text(st, c);

				ck_assert_msg(t == NULL || utf8_valid(t), "row %d column %d: invalid UTF-8", rows, c);
			}
			rows++;
		}
		sqlite3_finalize(st);
		ck_assert_int_gt(rows, 1000);
	}
	sqlite3_close(db);
	free(m);
	smime_report_free(&r);
}
END_TEST

/* A reader (like the web view) sees committed rows while the writer writes. */
struct wctx {
	struct logdb *l;
	int n;
};

static void *
writer(void *arg)
{
	struct wctx *w = arg;
	struct smime_report *r = fake_report(SMIME_VERDICT_VALID, 0);

	for (int i = 0; i < w->n; i++) {
		struct logdb_place p = place1;
		struct kerr e = KERR_INIT;

		p.uid = (uint32_t)(1000 + i);
		if (!logdb_add_incoming(w->l, &p, msg1, strlen(msg1), r, 1, NULL, &e))
			abort();
	}
	smime_report_free(&r);
	return NULL;
}

START_TEST(wal_reader)
{
	struct wctx w = { open_log(), 200 };
	pthread_t t;
	sqlite3 *db = ro();
	long last = 0, reads = 0;

	ck_assert_int_eq(pthread_create(&t, NULL, writer, &w), 0);
	for (;;) {
		char *c = q1(db, "SELECT count(*) FROM messages");
		long n = c != NULL ? atol(c) : -1;

		free(c);
		ck_assert_int_ge(n, last);      /* never goes back, never fails */
		last = n;
		reads++;
		if (n == w.n)
			break;
		usleep(1000);
	}
	pthread_join(t, NULL);
	ck_assert_int_gt(reads, 1);
	is_q(db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'benluc'", "200");
	sqlite3_close(db);
	logdb_close(&w.l);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("logdb");
	TCase *tc = tcase_create("logdb");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, schema_version);
	tcase_add_test(tc, incoming_row);
	tcase_add_test(tc, fts_folded);
	tcase_add_test(tc, outgoing_lifecycle);
	tcase_add_test(tc, attachment_verdict);
	tcase_add_test(tc, old_log_gets_column);
	tcase_add_test(tc, account_status);
	tcase_add_test(tc, folder_state);
	tcase_add_test(tc, hostile_verbatim);
	tcase_add_test(tc, wal_reader);
	tcase_add_test(tc, mangled_input);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
