/* imapc.c - IMAP client on libetpan over agent/tls.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "agent/clock.h"
#include "agent/imapc.h"
#include "agent/log.h"

struct imapc {
	mailimap *imap;          /* owned; owns the stream over conn */
	struct tls_conn *conn;   /* owned; outlives imap's stream */
	char where[300];         /* "imap host:port" */
	bool dead;               /* the connection broke: every call fails */
	bool delim_known;        /* delim below was asked (LIST "" "") */
	char delim;              /* the server's hierarchy delimiter, '\0' when flat */
};

/* ------------------------------------------------------------------ */
/* Errors */

static const char *
resp_text(const struct imapc *im)
{
	const char *t = im->imap != NULL ? im->imap->imap_response : NULL;

	return t != NULL && *t != '\0' ? t : "(no text)";
}

/* The response code of the last tagged answer ("AUTHENTICATIONFAILED"), or NULL. */
static const char *
resp_code(const struct imapc *im)
{
	if (im->imap == NULL || im->imap->imap_response_info == NULL)
		return NULL;
	return im->imap->imap_response_info->rsp_atom;
}

static bool
resp_code_is(const struct imapc *im, const char *code)
{
	const char *c = resp_code(im);

	return c != NULL && strcasecmp(c, code) == 0;
}

/* The server's last tagged answer as "[CODE] text". */
static void
resp_describe(const struct imapc *im, char *dst, size_t n)
{
	const char *code = resp_code(im);

	if (im->imap != NULL && im->imap->imap_response_info != NULL &&
	    im->imap->imap_response_info->rsp_trycreate)
		code = "TRYCREATE";
	if (code != NULL)
		snprintf(dst, n, "[%s] %s", code, resp_text(im));
	else
		snprintf(dst, n, "%s", resp_text(im));
}

/* Turn libetpan's result r of doing `what` into err.  no_cls is the class of
 * a NO answer (the server refused); a temporary NO ([UNAVAILABLE], [INUSE],
 * [SERVERBUG], [OVERQUOTA]... ) is KERR_TEMP whatever no_cls says. */
static void
imap_fail(struct imapc *im, int r, const char *what, enum kerr_class no_cls, struct kerr *err)
{
	struct kerr io = KERR_INIT;
	char text[400];

	if (tls_conn_io_error(im->conn, &io)) {
		im->dead = true;
		kerr_set(err, KERR_TEMP, "%s: %s: %s", im->where, what, io.msg);
		return;
	}
	resp_describe(im, text, sizeof(text));
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		im->dead = true;
		kerr_set(err, KERR_TEMP, "%s: %s: connection lost", im->where, what);
		return;
	case MAILIMAP_ERROR_PARSE:
		im->dead = true;
		kerr_set(err, KERR_TEMP, "%s: %s: cannot parse the server's answer", im->where, what);
		return;
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		im->dead = true;
		kerr_set(err, KERR_TEMP, "%s: %s: the server closed the session: %s", im->where, what, text);
		return;
	case MAILIMAP_ERROR_PROTOCOL:
		kerr_set(err, KERR_INTERNAL, "%s: %s: the server answered BAD: %s", im->where, what, text);
		return;
	case MAILIMAP_ERROR_BAD_STATE:
		kerr_set(err, KERR_INTERNAL, "%s: %s: command not allowed in this session state",
		    im->where, what);
		return;
	case MAILIMAP_ERROR_MEMORY:
		kerr_set(err, KERR_INTERNAL, "%s: %s: out of memory in libetpan", im->where, what);
		return;
	default:
		break;
	}
	if (resp_code_is(im, "UNAVAILABLE") || resp_code_is(im, "INUSE") ||
	    resp_code_is(im, "SERVERBUG") || resp_code_is(im, "OVERQUOTA") ||
	    resp_code_is(im, "LIMIT"))
		no_cls = KERR_TEMP;
	kerr_set(err, no_cls, "%s: %s: the server answered NO: %s", im->where, what, text);
}

/* Common start of every command: a dead session fails at once. */
static bool
imap_ready(struct imapc *im, const char *what, struct kerr *err)
{
	if (im->dead || im->imap == NULL || im->imap->imap_stream == NULL) {
		kerr_set(err, KERR_TEMP, "%s: %s: not connected (the connection was lost earlier)",
		    im->where, what);
		return false;
	}
	tls_conn_clear_io_error(im->conn);
	return true;
}

/* Bytes libetpan would alter on the wire (it turns bare CR or LF into CRLF)
 * or that IMAP cannot carry (NUL).  Returns false with a reason. */
static bool
message_is_exact(const char *msg, size_t len, char *why, size_t n)
{
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\0') {
			snprintf(why, n, "NUL byte at offset %zu", i);
			return false;
		}
		if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n')) {
			snprintf(why, n, "bare CR at offset %zu", i);
			return false;
		}
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r')) {
			snprintf(why, n, "bare LF at offset %zu", i);
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Connect */

static bool
refresh_capabilities(struct imapc *im, struct kerr *err)
{
	struct mailimap_capability_data *cap = NULL;
	int r = mailimap_capability(im->imap, &cap);

	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "CAPABILITY", KERR_TEMP, err);
		return false;
	}
	mailimap_capability_data_free(cap);  /* the session keeps its own copy */
	return true;
}

static bool
have_capabilities(const struct imapc *im)
{
	return im->imap->imap_connection_info != NULL &&
	    im->imap->imap_connection_info->imap_capability != NULL;
}

static bool
start_tls(struct imapc *im, struct kerr *err)
{
	int r;

	if (!have_capabilities(im) && !refresh_capabilities(im, err))
		return false;
	if (!mailimap_has_extension(im->imap, "STARTTLS")) {
		kerr_set(err, KERR_CONFIG, "%s: the server does not offer STARTTLS; kyso never logs in "
		    "without TLS (use imaps:// or enable STARTTLS on the server)", im->where);
		return false;
	}
	r = mailimap_starttls(im->imap);
	/* libetpan >= 1.9.4 itself refuses bytes that follow the go-ahead
	 * (CVE-2020-15953); say so plainly rather than "STARTTLS failed". */
	if (r != MAILIMAP_NO_ERROR && !tls_stream_check_clean(im->imap->imap_stream, err)) {
		kerr_prefix(err, "imap ");
		im->dead = true;
		return false;
	}
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "STARTTLS", KERR_CONFIG, err);
		return false;
	}
	if (!tls_stream_starttls(im->imap->imap_stream, err)) {
		kerr_prefix(err, "imap ");
		im->dead = true;
		return false;
	}
	/* What the server said before TLS may have been forged: ask again. */
	if (im->imap->imap_connection_info != NULL &&
	    im->imap->imap_connection_info->imap_capability != NULL) {
		mailimap_capability_data_free(im->imap->imap_connection_info->imap_capability);
		im->imap->imap_connection_info->imap_capability = NULL;
	}
	return refresh_capabilities(im, err);
}

struct imapc *
imapc_connect(const struct conf_endpoint *ep, const struct tls_opts *tls, struct kerr *err)
{
	struct imapc *im = xcalloc(1, sizeof(*im));
	int r;

	snprintf(im->where, sizeof(im->where), "imap %s:%u", ep->host, (unsigned)ep->port);
	im->conn = tls_conn_connect(ep->host, ep->port, tls, err);
	if (im->conn == NULL) {
		kerr_prefix(err, "imap ");
		goto fail;
	}
	if (ep->tls == CONF_TLS_IMPLICIT && !tls_conn_handshake(im->conn, err)) {
		kerr_prefix(err, "imap ");
		goto fail;
	}
	im->imap = mailimap_new(0, NULL);
	if (im->imap == NULL) {
		fprintf(stderr, "kyso: out of memory creating an IMAP session\n");
		abort();
	}
	r = mailimap_connect(im->imap, tls_conn_stream_new(im->conn));
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		imap_fail(im, r, "greeting", KERR_TEMP, err);
		goto fail;
	}
	if (ep->tls == CONF_TLS_STARTTLS) {
		if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
			kerr_set(err, KERR_CONFIG, "%s: the server greeted with PREAUTH, so STARTTLS is "
			    "impossible; kyso never works without TLS", im->where);
			goto fail;
		}
		if (!start_tls(im, err))
			goto fail;
	} else if (!have_capabilities(im) && !refresh_capabilities(im, err)) {
		goto fail;
	}
	log_debug("imap host=%s:%u result=connected tls=\"%s\"", ep->host, (unsigned)ep->port,
	    tls_conn_describe(im->conn));
	return im;
fail:
	imapc_free(&im);
	return NULL;
}

bool
imapc_has_capability(struct imapc *im, const char *name)
{
	return im->imap != NULL && have_capabilities(im) &&
	    mailimap_has_extension(im->imap, name) != 0;
}

/* ------------------------------------------------------------------ */
/* Folder names: UTF-8 with '/' between levels in the API; modified UTF-7
 * with the server's own delimiter on the wire. */

/* Ask the server's hierarchy delimiter (LIST "" ""), once per session. */
static bool
learn_delimiter(struct imapc *im, struct kerr *err)
{
	clist *result = NULL;
	int r;

	if (im->delim_known)
		return true;
	if (!imap_ready(im, "LIST \"\" \"\"", err))
		return false;
	r = mailimap_list(im->imap, "", "", &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "LIST \"\" \"\" (the hierarchy delimiter)", KERR_TEMP, err);
		return false;
	}
	im->delim = '\0';
	if (result != NULL && clist_begin(result) != NULL) {
		const struct mailimap_mailbox_list *mb = clist_content(clist_begin(result));

		im->delim = mb->mb_delimiter;
	}
	im->delim_known = true;
	if (result != NULL)
		mailimap_list_result_free(result);
	return true;
}

/* folder (API form) as sent on the wire; caller frees.  NULL with err when
 * the name is not valid UTF-8 or empty (KERR_CONFIG) or the delimiter could
 * not be asked. */
static char *
folder_wire(struct imapc *im, const char *folder, const char *what, struct kerr *err)
{
	char *wire = *folder != '\0' ? imapc_mutf7_encode(folder) : NULL;

	if (wire == NULL) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the folder name is %s", im->where, what,
		    *folder == '\0' ? "empty" : "not valid UTF-8");
		return NULL;
	}
	/* '/' is written as itself in modified UTF-7 and is no base64 digit there. */
	if (strchr(wire, '/') == NULL)
		return wire;
	if (!learn_delimiter(im, err)) {
		free(wire);
		return NULL;
	}
	if (im->delim != '\0' && im->delim != '/')
		for (char *p = wire; *p != '\0'; p++)
			if (*p == '/')
				*p = im->delim;
	return wire;
}

/* ------------------------------------------------------------------ */
/* Commands */

bool
imapc_login(struct imapc *im, const char *user, const char *password, struct kerr *err)
{
	char what[300];
	int r;

	snprintf(what, sizeof(what), "login as %s", user);
	if (!imap_ready(im, what, err))
		return false;
	if (!tls_conn_is_tls(im->conn)) {
		kerr_set(err, KERR_INTERNAL, "%s: %s: refusing to send a password without TLS",
		    im->where, what);
		return false;
	}
	if (im->imap->imap_state == MAILIMAP_STATE_AUTHENTICATED)
		return true;  /* PREAUTH on an implicit-TLS connection */
	if (imapc_has_capability(im, "LOGINDISABLED")) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the server refuses LOGIN (LOGINDISABLED)",
		    im->where, what);
		return false;
	}
	r = mailimap_login(im->imap, user, password);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_CONFIG, err);
		return false;
	}
	/* Servers may announce more after login; the OK usually carries them. */
	if (!have_capabilities(im) && !refresh_capabilities(im, err))
		return false;
	return true;
}

bool
imapc_select(struct imapc *im, const char *folder, bool readonly, struct imapc_mailbox *mb_r,
    struct kerr *err)
{
	char what[300];
	char *wire = NULL;
	struct mailimap_selection_info *sel;
	bool ok = false;
	int r;

	snprintf(what, sizeof(what), "%s \"%s\"", readonly ? "EXAMINE" : "SELECT", folder);
	if (!imap_ready(im, what, err) || (wire = folder_wire(im, folder, what, err)) == NULL)
		goto out;
	r = readonly ? mailimap_examine(im->imap, wire) : mailimap_select(im->imap, wire);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_CONFIG, err);
		goto out;
	}
	sel = im->imap->imap_selection_info;
	if (sel == NULL || sel->sel_uidvalidity == 0) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the server reported no UIDVALIDITY", im->where, what);
		goto out;
	}
	memset(mb_r, 0, sizeof(*mb_r));
	mb_r->uidvalidity = sel->sel_uidvalidity;
	mb_r->uidnext = sel->sel_uidnext;
	mb_r->exists = sel->sel_exists;
	mb_r->readonly = readonly || sel->sel_perm == MAILIMAP_MAILBOX_READONLY;
	ok = true;
out:
	free(wire);
	return ok;
}

void
imapc_uids_release(struct imapc_uids *u)
{
	free(u->uids);
	u->uids = NULL;
	u->n = 0;
}

static int
cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

bool
imapc_search(struct imapc *im, const struct imapc_query *q, struct imapc_uids *uids_r,
    struct kerr *err)
{
	struct mailimap_search_key *key = mailimap_search_key_new_multiple_empty();
	clist *result = NULL;
	const char *charset = NULL;
	bool ok = false;
	size_t n = 0;
	int r;

	imapc_uids_release(uids_r);
	if (key == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: UID SEARCH: out of memory", im->where);
		goto out;
	}
	if (!imap_ready(im, "UID SEARCH", err))
		goto out;
	if (q->uid_min != 0)  /* "n:*"; libetpan writes 0 as "*" */
		mailimap_search_key_multiple_add(key,
		    mailimap_search_key_new_uid(mailimap_set_new_interval(q->uid_min, 0)));
	if (q->header != NULL) {
		const char *v = q->value != NULL ? q->value : "";

		mailimap_search_key_multiple_add(key,
		    mailimap_search_key_new_header(xstrdup(q->header), xstrdup(v)));
		if (!is_ascii(v) || !is_ascii(q->header))
			charset = "UTF-8";
	}
	if (q->uid_min == 0 && q->header == NULL)
		mailimap_search_key_multiple_add(key, mailimap_search_key_new_all());

	r = mailimap_uid_search(im->imap, charset, key, &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "UID SEARCH", KERR_TEMP, err);
		goto out;
	}
	uids_r->uids = xreallocarray(NULL, result != NULL ? (size_t)clist_count(result) : 0,
	    sizeof(uint32_t));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);

		/* "n:*" always matches the last message, even when its UID is < n. */
		if (uid >= q->uid_min && uid != 0)
			uids_r->uids[n++] = uid;
	}
	qsort(uids_r->uids, n, sizeof(uint32_t), cmp_uid);
	uids_r->n = 0;
	for (size_t i = 0; i < n; i++)
		if (uids_r->n == 0 || uids_r->uids[uids_r->n - 1] != uids_r->uids[i])
			uids_r->uids[uids_r->n++] = uids_r->uids[i];
	ok = true;
out:
	if (result != NULL)
		mailimap_search_result_free(result);
	if (key != NULL)
		mailimap_search_key_free(key);
	if (!ok)
		imapc_uids_release(uids_r);
	return ok;
}

/* In one FETCH answer, the UID and BODY[] items. */
static void
scan_msg_att(const struct mailimap_msg_att *att, uint32_t *uid_r,
    const struct mailimap_msg_att_body_section **body_r)
{
	*uid_r = 0;
	*body_r = NULL;
	for (clistiter *it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || item->att_data.att_static == NULL)
			continue;
		st = item->att_data.att_static;
		if (st->att_type == MAILIMAP_MSG_ATT_UID)
			*uid_r = st->att_data.att_uid;
		else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION)
			*body_r = st->att_data.att_body_section;
	}
}

bool
imapc_fetch_uid(struct imapc *im, uint32_t uid, struct buf *msg_r, struct kerr *err)
{
	char what[64];
	struct mailimap_set *set = mailimap_set_new_single(uid);
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *result = NULL;
	bool ok = false;
	int r;

	snprintf(what, sizeof(what), "UID FETCH %u", (unsigned)uid);
	if (set == NULL || ft == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: %s: out of memory", im->where, what);
		goto out;
	}
	if (!imap_ready(im, what, err))
		goto out;
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
	r = mailimap_uid_fetch(im->imap, set, ft, &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_PERM, err);
		goto out;
	}
	/* The answer may also hold unsolicited FETCHes (flag changes) of other messages. */
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		const struct mailimap_msg_att_body_section *body;
		uint32_t got;

		scan_msg_att(clist_content(it), &got, &body);
		if (got == uid && body != NULL && body->sec_body_part != NULL) {
			buf_append(msg_r, body->sec_body_part, body->sec_length);
			ok = true;
			goto out;
		}
	}
	kerr_set(err, KERR_PERM, "%s: %s: no such message in the selected folder (deleted?)",
	    im->where, what);
out:
	if (result != NULL)
		mailimap_fetch_list_free(result);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	if (set != NULL)
		mailimap_set_free(set);
	return ok;
}

/* A keyword is an IMAP atom without '\\' (RFC 3501 flag-keyword). */
static bool
is_keyword(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= 0x20 || ch >= 0x7f || strchr("()[]{%*\"\\", ch) != NULL)
			return false;
	}
	return true;
}

static struct mailimap_flag *
make_flag(const char *f)
{
	static const struct {
		const char *name;
		struct mailimap_flag *(*make)(void);
	} sys[] = {
		{ "\\Seen", mailimap_flag_new_seen },
		{ "\\Answered", mailimap_flag_new_answered },
		{ "\\Flagged", mailimap_flag_new_flagged },
		{ "\\Deleted", mailimap_flag_new_deleted },
		{ "\\Draft", mailimap_flag_new_draft },
	};

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (strcasecmp(f, sys[i].name) == 0)
			return sys[i].make();
	if (f[0] == '\\')
		return NULL;  /* \Recent cannot be set; other system flags do not exist */
	return is_keyword(f) ? mailimap_flag_new_flag_keyword(xstrdup(f)) : NULL;
}

/* The caller's flags as a libetpan list (caller frees), or NULL with err
 * (KERR_PERM) when one is not a system flag or a keyword atom: nothing that
 * could smuggle protocol onto the wire is ever sent. */
static struct mailimap_flag_list *
make_flag_list(struct imapc *im, const char *what, const char *const *flags, size_t n_flags,
    struct kerr *err)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();

	if (fl == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP flag list\n");
		abort();
	}
	for (size_t i = 0; i < n_flags; i++) {
		struct mailimap_flag *f = flags[i] != NULL ? make_flag(flags[i]) : NULL;

		if (f == NULL) {
			/* The flag may hold anything: show it escaped, never raw. */
			char shown[80];
			size_t k = 0;

			for (const char *p = flags[i] != NULL ? flags[i] : "(null)";
			    *p != '\0' && k + 5 < sizeof(shown); p++) {
				unsigned char ch = (unsigned char)*p;

				if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
					k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02x", ch);
				else
					shown[k++] = (char)ch;
			}
			shown[k] = '\0';
			kerr_set(err, KERR_PERM, "%s: %s: invalid flag \"%s\" (a system flag such as "
			    "\\Seen, or a keyword without spaces or ()[]{%%*\"\\)", im->where, what, shown);
			mailimap_flag_list_free(fl);
			return NULL;
		}
		mailimap_flag_list_add(fl, f);
	}
	return fl;
}

bool
imapc_append(struct imapc *im, const char *folder, const char *const *flags, size_t n_flags,
    const char *msg, size_t len, uint32_t *uid_r, struct kerr *err)
{
	char what[300], why[64];
	char *wire = NULL;
	struct mailimap_flag_list *fl = NULL;
	uint32_t uidvalidity = 0, uid = 0;
	bool ok = false;
	int r;

	if (uid_r != NULL)
		*uid_r = 0;
	snprintf(what, sizeof(what), "APPEND to \"%s\"", folder);
	if (!message_is_exact(msg, len, why, sizeof(why))) {
		kerr_set(err, KERR_PERM, "%s: %s: the message cannot be stored unchanged: %s",
		    im->where, what, why);
		goto out;
	}
	if (n_flags > 0 && (fl = make_flag_list(im, what, flags, n_flags, err)) == NULL)
		goto out;
	if (!imap_ready(im, what, err) || (wire = folder_wire(im, folder, what, err)) == NULL)
		goto out;
	if (imapc_has_capability(im, "UIDPLUS"))
		r = mailimap_uidplus_append(im->imap, wire, fl, NULL, msg, len, &uidvalidity, &uid);
	else
		r = mailimap_append(im->imap, wire, fl, NULL, msg, len);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, im->imap->imap_response_info != NULL &&
		    im->imap->imap_response_info->rsp_trycreate ? KERR_CONFIG : KERR_PERM, err);
		goto out;
	}
	if (uid_r != NULL)
		*uid_r = uid;
	ok = true;
out:
	if (fl != NULL)
		mailimap_flag_list_free(fl);
	free(wire);
	return ok;
}

/* ------------------------------------------------------------------ */
/* LIST */

void
imapc_folders_release(struct imapc_folders *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i].name);
	free(fs->f);
	fs->f = NULL;
	fs->n = 0;
}

static unsigned
special_use_bit(const char *flag)
{
	static const struct {
		const char *name;
		unsigned bit;
	} uses[] = {
		{ "All", IMAPC_USE_ALL }, { "Archive", IMAPC_USE_ARCHIVE },
		{ "Drafts", IMAPC_USE_DRAFTS }, { "Flagged", IMAPC_USE_FLAGGED },
		{ "Junk", IMAPC_USE_JUNK }, { "Sent", IMAPC_USE_SENT },
		{ "Trash", IMAPC_USE_TRASH },
	};

	if (flag[0] == '\\')
		flag++;
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (strcasecmp(flag, uses[i].name) == 0)
			return uses[i].bit;
	return IMAPC_USE_NONE;
}

static void
fill_folder(struct imapc_folder *f, const struct mailimap_mailbox_list *mb)
{
	char *utf8 = imapc_mutf7_decode(mb->mb_name);

	f->name = utf8 != NULL ? utf8 : xstrdup(mb->mb_name);
	f->delimiter = mb->mb_delimiter;
	if (f->delimiter != '\0' && f->delimiter != '/')   /* the API's levels are '/' */
		for (char *p = f->name; *p != '\0'; p++)
			if (*p == f->delimiter)
				*p = '/';
	f->noselect = false;
	f->special_use = IMAPC_USE_NONE;
	if (mb->mb_flag == NULL)
		return;
	if (mb->mb_flag->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    mb->mb_flag->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		f->noselect = true;
	for (clistiter *it = mb->mb_flag->mbf_oflags != NULL ? clist_begin(mb->mb_flag->mbf_oflags)
	    : NULL; it != NULL; it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *of = clist_content(it);

		if (of->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT || of->of_flag_ext == NULL)
			continue;
		if (strcasecmp(of->of_flag_ext, "NonExistent") == 0 ||
		    strcasecmp(of->of_flag_ext, "\\NonExistent") == 0)
			f->noselect = true;
		f->special_use |= special_use_bit(of->of_flag_ext);
	}
}

bool
imapc_list(struct imapc *im, struct imapc_folders *folders_r, struct kerr *err)
{
	clist *result = NULL;
	bool ok = false;
	int r;

	imapc_folders_release(folders_r);
	if (!imap_ready(im, "LIST", err))
		goto out;
	r = mailimap_list(im->imap, "", "*", &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "LIST", KERR_TEMP, err);
		goto out;
	}
	folders_r->f = xreallocarray(NULL, result != NULL ? (size_t)clist_count(result) : 0,
	    sizeof(struct imapc_folder));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it))
		fill_folder(&folders_r->f[folders_r->n++], clist_content(it));
	ok = true;
out:
	if (result != NULL)
		mailimap_list_result_free(result);
	return ok;
}

const struct imapc_folder *
imapc_folders_find_use(const struct imapc_folders *fs, unsigned use)
{
	for (size_t i = 0; i < fs->n; i++)
		if ((fs->f[i].special_use & use) != 0 && !fs->f[i].noselect)
			return &fs->f[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Added for the agent: create, flags, move, delete, noop, idle */

/* Did r come from the server refusing (a tagged NO), as opposed to a broken
 * connection, an unparsable answer, BAD or a bug? */
static bool
refused_by_server(const struct imapc *im, int r)
{
	struct kerr io = KERR_INIT;

	if (tls_conn_io_error(im->conn, &io))
		return false;
	switch (r) {
	case MAILIMAP_NO_ERROR:
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
	case MAILIMAP_ERROR_PROTOCOL:
	case MAILIMAP_ERROR_BAD_STATE:
	case MAILIMAP_ERROR_MEMORY:
		return false;
	default:
		return true;
	}
}

static bool
need_selected(struct imapc *im, const char *what, struct kerr *err)
{
	if (im->imap->imap_state != MAILIMAP_STATE_SELECTED || im->imap->imap_selection_info == NULL) {
		kerr_set(err, KERR_INTERNAL, "%s: %s: no folder is selected", im->where, what);
		return false;
	}
	return true;
}

/* Does LIST "" wire answer with a folder that exists?  *exists_r; false on error. */
static bool
folder_exists(struct imapc *im, const char *wire, bool *exists_r, struct kerr *err)
{
	clist *result = NULL;
	int r = mailimap_list(im->imap, "", wire, &result);

	*exists_r = false;
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "LIST", KERR_TEMP, err);
		return false;
	}
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		struct imapc_folder f;

		fill_folder(&f, clist_content(it));
		/* \Noselect parents exist as far as CREATE is concerned; \NonExistent do not */
		if (f.noselect) {
			const struct mailimap_mailbox_list *mb = clist_content(it);
			bool nonexistent = false;

			for (clistiter *o = mb->mb_flag != NULL && mb->mb_flag->mbf_oflags != NULL ?
			    clist_begin(mb->mb_flag->mbf_oflags) : NULL; o != NULL; o = clist_next(o)) {
				const struct mailimap_mbx_list_oflag *of = clist_content(o);

				if (of->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT && of->of_flag_ext != NULL &&
				    strcasecmp(of->of_flag_ext, "NonExistent") == 0)
					nonexistent = true;
			}
			if (!nonexistent)
				*exists_r = true;
		} else {
			*exists_r = true;
		}
		free(f.name);
	}
	if (result != NULL)
		mailimap_list_result_free(result);
	return true;
}

/* CREATE one level (wire name); an existing folder is success.  *created_r. */
static bool
create_one(struct imapc *im, const char *wire, const char *shown, bool *created_r,
    struct kerr *err)
{
	struct kerr refused = KERR_INIT;
	char what[300];
	bool exists;
	int r;

	*created_r = false;
	snprintf(what, sizeof(what), "CREATE \"%s\"", shown);
	r = mailimap_create(im->imap, wire);
	if (r == MAILIMAP_NO_ERROR) {
		*created_r = true;
		return true;
	}
	if (!refused_by_server(im, r)) {
		imap_fail(im, r, what, KERR_TEMP, err);
		return false;
	}
	if (resp_code_is(im, "ALREADYEXISTS"))   /* RFC 5530; Dovecot, Cyrus */
		return true;
	imap_fail(im, r, what, KERR_CONFIG, &refused);
	/* Servers without the code: does it exist after all? */
	if (!folder_exists(im, wire, &exists, err))
		return false;
	if (exists)
		return true;
	*err = refused;
	return false;
}

bool
imapc_create(struct imapc *im, const char *folder, struct kerr *err)
{
	char what[300];
	char *wire = NULL, *prefix = NULL;
	bool ok = false;
	size_t len = strlen(folder);

	snprintf(what, sizeof(what), "CREATE \"%s\"", folder);
	if (!imap_ready(im, what, err) || (wire = folder_wire(im, folder, what, err)) == NULL)
		goto out;
	if (folder[0] == '/' || folder[len - 1] == '/' || strstr(folder, "//") != NULL) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the folder name has an empty level", im->where, what);
		goto out;
	}
	/* Each parent first ("Ký số" for "Ký số/Lỗi"), then the folder itself;
	 * on a flat server (no delimiter) '/' is just a character. */
	prefix = xstrdup(folder);
	for (size_t i = 0; i <= len; i++) {
		char *pwire;
		bool created;
		int r;

		if (folder[i] != '\0' && (folder[i] != '/' || im->delim == '\0'))
			continue;
		prefix[i] = '\0';
		snprintf(what, sizeof(what), "CREATE \"%s\"", prefix);
		if ((pwire = folder_wire(im, prefix, what, err)) == NULL)
			goto out;
		if (!create_one(im, pwire, prefix, &created, err)) {
			free(pwire);
			goto out;
		}
		r = created ? mailimap_subscribe(im->imap, pwire) : MAILIMAP_NO_ERROR;
		free(pwire);
		if (r != MAILIMAP_NO_ERROR) {
			snprintf(what, sizeof(what), "SUBSCRIBE \"%s\"", prefix);
			imap_fail(im, r, what, KERR_TEMP, err);
			goto out;
		}
		prefix[i] = folder[i];
	}
	ok = true;
out:
	free(prefix);
	free(wire);
	return ok;
}

/* ---- flags ---- */

void
imapc_flaglist_release(struct imapc_flaglist *fl)
{
	for (size_t i = 0; i < fl->n; i++) {
		for (size_t j = 0; j < fl->m[i].n; j++)
			free(fl->m[i].flags[j]);
		free(fl->m[i].flags);
	}
	free(fl->m);
	fl->m = NULL;
	fl->n = 0;
}

/* A flag as IMAP writes it ("\\Seen", "$KysoValid"); caller frees; NULL if unknown. */
static char *
flag_string(const struct mailimap_flag *f)
{
	switch (f->fl_type) {
	case MAILIMAP_FLAG_ANSWERED:
		return xstrdup("\\Answered");
	case MAILIMAP_FLAG_FLAGGED:
		return xstrdup("\\Flagged");
	case MAILIMAP_FLAG_DELETED:
		return xstrdup("\\Deleted");
	case MAILIMAP_FLAG_SEEN:
		return xstrdup("\\Seen");
	case MAILIMAP_FLAG_DRAFT:
		return xstrdup("\\Draft");
	case MAILIMAP_FLAG_KEYWORD:
		return f->fl_data.fl_keyword != NULL ? xstrdup(f->fl_data.fl_keyword) : NULL;
	case MAILIMAP_FLAG_EXTENSION:
		return f->fl_data.fl_extension != NULL ? xasprintf("\\%s", f->fl_data.fl_extension) : NULL;
	default:
		return NULL;
	}
}

/* One FETCH answer: its UID and whether it has FLAGS (*flags_r may be NULL then: "()"). */
static bool
scan_flags(const struct mailimap_msg_att *att, uint32_t *uid_r, const clist **flags_r)
{
	bool has_flags = false;

	*uid_r = 0;
	*flags_r = NULL;
	for (clistiter *it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC && item->att_data.att_static != NULL &&
		    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID) {
			*uid_r = item->att_data.att_static->att_data.att_uid;
		} else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC &&
		    item->att_data.att_dyn != NULL) {
			*flags_r = item->att_data.att_dyn->att_list;
			has_flags = true;
		}
	}
	return has_flags;
}

bool
imapc_fetch_flags(struct imapc *im, uint32_t uid_min, uint32_t uid_max,
    struct imapc_flaglist *list_r, struct kerr *err)
{
	char what[64];
	struct mailimap_set *set = NULL;
	struct mailimap_fetch_type *ft = NULL;
	clist *result = NULL;
	bool ok = false;
	size_t n = 0;
	int r;

	imapc_flaglist_release(list_r);
	if (uid_min == 0)
		uid_min = 1;
	if (uid_max != 0)
		snprintf(what, sizeof(what), "UID FETCH %u:%u FLAGS", (unsigned)uid_min, (unsigned)uid_max);
	else
		snprintf(what, sizeof(what), "UID FETCH %u:* FLAGS", (unsigned)uid_min);
	if (uid_max != 0 && uid_max < uid_min) {
		ok = true;   /* an empty range */
		goto out;
	}
	if (!imap_ready(im, what, err) || !need_selected(im, what, err))
		goto out;
	set = mailimap_set_new_interval(uid_min, uid_max);   /* 0 is written "*" */
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (set == NULL || ft == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP FETCH\n");
		abort();
	}
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_flags());
	r = mailimap_uid_fetch(im->imap, set, ft, &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_TEMP, err);
		goto out;
	}
	list_r->m = xreallocarray(NULL, result != NULL ? (size_t)clist_count(result) : 0,
	    sizeof(struct imapc_msgflags));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		struct imapc_msgflags *m;
		const clist *flags;
		uint32_t uid;

		/* "n:*" also matches the last message when its UID is < n; unsolicited
		 * FETCHes of other messages may come too. */
		if (!scan_flags(clist_content(it), &uid, &flags) || uid == 0 || uid < uid_min ||
		    (uid_max != 0 && uid > uid_max))
			continue;
		m = &list_r->m[n++];
		m->uid = uid;
		m->n = 0;
		m->flags = xreallocarray(NULL, flags != NULL ? (size_t)clist_count(flags) : 0,
		    sizeof(char *));
		for (clistiter *f = flags != NULL ? clist_begin((clist *)flags) : NULL; f != NULL;
		    f = clist_next(f)) {
			const struct mailimap_flag_fetch *ff = clist_content(f);
			char *name = NULL;

			if (ff->fl_type == MAILIMAP_FLAG_FETCH_RECENT)
				name = xstrdup("\\Recent");
			else if (ff->fl_flag != NULL)
				name = flag_string(ff->fl_flag);
			if (name != NULL)
				m->flags[m->n++] = name;
		}
	}
	list_r->n = n;
	/* Stable (a later report of the same UID stays later) and linear on the
	 * ascending order servers answer in. */
	for (size_t i = 1; i < list_r->n; i++) {
		struct imapc_msgflags m = list_r->m[i];
		size_t j = i;

		for (; j > 0 && list_r->m[j - 1].uid > m.uid; j--)
			list_r->m[j] = list_r->m[j - 1];
		list_r->m[j] = m;
	}
	/* One entry per UID: when a message was reported twice, keep the later report. */
	n = 0;
	for (size_t i = 0; i < list_r->n; i++) {
		if (n > 0 && list_r->m[n - 1].uid == list_r->m[i].uid) {
			struct imapc_msgflags *old = &list_r->m[n - 1];

			for (size_t j = 0; j < old->n; j++)
				free(old->flags[j]);
			free(old->flags);
			*old = list_r->m[i];
			continue;
		}
		list_r->m[n++] = list_r->m[i];
	}
	list_r->n = n;
	ok = true;
out:
	if (result != NULL)
		mailimap_fetch_list_free(result);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	if (set != NULL)
		mailimap_set_free(set);
	if (!ok)
		imapc_flaglist_release(list_r);
	return ok;
}

bool
imapc_store_flags(struct imapc *im, uint32_t uid, bool add, const char *const *flags,
    size_t n_flags, struct kerr *err)
{
	char what[64];
	struct mailimap_flag_list *fl = NULL;
	struct mailimap_store_att_flags *att = NULL;
	struct mailimap_set *set = NULL;
	bool ok = false;
	int r;

	snprintf(what, sizeof(what), "UID STORE %u %cFLAGS.SILENT", (unsigned)uid, add ? '+' : '-');
	if (n_flags == 0)
		return true;
	/* Checked before anything is sent, even on a dead session. */
	if ((fl = make_flag_list(im, what, flags, n_flags, err)) == NULL)
		return false;
	if (uid == 0) {
		kerr_set(err, KERR_INTERNAL, "%s: %s: UID 0 does not exist", im->where, what);
		goto out;
	}
	if (!imap_ready(im, what, err) || !need_selected(im, what, err))
		goto out;
	att = add ? mailimap_store_att_flags_new_add_flags_silent(fl) :
	    mailimap_store_att_flags_new_remove_flags_silent(fl);
	set = mailimap_set_new_single(uid);
	if (att == NULL || set == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP STORE\n");
		abort();
	}
	fl = NULL;   /* att owns it */
	r = mailimap_uid_store(im->imap, set, att);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_PERM, err);
		goto out;
	}
	ok = true;
out:
	if (set != NULL)
		mailimap_set_free(set);
	if (att != NULL)
		mailimap_store_att_flags_free(att);
	if (fl != NULL)
		mailimap_flag_list_free(fl);
	return ok;
}

/* PERMANENTFLAGS of the selected folder: *all_r when it has "\*"; returns
 * false when the server sent none (anything goes). */
static bool
perm_flags(struct imapc *im, const clist **list_r, bool *all_r)
{
	const struct mailimap_selection_info *sel =
	    im->imap != NULL ? im->imap->imap_selection_info : NULL;

	*list_r = NULL;
	*all_r = false;
	if (sel == NULL)
		return false;
	if (sel->sel_perm == MAILIMAP_MAILBOX_READONLY)
		return true;   /* nothing may be stored (libetpan keeps "()" as no list) */
	if (sel->sel_perm_flags == NULL)
		return false;
	*list_r = sel->sel_perm_flags;
	for (clistiter *it = clist_begin(sel->sel_perm_flags); it != NULL; it = clist_next(it)) {
		const struct mailimap_flag_perm *fp = clist_content(it);

		if (fp->fl_type == MAILIMAP_FLAG_PERM_ALL)
			*all_r = true;
	}
	return true;
}

bool
imapc_keywords_allowed(struct imapc *im)
{
	const clist *list;
	bool all;

	return !perm_flags(im, &list, &all) || all;
}

bool
imapc_keyword_allowed(struct imapc *im, const char *keyword)
{
	const clist *list;
	bool all;

	if (!perm_flags(im, &list, &all) || all)
		return true;
	for (clistiter *it = list != NULL ? clist_begin((clist *)list) : NULL; it != NULL;
	    it = clist_next(it)) {
		const struct mailimap_flag_perm *fp = clist_content(it);
		char *name = fp->fl_type == MAILIMAP_FLAG_PERM_FLAG && fp->fl_flag != NULL ?
		    flag_string(fp->fl_flag) : NULL;
		bool same = name != NULL && strcasecmp(name, keyword) == 0;

		free(name);
		if (same)
			return true;
	}
	return false;
}

/* ---- move, delete ---- */

/* Is uid in the selected folder (UID FETCH uid (UID))? */
static bool
uid_present(struct imapc *im, uint32_t uid, const char *what, bool *present_r, struct kerr *err)
{
	struct mailimap_set *set = mailimap_set_new_single(uid);
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att(mailimap_fetch_att_new_uid());
	clist *result = NULL;
	bool ok = false;
	int r;

	*present_r = false;
	if (set == NULL || ft == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP FETCH\n");
		abort();
	}
	r = mailimap_uid_fetch(im->imap, set, ft, &result);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_TEMP, err);
		goto out;
	}
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		const struct mailimap_msg_att_body_section *body;
		uint32_t got;

		scan_msg_att(clist_content(it), &got, &body);
		if (got == uid)
			*present_r = true;
	}
	ok = true;
out:
	if (result != NULL)
		mailimap_fetch_list_free(result);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	return ok;
}

static bool
uid_store_deleted(struct imapc *im, uint32_t uid, struct kerr *err)
{
	static const char *const deleted[] = { "\\Deleted" };

	return imapc_store_flags(im, uid, true, deleted, 1, err);
}

/* UID EXPUNGE uid with UIDPLUS, else EXPUNGE (all \Deleted) when plain_ok. */
static bool
expunge_uid(struct imapc *im, uint32_t uid, bool plain_ok, struct kerr *err)
{
	char what[64];
	struct mailimap_set *set;
	int r;

	if (!imapc_has_capability(im, "UIDPLUS")) {
		if (!plain_ok)
			return true;
		r = mailimap_expunge(im->imap);
		if (r != MAILIMAP_NO_ERROR) {
			imap_fail(im, r, "EXPUNGE", KERR_PERM, err);
			return false;
		}
		return true;
	}
	snprintf(what, sizeof(what), "UID EXPUNGE %u", (unsigned)uid);
	set = mailimap_set_new_single(uid);
	if (set == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP set\n");
		abort();
	}
	r = mailimap_uid_expunge(im->imap, set);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, KERR_PERM, err);
		return false;
	}
	return true;
}

bool
imapc_move_uid(struct imapc *im, uint32_t uid, const char *folder, struct kerr *err)
{
	char what[300];
	char *wire = NULL;
	struct mailimap_set *set = NULL;
	bool move = imapc_has_capability(im, "MOVE"), present, ok = false;
	int r;

	snprintf(what, sizeof(what), "%s %u to \"%s\"", move ? "UID MOVE" : "UID COPY", (unsigned)uid,
	    folder);
	if (!imap_ready(im, what, err) || !need_selected(im, what, err) ||
	    (wire = folder_wire(im, folder, what, err)) == NULL)
		goto out;
	/* UID MOVE/COPY of a UID that is gone answers OK and does nothing. */
	if (!uid_present(im, uid, what, &present, err))
		goto out;
	if (!present) {
		kerr_set(err, KERR_PERM, "%s: %s: no such message in the selected folder (moved or "
		    "deleted?)", im->where, what);
		goto out;
	}
	set = mailimap_set_new_single(uid);
	if (set == NULL) {
		fprintf(stderr, "kyso: out of memory building an IMAP set\n");
		abort();
	}
	r = move ? mailimap_uid_move(im->imap, set, wire) : mailimap_uid_copy(im->imap, set, wire);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, what, im->imap->imap_response_info != NULL &&
		    im->imap->imap_response_info->rsp_trycreate ? KERR_CONFIG : KERR_PERM, err);
		goto out;
	}
	/* Without MOVE: flag the original; expunge just it when UIDPLUS allows. */
	if (!move && (!uid_store_deleted(im, uid, err) || !expunge_uid(im, uid, false, err)))
		goto out;
	ok = true;
out:
	if (set != NULL)
		mailimap_set_free(set);
	free(wire);
	return ok;
}

bool
imapc_delete_uid(struct imapc *im, uint32_t uid, struct kerr *err)
{
	char what[64];

	snprintf(what, sizeof(what), "delete UID %u", (unsigned)uid);
	if (!imap_ready(im, what, err) || !need_selected(im, what, err))
		return false;
	return uid_store_deleted(im, uid, err) && expunge_uid(im, uid, true, err);
}

/* ---- noop, idle ---- */

bool
imapc_noop(struct imapc *im, struct kerr *err)
{
	int r;

	if (!imap_ready(im, "NOOP", err))
		return false;
	r = mailimap_noop(im->imap);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "NOOP", KERR_TEMP, err);
		return false;
	}
	return true;
}

void
imapc_selected(struct imapc *im, struct imapc_mailbox *mb_r)
{
	const struct mailimap_selection_info *sel =
	    im->imap != NULL ? im->imap->imap_selection_info : NULL;

	memset(mb_r, 0, sizeof(*mb_r));
	if (sel == NULL)
		return;
	mb_r->uidvalidity = sel->sel_uidvalidity;
	mb_r->uidnext = sel->sel_uidnext;
	mb_r->exists = sel->sel_exists;
	mb_r->readonly = sel->sel_perm == MAILIMAP_MAILBOX_READONLY;
}

enum idle_line {
	IDLE_LINE_NOISE,     /* "* OK Still here", "+ idling", ... */
	IDLE_LINE_CHANGE,    /* EXISTS, EXPUNGE, FETCH, RECENT, UIDVALIDITY */
	IDLE_LINE_BYE,
	IDLE_LINE_TAGGED,    /* the server ended IDLE itself */
};

/* What one line the server sent during IDLE means; applies EXISTS, EXPUNGE
 * and UIDVALIDITY to the selected-folder numbers. */
static enum idle_line
idle_classify(struct imapc *im, const char *line)
{
	struct mailimap_selection_info *sel = im->imap->imap_selection_info;
	char tag[16];
	unsigned long n;
	char *end;
	const char *p;

	snprintf(tag, sizeof(tag), "%d ", im->imap->imap_tag);
	if (strncmp(line, tag, strlen(tag)) == 0)
		return IDLE_LINE_TAGGED;
	if (strncmp(line, "* ", 2) != 0)
		return IDLE_LINE_NOISE;
	p = line + 2;
	if (strncasecmp(p, "BYE", 3) == 0 && (p[3] == ' ' || p[3] == '\r' || p[3] == '\n'))
		return IDLE_LINE_BYE;
	if (strncasecmp(p, "OK [UIDVALIDITY ", 16) == 0) {
		n = strtoul(p + 16, &end, 10);
		if (end != p + 16 && *end == ']' && n != 0 && n <= UINT32_MAX) {
			sel->sel_uidvalidity = (uint32_t)n;
			return IDLE_LINE_CHANGE;
		}
		return IDLE_LINE_NOISE;
	}
	if (*p < '0' || *p > '9')
		return IDLE_LINE_NOISE;
	n = strtoul(p, &end, 10);
	if (*end != ' ' || n > UINT32_MAX)
		return IDLE_LINE_NOISE;
	end++;
	if (strncasecmp(end, "EXISTS", 6) == 0) {
		sel->sel_exists = (uint32_t)n;
		sel->sel_has_exists = 1;
		return IDLE_LINE_CHANGE;
	}
	if (strncasecmp(end, "EXPUNGE", 7) == 0) {
		if (sel->sel_exists > 0)
			sel->sel_exists--;
		return IDLE_LINE_CHANGE;
	}
	if (strncasecmp(end, "RECENT", 6) == 0) {
		sel->sel_recent = (uint32_t)n;
		sel->sel_has_recent = 1;
		return IDLE_LINE_CHANGE;
	}
	if (strncasecmp(end, "FETCH", 5) == 0)
		return IDLE_LINE_CHANGE;
	return IDLE_LINE_NOISE;
}

/* Read one whole response during IDLE into the session's line buffer,
 * including any literals ("{12}\r\n" + 12 bytes + the rest of the line).
 * Returns the first line, or NULL when the connection failed. */
static const char *
idle_read_response(struct imapc *im)
{
	MMAPString *buf = im->imap->imap_stream_buffer;
	size_t start = 0;

	if (mailstream_read_line(im->imap->imap_stream, buf) == NULL)
		return NULL;
	for (;;) {
		/* a literal announced at the end of the line just read */
		const char *line = buf->str + start;
		size_t len = buf->len - start;
		unsigned long n;
		const char *brace;
		char *end;

		if (len < 5 || line[len - 1] != '\n' || line[len - 2] != '\r' || line[len - 3] != '}')
			break;
		brace = memrchr(line, '{', len - 3);
		if (brace == NULL)
			break;
		n = strtoul(brace + 1, &end, 10);
		if (end != line + len - 3 || n > 64UL * 1024 * 1024)
			break;
		while (n > 0) {
			char chunk[4096];
			ssize_t got = mailstream_read(im->imap->imap_stream, chunk,
			    n < sizeof(chunk) ? n : sizeof(chunk));

			if (got <= 0)
				return NULL;
			n -= (size_t)got;   /* the literal's bytes are not kept */
		}
		start = buf->len;
		if (mailstream_read_line_append(im->imap->imap_stream, buf) == NULL)
			return NULL;
	}
	return buf->str;
}

/* The server's text after "* BYE " or "TAG NO ", without CRLF, for messages. */
static void
line_text(const char *line, size_t skip_words, char *dst, size_t n)
{
	size_t len;

	for (size_t w = 0; w < skip_words; w++) {
		const char *sp = strchr(line, ' ');

		line = sp != NULL ? sp + 1 : line + strlen(line);
	}
	len = strcspn(line, "\r\n");
	snprintf(dst, n, "%.*s", (int)len, line);
}

/* One response read during IDLE, and what to do about it. */
enum idle_step {
	IDLE_STEP_FAILED,     /* err is set */
	IDLE_STEP_NOISE,
	IDLE_STEP_CHANGE,
	IDLE_STEP_GOAHEAD,    /* "+ idling" */
	IDLE_STEP_ENDED,      /* the server ended IDLE itself with OK: no DONE to send */
};

static enum idle_step
idle_step(struct imapc *im, struct kerr *err)
{
	const char *line = idle_read_response(im);
	char text[300];

	if (line == NULL) {
		imap_fail(im, MAILIMAP_ERROR_STREAM, "IDLE", KERR_TEMP, err);
		return IDLE_STEP_FAILED;
	}
	if (line[0] == '+')
		return IDLE_STEP_GOAHEAD;
	switch (idle_classify(im, line)) {
	case IDLE_LINE_NOISE:
		return IDLE_STEP_NOISE;
	case IDLE_LINE_CHANGE:
		return IDLE_STEP_CHANGE;
	case IDLE_LINE_BYE:
		im->dead = true;
		line_text(line, 2, text, sizeof(text));
		kerr_set(err, KERR_TEMP, "%s: IDLE: the server closed the session: %s", im->where, text);
		return IDLE_STEP_FAILED;
	case IDLE_LINE_TAGGED:
	default:
		break;
	}
	/* "TAG OK|NO|BAD text": the server answered IDLE itself */
	line += strcspn(line, " ") + 1;
	if (strncasecmp(line, "OK", 2) == 0)
		return IDLE_STEP_ENDED;
	line_text(line, 1, text, sizeof(text));
	if (strncasecmp(line, "NO", 2) == 0)
		kerr_set(err, strstr(text, "[LIMIT]") != NULL || strstr(text, "[UNAVAILABLE]") != NULL ||
		    strstr(text, "[INUSE]") != NULL ? KERR_TEMP : KERR_INTERNAL,
		    "%s: IDLE: the server answered NO: %s", im->where, text);
	else
		kerr_set(err, KERR_INTERNAL, "%s: IDLE: the server answered BAD: %s", im->where, text);
	return IDLE_STEP_FAILED;
}

bool
imapc_idle(struct imapc *im, int timeout_s, bool *changed_r, struct kerr *err)
{
	const struct mailimap_selection_info *sel;
	mailstream *st;
	uint32_t exists0, uidvalidity0;
	int64_t deadline;
	bool changed = false;
	enum idle_step step;
	int r;

	*changed_r = false;
	if (!imap_ready(im, "IDLE", err) || !need_selected(im, "IDLE", err))
		return false;
	if (!imapc_has_capability(im, "IDLE")) {
		kerr_set(err, KERR_INTERNAL, "%s: IDLE: the server has no IDLE capability (poll with "
		    "NOOP)", im->where);
		return false;
	}
	sel = im->imap->imap_selection_info;
	st = im->imap->imap_stream;
	exists0 = sel->sel_exists;
	uidvalidity0 = sel->sel_uidvalidity;
	im->imap->imap_selection_info->sel_has_exists = 0;
	im->imap->imap_selection_info->sel_has_recent = 0;
	deadline = clock_mono_ms() + (timeout_s > 0 ? (int64_t)timeout_s * 1000 : 0);

	/* IDLE is sent by hand, not with mailimap_idle(), which throws away any
	 * news the server sends before its go-ahead. */
	r = mailimap_send_current_tag(im->imap);
	if (r == MAILIMAP_NO_ERROR && (mailstream_write(st, "IDLE\r\n", 6) != 6 ||
	    mailstream_flush(st) == -1))
		r = MAILIMAP_ERROR_STREAM;
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(im, r, "IDLE", KERR_TEMP, err);
		return false;
	}
	do {
		step = idle_step(im, err);
		if (step == IDLE_STEP_FAILED)
			return false;
		if (step == IDLE_STEP_CHANGE)
			changed = true;
	} while (step != IDLE_STEP_GOAHEAD && step != IDLE_STEP_ENDED);

	/* Wait for news.  Bytes may already sit in the stream's buffer (they came
	 * with the go-ahead): only an empty buffer means waiting on the socket. */
	while (!changed && step != IDLE_STEP_ENDED) {
		if (st->read_buffer_len == 0) {
			int64_t left = deadline - clock_mono_ms();
			enum tls_wait w = tls_conn_wait(im->conn, left <= 0 ? 0 :
			    left > INT32_MAX ? INT32_MAX : (int)left);

			if (w == TLS_WAIT_TIMEOUT)
				break;
			if (w == TLS_WAIT_CANCELLED) {
				im->dead = true;
				kerr_set(err, KERR_TEMP, "%s: IDLE: cancelled", im->where);
				return false;
			}
			if (w == TLS_WAIT_ERROR) {
				im->dead = true;
				kerr_set(err, KERR_TEMP, "%s: IDLE: connection lost", im->where);
				return false;
			}
		}
		step = idle_step(im, err);
		if (step == IDLE_STEP_FAILED)
			return false;
		if (step == IDLE_STEP_CHANGE)
			changed = true;
	}

	if (step != IDLE_STEP_ENDED) {
		/* DONE; the answer may bring more EXISTS/EXPUNGE/FETCH, which libetpan
		 * applies to the selection (EXISTS, EXPUNGE) or lists (EXPUNGE, FETCH). */
		r = mailimap_idle_done(im->imap);
		if (r != MAILIMAP_NO_ERROR) {
			imap_fail(im, r, "IDLE (DONE)", KERR_TEMP, err);
			return false;
		}
		if (im->imap->imap_response_info != NULL &&
		    ((im->imap->imap_response_info->rsp_expunged != NULL &&
		    clist_count(im->imap->imap_response_info->rsp_expunged) > 0) ||
		    (im->imap->imap_response_info->rsp_fetch_list != NULL &&
		    clist_count(im->imap->imap_response_info->rsp_fetch_list) > 0)))
			changed = true;
	}
	sel = im->imap->imap_selection_info;
	if (sel->sel_has_exists || sel->sel_has_recent || sel->sel_exists != exists0 ||
	    sel->sel_uidvalidity != uidvalidity0)
		changed = true;
	*changed_r = changed;
	return true;
}

/* ------------------------------------------------------------------ */
/* End */

bool
imapc_logout(struct imapc *im, struct kerr *err)
{
	int r;

	if (im->imap == NULL || im->imap->imap_stream == NULL)
		return true;
	if (im->dead) {
		mailstream_close(im->imap->imap_stream);
		im->imap->imap_stream = NULL;
		return true;
	}
	tls_conn_clear_io_error(im->conn);
	r = mailimap_logout(im->imap);  /* closes the stream whatever happens */
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_STREAM) {
		imap_fail(im, r, "LOGOUT", KERR_TEMP, err);
		return false;
	}
	return true;
}

void
imapc_cancel(struct imapc *im)
{
	if (im->conn != NULL)
		tls_conn_cancel(im->conn);
}

void
imapc_free(struct imapc **imp)
{
	struct imapc *im;

	if (imp == NULL || *imp == NULL)
		return;
	im = *imp;
	*imp = NULL;
	if (im->imap != NULL) {
		/* Close without LOGOUT: mailimap_free would wait for the server. */
		if (im->imap->imap_stream != NULL) {
			mailstream_close(im->imap->imap_stream);
			im->imap->imap_stream = NULL;
		}
		mailimap_free(im->imap);
	}
	tls_conn_free(&im->conn);
	free(im);
}

/* ------------------------------------------------------------------ */
/* Modified UTF-7 (RFC 3501 5.1.3) */

static const char mb64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Decode one UTF-8 sequence at *sp; advance.  Returns the code point or -1. */
static long
utf8_next(const unsigned char **sp)
{
	const unsigned char *s = *sp;
	long cp;
	int extra;

	if (s[0] < 0x80) {
		cp = s[0];
		extra = 0;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		extra = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		extra = 2;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		extra = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= extra; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*sp = s + 1 + extra;
	return cp;
}

static void
utf8_put(struct buf *b, long cp)
{
	char t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, t, n);
}

char *
imapc_mutf7_encode(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = BUF_INIT;

	buf_reserve(&b, strlen(s) + 1);
	while (*p != '\0') {
		uint32_t bits = 0;
		int nbits = 0;

		if (*p >= 0x20 && *p <= 0x7e) {
			if (*p == '&')
				buf_appends(&b, "&-");
			else
				buf_append(&b, p, 1);
			p++;
			continue;
		}
		/* A run of characters outside printable ASCII, as base64 of UTF-16BE. */
		buf_appends(&b, "&");
		while (*p != '\0' && !(*p >= 0x20 && *p <= 0x7e)) {
			long cp = utf8_next(&p);
			uint16_t units[2];
			int nu;

			if (cp < 0) {
				buf_release(&b);
				return NULL;
			}
			if (cp >= 0x10000) {
				units[0] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
				units[1] = (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
				nu = 2;
			} else {
				units[0] = (uint16_t)cp;
				nu = 1;
			}
			for (int i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					buf_append(&b, &mb64[(bits >> nbits) & 0x3f], 1);
				}
			}
		}
		if (nbits > 0)
			buf_append(&b, &mb64[(bits << (6 - nbits)) & 0x3f], 1);
		buf_appends(&b, "-");
	}
	return buf_steal(&b, NULL);
}

static int
mb64_value(unsigned char ch)
{
	const char *q = ch != '\0' ? strchr(mb64, ch) : NULL;

	return q != NULL ? (int)(q - mb64) : -1;
}

char *
imapc_mutf7_decode(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = BUF_INIT;

	while (*p != '\0') {
		uint32_t bits = 0;
		int nbits = 0;
		long high = -1;   /* a pending high surrogate */
		size_t units = 0;

		if (*p < 0x20 || *p > 0x7e)
			goto bad;
		if (*p != '&') {
			buf_append(&b, p, 1);
			p++;
			continue;
		}
		p++;
		if (*p == '-') {
			buf_appends(&b, "&");
			p++;
			continue;
		}
		for (; *p != '-'; p++) {
			int v = mb64_value(*p);

			if (v < 0)
				goto bad;   /* also the end of the string: '-' is required */
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			{
				long u = (long)((bits >> nbits) & 0xffff);

				units++;
				if (high >= 0) {
					if (u < 0xdc00 || u > 0xdfff)
						goto bad;
					utf8_put(&b, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
					high = -1;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e)) {
					goto bad;   /* lone low surrogate; printable ASCII must be direct */
				} else {
					utf8_put(&b, u);
				}
			}
		}
		/* Leftover bits must be fewer than 6 and zero; the run not empty. */
		if (units == 0 || high >= 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
			goto bad;
		p++;
	}
	return buf_steal(&b, NULL);
bad:
	buf_release(&b);
	return NULL;
}
