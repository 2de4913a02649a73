/* tmpl.c - see tmpl.h and docs/TEMPLATES.md.
 *
 * A template is parsed once into a tree of nodes (text, variable, section,
 * inverted section, partial); rendering walks the tree with a stack of json-c
 * contexts.  Everything that comes from data is escaped on output; only the
 * template's own text is copied as is.
 *
 * Bounds (so that neither a broken template nor hostile data can hang or
 * crash the web view): a template is at most TMPL_MAX_SIZE bytes, sections
 * nest at most TMPL_MAX_NEST deep in one template, partials at most
 * TMPL_MAX_PARTIALS deep, and one render visits at most TMPL_MAX_STEPS nodes
 * and writes at most TMPL_MAX_OUTPUT bytes. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "webui/tmpl.h"

#define TMPL_MAX_SIZE (1024 * 1024)
#define TMPL_MAX_NEST 64
#define TMPL_MAX_PARTIALS 16
#define TMPL_MAX_STEPS 4000000UL
#define TMPL_MAX_OUTPUT (32UL * 1024 * 1024)
#define TMPL_MAX_NAME 128
/* |time and |date show Vietnam's time (UTC+7, no daylight saving), whatever
 * the server's TZ, like the web view's date filter (webui/pages.c). */
#define TMPL_TZ_OFFSET (7 * 3600)

enum node_kind { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_PARTIAL };
enum filter { F_HTML, F_URL, F_TIME, F_DATE, F_INDEX, F_NUMBER };

/* A name: segments separated by '.'; a segment in brackets, [path], is
 * indirect: its key is the value of path (looked up like any name).  Zero
 * segments is "." (the current context). */
struct seg {
	char *key;              /* owned; NULL when indirect */
	struct path *ind;       /* owned; the path whose value is the key */
};

struct path {
	struct seg *segs;       /* owned */
	size_t n;
};

struct node {
	enum node_kind kind;
	unsigned line;
	const char *text;       /* N_TEXT: borrowed from the template's src */
	size_t len;
	struct path *path;      /* N_VAR, N_SECTION, N_INVERTED: owned */
	enum filter filter;     /* N_VAR */
	char *name;             /* N_PARTIAL: owned; sections: the name as written */
	size_t partial;         /* N_PARTIAL: index of the template in the set, or
	                         * SIZE_MAX while unknown (set_link) */
	struct node *child;     /* sections: owned list */
	struct node *next;      /* owned */
};

struct tmpl {
	char *name;             /* owned */
	char *src;              /* owned: the text the N_TEXT nodes point into */
	struct node *root;      /* owned */
};

struct tmpl_set {
	struct tmpl *t;         /* owned array */
	size_t n;
};

/* ------------------------------------------------------------------ */
/* freeing */

static void path_free(struct path *p);

static void
path_free(struct path *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->segs[i].key);
		path_free(p->segs[i].ind);
	}
	free(p->segs);
	free(p);
}

static void
nodes_free(struct node *n)
{
	/* sections are bounded (TMPL_MAX_NEST), so recursion on child is bounded */
	while (n != NULL) {
		struct node *next = n->next;

		path_free(n->path);
		free(n->name);
		nodes_free(n->child);
		free(n);
		n = next;
	}
}

static void
tmpl_clear(struct tmpl *t)
{
	free(t->name);
	free(t->src);
	nodes_free(t->root);
	memset(t, 0, sizeof(*t));
}

void
tmpl_free(struct tmpl_set **sp)
{
	struct tmpl_set *s;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	for (size_t i = 0; i < s->n; i++)
		tmpl_clear(&s->t[i]);
	free(s->t);
	free(s);
	*sp = NULL;
}

/* ------------------------------------------------------------------ */
/* parsing */

struct parser {
	const char *name;       /* for messages */
	const char *src;
	size_t len;
	size_t pos;
	unsigned line;          /* line of pos */
	struct kerr *err;
};

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-';
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse a name path from s[*i..e); stops at end, ']' or '|' (not consumed).
 * depth bounds nested brackets. */
static struct path *
parse_path(struct parser *ps, unsigned line, const char *s, size_t *i, size_t e, int depth)
{
	struct path *p = xcalloc(1, sizeof(*p));

	if (depth > 4) {
		kerr_set(ps->err, KERR_CONFIG, "%s:%u: names nest too deep", ps->name, line);
		goto fail;
	}
	if (*i < e && s[*i] == '.' && (*i + 1 == e || s[*i + 1] == ']' || s[*i + 1] == '|' ||
	    is_space(s[*i + 1]))) {
		(*i)++;
		return p;       /* "." */
	}
	for (;;) {
		struct seg sg = { NULL, NULL };

		if (*i < e && s[*i] == '[') {
			(*i)++;
			sg.ind = parse_path(ps, line, s, i, e, depth + 1);
			if (sg.ind == NULL)
				goto fail;
			if (*i >= e || s[*i] != ']') {
				path_free(sg.ind);
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: missing ] in a name", ps->name, line);
				goto fail;
			}
			(*i)++;
		} else {
			size_t b = *i;

			while (*i < e && is_name_char(s[*i]))
				(*i)++;
			if (*i == b) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: bad name (allowed: letters, digits, _ - . [ ])",
				    ps->name, line);
				goto fail;
			}
			if (*i - b > TMPL_MAX_NAME) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: name too long", ps->name, line);
				goto fail;
			}
			sg.key = xstrndup(s + b, *i - b);
		}
		p->segs = xreallocarray(p->segs, p->n + 1, sizeof(*p->segs));
		p->segs[p->n++] = sg;
		if (*i < e && s[*i] == '.') {
			(*i)++;
			continue;
		}
		return p;
	}
fail:
	path_free(p);
	return NULL;
}

/* A whole tag's name (and, for variables, filter): s[b..e) trimmed. */
static struct path *
parse_tag_name(struct parser *ps, unsigned line, const char *s, size_t b, size_t e,
    bool allow_filter, enum filter *filter_r)
{
	struct path *p;
	size_t i;

	while (b < e && is_space(s[b]))
		b++;
	while (e > b && is_space(s[e - 1]))
		e--;
	if (b == e) {
		kerr_set(ps->err, KERR_CONFIG, "%s:%u: empty tag", ps->name, line);
		return NULL;
	}
	if (allow_filter && s[b] == '@') {
		/* {{@index}} / {{@number}}: the position in the innermost array section */
		if ((e - b == 6 && memcmp(s + b, "@index", 6) == 0) ||
		    (e - b == 7 && memcmp(s + b, "@number", 7) == 0)) {
			p = xcalloc(1, sizeof(*p));
			*filter_r = s[b + 1] == 'i' ? F_INDEX : F_NUMBER;
			return p;
		}
		kerr_set(ps->err, KERR_CONFIG, "%s:%u: unknown special name (known: @index, @number)",
		    ps->name, line);
		return NULL;
	}
	i = b;
	p = parse_path(ps, line, s, &i, e, 0);
	if (p == NULL)
		return NULL;
	while (i < e && is_space(s[i]))
		i++;
	if (i < e && s[i] == '|') {
		size_t fb;

		if (!allow_filter) {
			kerr_set(ps->err, KERR_CONFIG, "%s:%u: a filter is only allowed on {{name}}", ps->name, line);
			goto fail;
		}
		i++;
		while (i < e && is_space(s[i]))
			i++;
		fb = i;
		while (i < e && is_name_char(s[i]))
			i++;
		if (i != e) {
			kerr_set(ps->err, KERR_CONFIG, "%s:%u: bad filter", ps->name, line);
			goto fail;
		}
		if (i - fb == 3 && memcmp(s + fb, "url", 3) == 0)
			*filter_r = F_URL;
		else if (i - fb == 4 && memcmp(s + fb, "attr", 4) == 0)
			*filter_r = F_HTML;
		else if (i - fb == 4 && memcmp(s + fb, "time", 4) == 0)
			*filter_r = F_TIME;
		else if (i - fb == 4 && memcmp(s + fb, "date", 4) == 0)
			*filter_r = F_DATE;
		else {
			kerr_set(ps->err, KERR_CONFIG, "%s:%u: unknown filter \"%.*s\" (known: url, attr, time, date)",
			    ps->name, line, (int)(i - fb > 32 ? 32 : i - fb), s + fb);
			goto fail;
		}
		return p;
	}
	if (i != e) {
		kerr_set(ps->err, KERR_CONFIG, "%s:%u: bad name (allowed: letters, digits, _ - . [ ])",
		    ps->name, line);
		goto fail;
	}
	return p;
fail:
	path_free(p);
	return NULL;
}

static unsigned
count_lines(const char *s, size_t n)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n')
			k++;
	return k;
}

static struct node *
node_new(enum node_kind kind, unsigned line)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = line;
	return n;
}

/* Parse nodes until the end, or until {{/close}} when close != NULL (the
 * section opened at open_line).  *out gets the list. */
static bool
parse_list(struct parser *ps, const char *close, unsigned open_line, int depth, struct node **out)
{
	struct node *head = NULL, **tail = &head;
	const char *s = ps->src;

	if (depth > TMPL_MAX_NEST) {
		kerr_set(ps->err, KERR_CONFIG, "%s:%u: sections nest deeper than %d", ps->name, open_line,
		    TMPL_MAX_NEST);
		return false;
	}
	for (;;) {
		const char *open = ps->pos < ps->len ? memmem(s + ps->pos, ps->len - ps->pos, "{{", 2) : NULL;
		size_t tb, te, ce;
		unsigned line;
		char sigil;
		struct node *n;

		if (open == NULL) {
			if (ps->pos < ps->len) {
				n = node_new(N_TEXT, ps->line);
				n->text = s + ps->pos;
				n->len = ps->len - ps->pos;
				*tail = n;
				tail = &n->next;
				ps->line += count_lines(n->text, n->len);
				ps->pos = ps->len;
			}
			if (close != NULL) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: unclosed section {{#%s}} (end of file at line %u)",
				    ps->name, open_line, close, ps->line);
				goto fail;
			}
			*out = head;
			return true;
		}
		tb = (size_t)(open - s);
		if (tb > ps->pos) {
			n = node_new(N_TEXT, ps->line);
			n->text = s + ps->pos;
			n->len = tb - ps->pos;
			*tail = n;
			tail = &n->next;
			ps->line += count_lines(n->text, n->len);
		}
		line = ps->line;
		tb += 2;
		{
			const char *c = tb < ps->len ? memmem(s + tb, ps->len - tb, "}}", 2) : NULL;

			if (c == NULL) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: unclosed tag {{", ps->name, line);
				goto fail;
			}
			te = (size_t)(c - s);
			ce = te + 2;
		}
		sigil = tb < te ? s[tb] : '\0';
		if (sigil == '!') {
			/* comment */
		} else if (sigil == '{' || sigil == '&') {
			kerr_set(ps->err, KERR_CONFIG, "%s:%u: {{%c is not supported: every value is escaped",
			    ps->name, line, sigil);
			goto fail;
		} else if (sigil == '=') {
			kerr_set(ps->err, KERR_CONFIG, "%s:%u: changing delimiters ({{=) is not supported",
			    ps->name, line);
			goto fail;
		} else if (sigil == '#' || sigil == '^') {
			enum filter f = F_HTML;
			struct path *p = parse_tag_name(ps, line, s, tb + 1, te, false, &f);
			char *nm;
			size_t b = tb + 1, e = te;

			if (p == NULL)
				goto fail;
			while (b < e && is_space(s[b]))
				b++;
			while (e > b && is_space(s[e - 1]))
				e--;
			nm = xstrndup(s + b, e - b);
			n = node_new(sigil == '#' ? N_SECTION : N_INVERTED, line);
			n->path = p;
			n->name = nm;
			*tail = n;
			tail = &n->next;
			ps->line += count_lines(s + tb, ce - tb);
			ps->pos = ce;
			if (!parse_list(ps, nm, line, depth + 1, &n->child))
				goto fail;
			continue;
		} else if (sigil == '/') {
			size_t b = tb + 1, e = te;

			while (b < e && is_space(s[b]))
				b++;
			while (e > b && is_space(s[e - 1]))
				e--;
			if (close == NULL) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: {{/%.*s}} closes no open section", ps->name, line,
				    (int)(e - b > 64 ? 64 : e - b), s + b);
				goto fail;
			}
			if (strlen(close) != e - b || memcmp(close, s + b, e - b) != 0) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: {{/%.*s}} does not match {{#%s}} opened at line %u",
				    ps->name, line, (int)(e - b > 64 ? 64 : e - b), s + b, close, open_line);
				goto fail;
			}
			ps->line += count_lines(s + tb, ce - tb);
			ps->pos = ce;
			*out = head;
			return true;
		} else if (sigil == '>') {
			size_t b = tb + 1, e = te;

			while (b < e && is_space(s[b]))
				b++;
			while (e > b && is_space(s[e - 1]))
				e--;
			if (b == e || e - b > TMPL_MAX_NAME) {
				kerr_set(ps->err, KERR_CONFIG, "%s:%u: bad partial name", ps->name, line);
				goto fail;
			}
			for (size_t k = b; k < e; k++)
				if (!is_name_char(s[k]) && s[k] != '.') {
					kerr_set(ps->err, KERR_CONFIG, "%s:%u: bad partial name", ps->name, line);
					goto fail;
				}
			n = node_new(N_PARTIAL, line);
			n->name = xstrndup(s + b, e - b);
			n->partial = SIZE_MAX;
			*tail = n;
			tail = &n->next;
		} else {
			enum filter f = F_HTML;
			struct path *p = parse_tag_name(ps, line, s, tb, te, true, &f);

			if (p == NULL)
				goto fail;
			n = node_new(N_VAR, line);
			n->path = p;
			n->filter = f;
			*tail = n;
			tail = &n->next;
		}
		ps->line += count_lines(s + tb, ce - tb);
		ps->pos = ce;
	}
fail:
	nodes_free(head);
	return false;
}

static struct tmpl *
set_find(const struct tmpl_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->t[i].name, name) == 0)
			return &set->t[i];
	return NULL;
}

/* Point each {{> partial}} at its template's index in the set (SIZE_MAX
 * when the set has none of that name), so rendering finds partials without
 * comparing names.  Templates are only ever added or replaced in place, so
 * indexes stay valid; called after every change to the set. */
static void
link_nodes(const struct tmpl_set *set, struct node *n)
{
	for (; n != NULL; n = n->next) {
		if (n->kind == N_PARTIAL) {
			const struct tmpl *t = set_find(set, n->name);

			n->partial = t != NULL ? (size_t)(t - set->t) : SIZE_MAX;
		}
		if (n->child != NULL)
			link_nodes(set, n->child);
	}
}

static void
set_link(struct tmpl_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		link_nodes(set, set->t[i].root);
}

static bool
add_named(struct tmpl_set **setp, const char *name, const char *label, const char *text, size_t len,
    struct kerr *err)
{
	struct parser ps;
	struct node *root = NULL;
	struct tmpl *t;
	char *src;

	if (len > TMPL_MAX_SIZE) {
		kerr_set(err, KERR_CONFIG, "%s: template larger than %d bytes", label, TMPL_MAX_SIZE);
		return false;
	}
	if (memchr(text, '\0', len) != NULL) {
		kerr_set(err, KERR_CONFIG, "%s:%u: NUL byte in template", label,
		    1 + count_lines(text, (size_t)((const char *)memchr(text, '\0', len) - text)));
		return false;
	}
	src = xmalloc(len + 1);
	memcpy(src, text, len);
	src[len] = '\0';
	ps = (struct parser){ label, src, len, 0, 1, err };
	if (!parse_list(&ps, NULL, 1, 0, &root)) {
		free(src);
		return false;
	}
	if (*setp == NULL)
		*setp = xcalloc(1, sizeof(**setp));
	t = set_find(*setp, name);
	if (t != NULL) {
		tmpl_clear(t);
	} else {
		(*setp)->t = xreallocarray((*setp)->t, (*setp)->n + 1, sizeof(*(*setp)->t));
		t = &(*setp)->t[(*setp)->n++];
	}
	t->name = xstrdup(name);
	t->src = src;
	t->root = root;
	set_link(*setp);
	return true;
}

bool
tmpl_add(struct tmpl_set **setp, const char *name, const char *text, size_t len, struct kerr *err)
{
	if (name == NULL || *name == '\0' || text == NULL) {
		kerr_set(err, KERR_INTERNAL, "tmpl_add: no name or no text");
		return false;
	}
	return add_named(setp, name, name, text, len, err);
}

/* Every {{> partial}} names a template of the set. */
static bool
check_partials(const struct tmpl_set *set, const struct tmpl *t, const struct node *n, struct kerr *err)
{
	for (; n != NULL; n = n->next) {
		if (n->kind == N_PARTIAL && set_find(set, n->name) == NULL) {
			kerr_set(err, KERR_CONFIG, "%s.html:%u: unknown partial {{> %s}}", t->name, n->line, n->name);
			return false;
		}
		if (n->child != NULL && !check_partials(set, t, n->child, err))
			return false;
	}
	return true;
}

struct tmpl_set *
tmpl_load_dir(const char *dir, struct kerr *err)
{
	struct tmpl_set *set = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;
	char *path = NULL, *text = NULL;

	if (d == NULL) {
		kerr_set(err, KERR_CONFIG, "templates: cannot open %s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), got;
		struct stat st;
		FILE *f;
		char *name;

		if (de->d_name[0] == '.' || nl <= 5 || strcmp(de->d_name + nl - 5, ".html") != 0)
			continue;
		free(path);
		path = xasprintf("%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		if (f == NULL) {
			kerr_set(err, KERR_CONFIG, "templates: cannot open %s: %s", path, strerror(errno));
			goto fail;
		}
		if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
			fclose(f);
			kerr_set(err, KERR_CONFIG, "templates: %s is not a regular file", path);
			goto fail;
		}
		if (st.st_size > TMPL_MAX_SIZE) {
			fclose(f);
			kerr_set(err, KERR_CONFIG, "%s: template larger than %d bytes", path, TMPL_MAX_SIZE);
			goto fail;
		}
		free(text);
		text = xmalloc((size_t)st.st_size + 1);
		got = fread(text, 1, (size_t)st.st_size + 1, f);
		if (ferror(f) || got > (size_t)st.st_size) {
			fclose(f);
			kerr_set(err, KERR_CONFIG, "templates: cannot read %s (changed while reading?)", path);
			goto fail;
		}
		fclose(f);
		name = xstrndup(de->d_name, nl - 5);
		if (!add_named(&set, name, de->d_name, text, got, err)) {
			free(name);
			goto fail;
		}
		free(name);
	}
	if (set == NULL) {
		kerr_set(err, KERR_CONFIG, "templates: no *.html in %s", dir);
		goto fail;
	}
	for (size_t i = 0; i < set->n; i++)
		if (!check_partials(set, &set->t[i], set->t[i].root, err))
			goto fail;
	closedir(d);
	free(path);
	free(text);
	return set;
fail:
	closedir(d);
	free(path);
	free(text);
	tmpl_free(&set);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* output */

static size_t
utf8_valid_len(const unsigned char *p, size_t n)
{
	uint32_t c = p[0];
	size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	c &= 0xffu >> (len + 1);
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[k] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	return len;
}

/* Appending to the output: the common case (room left) without a call. */
static inline void
put(struct buf *out, const void *p, size_t n)
{
	if (out->cap - out->len > n) {
		memcpy(out->data + out->len, p, n);
		out->len += n;
		out->data[out->len] = '\0';
	} else {
		buf_append(out, p, n);
	}
}

/* What tmpl_escape does with each byte: E_COPY copies it, E_HIGH starts a
 * UTF-8 sequence (copied when valid), E_CTRL becomes U+FFFD, and the rest
 * are replaced by esc_entity[class]. */
enum { E_COPY, E_AMP, E_LT, E_GT, E_QUOT, E_APOS, E_GRAVE, E_EQ, E_CTRL, E_HIGH };

static const char *const esc_entity[] = {
	[E_AMP] = "&amp;", [E_LT] = "&lt;", [E_GT] = "&gt;", [E_QUOT] = "&quot;",
	[E_APOS] = "&#39;", [E_GRAVE] = "&#96;", [E_EQ] = "&#61;", [E_CTRL] = "\xef\xbf\xbd",
};
static const unsigned char esc_len[] = {
	[E_AMP] = 5, [E_LT] = 4, [E_GT] = 4, [E_QUOT] = 6, [E_APOS] = 5, [E_GRAVE] = 5, [E_EQ] = 5,
	[E_CTRL] = 3,
};

#define C8 E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL
#define H16 E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, \
	E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH, E_HIGH
static const unsigned char esc_class[256] = {
	/* 0x00 */ C8,
	/* 0x08 */ E_CTRL, E_COPY /* \t */, E_COPY /* \n */, E_CTRL, E_CTRL, E_COPY /* \r */, E_CTRL, E_CTRL,
	/* 0x10 */ C8, C8,
	/* 0x20 */ 0, 0, E_QUOT, 0, 0, 0, E_AMP, E_APOS, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, E_LT, E_EQ, E_GT, 0,
	/* 0x40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x60 */ E_GRAVE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x70 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, E_CTRL,
	/* 0x80 */ H16, H16, H16, H16, H16, H16, H16, H16,
};
#undef C8
#undef H16

void
tmpl_escape(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;  /* s[run..i) is copied as is */

	buf_reserve(out, len + 16);
	while (i < len) {
		unsigned k = esc_class[p[i]];

		if (k == E_COPY) {
			i++;
			continue;
		}
		if (k == E_HIGH) {
			size_t adv = utf8_valid_len(p + i, len - i);

			if (adv > 0) {
				i += adv;
				continue;
			}
			k = E_CTRL;     /* not UTF-8: U+FFFD for this byte */
		}
		put(out, s + run, i - run);
		put(out, esc_entity[k], esc_len[k]);
		run = ++i;
	}
	put(out, s + run, i - run);
}

static void
url_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;

	buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			put(out, s + run, i - run);
			put(out, e, 3);
			run = i + 1;
		}
	}
	put(out, s + run, len - run);
}

/* Room for the text of any number value_str writes into its buffer. */
#define NUM_TEXT 40

/* The text of a scalar value: a pointer into the value itself (strings) or
 * into num (numbers, booleans), with its length; NULL for null, objects and
 * arrays, which render as nothing.  No allocation: this is on every
 * variable of every render. */
static const char *
value_str(struct json_object *v, char num[NUM_TEXT], size_t *len_r)
{
	int n;

	switch (json_object_get_type(v)) {
	case json_type_string:
		*len_r = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	case json_type_int:
		n = snprintf(num, NUM_TEXT, "%" PRId64, json_object_get_int64(v));
		break;
	case json_type_double:
		n = snprintf(num, NUM_TEXT, "%.15g", json_object_get_double(v));
		break;
	case json_type_boolean:
		n = snprintf(num, NUM_TEXT, "%s", json_object_get_boolean(v) ? "true" : "false");
		break;
	default:
		return NULL;
	}
	*len_r = n > 0 && n < NUM_TEXT ? (size_t)n : 0;
	return num;
}

static void
time_text(struct json_object *v, bool date_only, struct buf *out)
{
	int64_t t;
	time_t tt;
	struct tm tm;
	char b[64];

	if (json_object_get_type(v) == json_type_int || json_object_get_type(v) == json_type_double) {
		t = json_object_get_int64(v);
	} else if (json_object_get_type(v) == json_type_string) {
		const char *s = json_object_get_string(v);
		char *end;

		errno = 0;
		t = strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0' || errno != 0) {
			tmpl_escape(out, s, (size_t)json_object_get_string_len(v));
			return;
		}
	} else {
		return;
	}
	/* years 0..9999 only: anything else is shown as the number */
	if (t < -62135596800LL || t > 253402300799LL - TMPL_TZ_OFFSET) {
		buf_printf(out, "%" PRId64, t);
		return;
	}
	tt = (time_t)(t + TMPL_TZ_OFFSET);
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(b, sizeof(b), date_only ? "%Y-%m-%d" : "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		buf_printf(out, "%" PRId64, t);
		return;
	}
	put(out, b, strlen(b));
}

/* ------------------------------------------------------------------ */
/* rendering */

struct render {
	const struct tmpl_set *set;
	struct buf *out;
	struct json_object **stack;     /* borrowed values; owned array */
	size_t depth, cap;
	long index;                     /* position in the innermost array section, or -1 */
	unsigned long steps;
	size_t out0;
	bool failed;
};

static struct json_object *lookup(struct render *r, const struct path *p, int depth);

/* The key a segment names (its text, or for [path] the value's text,
 * which may be written into num). */
static const char *
seg_key(struct render *r, const struct seg *sg, char num[NUM_TEXT], int depth)
{
	struct json_object *v;
	size_t len;

	if (sg->key != NULL)
		return sg->key;
	v = lookup(r, sg->ind, depth + 1);
	if (v == NULL)
		return NULL;
	return value_str(v, num, &len);
}

static struct json_object *
member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, key, &v))
			return v;
		return NULL;
	}
	if (json_object_is_type(o, json_type_array)) {
		char *end;
		unsigned long i;

		if (*key < '0' || *key > '9')
			return NULL;
		errno = 0;
		i = strtoul(key, &end, 10);
		if (*end != '\0' || errno != 0 || i >= json_object_array_length(o))
			return NULL;
		return json_object_array_get_idx(o, i);
	}
	return NULL;
}

static struct json_object *
lookup(struct render *r, const struct path *p, int depth)
{
	char num[NUM_TEXT];
	struct json_object *v = NULL;
	const char *key;

	if (p->n == 0)
		return r->depth > 0 ? r->stack[r->depth - 1] : NULL;
	if (depth > 8)
		return NULL;
	key = seg_key(r, &p->segs[0], num, depth);
	if (key == NULL)
		return NULL;
	for (size_t i = r->depth; i > 0; i--) {
		struct json_object *o = r->stack[i - 1];

		if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
			break;
		v = NULL;
	}
	for (size_t k = 1; k < p->n && v != NULL; k++) {
		key = seg_key(r, &p->segs[k], num, depth);
		v = key != NULL ? member(v, key) : NULL;
	}
	return v;
}

static bool
truthy(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return false;
	case json_type_boolean:
		return json_object_get_boolean(v);
	case json_type_int:
		return json_object_get_int64(v) != 0;
	case json_type_double:
		return json_object_get_double(v) != 0.0;
	case json_type_string:
		return json_object_get_string_len(v) > 0;
	case json_type_array:
		return json_object_array_length(v) > 0;
	case json_type_object:
		return true;
	}
	return false;
}

static void
push(struct render *r, struct json_object *v)
{
	if (r->depth == r->cap) {
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->stack = xreallocarray(r->stack, r->cap, sizeof(*r->stack));
	}
	r->stack[r->depth++] = v;
}

static bool render_list(struct render *r, const struct node *n, int partials);

static bool
render_var(struct render *r, const struct node *n)
{
	struct json_object *v;
	char num[NUM_TEXT];
	const char *s;
	size_t len;

	if (n->filter == F_INDEX || n->filter == F_NUMBER) {
		if (r->index >= 0)
			buf_printf(r->out, "%ld", r->index + (n->filter == F_NUMBER));
		return true;
	}
	v = lookup(r, n->path, 0);
	if (v == NULL)
		return true;
	switch (n->filter) {
	case F_INDEX:
	case F_NUMBER:
		break;
	case F_TIME:
	case F_DATE:
		time_text(v, n->filter == F_DATE, r->out);
		break;
	case F_URL:
		if ((s = value_str(v, num, &len)) != NULL)
			url_encode(r->out, s, len);
		break;
	case F_HTML:
		if ((s = value_str(v, num, &len)) != NULL)
			tmpl_escape(r->out, s, len);
		break;
	}
	return true;
}

static bool
render_list(struct render *r, const struct node *n, int partials)
{
	for (; n != NULL; n = n->next) {
		if (++r->steps > TMPL_MAX_STEPS || r->out->len - r->out0 > TMPL_MAX_OUTPUT) {
			r->failed = true;
			return false;
		}
		switch (n->kind) {
		case N_TEXT:
			put(r->out, n->text, n->len);
			break;
		case N_VAR:
			render_var(r, n);
			break;
		case N_INVERTED: {
			struct json_object *v = lookup(r, n->path, 0);

			if (!truthy(v) && !render_list(r, n->child, partials))
				return false;
			break;
		}
		case N_SECTION: {
			struct json_object *v = lookup(r, n->path, 0);

			if (!truthy(v))
				break;
			if (json_object_is_type(v, json_type_array)) {
				size_t len = json_object_array_length(v);
				long saved = r->index;

				for (size_t i = 0; i < len; i++) {
					bool ok;

					r->index = (long)i;
					if (++r->steps > TMPL_MAX_STEPS) {
						r->failed = true;
						return false;
					}
					push(r, json_object_array_get_idx(v, i));
					ok = render_list(r, n->child, partials);
					r->depth--;
					if (!ok)
						return false;
				}
				r->index = saved;
			} else {
				bool ok;

				push(r, v);
				ok = render_list(r, n->child, partials);
				r->depth--;
				if (!ok)
					return false;
			}
			break;
		}
		case N_PARTIAL: {
			const struct tmpl *t = n->partial < r->set->n ? &r->set->t[n->partial] : NULL;

			if (t == NULL || partials >= TMPL_MAX_PARTIALS) {
				r->failed = true;
				return false;
			}
			if (!render_list(r, t->root, partials + 1))
				return false;
			break;
		}
		}
	}
	return true;
}

bool
tmpl_render(const struct tmpl_set *set, const char *name, struct json_object *ctx, struct buf *out)
{
	struct render r = { 0 };
	const struct tmpl *t;
	bool ok;

	if (set == NULL || name == NULL || (t = set_find(set, name)) == NULL)
		return false;
	r.set = set;
	r.out = out;
	r.out0 = out->len;
	r.index = -1;
	buf_reserve(out, 4096);
	if (ctx != NULL)
		push(&r, ctx);
	ok = render_list(&r, t->root, 0) && !r.failed;
	free(r.stack);
	return ok;
}
