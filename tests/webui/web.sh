#!/bin/sh
# tests/webui/web.sh - the web view end to end, with curl against
# tests/webui/webserve over a log made by tests/webui/mklog: login, every
# page with its security headers, who sees what, CSRF and cross-site POSTs,
# path traversal, oversized and malformed input, throttling, language, CSV,
# 10,000 idle connections; and, where a mail stack runs, a real IMAP LOGIN.
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

WEBSERVE=$KYSO_BUILDDIR/tests/webui/webserve
MKLOG=$KYSO_BUILDDIR/tests/webui/mklog
TEMPLATES=$KYSO_SRCDIR/templates
command -v curl >/dev/null 2>&1 || skip_all "curl is not installed"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 is not installed"
[ -x "$WEBSERVE" ] || skip_all "no $WEBSERVE (make check builds it)"
[ -x "$MKLOG" ] || skip_all "no $MKLOG (make check builds it)"

T=$(mktemp -d "${TMPDIR:-/tmp}/kyso-web.XXXXXX")
WS_PID=""
WS_EXITS=""
# stop_ws: SIGTERM, wait; remember the exit status and keep what it printed
stop_ws() {
	[ -n "$WS_PID" ] || return 0
	kill "$WS_PID" 2>/dev/null
	wait "$WS_PID" 2>/dev/null
	WS_EXITS="$WS_EXITS $?"
	cat "$T/ws.err" >>"$T/ws-all.err" 2>/dev/null
	WS_PID=""
}
trap 'kill "$WS_PID" 2>/dev/null; mailstack_down; rm -rf "$T"' EXIT

D=benluc.longan.gov.vn
USER=vanthu@$D          # sees only account "vanthu"
ADMIN=ubnd@$D           # sees every account
ACCTS="--account vanthu@$D=vanthu --account ketoan@$D=ketoan --account tuphap@$D=tuphap
 --account phonggd@$D=giaoduc --account trungtamyte@$D=yte --account taichinh@$D=taichinh
 --account noivu@$D=noivu --account ubnd@$D=ubnd"
"$MKLOG" --rows 400 --hostile --days 20 --quiet "$T/log.db" >"$T/mklog.out" 2>&1 ||
	{ echo "Bail out! mklog failed"; sed 's/^/# /' "$T/mklog.out"; exit 1; }
printf '%s\n' "$USER pw-vanthu-1" "$ADMIN pw-ubnd-2" "tuphap@$D pw-tuphap-3" >"$T/logins"

# start_ws ARGS...: run webserve, wait for "port N", set B (base URL)
start_ws() {
	rm -f "$T/ws.out"       # else the last server's port may be read before the new one's
	"$WEBSERVE" --db "$T/log.db" --templates "$TEMPLATES" "$@" >"$T/ws.out" 2>"$T/ws.err" &
	WS_PID=$!
	_i=0
	while ! grep -q '^port ' "$T/ws.out" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ] || ! kill -0 "$WS_PID" 2>/dev/null; then
			echo "Bail out! webserve did not start"
			sed 's/^/# /' "$T/ws.err"
			exit 1
		fi
		sleep 0.05
	done
	PORT=$(sed -n 's/^port //p' "$T/ws.out")
	B=http://127.0.0.1:$PORT
}
# shellcheck disable=SC2086
start_ws $ACCTS --admin "$ADMIN" --fixed-logins "$T/logins"

# code URL [curl args]: the status code
code() { _u=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "$B$_u"; }
# hdrs URL [curl args]: the response headers (GET, body dropped)
hdrs() { _u=$1; shift; curl -s -D - -o /dev/null "$@" "$B$_u" | tr -d '\r'; }
has() { printf '%s\n' "$1" | grep -qi -- "$2"; }
# secure_headers WHAT HEADERS: every response's security headers
secure_headers() {
	_h=$2
	has "$_h" '^content-type: .*charset=utf-8' &&
	has "$_h" "^content-security-policy: default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\$" &&
	has "$_h" '^x-content-type-options: nosniff$' &&
	has "$_h" '^referrer-policy: no-referrer$' &&
	has "$_h" '^x-frame-options: DENY$'
}
# login JAR ADDRESS PASSWORD: the status of a login through the form
login() {
	_tok=$(curl -s -c "$1" -b "$1" "$B/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
	curl -s -o "$T/login.body" -w '%{http_code}' -c "$1" -b "$1" \
		--data-urlencode "csrf=$_tok" --data-urlencode "address=$2" --data-urlencode "password=$3" "$B/login"
}
csrf_of() { curl -s -b "$1" "$B/log" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1; }

# --- without a session ---
is "$(curl -s "$B/healthz")" "ok" "/healthz answers ok without login"
is "$(code /)" 303 "/ without a session redirects"
is "$(curl -s -o /dev/null -w '%{redirect_url}' "$B/log")" "$B/login" "/log without a session redirects to /login"
is "$(code /log.csv)" 401 "/log.csv without a session is 401"
h=$(hdrs /login)
ok "/login: 200 with the security headers and no-store" sh -c '
	printf "%s\n" "$1" | grep -q "^HTTP/1.1 200" && printf "%s\n" "$1" | grep -qi "^cache-control: no-store"' _ "$h"
ok "/login: security headers" secure_headers login "$h"
ok "/login sets the pre-login token cookie HttpOnly SameSite=Strict" has "$h" '^set-cookie: kyso_pre=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict'

# --- login ---
is "$(login "$T/bad" "$USER" wrong)" 401 "a wrong password is refused (401)"
cp "$T/login.body" "$T/wrong.body"
is "$(login "$T/bad" "nobody@$D" wrong)" 401 "an unknown address is refused the same way"
ok "unknown and wrong answer alike (same message)" sh -c '
	a=$(grep -c "class=\"flash" "$1"); b=$(grep -c "class=\"flash" "$2"); [ "$a" = "$b" ] &&
	[ "$(grep -o "<p class=\"flash[^<]*" "$1")" = "$(grep -o "<p class=\"flash[^<]*" "$2")" ]' _ "$T/wrong.body" "$T/login.body"
is "$(curl -s -o /dev/null -w '%{http_code}' -c "$T/nc" -b "$T/nc" -d "address=$USER&password=pw-vanthu-1" "$B/login")" 403 \
	"a login POST without the pre-login token is refused (403)"
is "$(login "$T/user" "$USER" pw-vanthu-1)" 303 "the user logs in (303)"
ok "session cookie: 64 hex, HttpOnly" grep -q "^#HttpOnly_127.0.0.1.*kyso_session	[0-9a-f]\{64\}\$" "$T/user"
is "$(login "$T/admin" "$(echo "$ADMIN" | tr a-z A-Z)" pw-ubnd-2)" 303 "the admin logs in (address in capitals)"
is "$(code /login -b "$T/user")" 303 "/login with a session goes to the log"

# --- every page, with headers ---
own=$(sqlite3 "$T/log.db" "SELECT id FROM messages WHERE account='vanthu' ORDER BY id DESC LIMIT 1")
other=$(sqlite3 "$T/log.db" "SELECT id FROM messages WHERE account<>'vanthu' ORDER BY id DESC LIMIT 1")
out_id=$(sqlite3 "$T/log.db" "SELECT id FROM messages WHERE direction='out' ORDER BY id DESC LIMIT 1")
for u in /log "/log?direction=in&verdict=invalid" "/log?q=tran+kim+ngan" "/log?from=2000-01-01&to=2100-12-31" \
    "/log?verdict=bogus&from=2026-02-30&before=x.y" /accounts /overview "/message/$own"; do
	h=$(hdrs "$u" -b "$T/user")
	ok "user GET $u: 200, security headers, no-store" sh -c '
		printf "%s\n" "$1" | grep -q "^HTTP/1.1 200" && printf "%s\n" "$1" | grep -qi "^cache-control: no-store$"' _ "$h"
	ok "user GET $u: security headers" secure_headers "$u" "$h"
done
for u in /log /accounts /overview "/message/$other" "/message/$out_id" "/log?account=ketoan"; do
	is "$(code "$u" -b "$T/admin")" 200 "admin GET $u: 200"
done
is "$(code "/message/$other" -b "$T/user")" 404 "a non-admin gets 404 for another account's message"
is "$(code /message/999999999 -b "$T/user")" 404 "no such message: 404"
ok "the user's log shows only their account" sh -c '
	curl -s -b "$1" "$2/log" >"$3/ul.html" && grep -q "vanthu" "$3/ul.html" && ! grep -q "ketoan@" "$3/ul.html"' _ "$T/user" "$B" "$T"
ok "keyset pagination: the next page differs and follows on" sh -c '
	curl -s -b "$1" "$2/log" >"$3/p1" && next=$(grep -o "before=[0-9]*\.[0-9]*" "$3/p1" | head -1) && [ -n "$next" ] &&
	curl -s -b "$1" "$2/log?$next" >"$3/p2" && ! cmp -s "$3/p1" "$3/p2"' _ "$T/admin" "$B" "$T"

# --- hostile data renders as text ---
curl -s -b "$T/admin" "$B/log" >"$T/log.html"
ok "hostile subjects: no raw <script> or onerror= tag in the page" sh -c '
	! grep -qi "<script>alert\|<img[^>]*onerror" "$1" && grep -q "&lt;script&gt;\|&lt;img" "$1"' _ "$T/log.html"
ok "only the page's own script tag" sh -c '[ "$(grep -o "<script" "$1" | wc -l)" -le 1 ]' _ "$T/log.html"

# --- CSV ---
h=$(hdrs /log.csv -b "$T/admin")
ok "CSV: 200 text/csv charset, attachment" sh -c '
	printf "%s\n" "$1" | grep -qi "^content-type: text/csv; charset=utf-8" &&
	printf "%s\n" "$1" | grep -qi "^content-disposition: attachment"' _ "$h"
curl -s -b "$T/admin" "$B/log.csv" >"$T/all.csv"
is "$(grep -c '^[0-9]*,20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9],' "$T/all.csv")" "$(sqlite3 "$T/log.db" 'SELECT count(*) FROM messages')" \
	"CSV: one record per row (admin, no filter)"
ok "CSV: no cell starts a formula" sh -c '! grep -q "\(^\|,\)\"\?[=+@]" "$1"' _ "$T/all.csv"
ok "CSV: hostile formulas are guarded with a quote" grep -q "'=" "$T/all.csv"
curl -s -b "$T/user" "$B/log.csv?direction=in" >"$T/user.csv"
ok "CSV of a user: only their account, only incoming" sh -c '
	[ "$(tail -n +2 "$1" | cut -d, -f3,4 | sort -u)" = "in,vanthu" ]' _ "$T/user.csv"
ok "CSV: the header names the attachment verdict column last" sh -c '
	head -1 "$1" | tr -d "\r" | grep -q ",signer,attachment_verdict\$"' _ "$T/all.csv"

# --- signed attachments (messages.att_verdict): badge, filter, CSV, links ---
# records RE FILE: the CSV records (one per row) whose last column matches RE
records() { grep '^[0-9]*,20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9],' "$2" | tr -d '\r' | grep -c ",$1\$"; }
n_any=$(sqlite3 "$T/log.db" 'SELECT count(*) FROM messages WHERE att_verdict IS NOT NULL')
n_valid=$(sqlite3 "$T/log.db" "SELECT count(*) FROM messages WHERE att_verdict = 'valid'")
ok "the log has rows with signed attachments ($n_any, $n_valid valid)" test "$n_any" -gt "$n_valid" -a "$n_valid" -gt 0
is "$(records '[a-z]\{1,\}' "$T/all.csv")" "$n_any" "CSV: the attachment verdict of every row that has one"
curl -s -b "$T/admin" "$B/log.csv?att=valid" >"$T/att-valid.csv"
is "$(records ".*" "$T/att-valid.csv")" "$n_valid" "CSV ?att=valid: one record per row with valid signed attachments"
is "$(records 'valid' "$T/att-valid.csv")" "$n_valid" "CSV ?att=valid: each says valid"
curl -s -b "$T/admin" "$B/log.csv?att=any" >"$T/att-any.csv"
is "$(records '[a-z]\{1,\}' "$T/att-any.csv")" "$n_any" "CSV ?att=any: every row with a signed attachment, and only those"
is "$(records '' "$T/att-any.csv")" "0" "CSV ?att=any: no row without one"
curl -s -b "$T/admin" "$B/log.csv?att=bogus" >"$T/att-bogus.csv"
ok "?att=bogus is ignored (everything)" cmp -s "$T/all.csv" "$T/att-bogus.csv"
for v in valid partial invalid indeterminate; do
	curl -s -b "$T/admin" "$B/log?att=$v" >"$T/att-$v.html"
	n=$(sqlite3 "$T/log.db" "SELECT min(count(*), 50) FROM messages WHERE att_verdict = '$v'")
	ok "/log?att=$v: $n rows, each with the $v attachment badge, no other" sh -c '
		[ "$(grep -c "^<tr class=\"d-" "$1")" = "$2" ] && [ "$(grep -o "class=\"badge att a-[a-z]*\"" "$1" | wc -l)" = "$2" ] &&
		[ -z "$(grep -o "class=\"badge att a-[a-z]*\"" "$1" | grep -v "a-$3\"")" ] &&
		grep -q "<option value=\"$3\" selected>" "$1"' _ "$T/att-$v.html" "$n" "$v"
done
curl -s -b "$T/admin" "$B/log?att=any&direction=in" >"$T/att-any.html"
ok "/log?att=any: the next page and CSV links keep att=" sh -c '
	grep -q "rel=\"next\" href=\"/log?before=[0-9]*\.[0-9]*&amp;direction&#61;in&amp;att&#61;any\"" "$1" &&
	grep -q "href=\"/log.csv?direction&#61;in&amp;att&#61;any\"" "$1"' _ "$T/att-any.html"
# the usual official document: an unsigned mail with a validly signed PDF
um=$(sqlite3 "$T/log.db" "SELECT id FROM messages WHERE verdict = 'unsigned' AND att_verdict = 'valid' AND account = 'vanthu' ORDER BY id DESC LIMIT 1")
ok "the log has an unsigned mail of vanthu with a validly signed attachment" test -n "$um"
curl -s -b "$T/user" "$B/message/$um" >"$T/um.html"
ok "its message page shows both: no signature, attachment valid" sh -c '
	grep -q "class=\"badge v-unsigned\">Không có chữ ký số<" "$1" &&
	grep -q "class=\"badge att a-valid\">Tệp đính kèm: hợp lệ<" "$1"' _ "$T/um.html"
curl -s -b "$T/user" "$B/log?verdict=unsigned&att=valid&lang=en" >"$T/um-log.html"
ok "the user's log, unsigned + attachment valid, in English: the row with both badges" sh -c '
	grep -q "href=\"/message/$2\"" "$1" && grep -q "class=\"badge att a-valid\">Attachment: valid<" "$1" &&
	! grep -q "class=\"badge v-[a-tv-z]" "$1"' _ "$T/um-log.html" "$um"

# --- CSRF, cross-site, logout ---
tok=$(csrf_of "$T/user")
ok "the page carries a 64-hex CSRF token" test "${#tok}" -eq 64
is "$(code /logout -b "$T/user" -d "csrf=0000")" 403 "logout with a wrong CSRF token: 403"
is "$(code /logout -b "$T/user" -H 'Origin: http://evil.example' -d "csrf=$tok")" 403 "cross-site POST (Origin): 403"
is "$(code /logout -b "$T/user" -H 'Sec-Fetch-Site: cross-site' -d "csrf=$tok")" 403 "cross-site POST (Sec-Fetch-Site): 403"
is "$(code /logout -b "$T/user" -H "Referer: http://evil.example/x" -d "csrf=$tok")" 403 "cross-site POST (Referer): 403"
is "$(code /login -H 'Origin: http://evil.example' -d "csrf=x&address=$USER&password=pw-vanthu-1")" 403 "cross-site login POST: 403"
is "$(code /log -b "$T/user")" 200 "the session survived the refused POSTs"

# --- language ---
ok "Vietnamese by default" sh -c 'curl -s "$1/login" | grep -q "<html lang=\"vi\""' _ "$B"
h=$(hdrs "/login?lang=en" -c "$T/lang")
ok "?lang=en answers in English and sets kyso_lang" sh -c '
	printf "%s\n" "$1" | grep -qi "^set-cookie: kyso_lang=en;" && curl -s "$2/login?lang=en" | grep -q "<html lang=\"en\""' _ "$h" "$B"
ok "the kyso_lang cookie keeps English" sh -c 'curl -s -b "$1" "$2/login" | grep -q "<html lang=\"en\""' _ "$T/lang" "$B"
ok "?lang=xx is ignored" sh -c 'curl -s "$1/login?lang=xx" | grep -q "<html lang=\"vi\""' _ "$B"

# --- bad input ---
for u in "/static/../../etc/passwd" "/static/%2e%2e/%2e%2e/etc/passwd" "/static/..%2f..%2fetc%2fpasswd" \
    "/static/kyso.css%00.png" "/static/%00" "/static/.%2e/webui.h" "/../../etc/passwd" "/static//etc/passwd"; do
	c=$(curl -s --path-as-is -o "$T/trav" -w '%{http_code}' "$B$u")
	ok "path traversal $u: 4xx, nothing served" sh -c 'case $1 in 4??) ! grep -q "root:" "$2";; *) false;; esac' _ "$c" "$T/trav"
done
long=$(head -c 5000 /dev/zero | tr '\0' a)
c=$(code "/static/$long.css")
ok "overlong static name: 4xx ($c)" sh -c 'case $1 in 4??) true;; *) false;; esac' _ "$c"
if [ -f "$TEMPLATES/static/kyso.css" ]; then
	h=$(hdrs /static/kyso.css)
	ok "a static file is served with its type" has "$h" '^content-type: text/css; charset=utf-8'
	ok "a static file: security headers" secure_headers css "$h"
fi
big=$(head -c 70000 /dev/zero | tr '\0' b)
c=$(code /log -H "X-Big: $big")
ok "oversized header: 4xx ($c)" sh -c 'case $1 in 4??) true;; *) false;; esac' _ "$c"
head -c 20000 /dev/zero | tr '\0' x >"$T/body"
is "$(code /login --data-binary "@$T/body")" 413 "a 20 KB POST body: 413"
is "$(code /login -H 'Content-Length: 99999999999' -d x)" 413 "a huge Content-Length: 413"
is "$(code /login -H 'Transfer-Encoding: chunked' --data-binary "@$T/body")" 413 "a 20 KB chunked POST body: 413"
c=$(code "/log?q=$(head -c 60000 /dev/zero | tr '\0' q)")
ok "a 60 KB request line: 4xx ($c)" sh -c 'case $1 in 4??) true;; *) false;; esac' _ "$c"
for ck in 'kyso_session=../../etc/passwd' 'kyso_session="' 'kyso_session=;;;=;' \
    "kyso_session=$(head -c 3000 /dev/zero | tr '\0' f)" 'kyso_session=AAAA; kyso_lang=<script>' '='; do
	c=$(code /log -H "Cookie: $ck")
	# libmicrohttpd itself refuses some Cookie headers it cannot parse (431)
	ok "malformed cookie $(printf '%.24s' "$ck"): no session, or refused ($c)" sh -c '
		case $1 in 303|4??) true;; *) false;; esac' _ "$c"
done
is "$(code /log -X BREW)" 405 "an unknown method on a page: 405"
is "$(code /nope -X BREW)" 404 "an unknown method on an unknown path: 404"
is "$(code /logout)" 405 "GET /logout: 405"
ok "the server still answers after all that" sh -c '[ "$(curl -s "$1/healthz")" = ok ]' _ "$B"

# --- metrics ---
curl -s "$B/metrics" >"$T/metrics"
ok "/metrics from loopback: requests, log counts, agent metrics" sh -c '
	grep -q "^kyso_web_requests_total{code=\"200\"} [0-9]" "$1" && grep -q "^kyso_log_messages{" "$1" &&
	grep -q "^kyso_webserve_up 1" "$1"' _ "$T/metrics"

is "$(code /metrics -H 'Host: rebound.example:80')" 403 "/metrics from loopback under a DNS name (rebinding): 403"
# (curl matches a jar's cookies against a custom Host: send them by hand)
sid_of() { awk '$6 == "kyso_session" { print $7 }' "$1"; }
is "$(code /metrics -H 'Host: rebound.example:80' -H "Cookie: kyso_session=$(sid_of "$T/admin")")" 200 \
	"/metrics for an admin session: 200"
is "$(code /metrics -H 'Host: rebound.example:80' -H "Cookie: kyso_session=$(sid_of "$T/user")")" 403 \
	"/metrics for a non-admin session: 403"

# --- logout ---
is "$(code /logout -b "$T/user" -d "csrf=$tok")" 303 "logout with the token: 303"
is "$(code /log -b "$T/user")" 303 "after logout the session is gone"

# --- throttling (last: it blocks the address) ---
for i in 1 2 3 4 5; do login "$T/thr" "tuphap@$D" "wrong$i" >/dev/null; done
c=$(login "$T/thr" "tuphap@$D" pw-tuphap-3)
is "$c" 429 "a sixth try within 15 minutes is throttled (429), even with the right password"
ok "429 says Retry-After" sh -c 'tok=$(curl -s -c "$1" -b "$1" "$2/login" | sed -n "s/.*name=\"csrf\" value=\"\([0-9a-f]*\)\".*/\1/p");
	curl -s -D - -o /dev/null -b "$1" -d "csrf=$tok&address=tuphap%40'"$D"'&password=x" "$2/login" | grep -qi "^retry-after: [0-9]"' _ "$T/thr" "$B"
is "$(login "$T/admin2" "$ADMIN" pw-ubnd-2)" 303 "another address from the same client still logs in"

# --- a real IMAP LOGIN (where the mail stack can run) ---
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if [ "$(id -u)" = 0 ] && have dovecot && have postfix && have postconf; then
	stop_ws
	mailstack_up
	start_ws --account "$USER1=imapuser" --imap "imap://$IMAP_HOST:$IMAP_PORT" --ca "$CA_FILE"
	is "$(login "$T/imap" "$USER1" "$PASS1")" 303 "IMAP LOGIN: the mailbox password logs in"
	is "$(login "$T/imap2" "$USER1" "not-$PASS1")" 401 "IMAP LOGIN: a wrong password does not"
	[ -s "$T/ws.err" ] && diag "webserve: $(cat "$T/ws.err")"
	stop_ws
	mailstack_down
	# shellcheck disable=SC2086
	start_ws $ACCTS --admin "$ADMIN" --fixed-logins "$T/logins"
	login "$T/admin2" "$ADMIN" pw-ubnd-2 >/dev/null
else
	diag "no mail stack here (needs root and Dovecot): the IMAP LOGIN check did not run"
fi

# --- 10,000 idle connections while a request still answers quickly ---
# shellcheck disable=SC3045  # dash and bash both have ulimit -n / -H
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
N=10000
export N
# shellcheck disable=SC3045
[ "$(ulimit -n)" -ge $((N + 100)) ] 2>/dev/null || N=$(($(ulimit -n) - 100))
perl -MSocket -MIO::Socket::INET -MIO::Select -MTime::HiRes=time -e '
	my ($port, $n, $cookie) = @ARGV;
	my @s;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp")
			or do { print "open failed after ", scalar(@s), ": $!\n"; last };
		print $s "GET /log HTTP/1.1\r\nHost: x\r\n";     # half a request, then silence
		push @s, $s;
	}
	my $t0 = time;
	my $code = `curl -s -o /dev/null -w "%{http_code}" -b "$cookie" http://127.0.0.1:$port/log`;
	my $ms = int((time - $t0) * 1000);
	my $sel = IO::Select->new(@s);
	my $closed = 0;
	for my $h ($sel->can_read(0)) { my $b; $closed++ if !sysread($h, $b, 1) }
	printf "opened %d held %d answer %s in %d ms\n", scalar(@s), scalar(@s) - $closed, $code, $ms;
	# close with RST: no TIME_WAIT left behind to crowd /proc/net/tcp for others
	setsockopt($_, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack("ii", 1, 0)) for @s;
	close $_ for @s;
' "$PORT" "$N" "$T/admin2" >"$T/idle.out" 2>&1
diag "$(cat "$T/idle.out")"
ok "$N idle connections held open while a page answers 200 in under 2 s" sh -c '
	set -- $(cat "$1"); [ "$2" = "$N" ] && [ "$4" = "$2" ] && [ "$6" = 200 ] && [ "$8" -lt 2000 ]' _ "$T/idle.out"
ok "and after they close, the server answers" sh -c '[ "$(curl -s "$1/healthz")" = ok ]' _ "$B"
stop_ws

# --- sessions expire when idle ---
# shellcheck disable=SC2086
# (5 s: sessions keep whole-second times, and a loaded machine may take a second
# between two curl calls; with 1 s the first check failed now and then)
start_ws $ACCTS --fixed-logins "$T/logins" --idle-s 5
is "$(login "$T/short" "$USER" pw-vanthu-1)" 303 "login with a 5 s idle timeout"
is "$(code /log -b "$T/short")" 200 "the session works at once"
sleep 7
is "$(code /log -b "$T/short")" 303 "after 7 s idle it is gone"
stop_ws

# --- HTTPS ---
if command -v "$OPENSSL_CLI" >/dev/null 2>&1; then
	"$OPENSSL_CLI" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
	# shellcheck disable=SC2086
	start_ws $ACCTS --fixed-logins "$T/logins" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	B=https://127.0.0.1:$PORT
	is "$(curl -s --cacert "$T/cert.pem" "$B/healthz")" ok "HTTPS: /healthz over TLS"
	fails "HTTPS: TLS 1.1 is refused" curl -sf --cacert "$T/cert.pem" --tlsv1.0 --tls-max 1.1 "$B/healthz"
	ok "HTTPS: TLS 1.2 is accepted" curl -sf --cacert "$T/cert.pem" --tlsv1.2 --tls-max 1.2 "$B/healthz"
	tok=$(curl -s --cacert "$T/cert.pem" -c "$T/tls" -b "$T/tls" "$B/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
	h=$(curl -s --cacert "$T/cert.pem" -D - -o /dev/null -c "$T/tls" -b "$T/tls" -d "csrf=$tok&address=vanthu%40$D&password=pw-vanthu-1" "$B/login" | tr -d '\r')
	ok "HTTPS: the session cookie is Secure" has "$h" '^set-cookie: kyso_session=[0-9a-f]*; Path=/; HttpOnly; SameSite=Strict; Secure'
	stop_ws
	ok "a bad certificate file is refused at start" sh -c '
		echo nonsense >"$1/bad.pem"; ! "$2" --db "$1/log.db" --templates "$3" --fixed-logins "$1/logins" \
		--tls-cert "$1/bad.pem" --tls-key "$1/key.pem" 2>"$1/err" </dev/null && grep -q "PEM\|certificate" "$1/err"' _ "$T" "$WEBSERVE" "$TEMPLATES"
fi

stop_ws
ok "webserve stopped cleanly every time (exit statuses:$WS_EXITS)" sh -c '
	for c in $1; do [ "$c" = 0 ] || exit 1; done' _ "$WS_EXITS"
ok "webserve printed no sanitizer or crash report" sh -c '
	! grep -q "Sanitizer\|runtime error\|Segmentation" "$1" 2>/dev/null' _ "$T/ws-all.err"
[ -s "$T/ws-all.err" ] && diag "$(head -c 2000 "$T/ws-all.err")"

done_testing
