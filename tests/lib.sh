# shellcheck shell=sh
# tests/lib.sh - TAP helpers for shell tests.  Source it:  . "$KYSO_SRCDIR/tests/lib.sh"
#
#   ok "what was checked" test -s "$out"      # runs the command; TAP ok/not ok
#   is "$got" "$want" "what was compared"
#   skip_all "why"                            # nothing can run here, and why
#   done_testing                              # prints the plan, exits 1 if anything failed
#
# Output is TAP (automake's tap-driver counts each line).  Diagnostics go to
# stdout as "# ..." lines so they land in the test's .log.
set -u

: "${KYSO_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${KYSO_BUILDDIR:=$KYSO_SRCDIR}"
: "${KYSO_BIN:=$KYSO_BUILDDIR/kyso}"
: "${OPENSSL_CLI:=openssl}"
export KYSO_SRCDIR KYSO_BUILDDIR KYSO_BIN OPENSSL_CLI

_tap_n=0
_tap_failed=0

diag() { printf '# %s\n' "$*" | sed '2,$s/^/# /'; }

ok() {
	_what=$1; shift
	_tap_n=$((_tap_n + 1))
	if _out=$("$@" 2>&1); then
		echo "ok $_tap_n - $_what"
	else
		echo "not ok $_tap_n - $_what"
		_tap_failed=$((_tap_failed + 1))
		diag "command: $*"
		[ -n "$_out" ] && diag "$_out"
	fi
	return 0
}

# not_ok "what" CMD...: passes when CMD fails.
fails() {
	_what=$1; shift
	_tap_n=$((_tap_n + 1))
	if _out=$("$@" 2>&1); then
		echo "not ok $_tap_n - $_what (command succeeded but should have failed)"
		_tap_failed=$((_tap_failed + 1))
		diag "command: $*"
		[ -n "$_out" ] && diag "$_out"
	else
		echo "ok $_tap_n - $_what"
	fi
	return 0
}

is() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $_tap_n - $3"
	else
		echo "not ok $_tap_n - $3"
		_tap_failed=$((_tap_failed + 1))
		diag "got:  $1"
		diag "want: $2"
	fi
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
}

# --- the real mail system (tests/mailstack) ---
# mailstack_up: start a throwaway Dovecot + Postfix, export its stack.env
# (IMAP_PORT, SUBMISSION_PORT, CA_FILE, USER1/PASS1, ...) and stop it when the
# test exits (after any EXIT trap of the caller's, which must call
# mailstack_down itself if it replaces the trap).  Skips when not root or the
# servers are missing; bails out when the stack does not start.
MAILSTACK_DIR=""
mailstack_down() {
	[ -n "$MAILSTACK_DIR" ] && "$KYSO_SRCDIR/tests/mailstack" stop "$MAILSTACK_DIR" >/dev/null 2>&1
	MAILSTACK_DIR=""
}
mailstack_up() {
	_err=$(mktemp "${TMPDIR:-/tmp}/kyso-stack.XXXXXX")
	[ "$(id -u)" = 0 ] || skip_all "tests/mailstack must run as root"
	for _p in dovecot postfix postconf; do
		command -v "$_p" >/dev/null 2>&1 || [ -x "/usr/sbin/$_p" ] ||
			skip_all "$_p is not installed (scripts/deps installs it)"
	done
	if ! MAILSTACK_DIR=$("$KYSO_SRCDIR/tests/mailstack" start </dev/null 2>"$_err") ||
	    [ ! -f "$MAILSTACK_DIR/stack.env" ]; then
		echo "Bail out! tests/mailstack start failed"
		sed 's/^/# /' "$_err"
		rm -f "$_err"
		MAILSTACK_DIR=""
		exit 1
	fi
	rm -f "$_err"
	# stack.env: KEY=VALUE lines, values bare or single-quoted without inner quotes.
	while IFS= read -r _line; do
		case $_line in
		''|'#'*) continue ;;
		esac
		_key=${_line%%=*}
		_val=${_line#*=}
		case $_val in
		\'*\') _val=${_val#\'}; _val=${_val%\'} ;;
		esac
		export "$_key=$_val"
	done <"$MAILSTACK_DIR/stack.env"
}
