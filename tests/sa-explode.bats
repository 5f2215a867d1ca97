#!/usr/bin/env bats
# sa-explode: flattening, --path, --split, -t, bad input, memory.

load helpers/common

setup() {
	A="$FIXTURES/sa-explode/accounts.ndjson"
}

@test "flatten joins nested keys, keeps arrays whole and numbers exact" {
	run --separate-stderr sa-explode "$A"
	assert_success
	assert_equal "$stderr" ""
	assert_output - <<'EOF'
{"id":1,"name":"Acme","owner_id":7,"owner_team_name":"EMEA","tags":["vip","smb"],"territories":[{"id":10,"name":"North","association":{"source_id":99,"kind":"primary"},"tags":[{"name":"a"},{"name":"b"}]},{"id":11,"name":"South","tags":[]}],"result_id":3,"result_score":1.50,"big":12345678901234567890}
{"id":2,"name":"Tab\there \"quoted\" back\\slash\nnewline","owner":null,"tags":[],"territories":[],"result_id":4,"ünïcode":"日本"}
{"id":3,"name":"Late","territories":["x",{"id":12}],"segment":"new"}
EOF
}

@test "strings are written escaped as JSON wants, at any place in a long string" {
	# Strings are scanned 16 bytes at a time: an escape in the first
	# block, in a later one, in the last bytes; UTF-8 passes as it is.
	s='0123456789abcdef\"0123456789abcdef\\0123456789abcdefü\u0001x\u001füüüüüüüüüüüüü\n\t\u007f'
	printf '{"a":"%s","b":"\\"x"}\n' "$s" >"$BATS_TEST_TMPDIR/in"
	run sa-explode "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "{\"a\":\"${s%\\u007f}"$'\x7f'"\",\"b\":\"\\\"x\"}"
}

@test "-t escapes backslash, tab, LF and CR at any place in a long string" {
	s='0123456789abcdef\t0123456789abcdef\\0123456789abcdefü\nx\rüüüüüüüüüüüüü\t'
	printf '{"a":"%s","b":"x\\\\"}\n' "$s" >"$BATS_TEST_TMPDIR/in"
	run sa-explode -t "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "$(printf 'a\tb\n%s\tx\\\\' "$s")"
}

@test "--sep changes the separator" {
	run sa-explode --sep __ <<<'{"id":1,"owner":{"team":{"name":"x"}}}'
	assert_success
	assert_output '{"id":1,"owner__team__name":"x"}'
}

@test "-p explodes an array: parent key, _idx, prefixed fields, scalar elements" {
	run sa-explode -p territories "$A"
	assert_success
	assert_output - <<'EOF'
{"id":1,"territories_idx":0,"territories_id":10,"territories_name":"North","territories_association_source_id":99,"territories_association_kind":"primary","territories_tags":[{"name":"a"},{"name":"b"}]}
{"id":1,"territories_idx":1,"territories_id":11,"territories_name":"South","territories_tags":[]}
{"id":3,"territories_idx":0,"territories":"x"}
{"id":3,"territories_idx":1,"territories_id":12}
EOF
}

@test "-p with a nested path carries every ancestor's key and idx" {
	run sa-explode -p territories.tags "$A"
	assert_success
	assert_output - <<'EOF'
{"id":1,"territories_idx":0,"territories_id":10,"territories_tags_idx":0,"territories_tags_name":"a"}
{"id":1,"territories_idx":0,"territories_id":10,"territories_tags_idx":1,"territories_tags_name":"b"}
EOF
}

@test "-p through a nested object" {
	run sa-explode -p result.reasons <<<'{"id":5,"result":{"reasons":[{"code":"R1"},{"code":"R2"}]}}'
	assert_success
	assert_output - <<'EOF'
{"id":5,"result_reasons_idx":0,"result_reasons_code":"R1"}
{"id":5,"result_reasons_idx":1,"result_reasons_code":"R2"}
EOF
}

@test "-p ending at an object gives one row of its fields" {
	run sa-explode -p result <<'EOF'
{"id":1,"result":{"id":3,"score":1.5,"why":{"code":"x"}}}
{"id":2,"result":null}
{"id":3}
EOF
	assert_success
	assert_output '{"id":1,"result_id":3,"result_score":1.5,"result_why_code":"x"}'
}

@test "-k picks the parent keys, dotted paths allowed, missing keys are null" {
	run sa-explode -p territories -k id,owner.id "$A"
	assert_success
	assert_line --index 0 '{"id":1,"owner_id":7,"territories_idx":0,"territories_id":10,"territories_name":"North","territories_association_source_id":99,"territories_association_kind":"primary","territories_tags":[{"name":"a"},{"name":"b"}]}'
	assert_line --index 2 '{"id":3,"owner_id":null,"territories_idx":0,"territories":"x"}'
}

@test "--keep-empty gives one row of parent keys for empty and missing arrays" {
	run sa-explode -p territories --keep-empty <<'EOF'
{"id":1,"territories":[]}
{"id":2}
{"id":3,"territories":[{"id":9}]}
EOF
	assert_success
	assert_output - <<'EOF'
{"id":1,"territories_idx":null}
{"id":2,"territories_idx":null}
{"id":3,"territories_idx":0,"territories_id":9}
EOF
}

@test "--keep-empty at the inner level of a nested path" {
	run sa-explode -p territories.tags --keep-empty <<<'{"id":1,"territories":[{"id":5,"tags":[]}]}'
	assert_success
	assert_output '{"id":1,"territories_idx":0,"territories_id":5,"territories_tags_idx":null}'
}

@test "--split writes the whole model in one pass" {
	run sa-explode --split "$BATS_TEST_TMPDIR/out" --name acc "$A"
	assert_success
	run ls "$BATS_TEST_TMPDIR/out"
	assert_output - <<'EOF'
acc.ndjson
acc__territories.ndjson
acc__territories__tags.ndjson
EOF
	run cat "$BATS_TEST_TMPDIR/out/acc.ndjson"
	assert_output - <<'EOF'
{"id":1,"name":"Acme","owner_id":7,"owner_team_name":"EMEA","tags":["vip","smb"],"result_id":3,"result_score":1.50,"big":12345678901234567890}
{"id":2,"name":"Tab\there \"quoted\" back\\slash\nnewline","owner":null,"result_id":4,"ünïcode":"日本"}
{"id":3,"name":"Late","segment":"new"}
EOF
	run cat "$BATS_TEST_TMPDIR/out/acc__territories.ndjson"
	assert_output - <<'EOF'
{"id":1,"territories_idx":0,"territories_id":10,"territories_name":"North","territories_association_source_id":99,"territories_association_kind":"primary"}
{"id":1,"territories_idx":1,"territories_id":11,"territories_name":"South"}
{"id":3,"territories_idx":0,"territories":"x"}
{"id":3,"territories_idx":1,"territories_id":12}
EOF
	run cat "$BATS_TEST_TMPDIR/out/acc__territories__tags.ndjson"
	assert_output - <<'EOF'
{"id":1,"territories_idx":0,"territories_id":10,"territories_tags_idx":0,"territories_tags_name":"a"}
{"id":1,"territories_idx":0,"territories_id":10,"territories_tags_idx":1,"territories_tags_name":"b"}
EOF
}

@test "--split -t writes TSV files with complete headers" {
	run sa-explode -t --split "$BATS_TEST_TMPDIR/out" --name acc "$A"
	assert_success
	run cat "$BATS_TEST_TMPDIR/out/acc__territories.tsv"
	assert_output - <<'EOF'
id	territories_idx	territories_id	territories_name	territories_association_source_id	territories_association_kind	territories
1	0	10	North	99	primary	\N
1	1	11	South	\N	\N	\N
3	0	\N	\N	\N	\N	x
3	1	12	\N	\N	\N	\N
EOF
}

@test "--split needs --name and takes no --path" {
	run --separate-stderr sa-explode --split "$BATS_TEST_TMPDIR/o" "$A"
	assert_failure 64
	run --separate-stderr sa-explode --split "$BATS_TEST_TMPDIR/o" --name a -p x "$A"
	assert_failure 64
}

@test "an empty item in -k (a,,b  ,a  a,  '') or -p (a..b) is a usage error naming it" {
	for k in a,,b ,a a, ''; do
		assert_empty_item sa-explode -k "$k" "$A"
	done
	for p in territories..tags .territories territories. ''; do
		assert_empty_item sa-explode -p "$p" "$A"
	done
}

@test "--max-depth keeps deeper objects whole" {
	run sa-explode --max-depth 2 <<<'{"id":1,"a":{"b":{"c":{"d":1}},"e":2}}'
	assert_success
	assert_output '{"id":1,"a_b":{"c":{"d":1}},"a_e":2}'
	run sa-explode --max-depth 1 <<<'{"id":1,"a":{"b":1}}'
	assert_output '{"id":1,"a":{"b":1}}'
	run --separate-stderr sa-explode --max-depth 0 <<<'{}'
	assert_failure 64
}

@test "--drop removes columns by glob" {
	run sa-explode --drop 'owner_*' --drop tags "$A"
	assert_success
	assert_line --index 0 '{"id":1,"name":"Acme","territories":[{"id":10,"name":"North","association":{"source_id":99,"kind":"primary"},"tags":[{"name":"a"},{"name":"b"}]},{"id":11,"name":"South","tags":[]}],"result_id":3,"result_score":1.50,"big":12345678901234567890}'
}

@test "--columns keeps only the columns matching a glob, in every file of --split, with --drop and -t" {
	run sa-explode --columns 'id,result_*' "$A"
	assert_success
	assert_output - <<'EOF'
{"id":1,"result_id":3,"result_score":1.50}
{"id":2,"result_id":4}
{"id":3}
EOF
	run sa-explode --columns id --columns name --drop name -t "$A"
	assert_output "$(printf 'id\n1\n2\n3')"
	run sa-explode --columns 'id,*name,*idx' --split "$BATS_TEST_TMPDIR/m" --name a "$A"
	assert_success
	run cat "$BATS_TEST_TMPDIR/m/a__territories.ndjson"
	assert_output - <<'EOF'
{"id":1,"territories_idx":0,"territories_name":"North"}
{"id":1,"territories_idx":1,"territories_name":"South"}
{"id":3,"territories_idx":0}
{"id":3,"territories_idx":1}
EOF
	# A record that keeps no column is {}.
	run sa-explode --columns nothing "$A"
	assert_output "$(printf '{}\n{}\n{}')"
	run --separate-stderr sa-explode --columns 'id,,' "$A"
	[ "$status" -eq 64 ]
	assert_equal "${stderr_lines[0]}" "sa-explode: --columns: empty item in 'id,,'"
}

@test "-t knows a column that first appears in the last record, also on stdin" {
	run sa-explode -t < "$A"
	assert_success
	assert_output - <<'EOF'
id	name	owner_id	owner_team_name	tags	territories	result_id	result_score	big	owner	ünïcode	segment
1	Acme	7	EMEA	["vip","smb"]	[{"id":10,"name":"North","association":{"source_id":99,"kind":"primary"},"tags":[{"name":"a"},{"name":"b"}]},{"id":11,"name":"South","tags":[]}]	3	1.50	12345678901234567890	\N	\N	\N
2	Tab\there "quoted" back\\slash\nnewline	\N	\N	[]	[]	4	\N	\N	\N	日本	\N
3	Late	\N	\N	\N	["x",{"id":12}]	\N	\N	\N	\N	\N	new
EOF
	# The spool under $TMPDIR is gone afterwards.
	run ls -A "$TMPDIR"
	assert_output ""
}

@test "equal values of colliding paths merge; different ones are an error naming both" {
	run sa-explode <<<'{"result_id":3,"result":{"id":3}}'
	assert_success
	assert_output '{"result_id":3}'
	run --separate-stderr sa-explode <<<'{"result_id":3,"result":{"id":4}}'
	assert_failure 65
	assert_equal "$stderr" 'sa-explode: stdin:1: result_id and result.id both make column "result_id" with different values'
	run sa-explode --sep __ <<<'{"result_id":3,"result":{"id":4}}'
	assert_output '{"result_id":3,"result__id":4}'
}

@test "a collision goes to --rejects and the rest comes out" {
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" <<'EOF'
{"id":1}
{"id":2,"a_b":1,"a":{"b":2}}
{"id":3}
EOF
	assert_success
	assert_output $'{"id":1}\n{"id":3}'
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_output '{"file":"stdin","line":2,"error":"a_b and a.b both make column \"a_b\" with different values","input":"{\"id\":2,\"a_b\":1,\"a\":{\"b\":2}}"}'
}

@test "input formats: pretty-printed, concatenated, top-level array, CRLF" {
	run sa-explode <<'EOF'
{"id":1}{"id":2} {"id":3}
{
  "id": 4,
  "o": {"k": true}
}
EOF
	assert_output $'{"id":1}\n{"id":2}\n{"id":3}\n{"id":4,"o_k":true}'
	run sa-explode <<'EOF'
[
  {"id": 1, "a": [1, 2]},
  {"id": 2}
]
EOF
	assert_output $'{"id":1,"a":[1,2]}\n{"id":2}'
	run sa-explode < <(printf '{"id":1}\r\n{"id":2}\r\n')
	assert_output $'{"id":1}\n{"id":2}'
}

@test "TSV input is read with its header" {
	run sa-explode < <(printf 'id\tname\n1\ta\\tb\n2\t\\N\n')
	assert_success
	assert_output $'{"id":"1","name":"a\\tb"}\n{"id":"2","name":null}'
}

@test "empty input gives empty output" {
	run --separate-stderr sa-explode < /dev/null
	assert_success
	assert_output ""
	run sa-explode -t < /dev/null
	assert_success
	assert_output ""
}

@test "invalid JSON mid-stream stops with FILE:LINE and status 65" {
	printf '{"id":1}\n{"id":2,bad}\n{"id":3}\n' > "$BATS_TEST_TMPDIR/bad.ndjson"
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/bad.ndjson"
	strip_abort sa-explode 65
	assert_failure 65
	assert_output '{"id":1}'
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/bad.ndjson:2: invalid JSON: lexical error: invalid char in json text."
}

@test "with --rejects every other record comes out and the bad one is kept" {
	printf '{"id":1}\n{"id":2,bad}\n{"id":3}\n' > "$BATS_TEST_TMPDIR/bad.ndjson"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" --stats "$BATS_TEST_TMPDIR/bad.ndjson"
	assert_success
	assert_output $'{"id":1}\n{"id":3}'
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_output "{\"file\":\"$BATS_TEST_TMPDIR/bad.ndjson\",\"line\":2,\"error\":\"invalid JSON: lexical error: invalid char in json text.\",\"input\":\"{\\\"id\\\":2,bad}\"}"
}

@test "--stats prints one JSON line of counters" {
	run --separate-stderr sa-explode --stats -p territories "$A"
	assert_success
	run jq -c '{prog, records_in, records_out, records_rejected, bytes_in}' <<<"$stderr"
	assert_output "{\"prog\":\"sa-explode\",\"records_in\":3,\"records_out\":4,\"records_rejected\":0,\"bytes_in\":$(wc -c < "$A")}"
}

@test "a truncated last line is an error on its line" {
	run --separate-stderr sa-explode < <(printf '{"id":1}\n{"id":2')
	strip_abort sa-explode 65
	assert_failure 65
	assert_output '{"id":1}'
	assert_equal "$stderr" 'sa-explode: stdin:2: invalid JSON: the input ends inside a record'
}

@test "a last line without LF is judged whole: an open string is one reject, on its line" {
	printf '{"id":1}\n"abc' >"$BATS_TEST_TMPDIR/a"
	printf '{"id":1}\n{"id":2} "x' >"$BATS_TEST_TMPDIR/b"
	printf '[{"id":1},\n{"id":2}' >"$BATS_TEST_TMPDIR/c"
	# A last byte that is NUL is a byte like any other.
	printf '[\nx\n\0' >"$BATS_TEST_TMPDIR/d"
	run sa-explode --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/a" \
	    "$BATS_TEST_TMPDIR/b" "$BATS_TEST_TMPDIR/c" "$BATS_TEST_TMPDIR/d"
	assert_success
	assert_output - <<-'EOF'
	{"id":1}
	{"id":1}
	{"id":1}
	{"id":2}
	EOF
	run jq -c '[(.file | sub(".*/"; "")), .line, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<-'EOF'
	["a",2,"\"abc"]
	["b",2,"{\"id\":2} \"x"]
	["c",2,""]
	["d",2,"x"]
	["d",3,"\u0000"]
	["d",3,""]
	EOF
	run jq -r .error "$BATS_TEST_TMPDIR/rej"
	assert_line --index 0 'invalid JSON: lexical error: invalid character inside string.'
	assert_line --index 2 'invalid JSON: the top-level array is not closed'
}

@test "a multi-line record that breaks is rejected whole and reading resumes" {
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" <<'EOF'
{"id":1}
{
  "id": 2,
  oops
}
{"id":3}
EOF
	assert_success
	assert_output $'{"id":1}\n{"id":3}'
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_line --index 0 '[2,"{\n  \"id\": 2,\n  oops"]'
}

@test "records that are not objects are bad input" {
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" <<'EOF'
{"id":1}
"text"
42
{"id":4}
EOF
	assert_success
	assert_output $'{"id":1}\n{"id":4}'
	run jq -c '[.line, .error, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output $'[2,"record is not a JSON object","\\"text\\""]\n[3,"record is not a JSON object","42"]'
}

@test "invalid UTF-8 is bad input" {
	run --separate-stderr sa-explode < <(printf '{"id":1,"s":"\xff"}\n{"id":2}\n')
	assert_failure 65
	assert_equal "$stderr" 'sa-explode: stdin:1: invalid JSON: lexical error: invalid bytes in UTF8 string.'
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" < <(printf '{"id":1,"s":"\xff"}\n{"id":2}\n')
	assert_success
	assert_output '{"id":2}'
	run jq -r .input "$BATS_TEST_TMPDIR/rej"
	assert_output '{"id":1,"s":"�"}'
}

@test "100 000-deep nesting is an error, not a crash" {
	python3 -c "print('{\"id\":1,\"a\":' + '['*100000 + ']'*100000 + '}'); print('{\"id\":2,\"b\":' + '{\"c\":'*100000 + '1' + '}'*100000 + '}'); print('{\"id\":3}')" > "$BATS_TEST_TMPDIR/deep"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/deep"
	assert_success
	assert_output '{"id":3}'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output $'[1,"nested deeper than 10000 levels"]\n[2,"nested deeper than 10000 levels"]'
}

@test "5 000-deep objects flatten, or stay whole below --max-depth" {
	python3 -c "print('{\"id\":1,\"a\":' + '{\"b\":'*5000 + '1' + '}'*5000 + '}')" > "$BATS_TEST_TMPDIR/deep"
	run sa-explode "$BATS_TEST_TMPDIR/deep"
	assert_success
	assert_output "{\"id\":1,\"a$(printf '_b%.0s' $(seq 5000))\":1}"
	run sa-explode --max-depth 1 "$BATS_TEST_TMPDIR/deep"
	assert_output "$(tr -d ' ' < "$BATS_TEST_TMPDIR/deep")"
}

@test "a bad record on the last line is one reject, not two" {
	python3 -c "print('{\"id\":1}'); print('{\"a\":' + '['*20000 + ']'*20000 + '}')" >"$BATS_TEST_TMPDIR/deep"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/deep"
	assert_success
	assert_output '{"id":1}'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/r"
	assert_output '[2,"nested deeper than 10000 levels"]'
}

@test "half a surrogate pair in a \\u escape is bad input" {
	printf '%s\n' '{"id":1,"s":"x\ud83d\ude00y"}' '{"id":2,"s":"x\ud800y"}' \
	    '{"id":3,"s":"x\udc00"}' '{"id":4,"\uDBFF":1}' '{"id":5,"s":"x\\ud800"}' \
	    '{"id":6,"s":["a","\ud800\u0041"]}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/in"
	assert_failure 65
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/in:2: invalid JSON: a \\u escape is half of a surrogate pair"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"s":"x😀y"}
	{"id":5,"s":"x\\ud800"}
	EOF
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/r"
	assert_output - <<-'EOF'
	[2,"{\"id\":2,\"s\":\"x\\ud800y\"}"]
	[3,"{\"id\":3,\"s\":\"x\\udc00\"}"]
	[4,"{\"id\":4,\"\\uDBFF\":1}"]
	[6,"{\"id\":6,\"s\":[\"a\",\"\\ud800\\u0041\"]}"]
	EOF
}

@test "UTF-8 is checked as RFC 3629 has it: overlong forms, surrogates, above U+10FFFF" {
	printf '{"id":1,"s":"\xc0\x80"}\n{"id":2,"s":"\xed\xa0\x80"}\n{"id":3,"s":"\xf4\x90\x80\x80"}\n{"id":4,"\xf5\x80\x80\x80":1}\n{"id":5,"s":"\xc3\xbc\xe6\x97\xa5\xf0\x9f\x98\x80"}\n' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"id":5,"s":"ü日😀"}'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/r"
	assert_output - <<-'EOF'
	[1,"invalid UTF-8"]
	[2,"invalid UTF-8"]
	[3,"invalid UTF-8"]
	[4,"invalid UTF-8"]
	EOF
	# TSV escapes may not make what raw bytes may not be.
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" <<<$'id\tn\n5\t\\xff\n6\t\\000\n7\t\\xc3\\xbc'
	assert_success
	assert_output '{"id":"7","n":"ü"}'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/r"
	assert_output - <<-'EOF'
	[2,"column \"n\": invalid UTF-8"]
	[3,"column \"n\": a NUL character"]
	EOF
}

@test "a top-level array that is not closed: its elements out, then one reject" {
	printf '[{"id":1},\n{"id":2}\n' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/in"
	assert_failure 65
	strip_abort sa-explode 65
	assert_output $'{"id":1}\n{"id":2}'
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/in:2: invalid JSON: the top-level array is not closed"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output $'{"id":1}\n{"id":2}'
	run cat "$BATS_TEST_TMPDIR/r"
	assert_output "{\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":2,\"error\":\"invalid JSON: the top-level array is not closed\",\"input\":\"\"}"
}

@test "a record with 100 000 keys" {
	python3 -c "import json; print(json.dumps({'k%d' % i: i for i in range(100000)}, separators=(',', ':')))" > "$BATS_TEST_TMPDIR/wide"
	run sa-explode "$BATS_TEST_TMPDIR/wide"
	assert_success
	assert_output "$(cat "$BATS_TEST_TMPDIR/wide")"
}

@test "a huge string survives" {
	python3 -c "print('{\"id\":1,\"s\":\"' + 'x'*5000000 + '\"}')" > "$BATS_TEST_TMPDIR/huge"
	run sa-explode "$BATS_TEST_TMPDIR/huge"
	assert_success
	assert_output "$(cat "$BATS_TEST_TMPDIR/huge")"
}

@test "-t: rows longer than the copy buffer, fields out of order and late columns come out whole" {
	{
		echo '{"a": 1}'
		printf '{"a": 2, "big": "%s"}\n' "$(head -c 3000000 /dev/zero | tr '\0' x)"
		echo '{"late": "l", "a": 3}'
		echo '{}'
		echo '{"b": 4, "big": "y"}'
	} > "$BATS_TEST_TMPDIR/in"
	run sa-explode -t "$BATS_TEST_TMPDIR/in"
	assert_success
	run awk -F '\t' '{ print NF, length($0), $1, substr($2, 1, 3), $3, $4 }' <<<"$output"
	assert_output - <<'EOF'
4 12 a big late b
4 10 1 \N \N \N
4 3000008 2 xxx \N \N
4 9 3 \N l \N
4 11 \N \N \N \N
4 9 \N y \N 4
EOF
}

@test "-t reads a pipe, a FIFO and /dev/stdin given as FILE twice without losing rows" {
	run --separate-stderr sa-explode -t <(printf '{"id":1}\n{"id":2,"x":3}\n')
	assert_success
	assert_output $'id\tx\n1\t\\N\n2\t3'
	run --separate-stderr bash -c 'printf "{\"id\":1}\n" | sa-explode -t /dev/stdin'
	assert_success
	assert_output $'id\n1'
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	printf '{"id":1}\n{"y":2}\n' >"$BATS_TEST_TMPDIR/fifo" &
	run --separate-stderr timeout 10 sa-explode -t "$BATS_TEST_TMPDIR/fifo"
	assert_success
	assert_output $'id\ty\n1\t\\N\n\\N\t2'
}

@test "a closed pipe ends quietly with status 0" {
	gen-successapp -n 20000 > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr bash -c 'sa-explode "$1" | head -n 1 > /dev/null; echo "${PIPESTATUS[0]}"' _ "$BATS_TEST_TMPDIR/in"
	assert_output 0
	assert_equal "$stderr" ""
}

@test "a closed pipe: --stats still prints and the rejects read so far are kept" {
	{ echo '{bad'; gen-successapp -n 20000; } > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr bash -c 'sa-explode --stats --rejects "$2" "$1" | head -n 1 > /dev/null; echo "${PIPESTATUS[0]}"' _ "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/r"
	assert_output 0
	run jq -c '[.prog, .records_rejected, .records_in > .records_out, .records_out > 0]' <<<"$stderr"
	assert_output '["sa-explode",1,true,true]'
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/r"
	assert_output '[1,"{bad"]'
}

@test "a file that cannot be opened: the others are read, then status 66" {
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/missing" <(echo '{"id":1}')
	strip_abort sa-explode 66
	assert_failure 66
	assert_output '{"id":1}'
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/missing: No such file or directory"
}

@test "a directory is not input: status 66, the other files are read" {
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR" <(echo '{"id":1}')
	strip_abort sa-explode 66
	assert_failure 66
	assert_output '{"id":1}'
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR: Is a directory"
}

@test "TSV input: an empty line is a row of one empty field, as for COPY" {
	run --separate-stderr sa-explode <<<$'a\nx\n\ny'
	assert_success
	assert_output - <<-'EOF'
	{"a":"x"}
	{"a":""}
	{"a":"y"}
	EOF
	# With two columns it is short a field: bad input, not skipped.
	run --separate-stderr sa-explode <<<$'a\tb\n1\t2\n\n3\t4'
	assert_failure 65
	assert_equal "$stderr" "sa-explode: stdin:3: expected 2 fields, found 1"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/r" <<<$'a\tb\n1\t2\n\n3\t4'
	assert_success
	assert_output - <<-'EOF'
	{"a":"1","b":"2"}
	{"a":"3","b":"4"}
	EOF
	run cat "$BATS_TEST_TMPDIR/r"
	assert_output '{"file":"stdin","line":3,"error":"expected 2 fields, found 1","input":""}'
}

@test "-t output goes into PostgreSQL with \\copy unchanged and round-trips" {
	require_pg
	printf '%s\n' \
	    '{"id":1,"s":"tab\there","n":12345678901234567890,"j":{"x":[1,"a\\b"]},"u":"日本 ü"}' \
	    '{"id":2,"s":"line\nbreak\r\\back","n":null,"u":null}' \
	    '{"id":3,"s":"","j":{"q":"\"quoted\""}}' > "$BATS_TEST_TMPDIR/in"
	sa-explode -t --max-depth 1 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out.tsv"
	psql -q -v ON_ERROR_STOP=1 -c 'set client_min_messages = warning' -c 'drop table if exists explode_rt' \
	    -c 'create table explode_rt (id int, s text, n numeric, j jsonb, u text)'
	psql -q -v ON_ERROR_STOP=1 -c "\\copy explode_rt from '$BATS_TEST_TMPDIR/out.tsv' (header)"
	run psql -At -c "select id, s is null, n, j, u from explode_rt order by id"
	assert_output - <<'EOF'
1|f|12345678901234567890|{"x": [1, "a\\b"]}|日本 ü
2|f|||
3|f||{"q": "\"quoted\""}|
EOF
	cat > "$BATS_TEST_TMPDIR/check.sql" <<'EOF'
select id, s = case id when 1 then E'tab\there'
                       when 2 then E'line\nbreak\r\\back' else '' end
from explode_rt order by id
EOF
	run psql -At -f "$BATS_TEST_TMPDIR/check.sql"
	assert_output $'1|t\n2|t\n3|t'
	psql -q -c 'drop table explode_rt'
}

@test "peak RSS stays under 16 MB on a 1 GB input, NDJSON and one JSON array" {
	skip_if_sanitizers
	gen-successapp --bytes 1G > "$BATS_TEST_TMPDIR/big.ndjson"
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/n" sa-explode -p territories "$BATS_TEST_TMPDIR/big.ndjson")
	echo "ndjson -p: $rss KiB"
	[ "$rss" -le 16384 ]
	rss=$(peak_rss_kb /dev/null sa-explode "$BATS_TEST_TMPDIR/big.ndjson")
	echo "ndjson flatten: $rss KiB"
	[ "$rss" -le 16384 ]
	# The same records as one top-level array on a single line.
	{ printf '['; paste -sd, "$BATS_TEST_TMPDIR/big.ndjson"; printf ']\n'; } > "$BATS_TEST_TMPDIR/big.json"
	rm "$BATS_TEST_TMPDIR/big.ndjson"
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/a" sa-explode -p territories "$BATS_TEST_TMPDIR/big.json")
	echo "array -p: $rss KiB"
	[ "$rss" -le 16384 ]
	run cmp "$BATS_TEST_TMPDIR/n" "$BATS_TEST_TMPDIR/a"
	assert_success
}

@test "--split on generated data: every array element is one child row" {
	gen-successapp -n 300 --seed 3 > "$BATS_TEST_TMPDIR/in"
	sa-explode --split "$BATS_TEST_TMPDIR/out" --name a "$BATS_TEST_TMPDIR/in"
	for p in territories bridges stage_history result_reasons; do
		want=$(jq "[.${p}[]?] | length" "$BATS_TEST_TMPDIR/in" | awk '{s += $1} END {print s}')
		run wc -l < "$BATS_TEST_TMPDIR/out/a__$p.ndjson"
		assert_output "$want"
	done
	want=$(jq '[.territories[]?.tags[]?] | length' "$BATS_TEST_TMPDIR/in" | awk '{s += $1} END {print s}')
	run wc -l < "$BATS_TEST_TMPDIR/out/a__territories__tags.ndjson"
	assert_output "$want"
	# Child rows hold the same values as jq finds in the input.
	run diff <(jq -c '.id as $id | .stage_history | to_entries[] | {id: $id, stage_history_idx: .key, stage_history_stage: .value.stage, stage_history_at: .value.at}' "$BATS_TEST_TMPDIR/in") "$BATS_TEST_TMPDIR/out/a__stage_history.ndjson"
	assert_success
	run wc -l < "$BATS_TEST_TMPDIR/out/a.ndjson"
	assert_output 300
}

@test "-p on generated data equals jq's explode" {
	gen-successapp -n 300 --seed 4 > "$BATS_TEST_TMPDIR/in"
	run diff <(jq -c '.id as $id | .territories | to_entries[] | {id: $id, territories_idx: .key, territories_id: .value.id, territories_name: .value.name, territories_association_source_id: .value.association.source_id, territories_association_kind: .value.association.kind, territories_tags: .value.tags}' "$BATS_TEST_TMPDIR/in") <(sa-explode -p territories "$BATS_TEST_TMPDIR/in")
	assert_success
}

@test "a progress line on a terminal, cleared at the end; none with --quiet" {
	seq 1 5000 | sed 's/.*/{"id":&}/' > "$BATS_TEST_TMPDIR/in"
	run script -qec "sa-explode '$BATS_TEST_TMPDIR/in' > /dev/null" /dev/null
	assert_success
	assert_output --regexp $'^\rsa-explode: [0-9]+ records, [0-9.]+ MB\e\\[K.*\r\e\\[K$'
	run script -qec "sa-explode --quiet '$BATS_TEST_TMPDIR/in' > /dev/null" /dev/null
	assert_success
	assert_output ""
}

@test "a record left open on one line costs that record only" {
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" < <(printf '{"id": 10}\n{"id": 11, "name": "eleven"\n{"id": 12}\n')
	assert_success
	assert_output $'{"id":10}\n{"id":12}'
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output '[2,"{\"id\": 11, \"name\": \"eleven\""]'
	# The same inside a pretty-printed top-level array.
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" < <(printf '[\n{"id": 10},\n{"id": 11,\n{"id": 12}\n]\n')
	assert_success
	assert_output $'{"id":10}\n{"id":12}'
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output '[3,"{\"id\": 11,"]'
}

@test "TSV input: COPY's octal and hex escapes, CRLF, and a short row" {
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" < <(printf 'a\\tb\tc\r\n\\x41\\t\\101\tz\r\nonly-one\r\n\\\\\t\\N\r\n')
	assert_success
	assert_output $'{"a\\tb":"A\\tA","c":"z"}\n{"a\\tb":"\\\\","c":null}'
	run jq -c '[.line, .error, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output '[3,"expected 2 fields, found 1","only-one"]'
}

@test "a record with garbage after it on its line is one reject, not a record and a reject" {
	printf '%s\n' '{"id":1}' '{"id":2} extra' '{"id":3}x' '{"id":4} {"id":5}' \
	    '{"a":' '6} {"id":7} x' '[{"id":8}] y' '{"id":9}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output - <<-'EOF'
	{"id":1}
	{"id":4}
	{"id":5}
	{"id":9}
	EOF
	run jq -c '[.line, .input]' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<-'EOF'
	[2,"{\"id\":2} extra"]
	[3,"{\"id\":3}x"]
	[5,"{\"a\":\n6} {\"id\":7} x"]
	[7,"[{\"id\":8}] y"]
	EOF
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/in"
	assert_failure 65
	strip_abort sa-explode 65
	assert_output '{"id":1}'
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/in:2: invalid JSON: lexical error: invalid char in json text."
}

@test "\\u0000: kept as an escape in NDJSON, a bad record for -t (COPY text cannot hold NUL)" {
	printf '%s\n' '{"id":1,"s":"a\u0000b"}' '{"id":2,"s":"ok"}' '{"id":3,"k\u0000":1}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"s":"a\u0000b"}
	{"id":2,"s":"ok"}
	{"id":3,"k\u0000":1}
	EOF
	run --separate-stderr sa-explode -t "$BATS_TEST_TMPDIR/in"
	assert_failure 65
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/in:1: a string holds \\u0000, and COPY text cannot hold a NUL character"
	run --separate-stderr sa-explode -t --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output $'id\ts\n2\tok'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<-'EOF'
	[1,"a string holds \\u0000, and COPY text cannot hold a NUL character"]
	[3,"a string holds \\u0000, and COPY text cannot hold a NUL character"]
	EOF
	# An escaped backslash before u0000 is no NUL; a \u0000 in a line
	# longer than the reader's buffer (fed in parts) is found.
	{ printf '%s\n' '{"id":4,"s":"x\\u0000"}'
	  printf '{"id":5,"pad":"%s","s":"\\u0000"}\n' "$(head -c 300000 /dev/zero | tr '\0' x)"
	  printf '{"id":6,"pad":"%s","s":"é"}\n' "$(head -c 300000 /dev/zero | tr '\0' x)"; } >"$BATS_TEST_TMPDIR/in2"
	run --separate-stderr sa-explode -t --rejects "$BATS_TEST_TMPDIR/rej2" "$BATS_TEST_TMPDIR/in2"
	assert_success
	run cut -f 1,2 <<<"$output"
	assert_output $'id\ts\n4\tx\\\\u0000\n6\té'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej2"
	assert_output '[2,"a string holds \\u0000, and COPY text cannot hold a NUL character"]'
	# A raw NUL byte in TSV input is bad input too.
	run --separate-stderr sa-explode < <(printf 'a\tb\n1\tx\0y\n')
	assert_failure 65
	assert_equal "$stderr" "sa-explode: stdin:2: a NUL byte, which COPY text cannot hold"
}

@test "a control character is found at any place in a long line of UTF-8" {
	# Lines that are not plain ASCII are searched 16 bytes at a time
	# for control characters between tokens, which yajl would skip: in
	# the first block, a later one, or the last bytes.  DEL and the bytes
	# of UTF-8 characters are no control characters.
	u='üüüüüüüüüüüüüüüüüüüüüüüü'
	printf '{"id":1,"a":"%s\x7f%s"}\n{"id":2,"a":"%s%s\x1f"}\n{"id":3,\v"a":"%s"}\n{"id":4,"a":"%s",\v"b":"%s"}\n{"id":5,"a":"\x01%s"}\n' \
	    "$u" "$u" "$u" "$u" "$u" "$u" "$u" "$u" >"$BATS_TEST_TMPDIR/a"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/a"
	assert_success
	assert_output "{\"id\":1,\"a\":\"$u"$'\x7f'"$u\"}"
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<-'EOF'
	[2,"invalid JSON: control character 0x1f (JSON whitespace is space, tab, LF and CR only)"]
	[3,"invalid JSON: control character 0x0b (JSON whitespace is space, tab, LF and CR only)"]
	[4,"invalid JSON: control character 0x0b (JSON whitespace is space, tab, LF and CR only)"]
	[5,"invalid JSON: control character 0x01 (JSON whitespace is space, tab, LF and CR only)"]
	EOF
}

@test "a form feed is not JSON whitespace (RFC 8259: space, tab, LF, CR)" {
	printf '[\f]\n' >"$BATS_TEST_TMPDIR/a"
	run --separate-stderr sa-explode "$BATS_TEST_TMPDIR/a"
	assert_failure 65
	assert_equal "$stderr" "sa-explode: $BATS_TEST_TMPDIR/a:1: invalid JSON: control character 0x0c (JSON whitespace is space, tab, LF and CR only)"
	printf '{"id":1,\f"a":2}\n{"id":2,\v"a":3}\n{"id":3,\t"a":4}\r\n' >"$BATS_TEST_TMPDIR/b"
	run --separate-stderr sa-explode --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/b"
	assert_success
	assert_output '{"id":3,"a":4}'
	run jq -c '[.line, .error]' "$BATS_TEST_TMPDIR/rej"
	assert_output - <<-'EOF'
	[1,"invalid JSON: control character 0x0c (JSON whitespace is space, tab, LF and CR only)"]
	[2,"invalid JSON: control character 0x0b (JSON whitespace is space, tab, LF and CR only)"]
	EOF
}
