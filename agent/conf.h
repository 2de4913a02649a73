/*
 * conf.h - kyso.conf(5): one INI file, parsed by inih, checked as a whole.
 *
 *   struct conf_report rep = CONF_REPORT_INIT;
 *   struct conf *c = conf_load("/etc/kyso/kyso.conf", &rep);
 *   if (c == NULL) { for each rep.lines[i]: print "file:line: message"; }
 *
 * conf_load() reports every problem it finds, not just the first: unknown
 * sections and keys, repeated keys, bad values, missing required keys,
 * unreadable files, password files readable by others, identities without a
 * usable key.  A loaded conf is immutable: pass it (borrowed) to whoever needs it.
 * Relative paths are taken relative to the configuration file's folder.
 * Passwords never appear in the file itself: only paths to files holding them.
 */
#ifndef KYSO_AGENT_CONF_H
#define KYSO_AGENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/log.h"

enum conf_tls {
	CONF_TLS_IMPLICIT,  /* imaps://, smtps:// */
	CONF_TLS_STARTTLS,  /* imap://, smtp://: STARTTLS is required, never plain text */
};

struct conf_endpoint {
	char *host;         /* owned */
	uint16_t port;
	enum conf_tls tls;
};

enum conf_revocation { CONF_REVOCATION_OFF, CONF_REVOCATION_PREFER, CONF_REVOCATION_REQUIRE };
enum conf_mode { CONF_MODE_DETACHED, CONF_MODE_OPAQUE };
enum conf_backlog { CONF_BACKLOG_ALL, CONF_BACKLOG_NEW };
enum conf_keysource { CONF_KEY_NONE, CONF_KEY_P12, CONF_KEY_PEM, CONF_KEY_PKCS11, CONF_KEY_GPGSM };

struct conf_list {
	char **items;       /* owned, each owned */
	size_t n;
};

struct conf_identity {
	char *name;                 /* owned: the NAME of [identity NAME] */
	unsigned line;              /* where the section starts */
	struct conf_list addresses; /* lower-cased */
	enum conf_keysource source;
	char *p12, *pass_file;      /* owned, CONF_KEY_P12 */
	char *cert, *key, *chain;   /* owned; key is a path or a pkcs11: URI */
	char *pin_file;             /* owned, PEM key passphrase or token PIN */
	char *gpgsm, *gnupghome;    /* owned, CONF_KEY_GPGSM: fingerprint, folder */
	bool organisation;
	char *digest;               /* owned: sha256 (default), sha384, sha512 */
	enum conf_mode mode;
};

struct conf_account {
	char *name;                 /* owned */
	unsigned line;
	char *address;              /* owned, lower-cased */
	struct conf_endpoint imap, smtp;
	char *username;             /* owned; defaults to address */
	char *password_file;        /* owned */
	char *tls_ca;               /* owned; NULL: the system's store */
	bool tls_verify;            /* default true; false is loud in the log */
	char *outbox, *failed;      /* owned, UTF-8 folder names */
	char *sent;                 /* owned; NULL: the SPECIAL-USE \Sent folder */
	bool verify_inbox;
	struct conf_list verify_folders;
	enum conf_backlog backlog;
};

struct conf {
	char *path;                 /* owned */
	struct {
		char *state_dir;    /* owned */
		enum log_level log_level;
		/* IMAP keyword per verdict, indexed by enum smime_verdict
		 * (valid, partial, invalid, indeterminate, unsigned, encrypted,
		 * malformed); keys keyword_valid = ... etc., owned, defaults
		 * KySo_HopLe, KySo_MotPhan, KySo_KhongHopLe, KySo_ChuaXacDinh,
		 * KySo_KhongKy, KySo_MaHoa, KySo_LoiDinhDang. */
		char *keywords[7];
		/* IMAP keyword for the attachments' combined verdict, set beside
		 * the one above when an attachment is signed; indexed by enum
		 * smime_verdict's first four (valid, partial, invalid,
		 * indeterminate); keys keyword_attachment_valid = ... etc.,
		 * owned, defaults KySo_TepHopLe, KySo_TepMotPhan,
		 * KySo_TepKhongHopLe, KySo_TepChuaXacDinh. */
		char *attachment_keywords[4];
		unsigned idle_s;    /* idle = seconds before IDLE is re-issued (default 1500) */
		unsigned poll_s;    /* poll = seconds between polls without IDLE (default 30) */
	} agent;
	struct {
		char *listen;       /* owned, host:port */
		char *tls_cert, *tls_key; /* owned, NULL for plain HTTP on loopback */
		struct conf_list admins;
		char *templates;    /* owned; default: $(pkgdatadir)/templates */
		bool enabled;       /* enabled = yes|no (default yes) */
	} web;
	struct {
		char *anchors, *intermediates, *crls; /* owned, file or folder */
		enum conf_revocation revocation;
	} trust;
	struct conf_identity *identities; /* owned array */
	size_t n_identities;
	struct conf_account *accounts;    /* owned array */
	size_t n_accounts;
};

struct conf_report {
	char **lines;   /* owned: "file:line: message" */
	size_t n;
};
#define CONF_REPORT_INIT { NULL, 0 }

/* Parse and check path.  Returns the configuration (caller owns), or NULL
 * when any problem was found; every problem is appended to report. */
struct conf *conf_load(const char *path, struct conf_report *report);
/* The same, from text in memory (tests, fuzzing); name stands for the path. */
struct conf *conf_load_mem(const char *name, const char *text, size_t len, struct conf_report *report);
void conf_free(struct conf **cp);
void conf_report_free(struct conf_report *report);

/* Parse "imaps://host:port" etc.  kind is "imap" or "smtp".  false + msg on error. */
bool conf_parse_endpoint(const char *kind, const char *url, struct conf_endpoint *ep_r,
    char *msg, size_t msgsize);

/* Read a secret (password, PIN) from a file: the first line, without its line
 * end.  Refuses files readable or writable by group/others.  Caller owns the
 * result and should wipe it (conf_secret_free) when done. */
char *conf_read_secret(const char *path, struct kerr *err);
void conf_secret_free(char **sp);

/* The identity whose addresses hold addr (case-insensitive), or NULL. Borrowed. */
const struct conf_identity *conf_identity_for(const struct conf *c, const char *addr);

#endif
