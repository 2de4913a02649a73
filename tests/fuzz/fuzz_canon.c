/*
 * libFuzzer harness: the MIME canonicaliser (smime/canon.c, smime/mime.c) must
 * report or succeed, never crash, hang or allocate hugely; and what it
 * produces must hold its promises: every line ends in CRLF, and
 * canonicalising the entity again gives the same entity.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_crlf(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			abort();
		if (b->data[i] == '\r' && (i + 1 == b->len || b->data[i + 1] != '\n'))
			abort();
	}
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		abort();
}

/* What the verifier will do with a tree: look at every part, decode leaves. */
static void
walk(const struct mime_part *p, struct buf *scratch)
{
	char path[160];

	mime_part_path(p, path, sizeof(path));
	(void)mime_part_param(p, "boundary");
	(void)mime_part_field(p, MIME_F_CTE);
	if (p->kind == MIME_LEAF) {
		buf_reset(scratch);
		mime_part_decode(p, scratch);
	}
	for (size_t i = 0; i < p->nchildren; i++)
		walk(p->children[i], scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smime_canon c = SMIME_CANON_INIT, again = SMIME_CANON_INIT;
	struct kerr err = KERR_INIT;
	struct mime_part *root;

	root = mime_parse((const char *)data, size, &err);
	if (root != NULL) {
		struct buf scratch = BUF_INIT;

		walk(root, &scratch);
		buf_release(&scratch);
	}
	mime_part_free(&root);
	kerr_clear(&err);
	if (!smime_canonicalise((const char *)data, size, &c, &err)) {
		if (err.cls != KERR_PERM || err.msg[0] == '\0')
			abort();
		return 0;
	}
	check_crlf(&c.outer);
	check_crlf(&c.entity);
	if (!smime_canonicalise(c.entity.data, c.entity.len, &again, &err))
		abort();        /* our own output must be accepted */
	if (again.outer.len != 0 || again.entity.len != c.entity.len ||
	    memcmp(again.entity.data, c.entity.data, c.entity.len) != 0)
		abort();        /* and be a fixed point */
	smime_canon_release(&again);
	smime_canon_release(&c);
	return 0;
}
