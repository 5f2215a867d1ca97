#!/usr/bin/env bats
# The SuccessApp batch job of share/sa/examples/successapp, end to end:
# the fixture API, then fetch, dedup, split, join and upsert into a real
# PostgreSQL (make check runs under pg_virtualenv).

load helpers/common

JOB="$SA_SRCDIR/share/sa/examples/successapp"
TABLES="accounts territories tags bridges stage_history result_reasons results territory_accounts"

setup() {
	require_pg
	fixture-api --port-file "$BATS_TEST_TMPDIR/ports" --records 25 --lifetime 120 3>&- &
	API_PID=$!
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/ports" ] && break
		sleep 0.1
	done
	URL="http://127.0.0.1:$(cut -d ' ' -f 1 "$BATS_TEST_TMPDIR/ports")/link/accounts?size=10"
	SCHEMA="job_$$"
}

teardown() {
	[ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null || true
	[ -n "${SCHEMA:-}" ] && psql -Xq -c "set client_min_messages = warning" -c "drop schema if exists $SCHEMA cascade" || true
}

# Every table as sorted JSON lines, without the load time.
dump() {
	for t in $TABLES; do
		echo "== $t"
		psql -XAt -c "select (to_jsonb(r) - 'date_inserted')::text as j from $SCHEMA.$t r order by 1"
	done
}

@test "the example job loads exact tables; a rerun changes nothing" {
	run make -s -j2 -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL"
	assert_success
	dump > "$BATS_TEST_TMPDIR/first"
	run diff "$FIXTURES/example-job/tables.txt" "$BATS_TEST_TMPDIR/first"
	assert_success

	# Loading the same files again upserts the same rows.
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL" reload
	assert_success
	run diff "$BATS_TEST_TMPDIR/first" <(dump)
	assert_success

	# And so does a whole new run from the API.
	rm -rf "$BATS_TEST_TMPDIR/job"
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL"
	assert_success
	run diff "$BATS_TEST_TMPDIR/first" <(dump)
	assert_success
}

@test "the example job's tables hold what jq finds in the API's records" {
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL"
	assert_success
	fixture-api --dump 0 25 > "$BATS_TEST_TMPDIR/api.ndjson"
	count() { psql -XAt -c "select count(*) from $SCHEMA.$1"; }
	sum() { jq "$1" "$BATS_TEST_TMPDIR/api.ndjson" | awk '{s += $1} END {print s + 0}'; }
	assert_equal "$(count accounts)" 25
	assert_equal "$(count territories)" "$(sum '.territories | length')"
	assert_equal "$(count territory_accounts)" "$(sum '.territories | length')"
	assert_equal "$(count tags)" "$(sum '[.territories[].tags[]] | length')"
	assert_equal "$(count bridges)" "$(sum '.bridges | length')"
	assert_equal "$(count stage_history)" "$(sum '.stage_history | length')"
	assert_equal "$(count result_reasons)" "$(sum '.result_reasons | length')"
	assert_equal "$(count results)" "$(jq -c 'select(.result != null)' "$BATS_TEST_TMPDIR/api.ndjson" | wc -l)"
	# 64-bit integers arrive exact, and the load time is set.
	run psql -XAt -c "select min(big_counter)::text, bool_and(date_inserted is not null) from $SCHEMA.accounts"
	# (jq 1.6 reads numbers as doubles, so the text is taken with grep.)
	assert_output "$(grep -o '"big_counter":[0-9]*' "$BATS_TEST_TMPDIR/api.ndjson" | head -n 1 | cut -d: -f2)|t"
}

@test "without URL the job says what is missing" {
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job"
	assert_failure
	assert_output --partial "set URL="
}

# The tables that follow the accounts, one line each: the key columns and
# a name, sorted; and the tables that no run has created.
day_dump() {
	local cols
	echo "== $1"
	for t in accounts territories tags bridges territory_accounts; do
		case $t in
		accounts) cols="id, name, updated_at" ;;
		territories) cols="id, territories_idx, territories_name" ;;
		tags) cols="id, territories_idx, territories_tags_idx, territories_tags_label" ;;
		bridges) cols="id, bridges_idx, bridges_kind" ;;
		territory_accounts) cols="id, territories_idx, territories_name, name" ;;
		esac
		echo "$t: $(psql -XAt -c "select $cols from $SCHEMA.$t order by 1, 2, 3" | tr '\n' ' ' | sed 's/ $//')"
	done
	echo "never loaded: $(psql -XAt -c "select string_agg(t, ' ') from unnest(array['stage_history', 'result_reasons', 'results']) t where to_regclass('$SCHEMA.' || t) is null")"
}

@test "day after day the child tables hold what the last run said of its accounts" {
	# Day 2: account 1 loses two territories (and their tags), account
	# 2 gains one and its bridges become empty, account 3 is not in the
	# run and keeps its rows.  Day 3: account 1 has no territories
	# field, no record has tags.  Day 4: account 1's territories come
	# back.  One work directory, as a daily job keeps it.
	for day in 1 2 3 4; do
		run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" \
		    INPUT="$FIXTURES/example-job/day$day.ndjson"
		assert_success
		day_dump "day$day"
	done > "$BATS_TEST_TMPDIR/days"
	run diff "$FIXTURES/example-job/days.expected" "$BATS_TEST_TMPDIR/days"
	assert_success

	# The same run again: the same tables, the accounts not even
	# rewritten.
	xmin() { psql -XAt -c "select string_agg(xmin::text, ' ' order by id) from $SCHEMA.accounts"; }
	before=$(xmin)
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" \
	    INPUT="$FIXTURES/example-job/day4.ndjson" reload
	assert_success
	run diff <(sed -n '/^== day4/,$p' "$FIXTURES/example-job/days.expected") <(day_dump day4)
	assert_success
	assert_equal "$(xmin)" "$before"
}
