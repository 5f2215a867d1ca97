#!/usr/bin/env bats
# The SuccessApp batch job of share/sa/examples/successapp, end to end:
# the fixture API, then fetch, dedup, split, join and upsert into a real
# PostgreSQL (make check runs under pg_virtualenv).

load helpers/common
load helpers/sshd

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
	stop_sshd
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

# Sharded runs: SHARDS=4 must load the tables of SHARDS=1 (the same golden
# file), here and over ssh.

# The metrics files of directory $1 for SHARDS=$2: the fetch and the split
# once, every stage of the job once per shard, each parsed and each
# saying exit status 0 for its stage and shard.
check_job_metrics() {
	local dir=$1 n=$2 i st want=""
	for st in fetch split; do
		want="$want successapp-$st-all.prom"
	done
	for i in $(seq "$n"); do
		for st in explode ids results join $(printf 'load-%s ' $TABLES); do
			want="$want successapp-$st-$i.prom"
		done
	done
	run ls "$dir"
	assert_output "$(printf '%s\n' $want | sort)"
	for f in $want; do
		st=${f#successapp-}
		i=${st##*-}
		i=${i%.prom}
		st=${st%-*}
		run prom-parse "$dir/$f"
		assert_success
		assert_line --index 0 "labels {\"tool\": \"$(tool_of "$st")\", \"pipeline\": \"successapp\", \"stage\": \"$st\", \"shard\": \"$i\"}"
		assert_line "gauge sa_exit_status 0"
	done
}

tool_of() {
	case $1 in
	fetch) echo sa-fetch ;;
	split) echo sa-dedup ;;
	explode|ids|results) echo sa-explode ;;
	join) echo sa-join ;;
	*) echo sa-load ;;
	esac
}

@test "SHARDS=4 loads the tables of SHARDS=1, one metrics file per stage and shard" {
	local m="$BATS_TEST_TMPDIR/metrics"
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL" \
	    SHARDS=4 METRICS_DIR="$m"
	assert_success
	dump >"$BATS_TEST_TMPDIR/tables"
	run diff "$FIXTURES/example-job/tables.txt" "$BATS_TEST_TMPDIR/tables"
	assert_success
	check_job_metrics "$m" 4
	# The split wrote four shards of the 25 accounts.
	run sh -c 'cat "$1"/split-4/[1-4].ndjson | wc -l' _ "$BATS_TEST_TMPDIR/job"
	assert_output 25

	# A rerun has nothing left to do, and changes nothing.
	touch "$BATS_TEST_TMPDIR/before"
	run make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" SCHEMA="$SCHEMA" URL="$URL" SHARDS=4
	assert_success
	run find "$BATS_TEST_TMPDIR/job" -newer "$BATS_TEST_TMPDIR/before"
	assert_output ""
	run diff "$BATS_TEST_TMPDIR/tables" <(dump)
	assert_success
}

@test "SHARDS=4 over ssh to two hosts on 127.0.0.1 loads the tables of SHARDS=1" {
	start_sshd
	run env PARALLEL_SSH="ssh -F $SSH_CONFIG" make -s -C "$JOB" W="$BATS_TEST_TMPDIR/job" \
	    SCHEMA="$SCHEMA" URL="$URL" SHARDS=4 HOSTS=2/sa-host-1,2/sa-host-2 \
	    METRICS_DIR="$BATS_TEST_TMPDIR/metrics"
	assert_success
	run diff "$FIXTURES/example-job/tables.txt" <(dump)
	assert_success
	check_job_metrics "$BATS_TEST_TMPDIR/metrics" 4
	# The four shards came in over ssh (and one login of start_sshd's).
	run grep -c "Accepted publickey for $(id -un) from 127.0.0.1" "$BATS_TEST_TMPDIR/ssh/sshd.log"
	[ "$output" -ge 5 ] || fail "$output logins over ssh: $(cat "$BATS_TEST_TMPDIR/ssh/sshd.log")"
}

@test "a failed shard fails the job; the rerun redoes only that shard" {
	local w="$BATS_TEST_TMPDIR/job" bin="$BATS_TEST_TMPDIR/bin"
	# sa-explode fails on shard 2's accounts (as a full disk would).
	mkdir "$bin"
	printf '#!/bin/sh\ncase "$*" in *shard-4-2/*) echo "sa-explode: no space left" >&2; exit 74 ;; esac\nexec "$SA_BIN/sa-explode" "$@"\n' >"$bin/sa-explode"
	chmod +x "$bin/sa-explode"
	PATH="$bin:$PATH" run make -s -C "$JOB" W="$w" SCHEMA="$SCHEMA" URL="$URL" SHARDS=4
	assert_failure
	assert_output --partial "sa-explode: no space left"
	run sh -c 'ls "$1" 2>/dev/null | grep -v -x schema' _ "$w/shard-4-2/loaded"
	assert_output ""
	for i in 1 3 4; do
		run ls "$w/shard-4-$i/loaded"
		assert_output "$(printf '%s\n' schema $TABLES | sort)"
	done
	# What the other shards loaded is in: their accounts, no more.
	run psql -XAt -c "select count(*) from $SCHEMA.accounts"
	assert_output "$(cat "$w"/split-4/[134].ndjson | wc -l)"

	touch "$BATS_TEST_TMPDIR/before"
	run make -s -C "$JOB" W="$w" SCHEMA="$SCHEMA" URL="$URL" SHARDS=4
	assert_success
	run diff "$FIXTURES/example-job/tables.txt" <(dump)
	assert_success
	# Only shard 2 was made and loaded again, not the split, not the
	# other shards.
	run find "$w" -path "$w/shard-4-2" -prune -o -newer "$BATS_TEST_TMPDIR/before" -print
	assert_output ""
	run ls "$w/shard-4-2/loaded"
	assert_output "$(printf '%s\n' schema $TABLES | sort)"
}
