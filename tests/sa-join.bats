#!/usr/bin/env bats
load helpers/common
bats_require_minimum_version 1.5.0

F="$SA_SRCDIR/tests/fixtures/sa-join"

psql_() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Loads LEFT and RIGHT (TSV files) into PostgreSQL as text columns.
pg_load() {
	psql_ -c "drop table if exists l, r" \
	    -c "create table l (id text, name text, v text)" \
	    -c "create table r (id text, name text, w text)"
	psql_ -c "\\copy l from '$1' (format text, header)"
	psql_ -c "\\copy r from '$2' (format text, header)"
}

# The same join computed by PostgreSQL, as sorted COPY rows.
pg_join() {
	psql_ -c "\\copy (select id, l.name, l.v, r.name as name_right, r.w
	    from l $1 join r using (id)) to stdout" | LC_ALL=C sort
}

# Our rows as sorted COPY rows (without the header).
sa_rows() {
	sa-join -t "$@" | tail -n +2 | LC_ALL=C sort
}

gen_right() {
	awk -v n="$1" 'BEGIN { srand(21); for (i = 1; i <= n; i++) {
	    k = rand() < 0.01 ? "\\N" : int(rand() * n * 0.7)
	    printf "%s%s\tr%d\tw%d\n", i == 1 ? "id\tname\tw\n" : "", k, i, i % 7 } }'
}

gen_left() {
	awk -v n="$1" 'BEGIN { srand(22); for (i = 1; i <= n; i++) {
	    k = rand() < 0.01 ? "\\N" : int(rand() * n * 0.7)
	    printf "%s%s\tl%d\t%d\n", i == 1 ? "id\tname\tv\n" : "", k, i, i } }'
}

@test "inner, left, right and full joins of NDJSON: exact output" {
	for t in inner left right full; do
		run --separate-stderr sa-join -k id --type $t "$F/right.ndjson" "$F/left.ndjson"
		assert_success
		assert_output "$(cat "$F/$t.expected")"
		assert_equal "$stderr" ""
	done
}

@test "all four join types equal PostgreSQL's: NULL keys, duplicates on both sides, clashing names" {
	require_pg
	pg_load "$F/left.tsv" "$F/right.tsv"
	for t in inner left right full; do
		pg_join $t >"$BATS_TEST_TMPDIR/pg"
		sa_rows -k id --type $t "$F/right.tsv" "$F/left.tsv" >"$BATS_TEST_TMPDIR/tsv"
		sa_rows -k id --type $t "$F/right.ndjson" "$F/left.ndjson" >"$BATS_TEST_TMPDIR/json"
		[ -s "$BATS_TEST_TMPDIR/pg" ]
		diff -u "$BATS_TEST_TMPDIR/pg" "$BATS_TEST_TMPDIR/tsv"
		diff -u "$BATS_TEST_TMPDIR/pg" "$BATS_TEST_TMPDIR/json"
	done
}

@test "spilling joins (-m 1M) equal PostgreSQL's on generated data" {
	require_pg
	gen_left 80000 >"$BATS_TEST_TMPDIR/left.tsv"
	gen_right 60000 >"$BATS_TEST_TMPDIR/right.tsv"
	pg_load "$BATS_TEST_TMPDIR/left.tsv" "$BATS_TEST_TMPDIR/right.tsv"
	for t in inner left right full; do
		pg_join $t >"$BATS_TEST_TMPDIR/pg"
		sa_rows -k id --type $t -m 1M "$BATS_TEST_TMPDIR/right.tsv" \
		    "$BATS_TEST_TMPDIR/left.tsv" >"$BATS_TEST_TMPDIR/sa"
		cmp "$BATS_TEST_TMPDIR/pg" "$BATS_TEST_TMPDIR/sa"
	done
}

@test "TSV in, TSV out: left columns, then right ones without the key, clashes suffixed" {
	run sa-join -k id "$F/right.tsv" "$F/left.tsv"
	assert_success
	assert_line --index 0 "$(printf 'id\tname\tv\tname_right\tw')"
	assert_line --index 1 "$(printf '1\ta\t10\tR1\ty')"
	assert_equal "${#lines[@]}" 6
}

@test "a TSV input with a header and no rows still names its columns" {
	printf 'id\tname\tw\n' >"$BATS_TEST_TMPDIR/r.tsv"
	run sa-join -k id --type left "$BATS_TEST_TMPDIR/r.tsv" "$F/left.tsv"
	assert_success
	assert_line --index 0 "$(printf 'id\tname\tv\tname_right\tw')"
	assert_line --index 1 "$(printf '1\ta\t10\t\\N\t\\N')"
	run sa-join --sorted -k id --type full "$BATS_TEST_TMPDIR/r.tsv" "$BATS_TEST_TMPDIR/r.tsv"
	assert_success
	assert_output "$(printf 'id\tname\tw\tname_right\tw_right')"
}

@test "a suffixed name that the left side has too is suffixed again" {
	echo '{"id":1,"name":"L","name_right":"LR"}' >"$BATS_TEST_TMPDIR/l"
	echo '{"id":1,"name":"R"}' >"$BATS_TEST_TMPDIR/r"
	run --separate-stderr sa-join -k id "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output '{"id":1,"name":"L","name_right":"LR","name_right_right":"R"}'
	printf 'id\tname\tname_right\n1\tL\tLR\n' >"$BATS_TEST_TMPDIR/l.tsv"
	printf 'id\tname\n1\tR\n' >"$BATS_TEST_TMPDIR/r.tsv"
	run --separate-stderr sa-join -k id "$BATS_TEST_TMPDIR/r.tsv" "$BATS_TEST_TMPDIR/l.tsv"
	assert_success
	assert_output $'id\tname\tname_right\tname_right_right\n1\tL\tLR\tR'
}

@test "--suffix, -k LEFT=RIGHT, LEFT from standard input, -j" {
	printf '%s\n' '{"rid":2,"name":"two","x":true}' '{"rid":9,"name":"nine","x":false}' \
	    >"$BATS_TEST_TMPDIR/r"
	run sh -c "sa-join -k id=rid --suffix _r --type right -j '$BATS_TEST_TMPDIR/r' <'$F/left.tsv'"
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"id":"2","name":"b","v":"20","name_r":"two","x":true}' \
	    '{"id":"2","name":"b2","v":"21","name_r":"two","x":true}' \
	    '{"id":9,"name":null,"v":null,"name_r":"nine","x":false}')"
}

@test "several key columns" {
	printf '%s\n' '{"a":1,"b":"x","l":1}' '{"a":1,"b":"y","l":2}' >"$BATS_TEST_TMPDIR/l"
	printf '%s\n' '{"a":"1","b":"y","r":1}' '{"a":1,"b":"z","r":2}' >"$BATS_TEST_TMPDIR/r"
	run sa-join -k a,b "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output '{"a":1,"b":"y","l":2,"r":1}'
}

@test "--right-columns: inner, left and full joins keep only the right columns named" {
	local inner
	inner=$(printf '%s\n' \
	    '{"id":1,"name":"a","v":10,"w":"y"}' \
	    '{"id":2,"name":"b","v":20,"w":"x"}' \
	    '{"id":2,"name":"b","v":20,"w":"z"}' \
	    '{"id":2,"name":"b2","v":21,"w":"x"}' \
	    '{"id":2,"name":"b2","v":21,"w":"z"}')
	run --separate-stderr sa-join -k id --right-columns w "$F/right.ndjson" "$F/left.ndjson"
	assert_success
	assert_output "$inner"
	assert_equal "$stderr" ""
	run --separate-stderr sa-join -k id --type left --right-columns w \
	    "$F/right.ndjson" "$F/left.ndjson"
	assert_success
	assert_output "$inner
$(printf '%s\n' \
	    '{"id":null,"name":"n","v":0,"w":null}' \
	    '{"id":4,"name":"d","v":40,"w":null}' \
	    '{"id":"01","name":"z","v":5,"w":null}' \
	    '{"name":"nokey","v":50,"w":null}')"
	# A right-only row still carries its key in the left key column.
	run --separate-stderr sa-join -k id --type full --right-columns name \
	    "$F/right.ndjson" "$F/left.ndjson"
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"id":1,"name":"a","v":10,"name_right":"R1"}' \
	    '{"id":2,"name":"b","v":20,"name_right":"R2"}' \
	    '{"id":2,"name":"b","v":20,"name_right":"R2b"}' \
	    '{"id":2,"name":"b2","v":21,"name_right":"R2"}' \
	    '{"id":2,"name":"b2","v":21,"name_right":"R2b"}' \
	    '{"id":null,"name":"n","v":0,"name_right":null}' \
	    '{"id":4,"name":"d","v":40,"name_right":null}' \
	    '{"id":"01","name":"z","v":5,"name_right":null}' \
	    '{"name":"nokey","v":50,"name_right":null}' \
	    '{"id":3,"name":null,"v":null,"name_right":"R3"}' \
	    '{"id":null,"name":null,"v":null,"name_right":"Rn"}' \
	    '{"id":3,"name":null,"v":null,"name_right":"R3b"}')"
	# The key under another name on the right is still the key.
	printf '%s\n' '{"rid":2,"name":"two","x":true}' '{"rid":9,"name":"nine","x":false}' \
	    >"$BATS_TEST_TMPDIR/r"
	run --separate-stderr sa-join -k id=rid --type right --right-columns x -j \
	    "$BATS_TEST_TMPDIR/r" "$F/left.tsv"
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"id":"2","name":"b","v":"20","x":true}' \
	    '{"id":"2","name":"b2","v":"21","x":true}' \
	    '{"id":9,"name":null,"v":null,"x":false}')"
}

@test "--right-columns: GLOBs, repeated, and a name that no right column has" {
	printf '%s\n' '{"id":1,"owner_id":7,"owner_name":"o","note":"long","zip":"01"}' \
	    '{"id":2,"owner_id":8,"note":"longer","zip":"02","late":true}' >"$BATS_TEST_TMPDIR/r"
	printf '%s\n' '{"id":1}' '{"id":2}' '{"id":3}' >"$BATS_TEST_TMPDIR/l"
	run --separate-stderr sa-join -k id --type left --right-columns 'owner_*,la[st]e' \
	    --right-columns 'zi?,missing' "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"id":1,"owner_id":7,"owner_name":"o","zip":"01"}' \
	    '{"id":2,"owner_id":8,"zip":"02","late":true}' \
	    '{"id":3,"owner_id":null,"owner_name":null,"zip":null}')"
	assert_equal "$stderr" ""
	# A backslash quotes, as in sa-explode --drop: \* is a star.
	printf '%s\n' '{"id":1,"a*":1,"ab":2}' >"$BATS_TEST_TMPDIR/r"
	run sa-join -k id --right-columns 'a\*' "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output '{"id":1,"a*":1}'
	# Naming no right column at all leaves only the left ones.
	run sa-join -k id --right-columns nothing "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output '{"id":1}'
	assert_empty_item sa-join --right-columns 'a,,b' -k id "$BATS_TEST_TMPDIR/r"
}

@test "--right-columns: the TSV header, TSV inputs or JSON ones (-t)" {
	run sa-join -k id --type full --right-columns w "$F/right.tsv" "$F/left.tsv"
	assert_success
	assert_line --index 0 "$(printf 'id\tname\tv\tw')"
	assert_equal "${#lines[@]}" 13
	assert_line --index 1 "$(printf '1\ta\t10\ty')"
	assert_line --index 10 "$(printf '3\t\\N\t\\N\tq')"
	run sa-join -t -k id --type full --right-columns 'n*' "$F/right.ndjson" "$F/left.ndjson"
	assert_success
	assert_line --index 0 "$(printf 'id\tname\tv\tname_right')"
	assert_line --index 1 "$(printf '1\ta\t10\tR1')"
	assert_line --index 12 "$(printf '3\t\\N\t\\N\tR3b')"
	assert_equal "${#lines[@]}" 13
}

@test "--right-columns with --sorted: exact output" {
	printf '%s\n' '{"id":1,"a":"r1","b":1}' '{"id":3,"a":"r3","b":3}' \
	    '{"id":3,"a":"r3b","b":4}' '{"id":5,"a":"r5","b":5}' >"$BATS_TEST_TMPDIR/r"
	printf '%s\n' '{"id":1,"l":1}' '{"id":2,"l":2}' '{"id":3,"l":3}' >"$BATS_TEST_TMPDIR/l"
	run --separate-stderr sa-join --sorted -k id --type full --right-columns b \
	    "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"id":1,"l":1,"b":1}' \
	    '{"id":2,"l":2,"b":null}' \
	    '{"id":3,"l":3,"b":3}' \
	    '{"id":3,"l":3,"b":4}' \
	    '{"id":5,"l":null,"b":5}')"
	# The TSV header of sorted TSV inputs.
	printf 'id\ta\tb\n1\tr1\t1\n3\tr3\t3\n' >"$BATS_TEST_TMPDIR/r.tsv"
	printf 'id\tl\n1\t1\n2\t2\n' >"$BATS_TEST_TMPDIR/l.tsv"
	run --separate-stderr sa-join --sorted -k id --type full --right-columns a \
	    "$BATS_TEST_TMPDIR/r.tsv" "$BATS_TEST_TMPDIR/l.tsv"
	assert_success
	assert_output $'id\tl\ta\n1\t1\tr1\n2\t2\t\\N\n3\t\\N\tr3'
}

@test "--right-columns: the columns left out take no memory (RIGHT fits -m 1M only without them)" {
	awk 'BEGIN { for (i = 1; i <= 1000; i++)
	    printf "{\"id\":%d,\"name\":\"r%d\",\"pad\":\"%01000d\"}\n", i, i, i }' >"$BATS_TEST_TMPDIR/r"
	printf '{"id":%d}\n' 1 500 1000 >"$BATS_TEST_TMPDIR/l"
	# No directory for temporary files: spilling would fail.
	TMPDIR="$BATS_TEST_TMPDIR/none" run --separate-stderr sa-join -k id -m 1M \
	    "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_failure 73
	TMPDIR="$BATS_TEST_TMPDIR/none" run --separate-stderr sa-join -k id -m 1M \
	    --right-columns name "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output "$(printf '%s\n' '{"id":1,"name":"r1"}' '{"id":500,"name":"r500"}' \
	    '{"id":1000,"name":"r1000"}')"
}

# NDJSON sides in $BATS_TEST_TMPDIR/r and /l, too big for -m 1M.
gen_json_sides() {
	awk 'BEGIN { srand(5); for (i = 1; i <= 60000; i++)
	    printf "{\"id\":%s,\"r\":%d,\"name\":\"r%d\"}\n",
	    rand() < 0.01 ? "null" : int(rand() * 40000), i, i }' >"$BATS_TEST_TMPDIR/r"
	awk 'BEGIN { srand(6); for (i = 1; i <= 100000; i++)
	    printf "{\"id\":%d,\"l\":%d,\"name\":\"l%d\"}\n",
	    int(rand() * 50000), i, i }' >"$BATS_TEST_TMPDIR/l"
}

# sa-join ARGS... with -m 1M (spilling) writes what it writes with -m 1G,
# byte for byte; its rows are left in $BATS_TEST_TMPDIR/small.
same_as_in_memory() {
	sa-join -m 1M "$@" >"$BATS_TEST_TMPDIR/small"
	sa-join -m 1G "$@" >"$BATS_TEST_TMPDIR/big"
	cmp "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/big"
}

@test "-m 1M (grace join) and -m 1G give the same output, byte for byte" {
	gen_json_sides
	for t in inner left right full; do
		same_as_in_memory -k id --type $t "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	done
	# A full join has at least a row for every left record.
	[ "$(wc -l <"$BATS_TEST_TMPDIR/small")" -gt 100000 ]
}

@test "--right-columns: the grace join (-m 1M) writes the rows of the join in memory" {
	gen_json_sides
	for t in inner left full; do
		same_as_in_memory -k id --type $t --right-columns r "$BATS_TEST_TMPDIR/r" \
		    "$BATS_TEST_TMPDIR/l"
		# They are the rows of the whole join without the other columns.
		sa-join -k id --type $t "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l" |
		    jq -c 'del(.name_right)' >"$BATS_TEST_TMPDIR/all"
		cmp "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/all"
	done
	[ "$(wc -l <"$BATS_TEST_TMPDIR/small")" -gt 100000 ]
	run grep -c name_right "$BATS_TEST_TMPDIR/small"
	assert_output 0
}

@test "the grace join holds a few descriptors whatever its partitions (ulimit -n 32)" {
	gen_json_sides
	for t in inner full; do
		run --separate-stderr bash -c "ulimit -n 32 && exec sa-join -k id --type $t \
		    -m 1M '$BATS_TEST_TMPDIR/r' '$BATS_TEST_TMPDIR/l' >'$BATS_TEST_TMPDIR/small'"
		assert_success
		assert_equal "$stderr" ""
		sa-join -k id --type $t -m 1G "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l" \
		    >"$BATS_TEST_TMPDIR/big"
		cmp "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/big"
	done
}

# Right rows in $BATS_TEST_TMPDIR/hr, $1 of them, all of key 7 but every
# 10000th; left rows in /hl, 3000 of them, of which 3 of key 7 (at lines
# 1000, 2000 and 3000) and 3 null.
gen_hot_key() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
	    printf "{\"id\":%d,\"r\":%d,\"pad\":\"right record %d\"}\n",
	    i % 10000 == 0 ? i : 7, i, i }' >"$BATS_TEST_TMPDIR/hr"
	awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "{\"id\":%s,\"l\":%d}\n",
	    i % 1000 == 0 ? 7 : i % 500 == 0 ? "null" : i + 1000000, i }' \
	    >"$BATS_TEST_TMPDIR/hl"
}

@test "a key with more right rows than -m holds is joined in blocks: the rows of the join in memory" {
	gen_hot_key 40000
	for t in inner left right full; do
		same_as_in_memory -k id --type $t "$BATS_TEST_TMPDIR/hr" "$BATS_TEST_TMPDIR/hl"
	done
	run wc -l <"$BATS_TEST_TMPDIR/small"
	assert_output $(( 3 * 39996 + 2994 + 3 + 4 ))
	# --max-fanout counts all the rows of the key, not a block's.
	for m in 1M 1G; do
		run --separate-stderr sa-join -k id --max-fanout 100000 -m $m \
		    "$BATS_TEST_TMPDIR/hr" "$BATS_TEST_TMPDIR/hl"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/hl:3000: key id=\"7\" would produce more than 100000 rows (--max-fanout)"
	done
	# --validate 1:m reads each left row once, whatever the blocks.
	sed '2000d;3000d' "$BATS_TEST_TMPDIR/hl" >"$BATS_TEST_TMPDIR/hl1"
	same_as_in_memory -k id --validate 1:m "$BATS_TEST_TMPDIR/hr" "$BATS_TEST_TMPDIR/hl1"
	[ -s "$BATS_TEST_TMPDIR/big" ]
}

@test "memory: one key of 400 000 right rows with -m 16M stays under 32 MB" {
	skip_if_sanitizers
	gen_hot_key 400000
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/small" sa-join -k id --type full -m 16M \
	    "$BATS_TEST_TMPDIR/hr" "$BATS_TEST_TMPDIR/hl")
	sa-join -k id --type full -m 1G "$BATS_TEST_TMPDIR/hr" "$BATS_TEST_TMPDIR/hl" \
	    >"$BATS_TEST_TMPDIR/big"
	cmp "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/big"
	echo "# peak RSS $rss KiB" >&3
	[ "$rss" -le $(( 32 * 1024 )) ]
}

@test "--sorted merge join gives the rows of the hash join" {
	gen_left 5000 | sed 1d | LC_ALL=C sort -t "$(printf '\t')" -k1,1 |
	    sed "1i id\tname\tv" >"$BATS_TEST_TMPDIR/left.tsv"
	gen_right 4000 | sed 1d | LC_ALL=C sort -t "$(printf '\t')" -k1,1 |
	    sed "1i id\tname\tw" >"$BATS_TEST_TMPDIR/right.tsv"
	for t in inner left right full; do
		sa_rows -k id --type $t --sorted "$BATS_TEST_TMPDIR/right.tsv" \
		    "$BATS_TEST_TMPDIR/left.tsv" >"$BATS_TEST_TMPDIR/merge"
		sa_rows -k id --type $t "$BATS_TEST_TMPDIR/right.tsv" \
		    "$BATS_TEST_TMPDIR/left.tsv" >"$BATS_TEST_TMPDIR/hash"
		[ -s "$BATS_TEST_TMPDIR/hash" ]
		cmp "$BATS_TEST_TMPDIR/merge" "$BATS_TEST_TMPDIR/hash"
	done
}

# Sorted inputs in $BATS_TEST_TMPDIR/sr and /sl: $1 right rows of key k5
# between one of k1 and one of k9; left rows k0, null, k1, k5 three times
# and k7.
gen_sorted_hot_key() {
	awk -v n="$1" 'BEGIN { print "{\"id\":\"k1\",\"r\":0}"
	    for (i = 1; i <= n; i++) printf "{\"id\":\"k5\",\"r\":%d,\"pad\":\"%0100d\"}\n", i, i
	    printf "{\"id\":\"k9\",\"r\":%d}\n", n + 1 }' >"$BATS_TEST_TMPDIR/sr"
	printf '{"id":%s,"l":%d}\n' '"k0"' 1 null 2 '"k1"' 3 '"k5"' 4 '"k5"' 5 '"k5"' 6 \
	    '"k7"' 7 >"$BATS_TEST_TMPDIR/sl"
}

@test "--sorted: a group of one key larger than -m is read back from a temporary file" {
	gen_sorted_hot_key 20000
	for t in inner full; do
		sa-join --sorted -k id --type $t -m 1M "$BATS_TEST_TMPDIR/sr" "$BATS_TEST_TMPDIR/sl" |
		    LC_ALL=C sort >"$BATS_TEST_TMPDIR/merge"
		sa-join -k id --type $t "$BATS_TEST_TMPDIR/sr" "$BATS_TEST_TMPDIR/sl" |
		    LC_ALL=C sort >"$BATS_TEST_TMPDIR/hash"
		cmp "$BATS_TEST_TMPDIR/merge" "$BATS_TEST_TMPDIR/hash"
	done
	run wc -l <"$BATS_TEST_TMPDIR/merge"
	assert_output $(( 3 * 20000 + 1 + 4 ))
	run --separate-stderr sa-join --sorted -k id --max-fanout 50000 -m 1M \
	    "$BATS_TEST_TMPDIR/sr" "$BATS_TEST_TMPDIR/sl"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/sl:6: key id=\"k5\" would produce more than 50000 rows (--max-fanout)"
}

@test "memory: --sorted with a group of 400 000 right rows and -m 16M stays under 32 MB" {
	skip_if_sanitizers
	gen_sorted_hot_key 400000
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-join --sorted -k id -m 16M \
	    "$BATS_TEST_TMPDIR/sr" "$BATS_TEST_TMPDIR/sl")
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output $(( 3 * 400000 + 1 ))
	echo "# peak RSS $rss KiB" >&3
	[ "$rss" -le $(( 32 * 1024 )) ]
}

@test "--sorted stops with 65 when an input is not sorted" {
	run --separate-stderr sa-join --sorted -k id "$F/right.tsv" "$F/left.tsv"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $F/right.tsv:3: RIGHT is not sorted by key (id=\"1\" after a greater key)"
}

@test "--validate m:1 stops on a duplicate right key and names it" {
	run --separate-stderr sa-join -k id --validate m:1 "$F/right.tsv" "$F/left.tsv"
	assert_failure 65
	strip_abort sa-join 65
	assert_output ""
	assert_equal "$stderr" "sa-join: $F/right.tsv:4: key id=\"2\" is not unique in RIGHT (--validate m:1)"
}

@test "--validate 1:m stops on a duplicate left key; 1:1 on either" {
	sed '4d' "$F/right.tsv" | sed '/R3b/d' >"$BATS_TEST_TMPDIR/r.tsv"
	run --separate-stderr sa-join -k id --validate 1:m "$F/right.tsv" "$F/left.tsv"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $F/left.tsv:4: key id=\"2\" is not unique in LEFT (--validate 1:m)"
	run --separate-stderr sa-join -k id --validate 1:1 "$BATS_TEST_TMPDIR/r.tsv" "$F/left.tsv"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $F/left.tsv:4: key id=\"2\" is not unique in LEFT (--validate 1:1)"
	run sa-join -k id --validate m:1 "$BATS_TEST_TMPDIR/r.tsv" "$F/left.tsv"
	assert_success
	assert_equal "${#lines[@]}" 4
	# The same checks hold when the join spills.
	gen_left 80000 >"$BATS_TEST_TMPDIR/left.tsv"
	gen_right 60000 >"$BATS_TEST_TMPDIR/right.tsv"
	run --separate-stderr sa-join -k id -m 1M --validate m:1 \
	    "$BATS_TEST_TMPDIR/right.tsv" "$BATS_TEST_TMPDIR/left.tsv"
	assert_failure 65
	[[ "$stderr" == "sa-join: $BATS_TEST_TMPDIR/right.tsv:"*": key id=\""*"\" is not unique in RIGHT (--validate m:1)" ]]
}

@test "--sorted --validate 1:m stops on a repeated left key that matches nothing" {
	printf '{"id":1}\n{"id":5}\n{"id":5}\n' >"$BATS_TEST_TMPDIR/l"
	echo '{"id":1}' >"$BATS_TEST_TMPDIR/r"
	for sorted in "" --sorted; do
		run --separate-stderr sa-join $sorted -k id --validate 1:m "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/l:3: key id=\"5\" is not unique in LEFT (--validate 1:m)"
	done
}

@test "--validate 1:m checks a left side too big for memory" {
	awk 'BEGIN { for (i = 1; i <= 200000; i++) printf "{\"id\":%d}\n", i
	    print "{\"id\":777}" }' >"$BATS_TEST_TMPDIR/l"
	printf '{"id":5,"x":1}\n' >"$BATS_TEST_TMPDIR/r"
	run --separate-stderr sa-join -k id --validate 1:m -m 1M "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/l:200001: key id=\"777\" is not unique in LEFT (--validate 1:m)"
	head -n 200000 "$BATS_TEST_TMPDIR/l" >"$BATS_TEST_TMPDIR/l2"
	run sa-join -k id --validate 1:1 -m 1M "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l2"
	assert_success
	assert_output '{"id":5,"x":1}'
}

@test "--max-fanout stops when one key would give more than N rows" {
	run --separate-stderr sa-join -k id --max-fanout 3 "$F/right.tsv" "$F/left.tsv"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $F/left.tsv:4: key id=\"2\" would produce more than 3 rows (--max-fanout)"
	run sa-join -k id --max-fanout 4 "$F/right.tsv" "$F/left.tsv"
	assert_success
	assert_equal "${#lines[@]}" 6
	awk 'BEGIN { for (i = 0; i < 1000; i++) print "{\"id\":1,\"i\":" i "}" }' >"$BATS_TEST_TMPDIR/many"
	run --separate-stderr sa-join -k id --max-fanout 100000 "$BATS_TEST_TMPDIR/many" "$BATS_TEST_TMPDIR/many"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/many:101: key id=\"1\" would produce more than 100000 rows (--max-fanout)"
}

@test "bad input stops with 65, or goes to --rejects" {
	printf '%s\n' '{"id":1,"x":1}' '{bad' '{"id":2}' >"$BATS_TEST_TMPDIR/l"
	run --separate-stderr sa-join -k id "$F/right.ndjson" "$BATS_TEST_TMPDIR/l"
	assert_failure 65
	assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/l:2: invalid JSON: lexical error: invalid char in json text."
	run --separate-stderr sa-join -k id --rejects "$BATS_TEST_TMPDIR/rej" "$F/right.ndjson" "$BATS_TEST_TMPDIR/l"
	assert_success
	assert_output "$(printf '%s\n' '{"id":1,"x":1,"name":"R1","w":"y"}' \
	    '{"id":2,"name":"R2","w":"x"}' '{"id":2,"name":"R2b","w":"z"}')"
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_output "{\"file\":\"$BATS_TEST_TMPDIR/l\",\"line\":2,\"error\":\"invalid JSON: lexical error: invalid char in json text.\",\"input\":\"{bad\"}"
}

@test "a closed pipe ends the join quietly" {
	run bash -c "sa-join -k id --type full '$F/right.ndjson' '$F/left.ndjson' | head -n 1; echo \${PIPESTATUS[0]}"
	assert_output "$(head -n 1 "$F/full.expected"; echo 0)"
}

@test "usage errors exit 64, an unopenable input 66" {
	run --separate-stderr sa-join "$F/right.tsv"
	assert_failure 64
	run --separate-stderr sa-join -k id --type outer "$F/right.tsv"
	assert_failure 64
	run --separate-stderr sa-join -k id --validate 2:1 "$F/right.tsv"
	assert_failure 64
	run --separate-stderr sa-join -k id --max-fanout 0 "$F/right.tsv"
	assert_failure 64
	run --separate-stderr sa-join -k id a b c
	assert_failure 64
	run --separate-stderr sa-join -k id - -
	assert_failure 64
	# Without one side the join would be wrong: nothing is written.
	for t in left right full; do
		run --separate-stderr sa-join -k id --type $t "$F/none" "$F/left.tsv"
		assert_failure 66
		strip_abort sa-join 66
		assert_output ""
		assert_equal "$stderr" "sa-join: $F/none: No such file or directory"
		run --separate-stderr sa-join -k id --type $t "$F/right.tsv" "$BATS_TEST_TMPDIR"
		assert_failure 66
		strip_abort sa-join 66
		assert_output ""
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR: Is a directory"
	done
}

@test "an empty item in -k (a,,b  ,a  a,  '') or an empty side of = is a usage error" {
	for k in id,,name ,id id, ''; do
		assert_empty_item sa-join -k "$k" "$F/right.tsv" "$F/left.tsv"
	done
	for k in id=,name =id; do
		run --separate-stderr sa-join -k "$k" "$F/right.tsv" "$F/left.tsv"
		assert_failure 64
		assert_equal "$stderr" "sa-join: -k: empty key name in '$k'
Try 'sa-join --help' for more information."
	done
}

@test "--help shows the man page's SYNOPSIS as its usage line" {
	run sa-join --help
	assert_success
	synopsis=$(man_synopsis sa-join.1)
	assert_equal "${lines[0]}" "usage: $synopsis"
}

@test "no temporary file is left, also after SIGINT during a grace join" {
	mkdir "$BATS_TEST_TMPDIR/tmp"
	gen_right 60000 >"$BATS_TEST_TMPDIR/right.tsv"
	gen_left 1000 >"$BATS_TEST_TMPDIR/left.tsv"
	TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-join -k id -m 1M \
	    "$BATS_TEST_TMPDIR/right.tsv" "$BATS_TEST_TMPDIR/left.tsv" >/dev/null
	run ls -A "$BATS_TEST_TMPDIR/tmp"
	assert_output ""

	mkfifo "$BATS_TEST_TMPDIR/fifo"
	TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-join -k id -m 1M \
	    "$BATS_TEST_TMPDIR/right.tsv" "$BATS_TEST_TMPDIR/fifo" >/dev/null &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/fifo"
	head -n 100 "$BATS_TEST_TMPDIR/left.tsv" >&7
	for _ in $(seq 100); do
		ls -l /proc/$pid/fd | grep -q "$BATS_TEST_TMPDIR/tmp/sa-.*(deleted)" && break
		sleep 0.1
	done
	ls -l /proc/$pid/fd | grep -q "$BATS_TEST_TMPDIR/tmp/sa-.*(deleted)"
	kill -INT $pid
	exec 7>&-
	wait $pid || true
	run ls -A "$BATS_TEST_TMPDIR/tmp"
	assert_output ""
}

@test "memory: -m 64M with a larger RIGHT stays under 80 MB" {
	skip_if_sanitizers
	awk 'BEGIN { for (i = 1; i <= 1500000; i++)
	    printf "{\"id\":%d,\"name\":\"right record %d\",\"pad\":\"%064d\"}\n", i, i, i }' \
	    >"$BATS_TEST_TMPDIR/r"
	awk 'BEGIN { for (i = 1; i <= 1500000; i += 3) printf "{\"id\":%d,\"l\":%d}\n", i, i }' \
	    >"$BATS_TEST_TMPDIR/l"
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-join -k id -m 64M \
	    "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/l")
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output 500000
	echo "# peak RSS $rss KiB" >&3
	[ "$rss" -le $(( 80 * 1024 )) ]
}
