#!/usr/bin/env bats
# --metrics in every tool, read back by a strict parser of the Prometheus
# text format (helpers/prom-parse); --shard on sa-dedup, sa-explode and
# sa-join, whose shards together must make the output without --shard.
load helpers/common
bats_require_minimum_version 1.5.0

TOOLS="sa-explode sa-dedup sa-join sa-load sa-fetch"
D="$FIXTURES/sa-dedup"
J="$FIXTURES/sa-join"

setup() {
	API_PID=
	M="$BATS_TEST_TMPDIR/metrics"
	mkdir "$M"
}

teardown() {
	if [ -n "$API_PID" ]; then
		kill "$API_PID" 2>/dev/null || true
		wait "$API_PID" 2>/dev/null || true
	fi
}

# Metrics.

# The figures of the --stats line $1, with exit status $2, as prom-parse
# prints them: the names and units sa(7) promises.
stats_as_prom() {
	python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("counter sa_records_in_total %d" % s["records_in"])
print("counter sa_records_out_total %d" % s["records_out"])
print("counter sa_records_rejected_total %d" % s["records_rejected"])
print("counter sa_bytes_in_total %d" % s["bytes_in"])
print("gauge sa_seconds %.3f" % s["seconds"])
print("gauge sa_peak_rss_bytes %d" % (s["peak_rss_kb"] * 1024))
print("gauge sa_exit_status %s" % sys.argv[2])' "$1" "$2"
}

# Runs "$@" (a tool with --stats --metrics $M/m.prom) and checks that it
# exits with status $1, that the metrics file parses, carries the labels
# $2 (JSON) and the figures of the --stats line with that status.
check_metrics() {
	local want=$1 labels=$2 stats
	shift 2
	run --separate-stderr "$@"
	[ "$status" -eq "$want" ] || fail "$1: exit status $status, not $want"
	stats=${stderr_lines[${#stderr_lines[@]}-1]}
	run prom-parse "$M/m.prom"
	assert_success
	assert_output "labels $labels
$(stats_as_prom "$stats" "$want")"
}

# Starts the mock API of the sa-fetch tests; sets PORT.
start_api() {
	fixture-api --port-file "$BATS_TEST_TMPDIR/port" --lifetime 120 3>&- &
	API_PID=$!
	timeout 10 sh -c 'until [ -s "$1" ]; do sleep 0.05; done' _ \
	    "$BATS_TEST_TMPDIR/port"
	read -r PORT _ <"$BATS_TEST_TMPDIR/port"
}

@test "metrics: sa-dedup, sa-explode, sa-join on success and on bad input" {
	local t='{"tool": "sa-dedup"}' bad="$BATS_TEST_TMPDIR/syntax"
	printf '{"id":1}\nnot json\n' >"$bad"
	check_metrics 0 "$t" sa-dedup -k id --stats --metrics "$M/m.prom" "$D/records.ndjson"
	check_metrics 65 "$t" sa-dedup -k id --stats --metrics "$M/m.prom" "$D/bad.ndjson"
	t='{"tool": "sa-explode"}'
	check_metrics 0 "$t" sa-explode -p territories --stats --metrics "$M/m.prom" \
	    "$FIXTURES/sa-explode/accounts.ndjson"
	check_metrics 65 "$t" sa-explode --stats --metrics "$M/m.prom" "$bad"
	t='{"tool": "sa-join"}'
	check_metrics 0 "$t" sa-join -k id --stats --metrics "$M/m.prom" "$J/right.ndjson" "$J/left.ndjson"
	check_metrics 65 "$t" sa-join -k id --stats --metrics "$M/m.prom" "$J/right.ndjson" "$bad"
}

@test "metrics: the figures are those of --stats, not zeros" {
	run --separate-stderr sa-dedup -k id --rejects "$BATS_TEST_TMPDIR/rej" \
	    --stats --metrics "$M/m.prom" "$D/bad.ndjson"
	assert_success
	run prom-parse "$M/m.prom"
	assert_line "counter sa_records_in_total $(wc -l <"$D/bad.ndjson")"
	assert_line "counter sa_records_rejected_total $(wc -l <"$BATS_TEST_TMPDIR/rej")"
	assert_line "counter sa_bytes_in_total $(wc -c <"$D/bad.ndjson")"
	assert_line "gauge sa_exit_status 0"
}

@test "metrics: sa-fetch on success and when the API is unreachable" {
	start_api
	local t='{"tool": "sa-fetch", "job": "nightly"}'
	check_metrics 0 "$t" sa-fetch --stats --metrics "$M/m.prom" \
	    --metrics-label job=nightly "http://127.0.0.1:$PORT/link/accounts?n=3"
	check_metrics 69 "$t" sa-fetch --retries 0 --stats --metrics "$M/m.prom" \
	    --metrics-label job=nightly "http://127.0.0.1:1/accounts"
}

@test "metrics: sa-load when the database is unreachable, and on success" {
	echo '{"id":1}' >"$BATS_TEST_TMPDIR/in"
	PGHOST=127.0.0.1 PGPORT=1 check_metrics 69 '{"tool": "sa-load"}' \
	    sa-load --stats --metrics "$M/m.prom" t "$BATS_TEST_TMPDIR/in"
	require_pg
	check_metrics 0 '{"tool": "sa-load"}' \
	    sa-load --quiet --stats --metrics "$M/m.prom" metrics_t "$BATS_TEST_TMPDIR/in"
	run prom-parse "$M/m.prom"
	assert_line "counter sa_records_out_total 1"
}

@test "metrics: written when SIGINT or SIGTERM ends the run, with its status" {
	local sig st fifo="$BATS_TEST_TMPDIR/fifo" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	for sig in INT TERM; do
		rm -f "$M/m.prom"
		# A background job starts with SIGINT ignored: python3 restores
		# the default before it runs the tool.
		python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' sa-dedup -k id --metrics "$M/m.prom" \
		    --metrics-label shard=2 <"$fifo" >"$out" &
		pid=$!
		exec 7>"$fifo"
		printf '{"id":1}\n{"id":2}\n{"id":1}\n' >&7
		# sa-dedup flushes what it has when its input is idle.
		timeout 10 sh -c 'until [ "$(wc -l <"$1")" -ge 2 ]; do sleep 0.05; done' _ "$out"
		kill -"$sig" "$pid"
		st=0
		wait "$pid" || st=$?
		exec 7>&-
		[ "$st" -eq $((128 + $(kill -l "$sig"))) ] || fail "SIG$sig: status $st"
		run prom-parse "$M/m.prom"
		assert_success
		assert_line --index 0 'labels {"tool": "sa-dedup", "shard": "2"}'
		assert_line --index 1 'counter sa_records_in_total 3'
		assert_line --index 2 'counter sa_records_out_total 2'
		assert_line --index 3 'counter sa_records_rejected_total 0'
		assert_line --index 4 'counter sa_bytes_in_total 27'
		assert_line --index 5 --regexp '^gauge sa_seconds [0-9]+\.[0-9]{3}$'
		assert_line --index 6 --regexp '^gauge sa_peak_rss_bytes [1-9][0-9]*$'
		assert_line --index 7 "gauge sa_exit_status $st"
		run ls -A "$M"
		assert_output m.prom
	done
}

@test "metrics: label values are escaped, labels keep their order" {
	check_metrics 0 '{"tool": "sa-dedup", "job": "a\"b\\c", "host": "x\ny", "empty": ""}' \
	    sa-dedup --stats --metrics "$M/m.prom" --metrics-label 'job=a"b\c' \
	    --metrics-label $'host=x\ny' --metrics-label empty= "$D/records.ndjson"
	run grep -c '^sa_records_in_total{tool="sa-dedup",job="a\\"b\\\\c",host="x\\ny",empty=""} 8$' "$M/m.prom"
	assert_output 1
}

@test "metrics: a bad label name is a usage error" {
	for l in 1x=y __x=y tool=z a-b=c =v noequals; do
		run --separate-stderr sa-dedup --metrics-label "$l" "$D/records.ndjson"
		assert_failure 64
		assert_equal "${stderr_lines[1]}" "Try 'sa-dedup --help' for more information."
	done
	run --separate-stderr sa-join --metrics-label 1x=y -k id "$J/right.ndjson"
	assert_failure 64
	assert_equal "${stderr_lines[0]}" "sa-join: --metrics-label: '1x' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not beginning with __)"
	run --separate-stderr sa-dedup --metrics-label a=1 --metrics-label a=2 "$D/records.ndjson"
	assert_failure 64
	assert_equal "${stderr_lines[0]}" "sa-dedup: --metrics-label: a is given twice"
	run --separate-stderr sa-dedup --metrics-label tool=x "$D/records.ndjson"
	assert_failure 64
	assert_equal "${stderr_lines[0]}" "sa-dedup: --metrics-label: the label tool is set by sa-dedup"
}

@test "metrics: written by rename, readable by the collector, no temporary left" {
	umask 022
	echo old >"$M/m.prom"
	inode=$(stat -c %i "$M/m.prom")
	run sa-explode --metrics "$M/m.prom" "$FIXTURES/sa-explode/accounts.ndjson"
	assert_success
	run ls -A "$M"
	assert_output m.prom
	run stat -c %A "$M/m.prom"
	assert_output -- -rw-r--r--
	[ "$(stat -c %i "$M/m.prom")" != "$inode" ]
	run prom-parse "$M/m.prom"
	assert_success
}

@test "metrics: a directory that cannot take the file fails at the start" {
	run --separate-stderr sa-dedup --metrics "$M/none/m.prom" "$D/records.ndjson"
	assert_failure 73
	strip_abort sa-dedup 73
	assert_output ""
	assert_equal "$stderr" "sa-dedup: $M/none/m.prom: No such file or directory"
	run --separate-stderr sa-dedup --metrics "$M" "$D/records.ndjson"
	assert_failure 73
	assert_equal "$stderr" "sa-dedup: $M: is a directory"
}

@test "metrics: every --help and man page shows --metrics and --metrics-label" {
	for t in $TOOLS; do
		run "$t" --help
		assert_line --regexp '^ +--metrics FILE +write the --stats figures for Prometheus at exit$'
		assert_line --regexp '^ +--metrics-label NAME=VALUE'
		mandoc -Tascii "$SA_SRCDIR/man/$t.1" | col -bx >"$BATS_TEST_TMPDIR/man"
		run grep -c -e '--metrics-label' "$BATS_TEST_TMPDIR/man"
		[ "$output" -ge 1 ] || fail "$t.1 does not show --metrics-label"
	done
	run --separate-stderr sa-explode --help
	usage=$(sed -n '/^usage:/,/^$/p' <<<"$output" | sed 's/^usage: //' |
	    tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//')
	assert_equal "$usage" "$(man_synopsis sa-explode.1)"
}

# Shards.

# 180 000 records: 120 000 keys, every fifth record twice over, a --latest
# field; a quarter of the keys is more than -m 1M holds.
gen_records() {
	awk 'BEGIN { for (i = 1; i <= 150000; i++) {
	    r = sprintf("{\"id\":%d,\"v\":%d,\"at\":\"2024-01-%02d\"}",
	        (i * 7919) % 120000, i % 3, i * 13 % 28 + 1)
	    print r
	    if (i % 5 == 0) print r } }' >"$1"
}

# Checks that the files SHARD... together hold the lines of FULL (the
# same lines, as many times) and that each holds them in FULL's order.
assert_shards_of() {
	local full=$1 s
	shift
	cat "$@" | LC_ALL=C sort >"$BATS_TEST_TMPDIR/union"
	LC_ALL=C sort "$full" >"$BATS_TEST_TMPDIR/sorted"
	run diff "$BATS_TEST_TMPDIR/sorted" "$BATS_TEST_TMPDIR/union"
	[ "$status" -eq 0 ] || fail "the shards are not $full: $(head -c 300 <<<"$output")"
	for s in "$@"; do
		[ -s "$s" ] || fail "$s is empty"
		run awk 'NR == FNR { a[++n] = $0; next }
		    { while (++i <= n && a[i] != $0) ; if (i > n) { print FNR; exit 1 } }' \
		    "$full" "$s"
		assert_success
	done
}

# Runs sa-dedup with ARGS unsharded and as shards 1/4 to 4/4.
dedup_shards() {
	local in=$1 i
	shift
	sa-dedup "$@" "$in" >"$BATS_TEST_TMPDIR/full"
	for i in 1 2 3 4; do
		sa-dedup --shard "$i/4" "$@" "$in" >"$BATS_TEST_TMPDIR/shard$i"
	done
	assert_shards_of "$BATS_TEST_TMPDIR/full" "$BATS_TEST_TMPDIR"/shard[1-4]
}

@test "shard: sa-dedup in every mode, in memory and spilled" {
	in="$BATS_TEST_TMPDIR/in"
	gen_records "$in"
	for m in 256M 1M; do
		dedup_shards "$in" -m "$m" -k id
		dedup_shards "$in" -m "$m" -k id --keep last
		dedup_shards "$in" -m "$m" -k id --latest at
		dedup_shards "$in" -m "$m" -k id,v
		dedup_shards "$in" -m "$m"
	done
	# The whole records: every fifth was a duplicate.
	run wc -l <"$BATS_TEST_TMPDIR/full"
	assert_output 150000
}

@test "shard: sa-dedup -m 1M spills within a shard" {
	in="$BATS_TEST_TMPDIR/in"
	gen_records "$in"
	# Spilling needs $TMPDIR: without one, a shard that spills fails.
	for args in "-k id" "-k id --keep last" "-k id --latest at" ""; do
		TMPDIR="$BATS_TEST_TMPDIR/none" run --separate-stderr \
		    sa-dedup -m 1M $args --shard 4/4 "$in"
		assert_failure 73
		assert_equal "$stderr" "sa-dedup: $BATS_TEST_TMPDIR/none: cannot create a temporary file: No such file or directory"
	done
}

@test "shard: sa-explode flattened, exploded and --split" {
	in="$BATS_TEST_TMPDIR/in"
	gen-successapp -n 400 --seed 5 --dup 0.2 >"$in"
	for args in "" "-p territories" "-p territories.tags" "-p stage_history --keep-empty"; do
		sa-explode $args "$in" >"$BATS_TEST_TMPDIR/full"
		for i in 1 2 3; do
			sa-explode --shard "$i/3" $args "$in" >"$BATS_TEST_TMPDIR/shard$i"
		done
		assert_shards_of "$BATS_TEST_TMPDIR/full" "$BATS_TEST_TMPDIR"/shard[1-3]
	done
	sa-explode --split "$BATS_TEST_TMPDIR/full.d" --name a "$in"
	for i in 1 2 3; do
		sa-explode --shard "$i/3" --split "$BATS_TEST_TMPDIR/s$i.d" --name a "$in"
	done
	run ls "$BATS_TEST_TMPDIR/full.d"
	assert_line a__territories.ndjson
	for f in $(ls "$BATS_TEST_TMPDIR/full.d"); do
		assert_shards_of "$BATS_TEST_TMPDIR/full.d/$f" "$BATS_TEST_TMPDIR"/s[1-3].d/"$f"
	done
}

@test "shard: a key is in the same shard in sa-explode and sa-dedup" {
	in="$BATS_TEST_TMPDIR/in"
	gen-successapp -n 300 --seed 3 --dup 0.3 >"$in"
	for i in 1 2 3; do
		a=$(sa-explode --shard "$i/3" "$in" | sa-dedup -k id)
		b=$(sa-dedup -k id --shard "$i/3" "$in" | sa-explode)
		[ -n "$a" ]
		assert_equal "$a" "$b"
	done
}

@test "shard: 1 and \"1\" are one key, as in a join; a missing key is shard 1's" {
	printf '{"id":1,"n":1}\n{"id":"1","n":2}\n{"n":3}\n' >"$BATS_TEST_TMPDIR/in"
	for i in 1 2; do
		sa-explode --shard "$i/2" "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/s$i"
	done
	run cat "$BATS_TEST_TMPDIR"/s1 "$BATS_TEST_TMPDIR"/s2
	assert_output --partial '{"id":1,"n":1}
{"id":"1","n":2}'
	run cat "$BATS_TEST_TMPDIR/s1"
	assert_line '{"n":3}'
	run sa-dedup -k id --shard 1/1 "$BATS_TEST_TMPDIR/in" --rejects /dev/null
	assert_output '{"id":1,"n":1}'
}

@test "shard: bad forms are usage errors" {
	for s in 0/4 5/4 4 1/0 /4 1/ -1/4 1/-4 a/b "1/4 " 1/4/4 +1/4; do
		run --separate-stderr sa-dedup --shard "$s" "$D/records.ndjson"
		assert_failure 64
		strip_abort sa-dedup 64
		assert_output ""
		run --separate-stderr sa-explode --shard "$s" "$D/records.ndjson"
		assert_failure 64
	done
	assert_equal "${stderr_lines[0]}" "sa-explode: --shard: expected I/N (e.g. 2/4), not '+1/4'"
	run --separate-stderr sa-dedup --shard 5/4 "$D/records.ndjson"
	assert_equal "${stderr_lines[0]}" "sa-dedup: --shard: 5/4: I must be from 1 to N, and N from 1 to 1048576"
}

# Accounts ($1) and their children ($2): keys from 1 to 3000, some
# accounts twice (many-to-many), children without an account, null and
# missing keys on both sides; enough children that -m 1M spills.
gen_join() {
	awk 'BEGIN { for (i = 1; i <= 4000; i++) {
	    if (i % 97 == 0) print "{\"name\":\"a" i "\"}"
	    else if (i % 89 == 0) print "{\"id\":null,\"name\":\"a" i "\"}"
	    else print "{\"id\":" (i * 7 % 3000 + 1) ",\"name\":\"a" i "\"}" } }' >"$1"
	awk 'BEGIN { for (i = 1; i <= 40000; i++) {
	    if (i % 101 == 0) print "{\"n\":" i "}"
	    else if (i % 103 == 0) print "{\"account_id\":null,\"n\":" i "}"
	    else printf "{\"account_id\":%d,\"n\":%d,\"pad\":\"%s\"}\n", \
	        i * 13 % 3500 + 1, i, "xxxxxxxxxxxxxxxxxxxxxxxx" } }' >"$2"
}

@test "shard: sa-join of every type, in memory and spilled" {
	local l="$BATS_TEST_TMPDIR/l" r="$BATS_TEST_TMPDIR/r" t m i
	gen_join "$l" "$r"
	for t in inner left right full; do
		for m in 256M 1M; do
			sa-join -k id=account_id --type "$t" -m "$m" "$r" "$l" >"$BATS_TEST_TMPDIR/full"
			for i in 1 2 3; do
				sa-join -k id=account_id --type "$t" -m "$m" --shard "$i/3" \
				    "$r" "$l" >"$BATS_TEST_TMPDIR/shard$i"
			done
			assert_shards_of "$BATS_TEST_TMPDIR/full" "$BATS_TEST_TMPDIR"/shard[1-3]
		done
	done
	# Null and missing keys are shard 1's, on both sides.
	for row in '{"id":null,"name":null,"n":101}' \
	    '{"id":null,"name":null,"n":103}' \
	    '{"name":"a97","n":null,"pad":null}' \
	    '{"id":null,"name":"a89","n":null,"pad":null}'; do
		run grep -cxF "$row" "$BATS_TEST_TMPDIR/shard1"
		assert_output 1
	done
}

@test "shard: sa-join --sorted, of every type" {
	local l="$BATS_TEST_TMPDIR/l" r="$BATS_TEST_TMPDIR/r" t i
	gen_join "$l" "$r"
	for f in l r; do
		python3 -c '
import json, sys
recs = [json.loads(x) for x in open(sys.argv[1])]
k = sys.argv[2]
recs.sort(key=lambda o: "" if o.get(k) is None else str(o[k]))
for o in recs: print(json.dumps(o, separators=(",", ":")))' \
		    "$BATS_TEST_TMPDIR/$f" "$([ $f = l ] && echo id || echo account_id)" \
		    >"$BATS_TEST_TMPDIR/$f.sorted"
	done
	for t in inner left right full; do
		sa-join -k id=account_id --type "$t" --sorted "$r.sorted" "$l.sorted" >"$BATS_TEST_TMPDIR/full"
		for i in 1 2 3; do
			sa-join -k id=account_id --type "$t" --sorted --shard "$i/3" \
			    "$r.sorted" "$l.sorted" >"$BATS_TEST_TMPDIR/shard$i"
		done
		assert_shards_of "$BATS_TEST_TMPDIR/full" "$BATS_TEST_TMPDIR"/shard[1-3]
	done
}

@test "shard: a shard of accounts from sa-dedup meets the same shard of children" {
	local l="$BATS_TEST_TMPDIR/l" r="$BATS_TEST_TMPDIR/r" i
	gen_join "$l" "$r"
	for i in 1 2 3; do
		a=$(sa-dedup -k id --rejects /dev/null "$l" |
		    sa-join -k id=account_id --type full --shard "$i/3" "$r")
		sa-explode -k account_id --shard "$i/3" "$r" >"$BATS_TEST_TMPDIR/rs"
		b=$(sa-dedup -k id --shard "$i/3" --rejects /dev/null "$l" |
		    sa-join -k id=account_id --type full "$BATS_TEST_TMPDIR/rs")
		[ -n "$a" ]
		assert_equal "$a" "$b"
	done
}

# The one-pass split.

@test "split: sa-dedup --shard-dir files are the --shard I/N outputs, every mode" {
	local in="$BATS_TEST_TMPDIR/in" d="$BATS_TEST_TMPDIR/d" m args i
	gen_records "$in"
	for m in 256M 1M; do
		for args in "-k id" "-k id --keep last" "-k id --latest at" ""; do
			rm -rf "$d"
			run --separate-stderr sa-dedup -m "$m" $args --shards 3 --shard-dir "$d" "$in"
			assert_success
			assert_output ""
			run ls -A "$d"
			assert_output "1.ndjson
2.ndjson
3.ndjson"
			for i in 1 2 3; do
				sa-dedup -m "$m" $args --shard "$i/3" "$in" >"$BATS_TEST_TMPDIR/shard"
				cmp "$BATS_TEST_TMPDIR/shard" "$d/$i.ndjson"
			done
		done
	done
}

@test "split: TSV in, TSV shard files with the header; a shard without records has its file" {
	local d="$BATS_TEST_TMPDIR/d" i
	printf 'id\tname\n1\ta\n2\tb\n1\ta\n' >"$BATS_TEST_TMPDIR/in.tsv"
	sa-dedup -k id --shards 8 --shard-dir "$d" "$BATS_TEST_TMPDIR/in.tsv"
	run ls "$d"
	assert_output "$(printf '%s.tsv\n' 1 2 3 4 5 6 7 8)"
	for i in 1 2 3 4 5 6 7 8; do
		sa-dedup -k id --shard "$i/8" "$BATS_TEST_TMPDIR/in.tsv" >"$BATS_TEST_TMPDIR/shard"
		cmp "$BATS_TEST_TMPDIR/shard" "$d/$i.tsv"
	done
	# Each file has the header; the rows are the deduplicated input's.
	run grep -c -x "$(printf 'id\tname')" <(cat "$d"/*.tsv)
	assert_output 8
	run sort <(cat "$d"/*.tsv | grep -v -x "$(printf 'id\tname')")
	assert_output "$(printf '1\ta\n2\tb')"
	# An empty input gives N empty NDJSON files.
	: | sa-dedup --shards 2 --shard-dir "$BATS_TEST_TMPDIR/e"
	run wc -c "$BATS_TEST_TMPDIR/e/1.ndjson" "$BATS_TEST_TMPDIR/e/2.ndjson"
	assert_line --regexp '^0 .*/1.ndjson$'
	assert_line --regexp '^0 .*/2.ndjson$'
}

@test "split: a failed run names no file and ends standard output in the abort line" {
	local d="$BATS_TEST_TMPDIR/d"
	mkdir "$d"
	echo old >"$d/1.ndjson"
	printf '{"id":1}\n{"id":2}\n{"name":"no id"}\n' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-dedup -k id --shards 2 --shard-dir "$d" "$BATS_TEST_TMPDIR/in"
	assert_failure 65
	assert_equal "$stderr" "sa-dedup: $BATS_TEST_TMPDIR/in:3: key \"id\" is missing"
	strip_abort sa-dedup 65
	assert_output ""
	run ls -A "$d"
	assert_output "1.ndjson"
	run cat "$d/1.ndjson"
	assert_output old
	# With --rejects the run goes on, and names its files.
	sa-dedup -k id --shards 2 --shard-dir "$d" --rejects /dev/null "$BATS_TEST_TMPDIR/in"
	run sort "$d/1.ndjson" "$d/2.ndjson"
	assert_output '{"id":1}
{"id":2}'
}

@test "split: usage errors" {
	local in="$D/records.ndjson" args
	for args in "--shards 2" "--shard-dir $BATS_TEST_TMPDIR/d" \
	    "--shards 2 --shard-dir $BATS_TEST_TMPDIR/d --shard 1/2" \
	    "--shards 0 --shard-dir $BATS_TEST_TMPDIR/d" \
	    "--shards 257 --shard-dir $BATS_TEST_TMPDIR/d"; do
		run --separate-stderr sa-dedup $args "$in"
		assert_failure 64
	done
	run --separate-stderr sa-dedup --shards 2 "$in"
	assert_equal "${stderr_lines[0]}" "sa-dedup: --shards and --shard-dir go together"
	run --separate-stderr sa-dedup --shards 2 --shard-dir "$BATS_TEST_TMPDIR/d" --shard 1/2 "$in"
	assert_equal "${stderr_lines[0]}" "sa-dedup: --shard and --shard-dir cannot be combined"
	run --separate-stderr sa-dedup -t --shards 2 --shard-dir "$BATS_TEST_TMPDIR/d" "$in"
	assert_failure 64
	assert_equal "${stderr_lines[0]}" "sa-dedup: --shard-dir writes TSV only from one TSV input; write NDJSON (-j) and convert each shard"
	[ ! -e "$BATS_TEST_TMPDIR/d" ] || [ -z "$(ls -A "$BATS_TEST_TMPDIR/d")" ]
}
