/* sign.c - an RFC 5322 message in, an S/MIME signed message out (RFC 8551,
 * RFC 1847).  The order matters: canonicalise (the bytes hashed are the bytes
 * sent), find the sender, check the certificate, sign, re-verify, assemble. */
#include "config.h"

#include <string.h>

#include <libetpan/libetpan.h>
#include <openssl/rand.h>

#include "smime/mime.h"
#include "smime/smime-private.h"

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

static void
make_boundary(char out[48], const struct buf *entity)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];

	do {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			abort();        /* no randomness: nothing safe to do */
		memcpy(out, "----=_kyso_", 11);
		for (size_t i = 0; i < sizeof(rnd); i++) {
			out[11 + 2 * i] = hex[rnd[i] >> 4];
			out[12 + 2 * i] = hex[rnd[i] & 15];
		}
		out[11 + 2 * sizeof(rnd)] = '\0';
	} while (memmem(entity->data, entity->len, out, strlen(out)) != NULL);
}

bool
smime_sign_message(struct smime_signer *s, const struct smime_sign_opts *o, const char *msg, size_t len,
    struct buf *out, struct kerr *err)
{
	struct smime_canon canon = { BUF_INIT, BUF_INIT };
	struct buf der = BUF_INIT;
	const char *micalg = NULL;
	char boundary[48];
	char *addr = NULL;
	bool ok = false;

	if (!smime_canonicalise(msg, len, &canon, err))
		goto out;
	{
		const char *sep = memmem(canon.entity.data, canon.entity.len, "\r\n\r\n", 4);
		size_t body = sep != NULL ? (size_t)(sep + 4 - canon.entity.data) : canon.entity.len;

		while (body < canon.entity.len && (canon.entity.data[body] == '\r' || canon.entity.data[body] == '\n'))
			body++;
		if (body >= canon.entity.len) {
			kerr_set(err, KERR_PERM, "the message body is empty: nothing to sign");
			goto out;
		}
	}
	addr = sender_address(canon.outer.data != NULL ? canon.outer.data : "", canon.outer.len);
	if (addr == NULL) {
		kerr_set(err, KERR_PERM, "the message has no From address: nothing to sign for");
		goto out;
	}
	if (!smime_signer_check(s, o, addr, err))
		goto out;
	if (!smime_sign_data(s, o, canon.entity.data, canon.entity.len, &der, &micalg, err))
		goto out;

	buf_reserve(out, canon.outer.len + canon.entity.len + der.len * 4 / 3 + der.len / 28 + 1024);
	buf_append(out, canon.outer.data, canon.outer.len);
	if (canon.outer.len > 0 && (canon.outer.len < 2 || memcmp(canon.outer.data + canon.outer.len - 2, "\r\n", 2) != 0))
		buf_appends(out, "\r\n");
	buf_appends(out, "MIME-Version: 1.0\r\n");
	if (o->mode == SMIME_MODE_DETACHED) {
		make_boundary(boundary, &canon.entity);
		buf_printf(out, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
		    " micalg=%s; boundary=\"%s\"\r\n\r\n"
		    "This is a cryptographically signed message in MIME format.\r\n\r\n"
		    "--%s\r\n", micalg, boundary, boundary);
		buf_append(out, canon.entity.data, canon.entity.len);
		buf_printf(out, "\r\n--%s\r\n"
		    "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
		    "Content-Description: S/MIME Cryptographic Signature\r\n\r\n", boundary);
		smime_base64_lines(out, (const unsigned char *)der.data, der.len);
		buf_printf(out, "--%s--\r\n", boundary);
	} else {
		buf_appends(out, "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n");
		smime_base64_lines(out, (const unsigned char *)der.data, der.len);
	}
	ok = true;
out:
	free(addr);
	buf_release(&der);
	smime_canon_release(&canon);
	return ok;
}
