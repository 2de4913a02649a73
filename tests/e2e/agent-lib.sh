# shellcheck shell=bash
# shellcheck disable=SC2034,SC2119  # variables for the sourcing scripts; start_agent takes optional ENV=VALUE
# tests/e2e/agent-lib.sh - helpers shared by the agent's end-to-end tests
# (agent-outbox.sh, agent-faults.sh, tests/bench/run-outbox).  Source it
# after tests/lib.sh and mailstack_up.  Mailboxes are read straight from the
# stack's Maildirs (the tests run as root): counting by Message-ID there
# cannot be fooled by an IMAP client's caching.

# agent_setup WORK: PKI, passwords and a kyso.conf for vanthu@benluc.longan.gov.vn
# in WORK.  Sets AGENT_CONF, AGENT_LOG, AGENT_WORK, RCPT/RCPT_PASS (ubnd@...),
# BCC (lanhdao@...).
agent_setup() {
	AGENT_WORK=$1
	AGENT_CONF=$AGENT_WORK/kyso.conf
	AGENT_LOG=$AGENT_WORK/agent.log
	"$KYSO_SRCDIR/tests/pki/mkpki" "$AGENT_WORK/pki" >/dev/null 2>&1 || { echo "Bail out! mkpki failed"; exit 1; }
	# shellcheck disable=SC1091
	. "$AGENT_WORK/pki/pki.env"
	RCPT=ubnd@longan.gov.vn
	BCC=lanhdao@benluc.longan.gov.vn
	RCPT_PASS=$(user_pass "$RCPT")
	[ "$USER1" = vanthu@benluc.longan.gov.vn ] || { echo "Bail out! USER1 is $USER1"; exit 1; }
	printf '%s\n' "$PASS1" >"$AGENT_WORK/vanthu.pw"
	chmod 600 "$AGENT_WORK/vanthu.pw"
	agent_conf >"$AGENT_CONF"
}

# agent_conf: the configuration text (AGENT_TLS_CA replaces the stack's CA;
# AGENT_WEB=1 turns the web view on, on a free port).
agent_conf() {
	cat <<EOF
[agent]
state_dir = $AGENT_WORK/state
log_level = debug
poll = 2
[web]
$(if [ -n "${AGENT_WEB:-}" ]; then printf 'listen = 127.0.0.1:0\ntemplates = %s/templates\n' "$KYSO_SRCDIR"; else echo "enabled = no"; fi)
[trust]
anchors = $PKI_ANCHORS
intermediates = $PKI_INTERMEDIATES
revocation = off
[identity vanthu]
addresses = vanthu@benluc.longan.gov.vn
p12 = $PKI_VANTHU_P12
pass_file = $PKI_PASS_FILE
[account vanthu]
address = vanthu@benluc.longan.gov.vn
imap = imaps://localhost:$IMAPS_PORT
smtp = smtp://localhost:$SUBMISSION_PORT
password_file = $AGENT_WORK/vanthu.pw
tls_ca = ${AGENT_TLS_CA:-$CA_FILE}
verify_inbox = no
EOF
}

user_pass() {
	local i=1 u p
	while [ "$i" -le "$USER_COUNT" ]; do
		u="USER$i" p="PASS$i"
		[ "${!u}" = "$1" ] && { printf '%s' "${!p}"; return 0; }
		i=$((i + 1))
	done
	return 1
}

# maildir USER FOLDER: the Maildir of a folder (UTF-8 name, '/' between levels).
maildir() {
	local folder=$2 dom=${1#*@} local=${1%@*}
	local base=$MAILDIR_ROOT/$dom/$local/Maildir
	if [ "$folder" = INBOX ]; then printf '%s' "$base"; return; fi
	printf '%s/.%s' "$base" "$(perl -MEncode -MMIME::Base64 -e '
		my $s = decode("UTF-8", $ARGV[0]);
		$s =~ s{([^\x20-\x25\x27-\x7e]+)}{ my $b = encode_base64(encode("UTF-16BE", $1), "");
			$b =~ s/=+$//; $b =~ tr|/|,|; "&$b-" }ge;
		$s =~ tr|/|.|; print $s' "$folder")"
}

# files USER FOLDER: the message files of a folder, one a line.
files() {
	local d
	d=$(maildir "$1" "$2")
	find "$d/cur" "$d/new" -maxdepth 1 -type f 2>/dev/null
}

# has_msgid FILE MSGID: the message's header holds Message-ID: <MSGID>.
# (Dovecot keeps Maildir files with LF line ends; CRLF is accepted too.)
has_msgid() {
	perl -e 'open(my $h, "<:raw", $ARGV[0]) or exit 1; my $hd = "";
		while (my $l = <$h>) { last if $l =~ /^\r?\n$/; $hd .= $l; }
		$hd =~ s/\r?\n[ \t]+/ /g; exit($hd =~ /^Message-ID:[ \t]*<\Q$ARGV[1]\E>\r?$/mi ? 0 : 1)' "$1" "$2"
}

# count USER FOLDER MSGID: messages whose header holds Message-ID: <MSGID>.
count() {
	local n=0 f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		has_msgid "$f" "$3" &&
			n=$((n + 1))
	done < <(files "$1" "$2")
	echo "$n"
}

# find_msg USER FOLDER MSGID: the file of that message (the first one).
find_msg() {
	local f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		has_msgid "$f" "$3" &&
			{ printf '%s' "$f"; return 0; }
	done < <(files "$1" "$2")
	return 1
}

nfiles() { files "$1" "$2" | grep -c . ; }

# wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds.
wait_for() {
	local end=$((SECONDS + $1)); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
	return 0
}
is_count() { [ "$(count "$1" "$2" "$3")" = "$4" ]; }
is_nfiles() { [ "$(nfiles "$1" "$2")" = "$3" ]; }

# notices: the text of the agent's failure notices in vanthu's INBOX (QP decoded).
notices() {
	local f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		grep -q '^Auto-Submitted: auto-generated' "$f" || continue
		perl -MMIME::QuotedPrint -e 'local $/; my $d = <STDIN>; my (undef, $b) = split(/\r?\n\r?\n/, $d, 2);
			print decode_qp($b // ""), "\n"' <"$f"
	done < <(files "$USER1" INBOX)
}
notice_has() { notices | grep -qF -- "$1"; }
# notice_subjects: the decoded (RFC 2047) Subject of each notice, one a line.
notice_subjects() {
	local f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		grep -q '^Auto-Submitted: auto-generated' "$f" || continue
		perl -MEncode -e 'local $/; my ($h) = split(/\r?\n\r?\n/, <STDIN>, 2); $h =~ s/\r?\n[ \t]+/ /g;
			binmode(STDOUT, ":utf8"); print decode("MIME-Header", $1), "\n" if $h =~ /^Subject:[ \t]*(.*?)\r?$/mi' <"$f"
	done < <(files "$USER1" INBOX)
}

# draft MSGID FROM TO CC BCC SUBJECT [BODY-FILE]: a draft on stdout (CRLF).
draft() {
	local h=""
	[ -n "$2" ] && h+="From: $2\r\n"
	[ -n "$3" ] && h+="To: $3\r\n"
	[ -n "$4" ] && h+="Cc: $4\r\n"
	[ -n "$5" ] && h+="Bcc: $5\r\n"
	printf "Message-ID: <%s>\r\n${h}Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" \
		"$1" "$6"
	printf 'Kính gửi: các đơn vị.\r\nĐề nghị thực hiện.\r\n'
}

# put_draft FILE: APPEND a draft to vanthu's outbox.
put_draft() { "$KYSO_BUILDDIR/tests/e2e/mailtool" append "$USER1" "$PASS1" "Ký số" "$1"; }

AGENT_PID=""
# start_agent [ENV=VALUE...]: run the agent in the background.
start_agent() {
	env "$@" "$KYSO_BIN" agent -c "$AGENT_CONF" >>"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	wait_for 10 test -d "$(maildir "$USER1" "Ký số/Lỗi")"
}
# stop_agent: SIGTERM and wait; returns the agent's exit status.
stop_agent() {
	local rc=0
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null || rc=$?
	AGENT_PID=""
	return "$rc"
}
agent_alive() { [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; }
