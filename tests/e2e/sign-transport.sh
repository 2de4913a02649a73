#!/bin/bash
# tests/e2e/sign-transport.sh - messages signed by kyso survive the real
# transport: submitted through the project's Postfix (STARTTLS + AUTH, with
# kyso's smtpc), delivered by LMTP into Dovecot, fetched over IMAPS (kyso's
# imapc), they still verify, and the bytes that arrived are exactly the bytes
# sent (the servers only prepend trace header lines).
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

tool=$KYSO_BUILDDIR/tests/e2e/mailtool
[ -x "$tool" ] || { echo "Bail out! $tool is not built (make check builds it)"; exit 1; }
work=$(mktemp -d /tmp/kxport.XXXXXX)
cleanup() { mailstack_down; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mailstack_up
"$KYSO_SRCDIR/tests/pki/mkpki" "$work/pki" >/dev/null || { echo "Bail out! mkpki failed"; exit 1; }
# shellcheck disable=SC1091
. "$work/pki/pki.env"
bash "$KYSO_SRCDIR/tests/data/mkmsgs" "$work/m"

# USER1 is vanthu@benluc.longan.gov.vn; the message goes to ubnd@longan.gov.vn.
rcpt=ubnd@longan.gov.vn
rpass=""
i=1
while [ "$i" -le "$USER_COUNT" ]; do
	u="USER$i" p="PASS$i"
	[ "${!u}" = "$rcpt" ] && rpass=${!p}
	i=$((i + 1))
done
[ -n "$rpass" ] || { echo "Bail out! $rcpt is not a mailbox of the stack"; exit 1; }

# An arrived message is the sent one plus header fields the servers add:
# trace fields on top, and Date/Message-ID when the message had none.  The
# body, and every header field that was sent, arrive byte for byte.
same_after_transport() {	# SENT ARRIVED
	perl -e '
		sub split_msg { my ($f) = @_; open(my $h, "<:raw", $f) or die "$f: $!\n"; local $/; my $d = <$h>;
			my $i = index($d, "\r\n\r\n"); die "$f: no header end\n" if $i < 0;
			my $hdr = substr($d, 0, $i + 2); my @f = ($hdr =~ /(.+?\r\n(?:[ \t].*?\r\n)*)/gs);
			return (\@f, substr($d, $i + 4)); }
		my ($sh, $sb) = split_msg($ARGV[0]); my ($ah, $ab) = split_msg($ARGV[1]);
		die "the body changed in transport\n" unless $sb eq $ab;
		my $j = 0;
		for my $f (@$ah) {
			if ($j < @$sh && $f eq $sh->[$j]) { $j++; next; }
			die "added or changed header field: $f" unless $f =~ /^(Return-Path|Delivered-To|Received|Date|Message-ID):/i;
		}
		die "header field lost or changed: $sh->[$j]" if $j < @$sh;
	' "$1" "$2"
}

n=0
for m in plain utf8 html pdf lf longline nonl; do
	for mode in detached opaque; do
		n=$((n + 1))
		id="xport-$n-$$@benluc.longan.gov.vn"
		# a unique Message-ID, first, so the fetch finds this one
		{ printf 'Message-ID: <%s>\r\n' "$id"; grep -av '^Message-ID:' "$work/m/$m.eml"; } >"$work/in.eml"
		opt=(); [ $mode = opaque ] && opt=(--opaque)
		"$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" --trust "$PKI_ANCHORS" "${opt[@]}" \
			-o "$work/signed.eml" "$work/in.eml" 2>"$work/err" || { diag "$(cat "$work/err")"; }
		ok "$m $mode: submitted over submission (STARTTLS+AUTH)" \
			"$tool" send "$USER1" "$PASS1" "$USER1" "$rcpt" "$work/signed.eml"
		ok "$m $mode: fetched from Dovecot over IMAPS" \
			"$tool" fetch "$rcpt" "$rpass" INBOX "$id" "$work/got.eml" 20
		ok "$m $mode: arrived byte for byte" same_after_transport "$work/signed.eml" "$work/got.eml"
		ok "$m $mode: still verifies (openssl cms -verify)" \
			"$OPENSSL_CLI" cms -verify -in "$work/got.eml" -CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null
		rm -f "$work/got.eml" "$work/signed.eml"
	done
done
done_testing
