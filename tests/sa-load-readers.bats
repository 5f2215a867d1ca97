#!/usr/bin/env bats
# sa-load never blocks readers for the length of a load: the load is fed
# through a FIFO, and while it waits for more input, in the middle of its
# row transaction, a reader must answer and sa-load must hold no more
# than ROW EXCLUSIVE on the table.
load helpers/common
load helpers/load
bats_require_minimum_version 1.5.0

pg() {
	pg_table r
}

# A reader as a dashboard is one: it gives up after 1 s of waiting for a
# lock (a bound on correctness: the load holds no lock it would wait for).
read_count() {
	PGOPTIONS="$PGOPTIONS -c lock_timeout=1s" q "SELECT count(*) FROM \"$T\""
}

# rows FROM TO [JSON]: {"id": N, "v": N JSON} for N from FROM to TO.
rows() {
	seq "$1" "$2" | awk -v x="${3:-}" '{ printf "{\"id\": %d, \"v\": %d%s}\n", $1, $1, x }'
}

# Table $T of rows 1 to 1000, v bigint.
base() {
	rows 1 1000 | sa-load --quiet "$T"
}

# The locks sa-load's backends hold on table $T.
held() {
	q "SELECT coalesce(string_agg(l.mode, ' ' ORDER BY l.mode), 'none')
	   FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	   WHERE a.application_name = 'sa-load' AND l.locktype = 'relation'
	   AND l.relation = '\"$T\"'::regclass AND l.granted"
}

# In the middle of the load: readers see the old rows, and nothing but
# ROW EXCLUSIVE is held.
assert_readers_answer() {
	run read_count
	assert_success
	assert_output "$1"
	run held
	assert_output RowExclusiveLock
}

@test "a load that adds a column: added first in its own transaction; readers answer" {
	pg
	base
	fifo_load
	rows 1001 11500 ', "extra": "x"' >&7
	wait_for_copy
	# The column is there, committed, before the rows.
	run q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	       WHERE attrelid = '\"$T\"'::regclass AND attname = 'extra'"
	assert_output text
	assert_readers_answer 1000
	rows 11501 20000 ', "extra": "y"' >&7
	end_load 0
	assert_line "sa-load: $T: new column \"extra\" text"
	run q "SELECT count(*), count(extra), min(id), max(id) FROM \"$T\""
	assert_output "20000|19000|1|20000"
}

@test "a load that widens a type: the rewrite in its own transaction; readers answer" {
	pg
	base
	fifo_load
	rows 1001 11500 | sed 's/"v": 1001}/"v": 1.5}/' >&7
	wait_for_copy
	run q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	       WHERE attrelid = '\"$T\"'::regclass AND attname = 'v'"
	assert_output numeric
	assert_readers_answer 1000
	rows 11501 12000 >&7
	end_load 0
	assert_line "sa-load: $T: column \"v\" widened from bigint to numeric"
	run q "SELECT count(*), sum(v), (SELECT v FROM \"$T\" WHERE id = 1001) FROM \"$T\""
	assert_output "12000|72005000.5|1.5"
}

@test "a change needed mid-stream: the rows are sent again after it; readers answer" {
	pg
	base
	fifo_load
	rows 1001 11500 >&7
	wait_for_copy
	assert_readers_answer 1000
	# After the rows that shaped the load: a new field and a value that
	# no longer fits.
	echo '{"id": 11501, "v": "many", "late": 7}' >&7
	wait_for_copy "(SELECT count(*) = 2 FROM pg_attribute WHERE attrelid = '\"$T\"'::regclass
	   AND (attname, atttypid) IN (('v', 'text'::regtype), ('late', 'int8'::regtype)))"
	assert_readers_answer 1000
	rows 11502 12000 >&7
	end_load 0
	assert_line "sa-load: $T: new column \"late\" bigint"
	assert_line "sa-load: $T: column \"v\" widened from bigint to text"
	run q "SELECT count(*), count(DISTINCT id), count(late), max(id),
	       (SELECT v FROM \"$T\" WHERE id = 11501) FROM \"$T\""
	assert_output "12000|12000|1|12000|many"
}

@test "--mode replace: readers see the old rows until the commit, then the new; a view still answers" {
	pg
	base
	q "CREATE VIEW \"${T}_v\" AS SELECT id, v FROM \"$T\" WHERE id % 2 = 0"
	# A reader polling all along records what it sees.
	: >"$BATS_TEST_TMPDIR/seen"
	(
		while [ ! -e "$BATS_TEST_TMPDIR/stop" ]; do
			read_count >>"$BATS_TEST_TMPDIR/seen" 2>&1 || echo failed >>"$BATS_TEST_TMPDIR/seen"
		done
	) &
	poller=$!
	fifo_load --mode replace
	rows 1 11500 ', "extra": true' >&7
	wait_for_copy
	assert_readers_answer 1000
	rows 11501 30000 ', "extra": false' >&7
	end_load 0
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$poller"
	# Old or new, never a mix, never nothing, never a timeout.
	run sort -u "$BATS_TEST_TMPDIR/seen"
	[ "${#lines[@]}" -ge 1 ]
	for l in "${lines[@]}"; do
		[[ "$l" == 1000 || "$l" == 30000 ]]
	done
	assert_line 1000
	run q "SELECT count(*), count(extra) FROM \"$T\""
	assert_output "30000|30000"
	run q "SELECT count(*) FROM \"${T}_v\""
	assert_output 15000
}

@test "a load that fails after adding a column leaves it, nullable, with the old rows, and says so" {
	pg
	base
	fifo_load
	rows 1001 11500 ', "extra": "x"' >&7
	wait_for_copy
	echo '{"id": 11501, "v": ' >&7
	end_load 65
	assert_line "sa-load: $T: new column \"extra\" text"
	assert_line "sa-load: $T: the load failed, but the columns it added stay (nullable, empty): \"extra\""
	run q "SELECT count(*), count(extra), max(id) FROM \"$T\""
	assert_output "1000|0|1000"
	run q "SELECT attnotnull FROM pg_attribute WHERE attrelid = '\"$T\"'::regclass AND attname = 'extra'"
	assert_output f
}
