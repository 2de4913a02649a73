#!/bin/bash
# tests/webui/mklog: the log filler the web view's tests and benchmarks use.
# The schema it makes is logdb.h's, its output is the same for a seed, it
# adds to a log, and bad arguments are refused with a message.
# shellcheck source=tests/lib.sh
. "${KYSO_SRCDIR:-.}/tests/lib.sh"
set -u

command -v sqlite3 >/dev/null || skip_all "no sqlite3 command (Debian package sqlite3)"
mklog=${KYSO_BUILDDIR:-.}/tests/webui/mklog
work=$(mktemp -d /tmp/kmklog.XXXXXX)
trap 'rm -rf "$work"' EXIT
q() { sqlite3 "$1" "$2"; }

fails "no path" "$mklog"
fails "--rows not a number" "$mklog" --rows 12x "$work/a.db"
fails "--rows negative" "$mklog" --rows -5 "$work/a.db"
fails "unknown option" "$mklog" --frobnicate "$work/a.db"
fails "two paths" "$mklog" "$work/a.db" "$work/b.db"
fails "a folder that does not exist" "$mklog" --rows 1 "$work/no/such/dir/a.db"
out=$("$mklog" --rows abc "$work/a.db" 2>&1)
is "$(printf '%s' "$out" | grep -c 'not a number: abc')" 1 "the refusal says why"

ok "200 rows" "$mklog" --rows 200 --seed 3 --now 1795921200 --hostile "$work/a.db"
is "$(q "$work/a.db" 'SELECT count(*) FROM messages')" 200 "200 rows there"
is "$(q "$work/a.db" 'PRAGMA user_version')" 1 "schema version 1"
is "$(q "$work/a.db" 'PRAGMA journal_mode')" wal "WAL, as the agent's database"
is "$(q "$work/a.db" 'SELECT max(time) FROM messages')" 1795921200 "the newest row is at --now"
is "$(q "$work/a.db" "SELECT count(*) FROM sqlite_schema WHERE name IN ('messages','messages_fts','evidence',
	'account_status','messages_time','messages_acct','messages_verdict','messages_dir','messages_place',
	'evidence_message','outgoing','steps')")" 12 "logdb.h's tables and indexes, and the journal's"
is "$(q "$work/a.db" "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check'); SELECT 'ok'")" ok \
	"the full-text index agrees with the table"
is "$(q "$work/a.db" "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'script'" | awk '$1 > 0 { print "some" }')" \
	some "--hostile rows carry <script>"
is "$(q "$work/a.db" "SELECT count(*) FROM messages WHERE direction = 'out' AND journal_id IS NULL")" 0 \
	"every outgoing row has its journal entry"
is "$(q "$work/a.db" "SELECT count(*) FROM messages WHERE NOT json_valid(report)")" 0 "reports are JSON"
# att_verdict: the worst verdict of the report's signed attachments (invalid >
# indeterminate > partial > valid, agent/inbox.c), NULL without one or for 'out'
is "$(q "$work/a.db" "SELECT count(*) FROM messages m WHERE att_verdict IS NOT (CASE WHEN direction = 'in' THEN
	(SELECT CASE max(CASE value ->> 'verdict' WHEN 'valid' THEN 0 WHEN 'partial' THEN 1 WHEN 'invalid' THEN 3
	 ELSE 2 END) WHEN 0 THEN 'valid' WHEN 1 THEN 'partial' WHEN 2 THEN 'indeterminate' WHEN 3 THEN 'invalid' END
	 FROM json_each(m.report, '\$.attachments') WHERE value ->> 'verdict' IS NOT NULL
	 AND value ->> 'verdict' <> 'unsigned') END)")" 0 "att_verdict agrees with the report's attachments"
is "$(q "$work/a.db" "SELECT count(DISTINCT att_verdict) FROM messages WHERE direction = 'in'")" 4 \
	"incoming rows carry each attachment verdict"
is "$(q "$work/a.db" "SELECT count(*) > 0 FROM messages WHERE verdict = 'unsigned' AND att_verdict = 'valid'")" 1 \
	"some unsigned mail carries a validly signed attachment"

ok "the same seed again" "$mklog" --rows 200 --seed 3 --now 1795921200 --hostile --quiet "$work/b.db"
dump() { q "$1" "SELECT id, time, account, subject, from_name, verdict, reasons, report FROM messages ORDER BY id"; }
is "$(dump "$work/a.db" | md5sum)" "$(dump "$work/b.db" | md5sum)" "same seed, same log"
ok "another seed" "$mklog" --rows 200 --seed 4 --now 1795921200 --quiet "$work/c.db"
if [ "$(dump "$work/a.db" | md5sum)" != "$(dump "$work/c.db" | md5sum)" ]; then ok "another seed, another log" true
else ok "another seed, another log" false; fi

ok "adding to a log" "$mklog" --rows 100 --seed 5 --now 1795931200 "$work/a.db"
is "$(q "$work/a.db" 'SELECT count(*) FROM messages')" 300 "300 rows"
is "$(q "$work/a.db" "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check'); SELECT 'ok'")" ok \
	"the full-text index still agrees"
is "$(q "$work/a.db" "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'")" 3 "the FTS triggers are back"

ok "a log-only database" "$mklog" --rows 50 --no-journal "$work/d.db"
is "$(q "$work/d.db" "SELECT count(*) FROM sqlite_schema WHERE name IN ('outgoing','steps')")" 0 "no journal tables"

done_testing
