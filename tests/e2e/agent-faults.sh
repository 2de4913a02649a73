#!/bin/bash
# tests/e2e/agent-faults.sh - the outgoing workflow's exactly-once promise
# under faults, against the real Dovecot + Postfix:
#   - the agent SIGKILLs itself at each journal transition (KYSO_TEST_CRASH_AT)
#     and is started again: every recipient holds exactly one copy, Sent one,
#     the outbox is empty;
#   - Postfix stopped (connection refused), then started: deferred, delivered once;
#   - Dovecot restarted under the agent's IDLE: it reconnects, delivers once;
#   - the outbox's UIDVALIDITY changes while a message is SIGNED: one copy;
#   - a 4xx (Postfix access map DEFER) then 2xx: delivered once;
#   - a 5xx (an unknown recipient): failed folder + notice;
#   - a server certificate from another CA: no connection, a clear error, the
#     draft still in the outbox;
#   - the journal's disk full: the draft is not lost, a clear error, and it is
#     delivered once when space is back.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
# shellcheck source=tests/e2e/agent-lib.sh
. "$KYSO_SRCDIR/tests/e2e/agent-lib.sh"

[ -x "$KYSO_BUILDDIR/tests/e2e/mailtool" ] || { echo "Bail out! mailtool is not built (make check builds it)"; exit 1; }
work=$(mktemp -d /tmp/kafault.XXXXXX)
mnt=""
cleanup() {
	stop_agent
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	mailstack_down
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mailstack_up
agent_setup "$work"
OUTBOX="Ký số"
FAILED="Ký số/Lỗi"
VANTHU="Văn thư <vanthu@benluc.longan.gov.vn>"
PF="$POSTFIX_CONFIG_DIR"

# exited PID: our child is gone (a zombie until waited for, which kill -0 still sees).
exited() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; }
queue_empty() { postqueue -c "$PF" -p 2>/dev/null | grep -q "Mail queue is empty"; }
# settled MSGID: the journal finished it and Postfix has delivered everything,
# so a duplicate, if any, would be there by now.
settled() { grep -q "msgid=\"$1\" id=[0-9]* step=done" "$AGENT_LOG" && queue_empty; }
once_everywhere() {	# MSGID WHAT
	ok "$2: the agent finishes it" wait_for 30 settled "$1"
	is "$(count "$RCPT" INBOX "$1")" 1 "$2: the recipient holds exactly one copy"
	is "$(count "$BCC" INBOX "$1")" 1 "$2: the Bcc recipient holds exactly one copy"
	is "$(count "$USER1" Sent "$1")" 1 "$2: Sent holds exactly one copy"
	ok "$2: the outbox is empty" wait_for 10 is_nfiles "$USER1" "$OUTBOX" 0
}
new_draft() {	# MSGID SUBJECT [TO]
	draft "$1" "$VANTHU" "${3:-$RCPT}" "" "$BCC" "$2" >"$work/draft.eml"
	put_draft "$work/draft.eml"
}

# --- SIGKILL at each transition, then a restart ---
start_agent     # makes the folders
stop_agent
is "$?" 0 "the agent starts, makes its folders and stops"
for point in queued signed submitted filed "done"; do
	id="crash-$point-$$@benluc.longan.gov.vn"
	new_draft "$id" "Thử lỗi tại $point" || { echo "Bail out! cannot put a draft"; exit 1; }
	start_agent KYSO_TEST_CRASH_AT="$point"
	pid=$AGENT_PID
	if ! wait_for 30 exited "$pid"; then
		diag "the agent did not crash at $point"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	st=$?
	AGENT_PID=""
	is "$st" 137 "crash at $point: the agent killed itself (SIGKILL)"
	ok "crash at $point: the log shows where" grep -q "step=crash point=$point" "$AGENT_LOG"
	start_agent
	once_everywhere "$id" "crash at $point, restarted"
	stop_agent
done

# --- the outbox's UIDVALIDITY changes while a message is SIGNED (Dovecot
# forgets the folder's UIDs): the entry finds its draft by Message-ID, the
# scan does not take the draft for a new one: one copy ---
id="uidvalidity-$$@benluc.longan.gov.vn"
new_draft "$id" "UIDVALIDITY đổi"
start_agent KYSO_TEST_CRASH_AT=signed
pid=$AGENT_PID
wait_for 30 exited "$pid" || kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
AGENT_PID=""
# the folder made again with the same message files, Dovecot's indexes gone
ob=$(maildir "$USER1" "$OUTBOX")
uv() { sed -n '1s/^3 V\([0-9]*\) .*/\1/p' "$ob/dovecot-uidlist" 2>/dev/null; }
uv_before=$(uv)
owner=$(stat -c %u:%g "$ob")
mv "$ob" "$ob.old"
mkdir -p "$ob/cur" "$ob/new" "$ob/tmp"
find "$ob.old/cur" "$ob.old/new" -type f -exec mv {} "$ob/cur/" \;
chown -R "$owner" "$ob"
rm -rf "$ob.old" "$(maildir "$USER1" INBOX)"/dovecot.list.index*
start_agent
uv_changed() { local n; n=$(uv); [ -n "$n" ] && [ "$n" != "$uv_before" ]; }
ok "UIDVALIDITY changed under the agent" wait_for 20 uv_changed
diag "outbox UIDVALIDITY $uv_before -> $(uv)"
once_everywhere "$id" "UIDVALIDITY changed while SIGNED"
ok "UIDVALIDITY changed: the draft was not taken for a new one" \
	grep -q "already in progress under an earlier UIDVALIDITY" "$AGENT_LOG"
stop_agent

# --- Postfix down (connection refused), then up ---
start_agent
"$KYSO_SRCDIR/tests/mailstack" stop-service "$MAILSTACK_DIR" postfix >/dev/null 2>&1
id="pfdown-$$@benluc.longan.gov.vn"
new_draft "$id" "Khi Postfix dừng"
ok "Postfix stopped: the message is deferred" wait_for 20 grep -q "msgid=\"$id\" id=[0-9]* step=defer" "$AGENT_LOG"
ok "Postfix stopped: the draft stays in the outbox" is_count "$USER1" "$OUTBOX" "$id" 1
# a second one, which the official takes back out of the outbox while it waits
wid="withdrawn-$$@benluc.longan.gov.vn"
new_draft "$wid" "Rút lại"
ok "Postfix stopped: the second one is deferred too" \
	wait_for 20 grep -q "msgid=\"$wid\" id=[0-9]* step=defer" "$AGENT_LOG"
rm -f "$(find_msg "$USER1" "$OUTBOX" "$wid")"
"$KYSO_SRCDIR/tests/mailstack" start-service "$MAILSTACK_DIR" postfix >/dev/null 2>&1
once_everywhere "$id" "Postfix back"
ok "a draft taken back out of the outbox while waiting is not sent" \
	wait_for 30 grep -q "msgid=\"$wid\" id=[0-9]* step=withdrawn state=signed" "$AGENT_LOG"
is "$(count "$RCPT" INBOX "$wid")" 0 "... the recipient did not get it"
is "$(count "$USER1" Sent "$wid")" 0 "... nor is it in Sent"

# --- Dovecot restarted under the agent (its IDLE session breaks) ---
mark=$(wc -l <"$AGENT_LOG")
"$KYSO_SRCDIR/tests/mailstack" stop-service "$MAILSTACK_DIR" dovecot >/dev/null 2>&1
"$KYSO_SRCDIR/tests/mailstack" start-service "$MAILSTACK_DIR" dovecot >/dev/null 2>&1
logged_in_again() { tail -n +"$((mark + 1))" "$AGENT_LOG" | grep -q 'step=login result=ok'; }
ok "Dovecot restarted: the agent logs in again" wait_for 30 logged_in_again
id="imaprestart-$$@benluc.longan.gov.vn"
new_draft "$id" "Sau khi Dovecot khởi động lại"
once_everywhere "$id" "Dovecot restarted"

# --- 4xx then 2xx: an access map defers one recipient, then no more ---
orig=$(postconf -c "$PF" -h smtpd_recipient_restrictions)
postconf -c "$PF" -e "smtpd_recipient_restrictions = check_recipient_access inline:{ $RCPT=DEFER }, $orig"
postfix -c "$PF" reload >/dev/null 2>&1
id="tempfail-$$@benluc.longan.gov.vn"
new_draft "$id" "Lỗi tạm thời 4xx"
ok "4xx: deferred with the server's reply" wait_for 20 grep -q "msgid=\"$id\" id=[0-9]* step=defer class=temporary .*45[0-9]" "$AGENT_LOG"
ok "4xx: nothing delivered yet" is_count "$RCPT" INBOX "$id" 0
postconf -c "$PF" -e "smtpd_recipient_restrictions = $orig"
postfix -c "$PF" reload >/dev/null 2>&1
once_everywhere "$id" "4xx then 2xx"

# --- 5xx: an unknown recipient ---
id="permfail-$$@benluc.longan.gov.vn"
new_draft "$id" "Người nhận không tồn tại" "khongco@longan.gov.vn"
ok "5xx: moved to the failed folder" wait_for 20 is_count "$USER1" "$FAILED" "$id" 1
ok "5xx: a notice quotes the server" wait_for 10 notice_has "refused by the mail server"
ok "5xx: the notice names the address" notice_has "khongco@longan.gov.vn"
is "$(count "$RCPT" INBOX "$id")" 0 "5xx: nobody got it (the transaction was all or nothing)"
is "$(count "$USER1" Sent "$id")" 0 "5xx: not in Sent"
stop_agent

# --- a server certificate from another CA ---
AGENT_TLS_CA=$OTHER_CA_FILE agent_conf >"$work/other-ca.conf"
id="untrusted-$$@benluc.longan.gov.vn"
new_draft "$id" "Chứng thư máy chủ lạ"
"$KYSO_BIN" agent -c "$work/other-ca.conf" >"$work/untrusted.log" 2>&1 &
AGENT_PID=$!
ok "untrusted server certificate: a clear error in the log" \
	wait_for 20 grep -Eq "step=connect class=config error=.*(certificate|verify)" "$work/untrusted.log"
ok "untrusted server certificate: no login happened" sh -c "! grep -q 'step=login result=ok' '$work/untrusted.log'"
stop_agent
is "$(count "$USER1" "$OUTBOX" "$id")" 1 "untrusted server certificate: the draft is still in the outbox"
is "$(count "$RCPT" INBOX "$id")" 0 "untrusted server certificate: nothing sent"
# ...and with the right CA it goes out, once
start_agent
once_everywhere "$id" "after the certificate problem"
stop_agent

# --- the journal's disk is full ---
full_state=""
mkdir -p "$work/small"
if mount -t tmpfs -o size=384k,mode=0700 tmpfs "$work/small" 2>/dev/null; then
	mnt="$work/small"
	full_state=tmpfs
fi
id="diskfull-$$@benluc.longan.gov.vn"
{
	printf 'Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nBcc: %s\r\nSubject: Đĩa đầy\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="dd"\r\n\r\n--dd\r\nContent-Type: text/plain\r\n\r\nxem tep\r\n--dd\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' "$id" "$VANTHU" "$RCPT" "$BCC"
	head -c $((1024 * 1024)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
	printf -- '--dd--\r\n'
} >"$work/big.eml"
put_draft "$work/big.eml"
if [ "$full_state" = tmpfs ]; then
	sed "s|^state_dir = .*|state_dir = $work/small/state|" "$AGENT_CONF" >"$work/small.conf"
	"$KYSO_BIN" agent -c "$work/small.conf" >"$work/full.log" 2>&1 &
	AGENT_PID=$!
else
	# No mount here: a file size limit the journal cannot grow past (the
	# agent ignores SIGXFSZ, so writes fail with EFBIG).
	diag "tmpfs cannot be mounted here: using ulimit -f"
	full_state="ulimit"
	sed "s|^state_dir = .*|state_dir = $work/small/state|" "$AGENT_CONF" >"$work/small.conf"
	(ulimit -f 256; exec "$KYSO_BIN" agent -c "$work/small.conf") > >(cat >"$work/full.log") 2>&1 &
	AGENT_PID=$!
fi
ok "disk full ($full_state): a clear error in the log" \
	wait_for 30 grep -Eq "(full|too large|File too large|disk)" "$work/full.log"
ok "disk full: the agent still runs" agent_alive
is "$(count "$RCPT" INBOX "$id")" 0 "disk full: nothing was sent without a journal record"
is "$(count "$USER1" "$OUTBOX" "$id")" 1 "disk full: the draft is still in the outbox"
if [ "$full_state" = tmpfs ]; then
	mount -o remount,size=64m "$work/small"
	ok "disk space back: delivered" wait_for 60 grep -q "msgid=\"$id\" id=[0-9]* step=done" "$work/full.log"
	ok "disk space back: queue flushed" wait_for 30 queue_empty
	is "$(count "$RCPT" INBOX "$id")" 1 "disk space back: the recipient holds exactly one copy"
	is "$(count "$USER1" Sent "$id")" 1 "disk space back: Sent holds exactly one copy"
	ok "disk space back: the outbox is empty" wait_for 10 is_nfiles "$USER1" "$OUTBOX" 0
	stop_agent
else
	stop_agent
	AGENT_CONF=$work/small.conf AGENT_LOG=$work/full.log start_agent
	ok "no size limit: delivered" wait_for 60 grep -q "msgid=\"$id\" id=[0-9]* step=done" "$work/full.log"
	ok "no size limit: queue flushed" wait_for 30 queue_empty
	is "$(count "$RCPT" INBOX "$id")" 1 "no size limit: the recipient holds exactly one copy"
	stop_agent
fi
# sanitizer builds: the agent's own reports land in its log
fails "no sanitizer report from the agent" grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$AGENT_LOG" "$work"/*.log
[ "${KEEP:-}" ] && diag "work: $work"
done_testing
