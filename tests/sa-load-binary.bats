#!/usr/bin/env bats
# sa-load sends COPY in binary when it can say what the server would make
# of every value's text, and in text otherwise: the table is the same.
load helpers/common
load helpers/load
bats_require_minimum_version 1.5.0

# Values of every type sa-load infers, at the edges of their forms.
values() {
	cat <<'JSON'
{"k":1,"i":0,"n":1.50,"b":true,"d":"2024-02-29","ts":"2024-05-16T22:20:11Z","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","j":{"a":[1,2.5,"\u00e9"],"b":null},"s":"tab\there\\back\nnew\r"}
{"k":2,"i":-0,"n":-0.00,"b":false,"d":"0001-01-01","ts":"1999-12-31 23:59:59.999999+05:30","u":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11","j":[],"s":"\\N"}
{"k":3,"i":9223372036854775807,"n":1e5,"d":"9999-12-31","ts":"2000-01-01T00:00:00.1-0800","j":[{"x":"\ud83d\ude00 \"q\""}],"s":"東京"}
{"k":4,"i":-9223372036854775808,"n":1.0E-3,"d":"1999-12-31","ts":"0001-01-01T00:00+15","s":1.50}
{"k":5,"i":42,"n":12345.678e-2,"d":"2000-03-01","ts":"1969-12-31T23:59:59.5-01:00","s":true}
{"k":6,"n":123456789012345678901234567890.1234567890,"ts":"2024-03-10T02:30:00+0100","s":{"o":[1,"a\tb"]}}
{"k":7,"n":-5E+2,"ts":"9999-12-31T23:59:59.999999Z","s":""}
{"k":8,"n":0.000001,"ts":"2024-01-01T12:00:00.000001+00:00","s":"a\u0001b"}
{"k":9,"n":99999999999999999999}
{"k":10,"n":-0.5e-7}
{"k":11,"n":1234.5678e4}
{"k":12,"n":10000}
{"k":13,"n":0.0001}
{"k":14,"n":-12345678901234567890123}
JSON
}

# The table $1 made of values(), as text in key order.
dump() {
	q "SELECT (k, i, n, b, d, ts, u, j, s)::text FROM \"$1\" ORDER BY k"
}

# copies [OPTION...] TABLE FILE: loads, and prints how each COPY into
# $T went: "binary" or "text".
copies() {
	statements "$@" >/dev/null
	grep -F "COPY \"$T\"" "$BATS_TEST_TMPDIR/statements" |
	    sed -E 's/.*FROM STDIN \(FORMAT binary\)$/binary/; s/.*FROM STDIN$/text/'
}

@test "every type sa-load infers goes in binary, and holds what COPY text gives" {
	pg b
	values >"$BATS_TEST_TMPDIR/v.ndjson"
	run copies "$T" "$BATS_TEST_TMPDIR/v.ndjson"
	[ "$output" = binary ]
	# A value without a zone sends the load as text from its start.
	{ echo '{"k":0,"ts":"2024-01-01 00:00"}'; values; } >"$BATS_TEST_TMPDIR/t.ndjson"
	T2=$T; T=${T}b
	run copies "$T" "$BATS_TEST_TMPDIR/t.ndjson"
	[ "$output" = text ]
	T=$T2
	[ "$(q "SELECT count(*) FROM \"$T\"")" = 14 ]
	diff <(dump "$T") <(dump "${T}b" | tail -n +2)
	# What the server itself reads in those numbers and times.
	run q "SELECT n::text FROM \"$T\" ORDER BY k"
	[ "$output" = "$(printf '%s\n' 1.50 0.00 100000 0.0010 123.45678 \
	    123456789012345678901234567890.1234567890 -500 0.000001 \
	    99999999999999999999 -0.00000005 12345678 10000 0.0001 \
	    -12345678901234567890123)" ]
	run q "SELECT ts = vs::timestamptz FROM \"$T\" t, (VALUES
	    (1, '2024-05-16T22:20:11Z'), (2, '1999-12-31 23:59:59.999999+05:30'),
	    (3, '2000-01-01T00:00:00.1-0800'), (4, '0001-01-01T00:00+15'),
	    (5, '1969-12-31T23:59:59.5-01:00'), (6, '2024-03-10T02:30:00+0100'),
	    (7, '9999-12-31T23:59:59.999999Z'), (8, '2024-01-01T12:00:00.000001+00:00'))
	    v(vk, vs) WHERE t.k = vk ORDER BY k"
	[ "$output" = "$(printf 't\n%.0s' 1 2 3 4 5 6 7 8 | head -c -1)" ]
	run q "SELECT i, d, u, j, b FROM \"$T\" WHERE k IN (3, 4) ORDER BY k"
	[ "${lines[0]}" = '9223372036854775807|9999-12-31||[{"x": "😀 \"q\""}]|' ]
	[ "${lines[1]}" = '-9223372036854775808|1999-12-31|||' ]
	[ "$(q "SELECT s = E'tab\\there\\\\back\\nnew\\r' FROM \"$T\" WHERE k = 1")" = t ]
}

@test "a value without a binary form mid-load: the rest goes as text, nothing lost" {
	pg b
	values >"$BATS_TEST_TMPDIR/v.ndjson"
	sa-load --quiet "$T" "$BATS_TEST_TMPDIR/v.ndjson"
	# A date in a timestamptz column is midnight in the session's zone.
	{ values | head -5; echo '{"k":100,"ts":"2024-01-01"}'; values | tail -n +6; } \
	    >"$BATS_TEST_TMPDIR/m.ndjson"
	T2=$T; T=${T}b
	run copies --batch-rows 2 "$T" "$BATS_TEST_TMPDIR/m.ndjson"
	[ "$output" = "$(printf '%s\n' binary binary binary text text text text text)" ]
	T=$T2
	diff <(dump "$T") <(dump "${T}b" | grep -v '^(100,')
	[ "$(q "SELECT ts FROM \"${T}b\" WHERE k = 100")" = "2024-01-01 00:00:00+00" ]
}

@test "columns of types sa-load does not make, and --inserted-at of another type, go as text" {
	pg
	q "CREATE TABLE \"$T\" (k int4 PRIMARY KEY, v varchar(10), ts timestamp, r real)"
	printf '%s\n' '{"k":1,"v":"a","ts":"2024-01-01T10:00:00","r":1.5}' \
	    '{"k":2,"v":"b","ts":"2024-01-02 10:00","r":-2}' >"$BATS_TEST_TMPDIR/o.ndjson"
	run copies "$T" "$BATS_TEST_TMPDIR/o.ndjson"
	[ "$output" = text ]
	[ "$(q "SELECT t::text FROM \"$T\" t ORDER BY k")" = "$(printf '%s\n' '(1,a,"2024-01-01 10:00:00",1.5)' '(2,b,"2024-01-02 10:00:00",-2)')" ]
	q "CREATE TABLE \"${T}b\" (k bigint, at timestamp)"
	T=${T}b
	run copies --inserted-at at "$T" "$BATS_TEST_TMPDIR/o.ndjson"
	[ "$output" = text ]
	[ "$(q "SELECT count(*) FROM \"$T\" WHERE at IS NOT NULL")" = 2 ]
	# --inserted-at into a column sa-load adds is binary, stamped once.
	pg_table i
	printf '%s\n' '{"k":1,"ts":"2024-01-01T10:00:00Z"}' '{"k":2}' >"$BATS_TEST_TMPDIR/z.ndjson"
	run copies --inserted-at at "$T" "$BATS_TEST_TMPDIR/z.ndjson"
	[ "$output" = binary ]
	[ "$(q "SELECT count(DISTINCT at) FROM \"$T\" WHERE at > now() - interval '1 hour'")" = 1 ]
}

@test "binary COPY: a row the server refuses goes to the rejects at its line, the others load" {
	pg
	q "CREATE TABLE \"$T\" (k bigint PRIMARY KEY, n numeric CHECK (n < 100))"
	printf '%s\n' '{"k":1,"n":1.5}' '{"k":2,"n":150}' '{"k":3,"n":2}' '{"k":1,"n":3}' \
	    '{"k":4,"n":4e1}' >"$BATS_TEST_TMPDIR/r.ndjson"
	run copies --rejects "$BATS_TEST_TMPDIR/rej" "$T" "$BATS_TEST_TMPDIR/r.ndjson"
	# The batch is sent again without each refused row, as text.
	[ "$output" = "$(printf '%s\n' binary text text)" ]
	[ "$(q "SELECT string_agg(k || '=' || n, ' ' ORDER BY k) FROM \"$T\"")" = "1=1.5 3=2 4=40" ]
	run jq -sc 'sort_by(.line)[] | [.line, .error]' "$BATS_TEST_TMPDIR/rej"
	[ "$output" = "$(printf '%s\n' "[2,\"new row for relation \\\"$T\\\" violates check constraint \\\"${T}_n_check\\\"\"]" \
	    "[4,\"duplicate key value violates unique constraint \\\"${T}_pkey\\\"\"]")" ]
	# Without --rejects the first refused row stops the load, at its line.
	q "TRUNCATE \"$T\""
	run --separate-stderr sa-load "$T" "$BATS_TEST_TMPDIR/r.ndjson"
	[ "$status" -eq 65 ]
	[ "$stderr" = "sa-load: $BATS_TEST_TMPDIR/r.ndjson:2: new row for relation \"$T\" violates check constraint \"${T}_n_check\" (Failing row contains (2, 150).)" ]
	[ "$(q "SELECT count(*) FROM \"$T\"")" = 0 ]
}
