#!/bin/bash
# tests/e2e/agent-inbox.sh - the agent's incoming workflow (agent/inbox.c)
# against the real Dovecot + Postfix of tests/mailstack, through
# tests/e2e/inbox-driver (inbox_run in-process).  Checks: valid, invalid
# (tampered), unsigned, partial, signed-with-a-signed-PDF messages get their
# keyword; signed attachments get the second keyword (KySo_Tep*: valid,
# changed after signing, broken; none when no attachment is signed); a forged
# kyso keyword (verdict or attachment) and an X-Kyso-* header are ignored and
# replaced; every message stays unread and byte-identical; the log rows and
# evidence exist; Dovecot restarted during IDLE; UIDVALIDITY change; a
# message expunged under the agent; backlog = new skips old mail.  Needs the
# sqlite3 command (package sqlite3) to read the log.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

drv=$KYSO_BUILDDIR/tests/e2e/inbox-driver
tool=$KYSO_BUILDDIR/tests/e2e/mailtool
for p in "$drv" "$tool" "$KYSO_BIN"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make check builds it)"; exit 1; }
done
command -v sqlite3 >/dev/null || skip_all "the sqlite3 command is not installed (apt-get install sqlite3)"
command -v doveadm >/dev/null || skip_all "doveadm is not installed"
work=$(mktemp -d /tmp/kinbox.XXXXXX)
dpid=""
drv_rc=0
stop_driver() {
	local rc=0
	[ -n "$dpid" ] || return 0
	touch "$work/stop"
	for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
	kill "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null || rc=$?
	[ "$rc" = 0 ] || drv_rc=$rc
	dpid=""
	rm -f "$work/stop"
}
cleanup() { stop_driver; mailstack_down; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mailstack_up
"$KYSO_SRCDIR/tests/pki/mkpki" "$work/pki" >/dev/null || { echo "Bail out! mkpki failed"; exit 1; }
# shellcheck disable=SC1091
. "$work/pki/pki.env"
bash "$KYSO_SRCDIR/tests/data/mkmsgs" "$work/m" >/dev/null
perl "$KYSO_SRCDIR/tests/data/mkpdf" "$work/pdf" "$work/pki" >/dev/null || { echo "Bail out! mkpdf failed"; exit 1; }

pass_of() {
	local i=1 u p
	while [ "$i" -le "$USER_COUNT" ]; do
		u="USER$i" p="PASS$i"
		[ "${!u}" = "$1" ] && { echo "${!p}"; return; }
		i=$((i + 1))
	done
}
rcpt=ubnd@longan.gov.vn
old=lanhdao@benluc.longan.gov.vn
ngan=vanthu@benluc.longan.gov.vn
umask 077
pass_of $rcpt >"$work/ubnd.pass"
pass_of $old >"$work/lanhdao.pass"
folder="Lưu trữ"
dova() { doveadm -c "$DOVECOT_CONF" "$@"; }
dova mailbox create -u $rcpt "$folder"
dova mailbox create -u $old "$folder"

cat >"$work/kyso.conf" <<EOF
[agent]
state_dir = $work/state

[trust]
anchors = $PKI_ANCHORS
intermediates = $PKI_INTERMEDIATES
crls = $PKI_CRLS_DIR
revocation = prefer

[account ubnd]
address = $rcpt
imap = imaps://$IMAP_HOST:$IMAPS_PORT
smtp = smtps://$SMTP_HOST:$SMTPS_PORT
password_file = $work/ubnd.pass
tls_ca = $CA_FILE
backlog = all

[account lanhdao]
address = $old
imap = imap://$IMAP_HOST:$IMAP_PORT
smtp = smtps://$SMTP_HOST:$SMTPS_PORT
password_file = $work/lanhdao.pass
tls_ca = $CA_FILE
backlog = new
EOF
db=$work/state/kyso.db

# ---- the messages ----
# with_id ID FILE: FILE with a fresh Message-ID first (and without its own)
with_id() { printf 'Message-ID: <%s>\r\n' "$1"; grep -av '^Message-ID:' "$2"; }
sign() { "$KYSO_BIN" sign --p12 "$PKI_NGAN_P12" --pass-file "$PKI_PASS_FILE" --trust "$PKI_ANCHORS" -o "$2" "$1"; }
tag=$$
id_valid="valid-$tag@benluc.longan.gov.vn"
id_invalid="invalid-$tag@benluc.longan.gov.vn"
id_unsigned="unsigned-$tag@benluc.longan.gov.vn"
id_partial="partial-$tag@benluc.longan.gov.vn"
id_pdf="pdf-$tag@benluc.longan.gov.vn"
id_forged="forged-$tag@benluc.longan.gov.vn"
id_xhdr="xhdr-$tag@benluc.longan.gov.vn"
id_updf="updf-$tag@benluc.longan.gov.vn"       # unsigned mail, validly signed PDF
id_chg="chg-$tag@benluc.longan.gov.vn"         # unsigned mail, PDF changed after signing
id_bad="bad-$tag@benluc.longan.gov.vn"         # signed mail, PDF with a broken signature
id_fatt="fatt-$tag@benluc.longan.gov.vn"       # no signed attachment, forged KySo_TepHopLe

with_id "$id_valid" "$work/m/plain.eml" >"$work/d-valid.eml"
sign "$work/d-valid.eml" "$work/valid.eml" || { echo "Bail out! kyso sign failed"; exit 1; }
with_id "$id_invalid" "$work/m/plain.eml" >"$work/d-invalid.eml"
sign "$work/d-invalid.eml" "$work/s-invalid.eml"
# tampered after signing: one body byte changed
perl -pe 's/colleagues/colleaguez/' "$work/s-invalid.eml" >"$work/invalid.eml"
with_id "$id_unsigned" "$work/m/plain.eml" >"$work/unsigned.eml"
with_id "$id_forged" "$work/m/plain.eml" >"$work/forged.eml"
{ printf 'X-Kyso-Verdict: valid\r\nX-Kyso-Keyword: KySo_HopLe\r\n'; with_id "$id_xhdr" "$work/m/plain.eml"; } >"$work/xhdr.eml"
# partial: the signed entity as the first part of a multipart/mixed, with an
# unsigned footer after it (a mailing list's footer)
with_id "$id_partial" "$work/m/plain.eml" >"$work/d-partial.eml"
sign "$work/d-partial.eml" "$work/s-partial.eml"
perl -e '
	local $/; my $d = <STDIN>; my $i = index($d, "\r\n\r\n");
	my ($h, $b) = (substr($d, 0, $i + 2), substr($d, $i + 4));
	my @f = ($h =~ /(.+?\r\n(?:[ \t].*?\r\n)*)/gs);
	my @ct = grep { /^Content-Type:/i } @f;
	my @rest = grep { !/^(Content-Type|MIME-Version):/i } @f;
	print @rest, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer-kyso\"\r\n\r\n",
	    "--outer-kyso\r\n", @ct, "\r\n", $b, "\r\n--outer-kyso\r\nContent-Type: text/plain\r\n\r\n",
	    "List footer: unsubscribe here.\r\n--outer-kyso--\r\n";
' <"$work/s-partial.eml" >"$work/partial.eml"
# with_pdf ID PDF: a message with PDF attached as QD-12.pdf
with_pdf() {
	printf 'Message-ID: <%s>\r\n' "$1"
	grep -a '^From:\|^To:\|^Date:' "$work/m/plain.eml"
	printf 'Subject: =?UTF-8?B?UXV5ZXQgZGluaCBz4buRIDEy?=\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/mixed; boundary="b-pdf"\r\n\r\n--b-pdf\r\n'
	printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nSee the attached decision.\r\n--b-pdf\r\n'
	printf 'Content-Type: application/pdf; name="QD-12.pdf"\r\nContent-Disposition: attachment; filename="QD-12.pdf"\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n'
	base64 -w 76 "$2" | sed 's/$/\r/'
	printf -- '--b-pdf--\r\n'
}
# a signed message carrying a signed PDF
with_pdf "$id_pdf" "$work/pdf/one.pdf" >"$work/d-pdf.eml"
sign "$work/d-pdf.eml" "$work/pdf.eml"
# the way official documents travel: an unsigned mail, a signed PDF
with_pdf "$id_updf" "$work/pdf/one.pdf" >"$work/updf.eml"
# a PDF changed after its signature (an incremental update after it)
with_pdf "$id_chg" "$work/pdf/changed.pdf" >"$work/chg.eml"
# a validly signed mail whose PDF's signature is broken (digest mismatch)
with_pdf "$id_bad" "$work/pdf/broken-real.pdf" >"$work/d-bad.eml"
sign "$work/d-bad.eml" "$work/bad.eml"
with_id "$id_fatt" "$work/m/plain.eml" >"$work/fatt.eml"

# delivered for real (SMTP -> LMTP): the valid one; APPENDed: the rest
ok "a signed message is submitted and delivered" \
	"$tool" send "$ngan" "$(pass_of $ngan)" "$ngan" $rcpt "$work/valid.eml"
ok "... and arrives (kept as the reference bytes)" \
	"$tool" fetch $rcpt "$(pass_of $rcpt)" INBOX "<$id_valid>" "$work/before-valid.eml" 30
for n in invalid unsigned partial pdf xhdr chg bad; do
	cp "$work/$n.eml" "$work/before-$n.eml"
	ok "APPEND $n" "$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/$n.eml"
done
cp "$work/updf.eml" "$work/before-updf.eml"
ok "APPEND an unsigned message with a signed PDF, carrying a forged KySo_TepKhongHopLe" \
	"$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/updf.eml" KySo_TepKhongHopLe
cp "$work/fatt.eml" "$work/before-fatt.eml"
ok "APPEND a message without attachments carrying a forged KySo_TepHopLe" \
	"$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/fatt.eml" KySo_TepHopLe
cp "$work/forged.eml" "$work/before-forged.eml"
ok "APPEND an unsigned message carrying a forged KySo_HopLe keyword" \
	"$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/forged.eml" KySo_HopLe
# old mail for the backlog = new account
with_id "old-$tag@x" "$work/m/plain.eml" >"$work/old.eml"
ok "APPEND old mail to the backlog=new account" "$tool" append $old "$(pass_of $old)" INBOX "$work/old.eml"

q() { sqlite3 -cmd '.timeout 5000' "$db" "$@" 2>/dev/null; }
# wait_row ID [SECONDS]: until the log has an incoming row for Message-ID <ID>
wait_row() {
	local end=$((SECONDS + ${2:-30}))
	while [ $SECONDS -le $end ]; do
		[ -n "$(q "SELECT id FROM messages WHERE direction='in' AND message_id='<$1>' LIMIT 1")" ] && return 0
		sleep 0.05
	done
	return 1
}
verdict_of() { q "SELECT verdict FROM messages WHERE direction='in' AND message_id='<$1>' ORDER BY id DESC LIMIT 1"; }
flags_of() { "$drv" flags -c "$work/kyso.conf" -a "$2" -f "${3:-INBOX}" "<$1>" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
start_driver() {
	"$drv" run -c "$work/kyso.conf" -f INBOX -f "$folder" -s "$work/stop" >>"$work/driver.out" 2>>"$work/driver.log" &
	dpid=$!
}

start_driver
for n in valid invalid unsigned partial pdf forged xhdr updf chg bad fatt; do
	v="id_$n"
	ok "$n: logged" wait_row "${!v}" 60
done
is "$(verdict_of "$id_valid")" valid "valid: verdict valid"
is "$(verdict_of "$id_invalid")" invalid "tampered: verdict invalid"
is "$(verdict_of "$id_unsigned")" unsigned "unsigned: verdict unsigned"
is "$(verdict_of "$id_partial")" partial "partial: verdict partial"
is "$(verdict_of "$id_pdf")" valid "signed message with a signed PDF: verdict valid"
is "$(verdict_of "$id_forged")" unsigned "forged keyword: verdict unsigned"
is "$(verdict_of "$id_xhdr")" unsigned "X-Kyso-Verdict header: verdict unsigned"
is "$(verdict_of "$id_updf")" unsigned "unsigned message with a signed PDF: verdict unsigned (attachments never change it)"
is "$(verdict_of "$id_chg")" unsigned "unsigned message with a changed PDF: verdict unsigned"
is "$(verdict_of "$id_bad")" valid "signed message with a broken PDF: verdict valid (attachments never change it)"
is "$(verdict_of "$id_fatt")" unsigned "forged attachment keyword: verdict unsigned"
att_of() { q "SELECT json_extract(report, '\$.attachments[0].verdict') FROM messages WHERE direction='in' AND message_id='<$1>' ORDER BY id DESC LIMIT 1"; }
is "$(att_of "$id_updf")/$(att_of "$id_chg")/$(att_of "$id_bad")" valid/partial/invalid \
	"the PDFs' own verdicts are in the log's report (valid/partial/invalid)"
attcol() { q "SELECT ifnull(att_verdict, 'NULL') FROM messages WHERE direction='in' AND message_id='<$1>' ORDER BY id DESC LIMIT 1"; }
is "$(attcol "$id_updf")/$(attcol "$id_chg")/$(attcol "$id_bad")/$(attcol "$id_pdf")/$(attcol "$id_valid")/$(attcol "$id_fatt")" \
	valid/partial/invalid/valid/NULL/NULL "the log's att_verdict column: the signed PDFs' verdict, NULL without one"
is "$(q "SELECT group_concat(json_extract(value, '\$.part') || '=' || json_array_length(json_extract(value, '\$.covered_by')), ' ') FROM messages, json_each(messages.report, '\$.mime') WHERE message_id='<$id_partial>'")" \
	"top=0 1=0 1.1=1 1.2=0 2=0" "partial: the MIME tree says the signature covers part 1.1 only, not the footer"
is "$(q "SELECT json_extract(report, '\$.attachments[0].verdict') || ' ' || json_extract(report, '\$.attachments[0].name') || ' ' || length(json_extract(report, '\$.attachments[0].sha256')) FROM messages WHERE message_id='<$id_pdf>'")" \
	"valid QD-12.pdf 64" "the PDF's own verdict, name and SHA-256 are in the report"
is "$(q "SELECT count(*) > 0 FROM evidence e JOIN messages m ON m.id = e.message WHERE m.message_id='<$id_valid>' AND e.kind='certificate' AND length(e.data) > 300")" \
	1 "valid: the chain's certificates are stored as evidence"
is "$(q "SELECT count(*) > 0 FROM evidence e JOIN messages m ON m.id = e.message WHERE m.message_id='<$id_valid>' AND e.kind='crl' AND e.source LIKE 'crl:local good%'")" \
	1 "valid: the revocation decision (local CRL) is recorded as evidence"
is "$(q "SELECT count(DISTINCT e.sig) FROM evidence e JOIN messages m ON m.id = e.message WHERE m.message_id='<$id_pdf>' AND e.kind='certificate'")" \
	2 "pdf: evidence for the message's and the PDF's signature"
is "$(q "SELECT from_name || ' | ' || signer_email FROM messages WHERE message_id='<$id_valid>'")" \
	"Trần Kim Ngân | ngan@benluc.longan.gov.vn" "valid: sender name decoded, signer's address logged"
is "$(q "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'ngan' AND rowid IN (SELECT id FROM messages WHERE message_id='<$id_valid>')")" \
	1 "valid: found by the folded search"

# keywords: exactly the wanted kyso keywords each (the verdict's, and the
# attachments' when one is signed), and never \Seen
want_kw() {	# ID "KEYWORD [KEYWORD]" WHAT
	local f k n=0 found=0
	f=$(flags_of "$1" ubnd)
	for k in $2; do
		n=$((n + 1))
		found=$((found + $(tr ' ' '\n' <<<"$f" | grep -c "^$k\$")))
	done
	is "$(tr ' ' '\n' <<<"$f" | grep -ci '^kyso_')/$found" "$n/$n" "$3: tagged $2 only ($f)"
	case " $f " in *' \Seen '*) is "seen" "unseen" "$3: still unread";; *) is unseen unseen "$3: still unread";; esac
}
want_kw "$id_valid" KySo_HopLe valid
want_kw "$id_invalid" KySo_KhongHopLe tampered
want_kw "$id_unsigned" KySo_KhongKy unsigned
want_kw "$id_partial" KySo_MotPhan partial
want_kw "$id_pdf" "KySo_HopLe KySo_TepHopLe" "signed message, signed PDF"
want_kw "$id_updf" "KySo_KhongKy KySo_TepHopLe" "unsigned message, signed PDF, forged KySo_TepKhongHopLe"
want_kw "$id_chg" "KySo_KhongKy KySo_TepMotPhan" "unsigned message, PDF changed after signing"
want_kw "$id_bad" "KySo_HopLe KySo_TepKhongHopLe" "signed message, PDF with a broken signature"
want_kw "$id_fatt" KySo_KhongKy "no signed attachment, forged KySo_TepHopLe"
want_kw "$id_forged" KySo_KhongKy "forged keyword"
want_kw "$id_xhdr" KySo_KhongKy "X-Kyso header"

# byte-identical: fetched again, the same bytes as before
for n in valid invalid unsigned partial pdf forged xhdr updf chg bad fatt; do
	v="id_$n"
	"$tool" fetch $rcpt "$(pass_of $rcpt)" INBOX "<${!v}>" "$work/after-$n.eml" 10
	ok "$n: byte-identical after verification and tagging" cmp "$work/before-$n.eml" "$work/after-$n.eml"
done
is "$(q "SELECT count(*) FROM messages WHERE message_id='<old-$tag@x>'")" 0 "backlog = new: old mail is not verified"

# IDLE wake latency: APPEND, then time until the row is there
id_lat="lat-$tag@x"
with_id "$id_lat" "$work/m/plain.eml" >"$work/lat.eml"
"$tool" append $old "$(pass_of $old)" INBOX "$work/lat.eml"
t0=$(date +%s%N)
ok "backlog = new: new mail is verified" wait_row "$id_lat" 30
t1=$(date +%s%N)
diag "IDLE wake latency (APPEND returned -> log row committed): $(((t1 - t0) / 1000000)) ms (Dovecot waits NOTIFY_DELAY_MSECS = 500 ms after a change before it reports it)"
is "$(flags_of "$id_lat" lanhdao)" KySo_KhongKy "backlog = new: new mail tagged"

# Dovecot restarted during IDLE: the driver reconnects and tags mail delivered after
"$KYSO_SRCDIR/tests/mailstack" stop-service "$MAILSTACK_DIR" dovecot >/dev/null 2>&1
sleep 1
ok "dovecot back" "$KYSO_SRCDIR/tests/mailstack" start-service "$MAILSTACK_DIR" dovecot
id_rs="restart-$tag@benluc.longan.gov.vn"
with_id "$id_rs" "$work/m/plain.eml" >"$work/rs.eml"
sign "$work/rs.eml" "$work/rs-signed.eml"
ok "a message delivered after the restart" \
	"$tool" send "$ngan" "$(pass_of $ngan)" "$ngan" $rcpt "$work/rs-signed.eml"
ok "... is verified after the reconnect" wait_row "$id_rs" 60
is "$(flags_of "$id_rs" ubnd)" KySo_HopLe "... and tagged valid"
ok "the driver logged the lost connection" grep -q "acct=ubnd step=inbox class=" "$work/driver.log"

# UIDVALIDITY change: the folder deleted and made again; its mail is verified again
id_u1="uv1-$tag@x"
with_id "$id_u1" "$work/m/plain.eml" >"$work/u1.eml"
ok "APPEND to \"$folder\"" "$tool" append $rcpt "$(pass_of $rcpt)" "$folder" "$work/u1.eml"
ok "... verified" wait_row "$id_u1" 30
uv1=$(q "SELECT uidvalidity FROM messages WHERE message_id='<$id_u1>'")
dova mailbox delete -u $rcpt "$folder"
sleep 1.1
dova mailbox create -u $rcpt "$folder"
ok "APPEND the same message to the new folder" "$tool" append $rcpt "$(pass_of $rcpt)" "$folder" "$work/u1.eml"
end=$((SECONDS + 60))
while [ $SECONDS -le $end ] && [ "$(q "SELECT count(*) FROM messages WHERE message_id='<$id_u1>'")" != 2 ]; do sleep 0.1; done
is "$(q "SELECT count(DISTINCT uidvalidity) FROM messages WHERE message_id='<$id_u1>'")" 2 "UIDVALIDITY change: verified again under the new UIDVALIDITY"
is "$(q "SELECT uidvalidity != $uv1 FROM folder_state WHERE account='ubnd' AND folder='$folder'")" 1 "folder_state follows the new UIDVALIDITY"
is "$(flags_of "$id_u1" ubnd "$folder")" KySo_KhongKy "... and tagged in the new folder"

# expunged under the agent: stopped, three new messages, restarted holding
# after the first; the second is expunged; the agent skips it and goes on
stop_driver
for i in 1 2 3; do
	with_id "ex$i-$tag@x" "$work/m/plain.eml" >"$work/ex$i.eml"
	"$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/ex$i.eml"
done
touch "$work/hold"
INBOX_DRIVER_HOLD=$work/hold start_driver
ok "expunge: the first is verified" wait_row "ex1-$tag@x" 30
dova expunge -u $rcpt mailbox INBOX header Message-ID "ex2-$tag@x"
rm -f "$work/hold"
ok "expunge: the third is verified after the second vanished" wait_row "ex3-$tag@x" 30
is "$(q "SELECT count(*) FROM messages WHERE message_id='<ex2-$tag@x>'")" 0 "expunge: the vanished one is skipped"
ok "expunge: noted in the log" grep -q "result=gone" "$work/driver.log"
is "$(q "SELECT count(*) FROM messages WHERE message_id='<$id_valid>'")" 1 "a restart does not verify handled mail again"

# killed (SIGKILL) right after tagging, before saving its position: the
# message is handled again after the restart, still one row and one keyword
stop_driver
id_k="killed-$tag@x"
with_id "$id_k" "$work/m/plain.eml" >"$work/k.eml"
"$tool" append $rcpt "$(pass_of $rcpt)" INBOX "$work/k.eml" KySo_HopLe
# (sh -c: no "Killed" line from bash on the test's output)
KYSO_TEST_CRASH_AT=tagged sh -c '"$@" >>"$0.out" 2>>"$0.log"; echo $? >"$0.rc"' "$work/driver" \
	timeout 60 "$drv" run -c "$work/kyso.conf" -f INBOX -s "$work/stop"
is "$(cat "$work/driver.rc")" 137 "killed at the crash point 'tagged'"
uid_k=$(q "SELECT uid FROM messages WHERE message_id='<$id_k>'")
ok "logged before the kill" test -n "$uid_k"
start_driver
# the "step=verify" line is written after the crash point: only a second
# handling (after the restart) writes it
handled() { grep -q "folder=\"INBOX\" uid=$uid_k step=verify" "$work/driver.log"; }
end=$((SECONDS + 30))
while [ $SECONDS -le $end ] && ! handled; do sleep 0.1; done
ok "after the restart the message is handled again" handled
is "$(q "SELECT count(*) FROM messages WHERE message_id='<$id_k>'")" 1 "... one log row"
is "$(flags_of "$id_k" ubnd)" KySo_KhongKy "... one keyword, the forged one gone"
stop_driver
is "$drv_rc" 0 "the driver exited 0 each time (sanitizers included)"
fails "no sanitizer report in the driver's log" grep -q "Sanitizer\|runtime error" "$work/driver.log"
ok "the driver logged the attachments' verdict and keyword" \
	grep -q "step=verify verdict=unsigned attachments=partial .* attachment_keyword=KySo_TepMotPhan" "$work/driver.log"
ok "the driver stopped cleanly and counted its work" grep -q "^messages=[1-9]" "$work/driver.out"
ok "no password in the driver's log" bash -c "! grep -qF '$(cat "$work/ubnd.pass")' '$work/driver.log'"
ok "account status: the web view sees the account" test "$(q "SELECT count(*) FROM account_status WHERE account='ubnd' AND last_idle > 0")" = 1
done_testing
