#!/bin/bash
# kyso sign, end to end on files: every key backend (PEM, PKCS#12, PKCS#11 on
# SoftHSM2, gpgsm) x every message shape x detached/opaque, each output checked
# by outside verifiers (openssl cms -verify, gpgsm --verify); every refusal;
# bad inputs give an error, never a crash.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-.}/tests/lib.sh"
set -u

work=$(mktemp -d /tmp/ksign.XXXXXX)
cleanup() {
	"$KYSO_SRCDIR/tests/pki/stop-agent" "${GNUPGHOME:-}"
	rm -rf "$work"
}
trap cleanup EXIT

if ! out=$("$KYSO_SRCDIR/tests/pki/mkpki" "$work/pki" 2>&1); then
	echo "Bail out! cannot make the test PKI: $out"
	exit 1
fi
# shellcheck disable=SC1091
. "$work/pki/pki.env"
"$KYSO_SRCDIR/tests/pki/mktoken" "$work/pki" >/dev/null 2>&1 || { echo "Bail out! cannot make the SoftHSM2 token"; exit 1; }
# shellcheck disable=SC1091
. "$work/pki/softhsm/token.env"
export SOFTHSM2_CONF
"$KYSO_SRCDIR/tests/pki/mkgpgsm" "$work/pki" >/dev/null 2>&1 || { echo "Bail out! cannot make the gpgsm keyring"; exit 1; }
# shellcheck disable=SC1091
. "$work/pki/gnupg/gpgsm.env"
export GNUPGHOME
bash "$KYSO_SRCDIR/tests/data/mkmsgs" "$work/msgs" --big
M=$work/msgs
TRUST=(--trust "$PKI_ANCHORS" --intermediates "$PKI_INTERMEDIATES")

backend_args() {
	case $1 in
	pem)    echo --cert "$PKI_NGAN_CERT" --key "$PKI_NGAN_ENCKEY" --chain "$PKI_NGAN_CHAIN" --pass-file "$PKI_PASS_FILE" ;;
	p12)    echo --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" ;;
	pkcs11) echo --cert "$PKI_NGAN_CERT" --chain "$PKI_NGAN_CHAIN" --key "$PKCS11_URI_NGAN" \
	            --pin-file "$PKCS11_PIN_FILE" --pkcs11-module "$PKCS11_MODULE" ;;
	gpgsm)  echo --gpgsm "$GPGSM_FPR_NGAN" --gnupghome "$GNUPGHOME" ;;
	esac
}

# Oracle checks on a signed message.
ossl_verify() {	# FILE [extra openssl args]
	local f=$1; shift
	"$OPENSSL_CLI" cms -verify -in "$f" -CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null "$@"
}
# Byte-exact split of a detached signature: the entity and the DER signature.
split() { "$KYSO_SRCDIR/tests/data/split-signed" "$1" "$work/entity.bin" "$work/sig.der"; }
exact_bytes_verify() {	# FILE: openssl over exactly the bytes between the delimiters
	split "$1" &&
	"$OPENSSL_CLI" cms -verify -binary -inform DER -in "$work/sig.der" -content "$work/entity.bin" \
		-CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null
}
entity_is_transport_safe() {	# FILE: the signed entity is 7-bit with lines <= 76 (+CRLF)
	split "$1" || return 1
	! LC_ALL=C grep -q $'[\x80-\xff]' "$work/entity.bin" || { echo "8-bit byte in the signed entity"; return 1; }
	LC_ALL=C awk '{ if (length($0) > 77) { print "line " NR " has " length($0) " bytes"; bad=1 } } END { exit bad }' \
		"$work/entity.bin"
}
gpgsm_verify_detached() {	# FILE
	split "$1" && gpgsm --batch --disable-crl-checks --verify "$work/sig.der" "$work/entity.bin"
}

# --- the round-trip matrix ---
for b in pem p12 pkcs11 gpgsm; do
	read -r -a args <<<"$(backend_args $b)"
	for m in plain utf8 html pdf lf longline nonl big; do
		for mode in detached opaque; do
			out=$work/out-$b-$m-$mode.eml
			opt=(); [ $mode = opaque ] && opt=(--opaque)
			ok "$b $m $mode: kyso sign" "$KYSO_BIN" sign "${args[@]}" "${opt[@]}" "${TRUST[@]}" -o "$out" "$M/$m.eml"
			ok "$b $m $mode: openssl cms -verify" ossl_verify "$out"
			ok "$b $m $mode: kyso verify says valid" "$KYSO_BIN" verify --trust "$PKI_ANCHORS" \
				--revocation off "$out"
			if [ $mode = detached ]; then
				ok "$b $m $mode: openssl cms -verify over the exact bytes" exact_bytes_verify "$out"
				ok "$b $m $mode: gpgsm --verify" gpgsm_verify_detached "$out"
				ok "$b $m $mode: signed entity is 7-bit, lines <= 76" entity_is_transport_safe "$out"
			fi
			rm -f "$out"
		done
	done
done

# --- what the output looks like ---
"$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" "${TRUST[@]}" -o "$work/u.eml" "$M/utf8.eml"
is "$(grep -c '^Bcc:' "$work/u.eml")" 0 "Bcc is removed"
is "$(grep -c '^Date:' "$work/u.eml")" 1 "one Date field"
ok "Date is the signing time (the message is sent now)" grep -q "^Date: .* $(date -u +%Y) .*+0000" "$work/u.eml"
ok "the draft's old Date is gone" bash -c "! grep -q '^Date: Sun, 29 Nov 2026 09:00:00 +0700' '$work/u.eml'"
"$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" --keep-date -o "$work/k.eml" "$M/utf8.eml"
ok "--keep-date keeps the draft's Date" grep -q '^Date: Sun, 29 Nov 2026 09:00:00 +0700' "$work/k.eml"
is "$(grep -c '^Cc: Văn thư' "$work/u.eml")" 1 "other headers are kept"
ok "micalg names the digest used" grep -q 'micalg=sha-256' "$work/u.eml"
ok "protocol is application/pkcs7-signature" grep -q 'protocol="application/pkcs7-signature"' "$work/u.eml"
ok "Content-Type of the original moved into the signed part" grep -q '^Content-Type: text/plain; charset=utf-8' "$work/u.eml"
split "$work/u.eml"
decoded=$(perl -MMIME::QuotedPrint -0777 -ne 's/\A.*?\r\n\r\n//s; print decode_qp($_)' "$work/entity.bin")
ok "the signed text decodes back to the original UTF-8" \
	grep -q 'Ủy ban nhân dân huyện Bến Lức trân trọng báo cáo kết quả ứng dụng chữ ký số.   ' <<<"$decoded"
ok "a line starting with From survives" grep -q '^From here on.' <<<"$decoded"
for d in sha384 sha512; do
	"$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" --digest $d -o "$work/d.eml" "$M/plain.eml"
	ok "--digest $d: micalg=sha-${d#sha}" grep -q "micalg=sha-${d#sha}" "$work/d.eml"
	ok "--digest $d verifies" ossl_verify "$work/d.eml"
done
ok "--rsa-pss signs" "$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" --rsa-pss -o "$work/pss.eml" "$M/plain.eml"
ok "--rsa-pss verifies" ossl_verify "$work/pss.eml"
ok "--rsa-pss uses RSASSA-PSS" bash -c "'$OPENSSL_CLI' cms -cmsout -print -in '$work/pss.eml' | grep -q rsassaPss"
sed 's/ngan@benluc/hoa@benluc/' "$M/plain.eml" >"$work/hoa.eml"
ok "ECDSA key signs" "$KYSO_BIN" sign --p12 "$PKI_ECDSA_P12" --pass-file "$PKI_PASS_FILE" "${TRUST[@]}" -o "$work/ec.eml" "$work/hoa.eml"
ok "ECDSA signature verifies" ossl_verify "$work/ec.eml"
ok "stdin to stdout" bash -c "'$KYSO_BIN' sign --p12 '$PKI_NGAN_P12' --pass-file '$PKI_PASS_FILE' <'$M/plain.eml' >'$work/s.eml'"
ok "stdin to stdout verifies" ossl_verify "$work/s.eml"
cmsprint=$("$OPENSSL_CLI" cms -cmsout -print -in "$work/s.eml")
for attr in contentType messageDigest signingTime "S/MIME Capabilities" id-smime-aa-signingCertificateV2; do
	ok "signed attribute $attr present" grep -q "$attr" <<<"$cmsprint"
done
certs=$("$OPENSSL_CLI" smime -pk7out -in "$work/s.eml" | "$OPENSSL_CLI" pkcs7 -print_certs -noout)
is "$(grep -c '^subject' <<<"$certs")" 2 "signer and intermediate included, root not"

# --- refusals ---
refuse() {	# NAME EXPECTED-WORDS MESSAGE [extra kyso args]
	local name=$1 words=$2 msg=$3 up
	shift 3
	up=$(echo "$name" | tr '[:lower:]' '[:upper:]')
	local p12var="PKI_${up}_P12"
	local rc=0
	rm -f "$work/r.eml"
	"$KYSO_BIN" sign --p12 "${!p12var}" --pass-file "$PKI_PASS_FILE" "${TRUST[@]}" "$@" -o "$work/r.eml" "$msg" \
		>"$work/r.out" 2>&1 || rc=$?
	is "$rc" 1 "refuses $name: exit 1"
	ok "refuses $name: says '$words'" grep -q "$words" "$work/r.out"
	ok "refuses $name: writes nothing" test ! -e "$work/r.eml"
}
for n in expired notyet wrongku wrongeku revoked sha1 rsa1024 selfsigned; do
	up=$(echo "$n" | tr '[:lower:]' '[:upper:]'); emailvar="PKI_${up}_EMAIL"
	sed "s/ngan@benluc.longan.gov.vn/${!emailvar}/" "$M/plain.eml" >"$work/$n.eml"
done
refuse expired "expired" "$work/expired.eml"
refuse notyet "not yet valid" "$work/notyet.eml"
refuse wrongku "key usage" "$work/wrongku.eml"
refuse wrongeku "emailProtection" "$work/wrongeku.eml"
refuse revoked "revoked" "$work/revoked.eml" --crls "$PKI_CRLS_DIR"
refuse sha1 "weak algorithm" "$work/sha1.eml"
refuse rsa1024 "too weak" "$work/rsa1024.eml"
refuse selfsigned "does not chain" "$work/selfsigned.eml"
refuse vanthu "does not carry the sender address ngan@benluc.longan.gov.vn" "$M/plain.eml"
refuse org "does not carry the sender address" "$M/plain.eml"
ok "organisation certificate signs with --organisation" "$KYSO_BIN" sign --p12 "$PKI_ORG_P12" \
	--pass-file "$PKI_PASS_FILE" "${TRUST[@]}" --organisation -o "$work/org.eml" "$M/plain.eml"
ok "organisation signature verifies" ossl_verify "$work/org.eml"
sed "s/ngan@benluc.longan.gov.vn/$PKI_AN_EMAIL/" "$M/plain.eml" >"$work/an.eml"
refuse an "does not chain" "$work/an.eml" --trust "$PKI_DIR/gov-root.pem"

# --- bad input: an error, never a crash ---
bad() {	# WHAT EXPECTED-WORDS kyso-sign-args...
	local what=$1 words=$2 rc=0
	shift 2
	rm -f "$work/b.eml"
	"$KYSO_BIN" sign "$@" -o "$work/b.eml" >"$work/b.out" 2>&1 || rc=$?
	ok "bad input ($what): fails cleanly (exit $rc)" test "$rc" -ge 1 -a "$rc" -le 2
	ok "bad input ($what): says '$words'" grep -q "$words" "$work/b.out"
	ok "bad input ($what): no sanitizer report" bash -c "! grep -q 'Sanitizer' '$work/b.out'"
	ok "bad input ($what): writes nothing" test ! -e "$work/b.eml"
}
P12=(--p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE")
bad "no From" "no From address" "${P12[@]}" "$M/nofrom.eml"
bad "empty file" "empty" "${P12[@]}" "$M/empty.eml"
bad "empty body" "body is empty" "${P12[@]}" "$M/emptybody.eml"
bad "garbage bytes" "kyso sign:" "${P12[@]}" "$M/garbage.eml"
bad "truncated MIME" "kyso sign:" "${P12[@]}" "$M/truncated.eml"
bad "missing input" "No such file" "${P12[@]}" "$work/nonexistent.eml"
bad "wrong p12 password" "wrong password" --p12 "$PKI_NGAN_P12" --pass-file "$PKI_WRONGPASS_FILE" "$M/plain.eml"
bad "wrong key passphrase" "wrong passphrase" --cert "$PKI_NGAN_CERT" --key "$PKI_NGAN_ENCKEY" \
	--pass-file "$PKI_WRONGPASS_FILE" "$M/plain.eml"
bad "key of another certificate" "does not belong" --cert "$PKI_NGAN_CERT" --key "$PKI_VANTHU_KEY" "$M/plain.eml"
# Full stacks under ASan for the token cases, so the engine's leaks match tests/lsan.supp.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0 \
bad "wrong PIN" "PKCS#11" --cert "$PKI_NGAN_CERT" --key "$PKCS11_URI_NGAN" --pin-file "$PKCS11_WRONGPIN_FILE" \
	--pkcs11-module "$PKCS11_MODULE" "$M/plain.eml"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0 \
bad "missing token" "PKCS#11" --cert "$PKI_NGAN_CERT" --key "pkcs11:token=absent;object=ngan;type=private" \
	--pin-file "$PKCS11_PIN_FILE" --pkcs11-module "$PKCS11_MODULE" "$M/plain.eml"
bad "unknown gpgsm key" "gpgsm" --gpgsm 0123456789ABCDEF0123456789ABCDEF01234567 --gnupghome "$GNUPGHOME" "$M/plain.eml"
bad "not a p12" "PKCS#12" --p12 "$PKI_NGAN_CERT" --pass-file "$PKI_PASS_FILE" "$M/plain.eml"
bad "two key sources" "exactly one key" --p12 "$PKI_NGAN_P12" --gpgsm "$GPGSM_FPR_NGAN" "$M/plain.eml"
chmod 644 "$PKI_PASS_FILE"
bad "password file readable by others" "readable" --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" "$M/plain.eml"
chmod 600 "$PKI_PASS_FILE"

done_testing
