/* log.c - key=value log lines to stderr, syslog or a descriptor. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"

static enum log_level min_level = LOG_LEVEL_INFO;
static enum log_target target = LOG_TARGET_STDERR;
static int target_fd = 2;

void
log_setup(enum log_level min, enum log_target t, int fd)
{
	min_level = min;
	target = t;
	target_fd = t == LOG_TARGET_FD ? fd : 2;
	if (t == LOG_TARGET_SYSLOG)
		openlog("kyso", LOG_PID, LOG_MAIL);
}

enum log_level
log_get_level(void)
{
	return min_level;
}

bool
log_level_parse(const char *s, enum log_level *level_r)
{
	static const struct { const char *name; enum log_level level; } names[] = {
		{ "debug", LOG_LEVEL_DEBUG }, { "info", LOG_LEVEL_INFO },
		{ "warn", LOG_LEVEL_WARN }, { "warning", LOG_LEVEL_WARN },
		{ "error", LOG_LEVEL_ERROR },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*level_r = names[i].level;
			return true;
		}
	}
	return false;
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG: return "debug";
	case LOG_LEVEL_INFO:  return "info";
	case LOG_LEVEL_WARN:  return "warn";
	case LOG_LEVEL_ERROR: return "error";
	}
	return "info";
}

/* Copy src to dst escaping control bytes as \xNN; returns bytes written. */
static size_t
escape_controls(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		} else {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)*p;
		}
	}
	dst[o] = '\0';
	return o;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[2048], line[4096 + 64];
	struct timespec ts;
	struct tm tm;
	size_t off;
	va_list ap;
	int saved_errno = errno;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);

	if (target == LOG_TARGET_SYSLOG) {
		static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

		escape_controls(line, sizeof(line), raw);
		syslog(prio[level], "%s", line);
		errno = saved_errno;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, log_level_name(level));
	off += escape_controls(line + off, sizeof(line) - off - 1, raw);
	line[off++] = '\n';
	/* One write per line; a short write on a pipe is retried, never split by us. */
	for (size_t done = 0; done < off;) {
		ssize_t n = write(target_fd, line + done, off - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	errno = saved_errno;
}

const char *
log_quote(char *dst, size_t n, const char *s)
{
	size_t o = 0;

	dst[o++] = '"';
	for (; *s != '\0'; s++) {
		size_t need = (*s == '"' || *s == '\\') ? 2 : 1;

		if (o + need + 5 > n) {     /* room for "...\"" + NUL */
			/* Never cut a UTF-8 sequence in half. */
			while (o > 1 && ((unsigned char)dst[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 1 && ((unsigned char)dst[o - 1] & 0xc0) == 0xc0)
				o--;
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 2)
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
