#!/bin/bash
# shellcheck disable=SC2119  # start_agent takes optional ENV=VALUE arguments
# tests/e2e/agent-poll.sh - `kyso agent` against a real Dovecot that does not
# announce IDLE (tests/mailstack with MAILSTACK_NO_IDLE=1), so both workflows
# wait by polling every [agent] poll = 1 second (agent/outbox.c sleeps and
# searches again, agent/inbox.c sends NOOP).  Checks: the stack really hides
# IDLE before and after LOGIN; the agent logs that it polls, for the outbox
# and the verified INBOX; a draft put in the outbox while the agent polls is
# delivered once, signed (openssl cms -verify), and filed in Sent once; the
# recipient's account (verify_inbox = yes) tags that signed message
# KySo_HopLe while polling, and leaves it unread; Dovecot restarted while
# the agent polls: it logs in again, polls again, and the next draft and
# messages (signed, unsigned) are handled the same way.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
# shellcheck source=tests/e2e/agent-lib.sh
. "$KYSO_SRCDIR/tests/e2e/agent-lib.sh"

drv=$KYSO_BUILDDIR/tests/e2e/inbox-driver
for p in "$KYSO_BUILDDIR/tests/e2e/mailtool" "$drv" "$KYSO_BIN"; do
	[ -x "$p" ] || { echo "Bail out! $p is not built (make check builds it)"; exit 1; }
done
work=$(mktemp -d /tmp/kapoll.XXXXXX)
cleanup() {
	stop_agent
	mailstack_down
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
export MAILSTACK_NO_IDLE=1
mailstack_up
unset MAILSTACK_NO_IDLE
agent_setup "$work"
VANTHU="Văn thư <vanthu@benluc.longan.gov.vn>"

# --- the stack: no IDLE, neither in the greeting nor after LOGIN ---
is "${IMAP_IDLE:-}" no "stack.env says IMAP_IDLE=no"
{
	printf 'a CAPABILITY\r\n'; sleep 0.5
	printf 'b LOGIN %s %s\r\n' "$USER1" "$PASS1"; sleep 1
	printf 'c CAPABILITY\r\n'; sleep 0.5
	printf 'd LOGOUT\r\n'; sleep 0.5
} | timeout 15 "$OPENSSL_CLI" s_client -quiet -connect "127.0.0.1:$IMAPS_PORT" -CAfile "$CA_FILE" \
	>"$work/caps.txt" 2>/dev/null
tr -d '\r' <"$work/caps.txt" | sed "s/$PASS1/***/" >"$work/caps.clean"
ok "the server logged the test in (raw IMAP over TLS)" grep -q '^b OK' "$work/caps.clean"
# three lists: a's answer, the one Dovecot sends on its own after LOGIN, c's answer
is "$(grep -c '^\* CAPABILITY IMAP4rev1' "$work/caps.clean")" 3 "CAPABILITY listed before, at and after LOGIN"
ok "the capabilities after LOGIN (the OK's own list included) still have UIDPLUS and MOVE" \
	sh -c "sed -n '/^b OK/,\$p' '$work/caps.clean' | grep -q 'UIDPLUS.* MOVE '"
fails "no IDLE anywhere: greeting, pre-login, LOGIN's OK, post-login" grep -qw IDLE "$work/caps.clean"

# --- the agent: poll = 1; ubnd@ is a second account whose INBOX is verified ---
sed -i 's/^poll = .*/poll = 1/' "$AGENT_CONF"
user_pass "$RCPT" >"$work/ubnd.pw" && echo >>"$work/ubnd.pw"
chmod 600 "$work/ubnd.pw"
cat >>"$AGENT_CONF" <<EOF
[account ubnd]
address = $RCPT
imap = imaps://localhost:$IMAPS_PORT
smtp = smtp://localhost:$SUBMISSION_PORT
password_file = $work/ubnd.pw
tls_ca = $CA_FILE
verify_inbox = yes
backlog = all
EOF
ok "kyso check-config accepts the configuration" "$KYSO_BIN" check-config -c "$AGENT_CONF"
start_agent
ok "the agent runs and creates vanthu's folders" agent_alive
ok "the outbox says it polls every second (no IDLE)" \
	wait_for 10 grep -q "acct=vanthu step=wait result=no-idle poll=1" "$AGENT_LOG"
ok "ubnd's outbox too" wait_for 10 grep -q "acct=ubnd step=wait result=no-idle poll=1" "$AGENT_LOG"
ok "ubnd's INBOX says it polls every second (no IDLE)" \
	wait_for 10 grep -q "acct=ubnd folder=\"INBOX\" step=wait result=no-idle poll=1" "$AGENT_LOG"
fails "vanthu's INBOX is not watched (verify_inbox = no)" grep -q "acct=vanthu folder=\"INBOX\" step=wait" "$AGENT_LOG"

# Let a few polls pass first, so the draft lands while the agent is waiting
# (not during its first scan).
sleep 2.5
id="poll-$$@benluc.longan.gov.vn"
draft "$id" "$VANTHU" "$RCPT" "" "" "Công văn khi không có IDLE" >"$work/d.eml"
t0=$SECONDS
ok "a draft is put in the outbox" put_draft "$work/d.eml"
ok "the recipient's INBOX gets it within 15 s" wait_for 15 is_count "$RCPT" INBOX "$id" 1
diag "draft to recipient's INBOX: about $((SECONDS - t0)) s with poll = 1"
got=$(find_msg "$RCPT" INBOX "$id")
ok "openssl cms -verify accepts what arrived" \
	"$OPENSSL_CLI" cms -verify -in "$got" -CAfile "$PKI_ANCHORS" -purpose smimesign -out /dev/null
ok "Sent holds the signed copy" wait_for 10 is_count "$USER1" Sent "$id" 1
ok "the outbox is empty" wait_for 10 is_nfiles "$USER1" "Ký số" 0
ok "the log has the draft done" grep -q "msgid=\"$id\" id=[0-9]* step=done" "$AGENT_LOG"

# --- the verified INBOX: the keyword comes while polling; still unread ---
flags() { "$drv" flags -c "$AGENT_CONF" -a ubnd -f INBOX "<$id>" 2>>"$work/flags.err" | sort | tr '\n' ' '; }
has_kw() { case " $(flags) " in *" $1 "*) return 0;; esac; return 1; }
ok "the signed message gets KySo_HopLe while the agent polls" wait_for 20 has_kw KySo_HopLe
f=$(flags)
diag "flags: $f"
is "$(tr ' ' '\n' <<<"$f" | grep -ci '^kyso_')" 1 "exactly one kyso keyword"
case " $f " in *' \Seen '*) is seen unseen "the message stays unread";; *) is unseen unseen "the message stays unread";; esac
ok "the log has the verdict" grep -q "acct=ubnd folder=\"INBOX\" uid=[0-9]* step=verify verdict=valid" "$AGENT_LOG"

# a few more polls: nothing is sent twice, nothing re-tagged
sleep 3
is "$(count "$RCPT" INBOX "$id")" 1 "after more polls: still one copy at the recipient"
is "$(count "$USER1" Sent "$id")" 1 "after more polls: still one copy in Sent"
is "$(grep -c "acct=ubnd folder=\"INBOX\" uid=[0-9]* step=verify" "$AGENT_LOG")" 1 "verified once"
fails "the agent never tried IDLE" grep -q "step=idle" "$AGENT_LOG"
ok "the agent still runs" agent_alive

# --- Dovecot restarted while the agent polls: the next poll fails, it logs in again ---
mark=$(wc -l <"$AGENT_LOG")
since() { tail -n +"$((mark + 1))" "$AGENT_LOG"; }
"$KYSO_SRCDIR/tests/mailstack" stop-service "$MAILSTACK_DIR" dovecot >/dev/null 2>&1
sleep 1.5
"$KYSO_SRCDIR/tests/mailstack" start-service "$MAILSTACK_DIR" dovecot >/dev/null 2>&1
relogged() { [ "$(since | grep -c 'step=login result=ok')" -ge 3 ]; }
ok "Dovecot restarted: the three sessions log in again" wait_for 30 relogged
polling_again() { [ "$(since | grep -c 'step=wait result=no-idle poll=1')" -ge 3 ]; }
ok "... and poll again (three no-idle lines)" wait_for 10 polling_again
id2="poll2-$$@benluc.longan.gov.vn"
draft "$id2" "$VANTHU" "$RCPT" "" "" "Sau khi Dovecot khởi động lại" >"$work/d2.eml"
ok "a second draft is put in the outbox" put_draft "$work/d2.eml"
ok "... delivered once within 15 s" wait_for 15 is_count "$RCPT" INBOX "$id2" 1
ok "... signed" "$OPENSSL_CLI" cms -verify -in "$(find_msg "$RCPT" INBOX "$id2")" -CAfile "$PKI_ANCHORS" \
	-purpose smimesign -out /dev/null
id3="unsigned-$$@benluc.longan.gov.vn"
printf 'Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: test\r\n\r\nkhong ky\r\n' "$id3" "$USER1" "$RCPT" >"$work/u.eml"
ok "an unsigned message is APPENDed to ubnd's INBOX" \
	"$KYSO_BUILDDIR/tests/e2e/mailtool" append "$RCPT" "$(user_pass "$RCPT")" INBOX "$work/u.eml"
id_save=$id
id=$id2
ok "the second signed message gets KySo_HopLe" wait_for 20 has_kw KySo_HopLe
case " $(flags) " in *' \Seen '*) is seen unseen "... and stays unread";; *) is unseen unseen "... and stays unread";; esac
id=$id3
ok "the unsigned one gets KySo_KhongKy" wait_for 20 has_kw KySo_KhongKy
case " $(flags) " in *' \Seen '*) is seen unseen "... and stays unread";; *) is unseen unseen "... and stays unread";; esac
id=$id_save
is "$(count "$RCPT" INBOX "$id")" 1 "the first message is still there once"
ok "... still KySo_HopLe (not re-tagged differently)" has_kw KySo_HopLe
is "$(count "$USER1" Sent "$id2")" 1 "the second draft is in Sent once"

t0=$SECONDS
stop_agent
is "$?" 0 "SIGTERM while polling: exit status 0"
ok "SIGTERM while polling: within 5 seconds" test $((SECONDS - t0)) -le 5
fails "no sanitizer report from the agent" grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$AGENT_LOG"
[ "${KEEP:-}" ] && diag "work: $work"
done_testing
