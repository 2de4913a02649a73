#!/bin/sh
# tests/browser/browser.sh - the web view in real headless Chromium (issue #6):
# log in (a real IMAP LOGIN against tests/mailstack where it can run), filter by
# verdict, search without accents, open a message, switch language, export CSV,
# log out; hostile rows render as text and run nothing; a cross-site form post
# is refused; a non-admin cannot open another account's message by URL.
# Screenshots and the CSV land in tests/browser/browser.out/ in the build tree.
#
# Needs node, npm (playwright-core is installed from npm into
# $KYSO_NPM_DIR, default BUILD/tests/browser/npm, never the source tree) and
# Chromium (CHROMIUM, default /usr/bin/chromium).  TAP via tests/lib.sh.
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

WEBSERVE=$KYSO_BUILDDIR/tests/webui/webserve
MKLOG=$KYSO_BUILDDIR/tests/webui/mklog
: "${CHROMIUM:=/usr/bin/chromium}"
: "${KYSO_NPM_DIR:=$KYSO_BUILDDIR/tests/browser/npm}"
OUT=$KYSO_BUILDDIR/tests/browser/browser.out

command -v node >/dev/null 2>&1 || skip_all "node is not installed (apt-get install nodejs)"
[ -x "$CHROMIUM" ] || skip_all "no Chromium at $CHROMIUM (apt-get install chromium)"
[ -x "$WEBSERVE" ] || skip_all "no $WEBSERVE (make check builds it)"
[ -x "$MKLOG" ] || skip_all "no $MKLOG (make check builds it)"

# playwright-core, pinned in tests/browser/package.json, once per build tree
if [ ! -f "$KYSO_NPM_DIR/node_modules/playwright-core/package.json" ] ||
    ! cmp -s "$KYSO_SRCDIR/tests/browser/package.json" "$KYSO_NPM_DIR/package.json"; then
	command -v npm >/dev/null 2>&1 || skip_all "npm is not installed (apt-get install npm)"
	mkdir -p "$KYSO_NPM_DIR"
	cp "$KYSO_SRCDIR/tests/browser/package.json" "$KYSO_NPM_DIR/package.json"
	# Node.js trusts only its own copy of Mozilla's CAs; trust the system's
	# store too (/etc/ssl/certs, where a site's proxy CA is installed), as
	# every other Debian tool does.
	if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
		NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
		export NODE_EXTRA_CA_CERTS
	fi
	if ! (cd "$KYSO_NPM_DIR" && npm install --no-audit --no-fund --loglevel=error) >"$KYSO_NPM_DIR/install.log" 2>&1; then
		sed 's/^/# /' "$KYSO_NPM_DIR/install.log" | tail -n 5
		skip_all "npm install playwright-core failed (no network, or the registry's certificate is not trusted: see $KYSO_NPM_DIR/install.log)"
	fi
fi

rm -rf "$OUT"
mkdir -p "$OUT"
T=$(mktemp -d "${TMPDIR:-/tmp}/kyso-browser.XXXXXX")
WS_PID=""
stop_ws() { [ -n "$WS_PID" ] && kill "$WS_PID" 2>/dev/null && wait "$WS_PID" 2>/dev/null; WS_PID=""; }
trap 'stop_ws; mailstack_down; rm -rf "$T"' EXIT

D=benluc.longan.gov.vn
USER_ACCOUNT=vanthu
USER_ADDR=vanthu@$D     # sees only account "vanthu"
ADMIN_ADDR=lanhdao@$D   # sees every account
# the accounts of tests/webui/mklog, and the admin's own mailbox
ACCTS="--account vanthu@$D=vanthu --account ketoan@$D=ketoan --account tuphap@$D=tuphap
 --account phonggd@$D=giaoduc --account trungtamyte@$D=yte --account taichinh@$D=taichinh
 --account noivu@$D=noivu --account ubnd@$D=ubnd --account lanhdao@$D=lanhdao"

# Logins: a real IMAP LOGIN against Dovecot where the mail stack can run (root,
# Dovecot and Postfix installed), else a fixed list (said in a diagnostic).
if [ "$(id -u)" = 0 ] && { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } &&
    { command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ]; }; then
	mailstack_up
	USER_PASS="" ADMIN_PASS=""
	i=1
	while [ "$i" -le "$USER_COUNT" ]; do
		eval "u=\$USER$i p=\$PASS$i"
		[ "$u" = "$USER_ADDR" ] && USER_PASS=$p
		[ "$u" = "$ADMIN_ADDR" ] && ADMIN_PASS=$p
		i=$((i + 1))
	done
	[ -n "$USER_PASS" ] && [ -n "$ADMIN_PASS" ] ||
		{ echo "Bail out! tests/mailstack has no $USER_ADDR or $ADMIN_ADDR"; exit 1; }
	LOGINS="--imap imap://$IMAP_HOST:$IMAP_PORT --ca $CA_FILE"
	diag "logins: IMAP LOGIN against tests/mailstack (imap://$IMAP_HOST:$IMAP_PORT)"
else
	USER_PASS=pw-vanthu-$$ ADMIN_PASS=pw-lanhdao-$$
	printf '%s\n' "$USER_ADDR $USER_PASS" "$ADMIN_ADDR $ADMIN_PASS" >"$T/logins"
	LOGINS="--fixed-logins $T/logins"
	diag "no mail stack here (needs root, Dovecot, Postfix): logins checked against a fixed list"
fi

ok "mklog fills a log with hostile rows" "$MKLOG" --rows 300 --hostile --days 14 --quiet "$T/log.db"

# shellcheck disable=SC2086
"$WEBSERVE" --db "$T/log.db" --templates "$KYSO_SRCDIR/templates" --listen 127.0.0.1:0 \
	$ACCTS --admin "$ADMIN_ADDR" $LOGINS >"$T/ws.out" 2>"$T/ws.err" &
WS_PID=$!
i=0
while ! grep -q '^port ' "$T/ws.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$WS_PID" 2>/dev/null; then
		echo "Bail out! webserve did not start"
		sed 's/^/# /' "$T/ws.err"
		exit 1
	fi
	sleep 0.05
done
PORT=$(sed -n 's/^port //p' "$T/ws.out")
ok "webserve listens on port $PORT" test -n "$PORT"

KYSO_WEB_URL=http://127.0.0.1:$PORT NODE_PATH=$KYSO_NPM_DIR/node_modules CHROMIUM=$CHROMIUM OUT=$OUT \
USER_ADDR=$USER_ADDR USER_PASS=$USER_PASS USER_ACCOUNT=$USER_ACCOUNT ADMIN_ADDR=$ADMIN_ADDR ADMIN_PASS=$ADMIN_PASS \
TAP_OFFSET=$_tap_n \
	node "$KYSO_SRCDIR/tests/browser/browser.js" 2>"$T/node.err"
rc=$?
if [ -s "$OUT/tap.counts" ]; then
	read -r run nfail <"$OUT/tap.counts"
	_tap_n=$((_tap_n + run))
	_tap_failed=$((_tap_failed + nfail))
fi
[ -s "$T/node.err" ] && sed 's/^/# node: /' "$T/node.err" | tail -n 20
is "$rc" 0 "the browser test ran to its end"
ok "webserve is still running" kill -0 "$WS_PID"
stop_ws
ok "webserve wrote no sanitizer report" sh -c '! grep -q "Sanitizer\|runtime error:" "$1"' _ "$T/ws.err"
grep -q "Sanitizer\|runtime error:" "$T/ws.err" && sed 's/^/# webserve: /' "$T/ws.err" | head -n 40
diag "screenshots and the CSV: $OUT"
done_testing
