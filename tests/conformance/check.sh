#!/bin/bash
# make check: tests/conformance/run over each outside corpus that is present
# in ../shared/corpora beside the source tree (CI has it there; a bare clone
# does not, and then this test is skipped with the reason).  One TAP line per
# corpus; the runner's lines go to the log.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-.}/tests/lib.sh"
set -u

corpora=${KYSO_CORPORA:-$KYSO_SRCDIR/../shared/corpora}
[ -d "$corpora" ] || skip_all "no outside corpora at $corpora (../shared/corpora beside the source tree)"
found=0
for name in thunderbird-smime pyhanko-pdf; do
	[ -d "$corpora/$name" ] || { diag "corpus $name is not in $corpora"; continue; }
	found=1
	out=$("$KYSO_SRCDIR/tests/conformance/run" "$corpora/$name" 2>&1)
	rc=$?
	diag "$out"
	is "$rc" 0 "conformance $name: $(tail -n 1 <<<"$out")"
done
[ "$found" -eq 1 ] || skip_all "none of the known corpora is in $corpora"
done_testing
