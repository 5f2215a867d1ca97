#!/usr/bin/env bats
# --threads: N threads give the output, rejects, line numbers and counts of
# one, on inputs of many chunks with bad lines, late columns, pretty JSON,
# a top-level array and an abort line.

load helpers/common
load helpers/load

# Generated records (about 10 chunks of 512 KiB) with bad lines at known
# places: cut short, not an object, a column collision, not UTF-8,
# garbage, and a field that first appears in the last record.
setup_file() {
	export IN="$BATS_FILE_TMPDIR/in.ndjson"
	gen-successapp -n 3000 --seed 7 | awk '
		NR == 2 { print "{\"id\":" }
		NR == 700 { print "42" }
		NR == 1400 { print "{\"a\":{\"b\":1},\"a_b\":2}" }
		NR == 2100 { printf "{\"id\":\"\xff\"}\n" }
		NR == 2800 { print "garbage" }
		{ print }
		END { print "{\"id\":\"late\",\"late_field\":{\"x\":1}}" }' > "$IN"
	# For sa-dedup: every third record twice, and a null key every 500
	# lines.
	export DUP="$BATS_FILE_TMPDIR/dup.ndjson"
	awk 'NR % 3 == 0 { print } NR % 500 == 0 { print "{\"id\":null}" }
		{ print }' "$IN" > "$DUP"
	# For sa-load: flat rows (7 chunks, 3.5 MB) with bad lines, a NUL, an empty
	# field name, a null key, widenings past the first 10000 rows (the
	# rows that make the table), a column that appears late and every
	# 1000th id twice.
	export LIN="$BATS_FILE_TMPDIR/load.ndjson"
	awk 'BEGIN { for (i = 1; i <= 36000; i++) {
		if (i == 2) print "{\"id\":"
		if (i == 7000) print "42"
		if (i == 12000) print "{\"id\":-1,\"name\":\"nul\\u0000\"}"
		if (i == 13000) print "{\"id\":-2,\"\":1}"
		if (i == 16000) print "{\"id\":null,\"name\":\"no key\"}"
		id = i % 1000 == 0 ? i - 500 : i
		printf "{\"id\":%d,\"name\":\"n%d\\tx\",\"score\":%s,", id, i,
		    i == 15000 ? "1.5" : i
		day = sprintf("2025-01-%02d", 1 + i % 28)
		if (i == 18000) day = "2025-01-01T10:00:00Z"
		late = i < 30000 ? "" : ",\"late\":\"l" i "\""
		printf "\"day\":\"%s\",\"obj\":{\"a\":%d},\"flag\":%s%s}\n",
		    day, i, i % 2 ? "true" : "false", late
	} }' > "$LIN"
}

# Runs sa-explode with --threads 1 and with --threads 4 (ARGS first), and
# checks that stdout, the rejects and the --stats counts are the same;
# leaves the one-thread run in $BATS_TEST_TMPDIR/1.*.
same_as_one_thread() {
	same_threads sa-explode "$@"
}

# The same for TOOL; sa-dedup's counts include its duplicates.
same_threads() {
	local t tool=$1
	shift
	for t in 1 4; do
		"$tool" --threads "$t" --stats --rejects "$BATS_TEST_TMPDIR/$t.rej" \
		    "$@" > "$BATS_TEST_TMPDIR/$t.out" 2> "$BATS_TEST_TMPDIR/$t.err" ||
		    echo "status $?" >> "$BATS_TEST_TMPDIR/$t.err"
		jq -c '[.records_in, .records_out, .records_rejected] +
		    if has("duplicates") then [.duplicates] else [] end' \
		    "$BATS_TEST_TMPDIR/$t.err" > "$BATS_TEST_TMPDIR/$t.stats"
	done
	run cmp "$BATS_TEST_TMPDIR/1.out" "$BATS_TEST_TMPDIR/4.out"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/1.rej" "$BATS_TEST_TMPDIR/4.rej"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/1.stats" "$BATS_TEST_TMPDIR/4.stats"
	assert_success
}

# The rejects of the one-thread run as "LINE ERROR" lines.
rejects_one() {
	jq -r '"\(.line) \(.error)"' "$BATS_TEST_TMPDIR/1.rej"
}

@test "flatten: 4 threads write what 1 does, rejects at their true lines" {
	same_as_one_thread "$IN"
	run rejects_one
	assert_output - <<'EOF'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
701 record is not a JSON object
1402 a.b and a_b both make column "a_b" with different values
2103 invalid JSON: lexical error: invalid bytes in UTF8 string.
2804 invalid JSON: lexical error: invalid char in json text.
EOF
	run cat "$BATS_TEST_TMPDIR/1.stats"
	assert_output '[3005,3000,5]'
	run tail -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output '{"id":"late","late_field_x":1}'
}

@test "-p and --split: 4 threads write what 1 does" {
	same_as_one_thread -p territories "$IN"
	run cat "$BATS_TEST_TMPDIR/1.stats"
	refute_output '[3005,0,5]'
	same_as_one_thread -p territories.tags --keep-empty "$IN"
	sa-explode --threads 1 --split "$BATS_TEST_TMPDIR/s1" --name a --rejects /dev/null "$IN"
	sa-explode --threads 4 --split "$BATS_TEST_TMPDIR/s4" --name a --rejects /dev/null "$IN"
	run diff -r "$BATS_TEST_TMPDIR/s1" "$BATS_TEST_TMPDIR/s4"
	assert_success
	run ls "$BATS_TEST_TMPDIR/s4"
	assert_line a__territories.ndjson
}

@test "-t: 4 threads write what 1 does, a late column in the header" {
	same_as_one_thread -t "$IN"
	run head -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp $'\tlate_field_x$'
	run tail -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp $'^late\t(\\\\N\t)+1$'
	sa-explode -t --threads 1 --split "$BATS_TEST_TMPDIR/s1" --name a --rejects /dev/null "$IN"
	sa-explode -t --threads 4 --split "$BATS_TEST_TMPDIR/s4" --name a --rejects /dev/null "$IN"
	run diff -r "$BATS_TEST_TMPDIR/s1" "$BATS_TEST_TMPDIR/s4"
	assert_success
}

@test "-t reads its input once: the rows wait in a temporary file, gone at exit" {
	mkdir "$BATS_TEST_TMPDIR/tmp"
	# A pipe can be read only once.
	run --separate-stderr bash -c 'gen-successapp -n 300 --seed 2 | TMPDIR="$1" sa-explode -t --threads 2 | md5sum' _ "$BATS_TEST_TMPDIR/tmp"
	assert_success
	want=$output
	run bash -c 'gen-successapp -n 300 --seed 2 > "$1"; sa-explode -t --threads 1 "$1" | md5sum' _ "$BATS_TEST_TMPDIR/in"
	assert_output "$want"
	run ls -A "$BATS_TEST_TMPDIR/tmp"
	assert_output ""
	# A failure (a bad record, no --rejects) leaves nothing either.
	run --separate-stderr env TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-explode -t "$IN"
	assert_failure 65
	assert_equal "$stderr" "sa-explode: $IN:2: invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'"
	run ls -A "$BATS_TEST_TMPDIR/tmp"
	assert_output ""
}

@test "-t copies its spool out the same to a file, a pipe, a file opened with >> and --split files" {
	# Rows spooled under every column go out as they are (sendfile, or
	# read and written where the output takes no sendfile: >>); rows
	# spooled before a column appeared are padded by one thread and
	# written by another.  Both kinds, in that order and the other.
	gen-successapp -n 1500 --seed 3 | jq -c '{id, name, zip}' > "$BATS_TEST_TMPDIR/in"
	{ echo '{"id":"x"}'; cat "$BATS_TEST_TMPDIR/in"; } > "$BATS_TEST_TMPDIR/early"
	{ cat "$BATS_TEST_TMPDIR/in"; echo '{"id":"y","z":1}'; } > "$BATS_TEST_TMPDIR/late"
	for f in in early late; do
		in=$BATS_TEST_TMPDIR/$f
		sa-explode -t --threads 1 "$in" > "$in.1"
		sa-explode -t --threads 2 "$in" > "$in.2"
		sa-explode -t --threads 2 "$in" | cat > "$in.pipe"
		echo before > "$in.app"
		sa-explode -t --threads 2 "$in" >> "$in.app"
		sa-explode -t --threads 2 --split "$in.split" --name a "$in"
		cmp "$in.1" "$in.2"
		cmp "$in.1" "$in.pipe"
		{ echo before; cat "$in.1"; } | cmp - "$in.app"
		cmp "$in.1" "$in.split/a.tsv"
	done
	run wc -l < "$BATS_TEST_TMPDIR/late.1"
	assert_output 1502
	run tail -n 1 "$BATS_TEST_TMPDIR/late.1"
	assert_output $'y\t\\N\t\\N\t1'
	run sed -n 2p "$BATS_TEST_TMPDIR/late.1"
	assert_output $'100000\tUmbrella 0\t33994\t\\N'
	run sed -n 2p "$BATS_TEST_TMPDIR/early.1"
	assert_output $'x\t\\N\t\\N'
}

@test "-t, dedup --latest and a spilled join into a pipe closed early: a quiet end, status 0" {
	run --separate-stderr bash -c 'sa-explode -t --threads 2 --rejects /dev/null "$1" | head -n 2 > /dev/null; echo "${PIPESTATUS[0]}"' _ "$IN"
	assert_output 0
	assert_equal "$stderr" ""
	run --separate-stderr bash -c 'sa-dedup -k id --latest updated_at --threads 2 --rejects /dev/null "$1" | head -n 2 > /dev/null; echo "${PIPESTATUS[0]}"' _ "$DUP"
	assert_output 0
	assert_equal "$stderr" ""
	# The rows merged from the partitions go out on a thread of their own.
	run --separate-stderr bash -c 'sa-join -k id -m 1M --threads 2 --rejects /dev/null "$1" "$1" | head -n 2 > /dev/null; echo "${PIPESTATUS[0]}"' _ "$DUP"
	assert_output 0
	assert_equal "$stderr" ""
}

@test "without --rejects the first bad record stops 4 threads where it stops 1" {
	for t in 1 4; do
		run --separate-stderr sa-explode --threads "$t" "$IN"
		assert_failure 65
		strip_abort sa-explode 65
		assert_equal "$stderr" "sa-explode: $IN:2: invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'"
		assert_equal "$(wc -l <<<"$output")" 1
		assert_output --regexp '^\{"id":100000,'
		echo "$output" > "$BATS_TEST_TMPDIR/o$t"
	done
	run cmp "$BATS_TEST_TMPDIR/o1" "$BATS_TEST_TMPDIR/o4"
	assert_success
}

@test "pretty-printed records and a top-level array: read on by one thread, same output" {
	# Pretty JSON after 1500 lines: the chunks stop where it starts.
	{ head -n 1500 "$IN"; sed -n 1600p "$IN" | jq .; tail -n +1501 "$IN"; } > "$BATS_TEST_TMPDIR/mixed"
	same_as_one_thread "$BATS_TEST_TMPDIR/mixed"
	n=$(sed -n 1600p "$IN" | jq . | wc -l)
	run rejects_one
	assert_line --index 2 '1402 a.b and a_b both make column "a_b" with different values'
	assert_line --index 4 "$((2804 + n)) invalid JSON: lexical error: invalid char in json text."
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output '[3006,3001,5]'
	gen-successapp -n 2000 --seed 7 --array > "$BATS_TEST_TMPDIR/array"
	same_as_one_thread -p territories "$BATS_TEST_TMPDIR/array"
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output --regexp '^\[2000,[0-9]+,0\]$'
}

@test "an abort line stops 4 threads where it stops 1" {
	{ head -n 2000 "$IN"; printf '\\.\0sa-fetch failed (exit 69)\n'; tail -n +2001 "$IN"; } > "$BATS_TEST_TMPDIR/aborted"
	for t in 1 4; do
		run --separate-stderr sa-explode --threads "$t" --rejects "$BATS_TEST_TMPDIR/r$t" "$BATS_TEST_TMPDIR/aborted"
		assert_failure 69
		assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/aborted:2001: sa-fetch failed (exit 69)"
		strip_abort sa-explode 69
		echo "$output" > "$BATS_TEST_TMPDIR/o$t"
	done
	run cmp "$BATS_TEST_TMPDIR/o1" "$BATS_TEST_TMPDIR/o4"
	assert_success
	run wc -l < "$BATS_TEST_TMPDIR/o4"
	assert_output 1996
	run cmp "$BATS_TEST_TMPDIR/r1" "$BATS_TEST_TMPDIR/r4"
	assert_success
}

@test "TSV input and several files: 4 threads write what 1 does" {
	sa-explode -t --rejects /dev/null "$IN" > "$BATS_TEST_TMPDIR/in.tsv"
	same_as_one_thread -p territories "$BATS_TEST_TMPDIR/in.tsv"
	same_as_one_thread "$IN" "$BATS_TEST_TMPDIR/in.tsv" "$IN"
	run jq -r .file "$BATS_TEST_TMPDIR/4.rej"
	assert_equal "$(uniq <<<"$output")" "$IN"
	assert_equal "${#lines[@]}" 10
}

@test "--threads takes 1 to 256" {
	for n in 0 257 x ''; do
		run --separate-stderr sa-explode --threads "$n" "$IN"
		assert_failure 64
		strip_abort sa-explode 64
		assert_output ""
	done
}

@test "memory: the default threads flatten within 16 MiB" {
	skip_if_sanitizers
	rss=$(peak_rss_kb /dev/null sa-explode --rejects /dev/null "$IN")
	echo "peak RSS ${rss} KiB with $(nproc) threads"
	[ "$rss" -lt 16384 ]
	rss=$(peak_rss_kb /dev/null sa-explode -t -p territories --rejects /dev/null "$IN")
	[ "$rss" -lt 16384 ]
}

@test "sa-dedup: 4 threads write what 1 does in every mode, rejects at their true lines" {
	same_threads sa-dedup -k id "$DUP"
	run rejects_one
	assert_output - <<'EOF'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
666 key "id" is null
935 record is not a JSON object
1334 key "id" is null
1871 key "id" is missing
2002 key "id" is null
2669 key "id" is null
2807 invalid JSON: lexical error: invalid bytes in UTF8 string.
2808 invalid JSON: lexical error: invalid bytes in UTF8 string.
3337 key "id" is null
3743 invalid JSON: lexical error: invalid char in json text.
4005 key "id" is null
EOF
	run cat "$BATS_TEST_TMPDIR/1.stats"
	assert_output '[4013,3001,12,1000]'
	run tail -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output '{"id":"late","late_field":{"x":1}}'
	same_threads sa-dedup "$DUP"
	run cat "$BATS_TEST_TMPDIR/1.stats"
	assert_output '[4013,3003,5,1005]'
	same_threads sa-dedup -k id --keep last "$DUP"
	same_threads sa-dedup -k id --latest updated_at "$DUP"
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output '[4013,3001,12,1000]'
	same_threads sa-dedup -k id -t "$DUP"
	run head -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp $'^id\t.*\tlate_field$'
}

@test "sa-dedup: 4 threads write what 1 does when the fingerprints spill" {
	awk 'BEGIN { srand(11); for (i = 1; i <= 150000; i++) {
	    if (i % 40000 == 0) print "{\"seq\":" i "}"
	    printf "{\"id\":%d,\"seq\":%d,\"ts\":\"2025-01-%02d\"}\n",
	    int(rand() * 60000), i, 1 + int(rand() * 28) } }' > "$BATS_TEST_TMPDIR/in"
	for mode in "" "-k id" "-k id --keep last" "-k id --latest ts"; do
		same_threads sa-dedup $mode -m 1M "$BATS_TEST_TMPDIR/in"
		sa-dedup --threads 4 $mode -m 1G --rejects /dev/null "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/big"
		cmp "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/4.out"
	done
	run jq -r '"\(.line) \(.error)"' "$BATS_TEST_TMPDIR/4.rej"
	assert_output - <<'EOF'
40000 key "id" is missing
80001 key "id" is missing
120002 key "id" is missing
EOF
}

@test "sa-dedup: --shard and --shards with 4 threads write what 1 does" {
	same_threads sa-dedup -k id --shard 2/3 "$DUP"
	run cat "$BATS_TEST_TMPDIR/1.stats"
	assert_output '[4013,1018,12,337]'
	for t in 1 4; do
		sa-dedup -k id --latest updated_at --threads "$t" --rejects /dev/null \
		    --shards 3 --shard-dir "$BATS_TEST_TMPDIR/d$t" "$DUP"
	done
	run diff -r "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d4"
	assert_success
	sa-explode -t --rejects /dev/null "$DUP" > "$BATS_TEST_TMPDIR/in.tsv"
	same_threads sa-dedup -k id --keep last "$BATS_TEST_TMPDIR/in.tsv"
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output '[4007,3001,6,1000]'
}

@test "sa-dedup: without --rejects the first bad record stops 4 threads where it stops 1" {
	for t in 1 4; do
		run --separate-stderr sa-dedup -k id --threads "$t" "$DUP"
		assert_failure 65
		strip_abort sa-dedup 65
		assert_equal "$stderr" "sa-dedup: $DUP:2: invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'"
		assert_output --regexp '^\{"id":100000,'
		assert_equal "$(wc -l <<<"$output")" 1
	done
	tail -n +3 "$DUP" > "$BATS_TEST_TMPDIR/later"
	run --separate-stderr sa-dedup -k id --threads 4 "$BATS_TEST_TMPDIR/later"
	assert_failure 65
	assert_equal "$stderr" "sa-dedup: $BATS_TEST_TMPDIR/later:664: key \"id\" is null"
	strip_abort sa-dedup 65
	assert_equal "$(wc -l <<<"$output")" 497
}

@test "sa-dedup --threads takes 1 to 256" {
	for n in 0 257 x; do
		run --separate-stderr sa-dedup --threads "$n" "$DUP"
		assert_failure 64
		strip_abort sa-dedup 64
		assert_output ""
	done
}

# sa-join: RIGHT is the territories of $IN (several per account id), LEFT
# is $IN with its bad lines.
right_territories() {
	sa-explode -p territories --rejects /dev/null "$IN" > "$BATS_TEST_TMPDIR/right"
}

@test "sa-join: 4 threads write what 1 does for every join type, rejects at their true lines" {
	right_territories
	for type in inner left right full; do
		same_threads sa-join --type "$type" -k id "$BATS_TEST_TMPDIR/right" "$IN"
	done
	run rejects_one
	assert_output - <<'EOF2'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
701 record is not a JSON object
2103 invalid JSON: lexical error: invalid bytes in UTF8 string.
2804 invalid JSON: lexical error: invalid char in json text.
EOF2
	# 5882 right records, 3000 left and 5 bad; full: 596 accounts with no
	# territory.
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output "[8887,6478,4]"
	run tail -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp '^\{"id":"late","late_field":\{"x":1\},"territories_idx":null,'
	same_threads sa-join --shard 2/3 --type full -k id "$BATS_TEST_TMPDIR/right" "$IN"
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output "[8887,2173,4]"
	same_threads sa-join --right-columns 'name,own*' -k id "$IN" "$BATS_TEST_TMPDIR/right"
	run head -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp '"territories_tags":\[.*\],"name":"[^"]*","owner":\{"id":[0-9]+,"email":"[^"]*","team":\{[^}]*\}\}\}$'
	same_threads sa-join -t --type left -k id "$BATS_TEST_TMPDIR/right" "$IN"
	run head -n 1 "$BATS_TEST_TMPDIR/4.out"
	assert_output --regexp $'^id\tname\t.*\tterritories_tags\t.*\tlate_field$'
	sa-explode -t --rejects /dev/null "$IN" > "$BATS_TEST_TMPDIR/in.tsv"
	same_threads sa-join --type full -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/in.tsv"
	same_threads sa-join -t --type full -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/in.tsv"
}

@test "sa-join: keys with many right records, and a spilled RIGHT, with 4 threads write what 1 does" {
	# Key 100000 has 300 right records, more than a worker joins itself.
	awk 'BEGIN { for (i = 0; i < 300; i++) print "{\"id\":100000,\"n\":" i "}"
	    for (i = 0; i < 3000; i++) print "{\"id\":" 100000 + i ",\"m\":" i "}" }' > "$BATS_TEST_TMPDIR/right"
	{ cat "$IN"; head -n 1 "$IN"; } > "$BATS_TEST_TMPDIR/left"
	for type in inner full; do
		same_threads sa-join --type "$type" -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		run grep -c '^{"id":100000,' "$BATS_TEST_TMPDIR/4.out"
		assert_output 602
	done
	# 60 right records of 1 KiB for each of the first 500 accounts: a
	# chunk's rows pass 640 KiB after a dozen left records.
	awk 'BEGIN { pad = sprintf("%1000s", ""); for (i = 0; i < 500; i++)
	    for (j = 0; j < 60; j++) print "{\"id\":" 100000 + i ",\"j\":" j ",\"pad\":\"" pad "\"}" }' > "$BATS_TEST_TMPDIR/right"
	same_threads sa-join --type left -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output '[33006,32502,4]'
	right_territories
	same_threads sa-join --type full -m 1M -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
	sa-join --type full -k id --rejects /dev/null "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left" > "$BATS_TEST_TMPDIR/inmem"
	run cmp "$BATS_TEST_TMPDIR/inmem" "$BATS_TEST_TMPDIR/4.out"
	assert_success
}

@test "sa-join: --validate and --max-fanout stop 4 threads where they stop 1" {
	right_territories
	# Account 102990 (4 territories) a second time, 496 lines before its
	# first time.
	{ head -n 2500 "$IN"; grep '"id": 102990,' "$IN"; tail -n +2501 "$IN"; } > "$BATS_TEST_TMPDIR/left"
	for t in 1 4; do
		run --separate-stderr sa-join --threads "$t" --rejects /dev/null --validate 1:m -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/left:2997: key id=\"102990\" is not unique in LEFT (--validate 1:m)"
		strip_abort sa-join 65
		echo "$output" > "$BATS_TEST_TMPDIR/v$t"
		run --separate-stderr sa-join --threads "$t" --rejects /dev/null --max-fanout 4 -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/left:2997: key id=\"102990\" would produce more than 4 rows (--max-fanout)"
		strip_abort sa-join 65
		echo "$output" > "$BATS_TEST_TMPDIR/f$t"
	done
	run cmp "$BATS_TEST_TMPDIR/v1" "$BATS_TEST_TMPDIR/v4"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/f1" "$BATS_TEST_TMPDIR/f4"
	assert_success
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/f4")" 5869
}

@test "sa-join: a spilled RIGHT's partitions joined by 4 threads: the rows, counts and first error of 1" {
	right_territories
	# Past -m 1M both sides go to 64 partitions, joined side by side.
	for type in inner left right full; do
		same_threads sa-join --type "$type" -m 1M -k id "$BATS_TEST_TMPDIR/right" "$IN"
		sa-join --type "$type" -k id --stats --rejects /dev/null "$BATS_TEST_TMPDIR/right" "$IN" > "$BATS_TEST_TMPDIR/inmem" 2> "$BATS_TEST_TMPDIR/inmem.err"
		run cmp "$BATS_TEST_TMPDIR/inmem" "$BATS_TEST_TMPDIR/4.out"
		assert_success
		run jq -c '[.records_in, .records_out, .records_rejected]' "$BATS_TEST_TMPDIR/inmem.err"
		assert_output "$(cat "$BATS_TEST_TMPDIR/4.stats")"
	done
	# Two accounts a second time in LEFT, in different partitions: the
	# error is the one of the partition a single thread joins first,
	# whichever thread finds its own first.
	{ head -n 2500 "$IN"; grep -e '"id": 102990,' -e '"id": 100007,' "$IN"; tail -n +2501 "$IN"; } > "$BATS_TEST_TMPDIR/left"
	run --separate-stderr sa-join --threads 1 --rejects /dev/null -m 1M --validate 1:m -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
	assert_failure 65
	assert_output --regexp 'sa-join failed \(exit 65\)$'
	want=$stderr
	[[ "$want" == *"is not unique in LEFT (--validate 1:m)" ]]
	for i in 1 2 3 4 5; do
		run --separate-stderr sa-join --threads 4 --rejects /dev/null -m 1M --validate 1:m -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		assert_failure 65
		assert_equal "$stderr" "$want"
	done
	# One key with 3 MB of right rows is joined in blocks of the budget;
	# a left row that no block matches is written, and counted, once.
	awk 'BEGIN { pad = "x"; while (length(pad) < 1000) pad = pad pad
	    for (i = 0; i < 3000; i++) print "{\"id\":100000,\"n\":" i ",\"pad\":\"" pad "\"}" }' > "$BATS_TEST_TMPDIR/hot"
	for t in 1 4; do
		sa-join --threads "$t" --type left -m 1M -k id --stats --rejects /dev/null "$BATS_TEST_TMPDIR/hot" "$IN" > "$BATS_TEST_TMPDIR/hot.$t" 2> "$BATS_TEST_TMPDIR/hot.$t.err"
		run jq .records_out "$BATS_TEST_TMPDIR/hot.$t.err"
		assert_output "$(wc -l < "$BATS_TEST_TMPDIR/hot.$t")"
	done
	run cmp "$BATS_TEST_TMPDIR/hot.1" "$BATS_TEST_TMPDIR/hot.4"
	assert_success
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/hot.1")" $((3000 + 3000 - 1 + 1))
	# Two right records of 64 KiB with one key: a thread's share of -m 1M
	# would hold them in different blocks, where the key is never seen
	# twice; such a partition is joined whole, after, as by one thread.
	awk 'BEGIN { pad = "x"; while (length(pad) < 65536) pad = pad pad
	    for (i = 0; i < 3000; i++) print "{\"id\":" 100000 + i ",\"m\":" i "}"
	    print "{\"id\":200000,\"pad\":\"" pad "\"}"
	    print "{\"id\":200000,\"pad\":\"" pad "x\"}" }' > "$BATS_TEST_TMPDIR/big"
	for t in 1 4; do
		run --separate-stderr sa-join --threads "$t" --rejects /dev/null -m 1M --validate m:1 -k id "$BATS_TEST_TMPDIR/big" "$IN"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/big:3002: key id=\"200000\" is not unique in RIGHT (--validate m:1)"
	done
	run --separate-stderr sa-join --threads 1 --rejects /dev/null -m 1M --max-fanout 4 -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
	assert_failure 65
	want=$stderr
	[[ "$want" == *"would produce more than 4 rows (--max-fanout)" ]]
	for i in 1 2 3 4 5; do
		run --separate-stderr sa-join --threads 4 --rejects /dev/null -m 1M --max-fanout 4 -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		assert_failure 65
		assert_equal "$stderr" "$want"
	done
}

@test "sa-join: LEFT's columns come from its first good record, also when it comes late down a pipe" {
	right_territories
	{ echo '{"id":}'; echo 42; tail -n +3 "$IN"; } > "$BATS_TEST_TMPDIR/left"
	sa-join --threads 1 --rejects "$BATS_TEST_TMPDIR/rej1" --type left -k id "$BATS_TEST_TMPDIR/right" - < "$BATS_TEST_TMPDIR/left" > "$BATS_TEST_TMPDIR/one"
	run head -c 20 "$BATS_TEST_TMPDIR/one"
	assert_output '{"id":100001,"name":'
	{ head -c 5 "$BATS_TEST_TMPDIR/left"; sleep 0.3; head -c 200 "$BATS_TEST_TMPDIR/left" | tail -c +6; sleep 0.3; tail -c +201 "$BATS_TEST_TMPDIR/left"; } |
	    sa-join --threads 4 --rejects "$BATS_TEST_TMPDIR/rej" --type left -k id "$BATS_TEST_TMPDIR/right" > "$BATS_TEST_TMPDIR/four"
	run cmp "$BATS_TEST_TMPDIR/one" "$BATS_TEST_TMPDIR/four"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/rej1" "$BATS_TEST_TMPDIR/rej"
	assert_success
	run jq -r '"\(.file):\(.line)"' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<'EOF2'
stdin:1
stdin:2
stdin:701
stdin:2103
stdin:2804
EOF2
}

@test "sa-join: an abort line in LEFT stops 4 threads where it stops 1" {
	right_territories
	{ head -n 2000 "$IN"; printf '\\.\0sa-fetch failed (exit 69)\n'; tail -n +2001 "$IN"; } > "$BATS_TEST_TMPDIR/aborted"
	for t in 1 4; do
		run --separate-stderr sa-join --threads "$t" --rejects "$BATS_TEST_TMPDIR/r$t" -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/aborted"
		assert_failure 69
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/aborted:2001: sa-fetch failed (exit 69)"
		strip_abort sa-join 69
		echo "$output" > "$BATS_TEST_TMPDIR/o$t"
	done
	run cmp "$BATS_TEST_TMPDIR/o1" "$BATS_TEST_TMPDIR/o4"
	assert_success
	run cmp "$BATS_TEST_TMPDIR/r1" "$BATS_TEST_TMPDIR/r4"
	assert_success
}

@test "sa-join --threads takes 1 to 256" {
	for n in 0 257 x; do
		run --separate-stderr sa-join --threads "$n" -k id "$IN" "$IN"
		assert_failure 64
		strip_abort sa-join 64
		assert_output ""
	done
}

@test "sa-join: RIGHT read by 4 threads: the same rows, rejects at their true lines, --validate on RIGHT" {
	right_territories
	mv "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
	same_threads sa-join --type full -k id "$IN" "$BATS_TEST_TMPDIR/left"
	run rejects_one
	assert_output - <<'EOF2'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
701 record is not a JSON object
2103 invalid JSON: lexical error: invalid bytes in UTF8 string.
2804 invalid JSON: lexical error: invalid char in json text.
EOF2
	run cat "$BATS_TEST_TMPDIR/4.stats"
	assert_output "[8887,6478,4]"
	{ head -n 2500 "$IN"; grep '"id": 102990,' "$IN"; tail -n +2501 "$IN"; } > "$BATS_TEST_TMPDIR/right"
	for t in 1 4; do
		run --separate-stderr sa-join --threads "$t" --rejects /dev/null --validate m:1 -k id "$BATS_TEST_TMPDIR/right" "$BATS_TEST_TMPDIR/left"
		assert_failure 65
		assert_equal "$stderr" "sa-join: $BATS_TEST_TMPDIR/right:2997: key id=\"102990\" is not unique in RIGHT (--validate m:1)"
		strip_abort sa-join 65
		assert_output ""
	done
}

# same_load SETUP [OPTION...] FILE: sa-load with --threads 1 and with
# --threads 4 into $T, made anew by the command SETUP before each, and
# checks that the table (its columns and its rows), the rejects, the
# messages on standard error and the --stats figures are the same;
# leaves the one-thread run in $BATS_TEST_TMPDIR/1.*.
same_load() {
	local t f setup=$1
	shift
	for t in 1 4; do
		q "DROP TABLE IF EXISTS \"$T\""
		$setup
		sa-load --threads "$t" --stats --rejects "$BATS_TEST_TMPDIR/$t.rej" \
		    "$T" "$@" 2> "$BATS_TEST_TMPDIR/$t.err" ||
		    echo "status $?" >> "$BATS_TEST_TMPDIR/$t.err"
		sed -E 's/, [0-9.]+ s, [0-9]+ rows\/s$//
		    s/,"seconds":[0-9.]+,"peak_rss_kb":[0-9]+//' \
		    "$BATS_TEST_TMPDIR/$t.err" > "$BATS_TEST_TMPDIR/$t.msg"
		{
			q "SELECT attname || ' ' || format_type(atttypid, atttypmod)
			   FROM pg_attribute WHERE attrelid = '\"$T\"'::regclass
			   AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
			q "SELECT t::text FROM \"$T\" t ORDER BY 1"
		} > "$BATS_TEST_TMPDIR/$t.dump"
	done
	for f in dump rej msg; do
		run cmp "$BATS_TEST_TMPDIR/1.$f" "$BATS_TEST_TMPDIR/4.$f"
		assert_success
	done
}

# The columns of the table the one-thread run left, as "name type".
load_columns() {
	grep -v '^(' "$BATS_TEST_TMPDIR/1.dump"
}

no_table() {
	:
}

@test "sa-load: 4 threads load what 1 does, new table: rejects, widenings, a late column" {
	pg_table thr
	same_load no_table "$LIN"
	run rejects_one
	assert_output - <<'EOF'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
7001 record is not a JSON object
12002 a string holds \u0000, and COPY text cannot hold a NUL character
13003 a field name is empty or holds a NUL character
EOF
	run load_columns
	assert_output - <<'EOF'
id bigint
name text
score numeric
day timestamp with time zone
obj jsonb
flag boolean
late text
EOF
	run q "SELECT count(*), count(late), sum(score), min(name) FROM \"$T\""
	assert_output '36000|6001|648002999.5|n1	x'
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF
sa-load: $T: 36004 rows read, 36000 inserted, 0 updated, 4 rejected
{"prog":"sa-load","records_in":36004,"records_out":36000,"records_rejected":4,"bytes_in":$(stat -c %s "$LIN"),"inserted":36000,"updated":0}
EOF
}

# A table $T made from the first row of the input, keyed by id.
first_row() {
	head -n 1 "$LIN" | sa-load --quiet -k id "$T"
}

@test "sa-load: 4 threads append what 1 does to a table: the same changes reported" {
	pg_table thr
	same_load first_row "$LIN"
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF
sa-load: $T: column "score" widened from bigint to numeric
sa-load: $T: column "day" widened from date to timestamptz
sa-load: $T: new column "late" text
sa-load: $T: 36004 rows read, 35962 inserted, 0 updated, 42 rejected
{"prog":"sa-load","records_in":36004,"records_out":35962,"records_rejected":42,"bytes_in":$(stat -c %s "$LIN"),"inserted":35962,"updated":0}
EOF
	# The server refuses the ids the table has, and a null one.
	run jq -r '"\(.line) \(.error)"' "$BATS_TEST_TMPDIR/1.rej"
	assert_line --index 3 '13003 a field name is empty or holds a NUL character'
	assert_line --index 4 "1 duplicate key value violates unique constraint \"${T}_pkey\""
	assert_line --index 5 "1001 duplicate key value violates unique constraint \"${T}_pkey\""
	assert_line --index 20 "16004 null value in column \"id\" of relation \"$T\" violates not-null constraint"
	assert_equal "$(grep -c 'duplicate key' "$BATS_TEST_TMPDIR/1.rej")" 37
	run q "SELECT count(*), count(late), sum(score) FROM \"$T\""
	assert_output '35963|5994|647351998'
}

@test "sa-load: 4 threads upsert what 1 does, into a new table and into one with rows" {
	pg_table thr
	same_load no_table -k id --mode upsert "$LIN"
	run rejects_one
	assert_output - <<'EOF'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
7001 record is not a JSON object
12002 a string holds \u0000, and COPY text cannot hold a NUL character
13003 a field name is empty or holds a NUL character
16004 key "id" is null
EOF
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF
sa-load: $T: 36004 rows read, 35963 inserted, 0 updated, 5 rejected
{"prog":"sa-load","records_in":36004,"records_out":35963,"records_rejected":5,"bytes_in":$(stat -c %s "$LIN"),"inserted":35963,"updated":0}
EOF
	# The last row of a key wins: 500 comes again as 1000, and so on.
	run q "SELECT count(*), min(name), max(name), sum(score) FROM \"$T\" WHERE id % 500 = 0"
	assert_output '36|n1000	x|n9000	x|651001.5'
	same_load first_row -k id --mode upsert "$LIN"
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF
sa-load: $T: column "score" widened from bigint to numeric
sa-load: $T: column "day" widened from date to timestamptz
sa-load: $T: new column "late" text
sa-load: $T: 36004 rows read, 35962 inserted, 0 updated, 5 rejected
{"prog":"sa-load","records_in":36004,"records_out":35962,"records_rejected":5,"bytes_in":$(stat -c %s "$LIN"),"inserted":35962,"updated":0}
EOF
}

@test "sa-load: 4 threads load TSV as 1 does" {
	pg_table thr
	grep -v '"":' "$LIN" | sa-explode -t --rejects /dev/null > "$BATS_TEST_TMPDIR/in.tsv"
	same_load no_table "$BATS_TEST_TMPDIR/in.tsv" "$BATS_TEST_TMPDIR/in.tsv"
	run load_columns
	assert_output - <<'EOF'
id bigint
name text
score numeric
day timestamp with time zone
obj_a bigint
flag boolean
late text
EOF
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF
sa-load: $T: 72000 rows read, 72000 inserted, 0 updated
{"prog":"sa-load","records_in":72000,"records_out":72000,"records_rejected":0,"bytes_in":$(($(stat -c %s "$BATS_TEST_TMPDIR/in.tsv") * 2)),"inserted":72000,"updated":0}
EOF
}

@test "sa-load: 4 threads replace keys as 1 does, in new tables and in one with rows" {
	pg_table thr
	# Every id once: the table made gets its primary key after the rows.
	grep -vE '^\{"id":[0-9]*500,' "$LIN" > "$BATS_TEST_TMPDIR/once.ndjson"
	same_load no_table --mode replace-keys --scope-key id -k id "$BATS_TEST_TMPDIR/once.ndjson"
	run rejects_one
	assert_output - <<'EOF2'
2 invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'
6988 record is not a JSON object
11979 a string holds \u0000, and COPY text cannot hold a NUL character
12978 a field name is empty or holds a NUL character
15973 key "id" is null
EOF2
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF2
sa-load: $T: 35932 rows read, 0 deleted, 35927 inserted, 0 updated, 5 rejected
{"prog":"sa-load","records_in":35932,"records_out":35927,"records_rejected":5,"bytes_in":$(stat -c %s "$BATS_TEST_TMPDIR/once.ndjson"),"deleted":0,"inserted":35927,"updated":0}
EOF2
	run q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '\"$T\"'::regclass"
	assert_output 'PRIMARY KEY (id)'
	# Ids twice: the server refuses the second row of each, at its line.
	same_load no_table --mode replace-keys --scope-key id -k id "$LIN"
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF2
sa-load: $T: 36004 rows read, 0 deleted, 35963 inserted, 0 updated, 41 rejected
{"prog":"sa-load","records_in":36004,"records_out":35963,"records_rejected":41,"bytes_in":$(stat -c %s "$LIN"),"deleted":0,"inserted":35963,"updated":0}
EOF2
	run jq -r '"\(.line) \(.error)"' "$BATS_TEST_TMPDIR/1.rej"
	assert_line --index 4 '1001 duplicate key value violates unique constraint "'"$T"'_pkey"'
	assert_equal "$(grep -c 'duplicate key' "$BATS_TEST_TMPDIR/1.rej")" 36
	# Into a table with rows, the scope from a file: its ids' rows go.
	same_load first_row --mode replace-keys --scope-key id --scope "$BATS_TEST_TMPDIR/once.ndjson" "$BATS_TEST_TMPDIR/once.ndjson"
	run cat "$BATS_TEST_TMPDIR/1.msg"
	assert_output - <<EOF2
sa-load: $T: new column "late" text
sa-load: $T: 35932 rows read, 1 deleted, 35927 inserted, 0 updated, 9 rejected
{"prog":"sa-load","records_in":35932,"records_out":35927,"records_rejected":9,"bytes_in":$(stat -c %s "$BATS_TEST_TMPDIR/once.ndjson"),"deleted":1,"inserted":35927,"updated":0}
EOF2
}
