/*
 * conf.c - kyso.conf(5) parsing and checking.
 *
 * inih does the INI syntax.  We feed it through our own line reader so that
 * every problem can name its line (Debian's inih is built without
 * INI_HANDLER_LINENO) and so that over-long lines are reported, not cut.
 * Keys are described by tables; each section kind has one.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "agent/conf.h"

#define CONF_MAX_LINE 4096

#ifndef KYSO_PKGDATADIR
#define KYSO_PKGDATADIR "/usr/share/kyso"
#endif

enum section_kind { SEC_NONE, SEC_AGENT, SEC_WEB, SEC_TRUST, SEC_IDENTITY, SEC_ACCOUNT, SEC_UNKNOWN };

enum value_kind {
	V_STRING,   /* any text */
	V_PATH,     /* a file or folder, made absolute against the config's folder */
	V_BOOL,     /* yes/no/true/false/on/off/1/0 */
	V_LIST,     /* comma-separated, trimmed */
	V_ADDRLIST, /* comma-separated addresses, lower-cased */
	V_ADDR,     /* one address, lower-cased */
	V_SPECIAL,  /* handled by the section's own code */
};

struct key_def {
	const char *name;
	enum value_kind kind;
	size_t offset;      /* into the section's struct */
};

#define K(sec, name, kind, field) { name, kind, offsetof(sec, field) }

static const struct key_def agent_keys[] = {
	K(struct conf, "state_dir", V_PATH, agent.state_dir),
	K(struct conf, "log_level", V_SPECIAL, agent.log_level),
	K(struct conf, "keyword_valid", V_SPECIAL, agent.keywords[0]),
	K(struct conf, "keyword_partial", V_SPECIAL, agent.keywords[1]),
	K(struct conf, "keyword_invalid", V_SPECIAL, agent.keywords[2]),
	K(struct conf, "keyword_indeterminate", V_SPECIAL, agent.keywords[3]),
	K(struct conf, "keyword_unsigned", V_SPECIAL, agent.keywords[4]),
	K(struct conf, "keyword_encrypted", V_SPECIAL, agent.keywords[5]),
	K(struct conf, "keyword_malformed", V_SPECIAL, agent.keywords[6]),
	K(struct conf, "keyword_attachment_valid", V_SPECIAL, agent.attachment_keywords[0]),
	K(struct conf, "keyword_attachment_partial", V_SPECIAL, agent.attachment_keywords[1]),
	K(struct conf, "keyword_attachment_invalid", V_SPECIAL, agent.attachment_keywords[2]),
	K(struct conf, "keyword_attachment_indeterminate", V_SPECIAL, agent.attachment_keywords[3]),
	K(struct conf, "idle", V_SPECIAL, agent.idle_s),
	K(struct conf, "poll", V_SPECIAL, agent.poll_s),
	{ NULL, 0, 0 }
};
static const struct key_def web_keys[] = {
	K(struct conf, "listen", V_STRING, web.listen),
	K(struct conf, "tls_cert", V_PATH, web.tls_cert),
	K(struct conf, "tls_key", V_PATH, web.tls_key),
	K(struct conf, "admins", V_ADDRLIST, web.admins),
	K(struct conf, "templates", V_PATH, web.templates),
	K(struct conf, "enabled", V_BOOL, web.enabled),
	{ NULL, 0, 0 }
};
static const struct key_def trust_keys[] = {
	K(struct conf, "anchors", V_PATH, trust.anchors),
	K(struct conf, "intermediates", V_PATH, trust.intermediates),
	K(struct conf, "crls", V_PATH, trust.crls),
	K(struct conf, "revocation", V_SPECIAL, trust.revocation),
	{ NULL, 0, 0 }
};
static const struct key_def identity_keys[] = {
	K(struct conf_identity, "addresses", V_ADDRLIST, addresses),
	K(struct conf_identity, "p12", V_PATH, p12),
	K(struct conf_identity, "pass_file", V_PATH, pass_file),
	K(struct conf_identity, "cert", V_PATH, cert),
	K(struct conf_identity, "key", V_SPECIAL, key),
	K(struct conf_identity, "chain", V_PATH, chain),
	K(struct conf_identity, "pin_file", V_PATH, pin_file),
	K(struct conf_identity, "gpgsm", V_SPECIAL, gpgsm),
	K(struct conf_identity, "gnupghome", V_PATH, gnupghome),
	K(struct conf_identity, "organisation", V_BOOL, organisation),
	K(struct conf_identity, "digest", V_SPECIAL, digest),
	K(struct conf_identity, "mode", V_SPECIAL, mode),
	{ NULL, 0, 0 }
};
static const struct key_def account_keys[] = {
	K(struct conf_account, "address", V_ADDR, address),
	K(struct conf_account, "imap", V_SPECIAL, imap),
	K(struct conf_account, "smtp", V_SPECIAL, smtp),
	K(struct conf_account, "username", V_STRING, username),
	K(struct conf_account, "password_file", V_PATH, password_file),
	K(struct conf_account, "tls_ca", V_PATH, tls_ca),
	K(struct conf_account, "tls_verify", V_BOOL, tls_verify),
	K(struct conf_account, "outbox", V_STRING, outbox),
	K(struct conf_account, "failed", V_STRING, failed),
	K(struct conf_account, "sent", V_STRING, sent),
	K(struct conf_account, "verify_inbox", V_BOOL, verify_inbox),
	K(struct conf_account, "verify_folders", V_LIST, verify_folders),
	K(struct conf_account, "backlog", V_SPECIAL, backlog),
	{ NULL, 0, 0 }
};

/* Keys seen in the current section, to report repeats. */
struct seen {
	const char *names[32];
	size_t n;
};

struct parser {
	const char *path;
	char *dir;                  /* owned: folder of path, for relative paths */
	FILE *fp;
	unsigned line;              /* line number of the line inih is working on */
	bool line_too_long;
	struct conf *conf;
	struct conf_report *report;
	size_t problems;
	enum section_kind kind;
	char section[256];
	void *obj;                  /* the struct the current section fills */
	const struct key_def *keys;
	struct seen seen;
	bool seen_agent, seen_web, seen_trust;
};

static void problem_at(struct parser *p, unsigned line, const char *fmt, ...) KYSO_PRINTF(3, 4);

static void
problem_at(struct parser *p, unsigned line, const char *fmt, ...)
{
	struct conf_report *r = p->report;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->lines = xreallocarray(r->lines, r->n + 1, sizeof(*r->lines));
	r->lines[r->n++] = xasprintf("%s:%u: %s", p->path, line, msg);
	p->problems++;
}

#define problem(p, ...) problem_at((p), (p)->line, __VA_ARGS__)

void
conf_report_free(struct conf_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->lines[i]);
	free(r->lines);
	r->lines = NULL;
	r->n = 0;
}

/* --- value helpers --- */

static void
list_free(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void
lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A mailbox address as kyso accepts it in its configuration: local@domain,
 * printable, no spaces or angle brackets.  The real check is at the server. */
static bool
address_ok(const char *a)
{
	const char *at = strchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	for (const unsigned char *s = (const unsigned char *)a; *s != '\0'; s++)
		if (*s <= 0x20 || *s == 0x7f || *s == '<' || *s == '>' || *s == ',' || *s == '"')
			return false;
	return strchr(at + 1, '.') != NULL;
}

static bool
split_list(struct parser *p, const char *value, struct conf_list *l, bool addresses)
{
	const char *s = value;
	bool ok = true;

	list_free(l);
	while (*s != '\0') {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *b = s, *e = s + len;

		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b) {
			char *item = xstrndup(b, (size_t)(e - b));

			if (addresses) {
				lower_ascii(item);
				if (!address_ok(item)) {
					problem(p, "'%s' is not a mail address", item);
					ok = false;
				}
			}
			l->items = xreallocarray(l->items, l->n + 1, sizeof(*l->items));
			l->items[l->n++] = item;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	return ok;
}

static bool
parse_bool(const char *v, bool *b_r)
{
	static const char *yes[] = { "yes", "true", "on", "1" }, *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*b_r = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*b_r = false;
			return true;
		}
	}
	return false;
}

static char *
make_path(const struct parser *p, const char *v)
{
	if (v[0] == '/' || p->dir == NULL)
		return xstrdup(v);
	return xasprintf("%s/%s", p->dir, v);
}

bool
conf_parse_endpoint(const char *kind, const char *url, struct conf_endpoint *ep, char *msg, size_t msgsize)
{
	const char *rest, *host, *hend, *port = NULL;
	char implicit[16], starttls[16];
	unsigned long n;
	char *end;

	snprintf(implicit, sizeof(implicit), "%ss://", kind);
	snprintf(starttls, sizeof(starttls), "%s://", kind);
	if (strncasecmp(url, implicit, strlen(implicit)) == 0) {
		ep->tls = CONF_TLS_IMPLICIT;
		rest = url + strlen(implicit);
	} else if (strncasecmp(url, starttls, strlen(starttls)) == 0) {
		ep->tls = CONF_TLS_STARTTLS;
		rest = url + strlen(starttls);
	} else {
		snprintf(msg, msgsize, "'%s' must start with %s (TLS) or %s (STARTTLS, required)",
		    url, implicit, starttls);
		return false;
	}
	if (*rest == '[') {             /* [IPv6]:port */
		host = rest + 1;
		hend = strchr(host, ']');
		if (hend == NULL) {
			snprintf(msg, msgsize, "'%s': unclosed [", url);
			return false;
		}
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0' && strcmp(hend + 1, "/") != 0)
			goto bad;
	} else {
		host = rest;
		hend = host + strcspn(host, ":/");
		if (*hend == ':')
			port = hend + 1;
		else if (*hend == '/' && hend[1] != '\0')
			goto bad;
	}
	if (hend == host) {
		snprintf(msg, msgsize, "'%s' has no host name", url);
		return false;
	}
	for (const char *c = host; c < hend; c++)
		if (!isalnum((unsigned char)*c) && strchr(".-_:", *c) == NULL)
			goto bad;
	if (port != NULL) {
		errno = 0;
		n = strtoul(port, &end, 10);
		if (errno != 0 || end == port || n == 0 || n > 65535 || (*end != '\0' && strcmp(end, "/") != 0)) {
			snprintf(msg, msgsize, "'%s' has a bad port", url);
			return false;
		}
		ep->port = (uint16_t)n;
	} else if (strcmp(kind, "imap") == 0) {
		ep->port = ep->tls == CONF_TLS_IMPLICIT ? 993 : 143;
	} else {
		ep->port = ep->tls == CONF_TLS_IMPLICIT ? 465 : 587;
	}
	free(ep->host);
	ep->host = xstrndup(host, (size_t)(hend - host));
	return true;
bad:
	snprintf(msg, msgsize, "'%s' is not of the form %s://host[:port]", url, implicit);
	return false;
}

/* --- sections --- */

static void
identity_init(struct conf_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->digest = xstrdup("sha256");
	id->mode = CONF_MODE_DETACHED;
}

static void
account_init(struct conf_account *a)
{
	memset(a, 0, sizeof(*a));
	a->tls_verify = true;
	a->verify_inbox = true;
	a->outbox = xstrdup("Ký số");
	a->failed = xstrdup("Ký số/Lỗi");
	a->backlog = CONF_BACKLOG_ALL;
}

static bool
name_taken(struct parser *p, const char *name, bool identity)
{
	size_t n = identity ? p->conf->n_identities : p->conf->n_accounts;

	for (size_t i = 0; i + 1 < n; i++) {
		const char *other = identity ? p->conf->identities[i].name : p->conf->accounts[i].name;

		if (strcmp(other, name) == 0)
			return true;
	}
	return false;
}

static void
start_section(struct parser *p, const char *section)
{
	const char *arg = strchr(section, ' ');
	size_t wlen = arg ? (size_t)(arg - section) : strlen(section);
	bool *once = NULL;

	snprintf(p->section, sizeof(p->section), "%s", section);
	p->seen.n = 0;
	p->obj = NULL;
	p->keys = NULL;
	while (arg != NULL && *arg == ' ')
		arg++;
	if (wlen == 5 && strncmp(section, "agent", 5) == 0 && arg == NULL) {
		p->kind = SEC_AGENT, p->keys = agent_keys, p->obj = p->conf, once = &p->seen_agent;
	} else if (wlen == 3 && strncmp(section, "web", 3) == 0 && arg == NULL) {
		p->kind = SEC_WEB, p->keys = web_keys, p->obj = p->conf, once = &p->seen_web;
	} else if (wlen == 5 && strncmp(section, "trust", 5) == 0 && arg == NULL) {
		p->kind = SEC_TRUST, p->keys = trust_keys, p->obj = p->conf, once = &p->seen_trust;
	} else if (wlen == 8 && strncmp(section, "identity", 8) == 0 && arg != NULL && *arg != '\0') {
		struct conf *c = p->conf;

		c->identities = xreallocarray(c->identities, c->n_identities + 1, sizeof(*c->identities));
		identity_init(&c->identities[c->n_identities]);
		c->identities[c->n_identities].name = xstrdup(arg);
		c->identities[c->n_identities].line = p->line;
		p->obj = &c->identities[c->n_identities++];
		p->kind = SEC_IDENTITY, p->keys = identity_keys;
		if (name_taken(p, arg, true))
			problem(p, "identity '%s' is defined twice", arg);
	} else if (wlen == 7 && strncmp(section, "account", 7) == 0 && arg != NULL && *arg != '\0') {
		struct conf *c = p->conf;

		c->accounts = xreallocarray(c->accounts, c->n_accounts + 1, sizeof(*c->accounts));
		account_init(&c->accounts[c->n_accounts]);
		c->accounts[c->n_accounts].name = xstrdup(arg);
		c->accounts[c->n_accounts].line = p->line;
		p->obj = &c->accounts[c->n_accounts++];
		p->kind = SEC_ACCOUNT, p->keys = account_keys;
		if (name_taken(p, arg, false))
			problem(p, "account '%s' is defined twice", arg);
	} else if ((wlen == 8 && strncmp(section, "identity", 8) == 0) ||
	    (wlen == 7 && strncmp(section, "account", 7) == 0)) {
		p->kind = SEC_UNKNOWN;
		problem(p, "section [%s] needs a name: [%.*s NAME]", section, (int)wlen, section);
	} else {
		p->kind = SEC_UNKNOWN;
		problem(p, "unknown section [%s] (known: agent, web, trust, identity NAME, account NAME)", section);
	}
	if (once != NULL) {
		if (*once)
			problem(p, "section [%s] appears twice", section);
		*once = true;
	}
}

/* Every keyword kyso sets: the verdict keywords in enum smime_verdict
 * order, then the attachment keywords (conf.h); their keys are
 * agent_keys[KEYWORD_KEY0 + i], their defaults these. */
#define N_KEYWORDS 11
#define KEYWORD_KEY0 2
static const char *const default_keywords[N_KEYWORDS] = {
	"KySo_HopLe", "KySo_MotPhan", "KySo_KhongHopLe", "KySo_ChuaXacDinh",
	"KySo_KhongKy", "KySo_MaHoa", "KySo_LoiDinhDang",
	"KySo_TepHopLe", "KySo_TepMotPhan", "KySo_TepKhongHopLe", "KySo_TepChuaXacDinh",
};

/* The i-th keyword's field in c (i < N_KEYWORDS). */
static char **
keyword_slot(struct conf *c, size_t i)
{
	if (i < 7)
		return &c->agent.keywords[i];
	return &c->agent.attachment_keywords[i - 7];
}

#define KEYWORD_MAX 64

/* An IMAP keyword is an atom (RFC 3501 9): printable ASCII without
 * atom-specials ( ) { SP % * " \ ] and, being a keyword rather than a
 * system flag, not starting with a backslash. */
static bool
keyword_ok(const char *k, char *msg, size_t msgsize)
{
	size_t len = strlen(k);

	if (len == 0 || len > KEYWORD_MAX) {
		snprintf(msg, msgsize, "must be 1 to %d characters long", KEYWORD_MAX);
		return false;
	}
	for (const unsigned char *c = (const unsigned char *)k; *c != '\0'; c++) {
		if (*c <= 0x20 || *c >= 0x7f || strchr("(){%*\"\\]", *c) != NULL) {
			snprintf(msg, msgsize, "is not an IMAP atom: use ASCII letters, digits, _ - . $ "
			    "(no spaces, no ( ) { %% * \" \\ ], no accents)");
			return false;
		}
	}
	return true;
}

/* A whole number of seconds in [min, max]. */
static bool
parse_seconds(struct parser *p, const char *name, const char *value, unsigned min, unsigned max,
    unsigned *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || n < min || n > max) {
		problem(p, "%s must be a number of seconds from %u to %u, not '%s'", name, min, max, value);
		return false;
	}
	*out = (unsigned)n;
	return true;
}

static bool
set_special(struct parser *p, const char *name, const char *value)
{
	char msg[256];

	switch (p->kind) {
	case SEC_AGENT:
		if (strcmp(name, "log_level") == 0) {
			if (!log_level_parse(value, &p->conf->agent.log_level))
				problem(p, "log_level must be debug, info, warn or error, not '%s'", value);
		} else if (strcmp(name, "idle") == 0) {
			/* RFC 2177: servers may end IDLE after 30 minutes. */
			parse_seconds(p, name, value, 10, 1740, &p->conf->agent.idle_s);
		} else if (strcmp(name, "poll") == 0) {
			parse_seconds(p, name, value, 1, 3600, &p->conf->agent.poll_s);
		} else if (strncmp(name, "keyword_", 8) == 0) {
			for (size_t i = 0; i < N_KEYWORDS; i++) {
				char **slot = keyword_slot(p->conf, i);

				if (strcmp(agent_keys[KEYWORD_KEY0 + i].name, name) != 0)
					continue;
				if (!keyword_ok(value, msg, sizeof(msg))) {
					problem(p, "%s '%s' %s", name, value, msg);
				} else {
					free(*slot);
					*slot = xstrdup(value);
				}
			}
		}
		return true;
	case SEC_TRUST: {                                        /* revocation */
		enum conf_revocation *r = &p->conf->trust.revocation;

		if (strcmp(value, "off") == 0)
			*r = CONF_REVOCATION_OFF;
		else if (strcmp(value, "prefer") == 0)
			*r = CONF_REVOCATION_PREFER;
		else if (strcmp(value, "require") == 0)
			*r = CONF_REVOCATION_REQUIRE;
		else
			problem(p, "revocation must be off, prefer or require, not '%s'", value);
		return true;
	}
	case SEC_IDENTITY: {
		struct conf_identity *id = p->obj;

		if (strcmp(name, "key") == 0) {
			free(id->key);
			if (strncmp(value, "pkcs11:", 7) == 0)
				id->key = xstrdup(value);
			else
				id->key = make_path(p, value);
		} else if (strcmp(name, "gpgsm") == 0) {
			size_t len = strlen(value);

			if ((len != 40 && len != 64) || strspn(value, "0123456789abcdefABCDEF") != len)
				problem(p, "gpgsm must be a certificate fingerprint (40 hex digits), not '%s'", value);
			free(id->gpgsm);
			id->gpgsm = xstrdup(value);
		} else if (strcmp(name, "digest") == 0) {
			if (strcmp(value, "sha256") != 0 && strcmp(value, "sha384") != 0 &&
			    strcmp(value, "sha512") != 0)
				problem(p, "digest must be sha256, sha384 or sha512, not '%s'", value);
			free(id->digest);
			id->digest = xstrdup(value);
		} else if (strcmp(name, "mode") == 0) {
			if (strcmp(value, "detached") == 0)
				id->mode = CONF_MODE_DETACHED;
			else if (strcmp(value, "opaque") == 0)
				id->mode = CONF_MODE_OPAQUE;
			else
				problem(p, "mode must be detached or opaque, not '%s'", value);
		}
		return true;
	}
	case SEC_ACCOUNT: {
		struct conf_account *a = p->obj;

		if (strcmp(name, "imap") == 0 || strcmp(name, "smtp") == 0) {
			struct conf_endpoint *ep = name[0] == 'i' ? &a->imap : &a->smtp;

			if (!conf_parse_endpoint(name, value, ep, msg, sizeof(msg)))
				problem(p, "%s: %s", name, msg);
		} else if (strcmp(name, "backlog") == 0) {
			if (strcmp(value, "all") == 0)
				a->backlog = CONF_BACKLOG_ALL;
			else if (strcmp(value, "new") == 0)
				a->backlog = CONF_BACKLOG_NEW;
			else
				problem(p, "backlog must be all or new, not '%s'", value);
		}
		return true;
	}
	default:
		return false;
	}
}

static int
on_value(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct key_def *k;
	char *field;

	if (p->line_too_long || name == NULL)
		return 1;           /* already reported / an empty section */
	if (p->kind == SEC_NONE) {
		problem(p, "'%s' is outside any section: put it under [agent], [web], [trust], "
		    "[identity NAME] or [account NAME]", name);
		return 1;
	}
	if (p->kind == SEC_UNKNOWN)
		return 1;
	for (k = p->keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			break;
	if (k->name == NULL) {
		if (strstr(name, "password") != NULL || strcmp(name, "pin") == 0)
			problem(p, "'%s': secrets do not belong in the configuration file; "
			    "put them in a file of mode 600 and name it with password_file, pass_file or pin_file",
			    name);
		else
			problem(p, "unknown key '%s' in [%s]", name, p->section);
		return 1;
	}
	for (size_t i = 0; i < p->seen.n; i++) {
		if (p->seen.names[i] == k->name) {
			problem(p, "'%s' is set twice in [%s]", name, p->section);
			return 1;
		}
	}
	if (p->seen.n < sizeof(p->seen.names) / sizeof(p->seen.names[0]))
		p->seen.names[p->seen.n++] = k->name;

	field = (char *)p->obj + k->offset;
	switch (k->kind) {
	case V_STRING:
	case V_PATH:
	case V_ADDR:
		if (value[0] == '\0') {
			problem(p, "'%s' is empty", name);
			break;
		}
		free(*(char **)field);
		*(char **)field = k->kind == V_PATH ? make_path(p, value) : xstrdup(value);
		if (k->kind == V_ADDR) {
			lower_ascii(*(char **)field);
			if (!address_ok(*(char **)field))
				problem(p, "'%s' is not a mail address", value);
		}
		break;
	case V_BOOL:
		if (!parse_bool(value, (bool *)field))
			problem(p, "'%s' must be yes or no, not '%s'", name, value);
		break;
	case V_LIST:
	case V_ADDRLIST:
		split_list(p, value, (struct conf_list *)field, k->kind == V_ADDRLIST);
		break;
	case V_SPECIAL:
		set_special(p, name, value);
		break;
	}
	return 1;
}

/* inih's reader: one line per call, so p->line is the line being handled. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	size_t len;

	if (fgets(str, num, p->fp) == NULL)
		return NULL;
	p->line++;
	p->line_too_long = false;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(p->fp)) {
		int ch;

		problem(p, "line is longer than %d bytes", num - 2);
		while ((ch = fgetc(p->fp)) != EOF && ch != '\n')
			;
		p->line_too_long = true;
		str[0] = '\0';      /* inih sees an empty line */
	}
	/* Sections start here rather than in on_value, so that an empty or
	 * repeated section is still seen, at the line of its header. */
	{
		const char *b = str + strspn(str, " \t");

		if (*b == '[' && !p->line_too_long) {
			size_t n = strcspn(b + 1, "]");

			if (b[1 + n] == ']') {
				char *name = xstrndup(b + 1, n);

				start_section(p, name);
				free(name);
			}
		}
	}
	return str;
}

/* --- checks after parsing --- */

static void check_file(struct parser *p, unsigned line, const char *what, const char *path, bool secret);

static void
check_file(struct parser *p, unsigned line, const char *what, const char *path, bool secret)
{
	struct stat st;

	if (path == NULL)
		return;
	if (stat(path, &st) != 0) {
		problem_at(p, line, "%s %s: %s", what, path, strerror(errno));
		return;
	}
	if (access(path, R_OK) != 0) {
		problem_at(p, line, "%s %s is not readable: %s", what, path, strerror(errno));
		return;
	}
	if (secret && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
		problem_at(p, line, "%s %s is readable or writable by others (mode %03o); run chmod 600 %s",
		    what, path, (unsigned)(st.st_mode & 0777), path);
}

static void
check_identity(struct parser *p, struct conf_identity *id)
{
	int sources = (id->p12 != NULL) + (id->cert != NULL || id->key != NULL) + (id->gpgsm != NULL);

	if (id->addresses.n == 0)
		problem_at(p, id->line, "identity '%s' has no addresses", id->name);
	if (sources == 0) {
		problem_at(p, id->line, "identity '%s' has no key: set p12, cert + key, or gpgsm", id->name);
		return;
	}
	if (sources > 1) {
		problem_at(p, id->line, "identity '%s' has more than one key source (p12, cert/key, gpgsm): keep one",
		    id->name);
		return;
	}
	if (id->p12 != NULL) {
		id->source = CONF_KEY_P12;
		check_file(p, id->line, "p12", id->p12, true);
		if (id->pass_file == NULL)
			problem_at(p, id->line, "identity '%s': p12 needs pass_file", id->name);
		check_file(p, id->line, "pass_file", id->pass_file, true);
	} else if (id->gpgsm != NULL) {
		id->source = CONF_KEY_GPGSM;
		check_file(p, id->line, "gnupghome", id->gnupghome, false);
	} else {
		if (id->cert == NULL || id->key == NULL) {
			problem_at(p, id->line, "identity '%s': cert and key go together", id->name);
			return;
		}
		check_file(p, id->line, "cert", id->cert, false);
		if (strncmp(id->key, "pkcs11:", 7) == 0) {
			id->source = CONF_KEY_PKCS11;
			if (id->pin_file == NULL)
				problem_at(p, id->line, "identity '%s': a pkcs11: key needs pin_file", id->name);
		} else {
			id->source = CONF_KEY_PEM;
			check_file(p, id->line, "key", id->key, true);
		}
		check_file(p, id->line, "pin_file", id->pin_file, true);
		check_file(p, id->line, "chain", id->chain, false);
	}
	if (id->pass_file != NULL && id->source != CONF_KEY_P12)
		problem_at(p, id->line, "identity '%s': pass_file goes with p12 (use pin_file for keys)", id->name);
}

static void
check_account(struct parser *p, struct conf_account *a)
{
	if (a->address == NULL)
		problem_at(p, a->line, "account '%s' has no address", a->name);
	if (a->imap.host == NULL)
		problem_at(p, a->line, "account '%s' has no imap server", a->name);
	if (a->smtp.host == NULL)
		problem_at(p, a->line, "account '%s' has no smtp server", a->name);
	if (a->password_file == NULL)
		problem_at(p, a->line, "account '%s' has no password_file", a->name);
	check_file(p, a->line, "password_file", a->password_file, true);
	check_file(p, a->line, "tls_ca", a->tls_ca, false);
	if (a->username == NULL && a->address != NULL)
		a->username = xstrdup(a->address);
	for (size_t i = 0; i < p->conf->n_accounts && &p->conf->accounts[i] != a; i++) {
		const char *other = p->conf->accounts[i].address;

		if (other != NULL && a->address != NULL && strcmp(other, a->address) == 0)
			problem_at(p, a->line, "address %s is already used by account '%s'",
			    a->address, p->conf->accounts[i].name);
	}
}

static void
check_conf(struct parser *p)
{
	struct conf *c = p->conf;

	if (c->agent.state_dir == NULL)
		c->agent.state_dir = xstrdup("/var/lib/kyso");
	if (c->web.listen == NULL)
		c->web.listen = xstrdup("127.0.0.1:8080");
	if (c->web.templates == NULL)
		c->web.templates = xstrdup(KYSO_PKGDATADIR "/templates");
	for (size_t i = 0; i < N_KEYWORDS; i++) {
		char **ki = keyword_slot(c, i);

		if (*ki == NULL)
			*ki = xstrdup(default_keywords[i]);
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(*ki, *keyword_slot(c, j)) == 0)
				problem_at(p, 1, "[agent] %s and %s are both '%s': each verdict needs its own keyword",
				    agent_keys[KEYWORD_KEY0 + j].name, agent_keys[KEYWORD_KEY0 + i].name, *ki);
	}
	if ((c->web.tls_cert == NULL) != (c->web.tls_key == NULL))
		problem_at(p, 1, "[web] tls_cert and tls_key go together");
	check_file(p, 1, "[web] tls_cert", c->web.tls_cert, false);
	check_file(p, 1, "[web] tls_key", c->web.tls_key, true);
	if (c->trust.anchors == NULL && c->n_identities + c->n_accounts > 0)
		problem_at(p, p->line ? p->line : 1, "[trust] anchors is required: the CA certificates kyso trusts");
	check_file(p, 1, "[trust] anchors", c->trust.anchors, false);
	check_file(p, 1, "[trust] intermediates", c->trust.intermediates, false);
	check_file(p, 1, "[trust] crls", c->trust.crls, false);
	for (size_t i = 0; i < c->n_identities; i++)
		check_identity(p, &c->identities[i]);
	for (size_t i = 0; i < c->n_accounts; i++)
		check_account(p, &c->accounts[i]);
}

static struct conf *
load_fp(FILE *fp, const char *path, struct conf_report *report)
{
	struct parser p = { .path = path, .report = report, .fp = fp };
	struct conf *c = xcalloc(1, sizeof(*c));
	const char *slash;
	int rc;

	c->path = xstrdup(path);
	c->agent.log_level = LOG_LEVEL_INFO;
	c->trust.revocation = CONF_REVOCATION_PREFER;
	c->agent.idle_s = 1500;
	c->agent.poll_s = 30;
	c->web.enabled = true;
	p.conf = c;
	slash = strrchr(path, '/');
	p.dir = slash ? xstrndup(path, (size_t)(slash - path + (slash == path))) : NULL;
	if (fp == NULL) {
		problem_at(&p, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	rc = ini_parse_stream(read_line, &p, on_value, &p);
	if (rc > 0 && !p.line_too_long)
		problem_at(&p, (unsigned)rc, "syntax error: expected [section] or key = value");
	else if (rc < 0)
		problem_at(&p, p.line, "cannot parse: %s", rc == -2 ? "out of memory" : "read error");
	if (ferror(fp))
		problem_at(&p, p.line, "read error: %s", strerror(errno));
	check_conf(&p);
out:
	free(p.dir);
	if (p.problems > 0)
		conf_free(&c);
	return c;
}

struct conf *
conf_load(const char *path, struct conf_report *report)
{
	FILE *fp = fopen(path, "re");
	struct conf *c = load_fp(fp, path, report);

	if (fp != NULL)
		fclose(fp);
	return c;
}

struct conf *
conf_load_mem(const char *name, const char *text, size_t len, struct conf_report *report)
{
	FILE *fp = len > 0 ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");
	struct conf *c = load_fp(fp, name, report);

	if (fp != NULL)
		fclose(fp);
	return c;
}

static void
identity_free(struct conf_identity *id)
{
	free(id->name);
	list_free(&id->addresses);
	free(id->p12);
	free(id->pass_file);
	free(id->cert);
	free(id->key);
	free(id->chain);
	free(id->pin_file);
	free(id->gpgsm);
	free(id->gnupghome);
	free(id->digest);
}

static void
account_free(struct conf_account *a)
{
	free(a->name);
	free(a->address);
	free(a->imap.host);
	free(a->smtp.host);
	free(a->username);
	free(a->password_file);
	free(a->tls_ca);
	free(a->outbox);
	free(a->failed);
	free(a->sent);
	list_free(&a->verify_folders);
}

void
conf_free(struct conf **cp)
{
	struct conf *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	free(c->path);
	free(c->agent.state_dir);
	for (size_t i = 0; i < N_KEYWORDS; i++)
		free(*keyword_slot(c, i));
	free(c->web.listen);
	free(c->web.templates);
	free(c->web.tls_cert);
	free(c->web.tls_key);
	list_free(&c->web.admins);
	free(c->trust.anchors);
	free(c->trust.intermediates);
	free(c->trust.crls);
	for (size_t i = 0; i < c->n_identities; i++)
		identity_free(&c->identities[i]);
	free(c->identities);
	for (size_t i = 0; i < c->n_accounts; i++)
		account_free(&c->accounts[i]);
	free(c->accounts);
	free(c);
	*cp = NULL;
}

const struct conf_identity *
conf_identity_for(const struct conf *c, const char *addr)
{
	for (size_t i = 0; i < c->n_identities; i++)
		for (size_t j = 0; j < c->identities[i].addresses.n; j++)
			if (strcasecmp(c->identities[i].addresses.items[j], addr) == 0)
				return &c->identities[i];
	return NULL;
}

char *
conf_read_secret(const char *path, struct kerr *err)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	char *s = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		kerr_set(err, KERR_CONFIG, "cannot open secret file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kerr_set(err, KERR_CONFIG, "secret file %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		kerr_set(err, KERR_CONFIG, "secret file %s is readable or writable by others (mode %03o)",
		    path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kerr_set(err, KERR_CONFIG, "cannot read secret file %s: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	len = strcspn(buf, "\r\n");
	if (len == 0) {
		kerr_set(err, KERR_CONFIG, "secret file %s is empty", path);
		goto out;
	}
	s = xstrndup(buf, len);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return s;
}

void
conf_secret_free(char **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	OPENSSL_cleanse(*sp, strlen(*sp));
	free(*sp);
	*sp = NULL;
}
