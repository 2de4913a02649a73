#!/bin/sh
# tests/e2e/smoke.sh - start a throwaway Dovecot + Postfix (tests/mailstack), run
# tests/e2e/smoke against it (TAP on stdout), stop the stack whatever happens.
. "${KYSO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

smoke=$KYSO_BUILDDIR/tests/e2e/smoke

[ -x "$smoke" ] || { echo "Bail out! $smoke is not built (make check builds it)"; exit 1; }
trap mailstack_down EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)
mailstack_up
diag "mail stack in $MAILSTACK_DIR (started in $(( $(date +%s) - t0 )) s)"

"$smoke"
rc=$?
if [ "$rc" -ne 0 ]; then
	diag "failed; the servers' logs follow"
	tail -n 30 "$DOVECOT_LOG" "$POSTFIX_LOG" 2>/dev/null | sed 's/^/# /'
fi
exit "$rc"
