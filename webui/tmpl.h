/*
 * tmpl.h - kyso's small HTML template engine (docs/TEMPLATES.md).
 * Mustache-like, over json-c values, escaping by default:
 *
 *   {{name}} {{a.b.c}}        the value, HTML-escaped (& < > " ' `  =)
 *   {{#name}}...{{/name}}     section: repeated for each element of an array,
 *                             entered once (with the object as context) for an
 *                             object, once for a true/non-empty scalar
 *   {{^name}}...{{/name}}     inverted: when missing, false, null, 0, "" or []
 *   {{> partial}}             another template of the set
 *   {{! comment }}
 *   {{.}}                     the current element
 *   {{name|url}}              percent-encoded for a URL query value
 *   {{name|attr}}             same as default (documented: attribute-safe)
 *   {{name|time}} {{name|date}}  Unix time as "YYYY-MM-DD HH:MM:SS" / "YYYY-MM-DD", UTC+7
 *   {{t.reason.[code]}}       indirect key: [path] is the value of path
 *   {{list.0}}                an array element by index
 *   {{@index}} {{@number}}    position (from 0 / from 1) in the innermost array section
 * There is no unescaped output.  Lookup walks up the context stack like
 * Mustache.  Templates are parsed once at load; a syntax error names
 * file:line.  Rendering never fails on data (missing values render empty).
 */
#ifndef KYSO_WEBUI_TMPL_H
#define KYSO_WEBUI_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "smime/base.h"

struct tmpl_set;

/* Load every *.html in dir (name = file name without .html).  NULL + err. */
struct tmpl_set *tmpl_load_dir(const char *dir, struct kerr *err);
/* Parse one template from memory into a new or existing set (tests, fuzz). */
bool tmpl_add(struct tmpl_set **setp, const char *name, const char *text, size_t len,
    struct kerr *err);
void tmpl_free(struct tmpl_set **sp);

/* Render template name with ctx (borrowed) appended to out.  false only when
 * name is unknown (or partials nest deeper than 16, or a {{> partial}} is
 * missing, or the render limits were hit: 4 million steps, 32 MiB). */
bool tmpl_render(const struct tmpl_set *set, const char *name, struct json_object *ctx,
    struct buf *out);

/* HTML-escape s (len bytes) onto out. */
void tmpl_escape(struct buf *out, const char *s, size_t len);

#endif
