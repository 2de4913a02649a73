#!/bin/sh
# tests/e2e/smoke.sh - start a throwaway Dovecot + Postfix (tests/mailstack), run
# tests/e2e/smoke against it (TAP on stdout), stop the stack whatever happens.
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

smoke=$KYSO_BUILDDIR/tests/e2e/smoke
mailstack=$KYSO_SRCDIR/tests/mailstack

[ -x "$smoke" ] || { echo "Bail out! $smoke is not built (make check builds it)"; exit 1; }
[ "$(id -u)" = 0 ] || skip_all "tests/mailstack must run as root"
for p in dovecot postfix postconf; do
	command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
		skip_all "$p is not installed (scripts/deps installs it)"
done

errlog=$(mktemp "${TMPDIR:-/tmp}/kyso-smoke.XXXXXX")
dir=""
cleanup() {
	[ -n "$dir" ] && "$mailstack" stop "$dir" >/dev/null 2>>"$errlog"
	rm -f "$errlog"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

t0=$(date +%s)
if ! dir=$("$mailstack" start </dev/null 2>"$errlog") || [ ! -f "$dir/stack.env" ]; then
	echo "Bail out! tests/mailstack start failed"
	sed 's/^/# /' "$errlog"
	dir=""
	exit 1
fi
diag "mail stack in $dir (started in $(( $(date +%s) - t0 )) s)"

# stack.env: KEY=VALUE lines, values bare or single-quoted without inner quotes.
while IFS= read -r line; do
	case $line in
	''|'#'*) continue ;;
	esac
	key=${line%%=*}
	val=${line#*=}
	case $val in
	\'*\') val=${val#\'}; val=${val%\'} ;;
	esac
	export "$key=$val"
done <"$dir/stack.env"

"$smoke"
rc=$?
if [ "$rc" -ne 0 ]; then
	diag "failed; the servers' logs follow"
	tail -n 30 "$DOVECOT_LOG" "$POSTFIX_LOG" 2>/dev/null | sed 's/^/# /'
fi
exit "$rc"
