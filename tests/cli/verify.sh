#!/bin/bash
# kyso verify, end to end on files: round trips of kyso sign (PEM, PKCS#12,
# gpgsm) -> valid; every reason code the command line can be led to, with
# inputs made by the openssl command line the way other tools make them
# (leaf-only, several signers, no signer, eContent confusion, SHA-1...);
# revocation by a local CRL and by a real `openssl ocsp` responder on
# loopback; --at; bare documents (.p7s beside a file, .p7m, signed PDFs);
# JSON shape; exit codes; Vietnamese and English text; bad input never
# crashes.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-.}/tests/lib.sh"
set -u

work=$(mktemp -d /tmp/kverify.XXXXXX)
ocsp_pid=
cleanup() {
	[ -n "$ocsp_pid" ] && kill "$ocsp_pid" 2>/dev/null
	"$KYSO_SRCDIR/tests/pki/stop-agent" "${GNUPGHOME:-}"
	rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT     # KEEP=1: leave $work for a look after a failure

free_port() {
	perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
		LocalPort => 0) or die; print $s->sockport, "\n"'
}
KYSO_PKI_OCSP_PORT=$(free_port)
KYSO_PKI_HTTP_PORT=$(free_port)
export KYSO_PKI_OCSP_PORT KYSO_PKI_HTTP_PORT
if ! out=$("$KYSO_SRCDIR/tests/pki/mkpki" "$work/pki" 2>&1); then
	echo "Bail out! cannot make the test PKI: $out"
	exit 1
fi
# shellcheck disable=SC1091
. "$work/pki/pki.env"
have_gpgsm=
if "$KYSO_SRCDIR/tests/pki/mkgpgsm" "$work/pki" >/dev/null 2>&1; then
	# shellcheck disable=SC1091
	. "$work/pki/gnupg/gpgsm.env"
	export GNUPGHOME
	have_gpgsm=1
fi
bash "$KYSO_SRCDIR/tests/data/mkmsgs" "$work/msgs" >/dev/null
M=$work/msgs
T=(--trust "$PKI_ANCHORS" --intermediates "$PKI_INTERMEDIATES" --crls "$PKI_CRLS_DIR")
NOW_DATE=$(date -R)

# --- helpers ---
# jpath JSONFILE PATH: a value from JSON (dot-separated keys and indices;
# "#" is an array's length); arrays and objects come out as JSON.
jpath() {
	perl -MJSON::PP -0777 -e '
		binmode STDOUT, ":utf8";
		my $d = JSON::PP->new->utf8->decode(<STDIN>);
		for my $k (split /\./, $ARGV[0]) {
			if ($k eq "#") { $d = scalar @$d; last }
			$d = ref $d eq "ARRAY" ? $d->[$k] : $d->{$k};
		}
		print defined $d ? (ref $d ? JSON::PP->new->canonical->encode($d) : $d) : "null";
	' "$2" <"$1"
}
# v FILE [kyso verify options]: run kyso verify --json; $rc, $work/v.json
v() {
	local f=$1
	shift
	rc=0
	"$KYSO_BIN" verify --json "$@" "$f" >"$work/v.json" 2>"$work/v.err" || rc=$?
}
# expect WHAT VERDICT REASON FILE [options]: the verdict, a reason among its
# reasons ("" for none expected), and the exit status that goes with it.
expect() {
	local what=$1 verdict=$2 reason=$3 f=$4 want_rc=1
	shift 4
	v "$f" "$@"
	[ "$verdict" = valid ] && want_rc=0
	is "$(jpath "$work/v.json" verdict)" "$verdict" "$what: $verdict"
	is "$rc" "$want_rc" "$what: exit $want_rc"
	if [ -n "$reason" ]; then
		ok "$what: reason $reason" grep -q "\"$reason\"" <<<"$(jpath "$work/v.json" reasons)"
	fi
}
# now_date FILE: the message's Date set to now (signing checks it against the signing time)
now_date() {
	perl -pi -e "s/^Date: .*?(\\r?)\$/Date: $NOW_DATE\$1/" "$1"
}
# mkmsg LEAF OUT: the entity to sign, with the header of a message from LEAF
# dated now in OUT.hdr
mkmsg() {
	local up email
	up=$(echo "$1" | tr '[:lower:]' '[:upper:]')
	email="PKI_${up}_EMAIL"
	printf 'From: %s\r\nTo: ubnd@longan.gov.vn\r\nSubject: test\r\nDate: %s\r\n' "${!email}" "$NOW_DATE" >"$2.hdr"
	printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nKinh gui UBND tinh.\r\n' >"$2"
}
# osign LEAF IN OUT [openssl cms -sign args]: a message signed by openssl
# (multipart/signed, or whatever the args ask for): IN.hdr, then openssl's output
osign() {
	local leaf=$1 in=$2 out=$3 up
	shift 3
	up=$(echo "$leaf" | tr '[:lower:]' '[:upper:]')
	local c="PKI_${up}_CERT" k="PKI_${up}_KEY"
	"$OPENSSL_CLI" cms -sign -signer "${!c}" -inkey "${!k}" -in "$in" -out "$out.body" "$@" &&
		cat "$in.hdr" "$out.body" >"$out"
}
# with_p7s DER MSG OUT: MSG (made by kyso sign) with DER as its smime.p7s
with_p7s() {
	perl -MMIME::Base64 -0777 -e '
		open my $f, "<:raw", $ARGV[0] or die; my $d = do { local $/; <$f> };
		open my $m, "<:raw", $ARGV[1] or die; my $msg = do { local $/; <$m> };
		$msg =~ s{(filename="smime\.p7s"\r\n(?:[^\r\n]+\r\n)*\r\n)[A-Za-z0-9+/=\r\n]+?(--)}{$1 . encode_base64($d, "\r\n") . $2}se
			or die "no smime.p7s part\n";
		print $msg' "$1" "$2" >"$3"
}
# p7s_of MSG DER: the smime.p7s of MSG (made by kyso sign), decoded
p7s_of() {
	perl -MMIME::Base64 -0777 -e '
		my $msg = <STDIN>;
		$msg =~ m{filename="smime\.p7s"\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9+/=\r\n]+?)--}s or die "no smime.p7s part\n";
		print decode_base64($1)' <"$1" >"$2"
}

for m in plain utf8 html pdf lf longline nonl; do now_date "$M/$m.eml"; done

# --- round trips: kyso sign, then kyso verify ---
backends=(pem p12)
[ -n "$have_gpgsm" ] && backends+=(gpgsm)
for b in "${backends[@]}"; do
	case $b in
	pem) args=(--cert "$PKI_NGAN_CERT" --key "$PKI_NGAN_ENCKEY" --chain "$PKI_NGAN_CHAIN" --pass-file "$PKI_PASS_FILE") ;;
	p12) args=(--p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE") ;;
	gpgsm) args=(--gpgsm "$GPGSM_FPR_NGAN" --gnupghome "$GNUPGHOME") ;;
	esac
	for m in plain utf8 html pdf lf longline nonl; do
		for mode in detached opaque; do
			opt=()
			[ $mode = opaque ] && opt=(--opaque)
			out=$work/rt-$b-$m-$mode.eml
			if "$KYSO_BIN" sign "${args[@]}" "${opt[@]}" -o "$out" "$M/$m.eml" 2>"$work/sign.err"; then
				expect "round trip $b $m $mode" valid "" "$out" "${T[@]}"
			else
				ok "round trip $b $m $mode: kyso sign" false
				diag "$(cat "$work/sign.err")"
			fi
		done
	done
done
if [ -z "$have_gpgsm" ]; then
	diag "gpgsm keyring could not be made: the gpgsm round trip is skipped"
fi
S=$work/rt-p12-utf8-detached.eml
P=$work/rt-p12-plain-detached.eml

# --- the report ---
v "$S" "${T[@]}"
is "$(jpath "$work/v.json" file)" "$S" "json: file"
is "$(jpath "$work/v.json" reasons)" "[]" "json: no reasons when valid"
is "$(jpath "$work/v.json" signatures.#)" 1 "json: one signature"
is "$(jpath "$work/v.json" signatures.0.where)" message "json: where"
is "$(jpath "$work/v.json" signatures.0.kind)" multipart-signed "json: kind"
is "$(jpath "$work/v.json" signatures.0.covers)" whole "json: covers"
is "$(jpath "$work/v.json" signatures.0.signer.subject)" "CN=Trần Kim Ngân,O=UBND huyện Bến Lức,ST=Long An,C=VN" \
	"json: subject in UTF-8"
is "$(jpath "$work/v.json" signatures.0.signer.emails)" '["ngan@benluc.longan.gov.vn"]' "json: signer e-mail"
fpr=$("$OPENSSL_CLI" x509 -in "$PKI_NGAN_CERT" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
is "$(jpath "$work/v.json" signatures.0.signer.sha256)" "$fpr" "json: SHA-256 fingerprint of the signer"
serial=$("$OPENSSL_CLI" x509 -in "$PKI_NGAN_CERT" -noout -serial | sed 's/.*=//' | tr 'A-F' 'a-f' | sed 's/^0*//')
is "$(jpath "$work/v.json" signatures.0.signer.serial | sed 's/^0*//')" "$serial" "json: serial"
ok "json: issuer" grep -q "CA phục vụ các cơ quan Nhà nước" <<<"$(jpath "$work/v.json" signatures.0.signer.issuer)"
is "$(jpath "$work/v.json" signatures.0.chain.#)" 3 "json: chain of three"
ok "json: signing time in UTC" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
	<<<"$(jpath "$work/v.json" signatures.0.signing_time)"
is "$(jpath "$work/v.json" signatures.0.revocation)" "crl:local good" "json: revocation source"
ok "text in Vietnamese" bash -c "'$KYSO_BIN' verify --lang vi ${T[*]} '$S' | grep -q '^.*: Hợp lệ$'"
ok "text in English" bash -c "'$KYSO_BIN' verify --lang en ${T[*]} '$S' | grep -q ': Valid$'"
ok "Vietnamese by default in a vi_VN locale" bash -c "LC_ALL= LANG=vi_VN.UTF-8 '$KYSO_BIN' verify ${T[*]} '$S' | grep -q 'Người ký: CN=Trần Kim Ngân'"
ok "English by default otherwise" bash -c "LC_ALL=C '$KYSO_BIN' verify ${T[*]} '$S' | grep -q 'Signer: CN=Trần Kim Ngân'"
perl -pe 's/plain ASCII message/plain ASCII massage/' "$P" >"$work/tampered.eml"
ok "the tampered copy differs" bash -c "! cmp -s '$P' '$work/tampered.eml'"
rc=0
"$KYSO_BIN" verify --json "${T[@]}" "$S" "$work/tampered.eml" >"$work/two.json" || rc=$?
is "$(jpath "$work/two.json" "#")" 2 "several files: a JSON array"
is "$(jpath "$work/two.json" 1.verdict)" invalid "several files: each its own verdict"
is "$rc" 1 "several files: exit 1 when one is not valid"

# --- integrity ---
expect "body changed after signing" invalid digest-mismatch "$work/tampered.eml" "${T[@]}"
# the signature value's last byte flipped
p7s_of "$P" "$work/p.der"
perl -0777 -pe 'substr($_, -1, 1) = chr(ord(substr($_, -1, 1)) ^ 1)' "$work/p.der" >"$work/badsig.der"
with_p7s "$work/badsig.der" "$P" "$work/badsig.eml"
expect "signature value changed" invalid bad-signature "$work/badsig.eml" "${T[@]}"
printf 'not a signature at all' >"$work/garbage.der"
with_p7s "$work/garbage.der" "$P" "$work/garbage-p7s.eml"
expect "garbage in the p7s" malformed malformed "$work/garbage-p7s.eml" "${T[@]}"

# --- messages made by openssl ---
mkmsg ngan "$work/n.eml"
osign ngan "$work/n.eml" "$work/leafonly.eml"
expect "leaf-only signature, intermediate from the store" valid "" "$work/leafonly.eml" "${T[@]}"
expect "leaf-only signature, no intermediates" indeterminate untrusted-chain "$work/leafonly.eml" \
	--trust "$PKI_ANCHORS" --revocation off
osign ngan "$work/n.eml" "$work/sha1.eml" -md sha1 -certfile "$PKI_NGAN_CHAIN"
expect "SHA-1 digest" invalid weak-algorithm "$work/sha1.eml" "${T[@]}"
osign ngan "$work/n.eml" "$work/nocerts.eml" -nocerts
expect "signer certificate not in the signature" indeterminate no-signer "$work/nocerts.eml" "${T[@]}"
"$OPENSSL_CLI" cms -resign -in "$work/leafonly.eml" -signer "$PKI_VANTHU_CERT" -inkey "$PKI_VANTHU_KEY" \
	-out "$work/two-signers.eml"
expect "two signerInfos" invalid multiple-signers "$work/two-signers.eml" "${T[@]}"
# zero signerInfos: a degenerate SignedData (certificates only) as the p7s
"$OPENSSL_CLI" crl2pkcs7 -nocrl -certfile "$PKI_NGAN_CERT" -outform DER -out "$work/nosig.der"
with_p7s "$work/nosig.der" "$P" "$work/nosigners.eml"
expect "zero signerInfos" invalid no-signer "$work/nosigners.eml" "${T[@]}"
# eContent confusion: a p7s that carries other content
printf 'Content-Type: text/plain\r\n\r\nThe real text.\r\n' >"$work/real.txt"
"$OPENSSL_CLI" cms -sign -nodetach -binary -signer "$PKI_NGAN_CERT" -inkey "$PKI_NGAN_KEY" -in "$work/real.txt" \
	-outform DER -out "$work/econtent.der"
with_p7s "$work/econtent.der" "$P" "$work/econtent.eml"
expect "eContent in a detached signature" invalid econtent-mismatch "$work/econtent.eml" "${T[@]}"
mkmsg ngan "$work/enc-in.eml"
"$OPENSSL_CLI" smime -encrypt -aes256 -in "$work/enc-in.eml" -out "$work/enc.body" "$PKI_NGAN_CERT"
cat "$work/enc-in.eml.hdr" "$work/enc.body" >"$work/enc.eml"
expect "encrypted" encrypted "" "$work/enc.eml" "${T[@]}"
expect "not signed" unsigned "" "$M/plain.eml" "${T[@]}"

# --- certificates and revocation ---
for leaf in expired notyet wrongku wrongeku revoked rsa1024 sha1 selfsigned; do
	mkmsg $leaf "$work/$leaf.in"
	osign $leaf "$work/$leaf.in" "$work/$leaf.eml"
done
expect "expired certificate, checked now" indeterminate expired "$work/expired.eml" "${T[@]}"
at=$(date -u -d '-500 days' +%Y-%m-%dT%H:%M:%SZ)
expect "expired certificate, checked as of a time it was valid (--at)" valid "" "$work/expired.eml" \
	"${T[@]}" --at "$at" --revocation off
expect "not yet valid" invalid not-yet-valid "$work/notyet.eml" "${T[@]}"
expect "key usage without digitalSignature" invalid key-usage "$work/wrongku.eml" "${T[@]}"
expect "extended key usage without emailProtection" invalid key-usage "$work/wrongeku.eml" "${T[@]}"
expect "revoked, local CRL" invalid revoked "$work/revoked.eml" "${T[@]}"
expect "RSA-1024 key" invalid weak-algorithm "$work/rsa1024.eml" "${T[@]}"
expect "certificate signed with SHA-1" invalid weak-algorithm "$work/sha1.eml" "${T[@]}"
expect "self-signed" indeterminate untrusted-chain "$work/selfsigned.eml" "${T[@]}"
# revocation from a real OCSP responder on loopback (no local CRLs)
"$OPENSSL_CLI" ocsp -index "$PKI_SUB_GOV_INDEX" -CA "$PKI_SUB_GOV" -rsigner "$PKI_SUB_GOV" -rkey "$PKI_SUB_GOV_KEY" \
	-port "$KYSO_PKI_OCSP_PORT" >"$work/ocsp.log" 2>&1 &
ocsp_pid=$!
# (a probe connection would wedge the single-threaded responder: wait for its banner)
for _ in $(seq 1 100); do
	grep -q "waiting for OCSP client connections" "$work/ocsp.log" 2>/dev/null && break
	sleep 0.1
done
NT=(--trust "$PKI_ANCHORS" --intermediates "$PKI_INTERMEDIATES" --revocation require)
expect "revoked, OCSP" invalid revoked "$work/revoked.eml" "${NT[@]}"
ok "revoked, OCSP: the source is the responder" grep -q "ocsp:$PKI_OCSP_URL" \
	<<<"$(jpath "$work/v.json" signatures.0.revocation)"
mkdir "$work/root-crl"
cp "$PKI_CRL_GOV_ROOT" "$work/root-crl/"
expect "good, OCSP (the root's CRL from the local store)" valid "" "$S" "${NT[@]}" --crls "$work/root-crl"
ok "good, OCSP: the source is the responder" grep -q "^ocsp:.* good" <<<"$(jpath "$work/v.json" signatures.0.revocation)"
kill "$ocsp_pid" 2>/dev/null
wait "$ocsp_pid" 2>/dev/null
ocsp_pid=
expect "revocation required, nobody answers" indeterminate revocation-unknown "$S" "${NT[@]}"
expect "revocation preferred, nobody answers: valid (a warning)" valid "" "$S" \
	--trust "$PKI_ANCHORS" --intermediates "$PKI_INTERMEDIATES" --revocation prefer
is "$(jpath "$work/v.json" signatures.0.reasons)" '["revocation-unknown"]' "the warning is on the signature"

# --- the sender ---
perl -pe 's/^From: .*?(\r?)$/From: lanhdao\@benluc.longan.gov.vn$1/' "$S" >"$work/from.eml"
expect "From changed to someone else" invalid sender-mismatch "$work/from.eml" "${T[@]}"
perl -pe 's/^From: .*?(\r?)$/From: "ngan\@benluc.longan.gov.vn" <boss\@evil.example>$1/' "$S" >"$work/display.eml"
expect "the signer's address as display name" invalid sender-mismatch "$work/display.eml" "${T[@]}"
perl -pe 's/^(From: .*?)(\r?)$/$1$2\nFrom: boss\@evil.example$2/' "$S" >"$work/twofrom.eml"
expect "two From fields" invalid sender-mismatch "$work/twofrom.eml" "${T[@]}"
perl -pe 's/^From: .*?(\r?)$/From: boss\@evil.example$1\nSender: ngan\@benluc.longan.gov.vn$1/' "$S" >"$work/sender.eml"
expect "a Sender does not replace a single From" invalid sender-mismatch "$work/sender.eml" "${T[@]}"
perl -pe 's/^Date: .*?(\r?)$/"Date: " . `date -R -d "+6 hours" | tr -d "\\n"` . $1/e' "$S" >"$work/late.eml"
expect "Date six hours after the signing time" invalid time-mismatch "$work/late.eml" "${T[@]}"

# --- structure ---
perl -0777 -e '
	my $m = do { local $/; <STDIN> };
	my ($h, $b) = $m =~ /\A(.*?\r\n)\r\n(.*)\z/s;
	my ($ct) = $h =~ /^(Content-Type: multipart\/signed.*?\r\n(?:[ \t].*?\r\n)*)/ms;
	$h =~ s/^Content-Type: multipart\/signed.*?\r\n(?:[ \t].*?\r\n)*//ms;
	print $h, "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n", $ct, "\r\n", $b,
		"\r\n--outer\r\nContent-Type: text/plain\r\n\r\nList footer.\r\n--outer--\r\n"' <"$S" >"$work/wrapped.eml"
expect "signed part inside an unsigned multipart" partial partial-coverage "$work/wrapped.eml" "${T[@]}"
is "$(jpath "$work/v.json" signatures.0.covers)" part "wrapped: the signature covers a part"
{
	printf 'From: vanthu@benluc.longan.gov.vn\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/mixed; boundary="fw"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\nFYI\r\n'
	printf -- '--fw\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="cv.eml"\r\n\r\n'
	cat "$S"
	printf '\r\n--fw--\r\n'
} >"$work/fwd.eml"
expect "forwarded signed message: the outer one is not signed" unsigned "" "$work/fwd.eml" "${T[@]}"
is "$(jpath "$work/v.json" signatures.0.where)" "attachment cv.eml" "forwarded: reported as an attachment"
is "$(jpath "$work/v.json" attachments.0.verdict)" valid "forwarded: its own verdict"

# --- bare documents ---
printf 'Quyết định số 12/QĐ-UBND\r\n' >"$work/QD-12.txt"
"$OPENSSL_CLI" cms -sign -binary -signer "$PKI_LANHDAO_CERT" -inkey "$PKI_LANHDAO_KEY" -in "$work/QD-12.txt" \
	-outform DER -out "$work/QD-12.txt.p7s"
expect "document with NAME.p7s beside it" valid "" "$work/QD-12.txt" "${T[@]}"
is "$(jpath "$work/v.json" signatures.0.kind)" p7s "document: kind p7s"
expect "the .p7s named instead of the document" valid "" "$work/QD-12.txt.p7s" "${T[@]}"
mkdir "$work/d2"
cp "$work/QD-12.txt" "$work/d2/QD-12.txt"
cp "$work/QD-12.txt.p7s" "$work/d2/QD-12.p7s"
expect "document with NAME-without-extension.p7s" valid "" "$work/d2/QD-12.txt" "${T[@]}"
printf 'Quyết định số 13/QĐ-UBND\r\n' >"$work/d2/QD-12.txt"
expect "document changed after its .p7s" invalid digest-mismatch "$work/d2/QD-12.txt" "${T[@]}"
"$OPENSSL_CLI" cms -sign -nodetach -binary -signer "$PKI_ORG_CERT" -inkey "$PKI_ORG_KEY" -in "$work/QD-12.txt" \
	-outform DER -out "$work/QD-12.txt.p7m"
expect "enveloping .p7m" valid "" "$work/QD-12.txt.p7m" "${T[@]}"
is "$(jpath "$work/v.json" signatures.0.file)" QD-12.txt "p7m: the inner file name"
"$OPENSSL_CLI" cms -sign -nodetach -binary -signer "$PKI_ORG_CERT" -inkey "$PKI_ORG_KEY" -in "$work/QD-12.txt" \
	-outform PEM -out "$work/pem.p7m"
expect "enveloping .p7m in PEM" valid "" "$work/pem.p7m" "${T[@]}"
if perl "$KYSO_SRCDIR/tests/data/mkpdf" "$work/pdf" "$work/pki" >"$work/mkpdf.log" 2>&1; then
	expect "PDF with one signature" valid "" "$work/pdf/one.pdf" "${T[@]}"
	expect "PDF with the leader's and the organisation's signatures" valid "" "$work/pdf/two.pdf" "${T[@]}"
	is "$(jpath "$work/v.json" signatures.#)" 2 "two.pdf: two signatures"
	is "$(jpath "$work/v.json" signatures.0.covers)" partial-file "two.pdf: the first covers an earlier revision"
	expect "PDF signed, then appended to" partial modified-after-signing "$work/pdf/changed.pdf" "${T[@]}"
	expect "PDF with adbe.pkcs7.sha1" invalid weak-algorithm "$work/pdf/sha1.pdf" "${T[@]}"
	expect "PDF with a document timestamp after its signatures" partial modified-after-signing \
		"$work/pdf/docts.pdf" "${T[@]}"
	is "$(jpath "$work/v.json" signatures.2.kind)" pdf-timestamp "docts.pdf: the timestamp is recognised"
else
	diag "tests/data/mkpdf failed: $(tail -3 "$work/mkpdf.log")"
	ok "tests/data/mkpdf makes the test PDFs" false
fi

# --- usage and I/O ---
rc=0; "$KYSO_BIN" verify >/dev/null 2>&1 || rc=$?
is "$rc" 2 "no file: exit 2"
rc=0; "$KYSO_BIN" verify --bogus "$S" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "unknown option: exit 2"
rc=0; "$KYSO_BIN" verify --at yesterday "$S" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "bad --at: exit 2"
rc=0; "$KYSO_BIN" verify --revocation maybe "$S" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "bad --revocation: exit 2"
rc=0; "$KYSO_BIN" verify "$work/no-such-file.eml" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "missing file: exit 2"
rc=0; "$KYSO_BIN" verify --trust "$work/no-such-anchors.pem" "$S" >/dev/null 2>&1 || rc=$?
is "$rc" 2 "missing trust file: exit 2"
ok "stdin" bash -c "'$KYSO_BIN' verify ${T[*]} - <'$S' | grep -q ': Valid$'"

# --- bad input: a verdict, never a crash ---
{
	printf 'From: a@b.vn\r\nMIME-Version: 1.0\r\n'
	for i in $(seq 1 200); do printf 'Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n' "$i" "$i"; done
	printf 'Content-Type: text/plain\r\n\r\ndeep\r\n'
} >"$work/deep.eml"
head -c "$(($(wc -c <"$S") / 2))" "$S" >"$work/half.eml"
for f in "$M/garbage.eml" "$M/empty.eml" "$M/truncated.eml" "$M/nofrom.eml" "$work/deep.eml" "$work/half.eml"; do
	rc=0
	"$KYSO_BIN" verify --json "${T[@]}" "$f" >"$work/bad.json" 2>&1 || rc=$?
	is "$rc" 1 "bad input $(basename "$f"): a verdict (exit 1), no crash"
	ok "bad input $(basename "$f"): not valid" bash -c "! grep -q '\"verdict\" *: *\"valid\"' '$work/bad.json'"
done

done_testing
