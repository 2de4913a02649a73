/* sign.c - an RFC 5322 message in, an S/MIME signed message out (RFC 8551,
 * RFC 1847).  The order matters: canonicalise (the bytes hashed are the bytes
 * sent), find the sender, check the certificate, sign, re-verify, assemble.
 *
 * Memory: a detached signature's entity is written by the canonicaliser
 * straight into its final place in the output, after room left for the
 * header (written last, once the boundary is chosen), and is hashed there:
 * the entity exists once, and the output is reserved to its size.  Signing
 * a message holds about the input and the output. */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <libetpan/libetpan.h>
#include <openssl/rand.h>

#include "smime/mime.h"
#include "smime/smime-private.h"

#define BOUNDARY_PREFIX "----=_kyso_"
#define BOUNDARY_LEN (sizeof(BOUNDARY_PREFIX) - 1 + 32)    /* and 32 hex digits */

/* The address the message is sent for: From, or Sender when From names
 * several mailboxes.  Caller owns; NULL when there is none. */
static char *
sender_address(const char *hdr, size_t len)
{
	struct mailimf_fields *fields = NULL;
	const char *from = NULL, *sender = NULL;
	size_t idx = 0, n_from = 0;
	char *addr = NULL;

	if (mailimf_fields_parse(hdr, len, &idx, &fields) != MAILIMF_NO_ERROR)
		return NULL;
	for (clistiter *it = clist_begin(fields->fld_list); it != NULL; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);

		if (f->fld_type == MAILIMF_FIELD_FROM && f->fld_data.fld_from->frm_mb_list != NULL) {
			clist *mbs = f->fld_data.fld_from->frm_mb_list->mb_list;

			for (clistiter *m = clist_begin(mbs); m != NULL; m = clist_next(m)) {
				struct mailimf_mailbox *mb = clist_content(m);

				if (n_from++ == 0)
					from = mb->mb_addr_spec;
			}
		} else if (f->fld_type == MAILIMF_FIELD_SENDER && f->fld_data.fld_sender->snd_mb != NULL) {
			sender = f->fld_data.fld_sender->snd_mb->mb_addr_spec;
		}
	}
	if (n_from > 1)
		from = sender;
	if (from != NULL)
		addr = xstrdup(from);
	mailimf_fields_free(fields);
	return addr;
}

/* A fresh boundary (BOUNDARY_LEN characters) that the entity does not hold. */
static void
make_boundary(char out[BOUNDARY_LEN + 1], const char *entity, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const size_t pre = sizeof(BOUNDARY_PREFIX) - 1;
	unsigned char rnd[16];

	do {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			abort();        /* no randomness: nothing safe to do */
		memcpy(out, BOUNDARY_PREFIX, pre);
		for (size_t i = 0; i < sizeof(rnd); i++) {
			out[pre + 2 * i] = hex[rnd[i] >> 4];
			out[pre + 2 * i + 1] = hex[rnd[i] & 15];
		}
		out[BOUNDARY_LEN] = '\0';
	} while (memmem(entity, n, out, BOUNDARY_LEN) != NULL);
}

/* Replace the Date fields of the outer header with the signing time: the
 * message is sent now, and a verifier compares Date with signingTime
 * (RFC 5322 format, English names whatever the locale, UTC). */
static void
set_date(struct buf *outer, time_t now)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
		"Sep", "Oct", "Nov", "Dec" };
	struct buf kept = BUF_INIT;
	bool skipping = false;
	struct tm tm;

	for (size_t pos = 0; pos < outer->len;) {
		const char *nl = memchr(outer->data + pos, '\n', outer->len - pos);
		size_t end = nl != NULL ? (size_t)(nl - outer->data) + 1 : outer->len;
		const char *line = outer->data + pos;

		if (line[0] != ' ' && line[0] != '\t')
			skipping = end - pos >= 5 && strncasecmp(line, "Date:", 5) == 0;
		if (!skipping)
			buf_append(&kept, line, end - pos);
		pos = end;
	}
	if (kept.len > 0 && (kept.len < 2 || memcmp(kept.data + kept.len - 2, "\r\n", 2) != 0))
		buf_appends(&kept, "\r\n");
	gmtime_r(&now, &tm);
	buf_printf(&kept, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	buf_release(outer);
	*outer = kept;
}

/* True when the entity has nothing but line ends after its header. */
static bool
body_empty(const char *entity, size_t n)
{
	const char *sep = memmem(entity, n, "\r\n\r\n", 4);
	size_t body = sep != NULL ? (size_t)(sep + 4 - entity) : n;

	while (body < n && (entity[body] == '\r' || entity[body] == '\n'))
		body++;
	return body >= n;
}

/* The outer fields and MIME-Version. */
static void
put_outer(struct buf *h, const struct buf *outer)
{
	buf_append(h, outer->data, outer->len);
	if (outer->len > 0 && (outer->len < 2 || memcmp(outer->data + outer->len - 2, "\r\n", 2) != 0))
		buf_appends(h, "\r\n");
	buf_appends(h, "MIME-Version: 1.0\r\n");
}

/* Everything before a detached signature's entity. */
static void
put_signed_head(struct buf *h, const struct buf *outer, const char *micalg, const char *boundary)
{
	put_outer(h, outer);
	buf_printf(h, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
	    " micalg=%s; boundary=\"%s\"\r\n\r\n"
	    "This is a cryptographically signed message in MIME format.\r\n\r\n"
	    "--%s\r\n", micalg, boundary, boundary);
}

/* The micalg asked for; gpgsm may sign with another digest. */
static const char *
expected_micalg(enum smime_digest d)
{
	switch (d) {
	case SMIME_DIGEST_SHA384: return "sha-384";
	case SMIME_DIGEST_SHA512: return "sha-512";
	case SMIME_DIGEST_SHA256: break;
	}
	return "sha-256";
}

/* The room smime_base64_lines asks for (a little over its output). */
static size_t
base64_lines_room(size_t n)
{
	return (n + 56) / 57 * 78 + 1;
}

/* Room for what follows the entity: the signature part, whose DER holds
 * the certificates and about a kilobyte more.  A guess (gpgsm chooses
 * what it sends): the output grows if it falls short. */
static size_t
tail_room(const struct smime_signer *s)
{
	size_t certs = (size_t)i2d_X509(s->cert, NULL);

	for (int i = 0; i < sk_X509_num(s->chain); i++)
		certs += (size_t)i2d_X509(sk_X509_value(s->chain, i), NULL);
	return 1024 + base64_lines_room(certs + 4096);
}

bool
smime_sign_message(struct smime_signer *s, const struct smime_sign_opts *o, const char *msg, size_t len,
    struct buf *out, struct kerr *err)
{
	struct smime_canon_job *job = NULL;
	struct buf outer = BUF_INIT, der = BUF_INIT, head = BUF_INIT, entity = BUF_INIT;
	const char *micalg = NULL, *e;
	char boundary[BOUNDARY_LEN + 1];
	char *addr = NULL;
	size_t start = out->len, n = 0, gap = 0;
	bool detached = o->mode == SMIME_MODE_DETACHED, ok = false;

	if ((job = smime_canon_prepare(msg, len, &outer, &n, err)) == NULL)
		goto out;
	if (o->set_date)
		set_date(&outer, o->now != 0 ? (time_t)o->now : time(NULL));
	if (detached) {
		/* The entity goes after room for the header as long as it will be:
		 * the boundary has a fixed length, the micalg is the one asked for. */
		memset(boundary, 'x', BOUNDARY_LEN);
		boundary[BOUNDARY_LEN] = '\0';
		put_signed_head(&head, &outer, expected_micalg(o->digest), boundary);
		gap = head.len;
		buf_reset(&head);
		buf_reserve_exact(out, gap + n + tail_room(s));
		if (!smime_canon_write(job, out->data + start + gap, err))
			goto out;
		out->len = start + gap + n;
		e = out->data + start + gap;
	} else {
		buf_reserve_exact(&entity, n);
		if (!smime_canon_write(job, entity.data, err))
			goto out;
		entity.len = n;
		entity.data[n] = '\0';
		e = entity.data;
	}
	smime_canon_job_free(&job);
	if (body_empty(e, n)) {
		kerr_set(err, KERR_PERM, "the message body is empty: nothing to sign");
		goto out;
	}
	addr = sender_address(outer.data, outer.len);
	if (addr == NULL) {
		kerr_set(err, KERR_PERM, "the message has no From address: nothing to sign for");
		goto out;
	}
	if (!smime_signer_check(s, o, addr, err))
		goto out;
	if (!smime_sign_data(s, o, e, n, &der, &micalg, err))
		goto out;

	if (detached) {
		make_boundary(boundary, e, n);
		put_signed_head(&head, &outer, micalg, boundary);
		if (head.len != gap) {
			/* Signed with another digest than asked for: move the entity. */
			if (head.len > gap)
				buf_reserve_exact(out, head.len - gap);
			memmove(out->data + start + head.len, out->data + start + gap, n);
			out->len = start + head.len + n;
		}
		memcpy(out->data + start, head.data, head.len);
		buf_reset(&head);
		buf_printf(&head, "\r\n--%s\r\n"
		    "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
		    "Content-Description: S/MIME Cryptographic Signature\r\n\r\n", boundary);
		buf_reserve_exact(out, head.len + base64_lines_room(der.len) + BOUNDARY_LEN + 6);
		buf_append(out, head.data, head.len);
		smime_base64_lines(out, (const unsigned char *)der.data, der.len);
		buf_printf(out, "--%s--\r\n", boundary);
	} else {
		buf_release(&entity);   /* the DER holds it now */
		put_outer(&head, &outer);
		buf_appends(&head, "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n");
		buf_reserve_exact(out, head.len + base64_lines_room(der.len));
		buf_append(out, head.data, head.len);
		smime_base64_lines(out, (const unsigned char *)der.data, der.len);
	}
	ok = true;
out:
	if (!ok && out->data != NULL) {
		out->len = start;
		out->data[start] = '\0';
	}
	smime_canon_job_free(&job);
	free(addr);
	buf_release(&der);
	buf_release(&head);
	buf_release(&entity);
	buf_release(&outer);
	return ok;
}
