#!/usr/bin/env bats
# sa-load --mode replace-keys: the rows of the keys in scope are deleted
# and the input's rows inserted, in one transaction.
load helpers/common
load helpers/load
bats_require_minimum_version 1.5.0

# The rows of table $T as "id|idx|v" lines, in order.
rows() {
	q "SELECT id, idx, v FROM \"$T\" ORDER BY id, idx"
}

# The summary line without its timing.
summary() {
	sed -E 's/, [0-9.]+ s, [0-9]+ rows\/s.*//'
}

# Table $T of child rows: account 1 has three, 2 has one, 3 has two.
children() {
	cat > "$BATS_TEST_TMPDIR/day1.ndjson" <<-EOF
	{"id": 1, "idx": 0, "v": "a"}
	{"id": 1, "idx": 1, "v": "b"}
	{"id": 1, "idx": 2, "v": "c"}
	{"id": 2, "idx": 0, "v": "d"}
	{"id": 3, "idx": 0, "v": "e"}
	{"id": 3, "idx": 1, "v": "f"}
	EOF
	sa-load --quiet --mode replace-keys --scope-key id -k id,idx "$T" \
	    "$BATS_TEST_TMPDIR/day1.ndjson"
}

@test "--help shows --scope-key and --scope" {
	run sa-load --help
	assert_success
	assert_line "      --mode MODE         append (default), upsert, replace or replace-keys"
	assert_line "      --scope-key COL[=FIELD][,...]"
	assert_line "      --scope FILE        replace-keys: the keys in scope, from FILE"
}

@test "usage errors of replace-keys exit 64" {
	run --separate-stderr sa-load --mode replace-keys t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --mode replace-keys needs --scope-key"
	run --separate-stderr sa-load --scope-key id t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key and --scope need --mode replace-keys"
	run --separate-stderr sa-load --mode upsert -k id --scope s.ndjson t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key and --scope need --mode replace-keys"
	run --separate-stderr sa-load --mode replace-keys --scope-key id,,x t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key: empty item in 'id,,x'"
	run --separate-stderr sa-load --mode replace-keys --scope-key id= --scope s t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key: empty name in 'id='"
	run --separate-stderr sa-load --mode replace-keys --scope-key id,id t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key: column 'id' given twice"
	run --separate-stderr sa-load --mode replace-keys --scope-key id=account_id t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope-key id=account_id: FIELD names a field of --scope, which is not given"
	run --separate-stderr sa-load --mode replace-keys --scope-key id --scope - t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --scope and the rows cannot both be read from stdin"
	run --separate-stderr sa-load --mode replace-keys --scope-key at --inserted-at at t
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-load: --inserted-at at cannot be a scope key"
}

@test "without --scope the input's keys are the scope: their rows are replaced, the others stay" {
	pg rk
	children
	# Account 1 shrinks to one row, 2 grows to two, 3 is not in the input.
	printf '%s\n' '{"id": 1, "idx": 0, "v": "A"}' \
	    '{"id": 2, "idx": 0, "v": "D"}' '{"id": 2, "idx": 1, "v": "G"}' \
	    > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --mode replace-keys --scope-key id "$T" \
	    < "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 3 rows read, 4 deleted, 3 inserted, 0 updated"
	run rows
	assert_output "1|0|A
2|0|D
2|1|G
3|0|e
3|1|f"
}

@test "--scope: a key in scope without rows loses its rows; COL=FIELD names the scope's field" {
	pg rk
	children
	# Account 1's array became empty: it is in the scope, not in the rows.
	printf '%s\n' '{"account_id": 1}' '{"account_id": 2}' > "$BATS_TEST_TMPDIR/scope"
	echo '{"id": 2, "idx": 0, "v": "D"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --mode replace-keys --scope-key id=account_id \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 1 rows read, 4 deleted, 1 inserted, 0 updated"
	run rows
	assert_output "2|0|D
3|0|e
3|1|f"
}

@test "an empty input with a scope deletes the scope's rows" {
	pg rk
	children
	echo '{"id": 3}' > "$BATS_TEST_TMPDIR/scope"
	run --separate-stderr sa-load --mode replace-keys --scope-key id \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" /dev/null
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 0 rows read, 2 deleted, 0 inserted, 0 updated"
	run rows
	assert_output "1|0|a
1|1|b
1|2|c
2|0|d"
}

@test "a table that does not exist: an empty input creates nothing, rows create it" {
	pg rk
	echo '{"id": 1}' > "$BATS_TEST_TMPDIR/scope"
	run --separate-stderr sa-load --mode replace-keys --scope-key id \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" /dev/null
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 0 rows read, 0 deleted, 0 inserted, 0 updated"
	run q "SELECT to_regclass('\"$T\"') IS NULL"
	assert_output t
	echo '{"id": 1, "idx": 0, "v": "a"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --mode replace-keys --scope-key id \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 1 rows read, 0 deleted, 1 inserted, 0 updated"
	run rows
	assert_output "1|0|a"
}

@test "a table without the scope-key column, and nothing to add it, exits 64" {
	pg rk
	children
	echo '{"account": 1}' > "$BATS_TEST_TMPDIR/scope"
	run --separate-stderr sa-load --mode replace-keys --scope-key account \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" /dev/null
	[ "$status" -eq 64 ]
	assert_equal "$stderr" "sa-load: $T: no column \"account\" for --scope-key"
	run q "SELECT count(*) FROM \"$T\""
	assert_output 6
}

@test "a scope from TSV, with two key columns" {
	pg rk
	children
	printf 'id\tidx\n1\t1\n3\t0\n' > "$BATS_TEST_TMPDIR/scope.tsv"
	run --separate-stderr sa-load --mode replace-keys --scope-key id,idx \
	    --scope "$BATS_TEST_TMPDIR/scope.tsv" "$T" /dev/null
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 0 rows read, 2 deleted, 0 inserted, 0 updated"
	run rows
	assert_output "1|0|a
1|2|c
2|0|d
3|1|f"
}

@test "a scope larger than sa-load's memory is staged, never held" {
	pg rk
	# 4 000 000 keys, 31 MB of TSV; ids 0 and 4 000 001 stay out.
	{ echo id; seq 1 4000000; } > "$BATS_TEST_TMPDIR/scope.tsv"
	printf '%s\n' '{"id": 0, "idx": 0, "v": "out"}' '{"id": 7, "idx": 0, "v": "in"}' \
	    '{"id": 3999999, "idx": 0, "v": "in"}' '{"id": 4000001, "idx": 0, "v": "out"}' |
	    sa-load --quiet "$T"
	echo '{"id": 7, "idx": 1, "v": "new"}' > "$BATS_TEST_TMPDIR/in"
	# The same load with a scope of one key: what this libpq and
	# connection cost (TLS over TCP alone is 3 MiB), without any key.
	{ echo id; echo 4000002; } > "$BATS_TEST_TMPDIR/one.tsv"
	base=$(peak_rss_kb /dev/null sa-load --quiet --threads 2 --mode replace-keys \
	    --scope-key id --scope "$BATS_TEST_TMPDIR/one.tsv" "$T" "$BATS_TEST_TMPDIR/in")
	rss=$(peak_rss_kb /dev/null sa-load --quiet --threads 2 --mode replace-keys \
	    --scope-key id --scope "$BATS_TEST_TMPDIR/scope.tsv" "$T" "$BATS_TEST_TMPDIR/in")
	run rows
	assert_output "0|0|out
7|1|new
4000001|0|out"
	echo "peak RSS $rss KiB for $(stat -c %s "$BATS_TEST_TMPDIR/scope.tsv") bytes of scope, $base KiB for one key" >&3
	# At most the 4 MiB of each thread more: 4 000 000 keys held would
	# be 32 MB at the least.
	if [ -z "${SA_SANITIZERS:-}" ]; then
		[ "$rss" -lt $((base + 2 * 4096)) ]
	fi
}

@test "--dry-run shows the plan: the keys, the rows they name, the DELETE; nothing changes" {
	pg rk
	children
	printf '%s\n' '{"id": 1}' '{"id": 1}' '{"id": 9}' > "$BATS_TEST_TMPDIR/scope"
	echo '{"id": 1, "idx": 0, "v": "A", "w": 5}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --dry-run --mode replace-keys --scope-key id \
	    --scope "$BATS_TEST_TMPDIR/scope" "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "ALTER TABLE \"$T\"
    ADD COLUMN IF NOT EXISTS \"w\" bigint;
-- replace-keys: 2 keys in scope; delete 3 rows, insert 1 rows
DELETE FROM \"$T\" t
    WHERE EXISTS (SELECT FROM pg_temp.sa_load_scope s WHERE t.\"id\" = s.\"id\");"
	run q "SELECT count(*) FROM \"$T\""
	assert_output 6
}

@test "a row without its scope key is bad input; with --rejects it goes there" {
	pg rk
	children
	printf '%s\n' '{"id": 1, "idx": 0, "v": "A"}' '{"idx": 5, "v": "lost"}' \
	    '{"id": null, "idx": 6}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --mode replace-keys --scope-key id "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $BATS_TEST_TMPDIR/in:2: scope key \"id\" is missing"
	run q "SELECT count(*) FROM \"$T\""
	assert_output 6
	run --separate-stderr sa-load --rejects "$BATS_TEST_TMPDIR/rej" --mode replace-keys \
	    --scope-key id "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output '[2,"scope key \"id\" is missing"]
[3,"scope key \"id\" is null"]'
	run rows
	assert_output "1|0|A
2|0|d
3|0|e
3|1|f"
}

@test "a load that fails after the DELETE leaves the old rows" {
	pg rk
	children
	# Two rows of one primary key: the server refuses the second.
	printf '%s\n' '{"id": 1, "idx": 0, "v": "A"}' '{"id": 1, "idx": 0, "v": "B"}' \
	    > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --mode replace-keys --scope-key id "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "${stderr_lines[0]}" "sa-load: $BATS_TEST_TMPDIR/in:2: duplicate key value violates unique constraint \"${T}_pkey\" (Key (id, idx)=(1, 0) already exists.)"
	run rows
	assert_output "1|0|a
1|1|b
1|2|c
2|0|d
3|0|e
3|1|f"
}

@test "no statement per key: 10 keys or 5000 take the same statements" {
	pg rk
	children
	seq 1 10 | sed 's/.*/{"id": &, "idx": 0, "v": "x"}/' > "$BATS_TEST_TMPDIR/few"
	seq 1 5000 | sed 's/.*/{"id": &, "idx": 0, "v": "x"}/' > "$BATS_TEST_TMPDIR/many"
	few=$(statements --mode replace-keys --scope-key id "$T" "$BATS_TEST_TMPDIR/few")
	many=$(statements --mode replace-keys --scope-key id "$T" "$BATS_TEST_TMPDIR/many")
	[ "$few" -gt 0 ]
	assert_equal "$many" "$few"
	run q "SELECT count(*), count(DISTINCT id) FROM \"$T\""
	assert_output "5000|5000"
}

@test "a table replace-keys makes gets its key after the rows; a key that repeats late is refused at its line" {
	pg rk
	# 30000 rows, then id 7 again past the first rows that make the table.
	awk 'BEGIN { for (i = 1; i <= 30000; i++)
		printf "{\"id\": %d, \"idx\": 0, \"v\": \"r%d\"}\n", i, i
		print "{\"id\": 7, \"idx\": 0, \"v\": \"again\"}" }' > "$BATS_TEST_TMPDIR/in"
	head -n 30000 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/once"
	run --separate-stderr sa-load --mode replace-keys --scope-key id -k id,idx "$T" "$BATS_TEST_TMPDIR/once"
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 30000 rows read, 0 deleted, 30000 inserted, 0 updated"
	run q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '\"$T\"'::regclass"
	assert_output 'PRIMARY KEY (id, idx)'
	q "DROP TABLE \"$T\""
	run --separate-stderr sa-load --mode replace-keys --scope-key id -k id,idx "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $BATS_TEST_TMPDIR/in:30001: duplicate key value violates unique constraint \"${T}_pkey\" (Key (id, idx)=(7, 0) already exists.)"
	run q "SELECT to_regclass('\"$T\"') IS NULL"
	assert_output t
	run --separate-stderr sa-load --mode replace-keys --scope-key id -k id,idx \
	    --rejects "$BATS_TEST_TMPDIR/rej" "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(summary <<<"$stderr")" "sa-load: $T: 30001 rows read, 0 deleted, 30000 inserted, 0 updated, 1 rejected"
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output "[30001,\"duplicate key value violates unique constraint \\\"${T}_pkey\\\"\"]"
	run q "SELECT count(*), min(v), pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conrelid = '\"$T\"'::regclass)) FROM \"$T\" WHERE id = 7"
	assert_output '1|r7|PRIMARY KEY (id, idx)'
}
