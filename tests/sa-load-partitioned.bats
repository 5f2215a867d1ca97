#!/usr/bin/env bats
# sa-load --no-create into declaratively partitioned tables: hash and list
# partitions, and foreign partitions (postgres_fdw) on a second PostgreSQL
# cluster that this suite starts on a unix socket of its own.  Each load
# leaves the rows that the same load leaves in an unpartitioned table.
load helpers/common
load helpers/load
bats_require_minimum_version 1.5.0

# The second cluster listens on no TCP port, only on a socket in $R.
setup_file() {
	[ -n "${PGHOST:-}${PGPORT:-}" ] || return 0
	export R="$BATS_FILE_TMPDIR/remote"
	# The server runs as postgres and must reach its directory.
	[ "$(id -u)" -ne 0 ] || chmod go+x "$BATS_RUN_TMPDIR"
	mkdir "$R"
	[ "$(id -u)" -ne 0 ] || chown postgres "$R"
	as_owner "$PGBIN/initdb" -A trust -U postgres -D "$R/data" >/dev/null
	as_owner "$PGBIN/pg_ctl" -D "$R/data" -l "$R/log" -w -o \
	    "-c listen_addresses= -c unix_socket_directories=$R -p 5432 -c fsync=off" \
	    start >/dev/null
	psql -XAtq -v ON_ERROR_STOP=1 <<-EOF
	CREATE EXTENSION IF NOT EXISTS postgres_fdw;
	DROP SERVER IF EXISTS sa_remote CASCADE;
	CREATE SERVER sa_remote FOREIGN DATA WRAPPER postgres_fdw
	    OPTIONS (host '$R', port '5432', dbname 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER sa_remote
	    OPTIONS (user 'postgres');
	EOF
}

teardown_file() {
	[ -n "${R:-}" ] || return 0
	psql -XAtq -c "DROP SERVER IF EXISTS sa_remote CASCADE" || true
	as_owner "$PGBIN/pg_ctl" -D "$R/data" -m immediate stop >/dev/null
}

# A statement on the second cluster.
rq() {
	PGPASSWORD= psql -XAtq -v ON_ERROR_STOP=1 -h "$R" -p 5432 -U postgres \
	    -d postgres -c "$1"
}

# The summary line without its timing.
summary() {
	sed -E 's/, [0-9.]+ s, [0-9]+ rows\/s.*//'
}

# The rows of table $1 (default $T), in key order.
rows() {
	q "SELECT id, region, name, n FROM \"${1:-$T}\" ORDER BY id"
}

# Each partition of $T and the keys PostgreSQL routed to it.
placed() {
	q "SELECT tableoid::regclass, string_agg(id::text, ',' ORDER BY id)
	   FROM \"$T\" GROUP BY 1 ORDER BY 1"
}

# The input of a first and a second day: on the second, key 2 changes
# twice (the last row wins), 3 is as it was and 7 is new.
days() {
	cat > "$BATS_TEST_TMPDIR/day1" <<-EOF
	{"id": 1, "region": "eu", "name": "a", "n": 10}
	{"id": 2, "region": "us", "name": "b", "n": 20}
	{"id": 3, "region": "eu", "name": "c", "n": 30}
	{"id": 4, "region": "ap", "name": "d", "n": 40}
	{"id": 5, "region": "us", "name": "e", "n": 50}
	{"id": 6, "region": "eu", "name": "f", "n": 60}
	EOF
	cat > "$BATS_TEST_TMPDIR/day2" <<-EOF
	{"id": 2, "region": "us", "name": "B", "n": 21}
	{"id": 3, "region": "eu", "name": "c", "n": 30}
	{"id": 7, "region": "ap", "name": "g", "n": 70}
	{"id": 2, "region": "us", "name": "BB", "n": 22}
	EOF
}

# Table $T hash-partitioned by its key id, in 4 partitions.
hash_table() {
	q "CREATE TABLE \"$T\" (id bigint NOT NULL, region text, name text,
	   n bigint, PRIMARY KEY (id)) PARTITION BY HASH (id)"
	for i in 0 1 2 3; do
		q "CREATE TABLE \"${T}_$i\" PARTITION OF \"$T\"
		   FOR VALUES WITH (MODULUS 4, REMAINDER $i)"
	done
}

# Table $T list-partitioned by region, keyed by (region, id).
list_table() {
	q "CREATE TABLE \"$T\" (id bigint NOT NULL, region text NOT NULL,
	   name text, n bigint, PRIMARY KEY (region, id)) PARTITION BY LIST (region)"
	for r in eu us ap; do
		q "CREATE TABLE \"${T}_$r\" PARTITION OF \"$T\" FOR VALUES IN ('$r')"
	done
}

# Table $T hash-partitioned by id in 2: ${T}_0 here, ${T}_1 a foreign
# table on the second cluster.  No unique index: PostgreSQL allows none.
foreign_table() {
	rq "DROP TABLE IF EXISTS \"r$T\"; CREATE TABLE \"r$T\" (id bigint NOT NULL,
	    region text, name text, n bigint)"
	q "CREATE TABLE \"$T\" (id bigint NOT NULL, region text, name text,
	   n bigint) PARTITION BY HASH (id)"
	q "CREATE TABLE \"${T}_0\" PARTITION OF \"$T\"
	   FOR VALUES WITH (MODULUS 2, REMAINDER 0)"
	q "CREATE FOREIGN TABLE \"${T}_1\" PARTITION OF \"$T\"
	   FOR VALUES WITH (MODULUS 2, REMAINDER 1)
	   SERVER sa_remote OPTIONS (table_name 'r$T')"
}

# Loads FILE... with OPTIONS into $T and into the unpartitioned ${T}b
# (made by sa-load, keyed by -k if given): both succeed and say the same,
# and $T then holds the rows of ${T}b.
same_as_plain() {
	local opts=() part plain
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	run --separate-stderr sa-load --no-create "${opts[@]}" "$T" "$@"
	assert_success
	part=$(summary <<<"$stderr")
	run --separate-stderr sa-load "${opts[@]}" "${T}b" "$@"
	assert_success
	plain=$(summary <<<"$stderr")
	assert_equal "${part//$T:/}" "${plain//${T}b:/}"
	assert_equal "$(rows)" "$(rows "${T}b")"
	echo "$part"
}

@test "append into a hash-partitioned table: PostgreSQL routes the rows" {
	pg pa
	hash_table
	days
	run same_as_plain -- "$BATS_TEST_TMPDIR/day1"
	assert_success
	assert_output "sa-load: $T: 6 rows read, 6 inserted, 0 updated"
	run rows
	assert_output "1|eu|a|10
2|us|b|20
3|eu|c|30
4|ap|d|40
5|us|e|50
6|eu|f|60"
	run placed
	assert_output "${T}_0|1
${T}_1|3,5
${T}_2|2
${T}_3|4,6"
}

@test "upsert into a hash-partitioned table: each key once, the last row winning, counted" {
	pg pu
	hash_table
	days
	run same_as_plain -k id --mode upsert -- "$BATS_TEST_TMPDIR/day1"
	assert_success
	assert_output "sa-load: $T: 6 rows read, 6 inserted, 0 updated"
	run same_as_plain -k id --mode upsert -- "$BATS_TEST_TMPDIR/day2"
	assert_success
	assert_output "sa-load: $T: 4 rows read, 1 inserted, 1 updated"
	run rows
	assert_output "1|eu|a|10
2|us|BB|22
3|eu|c|30
4|ap|d|40
5|us|e|50
6|eu|f|60
7|ap|g|70"
	run placed
	assert_output "${T}_0|1
${T}_1|3,5
${T}_2|2
${T}_3|4,6,7"
}

@test "upsert into an empty hash-partitioned table whose input repeats a key" {
	pg pr
	hash_table
	days
	run same_as_plain -k id --mode upsert -- "$BATS_TEST_TMPDIR/day2"
	assert_success
	assert_output "sa-load: $T: 4 rows read, 3 inserted, 0 updated"
	run rows
	assert_output "2|us|BB|22
3|eu|c|30
7|ap|g|70"
}

@test "upsert, replace and replace-keys into a list-partitioned table keyed by (region, id)" {
	pg pl
	list_table
	days
	run same_as_plain -k region,id --mode upsert -- "$BATS_TEST_TMPDIR/day1"
	assert_success
	run same_as_plain -k region,id --mode upsert -- "$BATS_TEST_TMPDIR/day2"
	assert_success
	assert_output "sa-load: $T: 4 rows read, 1 inserted, 1 updated"
	run placed
	assert_output "${T}_eu|1,3,6
${T}_us|2,5
${T}_ap|4,7"
	# Region us is replaced by its one row of day 3.
	echo '{"id": 8, "region": "us", "name": "h", "n": 80}' > "$BATS_TEST_TMPDIR/day3"
	run same_as_plain -k region,id --mode replace-keys --scope-key region -- \
	    "$BATS_TEST_TMPDIR/day3"
	assert_success
	assert_output "sa-load: $T: 1 rows read, 2 deleted, 1 inserted, 0 updated"
	run placed
	assert_output "${T}_eu|1,3,6
${T}_us|8
${T}_ap|4,7"
	echo '{"id": 9, "region": "eu", "name": "i", "n": 90}' > "$BATS_TEST_TMPDIR/day4"
	run same_as_plain -k region,id --mode replace -- "$BATS_TEST_TMPDIR/day4"
	assert_success
	assert_output "sa-load: $T: 1 rows read, 1 inserted, 0 updated"
	run placed
	assert_output "${T}_eu|9"
}

@test "a row that no partition takes fails the load, which leaves the table as it was" {
	pg pn
	list_table
	days
	sa-load --quiet --no-create "$T" "$BATS_TEST_TMPDIR/day1"
	echo '{"id": 9, "region": "sa", "name": "x", "n": 1}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $BATS_TEST_TMPDIR/in:1: no partition of relation \"$T\" found for row (Partition key of the failing row contains (region) = (sa).)"
	assert_equal "$(q "SELECT count(*) FROM \"$T\"")" 6
	# With --rejects the row goes there, and the others in.
	echo '{"id": 8, "region": "us", "name": "h", "n": 80}' > "$BATS_TEST_TMPDIR/more"
	run --separate-stderr sa-load --no-create --rejects "$BATS_TEST_TMPDIR/rej" \
	    "$T" "$BATS_TEST_TMPDIR/more" "$BATS_TEST_TMPDIR/in"
	assert_success
	run placed
	assert_output "${T}_eu|1,3,6
${T}_us|2,5,8
${T}_ap|4"
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output "[1,\"no partition of relation \\\"$T\\\" found for row\"]"
}

@test "a new field adds its column to every partition, a wider value widens it in every one" {
	pg pe
	hash_table
	days
	sa-load --quiet --no-create "$T" "$BATS_TEST_TMPDIR/day1"
	printf '%s\n' '{"id": 7, "n": 7.5, "tag": "x"}' '{"id": 8, "n": 8}' \
	    > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "${stderr_lines[0]}" "sa-load: $T: column \"n\" widened from bigint to numeric"
	assert_equal "${stderr_lines[1]}" "sa-load: $T: new column \"tag\" text"
	run q "SELECT c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
	   WHERE c.relname LIKE '${T}%' AND c.relkind IN ('r', 'p')
	   GROUP BY 1 ORDER BY 1"
	assert_output "$T|id bigint, region text, name text, n numeric, tag text
${T}_0|id bigint, region text, name text, n numeric, tag text
${T}_1|id bigint, region text, name text, n numeric, tag text
${T}_2|id bigint, region text, name text, n numeric, tag text
${T}_3|id bigint, region text, name text, n numeric, tag text"
	run q "SELECT id, n, tag FROM \"$T\" WHERE id > 6 ORDER BY id"
	assert_output "7|7.5|x
8|8|"
}

@test "a value that the partition key's type cannot hold is refused, the table as it was" {
	pg pk
	hash_table
	days
	sa-load --quiet --no-create "$T" "$BATS_TEST_TMPDIR/day1"
	echo '{"id": 7.5, "region": "eu"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_output ""
	assert_equal "$stderr" "sa-load: $T: column \"id\" (bigint) would have to become numeric, but it is in the partition key (HASH (id)), whose type cannot change"
	assert_equal "$(q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	   WHERE attrelid = '\"$T\"'::regclass AND attname = 'id'")" bigint
	assert_equal "$(q "SELECT count(*) FROM \"$T\"")" 6
}

@test "upsert on a key without the partition key exits 64 before it reads a row" {
	pg pi
	list_table
	# A row read would fail as invalid JSON (65).
	echo '{' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 64 ]
	assert_output ""
	assert_equal "$stderr" "sa-load: $T: no primary key or unique index on the -k columns, which --mode upsert needs (partitioned by LIST (region): the key must include the partition key)"
}

@test "--dry-run on a partitioned table says what it is and prints the DDL that reaches every partition" {
	pg pd
	hash_table
	days
	sa-load --quiet --no-create "$T" "$BATS_TEST_TMPDIR/day1"
	echo '{"id": 7, "n": 7.5, "tag": "x"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create --dry-run -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "-- $T: partitioned by HASH (id), 4 partitions; COPY goes to the parent, which routes the rows
ALTER TABLE \"$T\"
    ALTER COLUMN \"n\" TYPE numeric USING \"n\"::numeric,
    ADD COLUMN IF NOT EXISTS \"tag\" text;"
	assert_equal "$(q "SELECT count(*) FROM information_schema.columns WHERE table_name = '$T'")" 4
}

@test "append, replace and replace-keys reach a foreign partition on another server" {
	pg pf
	foreign_table
	days
	run same_as_plain -- "$BATS_TEST_TMPDIR/day1"
	assert_success
	assert_output "sa-load: $T: 6 rows read, 6 inserted, 0 updated"
	run placed
	assert_output "${T}_0|1,2
${T}_1|3,4,5,6"
	# The rows of the foreign partition are on the second cluster.
	run rq "SELECT id, name FROM \"r$T\" ORDER BY id"
	assert_output "3|c
4|d
5|e
6|f"
	echo '{"id": 5, "region": "us", "name": "E", "n": 51}' > "$BATS_TEST_TMPDIR/day3"
	run same_as_plain --mode replace-keys --scope-key region -- "$BATS_TEST_TMPDIR/day3"
	assert_success
	assert_output "sa-load: $T: 1 rows read, 2 deleted, 1 inserted, 0 updated"
	run rq "SELECT id, name FROM \"r$T\" ORDER BY id"
	assert_output "3|c
4|d
5|E
6|f"
	run same_as_plain --mode replace -- "$BATS_TEST_TMPDIR/day2"
	assert_success
	assert_output "sa-load: $T: 4 rows read, 4 inserted, 0 updated"
	run rq "SELECT id, name FROM \"r$T\" ORDER BY id"
	assert_output "3|c
7|g"
	run rows
	assert_output "2|us|B|21
2|us|BB|22
3|eu|c|30
7|ap|g|70"
}

@test "upsert into a table with a foreign partition exits 64 before it reads a row, naming the partition" {
	pg pg
	foreign_table
	echo '{' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 64 ]
	assert_output ""
	assert_equal "$stderr" "sa-load: $T: partition ${T}_1 is a foreign table, which cannot have the unique index on the -k columns that --mode upsert needs"
	run --separate-stderr sa-load --no-create --dry-run -k id --mode upsert "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 64 ]
	assert_equal "$stderr" "sa-load: $T: partition ${T}_1 is a foreign table, which cannot have the unique index on the -k columns that --mode upsert needs"
	# A foreign table of its own, not a partition: the same.
	q "DROP FOREIGN TABLE IF EXISTS \"${T}f\"; CREATE FOREIGN TABLE \"${T}f\"
	   (id bigint, name text) SERVER sa_remote OPTIONS (table_name 'r$T')"
	run --separate-stderr sa-load --no-create -k id --mode upsert "${T}f" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 64 ]
	assert_equal "$stderr" "sa-load: ${T}f: it is a foreign table, which cannot have the unique index on the -k columns that --mode upsert needs"
}

@test "a table with a foreign partition does not evolve: the load is refused, the table stays readable" {
	pg ph
	foreign_table
	days
	sa-load --quiet --no-create "$T" "$BATS_TEST_TMPDIR/day1"
	echo '{"id": 7, "region": "ap", "tag": "x"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $T: new column \"tag\" text: partition ${T}_1 is a foreign table, whose remote table sa-load cannot change (add the column there and here, or load with --no-evolve)"
	echo '{"id": 7, "n": "many"}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-load: $T: column \"n\" (bigint) would have to become text: partition ${T}_1 is a foreign table, whose remote table sa-load cannot change (change it there and here, or load with --no-evolve)"
	assert_equal "$(q "SELECT count(*) FROM \"$T\"")" 6
	# A field of nulls only needs no column: the row goes in without it.
	echo '{"id": 7, "region": "ap", "tag": null}' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-load --no-create "$T" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "${stderr_lines[0]}" "sa-load: $T: field \"tag\" is null in every row and gets no column, which a foreign table cannot take"
	run rq "SELECT id, region FROM \"r$T\" ORDER BY id"
	assert_output "3|eu
4|ap
5|us
6|eu
7|ap"
}
