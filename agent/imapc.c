/* imapc.c - IMAP client on libetpan over agent/tls.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "agent/imapc.h"
#include "agent/log.h"

struct imapc {
	mailimap *imap;          /* owned; owns the stream over conn */
	struct tls_conn *conn;   /* owned; outlives imap's stream */
	char where[300];         /* "imap host:port" */
	bool dead;               /* the connection broke: every call fails */
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
	char *wire = imapc_mutf7_encode(folder);
	struct mailimap_selection_info *sel;
	bool ok = false;
	int r;

	snprintf(what, sizeof(what), "%s \"%s\"", readonly ? "EXAMINE" : "SELECT", folder);
	if (wire == NULL) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the folder name is not valid UTF-8", im->where, what);
		goto out;
	}
	if (!imap_ready(im, what, err))
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

		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
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
		return is_keyword(f + 1) ? mailimap_flag_new_flag_extension(xstrdup(f + 1)) : NULL;
	return is_keyword(f) ? mailimap_flag_new_flag_keyword(xstrdup(f)) : NULL;
}

bool
imapc_append(struct imapc *im, const char *folder, const char *const *flags, size_t n_flags,
    const char *msg, size_t len, uint32_t *uid_r, struct kerr *err)
{
	char what[300], why[64];
	char *wire = imapc_mutf7_encode(folder);
	struct mailimap_flag_list *fl = NULL;
	uint32_t uidvalidity = 0, uid = 0;
	bool ok = false;
	int r;

	if (uid_r != NULL)
		*uid_r = 0;
	snprintf(what, sizeof(what), "APPEND to \"%s\"", folder);
	if (wire == NULL) {
		kerr_set(err, KERR_CONFIG, "%s: %s: the folder name is not valid UTF-8", im->where, what);
		goto out;
	}
	if (!message_is_exact(msg, len, why, sizeof(why))) {
		kerr_set(err, KERR_PERM, "%s: %s: the message cannot be stored unchanged: %s",
		    im->where, what, why);
		goto out;
	}
	if (n_flags > 0) {
		fl = mailimap_flag_list_new_empty();
		for (size_t i = 0; i < n_flags; i++) {
			struct mailimap_flag *f = make_flag(flags[i]);

			if (f == NULL) {
				kerr_set(err, KERR_INTERNAL, "%s: %s: invalid flag \"%s\"", im->where,
				    what, flags[i]);
				goto out;
			}
			mailimap_flag_list_add(fl, f);
		}
	}
	if (!imap_ready(im, what, err))
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
