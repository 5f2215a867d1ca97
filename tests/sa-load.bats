#!/usr/bin/env bats
load helpers/common
load helpers/load
bats_require_minimum_version 1.5.0

F="$FIXTURES/sa-load"

# The columns of table $1 as "name type" lines.
cols() {
	q "SELECT attname || ' ' || format_type(atttypid, atttypmod)
	   FROM pg_attribute WHERE attrelid = '\"$1\"'::regclass
	   AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
}

# The constraints of table $1.
constraints() {
	q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '\"$1\"'::regclass"
}

# Rows {"id": N, "v": "aN"} for N from 1 to $1.
numbered() {
	seq 1 "$1" | awk '{ printf "{\"id\": %d, \"v\": \"a%d\"}\n", $1, $1 }'
}

# The summary line without its timing.
summary() {
	sed -E 's/, [0-9.]+ s, [0-9]+ rows\/s/, S s, R rows\/s/'
}

# assert_summary LINE TEXT: LINE is the summary "sa-load: TEXT" and its
# timing.
assert_summary() {
	assert_equal "$(summary <<<"$1")" "sa-load: $2, S s, R rows/s"
}

# Table $T made from base.ndjson: ids 1 and 2.
base_table() {
	sa-load --quiet "$T" "$F/base.ndjson"
}

# The rows of table $T, by id.
table_rows() {
	q "SELECT * FROM \"$T\" ORDER BY id"
}

# assert_count N [TABLE]: the table ($T by default) holds N rows.
assert_count() {
	run q "SELECT count(*) FROM \"${2:-$T}\""
	assert_output "$1"
}

# Table $T does not exist.
assert_no_table() {
	run q "SELECT to_regclass('\"$T\"') IS NULL"
	assert_output t
}

# Every row of table $1 is also in table $2.
assert_rows_in() {
	run q "SELECT count(*) FROM (SELECT * FROM \"$1\" EXCEPT SELECT * FROM \"$2\") d"
	assert_output 0
}

# Rows past the first 10 000 (which shape a new table) that bring new
# fields and wider types.
late_rows() {
	awk 'BEGIN {
		for (i = 1; i <= 12000; i++)
			printf "{\"id\": %d, \"v\": %d, \"late\": null}\n", i, i
		print "{\"id\": 12001, \"v\": 1.5, \"late\": 7, \"new\": \"x\"}"
		print "{\"id\": 12002, \"v\": \"many\", \"day\": \"2024-01-01\"}"
		print "{\"id\": 5, \"v\": 55}"
	}'
}

# The columns of a table made for late_rows, as cols prints them.
late_cols() {
	printf '%s\n' 'id bigint' 'v text' 'late bigint' 'new text' 'day date'
}

# The rows of table $1 that the last load only locked: ON CONFLICT locks
# the rows it leaves alone; rows found unchanged beforehand are not touched.
locked() {
	q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM \"$1\" WHERE xmax <> 0 AND xmin <> xmax"
}

# The backends of sa-load that hold a lock on $T: this test's own, as
# the suites beside it load through the same server.
load_backends() {
	echo "FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	   WHERE a.application_name = 'sa-load' AND l.relation = '\"$T\"'::regclass"
}

# Waits until a backend of sa-load sleeps in slow_table's trigger.
wait_for_sleep() {
	wait_until "SELECT count(*) > 0 $(load_backends) AND a.wait_event = 'PgSleep'"
}

wait_for_no_backend() {
	wait_until "SELECT count(*) = 0 $(load_backends)"
}

# Table $T as base_table makes it, whose trigger sleeps 2 s on the row of
# id 22.
slow_table() {
	base_table
	q "CREATE FUNCTION \"${T}_slow\"() RETURNS trigger LANGUAGE plpgsql AS
	   \$\$ BEGIN IF NEW.id = 22 THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END \$\$"
	q "CREATE TRIGGER slow BEFORE INSERT ON \"$T\" FOR EACH ROW EXECUTE FUNCTION \"${T}_slow\"()"
}

# interrupted_load SIGNAL STATUS: a load into slow_table, sent SIGNAL
# while it waits for the trigger, exits STATUS and leaves the table as it
# was.
interrupted_load() {
	local pid st=0

	slow_table
	sa-load --batch-rows 1 "$T" "$F/misfit.ndjson" "$F/upsert.ndjson" 2>/dev/null &
	pid=$!
	wait_for_sleep
	kill -"$1" "$pid"
	wait "$pid" || st=$?
	[ "$st" -eq "$2" ]
	wait_for_no_backend
	run q "SELECT id FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1
	2
	EOF
	q "DROP FUNCTION \"${T}_slow\"() CASCADE"
}

# upserts_at_once FILE1 FILE2: upserts of each file into $T on id, at
# once; both succeed.
upserts_at_once() {
	local p1 p2

	sa-load --quiet -k id --mode upsert "$T" "$1" &
	p1=$!
	sa-load --quiet -k id --mode upsert "$T" "$2" &
	p2=$!
	wait "$p1"
	wait "$p2"
}

@test "--help prints the usage line the man page shows" {
	run sa-load --help
	assert_success
	assert_line --index 0 "usage: sa-load [options] [schema.]table [file ...]"
	synopsis=$(man_synopsis sa-load.1)
	[ "usage: $synopsis" = "usage: sa-load [options] [schema.]table [file ...]" ]
}

@test "an empty item in -k (a,,b  ,a  a,  '') is a usage error naming -k" {
	for k in a,,b ,a a, ''; do
		run --separate-stderr sa-load -k "$k" t </dev/null
		assert_failure 64
		assert_equal "$stderr" "sa-load: -k: empty item in '$k'
Try 'sa-load --help' for more information."
	done
}

@test "usage errors exit 64" {
	run sa-load
	[ "$status" -eq 64 ]
	run sa-load --mode upsert t
	[ "$status" -eq 64 ]
	assert_line --index 0 "sa-load: --mode upsert needs -k/--key"
	run sa-load --mode sideways -k id t
	[ "$status" -eq 64 ]
	run sa-load --batch-rows 0 t
	[ "$status" -eq 64 ]
	run sa-load --batch-bytes lots t
	[ "$status" -eq 64 ]
	run sa-load --bogus t
	[ "$status" -eq 64 ]
	run sa-load -d "host='unterminated" t
	[ "$status" -eq 64 ]
	run --separate-stderr sa-load -k id,name,id t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: -k: column 'id' given twice"
}

@test "types inferred from NDJSON, values exact" {
	pg
	run --separate-stderr sa-load "$T" "$F/types.ndjson"
	assert_success
	assert_summary "$stderr" "$T: 3 rows read, 3 inserted, 0 updated"
	run cols "$T"
	assert_output - <<-'EOF'
	id bigint
	flag boolean
	small bigint
	big bigint
	neg bigint
	money numeric
	day date
	at timestamp with time zone
	local timestamp with time zone
	uid uuid
	doc jsonb
	list jsonb
	zip text
	word text
	nothing text
	EOF
	run q "SELECT * FROM \"$T\" ORDER BY id"
	assert_output - <<-EOF
	1|t|42|9223372036854775807|-9223372036854775808|12345678901234567890.123456789012345678|2024-02-29|2024-01-02 03:04:05.123456+00|2024-01-02 03:04:00+00|123e4567-e89b-12d3-a456-426614174000|{"a": [1, 2, {"b": null}], "s": "x\\ty"}|[1, "two", 3.0]|00501|Grüße, 東京 🎉|
	2|f|-7|0|1|0.1|1999-12-31|2024-06-30 21:59:59+00|2024-06-30 12:00:00+00|00000000-0000-0000-0000-000000000000|{}|[]|12345|tab	here, newline
	there, back\\slash, cr$(printf '\r')end, quote" and \\N|
	3||||||||||||||
	EOF
	run q "SELECT word = E'tab\\there, newline\\nthere, back\\\\slash, cr\\rend, quote\" and \\\\N', word IS NULL, nothing IS NULL FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	f|f|t
	t|f|t
	f|f|t
	EOF
}

@test "types inferred from TSV: booleans, numbers in JSON's grammar, JSON" {
	pg
	run --separate-stderr sa-load "$T" "$F/types.tsv"
	assert_success
	run cols "$T"
	assert_output - <<-'EOF'
	id bigint
	flag boolean
	small bigint
	big numeric
	money numeric
	day date
	at timestamp with time zone
	uid uuid
	doc jsonb
	zip text
	word text
	nothing text
	EOF
	run q "SELECT * FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|t|42|9223372036854775808|1.50|2024-02-29|2024-01-02 03:04:05+00|123e4567-e89b-12d3-a456-426614174000|{"a": [1, 2]}|00501|Grüße	and
	more \ end|
	2|f|-1|-3|-2000|2023-01-01|2024-01-01 21:34:05+00|00000000-0000-0000-0000-000000000000|[1, "x"]|007||
	3|||||||||||
	EOF
	run q "SELECT word IS NULL, nothing IS NULL FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	f|t
	f|t
	t|t
	EOF
}

@test "sa-explode -t output loads with the same types as its NDJSON" {
	pg
	gen-successapp -n 50 --seed 5 | sa-explode -p territories >"$BATS_TEST_TMPDIR/t.ndjson"
	sa-explode -t "$BATS_TEST_TMPDIR/t.ndjson" >"$BATS_TEST_TMPDIR/t.tsv"
	sa-load --quiet "$T" "$BATS_TEST_TMPDIR/t.ndjson"
	sa-load --quiet "${T}b" "$BATS_TEST_TMPDIR/t.tsv"
	[ "$(cols "$T")" = "$(cols "${T}b")" ]
	assert_rows_in "$T" "${T}b"
}

@test "names with spaces, quotes, upper case and over 63 bytes" {
	pg
	long=a_very_long_field_name_that_goes_on_and_on_beyond_the_limit_of_postgres
	run --separate-stderr sa-load "$T" "$F/names.ndjson"
	assert_success
	short=$(cols "$T" | sed -n 's/^\(a_very.*\) text$/\1/p')
	[ "${#short}" -eq 63 ]
	[ "${short:0:54}" = "${long:0:54}" ]
	[[ "$short" =~ ^${long:0:54}_[0-9a-f]{8}$ ]]
	assert_equal "${stderr_lines[0]}" "sa-load: column \"$long\" is longer than 63 bytes: named \"$short\""
	run cols "$T"
	assert_output - <<-EOF
	Id bigint
	first name text
	say "hi" text
	UPPER text
	$short text
	ünïcödé text
	EOF
	run q "SELECT \"Id\", \"first name\", \"say \"\"hi\"\"\", \"UPPER\", \"$short\", \"ünïcödé\" FROM \"$T\""
	assert_output "1|a|b|c|d|e"
	# The same long name gives the same column the next time.
	sa-load --quiet "$T" "$F/names.ndjson"
	assert_count 2
}

@test "fields and types that appear late give the types of a full pass" {
	pg
	late_rows >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --dry-run "$T" "$BATS_TEST_TMPDIR/in"
	assert_output - <<-EOF
	CREATE TABLE IF NOT EXISTS "$T" (
	    "id" bigint,
	    "v" text,
	    "late" bigint,
	    "new" text,
	    "day" date
	);
	EOF
	for mode in append upsert; do
		q "DROP TABLE IF EXISTS \"$T\""
		run --separate-stderr sa-load -k id --mode $mode --batch-rows 5000 "$T" "$BATS_TEST_TMPDIR/in"
		if [ $mode = append ]; then
			[ "$status" -eq 65 ]
			[[ "$stderr" == "sa-load: $BATS_TEST_TMPDIR/in:12003: duplicate key value violates unique constraint"* ]]
			assert_no_table
			sa-load --quiet "$T" "$BATS_TEST_TMPDIR/in"
		else
			assert_summary "$stderr" "$T: 12003 rows read, 12002 inserted, 0 updated"
		fi
		run cols "$T"
		assert_output "$(late_cols)"
		run q "SELECT id, v, late, new, day FROM \"$T\" WHERE id IN (5, 12000, 12001, 12002) ORDER BY id, v"
		if [ $mode = append ]; then
			assert_output - <<-'EOF'
			5|5|||
			5|55|||
			12000|12000|||
			12001|1.5|7|x|
			12002|many|||2024-01-01
			EOF
		else
			assert_output - <<-'EOF'
			5|55|||
			12000|12000|||
			12001|1.5|7|x|
			12002|many|||2024-01-01
			EOF
		fi
	done
}

@test "--no-evolve on a new table makes it from all the rows" {
	pg
	late_rows >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-evolve "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	run cols "$T"
	assert_output "$(late_cols)"
	assert_count 12003
}

@test "schema-qualified table names and quoted table names" {
	pg
	q 'CREATE SCHEMA IF NOT EXISTS "Sales Data"'
	q 'DROP TABLE IF EXISTS "Sales Data"."My Table"'
	sa-load --quiet "Sales Data.My Table" "$F/base.ndjson"
	run q 'SELECT id, name FROM "Sales Data"."My Table" ORDER BY id'
	assert_output - <<-'EOF'
	1|one
	2|two
	EOF
	q 'DROP SCHEMA "Sales Data" CASCADE'
}

@test "evolution adds columns and widens types, reporting each change" {
	pg
	base_table
	run --separate-stderr sa-load "$T" "$F/evolve.ndjson"
	assert_success
	assert_equal "${#stderr_lines[@]}" 5
	assert_equal "${stderr_lines[0]}" "sa-load: $T: column \"n\" widened from bigint to numeric"
	assert_equal "${stderr_lines[1]}" "sa-load: $T: column \"day\" widened from date to timestamptz"
	assert_equal "${stderr_lines[2]}" "sa-load: $T: new column \"color\" text"
	assert_equal "${stderr_lines[3]}" "sa-load: $T: new column \"tags\" jsonb"
	run cols "$T"
	assert_output - <<-'EOF'
	id bigint
	name text
	n numeric
	day timestamp with time zone
	color text
	tags jsonb
	EOF
	run --separate-stderr sa-load "$T" "$F/evolve-text.ndjson"
	assert_success
	assert_equal "${stderr_lines[0]}" "sa-load: $T: column \"n\" widened from numeric to text"
	assert_equal "${stderr_lines[1]}" "sa-load: $T: column \"day\" widened from timestamp with time zone to text"
	run q "SELECT id, name, n, day, color, tags FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|one|1|2024-01-01 00:00:00+00||
	2|two|2|2024-01-02 00:00:00+00||
	3|three|3.5|2024-01-03 10:00:00+00|red|
	4|four|4|2024-01-04 00:00:00+00||["a"]
	5||five|soon||
	EOF
}

@test "--no-evolve: a new field or a value that no longer fits leaves the table as it was" {
	pg
	base_table
	before=$(table_rows)
	run --separate-stderr sa-load --no-evolve "$T" "$F/misfit.ndjson"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $F/misfit.ndjson:2: \"many\" does not fit column \"n\" (bigint) of $T (--no-evolve)"
	run --separate-stderr sa-load --no-evolve "$T" "$F/evolve.ndjson"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $F/evolve.ndjson:1: 3.5 does not fit column \"n\" (bigint) of $T (--no-evolve)"
	run --separate-stderr sa-load --no-evolve "$T" <<<'{"id": 3, "color": "red"}'
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: stdin:1: field \"color\" is not a column of $T (--no-evolve)"
	[ "$(table_rows)" = "$before" ]
	run cols "$T"
	assert_output - <<-'EOF'
	id bigint
	name text
	n bigint
	day date
	EOF
	# With --rejects the misfit goes there and the rest is loaded.
	run --separate-stderr sa-load --no-evolve --rejects "$BATS_TEST_TMPDIR/rej" "$T" "$F/misfit.ndjson"
	assert_success
	assert_summary "$stderr" "$T: 3 rows read, 2 inserted, 0 updated, 1 rejected"
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output "[2,\"\\\"many\\\" does not fit column \\\"n\\\" (bigint) of $T (--no-evolve)\"]"
	run q "SELECT id FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1
	2
	20
	22
	EOF
}

@test "a column of the table that the first rows lack: a new COPY takes it, no restart, with --no-evolve too" {
	pg
	q "CREATE TABLE \"$T\" (a bigint, b bigint)"
	{ seq 1 20000 | awk '{ print "{\"a\":" $1 "}" }'; echo '{"a":0,"b":7}'; } >"$BATS_TEST_TMPDIR/late"
	for opt in --no-evolve --append; do
		q "TRUNCATE \"$T\""
		[ "$opt" = --append ] && opt="--mode append"
		run --separate-stderr sa-load $opt "$T" "$BATS_TEST_TMPDIR/late"
		assert_success
		assert_summary "$stderr" "$T: 20001 rows read, 20001 inserted, 0 updated"
		[ "$(q "SELECT count(*) || ' ' || count(b) || ' ' || sum(b) || ' ' || sum(a) FROM \"$T\"")" = "20001 1 7 200010000" ]
	done
	# The rows before it are not rolled back and sent again: the load
	# takes one statement more than without that row, the second COPY.
	q "TRUNCATE \"$T\""
	n=$(statements "$T" <(head -n 20000 "$BATS_TEST_TMPDIR/late"))
	q "TRUNCATE \"$T\""
	[ "$(statements "$T" "$BATS_TEST_TMPDIR/late")" -eq $((n + 1)) ]
}

@test "--no-create on a missing table exits 73 and creates nothing" {
	pg
	run --separate-stderr sa-load --no-create "$T" "$F/base.ndjson"
	[ "$status" -eq 73 ]
	assert_equal "$stderr" "sa-load: $T: the table does not exist (--no-create)"
	assert_no_table
}

@test "invalid JSON in the middle leaves the table as it was" {
	pg
	base_table
	before=$(table_rows)
	run --separate-stderr sa-load "$T" "$F/bad-middle.ndjson"
	[ "$status" -eq 65 ]
	[[ "$stderr" == "sa-load: $F/bad-middle.ndjson:2: invalid JSON"* ]]
	[ "$(table_rows)" = "$before" ]
	run --separate-stderr sa-load --rejects "$BATS_TEST_TMPDIR/rej" "$T" "$F/bad-middle.ndjson"
	assert_success
	run jq -r .line "$BATS_TEST_TMPDIR/rej"
	assert_output 2
	run q "SELECT id, name FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|one
	2|two
	10|ten
	12|twelve
	EOF
}

@test "a row the server refuses is reported by file and line; nothing is loaded" {
	pg
	q "CREATE TABLE \"$T\" (id bigint, name varchar(4), n bigint, day date)"
	q "INSERT INTO \"$T\" VALUES (0, 'zero', 0, NULL)"
	run --separate-stderr sa-load --batch-rows 2 "$T" "$F/base.ndjson" "$F/upsert.ndjson"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $F/upsert.ndjson:4: value too long for type character varying(4)"
	run q "SELECT * FROM \"$T\""
	assert_output "0|zero|0|"
}

@test "-k creates a primary key; upsert: the last row of a key wins" {
	pg
	run --separate-stderr sa-load -k id --mode upsert "$T" "$F/upsert.ndjson"
	assert_success
	assert_summary "$stderr" "$T: 5 rows read, 3 inserted, 0 updated"
	run q "SELECT * FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|eins|100
	2|two|2
	3|three|3
	EOF
	run constraints "$T"
	assert_output "PRIMARY KEY (id)"
	run --separate-stderr sa-load -k id --mode upsert "$T" "$F/base.ndjson"
	assert_success
	assert_equal "${stderr_lines[0]}" "sa-load: $T: new column \"day\" date"
	assert_summary "${stderr_lines[1]}" "$T: 2 rows read, 0 inserted, 2 updated"
	run q "SELECT * FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|one|1|2024-01-01
	2|two|2|2024-01-02
	3|three|3|
	EOF
	# Rows that are already as loaded are left alone; a number written
	# differently (1.0 for 1) is a change.
	run --separate-stderr sa-load -k id --mode upsert "$T" "$F/base.ndjson"
	assert_summary "$stderr" "$T: 2 rows read, 0 inserted, 0 updated"
	run --separate-stderr sa-load -k id --mode upsert "$T" - <<<'{"id": 3, "name": "three", "n": 3.0}
{"id": 2, "name": "two", "n": 2, "day": "2024-01-02"}'
	assert_equal "${stderr_lines[0]}" "sa-load: $T: column \"n\" widened from bigint to numeric"
	assert_summary "${stderr_lines[1]}" "$T: 2 rows read, 0 inserted, 1 updated"
	run q "SELECT n FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1
	2
	3.0
	EOF
	# Append with a key that is already there violates the primary key.
	run --separate-stderr sa-load "$T" "$F/base.ndjson"
	[ "$status" -eq 65 ]
	assert_count 3
}

@test "upsert into a new table: the key is added after the rows, the last row still wins" {
	pg
	# Keys all different: the rows go straight to the table.
	numbered 3000 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --batch-rows 1000 -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_summary "$stderr" "$T: 3000 rows read, 3000 inserted, 0 updated"
	run constraints "$T"
	assert_output "PRIMARY KEY (id)"
	run q "SELECT count(*), count(DISTINCT id), min(v), max(id) FROM \"$T\""
	assert_output "3000|3000|a1|3000"
	# A key that repeats after the first 10 000 rows, when batches have
	# gone to the table already.
	q "DROP TABLE \"$T\""
	{
		numbered 12000
		echo '{"id": 5, "v": "late"}'
		echo '{"id": 11999, "v": "later"}'
		echo '{"id": 5, "v": "last"}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --batch-rows 1000 -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_summary "$stderr" "$T: 12003 rows read, 12000 inserted, 0 updated"
	run constraints "$T"
	assert_output "PRIMARY KEY (id)"
	run q "SELECT id, v FROM \"$T\" WHERE id IN (4, 5, 6, 11999, 12000) ORDER BY id"
	assert_output - <<-'EOF'
	4|a4
	5|last
	6|a6
	11999|later
	12000|a12000
	EOF
	run q "SELECT count(*), count(DISTINCT id) FROM \"$T\""
	assert_output "12000|12000"
}

@test "upsert of rows mostly as they are: unchanged rows are not touched" {
	pg
	# 20 rows: a number, a text that may be null, a JSON value.
	seq 1 20 | awk '{ printf "{\"id\": %d, \"n\": %d.5, \"s\": \"s%d\", \"j\": {\"a\": %d, \"b\": [1, 2]}}\n", $1, $1, $1, $1 }' >"$BATS_TEST_TMPDIR/base"
	sa-load --quiet -k id "$T" "$BATS_TEST_TMPDIR/base"
	before=$(q "SELECT string_agg(xmin::text, ' ' ORDER BY id) FROM \"$T\" WHERE id NOT IN (5, 8)")
	# 16 of 20 as they are (members of j in another order are the same
	# jsonb), 1.50 for 1.5 is a change, a null and a JSON change, 2 new.
	{
		sed -n '1p; 3,4p; 6,7p; 9,16p; 18,20p' "$BATS_TEST_TMPDIR/base"
		echo '{"id": 5, "n": 5.50, "s": "s5", "j": {"a": 5, "b": [1, 2]}}'
		echo '{"id": 8, "n": 8.5, "s": null, "j": {"a": 8, "b": [1, 2]}}'
		echo '{"id": 17, "n": 17.5, "s": "s17", "j": {"b": [1, 2], "a": 17}}'
		echo '{"id": 2, "n": 2.5, "s": "s2", "j": {"b": [1, 2], "a": 2}}'
		echo '{"id": 21, "n": 21.5, "s": "s21", "j": {"a": 21, "b": []}}'
		echo '{"id": 22, "n": 22.5, "s": "s22", "j": null}'
	} >"$BATS_TEST_TMPDIR/day2"
	# Twice: once into a copy of the table, where most rows are the same;
	# once with only the changed and new rows, where the join is not worth
	# running and ON CONFLICT meets the 2 unchanged rows.
	q "CREATE TABLE \"${T}b\" (LIKE \"$T\" INCLUDING ALL); INSERT INTO \"${T}b\" SELECT * FROM \"$T\""
	run --separate-stderr sa-load -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/day2"
	assert_success
	assert_summary "$stderr" "$T: 22 rows read, 2 inserted, 2 updated"
	run locked "$T"
	assert_output ""
	after=$(q "SELECT string_agg(xmin::text, ' ' ORDER BY id) FROM \"$T\" WHERE id NOT IN (5, 8, 21, 22)")
	[ "$after" = "$before" ]
	tail -n 6 "$BATS_TEST_TMPDIR/day2" >"$BATS_TEST_TMPDIR/changed"
	run --separate-stderr sa-load -k id --mode upsert "${T}b" "$BATS_TEST_TMPDIR/changed"
	assert_success
	assert_summary "$stderr" "${T}b: 6 rows read, 2 inserted, 2 updated"
	run locked "${T}b"
	assert_output "2 17"
	for t in "$T" "${T}b"; do
		run q "SELECT id, n, s, j FROM \"$t\" WHERE id IN (1, 2, 5, 8, 17, 20, 21, 22) ORDER BY id"
		assert_output - <<-'EOF'
		1|1.5|s1|{"a": 1, "b": [1, 2]}
		2|2.5|s2|{"a": 2, "b": [1, 2]}
		5|5.50|s5|{"a": 5, "b": [1, 2]}
		8|8.5||{"a": 8, "b": [1, 2]}
		17|17.5|s17|{"a": 17, "b": [1, 2]}
		20|20.5|s20|{"a": 20, "b": [1, 2]}
		21|21.5|s21|{"a": 21, "b": []}
		22|22.5|s22|
		EOF
	done
	assert_rows_in "$T" "${T}b"
}

@test "upsert into a table without a unique key exits 64 and changes nothing" {
	pg
	base_table
	run --separate-stderr sa-load -k id --mode upsert "$T" "$F/upsert.ndjson"
	echo "$stderr"
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[1]}" "sa-load: hint: --mode upsert needs a primary key or unique index on the -k columns"
	assert_count 2
	# --dry-run says so too; a unique index on the key is enough.
	run --separate-stderr sa-load --dry-run -k id --mode upsert "$T" "$F/upsert.ndjson"
	[ "$status" -eq 64 ]
	assert_equal "$stderr" "sa-load: $T: no primary key or unique index on the -k columns, which --mode upsert needs"
	q "CREATE UNIQUE INDEX ON \"$T\" (id)"
	run --separate-stderr sa-load --dry-run -k id --mode upsert "$T" "$F/upsert.ndjson"
	assert_success
	assert_output "-- no change to the table"
}

@test "a row without its key is bad input" {
	pg
	run --separate-stderr sa-load -k id "$T" - <<<'{"id": 1}
{"name": "x"}
{"id": null}'
	[ "$status" -eq 65 ]
	assert_equal "$stderr" 'sa-load: stdin:2: key "id" is missing'
	assert_no_table
}

@test "--mode replace replaces the old rows atomically" {
	pg
	sa-load --quiet "$T" "$F/upsert.ndjson"
	run --separate-stderr sa-load --mode replace "$T" "$F/base.ndjson"
	assert_success
	run q "SELECT id, name, n, day FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1|one|1|2024-01-01
	2|two|2|2024-01-02
	EOF
	# A failed replace keeps the old rows.
	run sa-load --mode replace "$T" "$F/bad-middle.ndjson"
	[ "$status" -eq 65 ]
	assert_count 2
}

@test "--inserted-at adds a timestamptz set at load time" {
	pg
	sa-load --quiet --inserted-at loaded_at "$T" "$F/base.ndjson"
	run cols "$T"
	assert_line --index 4 "loaded_at timestamp with time zone"
	run q "SELECT count(*), count(DISTINCT loaded_at), bool_and(loaded_at BETWEEN now() - interval '1 hour' AND now()) FROM \"$T\""
	assert_output "2|1|t"
}

@test "batches by rows and by bytes all land, in one transaction" {
	pg
	gen-successapp -n 300 --seed 2 | sa-explode >"$BATS_TEST_TMPDIR/in.ndjson"
	sa-load --quiet --batch-rows 7 "$T" "$BATS_TEST_TMPDIR/in.ndjson"
	sa-load --quiet --batch-bytes 1k "$T" "$BATS_TEST_TMPDIR/in.ndjson"
	sa-load --quiet "${T}b" "$BATS_TEST_TMPDIR/in.ndjson"
	assert_count 600
	run q "SELECT count(*) FROM (SELECT * FROM \"$T\" EXCEPT ALL SELECT * FROM \"${T}b\" EXCEPT ALL SELECT * FROM \"${T}b\") d"
	assert_output 0
}

@test "--dry-run prints the DDL and changes nothing" {
	pg
	run --separate-stderr sa-load --dry-run -k id "$T" "$F/base.ndjson"
	assert_success
	assert_output - <<-EOF
	CREATE TABLE IF NOT EXISTS "$T" (
	    "id" bigint,
	    "name" text,
	    "n" bigint,
	    "day" date,
	    PRIMARY KEY ("id")
	);
	EOF
	assert_no_table
	base_table
	run --separate-stderr sa-load --dry-run "$T" "$F/evolve.ndjson"
	assert_success
	assert_output - <<-EOF
	ALTER TABLE "$T"
	    ALTER COLUMN "n" TYPE numeric USING "n"::numeric,
	    ALTER COLUMN "day" TYPE timestamptz USING "day"::timestamptz,
	    ADD COLUMN IF NOT EXISTS "color" text,
	    ADD COLUMN IF NOT EXISTS "tags" jsonb;
	EOF
	run cols "$T"
	assert_line --index 2 "n bigint"
}

@test "-d takes a database name, as psql does" {
	pg
	run --separate-stderr sa-load -d "$(q 'SELECT current_database()')" "$T" "$F/base.ndjson"
	assert_success
	assert_count 2
}

@test "a rejects file that cannot be written: nothing is loaded (74)" {
	pg
	run --separate-stderr sa-load --rejects /dev/full "$T" - <<<'{"id": 1}
{"id": 
{"id": 2}'
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-load: /dev/full: No space left on device"
	assert_no_table
}

@test "--rejects: rows the server refuses go there, the others are loaded" {
	pg
	q "CREATE TABLE \"$T\" (id int PRIMARY KEY, s varchar(3) CHECK (s <> 'no'))"
	printf '%s\n' '{"id":1,"s":"a"}' '{"id":2,"s":"abcdef"}' '{"id":3,"s":"no"}' \
	    '{"id":1,"s":"dup"}' '{"id":4}' '{"id":99999999999}' '{"id":5,"s":"b"}' >"$BATS_TEST_TMPDIR/in"
	for b in 100 2; do
		q "TRUNCATE \"$T\""
		run --separate-stderr sa-load --batch-rows "$b" --rejects "$BATS_TEST_TMPDIR/r" "$T" "$BATS_TEST_TMPDIR/in"
		assert_success
		assert_summary "$stderr" "$T: 7 rows read, 3 inserted, 0 updated, 4 rejected"
		run q "SELECT id, coalesce(s, 'null') FROM \"$T\" ORDER BY id"
		assert_output - <<-'EOF'
		1|a
		4|null
		5|b
		EOF
		run jq -sc 'sort_by(.line)[] | [.line, .error, .input]' "$BATS_TEST_TMPDIR/r"
		assert_output - <<-EOF
		[2,"value too long for type character varying(3)","{\"id\":2,\"s\":\"abcdef\"}"]
		[3,"new row for relation \"$T\" violates check constraint \"${T}_s_check\"","{\"id\":3,\"s\":\"no\"}"]
		[4,"duplicate key value violates unique constraint \"${T}_pkey\"","{\"id\":1,\"s\":\"dup\"}"]
		[6,"value \"99999999999\" is out of range for type integer","{\"id\":99999999999}"]
		EOF
	done
	# Without --rejects the first refused row stops the load.
	q "TRUNCATE \"$T\""
	run --separate-stderr sa-load "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $BATS_TEST_TMPDIR/in:2: value too long for type character varying(3)"
	assert_count 0
}

@test "rows without fields are rows of nulls" {
	pg
	run --separate-stderr sa-load "$T" - <<<'{}
{}'
	assert_success
	assert_summary "$stderr" "$T: 2 rows read, 2 inserted, 0 updated"
	assert_count 2
	run sa-load --quiet "$T" - <<<'{}
{"id": 1}
{}'
	run q "SELECT coalesce(id::text, 'null') FROM \"$T\" ORDER BY id NULLS FIRST"
	assert_output - <<-'EOF'
	null
	null
	null
	null
	1
	EOF
}

@test "fields named as PostgreSQL's system columns get a trailing underscore" {
	pg
	run --separate-stderr sa-load "$T" - <<<'{"id": 1, "xmin": 5, "ctid": "a"}'
	assert_success
	assert_equal "${stderr_lines[0]}" 'sa-load: column "xmin" is a system column name in PostgreSQL: named "xmin_"'
	assert_equal "${stderr_lines[1]}" 'sa-load: column "ctid" is a system column name in PostgreSQL: named "ctid_"'
	run cols "$T"
	assert_output - <<-'EOF'
	id bigint
	xmin_ bigint
	ctid_ text
	EOF
	run q "SELECT id, xmin_, ctid_ FROM \"$T\""
	assert_output "1|5|a"
}

@test "TSV: an empty line is a row of one empty field" {
	pg
	sa-load --quiet "$T" - <<<$'a\nx\n\ny'
	run q "SELECT a = '' FROM \"$T\" ORDER BY a"
	assert_output - <<-'EOF'
	t
	f
	f
	EOF
}

@test "empty input changes nothing; an unopenable file loads nothing (66)" {
	pg
	run --separate-stderr sa-load "$T" /dev/null
	assert_success
	assert_no_table
	run --separate-stderr sa-load "$T" "$F/base.ndjson" "$BATS_TEST_TMPDIR/missing"
	[ "$status" -eq 66 ]
	assert_no_table
}

@test "an unreachable server exits 69, a wrong password 77" {
	require_pg
	# Tried 4 times over 3.5 s, then 69.
	run --separate-stderr env PGHOST=127.0.0.1 PGPORT=1 sa-load t "$F/base.ndjson"
	[ "$status" -eq 69 ]
	[[ "$stderr" == "sa-load: cannot connect to PostgreSQL (4 tries): "*"Connection refused. Is the server running"* ]]
	run --separate-stderr env PGUSER=nobody_here sa-load t "$F/base.ndjson"
	[ "$status" -eq 77 ]
	# (the server says "password authentication failed" or "role does
	# not exist", depending on its pg_hba.conf)
	[[ "$stderr" == *'"nobody_here"'* ]]
	run --separate-stderr env PGPASSWORD=wrong PGHOST=127.0.0.1 sa-load t "$F/base.ndjson"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"password authentication failed"* ]]
}

@test "two loads into the same new table at once both succeed" {
	pg
	for i in 1 2 3 4; do
		gen-successapp -n 200 --seed $i --start-id $((i * 1000)) |
			sa-explode | jq -c ". + {\"only_$i\": $i}" >"$BATS_TEST_TMPDIR/in$i"
	done
	pids=()
	for i in 1 2 3 4; do
		sa-load --quiet "$T" "$BATS_TEST_TMPDIR/in$i" 2>"$BATS_TEST_TMPDIR/err$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	run q "SELECT count(*), count(only_1), count(only_2), count(only_3), count(only_4) FROM \"$T\""
	assert_output "800|200|200|200|200"
}

@test "two upserts into the same new table at once both succeed" {
	pg
	gen-successapp -n 300 --seed 1 | sa-explode | jq -c '. + {only_1: 1}' >"$BATS_TEST_TMPDIR/in1"
	gen-successapp -n 300 --seed 2 --start-id 200 | sa-explode | jq -c '. + {only_2: 2}' >"$BATS_TEST_TMPDIR/in2"
	upserts_at_once "$BATS_TEST_TMPDIR/in1" "$BATS_TEST_TMPDIR/in2"
	run q "SELECT count(*), count(DISTINCT id), min(id), max(id), count(only_1) + count(only_2) FROM \"$T\""
	# The 100 shared ids keep the column of each load.
	assert_output "500|500|100000|100499|600"
}

@test "kill -INT in the middle of a load leaves the table as it was" {
	pg
	interrupted_load INT 130
}

@test "kill -9 in the middle of a load leaves the table as it was" {
	pg
	interrupted_load 9 137
}

@test "no N+1: the number of statements does not grow with the rows" {
	pg
	gen-successapp -n 2000 --seed 4 | sa-explode >"$BATS_TEST_TMPDIR/big"
	head -n 10 "$BATS_TEST_TMPDIR/big" >"$BATS_TEST_TMPDIR/small"
	for mode in append upsert; do
		q "DROP TABLE IF EXISTS \"$T\""
		small=$(statements -k id --mode $mode "$T" "$BATS_TEST_TMPDIR/small")
		q "DROP TABLE \"$T\""
		big=$(statements -k id --mode $mode "$T" "$BATS_TEST_TMPDIR/big")
		echo "$mode: $small statements for 10 rows, $big for 2000"
		[ "$small" -gt 0 ]
		[ "$small" -eq "$big" ]
	done
	# Into a table that has rows: ON CONFLICT.
	small=$(statements -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/small")
	big=$(statements -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/big")
	[ "$small" -eq "$big" ]
}

@test "--stats adds the JSON line with inserted and updated" {
	pg
	run --separate-stderr sa-load --stats -k id --mode upsert "$T" "$F/upsert.ndjson"
	assert_success
	run jq -c '[.prog, .records_in, .records_out, .inserted, .updated]' <<<"${stderr_lines[1]}"
	assert_output '["sa-load",5,3,3,0]'
}

@test "--quiet prints nothing on success" {
	pg
	run --separate-stderr sa-load --quiet "$T" "$F/names.ndjson"
	assert_success
	assert_equal "$stderr" ""
	assert_output ""
}

@test "memory stays bounded: peak RSS does not follow the input size" {
	pg
	skip_if_sanitizers
	gen-successapp -n 20000 --seed 6 | sa-explode >"$BATS_TEST_TMPDIR/in"
	rss=$(peak_rss_kb /dev/null sa-load --quiet "$T" "$BATS_TEST_TMPDIR/in")
	echo "peak RSS $rss KiB for $(stat -c %s "$BATS_TEST_TMPDIR/in") bytes, $(nproc) threads" >&3
	[ "$rss" -lt 32768 ]
	# A thread costs at most 4 MiB, with --rejects (which keeps each
	# record's JSON until its row is in) or without.
	for r in "" "--rejects=$BATS_TEST_TMPDIR/rej"; do
		q "DROP TABLE \"$T\""
		one=$(peak_rss_kb /dev/null sa-load --quiet --threads 1 $r "$T" "$BATS_TEST_TMPDIR/in")
		q "DROP TABLE \"$T\""
		four=$(peak_rss_kb /dev/null sa-load --quiet --threads 4 $r "$T" "$BATS_TEST_TMPDIR/in")
		echo "peak RSS $one KiB with 1 thread, $four KiB with 4" >&3
		[ "$four" -lt $((one + 4 * 4096)) ]
	done
}

# Faults.

# fault_mid_load COMMAND: COMMAND runs while a load into base_table sends
# its rows; the load exits 69 and the table is as it was.
fault_mid_load() {
	base_table
	fifo_load
	numbered 11000 >&7
	wait_for_copy
	"$@"
	numbered 20000 >&7 2>/dev/null || true
	end_load 69
	run q "SELECT id FROM \"$T\" ORDER BY id"
	assert_output - <<-'EOF'
	1
	2
	EOF
}

# Restarts the test's own server (own_server): a restart of the shared
# one would break the suites running beside this one.
restart_server() {
	# The server started again must not hold the test's descriptors:
	# bats waits for them to close.
	(
		for fd in $(ls /proc/$BASHPID/fd); do
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		as_owner "$PGBIN/pg_ctl" -D "$OWN/data" -l "$OWN/log" -w \
		    -m fast restart
	) </dev/null >/dev/null 2>&1
}

# Terminates only the backend loading this test's table: the suites
# running beside this one load through the same server.
terminate_load() {
	q "SELECT count(pg_terminate_backend(l.pid)) $(load_backends)" >/dev/null
}

@test "a PostgreSQL restart in the middle of a load: 69, the table as it was" {
	pg
	own_server "$BATS_TEST_TMPDIR/own"
	pg
	fault_mid_load restart_server
	own_server_stop
}

@test "the load's backend terminated in the middle of a load: 69, the table as it was" {
	pg
	fault_mid_load terminate_load
}

@test "kill -9 at random points: no temporary file, the table as it was or whole" {
	pg
	base_table
	numbered 200000 >"$BATS_TEST_TMPDIR/in"
	mkdir "$BATS_TEST_TMPDIR/tmp"
	for i in 1 2 3 4 5 6; do
		# A mid-stream change: the rows sent so far are spooled.
		[ "$i" -eq 4 ] && echo '{"id": 0, "v": 1.5, "late": true}' >>"$BATS_TEST_TMPDIR/in"
		before=$(q "SELECT count(*) FROM \"$T\"")
		TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-load --quiet --rejects "$BATS_TEST_TMPDIR/r" \
			"$T" "$BATS_TEST_TMPDIR/in" &
		sleep "0.$((RANDOM % 10))"
		kill -9 $! 2>/dev/null || true
		wait $! || true
		wait_for_no_backend
		run ls -A "$BATS_TEST_TMPDIR/tmp"
		assert_output ""
		after=$(q "SELECT count(*) FROM \"$T\"")
		echo "run $i: $before rows, then $after" >&3
		[[ "$after" -eq "$before" || "$after" -eq $((before + $(wc -l <"$BATS_TEST_TMPDIR/in"))) ]]
	done
}

@test "a change mid-stream with --rejects: rows refused before it are not sent or rejected again" {
	pg
	q "CREATE TABLE \"$T\" (id bigint, v text CHECK (v <> 'a500'))"
	{ numbered 11000; echo '{"id": 11001, "v": "x", "late": 1}'; } >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --rejects "$BATS_TEST_TMPDIR/r" "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_summary "${stderr_lines[1]}" "$T: 11001 rows read, 11000 inserted, 0 updated, 1 rejected"
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/r"
	assert_output '[500,"{\"id\":500,\"v\":\"a500\"}"]'
	run q "SELECT count(*), count(DISTINCT id), count(late) FROM \"$T\""
	assert_output "11000|11000|1"
}

@test "two upserts of overlapping keys into a table with rows, at once: both succeed, one row of one load per key" {
	pg
	seq 1 3000 | awk '{ printf "{\"id\": %d, \"v\": \"o\", \"w\": \"o\"}\n", $1 }' >"$BATS_TEST_TMPDIR/old"
	sa-load --quiet -k id "$T" "$BATS_TEST_TMPDIR/old"
	seq 3000 -1 1 | awk '{ printf "{\"id\": %d, \"v\": \"a\", \"w\": \"a\"}\n", $1 }' >"$BATS_TEST_TMPDIR/a"
	seq 1500 4500 | shuf --random-source=<(yes) |
		awk '{ printf "{\"id\": %d, \"v\": \"b\", \"w\": \"b\"}\n", $1 }' >"$BATS_TEST_TMPDIR/b"
	for _ in 1 2 3; do
		upserts_at_once "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	done
	run q "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE v <> w OR v NOT IN ('a', 'b')),
	       count(*) FILTER (WHERE id < 1500 AND v <> 'a'), count(*) FILTER (WHERE id > 3000 AND v <> 'b')
	       FROM \"$T\""
	assert_output "4500|4500|0|0|0"
}

# Security.

@test "names with quotes, semicolons, backslashes and \$\$ never change the SQL" {
	pg
	q "CREATE TABLE \"${T}b\" (x int)"
	name="$T\"; DROP TABLE \"${T}b\"; -- '\\ \$\$ \$x\$"
	cols=('k"; DROP TABLE x; --' "c;d" 'e\f' '$$g$$' "h'i" '\"' 'k $1')
	jq -nc --args '$ARGS.positional as $c | range(1; 4) as $i
		| [$c[] as $n | {key: $n, value: ($n + ($i | tostring))}] | from_entries
		| .[$c[0]] = $i' "${cols[@]}" >"$BATS_TEST_TMPDIR/in"
	for mode in append upsert replace; do
		sa-load --quiet -k "${cols[0]}" --mode $mode --inserted-at 'at"$$;' \
			"$name" "$BATS_TEST_TMPDIR/in"
	done
	run psql -XAtq -v ON_ERROR_STOP=1 -v n="$name" <<-'EOF'
	SELECT string_agg(attname, '|' ORDER BY attnum) FROM pg_attribute
	WHERE attrelid = (SELECT oid FROM pg_class WHERE relname = :'n')
	AND attnum > 0 AND NOT attisdropped;
	SELECT format('SELECT sum(%I), min(%I), max(%I), count(%I) FROM %I',
	    'k"; DROP TABLE x; --', '$$g$$', '$$g$$', 'at"$$;', :'n') \gexec
	EOF
	assert_output - <<-EOF
	$(IFS='|'; echo "${cols[*]}")|at"\$\$;
	6|\$\$g\$\$1|\$\$g\$\$3|3
	EOF
	# Nothing else happened.
	run q "SELECT count(*) FROM \"${T}b\""
	assert_output 0
	run q "SELECT string_agg(relname, '|' ORDER BY relname) FROM pg_class
	    WHERE relname LIKE '%DROP%' OR relname = 'x'"
	assert_output "$name|${name:0:58}_pkey"
}

@test "--rejects is created 0600, and never through a symbolic link placed before" {
	pg
	printf '%s\n' '{"id": 1}' '{"id": ' >"$BATS_TEST_TMPDIR/in"
	(umask 022 && sa-load --quiet --rejects "$BATS_TEST_TMPDIR/r" "$T" "$BATS_TEST_TMPDIR/in")
	run stat -c %a "$BATS_TEST_TMPDIR/r"
	assert_output 600
	echo precious >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$BATS_TEST_TMPDIR/link"
	run --separate-stderr sa-load --rejects "$BATS_TEST_TMPDIR/link" "${T}b" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 73 ]
	assert_equal "$stderr" "sa-load: $BATS_TEST_TMPDIR/link: a symbolic link, not followed"
	run cat "$BATS_TEST_TMPDIR/target"
	assert_output precious
	run q "SELECT to_regclass('\"${T}b\"') IS NULL"
	assert_output t
}
