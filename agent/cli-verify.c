/* cli-verify.c - kyso verify: check the signatures of messages and
 * documents on files, as a clerk (văn thư) would before accepting them.
 * Text in Vietnamese or English, or JSON (one object per file; an array
 * when several files are given).  docs/VERIFICATION.md explains every
 * verdict and reason. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/cli.h"
#include "agent/fetch.h"
#include "smime/smime.h"

#define MAX_INPUT (256u * 1024 * 1024)
#define MAX_PATHS 64            /* --trust / --intermediates given */

#define RC_VALID 0
#define RC_NEGATIVE 1
#define RC_ERROR 2

static void
verify_usage(FILE *fp)
{
	fputs("usage: kyso verify [--trust F|D]... [--intermediates F|D]... [--crls D]\n"
	    "                   [--at ISO8601|@EPOCH] [--revocation off|prefer|require]\n"
	    "                   [--json] [--lang vi|en] FILE...\n"
	    "Checks the S/MIME signatures of messages (.eml) and documents (a PDF, a .p7m, or a\n"
	    "file with its .p7s beside it: FILE.p7s or FILE-without-extension.p7s).\n"
	    "--at: verify as of that time (UTC unless the time has a zone), e.g. for an archived\n"
	    "message.  Exit status: 0 valid, 1 any other verdict, 2 usage or I/O error.\n"
	    "Kiểm tra chữ ký số của thư và tài liệu; xem docs/VERIFICATION.md.\n", fp);
}

/* --- options --- */

static bool
digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* "@EPOCH", "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][Z|+HH[:]MM|-HH[:]MM]"
 * (a space may replace the T); no zone means UTC. */
static bool
parse_at(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t off = 0;
	size_t n = strlen(s), i;

	if (s[0] == '@') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno != 0 || end == s + 1 || *end != '\0' || v <= 0)
			return false;
		*out = (int64_t)v;
		return true;
	}
	if (n < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d))
		return false;
	i = 10;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		if (n < i + 6 || !digits(s + i + 1, 2, &h) || s[i + 3] != ':' || !digits(s + i + 4, 2, &mi))
			return false;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || !digits(s + i + 1, 2, &sec))
				return false;
			i += 3;
		}
		if (i < n && s[i] == '.')       /* fractions of a second are ignored */
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int oh, om = 0, sign = s[i] == '-' ? -1 : 1;

		if (n < i + 3 || !digits(s + i + 1, 2, &oh))
			return false;
		i += 3;
		if (i < n && s[i] == ':')
			i++;
		if (i < n) {
			if (n < i + 2 || !digits(s + i, 2, &om))
				return false;
			i += 2;
		}
		if (oh > 14 || om > 59)
			return false;
		off = sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
	}
	if (i != n || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) - off;
	return *out > 0;
}

static const char *
default_lang(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v != NULL && v[0] != '\0')
			return strncmp(v, "vi", 2) == 0 ? "vi" : "en";
	}
	return "en";
}

/* --- which files --- */

static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* The .p7s that signs path, if there is one beside it (caller owns). */
static char *
p7s_beside(const char *path)
{
	char *p = xasprintf("%s.p7s", path);
	const char *base = base_name(path), *dot = strrchr(base, '.');

	if (file_exists(p))
		return p;
	free(p);
	if (dot != NULL && dot != base) {
		p = xasprintf("%.*s.p7s", (int)(dot - path), path);
		if (file_exists(p))
			return p;
		free(p);
	}
	return NULL;
}

static bool
looks_like_document(const char *path, const struct buf *b)
{
	size_t i = 0, win = b->len < 1024 ? b->len : 1024;

	if (has_suffix(path, ".pdf") || has_suffix(path, ".p7m") || has_suffix(path, ".p7s"))
		return true;
	for (size_t k = 0; k + 5 <= win; k++)
		if (memcmp(b->data + k, "%PDF-", 5) == 0)
			return true;
	while (i < b->len && (b->data[i] == ' ' || b->data[i] == '\r' || b->data[i] == '\n' || b->data[i] == '\t'))
		i++;
	if (i < b->len && (unsigned char)b->data[i] == 0x30)
		return true;
	return b->len - i >= 16 && (memcmp(b->data + i, "-----BEGIN PKCS7", 16) == 0 ||
	    memcmp(b->data + i, "-----BEGIN CMS", 14) == 0);
}

/* --- output --- */

static void
fmt_utc(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

static void
fmt_local(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

static json_object *
reasons_json(uint32_t reasons)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < SMIME_REASON_COUNT; i++)
		if (reasons & (1u << i))
			json_object_array_add(a, json_object_new_string(smime_reason_code((enum smime_reason)(1u << i))));
	return a;
}

static json_object *
str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static json_object *
report_json(const char *file, const struct smime_report *r)
{
	json_object *o = json_object_new_object(), *sigs = json_object_new_array(), *atts = json_object_new_array();

	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "verdict", json_object_new_string(smime_verdict_code(r->verdict)));
	json_object_object_add(o, "reasons", reasons_json(r->reasons));
	for (size_t i = 0; i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];
		json_object *j = json_object_new_object(), *chain = json_object_new_array();
		char t[40];

		json_object_object_add(j, "where", json_object_new_string(s->where));
		json_object_object_add(j, "kind", json_object_new_string(smime_sig_kind_code(s->kind)));
		json_object_object_add(j, "verdict", json_object_new_string(smime_verdict_code(s->verdict)));
		json_object_object_add(j, "reasons", reasons_json(s->reasons));
		json_object_object_add(j, "covers", json_object_new_string(smime_coverage_code(s->covers)));
		if (s->has_signer) {
			json_object *sg = json_object_new_object(), *em = json_object_new_array();

			json_object_object_add(sg, "subject", str_or_null(s->signer.subject));
			for (size_t k = 0; k < s->signer.n_emails; k++)
				json_object_array_add(em, json_object_new_string(s->signer.emails[k]));
			json_object_object_add(sg, "emails", em);
			json_object_object_add(sg, "issuer", str_or_null(s->signer.issuer));
			json_object_object_add(sg, "serial", str_or_null(s->signer.serial));
			json_object_object_add(sg, "sha256", str_or_null(s->signer.sha256));
			json_object_object_add(j, "signer", sg);
		} else {
			json_object_object_add(j, "signer", NULL);
		}
		if (s->signing_time != 0) {
			fmt_utc(s->signing_time, t, sizeof(t));
			json_object_object_add(j, "signing_time", json_object_new_string(t));
		} else {
			json_object_object_add(j, "signing_time", NULL);
		}
		for (size_t k = 0; k < s->n_chain; k++)
			json_object_array_add(chain, json_object_new_string(s->chain[k]));
		json_object_object_add(j, "chain", chain);
		/* beyond the shape: */
		json_object_object_add(j, "file", str_or_null(s->file));
		json_object_object_add(j, "digest_alg", str_or_null(s->digest_alg));
		json_object_object_add(j, "revocation", str_or_null(s->revocation));
		json_object_object_add(j, "detail", str_or_null(s->detail));
		json_object_array_add(sigs, j);
	}
	json_object_object_add(o, "signatures", sigs);
	json_object_object_add(o, "from", str_or_null(r->from));
	json_object_object_add(o, "detail", str_or_null(r->detail));
	for (size_t i = 0; i < r->n_attachments; i++) {
		const struct smime_attachment *a = &r->attachments[i];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "name", str_or_null(a->name));
		json_object_object_add(j, "content_type", str_or_null(a->content_type));
		json_object_object_add(j, "size", json_object_new_int64((int64_t)a->size));
		json_object_object_add(j, "sha256", a->sha256[0] != '\0' ? json_object_new_string(a->sha256) : NULL);
		json_object_object_add(j, "verdict", json_object_new_string(smime_verdict_code(a->verdict)));
		json_object_array_add(atts, j);
	}
	json_object_object_add(o, "attachments", atts);
	return o;
}

struct words {
	const char *from, *sig, *signer, *emails, *issuer, *serial, *fpr, *signed_at, *chain, *revocation,
	    *note, *reasons, *attachments, *no_sigs, *covers[3], *error;
};

static const struct words words_vi = {
	"Người gửi", "Chữ ký", "Người ký", "Thư điện tử", "Cấp bởi", "Số hiệu", "SHA-256",
	"Thời điểm ký", "Chuỗi chứng thư", "Kiểm tra thu hồi", "Ghi chú", "Lý do", "Tệp đính kèm",
	"Không tìm thấy chữ ký số nào.",
	{ "toàn bộ", "một phần của thư", "một phần tệp (tệp có thay đổi sau chữ ký này)" }, "Lỗi",
};
static const struct words words_en = {
	"Sender", "Signature", "Signer", "E-mail", "Issued by", "Serial", "SHA-256",
	"Signed at", "Chain", "Revocation", "Note", "Reasons", "Attachments",
	"No digital signature was found.",
	{ "all of it", "one part of the message", "part of the file (the file changed after this signature)" },
	"Error",
};

/* "attachment QD-12.pdf, signature 2" in Vietnamese. */
static void
print_where(const char *where, bool vi)
{
	static const struct { const char *en, *vi; } w[] = {
		{ "attachment ", "tệp đính kèm " }, { "message", "thư" }, { "part ", "phần " },
		{ "document", "tài liệu" }, { "signature ", "chữ ký " }, { "timestamp ", "dấu thời gian " },
	};
	const char *p = where;

	if (!vi) {
		fputs(where, stdout);
		return;
	}
	while (*p != '\0') {
		bool done = false;

		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]) && !done; i++) {
			size_t n = strlen(w[i].en);

			if ((p == where || p[-1] == ' ') && strncmp(p, w[i].en, n) == 0) {
				fputs(w[i].vi, stdout);
				p += n;
				done = true;
			}
		}
		if (!done)
			fputc(*p++, stdout);
	}
}

static void
print_reasons(uint32_t reasons, const char *lang, const char *indent)
{
	for (int i = 0; i < SMIME_REASON_COUNT; i++)
		if (reasons & (1u << i))
			printf("%s- %s (%s)\n", indent, smime_reason_text((enum smime_reason)(1u << i), lang),
			    smime_reason_code((enum smime_reason)(1u << i)));
}

static void
report_text(const char *file, const struct smime_report *r, const char *lang)
{
	bool vi = strcmp(lang, "vi") == 0;
	const struct words *w = vi ? &words_vi : &words_en;
	char t[64];

	printf("%s: %s\n", file, smime_verdict_text(r->verdict, lang));
	if (r->reasons != 0) {
		printf("  %s:\n", w->reasons);
		print_reasons(r->reasons, lang, "    ");
	}
	if (r->detail != NULL)
		printf("  %s: %s\n", w->note, r->detail);
	if (r->from != NULL)
		printf("  %s: %s\n", w->from, r->from);
	if (r->n_sigs == 0 && (r->verdict == SMIME_VERDICT_UNSIGNED))
		printf("  %s\n", w->no_sigs);
	for (size_t i = 0; i < r->n_sigs; i++) {
		const struct smime_sig *s = &r->sigs[i];

		printf("  %s %zu — ", w->sig, i + 1);
		print_where(s->where, vi);
		printf(" (%s; %s): %s\n", smime_sig_kind_code(s->kind), w->covers[s->covers],
		    smime_verdict_text(s->verdict, lang));
		if (s->has_signer) {
			printf("    %s: %s\n", w->signer, s->signer.subject);
			for (size_t k = 0; k < s->signer.n_emails; k++)
				printf("    %s: %s\n", w->emails, s->signer.emails[k]);
			printf("    %s: %s\n", w->issuer, s->signer.issuer);
			printf("    %s: %s   %s: %s\n", w->serial, s->signer.serial, w->fpr, s->signer.sha256);
		}
		if (s->signing_time != 0) {
			fmt_local(s->signing_time, t, sizeof(t));
			printf("    %s: %s\n", w->signed_at, t);
		}
		if (s->n_chain > 0) {
			printf("    %s:", w->chain);
			for (size_t k = 0; k < s->n_chain; k++)
				printf("%s %s", k == 0 ? "" : " ←", s->chain[k]);
			printf("\n");
		}
		if (s->revocation != NULL)
			printf("    %s: %s\n", w->revocation, s->revocation);
		if (s->reasons != 0)
			print_reasons(s->reasons, lang, "    ");
		if (s->detail != NULL)
			printf("    %s: %s\n", w->note, s->detail);
	}
	if (r->n_attachments > 0) {
		printf("  %s:\n", w->attachments);
		for (size_t i = 0; i < r->n_attachments; i++) {
			const struct smime_attachment *a = &r->attachments[i];

			printf("    %s (%s): %s\n", a->name != NULL ? a->name : "-", a->content_type,
			    smime_verdict_text(a->verdict, lang));
		}
	}
}

/* --- one file --- */

static struct smime_report *
verify_file(const char *path, const struct smime_verify_opts *o, struct kerr *err)
{
	struct buf data = BUF_INIT, sig = BUF_INIT;
	struct smime_report *r = NULL;
	char *p7s = NULL, *target = NULL;
	const char *name = path;

	if (path != NULL && strcmp(path, "-") != 0 && has_suffix(path, ".p7s")) {
		/* the signature itself was named: check the file it signs */
		target = xstrndup(path, strlen(path) - 4);
		if (file_exists(target)) {
			p7s = xstrdup(path);
			name = target;
		}
	} else if (path != NULL && strcmp(path, "-") != 0 && !has_suffix(path, ".p7m")) {
		p7s = p7s_beside(path);
	}
	if (!cli_read_all(name, MAX_INPUT, &data, err))
		goto out;
	if (p7s != NULL && !cli_read_all(p7s, MAX_INPUT, &sig, err))
		goto out;
	if (p7s != NULL || (strcmp(name, "-") != 0 && looks_like_document(name, &data)))
		r = smime_verify_document(base_name(name), data.data != NULL ? data.data : "", data.len,
		    p7s != NULL ? (sig.data != NULL ? sig.data : "") : NULL, sig.len, o, err);
	else
		r = smime_verify_message(data.data != NULL ? data.data : "", data.len, o, err);
out:
	buf_release(&data);
	buf_release(&sig);
	free(p7s);
	free(target);
	return r;
}

int
cli_verify(int argc, char **argv)
{
	enum { O_TRUST = 256, O_INTER, O_CRLS, O_AT, O_REV, O_JSON, O_LANG };
	static const struct option opts[] = {
		{ "trust", required_argument, NULL, O_TRUST },
		{ "intermediates", required_argument, NULL, O_INTER },
		{ "crls", required_argument, NULL, O_CRLS },
		{ "at", required_argument, NULL, O_AT },
		{ "revocation", required_argument, NULL, O_REV },
		{ "json", no_argument, NULL, O_JSON },
		{ "lang", required_argument, NULL, O_LANG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trust[MAX_PATHS], *inter[MAX_PATHS], *crls = NULL, *lang = default_lang();
	size_t ntrust = 0, ninter = 0;
	struct smime_verify_opts vo = SMIME_VERIFY_OPTS_INIT;
	struct fetch_opts fo = FETCH_OPTS_INIT;
	struct smime_fetcher fetcher;
	struct smime_trust *t = NULL;
	struct kerr err = KERR_INIT;
	json_object *all = NULL;
	bool json = false;
	int ch, rc = RC_VALID;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case O_TRUST:
		case O_INTER:
			if ((ch == O_TRUST ? ntrust : ninter) == MAX_PATHS) {
				fprintf(stderr, "kyso verify: at most %d --trust and --intermediates each\n", MAX_PATHS);
				return RC_ERROR;
			}
			if (ch == O_TRUST)
				trust[ntrust++] = optarg;
			else
				inter[ninter++] = optarg;
			break;
		case O_CRLS: crls = optarg; break;
		case O_JSON: json = true; break;
		case O_AT:
			if (!parse_at(optarg, &vo.at)) {
				fprintf(stderr, "kyso verify: --at wants an ISO 8601 time (2026-06-01T00:00:00Z) or @EPOCH, "
				    "not '%s'\n", optarg);
				return RC_ERROR;
			}
			break;
		case O_REV:
			if (strcmp(optarg, "off") == 0)
				vo.revocation = SMIME_REVOCATION_OFF;
			else if (strcmp(optarg, "prefer") == 0)
				vo.revocation = SMIME_REVOCATION_PREFER;
			else if (strcmp(optarg, "require") == 0)
				vo.revocation = SMIME_REVOCATION_REQUIRE;
			else {
				fprintf(stderr, "kyso verify: --revocation must be off, prefer or require\n");
				return RC_ERROR;
			}
			break;
		case O_LANG:
			if (strcmp(optarg, "vi") != 0 && strcmp(optarg, "en") != 0) {
				fprintf(stderr, "kyso verify: --lang must be vi or en\n");
				return RC_ERROR;
			}
			lang = optarg;
			break;
		case 'h':
			verify_usage(stdout);
			return RC_VALID;
		default:
			verify_usage(stderr);
			return RC_ERROR;
		}
	}
	if (optind >= argc) {
		verify_usage(stderr);
		return RC_ERROR;
	}
	t = smime_trust_new(ntrust > 0 ? trust[0] : NULL, ninter > 0 ? inter[0] : NULL, crls, &err);
	for (size_t i = 1; t != NULL && (i < ntrust || i < ninter); i++) {
		if (!smime_trust_add(t, i < ntrust ? trust[i] : NULL, i < ninter ? inter[i] : NULL, &err))
			smime_trust_free(&t);
	}
	if (t == NULL) {
		fprintf(stderr, "kyso verify: %s\n", err.msg);
		return RC_ERROR;
	}
	vo.trust = t;
	if (vo.revocation != SMIME_REVOCATION_OFF) {
		fetcher = fetch_http_fetcher(&fo);
		vo.fetcher = &fetcher;
	}
	if (json && argc - optind > 1)
		all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		struct smime_report *r;

		kerr_clear(&err);
		r = verify_file(argv[i], &vo, &err);
		if (r == NULL) {
			if (json) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "file", json_object_new_string(argv[i]));
				json_object_object_add(o, "error", json_object_new_string(err.msg));
				if (all != NULL)
					json_object_array_add(all, o);
				else {
					puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
					json_object_put(o);
				}
			}
			fprintf(stderr, "kyso verify: %s\n", err.msg);
			rc = RC_ERROR;
			continue;
		}
		if (r->verdict != SMIME_VERDICT_VALID && rc == RC_VALID)
			rc = RC_NEGATIVE;
		if (json) {
			json_object *o = report_json(argv[i], r);

			if (all != NULL) {
				json_object_array_add(all, o);
			} else {
				puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
				json_object_put(o);
			}
		} else {
			if (i > optind)
				putchar('\n');
			report_text(argv[i], r, lang);
		}
		smime_report_free(&r);
	}
	if (all != NULL) {
		puts(json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(all);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "kyso verify: stdout: %s\n", strerror(errno));
		rc = RC_ERROR;
	}
	smime_trust_free(&t);
	return rc;
}
