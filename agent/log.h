/*
 * log.h - kyso's one logging module: key=value lines, printf-checked.
 *
 *   log_info("acct=%s msgid=%s step=submit result=ok rcpts=%d", acct, id, n);
 *
 * Each line is "<UTC time> <level> <message>" written with one write(2), so
 * lines from threads never interleave.  Control characters anywhere in the
 * message are written as \xNN: a Message-ID or subject carrying a newline
 * cannot forge a log line.  Quote a value that may hold spaces with
 * log_quote().  Never pass passwords, keys or whole messages: log digests and ids.
 */
#ifndef KYSO_AGENT_LOG_H
#define KYSO_AGENT_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "smime/base.h"

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_target {
	LOG_TARGET_STDERR = 0,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_FD,      /* tests: write to a given file descriptor */
};

/* Configure before starting threads.  fd is used only with LOG_TARGET_FD. */
void log_setup(enum log_level min, enum log_target target, int fd);
enum log_level log_get_level(void);

/* "debug", "info", "warn"/"warning", "error" -> level; false if unknown. */
bool log_level_parse(const char *s, enum log_level *level_r);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) KYSO_PRINTF(2, 3);
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Write s into dst as a double-quoted value ("a \"b\" c"), truncated to fit
 * dst (at most n bytes with the NUL; n >= 8).  Returns dst. */
const char *log_quote(char *dst, size_t n, const char *s);

#endif
