/*
 * session.c - the web view's sessions (in memory, behind a mutex), login
 * throttling, random tokens, and the small parsers of what a browser sends:
 * cookies, form bodies, the language choice and the origin of a POST.
 * Everything here takes hostile input: bounded, never trusting a length.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/random.h>

#include "webui/webui-private.h"

bool
webui_token(char out[WEBUI_TOKEN_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[WEBUI_TOKEN_HEX / 2];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[WEBUI_TOKEN_HEX] = '\0';
	explicit_bzero(r, sizeof(r));
	return true;
}

bool
webui_ct_equal(const char *a, const char *b)
{
	size_t la, lb;
	unsigned char d = 0;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return false;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool
webui_token_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= WEBUI_TOKEN_HEX || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == WEBUI_TOKEN_HEX;
}

/* --- sessions: a hash table of fixed buckets, chained --- */

#define SESSION_BUCKETS 1024

struct session {
	struct webui_session_info info;
	time_t last;
	struct session *next;
};

struct webui_sessions {
	pthread_mutex_t mu;
	unsigned idle_s;
	size_t max, n;
	struct session *b[SESSION_BUCKETS];
};

static unsigned
bucket_of(const char *id)
{
	/* ids are random: their first hex digits spread evenly */
	unsigned h = 0;

	for (int i = 0; i < 3 && id[i] != '\0'; i++)
		h = h * 16 + (unsigned)(isdigit((unsigned char)id[i]) ? id[i] - '0' : (id[i] | 0x20) - 'a' + 10);
	return h % SESSION_BUCKETS;
}

struct webui_sessions *
webui_sessions_new(unsigned idle_s, size_t max)
{
	struct webui_sessions *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	s->idle_s = idle_s != 0 ? idle_s : 1800;
	s->max = max != 0 ? max : 10000;
	return s;
}

static void
session_wipe_free(struct session *se)
{
	explicit_bzero(se, sizeof(*se));
	free(se);
}

void
webui_sessions_free(struct webui_sessions **sp)
{
	struct webui_sessions *s = sp != NULL ? *sp : NULL;

	if (s == NULL)
		return;
	for (size_t i = 0; i < SESSION_BUCKETS; i++) {
		while (s->b[i] != NULL) {
			struct session *se = s->b[i];

			s->b[i] = se->next;
			session_wipe_free(se);
		}
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

/* Drop expired sessions; when still full, the least recently used.  Locked. */
static void
sessions_prune(struct webui_sessions *s, time_t now)
{
	struct session **oldest = NULL;

	for (size_t i = 0; i < SESSION_BUCKETS; i++) {
		for (struct session **pp = &s->b[i]; *pp != NULL;) {
			if (now - (*pp)->last >= (time_t)s->idle_s) {
				struct session *dead = *pp;

				*pp = dead->next;
				session_wipe_free(dead);
				s->n--;
				continue;
			}
			if (oldest == NULL || (*pp)->last < (*oldest)->last)
				oldest = pp;
			pp = &(*pp)->next;
		}
	}
	if (s->n >= s->max && oldest != NULL) {
		struct session *dead = *oldest;

		*oldest = dead->next;
		session_wipe_free(dead);
		s->n--;
	}
}

bool
webui_session_create(struct webui_sessions *s, const char *address, const char *account,
    bool admin, time_t now, struct webui_session_info *info_r)
{
	struct session *se = xcalloc(1, sizeof(*se));
	unsigned b;

	if (!webui_token(se->info.id) || !webui_token(se->info.csrf)) {
		session_wipe_free(se);
		return false;
	}
	snprintf(se->info.address, sizeof(se->info.address), "%s", address);
	snprintf(se->info.account, sizeof(se->info.account), "%s", account != NULL ? account : "");
	se->info.admin = admin;
	se->last = now;
	b = bucket_of(se->info.id);
	pthread_mutex_lock(&s->mu);
	if (s->n >= s->max)
		sessions_prune(s, now);
	se->next = s->b[b];
	s->b[b] = se;
	s->n++;
	*info_r = se->info;
	pthread_mutex_unlock(&s->mu);
	return true;
}

bool
webui_session_lookup(struct webui_sessions *s, const char *id, time_t now,
    struct webui_session_info *info_r)
{
	bool found = false;
	struct session **pp;

	if (!webui_token_valid(id))
		return false;
	pthread_mutex_lock(&s->mu);
	for (pp = &s->b[bucket_of(id)]; *pp != NULL; pp = &(*pp)->next) {
		if (webui_ct_equal((*pp)->info.id, id))
			break;
	}
	if (*pp != NULL) {
		if (now - (*pp)->last >= (time_t)s->idle_s) {
			struct session *dead = *pp;

			*pp = dead->next;
			session_wipe_free(dead);
			s->n--;
		} else {
			(*pp)->last = now;
			*info_r = (*pp)->info;
			found = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

void
webui_session_destroy(struct webui_sessions *s, const char *id)
{
	if (!webui_token_valid(id))
		return;
	pthread_mutex_lock(&s->mu);
	for (struct session **pp = &s->b[bucket_of(id)]; *pp != NULL; pp = &(*pp)->next) {
		if (webui_ct_equal((*pp)->info.id, id)) {
			struct session *dead = *pp;

			*pp = dead->next;
			session_wipe_free(dead);
			s->n--;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

size_t
webui_session_count(struct webui_sessions *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* --- throttling: failures per key in a sliding window, bounded table --- */

#define THROTTLE_SLOTS 4096
#define THROTTLE_KEY 300
#define THROTTLE_RING 32

struct throttle_slot {
	char key[THROTTLE_KEY];
	unsigned n;             /* failures recorded in times[] */
	time_t times[THROTTLE_RING];  /* the most recent failures (ring) */
	time_t last;
};

struct webui_throttle {
	pthread_mutex_t mu;
	unsigned max, window;
	struct throttle_slot *slots;    /* owned, THROTTLE_SLOTS */
};

struct webui_throttle *
webui_throttle_new(unsigned max_failures, unsigned window_s)
{
	struct webui_throttle *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->mu, NULL);
	t->max = max_failures == 0 ? 1 : max_failures > THROTTLE_RING ? THROTTLE_RING : max_failures;
	t->window = window_s;
	t->slots = xcalloc(THROTTLE_SLOTS, sizeof(*t->slots));
	return t;
}

void
webui_throttle_free(struct webui_throttle **tp)
{
	struct webui_throttle *t = tp != NULL ? *tp : NULL;

	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->slots);
	free(t);
	*tp = NULL;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of key (or NULL when it has none and create is false).  A new key
 * takes a free slot among 8 probes, or the least recently used of them. */
static struct throttle_slot *
throttle_slot(struct webui_throttle *t, const char *key, bool create, time_t now)
{
	uint32_t h = fnv1a(key);
	struct throttle_slot *victim = NULL;

	for (unsigned i = 0; i < 8; i++) {
		struct throttle_slot *sl = &t->slots[(h + i) % THROTTLE_SLOTS];

		if (sl->key[0] != '\0' && strcmp(sl->key, key) == 0)
			return sl;
		/* prefer an empty slot, else the least recently used */
		if (victim == NULL || (victim->key[0] != '\0' &&
		    (sl->key[0] == '\0' || sl->last < victim->last)))
			victim = sl;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	return victim;
}

bool
webui_throttle_allow(struct webui_throttle *t, const char *key, time_t now,
    unsigned *retry_after_r)
{
	struct throttle_slot *sl;
	bool ok = true;

	pthread_mutex_lock(&t->mu);
	sl = throttle_slot(t, key, false, now);
	if (sl != NULL) {
		time_t times[THROTTLE_RING];
		unsigned n = sl->n < THROTTLE_RING ? sl->n : THROTTLE_RING, k = 0;

		/* allowed unless max failures fall within the window: the
		 * wait is until the max-th most recent one leaves it */
		for (unsigned i = 0; i < n; i++)
			if (now - sl->times[i] < (time_t)t->window)
				times[k++] = sl->times[i];
		if (k >= t->max) {
			time_t first;

			/* sort descending, take the max-th newest */
			for (unsigned i = 0; i < k; i++)
				for (unsigned j = i + 1; j < k; j++)
					if (times[j] > times[i]) {
						time_t x = times[i];

						times[i] = times[j];
						times[j] = x;
					}
			first = times[t->max - 1];
			ok = false;
			*retry_after_r = (unsigned)(first + (time_t)t->window - now);
			if (*retry_after_r == 0)
				*retry_after_r = 1;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

void
webui_throttle_fail(struct webui_throttle *t, const char *key, time_t now)
{
	struct throttle_slot *sl;

	pthread_mutex_lock(&t->mu);
	sl = throttle_slot(t, key, true, now);
	sl->times[sl->n % THROTTLE_RING] = now;
	sl->n++;
	if (sl->n >= 2 * THROTTLE_RING)
		sl->n = THROTTLE_RING + sl->n % THROTTLE_RING;
	sl->last = now;
	pthread_mutex_unlock(&t->mu);
}

void
webui_throttle_clear(struct webui_throttle *t, const char *key)
{
	struct throttle_slot *sl;

	pthread_mutex_lock(&t->mu);
	sl = throttle_slot(t, key, false, 0);
	if (sl != NULL)
		memset(sl, 0, sizeof(*sl));
	pthread_mutex_unlock(&t->mu);
}

/* --- cookies, forms, language, origin --- */

bool
webui_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = header;

	if (header == NULL || outsz == 0)
		return false;
	while (*p != '\0') {
		const char *end, *v;
		size_t vl;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			v = p + nl + 1;
			vl = (size_t)(end - v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
				v++;
				vl -= 2;
			}
			if (vl == 0 || vl >= outsz)
				return false;
			for (size_t i = 0; i < vl; i++) {
				unsigned char c = (unsigned char)v[i];

				/* RFC 6265 cookie-octet */
				if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\')
					return false;
			}
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode n bytes of a urlencoded value; NULL when it holds a NUL byte. */
static char *
form_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < n &&
		    hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
			c = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		}
		if (c == '\0') {
			free(out);
			return NULL;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

char *
webui_form_get(const char *body, size_t len, const char *name)
{
	size_t nl = strlen(name);
	size_t i = 0;

	if (body == NULL)
		return NULL;
	while (i < len) {
		size_t start = i, eq, end;

		while (i < len && body[i] != '&')
			i++;
		end = i;
		i++;            /* past '&' */
		for (eq = start; eq < end && body[eq] != '='; eq++)
			;
		if (eq - start == nl && memcmp(body + start, name, nl) == 0)
			return form_decode(body + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0);
	}
	return NULL;
}

const char *
webui_lang_choose(const char *query_lang, const char *cookie_lang)
{
	if (query_lang != NULL && (strcmp(query_lang, "vi") == 0 || strcmp(query_lang, "en") == 0))
		return strcmp(query_lang, "en") == 0 ? "en" : "vi";
	if (cookie_lang != NULL && strcmp(cookie_lang, "en") == 0)
		return "en";
	return "vi";
}

/* The host[:port] of an absolute http(s) URL equals host. */
static bool
url_host_is(const char *url, const char *host)
{
	const char *p;
	size_t hl;

	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return false;
	hl = strcspn(p, "/?#");
	return hl == strlen(host) && strncasecmp(p, host, hl) == 0;
}

bool
webui_origin_ok(const char *origin, const char *sec_fetch_site, const char *referer,
    const char *host)
{
	if (host == NULL || host[0] == '\0')
		return false;
	/* browsers that send it say plainly whether the form was ours */
	if (sec_fetch_site != NULL && strcmp(sec_fetch_site, "same-origin") != 0 &&
	    strcmp(sec_fetch_site, "none") != 0)
		return false;
	/* "null": sent for a page under Referrer-Policy: no-referrer (ours);
	 * the SameSite=Strict cookie and the CSRF token decide then */
	if (origin != NULL && strcmp(origin, "null") != 0)
		return url_host_is(origin, host);
	if (referer != NULL)
		return url_host_is(referer, host);
	return true;
}

bool
webui_host_is_local(const char *host)
{
	char name[256];
	size_t n;
	struct in6_addr a6;
	struct in_addr a4;

	if (host == NULL)
		return false;
	if (host[0] == '[') {
		const char *rb = strchr(host, ']');

		if (rb == NULL || (size_t)(rb - host - 1) >= sizeof(name))
			return false;
		n = (size_t)(rb - host - 1);
		memcpy(name, host + 1, n);
		name[n] = '\0';
		return inet_pton(AF_INET6, name, &a6) == 1 && (rb[1] == '\0' || rb[1] == ':');
	}
	n = strcspn(host, ":");
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, host, n);
	name[n] = '\0';
	return strcasecmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &a4) == 1;
}
