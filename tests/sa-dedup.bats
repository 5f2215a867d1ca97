#!/usr/bin/env bats
load helpers/common
bats_require_minimum_version 1.5.0

F="$SA_SRCDIR/tests/fixtures/sa-dedup"

# Generated records with repeats; big_counter is left out because jq 1.6
# rounds 64-bit integers, and the references below are computed with jq.
gen_dups() {
	gen-successapp -n "$1" --dup 0.4 --seed "${2:-3}" |
	    jq -c 'del(.big_counter)'
}

# Input order of survivors, as jq computes it: KEY is a jq expression
# giving the key as text, PICK is min_by or max_by over [position, ...].
jq_ref() {
	jq -c -n "[inputs] | to_entries | group_by(.value | $1)
	    | map($2) | sort_by(.key) | .[].value" "$3"
}

@test "whole records: equal JSON values are duplicates whatever their key order" {
	run --separate-stderr sa-dedup "$F/records.ndjson"
	assert_success
	assert_output "$(cat "$F/whole.expected")"
	assert_equal "$stderr" ""
}

@test "-k id keeps the first occurrence; keys compare as text (1 equals \"1\")" {
	run sa-dedup -k id "$F/records.ndjson"
	assert_success
	assert_output "$(cat "$F/first.expected")"
}

@test "--keep last keeps the last occurrence, in its input position" {
	run sa-dedup -k id --keep last "$F/records.ndjson"
	assert_success
	assert_output "$(cat "$F/last.expected")"
}

@test "--latest keeps the greatest ISO timestamp" {
	run sa-dedup -k id --latest updated_at "$F/records.ndjson"
	assert_success
	assert_output "$(cat "$F/latest.expected")"
}

@test "--latest compares numbers as numbers; -k takes dotted paths" {
	run sa-dedup -k owner.id --latest score "$F/records.ndjson"
	assert_success
	assert_line --index 0 --partial '"name":"Acme v2"'
	assert_line --index 1 --partial '"name":"Globex old"'
	assert_line --index 2 --partial '"score":12345678901234567890'
	assert_equal "${#lines[@]}" 3
}

@test "-k with several columns" {
	run sa-dedup -k owner.id,name "$F/records.ndjson"
	assert_success
	assert_output "$(cat "$F/whole.expected")"
}

@test "whole-record dedup equals jq's on generated data" {
	gen_dups 400 >"$BATS_TEST_TMPDIR/in"
	jq_ref '.' 'min_by(.key)' "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/ref"
	run sa-dedup "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "$(jq -c . "$BATS_TEST_TMPDIR/ref")"
}

@test "--keep first, last and --latest equal jq references on generated data" {
	gen_dups 400 >"$BATS_TEST_TMPDIR/in"
	jq_ref '.id | tostring' 'min_by(.key)' "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/first"
	jq_ref '.id | tostring' 'max_by(.key)' "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/last"
	jq_ref '.id | tostring' 'max_by([.value.updated_at, .key])' \
	    "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/latest"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/first")" -lt "$(wc -l <"$BATS_TEST_TMPDIR/in")" ]

	run sa-dedup -k id "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "$(jq -c . "$BATS_TEST_TMPDIR/first")"
	run sa-dedup -k id --keep last "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "$(jq -c . "$BATS_TEST_TMPDIR/last")"
	run sa-dedup -k id --latest updated_at "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "$(jq -c . "$BATS_TEST_TMPDIR/latest")"
}

@test "numbers and strings pass through exactly" {
	printf '%s\n' '{"id":18446744073709551617,"x":1.50,"y":1e3,"s":"caf\u00e9 \"q\""}' \
	    '{"id":18446744073709551617,"x":2}' >"$BATS_TEST_TMPDIR/in"
	run sa-dedup -k id "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"id":18446744073709551617,"x":1.50,"y":1e3,"s":"café \"q\""}'
}

@test "TSV in, TSV out with the same header; -j writes NDJSON" {
	run sa-dedup -k id "$F/records.tsv"
	assert_success
	assert_output "$(printf 'id\tname\tnote\n1\tAcme\t\\N\n2\tGlobex\ttab\\there\n3\t\\N\t\\\\')"
	run sa-dedup -k id -j "$F/records.tsv"
	assert_success
	assert_output "$(printf '%s\n' '{"id":"1","name":"Acme","note":null}' \
	    '{"id":"2","name":"Globex","note":"tab\there"}' \
	    '{"id":"3","name":null,"note":"\\"}')"
}

@test "TSV files with different headers: every column of every file comes out" {
	printf 'id\ta\n1\tx\n2\tz\n' >"$BATS_TEST_TMPDIR/h1.tsv"
	printf 'id\tb\n3\ty\n1\tw\n' >"$BATS_TEST_TMPDIR/h2.tsv"
	run --separate-stderr sa-dedup -k id "$BATS_TEST_TMPDIR/h1.tsv" "$BATS_TEST_TMPDIR/h2.tsv"
	assert_success
	assert_output - <<-'EOF'
	id	a	b
	1	x	\N
	2	z	\N
	3	\N	y
	EOF
	run --separate-stderr sa-dedup -j "$BATS_TEST_TMPDIR/h1.tsv" "$BATS_TEST_TMPDIR/h2.tsv"
	assert_success
	assert_output - <<-'EOF'
	{"id":"1","a":"x"}
	{"id":"2","a":"z"}
	{"id":"3","b":"y"}
	{"id":"1","b":"w"}
	EOF
}

@test "NDJSON in, -t out: a column that first appears late still gets one" {
	printf '%s\n' '{"id":1,"a":"x"}' '{"id":1,"a":"y"}' '{"id":2,"b":[1,2]}' |
	    sa-dedup -k id -t >"$BATS_TEST_TMPDIR/out"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output "$(printf 'id\ta\tb\n1\tx\t\\N\n2\t\\N\t[1,2]')"
}

@test "stdin and - read standard input; several files are one stream" {
	run sh -c "sa-dedup -k id - '$F/records.ndjson' <'$F/records.ndjson'"
	assert_success
	assert_output "$(cat "$F/first.expected")"
}

@test "a missing or null key is bad input: exit 65 naming file, line and key" {
	run --separate-stderr sa-dedup -k id "$F/bad.ndjson"
	assert_failure 65
	assert_equal "$stderr" "sa-dedup: $F/bad.ndjson:2: key \"id\" is missing"
}

@test "--rejects keeps records without a key and goes on" {
	run --separate-stderr sa-dedup -k id --rejects "$BATS_TEST_TMPDIR/rej" "$F/bad.ndjson"
	assert_success
	assert_output "$(printf '%s\n' '{"id":1,"a":1}' '{"id":2,"a":4}')"
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_line --index 0 "{\"file\":\"$F/bad.ndjson\",\"line\":2,\"error\":\"key \\\"id\\\" is missing\",\"input\":\"{\\\"a\\\":2}\"}"
	assert_line --index 1 "{\"file\":\"$F/bad.ndjson\",\"line\":3,\"error\":\"key \\\"id\\\" is null\",\"input\":\"{\\\"id\\\":null,\\\"a\\\":3}\"}"
}

@test "--stats reports records in, out and duplicates" {
	run --separate-stderr sa-dedup -k id --stats "$F/records.ndjson"
	assert_success
	[[ "$stderr" == '{"prog":"sa-dedup","records_in":8,"records_out":4,"records_rejected":0,"bytes_in":'*',"duplicates":4}' ]]
}

@test "-m 1M (spilling) and -m 1G give byte-identical output in every mode" {
	awk 'BEGIN { srand(11); for (i = 1; i <= 150000; i++)
	    printf "{\"id\":%d,\"seq\":%d,\"ts\":\"2025-01-%02d\"}\n",
	    int(rand() * 60000), i, 1 + int(rand() * 28) }' >"$BATS_TEST_TMPDIR/in"
	for mode in "-k id" "-k id --keep last" "-k id --latest ts" "-k id --latest seq" ""; do
		sa-dedup $mode -m 1M "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/small"
		sa-dedup $mode -m 1G "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/big"
		cmp "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/big"
	done
	run wc -l <"$BATS_TEST_TMPDIR/small"
	assert_output 150000
	run sh -c "sa-dedup -k id -m 1M '$BATS_TEST_TMPDIR/in' | wc -l"
	assert_output "$(jq .id "$BATS_TEST_TMPDIR/in" | sort -u | wc -l)"
}

@test "no temporary file is left, also after SIGINT while spilling" {
	mkdir "$BATS_TEST_TMPDIR/tmp"
	awk 'BEGIN { for (i = 1; i <= 200000; i++) printf "{\"id\":%d}\n", i }' \
	    >"$BATS_TEST_TMPDIR/in"
	TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-dedup -k id --keep last -m 1M \
	    "$BATS_TEST_TMPDIR/in" >/dev/null
	run ls -A "$BATS_TEST_TMPDIR/tmp"
	assert_output ""

	mkfifo "$BATS_TEST_TMPDIR/fifo"
	TMPDIR="$BATS_TEST_TMPDIR/tmp" sa-dedup -k id --keep last -m 1M \
	    "$BATS_TEST_TMPDIR/fifo" >/dev/null &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/in" >&7
	# The input stays open: wait until the spool file exists.
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

@test "--keep first streams: | head -1 ends an endless input" {
	run bash -c 'seq 1 1000000000 | awk "{ print \"{\\\"id\\\":\" \$1 \"}\" }" |
	    timeout 120 sa-dedup -k id | head -n 1; echo "${PIPESTATUS[2]}"'
	assert_output "$(printf '%s\n' '{"id":1}' 0)"
}

@test "--keep first writes a record before its input ends, with 1 or 4 threads" {
	mkfifo "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	for t in 1 4; do
		sa-dedup -k id --threads "$t" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" &
		pid=$!
		exec 7>"$BATS_TEST_TMPDIR/in"
		printf '%s\n' '{"id":1}' '{"id":1}' >&7
		# The input stays open: the line must come without its end.
		run timeout 60 head -n 1 "$BATS_TEST_TMPDIR/out"
		exec 7>&-
		wait $pid
		assert_success
		assert_output '{"id":1}'
	done
}

@test "usage errors exit 64, an unopenable file 66" {
	run --separate-stderr sa-dedup --keep middle
	assert_failure 64
	run --separate-stderr sa-dedup --keep last --latest ts
	assert_failure 64
	run --separate-stderr sa-dedup -m 0
	assert_failure 64
	run --separate-stderr sa-dedup --bogus
	assert_failure 64
	assert_equal "${stderr_lines[1]}" "Try 'sa-dedup --help' for more information."
	run --separate-stderr sa-dedup -k id "$BATS_TEST_TMPDIR/none" "$F/records.ndjson"
	assert_failure 66
	strip_abort sa-dedup 66
	assert_output "$(cat "$F/first.expected")"
	assert_equal "$stderr" "sa-dedup: $BATS_TEST_TMPDIR/none: No such file or directory"
}

@test "an empty item in -k (a,,b  ,a  a,  '') is a usage error naming -k" {
	for k in a,,b ,a a, ''; do
		assert_empty_item sa-dedup -k "$k" "$F/records.ndjson"
	done
}

@test "--help shows the man page's SYNOPSIS as its usage line" {
	run sa-dedup --help
	assert_success
	synopsis=$(man_synopsis sa-dedup.1)
	assert_equal "${lines[0]}" "usage: $synopsis"
}

@test "memory: 2 million distinct keys within 40 bytes a key + 16 MB" {
	skip_if_sanitizers
	awk 'BEGIN { for (i = 1; i <= 2000000; i++) printf "{\"id\":%d}\n", i * 7 }' \
	    >"$BATS_TEST_TMPDIR/in"
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-dedup -k id "$BATS_TEST_TMPDIR/in")
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output 2000000
	echo "# peak RSS $rss KiB" >&3
	[ "$rss" -le $(( (2000000 * 40 + 16 * 1048576) / 1024 )) ]
}

@test "memory: -m 64M on a larger input stays under 80 MB" {
	skip_if_sanitizers
	awk 'BEGIN { for (i = 1; i <= 6000000; i++) printf "{\"id\":%d}\n", i }' \
	    >"$BATS_TEST_TMPDIR/in"
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-dedup -k id -m 64M "$BATS_TEST_TMPDIR/in")
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output 6000000
	echo "# peak RSS $rss KiB" >&3
	[ "$rss" -le $(( 80 * 1024 )) ]
}
