#!/usr/bin/env bats
# The abort line (sa(7)): a failed stage ends its output with it, every
# reader stops at it with the failed stage's status, sa-load rolls back.
load helpers/common
bats_require_minimum_version 1.5.0

setup() {
	API_PID=
	D="$BATS_TEST_TMPDIR"
	# Three records, the third without the key sa-dedup -k id needs.
	printf '%s\n' '{"id":1,"v":"a"}' '{"id":2,"v":"b"}' '{"v":"c"}' >"$D/nokey"
}

teardown() {
	if [ -n "$API_PID" ]; then
		kill "$API_PID" 2>/dev/null || true
		wait "$API_PID" 2>/dev/null || true
	fi
}

# The abort line of TOOL for STATUS, into file $3.
abort_line() {
	printf '\\.\0%s failed (exit %d)\n' "$1" "$2" >"$3"
}

# Asserts that file $1 holds the lines $2 and then the abort line of
# tool $3 for status $4, and nothing else.
assert_aborted() {
	printf '%s' "$2" >"$D/want"
	abort_line "$3" "$4" "$D/.abort"
	cat "$D/.abort" >>"$D/want"
	cmp "$1" "$D/want"
}

# The number of NUL bytes in file $1.
nuls() {
	tr -dc '\0' <"$1" | wc -c
}

# Asserts that file $1 ends in the abort line of tool $2 for status $3.
assert_ends_aborted() {
	abort_line "$2" "$3" "$D/.abort"
	tail -c "$(wc -c <"$D/.abort")" "$1" | cmp - "$D/.abort"
}

start_api() {
	local i
	fixture-api --port-file "$D/port" --lifetime 300 "$@" 3>&- &
	API_PID=$!
	for i in $(seq 200); do
		[ -s "$D/port" ] && break
		sleep 0.05
	done
	read -r PORT _ <"$D/port"
	API="http://127.0.0.1:$PORT"
}

@test "a failed run ends its output with the abort line, after whole lines only" {
	sa-dedup -k id "$D/nokey" >"$D/out" 2>"$D/err" || echo $? >"$D/st"
	assert_equal "$(cat "$D/st")" 65
	assert_equal "$(cat "$D/err")" "sa-dedup: $D/nokey:3: key \"id\" is missing"
	assert_aborted "$D/out" $'{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n' sa-dedup 65
	# A usage error too: an empty stream would look finished.
	sa-join -k id >"$D/out" 2>/dev/null || echo $? >"$D/st"
	assert_equal "$(cat "$D/st")" 64
	assert_aborted "$D/out" "" sa-join 64
	# A NUL, which COPY text cannot hold, stops sa-join -t where it is
	# read: no row of it is begun.
	printf '%s\n' '{"id":1,"s":"x"}' >"$D/r"
	printf '%s\n' '{"id":1,"s":"a\u0000b"}' >"$D/l"
	sa-join -t -k id "$D/l" "$D/r" >"$D/out" 2>"$D/err" || echo $? >"$D/st"
	assert_equal "$(cat "$D/st")" 65
	assert_equal "$(cat "$D/err")" "sa-join: $D/l:1: a string holds \u0000, and COPY text cannot hold a NUL character"
	assert_aborted "$D/out" "" sa-join 65
	# Success, --help and --version write none.
	run sa-dedup -k id <<<'{"id":1}'
	assert_success
	assert_output '{"id":1}'
	sa-dedup --help >"$D/out"
	assert_equal "$(nuls "$D/out")" 0
}

@test "jq and psql \\copy refuse a file that ends in the abort line" {
	sa-dedup -k id "$D/nokey" >"$D/out.ndjson" 2>/dev/null || true
	run --separate-stderr jq -c . "$D/out.ndjson"
	assert_failure
	sa-dedup -t -k id "$D/nokey" >"$D/out.tsv" 2>/dev/null || true
	{ printf 'id\tv\n1\ta\n'; cat "$D/out.tsv"; } >"$D/in.tsv"
	require_pg
	psql -XAtq -c 'DROP TABLE IF EXISTS abort_copy' \
	    -c 'CREATE TABLE abort_copy (id int, v text)'
	run --separate-stderr psql -XAtq -c "\\copy abort_copy from '$D/in.tsv' (header)"
	assert_failure
	assert_equal "${stderr%%$'\n'*}" "ERROR:  end-of-copy marker corrupt"
	run psql -XAtq -c 'SELECT count(*) FROM abort_copy'
	assert_output 0
}

@test "every reader stops at the abort line with its status and writes its own" {
	abort_line sa-fetch 69 "$D/line"
	{ printf '%s\n' '{"id":1}' '{"id":2}'; cat "$D/line"; } >"$D/in.ndjson"
	{ printf 'id\n1\n'; cat "$D/line"; } >"$D/in.tsv"
	for f in "$D/in.ndjson" "$D/in.tsv"; do
		for cmd in "sa-explode @" "sa-explode -t @" "sa-explode --rejects $D/rej @" \
		    "sa-dedup -k id @" "sa-dedup -k id --rejects $D/rej @" \
		    "sa-join -k id @ $D/in.ndjson" "sa-join -k id $D/in.ndjson @"; do
			cmd=${cmd//@/$f}
			$cmd >"$D/out" 2>"$D/err" </dev/null && st=0 || st=$?
			tool=${cmd%% *}
			echo "$cmd: $st: $tool: IN:3: sa-fetch failed (exit 69)" >"$D/want"
			# sa-join stops at whichever side it reads first.
			sed "s|$D/in.ndjson:3|IN:3|; s|$f:3|IN:3|" "$D/err" |
			    sed "s|^|$cmd: $st: |" >"$D/got"
			diff "$D/want" "$D/got"
			assert_ends_aborted "$D/out" "$tool" 69
		done
	done
	# Given first, before any record, the line is no TSV header.
	sa-explode "$D/line" >"$D/out" 2>"$D/err" && st=0 || st=$?
	assert_equal "$st" 69
	assert_equal "$(cat "$D/err")" "sa-explode: $D/line:1: sa-fetch failed (exit 69)"
	assert_aborted "$D/out" "" sa-explode 69
}

@test "a failing stage in front of every other tool: its status travels down" {
	printf '%s\n' '{"id":1,"w":"x"}' >"$D/right"
	run --separate-stderr bash -c 'sa-dedup -k id "$1" | sa-explode | sa-dedup -k id |
	    sa-join -k id - "$2" >"$3"; echo "${PIPESTATUS[*]}"' _ "$D/nokey" "$D/right" "$D/out"
	assert_output "65 65 65 65"
	assert_ends_aborted "$D/out" sa-join 65
	assert_equal "$stderr" "sa-dedup: $D/nokey:3: key \"id\" is missing
sa-explode: stdin:3: sa-dedup failed (exit 65)
sa-dedup: stdin:3: sa-explode failed (exit 65)
sa-join: stdin:3: sa-dedup failed (exit 65)"
	# sa-explode on bad JSON, in front of the others.
	printf '%s\n' '{"id":1}' '{"id":2' '{"id":3}' >"$D/bad"
	run --separate-stderr bash -c 'sa-explode "$1" | sa-dedup -k id | sa-join -k id - "$2" |
	    sa-explode -t >"$3"; echo "${PIPESTATUS[*]}"' _ "$D/bad" "$D/right" "$D/out"
	assert_output "65 65 65 65"
	assert_ends_aborted "$D/out" sa-explode 65
}

@test "sa-fetch failing at page 3: -o FILE ends in the line, the next stage stops with 69" {
	start_api
	url="$API/link/accounts?n=30&size=10&fail=9&on=3"
	run --separate-stderr sa-fetch --retries 1 --backoff 0.01 -o "$D/raw.ndjson" "$url"
	assert_failure 69
	[ "$(wc -l <"$D/raw.ndjson")" -eq 21 ]
	tail -n 1 "$D/raw.ndjson" >"$D/last"
	abort_line sa-fetch 69 "$D/want"
	cmp "$D/last" "$D/want"
	run --separate-stderr bash -c 'sa-fetch --retries 1 --backoff 0.01 "$1" |
	    sa-explode --split "$2" --name a >/dev/null; echo "${PIPESTATUS[*]}"' _ "$url" "$D/model"
	assert_output "69 69"
	# The --split files of the failed stage never take their names:
	# a model appears whole or not at all (tests/faults.bats).
	run ls -A "$D/model"
	assert_output ""
}

@test "SIGTERM and SIGINT of a running stage end its output with the line" {
	mkfifo "$D/fifo"
	for sig in TERM INT; do
		# A stage waiting for more input, its signals at their default.
		env --default-signal=INT sa-explode --split "$D/m$sig" --name a \
		    "$D/fifo" >"$D/out" &
		pid=$!
		exec 5>"$D/fifo"
		printf '%s\n' '{"id":1,"t":[{"k":1}]}' >&5
		until [ "$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c " -> $D/m$sig/")" -eq 2 ]; do
			kill -0 "$pid"
			sleep 0.02
		done
		kill -s "$sig" "$pid"
		wait "$pid" && st=0 || st=$?
		exec 5>&-
		n=$([ "$sig" = TERM ] && echo 143 || echo 130)
		assert_equal "$sig $st" "$sig $n"
		assert_aborted "$D/out" "" sa-explode "$n"
		# The files of the model never took their names.
		run ls -A "$D/m$sig"
		assert_output ""
	done
}

@test "SIGTERM while -t, dedup --latest or a spilled join writes after its input, on two threads: whole lines, then the line" {
	gen-successapp -n 3000 --seed 5 >"$D/in"
	mkfifo "$D/fifo"
	for tool in "sa-explode -t" "sa-dedup -k id --latest updated_at" \
	    "sa-join -k id -m 1M $D/in"; do
		# The output begins once the input is read; with nobody
		# reading, the pipe fills and the writer thread waits in it.
		$tool --threads 2 "$D/in" >"$D/fifo" &
		pid=$!
		exec 6<"$D/fifo"
		IFS= read -r first <&6
		sleep 0.3
		kill -s TERM "$pid"
		cat <&6 >"$D/rest"
		exec 6<&-
		wait "$pid" && st=0 || st=$?
		assert_equal "$tool $st" "$tool 143"
		assert_ends_aborted "$D/rest" "${tool%% *}" 143
		[ "$(nuls "$D/rest")" -eq 1 ]
		# Before the line, whole lines only.
		head -c -"$(wc -c <"$D/.abort")" "$D/rest" >"$D/lines"
		[ -s "$D/lines" ]
		[ "$(tail -c 1 "$D/lines" | od -An -c | tr -d ' ')" = '\n' ]
		if [ "$tool" = "sa-explode -t" ]; then
			n=$(printf '%s\n' "$first" | awk -F'\t' '{ print NF }')
			run awk -F'\t' -v n="$n" 'NF != n { bad++ } END { print NR - bad, bad + 0 }' "$D/lines"
			assert_output "$(wc -l <"$D/lines") 0"
		else
			jq -c . "$D/lines" >/dev/null
		fi
	done
}

@test "a closed pipe (| head) writes no abort line and ends with status 0" {
	gen-successapp -n 20000 >"$D/in"
	run --separate-stderr bash -c 'sa-explode "$1" | sa-dedup -k id | head -n 1 >"$2";
	    echo "${PIPESTATUS[*]}"' _ "$D/in" "$D/out"
	assert_output "0 0 0"
	assert_equal "$stderr" ""
	[ "$(wc -l <"$D/out")" -eq 1 ]
	assert_equal "$(nuls "$D/out")" 0
}

# sa-load behind a stage that fails: $1 is the mode and its options.
load_behind_failure() {
	q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
	q 'DROP TABLE IF EXISTS abort_load'
	q 'CREATE TABLE abort_load (id bigint PRIMARY KEY, v text)'
	q "INSERT INTO abort_load VALUES (1, 'old'), (7, 'seven')"
	run --separate-stderr bash -c 'sa-dedup -k id "$1" | sa-load '"$1"' abort_load;
	    echo "${PIPESTATUS[*]}"' _ "$D/nokey"
	assert_output "65 65"
	assert_equal "${stderr##*$'\n'}" "sa-load: stdin:3: sa-dedup failed (exit 65)"
	run psql -XAtq -c 'SELECT id, v FROM abort_load ORDER BY id'
	assert_output $'1|old\n7|seven'
}

@test "sa-load behind a failed stage rolls back: append" {
	require_pg
	load_behind_failure "--mode append"
}

@test "sa-load behind a failed stage rolls back: upsert" {
	require_pg
	load_behind_failure "--mode upsert -k id"
}

@test "sa-load behind a failed stage rolls back: replace" {
	require_pg
	load_behind_failure "--mode replace"
}

@test "sa-load behind sa-fetch failing at page 3 (replace): table unchanged, status 69" {
	require_pg
	start_api
	psql -XAtq -c 'DROP TABLE IF EXISTS abort_fetch' \
	    -c 'CREATE TABLE abort_fetch (id bigint)' \
	    -c 'INSERT INTO abort_fetch VALUES (42)'
	run --separate-stderr bash -c 'sa-fetch --retries 1 --backoff 0.01 "$1" | sa-explode |
	    sa-load --mode replace abort_fetch; echo "${PIPESTATUS[*]}"' _ \
	    "$API/link/accounts?n=30&size=10&fail=9&on=3"
	assert_output "69 69 69"
	run psql -XAtq -c 'SELECT id FROM abort_fetch'
	assert_output 42
}
