/*
 * Unit tests of smime/mime.c: the MIME structure with exact byte offsets that
 * the canonicaliser and the verifier share.  Table-driven, bad inputs in
 * every table, and every prefix of a message is parsed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smime/mime.h"
#include "tests/unit/testmain.h"

static struct mime_part *
parse_ok(const char *msg, size_t len)
{
	struct kerr err = KERR_INIT;
	struct mime_part *p = mime_parse(msg, len, &err);

	ck_assert_msg(p != NULL, "%s", err.msg);
	return p;
}

static char *
span_dup(const struct mime_part *p, struct mime_span s)
{
	return xstrndup(p->buf + s.start, s.end - s.start);
}

/* The exact bytes a multipart/signed signature covers (RFC 1847 §2.1). */
START_TEST(signed_first_part_offsets)
{
	static const char msg[] =
	    "From: a@b.vn\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
	    "\tmicalg=sha-256; boundary=\"----sig\"\r\n\r\n"
	    "This is an S/MIME signed message\r\n\r\n"
	    "------sig\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n\r\n"
	    "------sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n"
	    "------sig--\r\n";
	struct mime_part *root = parse_ok(msg, sizeof(msg) - 1), *first, *sig;
	char *s;

	ck_assert_int_eq(root->kind, MIME_MULTIPART);
	ck_assert(mime_part_is(root, "multipart", "signed"));
	ck_assert_str_eq(mime_part_param(root, "protocol"), "application/pkcs7-signature");
	ck_assert_str_eq(mime_part_param(root, "micalg"), "sha-256");
	ck_assert_str_eq(mime_part_param(root, "boundary"), "----sig");
	ck_assert_uint_eq(root->nchildren, 2);
	ck_assert_uint_eq(root->ndelims, 3);
	first = root->children[0];
	sig = root->children[1];
	s = span_dup(first, first->span);
	ck_assert_str_eq(s, "Content-Type: text/plain\r\n\r\nsigned text\r\n");
	free(s);
	s = span_dup(first, first->body);
	ck_assert_str_eq(s, "signed text\r\n");
	free(s);
	ck_assert(mime_part_is(sig, "application", "pkcs7-signature"));
	ck_assert_int_eq(sig->cte, MIME_CTE_BASE64);
	ck_assert_str_eq(sig->filename, "smime.p7s");
	/* Delimiters: the CRLF before each belongs to it. */
	ck_assert(memcmp(msg + root->delims[1].crlf, "\r\n------sig\r\n", 13) == 0);
	ck_assert_uint_eq(root->delims[1].crlf, first->span.end);
	ck_assert_uint_eq(root->delims[0].next, first->span.start);
	ck_assert(root->delims[2].close);
	ck_assert(!root->close_missing);
	s = span_dup(root, root->preamble);
	ck_assert_str_eq(s, "This is an S/MIME signed message\r\n");
	free(s);
	ck_assert_uint_eq(root->epilogue.start, sizeof(msg) - 1);
	mime_part_free(&root);
	ck_assert_ptr_null(root);
	mime_part_free(&root);
	mime_part_free(NULL);
}
END_TEST

START_TEST(attachments_by_file_name)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: application/pdf\nContent-Disposition: attachment;\n"
	    " filename*0*=utf-8''B%C3%A1o%20c; filename*1*=%C3%A1o.pdf\n\n%PDF\n"
	    "--m\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
	    " name=\"=?UTF-8?B?VOG7nSB0csOsbmguZG9jeA==?=\"\nContent-Disposition: ATTACHMENT\n\nPK\n"
	    "--m\nContent-Type: text/plain; name=\"B\xc3\xa1o.txt\"\nContent-Disposition: inline;"
	    " filename=\"x.txt\"\n\nx\n"
	    "--m\nContent-Disposition: attachment; filename*=iso-8859-1''caf%E9.txt\n\ncafe\n"
	    "--m\nContent-Type: message/rfc822\n\nSubject: fwd\nContent-Type: multipart/mixed; boundary=n\n\n"
	    "--n\nContent-Disposition: attachment; filename=\"inner.pdf\"\nContent-Type: application/pdf\n\nI\n--n--\n"
	    "--m--\n";
	struct mime_part *root = parse_ok(msg, sizeof(msg) - 1), *inner;

	ck_assert_uint_eq(root->nchildren, 5);
	ck_assert_str_eq(root->children[0]->filename, "B\xc3\xa1o c\xc3\xa1o.pdf");
	ck_assert_str_eq(root->children[0]->disposition, "attachment");
	ck_assert_str_eq(root->children[1]->filename, "T\xe1\xbb\x9d tr\xc3\xacnh.docx");
	ck_assert_str_eq(root->children[1]->disposition, "attachment");
	ck_assert_str_eq(root->children[2]->filename, "x.txt");
	ck_assert_str_eq(root->children[2]->disposition, "inline");
	ck_assert_str_eq(mime_part_param(root->children[2], "name"), "B\xc3\xa1o.txt");
	ck_assert_str_eq(root->children[3]->filename, "caf\xc3\xa9.txt");
	ck_assert_int_eq(root->children[4]->kind, MIME_MESSAGE);
	inner = root->children[4]->children[0];
	ck_assert_int_eq(inner->kind, MIME_MULTIPART);
	ck_assert_uint_eq(inner->depth, 2);
	ck_assert_str_eq(inner->children[0]->filename, "inner.pdf");
	ck_assert(inner->children[0]->buf == msg);
	ck_assert(memcmp(msg + inner->children[0]->body.start, "I", 1) == 0);
	mime_part_free(&root);
}
END_TEST

START_TEST(defaults_and_decoding)
{
	static const char msg[] =
	    "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n"
	    "--d\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
	    "caf=C3=A9 =\nx=3d=\n  \nend\n"
	    "--d\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
	    "YW Jj\nZA=\n=\n"
	    "--d\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
	    "U3ViamVjdDogaQ0KDQpoZWxsbw0K\n"
	    "--d\nContent-Type: text\nContent-Transfer-Encoding: 7bit garbage\n\nq\n"
	    "--d";
	struct mime_part *root = parse_ok(msg, sizeof(msg) - 1), *p;
	struct buf b = BUF_INIT;
	char *s;

	ck_assert(root->close_missing);
	ck_assert_uint_eq(root->nchildren, 5);
	p = root->children[0];
	ck_assert(mime_part_is(p, "message", "rfc822"));
	ck_assert(!p->ct_field);
	ck_assert_int_eq(p->kind, MIME_MESSAGE);
	s = span_dup(p->children[0], p->children[0]->body);
	ck_assert_str_eq(s, "body");
	free(s);
	p = root->children[1];
	mime_part_decode(p, &b);
	ck_assert_str_eq(b.data, "caf\xc3\xa9 x=\r\nend");
	buf_reset(&b);
	p = root->children[2];
	mime_part_decode(p, &b);
	ck_assert_str_eq(b.data, "abcd");
	buf_reset(&b);
	/* An encoded message/rfc822: decoded, the inner message lives in ->decoded. */
	p = root->children[3];
	ck_assert_int_eq(p->kind, MIME_MESSAGE);
	ck_assert_ptr_nonnull(p->decoded);
	ck_assert(p->children[0]->buf == p->decoded);
	s = span_dup(p->children[0], p->children[0]->body);
	ck_assert_str_eq(s, "hello\r\n");
	free(s);
	/* "text" alone is not a valid Content-Type; "7bit garbage" is not 7bit. */
	p = root->children[4];
	ck_assert(p->ct_field);
	ck_assert(!p->ct_valid);
	ck_assert(mime_part_is(p, "text", "plain"));
	ck_assert_int_eq(p->cte, MIME_CTE_OTHER);
	buf_release(&b);
	mime_part_free(&root);
}
END_TEST

START_TEST(header_fields)
{
	static const char msg[] =
	    "Subject : folded\r\n\tvalue\nBcc: x\rContent-ID: <a>\nMIME-Version: 1.0\n"
	    "Content-Type: TEXT/HTML; Charset=\"UTF-8\"\nResent-Bcc: y\n\nbody";
	struct mime_part *root = parse_ok(msg, sizeof(msg) - 1);
	static const enum mime_field_id ids[] = { MIME_F_OTHER, MIME_F_BCC, MIME_F_CONTENT_OTHER,
		MIME_F_MIME_VERSION, MIME_F_CONTENT_TYPE, MIME_F_BCC };
	char *s;

	ck_assert_uint_eq(root->nfields, 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(root->fields[i].id, ids[i]);
	ck_assert_uint_eq(root->fields[0].name_len, 7);
	s = xstrndup(msg + root->fields[0].value.start, root->fields[0].value.end - root->fields[0].value.start);
	ck_assert_str_eq(s, " folded\r\n\tvalue");
	free(s);
	s = xstrndup(msg + root->fields[1].raw.start, root->fields[1].raw.end - root->fields[1].raw.start);
	ck_assert_str_eq(s, "Bcc: x\r");      /* a lone CR ends a line */
	free(s);
	ck_assert(mime_part_is(root, "text", "html"));
	ck_assert_str_eq(mime_part_param(root, "charset"), "UTF-8");
	ck_assert_ptr_nonnull(mime_part_field(root, MIME_F_CONTENT_TYPE));
	ck_assert_ptr_null(mime_part_field(root, MIME_F_CTE));
	ck_assert(root->has_blank);
	ck_assert_uint_eq(root->body.start, sizeof(msg) - 1 - 4);
	mime_part_free(&root);
}
END_TEST

/* Refused, with where and why. */
static const struct {
	const char *in;
	const char *want;
} bad[] = {
	{ "", "malformed message: it is empty" },
	{ "Subject x\n\n", "malformed message: header line 1 is not a field" },
	{ "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\n--b\nX\n--b--\n--a--\n", "malformed message: part 1.2: header line 1 is not a field" },
	{ "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\n: x\n--a--\n",
	  "malformed message: part 1.1: header line 1 is not a field" },
	{ "Content-Type: multipart/signed; boundary=a\n\nno parts\n", "has no boundary delimiter line \"--a\"" },
	{ "Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--a-- x\n", "starts with the boundary" },
	{ "Content-Type: multipart/mixed; boundary*0=a; boundary=b\n\n--a\n\nx\n--a--\n", "more than one boundary" },
};

START_TEST(refused)
{
	struct kerr err = KERR_INIT;
	struct mime_part *p = mime_parse(bad[_i].in, strlen(bad[_i].in), &err);

	ck_assert_ptr_null(p);
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_msg(strstr(err.msg, bad[_i].want) != NULL, "\"%s\" lacks \"%s\"", err.msg, bad[_i].want);
}
END_TEST

START_TEST(rfc2231_boundary)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=cd\n\n--abcd\n\nx\n--abcd--\n";
	struct mime_part *p = parse_ok(msg, sizeof(msg) - 1);

	ck_assert_str_eq(mime_part_param(p, "boundary"), "abcd");
	ck_assert_uint_eq(p->nchildren, 1);
	mime_part_free(&p);
}
END_TEST

START_TEST(every_prefix)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	    "x\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "U3ViamVjdDogaQ0KDQpoZWxsbw0K\r\n--m\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A9\r\n\r\n"
	    "y\r\n--m--\r\n";

	for (size_t n = 0; n < sizeof(msg); n++) {
		struct kerr err = KERR_INIT;
		char *copy = xmalloc(n ? n : 1);
		struct mime_part *p;

		memcpy(copy, msg, n);
		p = mime_parse(copy, n, &err);
		ck_assert(p != NULL || err.cls == KERR_PERM);
		mime_part_free(&p);
		free(copy);
	}
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("mime");

	tcase_add_test(tc, signed_first_part_offsets);
	tcase_add_test(tc, attachments_by_file_name);
	tcase_add_test(tc, defaults_and_decoding);
	tcase_add_test(tc, header_fields);
	tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, rfc2231_boundary);
	tcase_add_test(tc, every_prefix);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
