#!/bin/bash
# shellcheck disable=SC2119  # start_agent takes optional ENV=VALUE arguments
# tests/e2e/agent-outbox.sh - `kyso agent`'s outgoing workflow against the real
# Dovecot + Postfix: a draft moved into "Ký số" arrives signed (openssl cms
# accepts it) at every recipient, Bcc ones included but without a Bcc header;
# Sent holds the signed copy, \Seen; the outbox is empty.  Bad drafts go to
# "Ký số/Lỗi" with a notice in INBOX.  SIGHUP with a broken configuration
# keeps the agent running; a good one (which adds an account signing with a
# gpgsm key, over smtps) is taken; SIGTERM stops it within seconds.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
# shellcheck source=tests/e2e/agent-lib.sh
. "$KYSO_SRCDIR/tests/e2e/agent-lib.sh"

[ -x "$KYSO_BUILDDIR/tests/e2e/mailtool" ] || { echo "Bail out! mailtool is not built (make check builds it)"; exit 1; }
work=$(mktemp -d /tmp/kaout.XXXXXX)
cleanup() {
	stop_agent
	"$KYSO_SRCDIR/tests/pki/stop-agent" "${GNUPGHOME:-$work/pki/gnupg}"
	mailstack_down
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mailstack_up
AGENT_WEB=1 agent_setup "$work"
OUTBOX="Ký số"
FAILED="Ký số/Lỗi"
VANTHU="Văn thư <vanthu@benluc.longan.gov.vn>"

ok "kyso check-config accepts the test configuration" "$KYSO_BIN" check-config -c "$AGENT_CONF"
start_agent
ok "the agent runs and creates the outbox and failed folders" agent_alive

# --- the happy path ---
id="ok-$$@benluc.longan.gov.vn"
draft "$id" "$VANTHU" "$RCPT" "sotttt@longan.gov.vn" "$BCC" "Công văn số 12/UBND" >"$work/d.eml"
ok "a draft is put in the outbox" put_draft "$work/d.eml"
ok "the recipient's INBOX gets it (once)" wait_for 20 is_count "$RCPT" INBOX "$id" 1
got=$(find_msg "$RCPT" INBOX "$id")
ok "openssl cms -verify accepts what arrived" \
	"$OPENSSL_CLI" cms -verify -in "$got" -CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null
fails "no Bcc header in what arrived" grep -qi '^Bcc:' "$got"
ok "the Cc recipient got it" wait_for 10 is_count sotttt@longan.gov.vn INBOX "$id" 1
ok "the Bcc recipient got it" wait_for 10 is_count "$BCC" INBOX "$id" 1
bccgot=$(find_msg "$BCC" INBOX "$id")
fails "no Bcc header in the Bcc recipient's copy either" grep -qi '^Bcc:' "$bccgot"
ok "Sent holds the signed copy once" wait_for 10 is_count "$USER1" Sent "$id" 1
sent=$(find_msg "$USER1" Sent "$id")
ok "the copy in Sent is \\Seen" sh -c "case '$sent' in *:2,*S*) exit 0;; esac; exit 1"
ok "the copy in Sent verifies too" \
	"$OPENSSL_CLI" cms -verify -in "$sent" -CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null
ok "the outbox is empty" wait_for 10 is_nfiles "$USER1" "$OUTBOX" 0
ok "the log names the steps with the Message-ID" grep -q "msgid=\"$id\" id=[0-9]* step=done" "$AGENT_LOG"

# the log database (what the web view shows): the message, sent, with its Bcc
if command -v sqlite3 >/dev/null 2>&1; then
	row=$(sqlite3 "$work/state/kyso.db" "SELECT verdict || '|' || to_addrs FROM messages WHERE direction = 'out' AND message_id LIKE '%$id%'")
	ok "the log has it as sent" sh -c "case '$row' in sent\|*) exit 0;; esac; exit 1"
	ok "the log's recipients include the Bcc one" sh -c "case '$row' in *$BCC*) exit 0;; esac; exit 1"
	steps=$(sqlite3 "$work/state/kyso.db" "SELECT group_concat(s.state, ',') FROM steps s JOIN outgoing o ON o.id = s.outgoing WHERE o.message_id LIKE '%$id%'")
	is "$steps" "0,1,2,3,4" "the journal's steps: queued, signed, submitted, filed, done"
else
	diag "sqlite3 is not installed: the log database is not checked"
fi

# one agent per state_dir: a second one refuses to start
"$KYSO_BIN" agent -c "$AGENT_CONF" >"$work/second.out" 2>&1
is "$?" 2 "a second agent on the same state_dir exits with status 2"
ok "... saying another agent is running" grep -q "another kyso agent is running" "$work/second.out"

# --- the web view: login through IMAP, the agent's metrics ---
port=$(sed -n 's/.*step=web listen=[^ ]* port=\([0-9]*\) result=ok.*/\1/p' "$AGENT_LOG" | tail -1)
if [ -z "$port" ]; then
	diag "web view not built into kyso (webui_start missing): login and /metrics not checked"
	ok "the agent says why there is no web view" grep -q "step=web .*error=" "$AGENT_LOG"
elif ! command -v curl >/dev/null 2>&1; then
	diag "curl is not installed: the web view is not checked"
else
	web=http://127.0.0.1:$port
	metrics=$(curl -s "$web/metrics")
	ok "/metrics counts the signed message" sh -c "printf '%s\n' \"\$1\" | grep -q '^kyso_messages_signed_total [1-9]'" _ "$metrics"
	ok "/metrics counts the sent message" sh -c "printf '%s\n' \"\$1\" | grep -q '^kyso_messages_sent_total [1-9]'" _ "$metrics"
	ok "/metrics shows the account connected" sh -c "printf '%s\n' \"\$1\" | grep -q '^kyso_account_connected{account=\"vanthu\"} 1'" _ "$metrics"
	ok "/metrics has the verification histogram" sh -c "printf '%s\n' \"\$1\" | grep -q '^kyso_verify_seconds_bucket{le=\"+Inf\"}'" _ "$metrics"
	curl -s -c "$work/cj" -o /dev/null "$web/login"
	pre=$(grep kyso_pre "$work/cj" | awk '{ print $7 }')
	login() { curl -s -b "$work/cj" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$pre" \
		--data-urlencode "address=$1" --data-urlencode "password=$2" "$web/login"; }
	is "$(login "$USER1" "$PASS1")" 303 "web login with the mailbox password (an IMAP LOGIN) is accepted"
	is "$(login "$USER1" "wrong-$PASS1")" 401 "web login with a wrong password is refused"
	is "$(login "nobody@longan.gov.vn" "x")" 401 "web login for an address that is no account is refused"
fi

# --- bad drafts: failed folder + a notice ---
n0=$(notices | grep -c 'Your message was NOT sent')
bad() {	# NAME MSGID FILE WORDS
	ok "$1: put in the outbox" put_draft "$3"
	ok "$1: moved to the failed folder" wait_for 20 is_count "$USER1" "$FAILED" "$2" 1
	ok "$1: not sent" is_count "$RCPT" INBOX "$2" 0
	ok "$1: a notice says why" wait_for 10 notice_has "$4"
}
draft "nofrom-$$@x.vn" "" "$RCPT" "" "" "Không có người gửi" >"$work/b1.eml"
bad "no From" "nofrom-$$@x.vn" "$work/b1.eml" "has no From address"
draft "norcpt-$$@x.vn" "$VANTHU" "" "" "" "Không có người nhận" >"$work/b2.eml"
bad "no recipients" "norcpt-$$@x.vn" "$work/b2.eml" "has no recipients"
draft "noid-$$@x.vn" "Lê Văn Đạo <lanhdao@benluc.longan.gov.vn>" "$RCPT" "" "" "Không có chữ ký" >"$work/b3.eml"
bad "a From with no identity" "noid-$$@x.vn" "$work/b3.eml" "no signing identity for the sender lanhdao@benluc.longan.gov.vn"
# 1001 recipients (folded To lines)
{
	printf 'Message-ID: <many-%s@x.vn>\r\nFrom: %s\r\nTo: ' "$$" "$VANTHU"
	for i in $(seq 1 1001); do [ "$i" -gt 1 ] && printf ',\r\n '; printf 'nguoi%s@longan.gov.vn' "$i"; done
	printf '\r\nSubject: Quá nhiều người nhận\r\n\r\nxin chao\r\n'
} >"$work/b6.eml"
bad "too many recipients" "many-$$@x.vn" "$work/b6.eml" "more than 1000 recipients"
# a multipart cut short: no close delimiter (a truncated upload)
printf 'Message-ID: <mime-%s@x.vn>\r\nFrom: %s\r\nTo: %s\r\nSubject: Hỏng MIME\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n' \
	"$$" "$VANTHU" "$RCPT" >"$work/b4.eml"
bad "broken MIME" "mime-$$@x.vn" "$work/b4.eml" "cannot sign"
# over Postfix's SIZE (MESSAGE_SIZE_LIMIT, about 28.6 MiB): a 30 MiB attachment
{
	printf 'Message-ID: <big-%s@x.vn>\r\nFrom: %s\r\nTo: %s\r\nSubject: Tệp lớn\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="bb"\r\n\r\n--bb\r\nContent-Type: text/plain\r\n\r\nxem tep\r\n--bb\r\nContent-Type: application/octet-stream; name="lon.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' "$$" "$VANTHU" "$RCPT"
	head -c $((30 * 1024 * 1024)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
	printf -- '--bb--\r\n'
} >"$work/b5.eml"
bad "a 30 MiB attachment over the server's SIZE" "big-$$@x.vn" "$work/b5.eml" "the server accepts at most $MESSAGE_SIZE_LIMIT"
n1=$(notices | grep -c 'Your message was NOT sent')
is "$((n1 - n0))" 6 "one notice per bad draft"
ok "notices are in Vietnamese first" notice_has "Thư của anh/chị CHƯA được gửi."
notice_subjects >"$work/subjects"
diag "notice subjects: $(head -3 "$work/subjects" | tr '\n' '|')"
ok "a notice's Subject (RFC 2047) names the draft's subject" \
	grep -qxF "[kyso] Không gửi được / Not sent: Quá nhiều người nhận" "$work/subjects"
ok "the outbox is empty after the bad drafts" wait_for 10 is_nfiles "$USER1" "$OUTBOX" 0
id2="after-$$@benluc.longan.gov.vn"
draft "$id2" "$VANTHU" "$RCPT" "" "" "Sau thư lỗi" >"$work/d2.eml"
put_draft "$work/d2.eml"
ok "a good draft after the bad ones is delivered" wait_for 20 is_count "$RCPT" INBOX "$id2" 1

# --- SIGHUP: a broken configuration is refused, the agent keeps going ---
cp "$AGENT_CONF" "$work/good.conf"
printf '[agent]\ncolour = blue\n' >>"$AGENT_CONF"
kill -HUP "$AGENT_PID"
ok "SIGHUP with a broken configuration: the refusal is logged" wait_for 10 grep -q "step=reload result=refused" "$AGENT_LOG"
ok "... with the problem as file:line" grep -q "unknown key 'colour'" "$AGENT_LOG"
ok "... and the agent still runs" agent_alive
id3="hup-$$@benluc.longan.gov.vn"
draft "$id3" "$VANTHU" "$RCPT" "" "" "Sau SIGHUP" >"$work/d3.eml"
put_draft "$work/d3.eml"
ok "... and still sends" wait_for 20 is_count "$RCPT" INBOX "$id3" 1
# the good configuration adds a second account, lanhdao@..., whose key is in
# a gpgsm keyring (GPGME in the agent's small-stack threads), over smtps://
cp "$work/good.conf" "$AGENT_CONF"
gpg_ok=""
if bash "$KYSO_SRCDIR/tests/pki/mkgpgsm" "$work/pki" >"$work/mkgpgsm.log" 2>&1; then
	gpg_ok=1
	# shellcheck disable=SC1091
	. "$work/pki/gnupg/gpgsm.env"
	user_pass "$BCC" >"$work/lanhdao.pw" && echo >>"$work/lanhdao.pw"
	chmod 600 "$work/lanhdao.pw"
	cat >>"$AGENT_CONF" <<EOF
[identity lanhdao]
addresses = $BCC
gpgsm = $GPGSM_FPR_LANHDAO
gnupghome = $GNUPGHOME
[account lanhdao]
address = $BCC
imap = imap://localhost:$IMAP_PORT
smtp = smtps://localhost:$SMTPS_PORT
password_file = $work/lanhdao.pw
tls_ca = $CA_FILE
verify_inbox = no
EOF
else
	diag "mkgpgsm failed (see $work/mkgpgsm.log): the reload adds no account"
fi
kill -HUP "$AGENT_PID"
ok "SIGHUP with a good configuration: reloaded" wait_for 10 grep -q "step=reload result=accepted" "$AGENT_LOG"
id4="reload-$$@benluc.longan.gov.vn"
draft "$id4" "$VANTHU" "$RCPT" "" "" "Sau khi nạp lại" >"$work/d4.eml"
put_draft "$work/d4.eml"
ok "sends after the reload" wait_for 20 is_count "$RCPT" INBOX "$id4" 1
if [ -n "$gpg_ok" ]; then
	ok "the account added by the reload makes its folders" wait_for 20 test -d "$(maildir "$BCC" "Ký số/Lỗi")"
	id5="gpgsm-$$@benluc.longan.gov.vn"
	draft "$id5" "Lê Văn Đạo <$BCC>" "$RCPT" "" "" "Ký bằng gpgsm" >"$work/d5.eml"
	"$KYSO_BUILDDIR/tests/e2e/mailtool" append "$BCC" "$(user_pass "$BCC")" "Ký số" "$work/d5.eml"
	ok "the new account's draft (gpgsm key, STARTTLS IMAP, smtps) arrives" wait_for 20 is_count "$RCPT" INBOX "$id5" 1
	ok "... and verifies" "$OPENSSL_CLI" cms -verify -in "$(find_msg "$RCPT" INBOX "$id5")" -CAfile "$PKI_ANCHORS" \
		-purpose smimesign -out /dev/null
	ok "... filed in that account's Sent" wait_for 10 is_count "$BCC" Sent "$id5" 1
fi
for i in "$id" "$id2" "$id3" "$id4"; do
	is "$(count "$RCPT" INBOX "$i")" 1 "exactly one copy of $i"
done

# --- secrets stay out of the log and ps ---
fails "the account password is not in the log" grep -qF "$PASS1" "$AGENT_LOG"
fails "nor the second account's" grep -qF "$(user_pass "$BCC")" "$AGENT_LOG"
fails "nor in the agent's command line" grep -qF "$PASS1" "/proc/$AGENT_PID/cmdline"

# --- SIGTERM ---
t0=$SECONDS
stop_agent
rc=$?
is "$rc" 0 "SIGTERM: the agent exits with status 0"
ok "SIGTERM: within 5 seconds" test $((SECONDS - t0)) -le 5
ok "the log says it stopped" grep -q "step=stop result=ok" "$AGENT_LOG"
# sanitizer builds: the agent's own reports land in its log
fails "no sanitizer report from the agent" grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$AGENT_LOG" "$work"/*.log
# a bad configuration at start: every problem, exit 2
printf '[agent]\nlog_level = loud\nfoo = 1\n' >"$work/bad.conf"
"$KYSO_BIN" agent -c "$work/bad.conf" >"$work/bad.out" 2>&1
is "$?" 2 "a broken configuration at start: exit 2"
ok "... with every problem as file:line: message" grep -q "bad.conf:3: unknown key 'foo'" "$work/bad.out"
[ "${KEEP:-}" ] && diag "work: $work"
done_testing
