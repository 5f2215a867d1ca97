#!/usr/bin/env bats
# sa-fetch against tests/helpers/fixture-api, a mock API on 127.0.0.1 that
# every test starts for itself and teardown stops.
load helpers/common
bats_require_minimum_version 1.5.0

setup() {
	API_PID=
	FETCH_PID=
	H2_PID=
	LOG="$BATS_TEST_TMPDIR/api.log"
}

teardown() {
	if [ -n "$FETCH_PID" ]; then
		kill -9 "$FETCH_PID" 2>/dev/null || true
		wait "$FETCH_PID" 2>/dev/null || true
	fi
	if [ -n "$API_PID" ]; then
		kill "$API_PID" 2>/dev/null || true
		wait "$API_PID" 2>/dev/null || true
	fi
	stop_h2
}

# Starts the mock API; sets API (its URL) and OTHER (a second origin).
start_api() {
	local i
	fixture-api --port-file "$BATS_TEST_TMPDIR/port" --log "$LOG" \
	    --lifetime 300 "$@" 3>&- &
	API_PID=$!
	for i in $(seq 200); do
		[ -s "$BATS_TEST_TMPDIR/port" ] && break
		sleep 0.05
	done
	read -r PORT OTHER_PORT <"$BATS_TEST_TMPDIR/port"
	API="http://127.0.0.1:$PORT"
	OTHER="http://127.0.0.1:$OTHER_PORT"
}

# Waits until the state file STATE counts N pages (or FIELD), while
# sa-fetch runs.
wait_pages() {
	until [ -s "$1" ] && [ "$(jq ".${3:-pages}" "$1")" -ge "$2" ]; do
		kill -0 "$FETCH_PID"
		sleep 0.02
	done
}

# Kills sa-fetch with SIGKILL, a moment later.
kill_fetch() {
	sleep 0.0$RANDOM
	kill -9 "$FETCH_PID"
	wait "$FETCH_PID" || true
	FETCH_PID=
}

# The records FROM..TO-1 as sa-fetch must write them.
expected() {
	fixture-api --dump "$1" "$2" >"$BATS_TEST_TMPDIR/expected"
	echo "$BATS_TEST_TMPDIR/expected"
}

# Requests in the log whose path matches REGEX, as "server status path".
requests() {
	jq -r --arg re "$1" 'select(.path | test($re)) |
	    "\(.server) \(.status) \(.path)"' "$LOG"
}

# Starts nghttpd, an HTTP/2-only server, on 127.0.0.1 over TLS with a
# throwaway self-signed certificate ($H2_CERT), serving the files of
# directory $1; sets H2 (its URL).  Its log of frames goes to $H2_LOG.
start_h2() {
	local port
	H2_CERT=$BATS_TEST_TMPDIR/h2-cert.pem
	H2_LOG=$BATS_TEST_TMPDIR/h2.log
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	    -keyout "$BATS_TEST_TMPDIR/h2-key.pem" -out "$H2_CERT" 2>/dev/null
	port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	nghttpd -a 127.0.0.1 -d "$1" -v "$port" "$BATS_TEST_TMPDIR/h2-key.pem" \
	    "$H2_CERT" >>"$H2_LOG" 2>&1 3>&- &
	H2_PID=$!
	until (exec 4<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$H2_PID"
		sleep 0.05
	done
	H2="https://127.0.0.1:$port"
}

stop_h2() {
	if [ -n "$H2_PID" ]; then
		kill "$H2_PID" 2>/dev/null || true
		wait "$H2_PID" 2>/dev/null || true
		H2_PID=
	fi
}

@test "--help shows the usage; a bad option or no URL exits 64" {
	run sa-fetch --help
	assert_success
	assert_line --index 0 --partial "usage: sa-fetch [-H HEADER]"
	run --separate-stderr sa-fetch --no-such-option
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch
	[ "$status" -eq 64 ]
	[ "$stderr" = "sa-fetch: missing URL
Try 'sa-fetch --help' for more information." ]
	run --separate-stderr sa-fetch --next .n --page-param p http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch --offset-param o http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	[ "$stderr" = "sa-fetch: --offset-param needs --limit
Try 'sa-fetch --help' for more information." ]
	run --separate-stderr sa-fetch --retries -1 http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch --since-field u --since-param u http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch -H 'no colon' http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch --records '.data[' http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch --bearer-env SA_FETCH_UNSET http://127.0.0.1:1/
	[ "$status" -eq 64 ]
	[ "$stderr" = "sa-fetch: --bearer-env: the environment variable SA_FETCH_UNSET is not set
Try 'sa-fetch --help' for more information." ]
}

@test "the usage line and the man page SYNOPSIS say the same" {
	usage=$(sa-fetch --help | sed -n '/^usage:/,/^$/p' | sed 's/^usage: //' |
	    tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//')
	synopsis=$(man_synopsis sa-fetch.1)
	[ "$usage" = "$synopsis" ]
}

@test "records are found in the page, .data, .items or .records" {
	start_api
	golden="$FIXTURES/sa-fetch/accounts-0-3.ndjson"
	run sa-fetch "$API/link/accounts?n=3"
	assert_success
	diff <(echo "$output") "$golden"
	run sa-fetch "$API/cursor/accounts?n=9&size=3"
	assert_success
	diff <(echo "$output") "$golden"
	run sa-fetch "$API/pages/accounts?n=9&per_page=3"
	assert_success
	diff <(echo "$output") "$golden"
	run sa-fetch "$API/offset/accounts?n=9&limit=3"
	assert_success
	diff <(echo "$output") "$golden"
}

@test "Link rel=next pages: every record once, numbers byte for byte" {
	start_api
	run --separate-stderr sa-fetch "$API/link/accounts?n=23&size=5"
	assert_success
	[ "$stderr" = "" ]
	diff <(echo "$output") "$(expected 0 23)"
	# 2**53 + 1 is no double: it would come out as ...992 through one.
	assert_line --index 0 --partial '"big_counter":9007199254740993,'
	[ "$(requests . | wc -l)" -eq 5 ]
}

@test "a relative Link target is resolved against the page's URL" {
	start_api
	run sa-fetch "$API/link/accounts?n=12&size=5&link=relative"
	assert_success
	diff <(echo "$output") "$(expected 0 12)"
}

@test "--next with --cursor-param: an opaque string cursor" {
	start_api
	run sa-fetch --next .meta.next_cursor --cursor-param cursor \
	    "$API/cursor/accounts?n=23&size=5"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
}

@test "--next with a 64-bit number cursor keeps every digit" {
	start_api
	run sa-fetch --next .meta.next_id --cursor-param cursor \
	    "$API/cursor/accounts?n=23&size=5"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
	requests 'cursor=9007199254740998' | grep -q '^main 200 '
}

@test "--next without --cursor-param follows a URL from the page" {
	start_api
	run sa-fetch --next '.links.next' "$API/cursor/accounts?n=23&size=5"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
}

@test "--page-param numbers pages from --start and stops at an empty page" {
	start_api
	run sa-fetch --page-param page --limit 5 --limit-param per_page \
	    "$API/pages/accounts?n=23"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
	[ "$(requests . | wc -l)" -eq 6 ]
	run sa-fetch --page-param page --start 3 --limit 5 \
	    --limit-param per_page "$API/pages/accounts?n=23"
	assert_success
	diff <(echo "$output") "$(expected 10 23)"
}

@test "--offset-param advances by the records received, even when capped" {
	start_api
	run sa-fetch --offset-param offset --limit 10 \
	    "$API/offset/accounts?n=23&max_limit=4"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
	requests 'offset=20' | grep -q 'limit=10'
}

@test "--records takes a jq path; select() filters exact records" {
	start_api
	run sa-fetch --records .response.accounts "$API/nested/accounts?n=12&size=5"
	assert_success
	diff <(echo "$output") "$(expected 0 12)"
	run sa-fetch --records '.response.accounts[] | select(.id % 3 == 0)' \
	    "$API/nested/accounts?n=12&size=5"
	assert_success
	diff <(echo "$output") <(awk 'NR % 3 == 0' "$(expected 0 12)")
}

@test "--records with an expression that builds values goes through jq" {
	start_api
	run sa-fetch --records '.response.accounts | map({id, name})' \
	    "$API/nested/accounts?n=3&size=2"
	assert_success
	[ "$output" = '{"id":100000,"name":"東京商事 0"}
{"id":100001,"name":"Société Générale 1"}
{"id":100002,"name":"Stark 2"}' ]
}

@test "records that are not objects are rejected, or kept in --rejects" {
	start_api
	run --separate-stderr sa-fetch --records '.response.count, .response.accounts' \
	    "$API/nested/accounts?n=3&size=2"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"/nested/accounts?n=3&size=2:1: record 1 of the page is not an object" ]]
	run --separate-stderr sa-fetch --rejects "$BATS_TEST_TMPDIR/rej" \
	    --records '.response.count, .response.accounts' \
	    "$API/nested/accounts?n=3&size=2"
	assert_success
	diff <(echo "$output") "$(expected 0 3)"
	[ "$(jq -r .input "$BATS_TEST_TMPDIR/rej" | tr '\n' ' ')" = "2 1 " ]
}

@test "a page without a records array exits 65 and points to --records" {
	start_api
	run --separate-stderr sa-fetch "$API/nested/accounts?n=3"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"no records in the page"*"(see --records)" ]]
	run --separate-stderr sa-fetch --records '.nope[]' "$API/nested/accounts?n=3"
	[ "$status" -eq 65 ]
	[ "$stderr" = "sa-fetch: $API/nested/accounts?n=3: --records: jq error: Cannot iterate over null (null)" ]
	run --separate-stderr sa-fetch --records '.response.count.x' "$API/nested/accounts?n=3"
	[ "$status" -eq 65 ]
	[ "$stderr" = "sa-fetch: $API/nested/accounts?n=3: --records: jq error: Cannot index number with string \"x\"" ]
}

@test "--max-pages stops early" {
	start_api
	run sa-fetch --max-pages 2 "$API/link/accounts?n=23&size=5"
	assert_success
	diff <(echo "$output") "$(expected 0 10)"
}

@test "-H headers are sent; credentials in them stay on the first origin" {
	start_api
	run sa-fetch -H 'X-Api-Key: k1' -H 'Authorization: Token t0p' \
	    -H 'Accept: application/vnd.sa+json' "$API/link/accounts?n=3&redirect=other"
	assert_success
	diff <(echo "$output") "$(expected 0 3)"
	[ "$(jq -r 'select(.server == "main") | .headers | "\(.["x-api-key"]) \(.authorization) \(.accept)"' "$LOG")" = \
	    "k1 Token t0p application/vnd.sa+json" ]
	[ "$(jq -r 'select(.server == "other") | .headers | "\(.["x-api-key"]) \(.authorization) \(.accept)"' "$LOG")" = \
	    "k1 null application/vnd.sa+json" ]
}

@test "--bearer-env: the token is sent, never in argv, never to another host" {
	start_api --token 'tok-3141'
	export SA_TOKEN='tok-3141'
	sa-fetch --bearer-env SA_TOKEN "$API/link/accounts?n=4&size=2&auth=bearer&delay=1" \
	    >"$BATS_TEST_TMPDIR/out" 3>&- &
	FETCH_PID=$!
	until grep -q . "$LOG" 2>/dev/null; do sleep 0.05; done
	run cat "/proc/$FETCH_PID/cmdline"
	refute_output --partial 'tok-3141'
	assert_output --partial 'SA_TOKEN'
	wait "$FETCH_PID"
	FETCH_PID=
	diff "$BATS_TEST_TMPDIR/out" "$(expected 0 4)"
	[ "$(jq -r .headers.authorization "$LOG" | sort -u)" = "Bearer tok-3141" ]

	: >"$LOG"
	run sa-fetch --bearer-env SA_TOKEN "$API/link/accounts?n=3&redirect=other"
	assert_success
	diff <(echo "$output") "$(expected 0 3)"
	[ "$(jq -r '"\(.server) \(.status) \(.headers.authorization)"' "$LOG")" = \
	    "main 302 Bearer tok-3141
other 200 null" ]

	: >"$LOG"
	run sa-fetch --bearer-env SA_TOKEN "$API/link/accounts?n=3&redirect=self&auth=bearer"
	assert_success
	diff <(echo "$output") "$(expected 0 3)"
	[ "$(jq -r '"\(.server) \(.status) \(.headers.authorization)"' "$LOG")" = \
	    "main 302 Bearer tok-3141
main 200 Bearer tok-3141" ]
}

@test "--basic-env sends user:password from the environment" {
	start_api --basic 'ann:pa:ss word'
	SA_BASIC='ann:pa:ss word' run sa-fetch --basic-env SA_BASIC \
	    "$API/pages/accounts?n=7&auth=basic" --page-param page --limit 3 \
	    --limit-param per_page
	assert_success
	diff <(echo "$output") "$(expected 0 7)"
	SA_BASIC='ann:wrong' run --separate-stderr sa-fetch --basic-env SA_BASIC \
	    "$API/pages/accounts?n=7&auth=basic"
	[ "$status" -eq 77 ]
}

@test "401 and 403 exit 77 saying authentication failed; 404 exits 66" {
	start_api
	run --separate-stderr sa-fetch "$API/link/accounts?n=3&auth=bearer"
	[ "$status" -eq 77 ]
	strip_abort sa-fetch 77
	[ "$output" = "" ]
	[ "$stderr" = "sa-fetch: $API/link/accounts?n=3&auth=bearer: authentication failed: HTTP 401: {\"error\": \"invalid or missing bearer token\"}" ]
	run --separate-stderr sa-fetch "$API/link/accounts?n=3&status=403"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *": authentication failed: HTTP 403: {\"error\": \"status 403 as asked\"}" ]]
	: >"$LOG"
	run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&status=404&on=2"
	[ "$status" -eq 66 ]
	strip_abort sa-fetch 66
	diff <(echo "$output") "$(expected 0 3)"
	[ "$stderr" = "sa-fetch: $API/link/accounts?n=9&size=3&status=404&on=2&page=2: HTTP 404: {\"error\": \"status 404 as asked\"}" ]
	[ "$(requests . | wc -l)" -eq 2 ]
}

@test "429 with Retry-After is retried after the time the server asked" {
	start_api
	run --separate-stderr sa-fetch --stats "$API/link/accounts?n=9&size=3&fail=1&fail_status=429&retry_after=1&on=2"
	assert_success
	diff <(echo "$output") "$(expected 0 9)"
	[[ "$stderr" == *'"pages":3,"requests":4,"retries":1}' ]]
	requests 'page=2' | cut -d' ' -f1,2 | tr '\n' ' ' | grep -qx 'main 429 main 200 '
	jq -s '[.[] | select(.path | test("page=2")) | .t] | .[1] - .[0] >= 1' "$LOG" | grep -qx true
	# An HTTP date in the past means now.
	run sa-fetch "$API/link/accounts?n=6&size=3&fail=2&fail_status=429&retry_after=Wed,%2021%20Oct%202015%2007:28:00%20GMT"
	assert_success
	diff <(echo "$output") "$(expected 0 6)"
}

@test "bursts of 500 and 503 are retried: the output is complete, once" {
	start_api
	run sa-fetch --backoff 0.01 "$API/link/accounts?n=20&size=4&fail=3&fail_status=500"
	assert_success
	diff <(echo "$output") "$(expected 0 20)"
	[ "$(jq -r .status "$LOG" | sort | uniq -c | tr -s ' ')" = " 5 200
 15 500" ]
	: >"$LOG"
	run sa-fetch --backoff 0.01 "$API/pages/accounts?n=8&fail=2&retry_after=0&on=1,3" \
	    --page-param page --limit 3 --limit-param per_page
	assert_success
	diff <(echo "$output") "$(expected 0 8)"
	[ "$(jq -r .status "$LOG" | tr '\n' ' ')" = "503 503 200 200 503 503 200 200 " ]
}

@test "a connection dropped mid-body is retried, nothing is written twice" {
	start_api
	run sa-fetch --backoff 0.01 "$API/cursor/accounts?n=14&size=5&drop=1" \
	    --next .meta.next_cursor --cursor-param cursor
	assert_success
	diff <(echo "$output") "$(expected 0 14)"
	[ "$(jq -r .status "$LOG" | tr '\n' ' ')" = "-200 200 -200 200 -200 200 " ]
}

@test "--timeout: a slow response is abandoned and retried" {
	start_api
	run sa-fetch --timeout 0.5 --backoff 0.01 "$API/link/accounts?n=9&size=3&slow=3&on=2"
	assert_success
	diff <(echo "$output") "$(expected 0 9)"
	[ "$(requests 'page=2' | wc -l)" -eq 2 ]
}

@test "exhausted retries exit 69 with the last error" {
	start_api
	run --separate-stderr sa-fetch --retries 2 --backoff 0.01 "$API/link/accounts?n=9&size=3&fail=9&on=2"
	[ "$status" -eq 69 ]
	strip_abort sa-fetch 69
	diff <(echo "$output") "$(expected 0 3)"
	[ "$stderr" = "sa-fetch: $API/link/accounts?n=9&size=3&fail=9&on=2&page=2: HTTP 503: {\"error\": \"try again\"} (gave up after 3 attempts)" ]
	[ "$(requests 'page=2' | wc -l)" -eq 3 ]
	run --separate-stderr sa-fetch --retries 1 --backoff 0.01 "http://127.0.0.1:1/x"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"(gave up after 2 attempts)" ]]
}

@test "a page that is not JSON exits 65 and is not retried" {
	start_api
	run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&bad=1&on=2"
	[ "$status" -eq 65 ]
	strip_abort sa-fetch 65
	diff <(echo "$output") "$(expected 0 3)"
	[[ "$stderr" == "sa-fetch: $API/link/accounts?n=9&size=3&bad=1&on=2&page=2: the page is not valid JSON: "* ]]
	[ "$(requests 'page=2' | wc -l)" -eq 1 ]
}

@test "a page that is not UTF-8 exits 65" {
	start_api
	run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&bad=utf8&on=3"
	[ "$status" -eq 65 ]
	strip_abort sa-fetch 65
	diff <(echo "$output") "$(expected 0 6)"
	[[ "$stderr" == *"page=3: the page is not valid JSON: "*UTF8* ]]
}

@test "a page with half a surrogate pair or an overlong form exits 65" {
	start_api
	run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&bad=surrogate&on=3"
	[ "$status" -eq 65 ]
	strip_abort sa-fetch 65
	diff <(echo "$output") "$(expected 0 6)"
	[[ "$stderr" == *"page=3: the page is not valid JSON: a \\u escape is half of a surrogate pair at byte "[0-9]* ]]
	run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&bad=overlong&on=2"
	[ "$status" -eq 65 ]
	strip_abort sa-fetch 65
	diff <(echo "$output") "$(expected 0 3)"
	[[ "$stderr" == *"page=2: the page is not valid JSON: invalid UTF-8 at byte "[0-9]* ]]
}

@test "a page with a trailing '\"' or a form feed as whitespace exits 65" {
	local bad why
	start_api
	for bad in trail formfeed; do
		run --separate-stderr sa-fetch "$API/link/accounts?n=9&size=3&bad=$bad&on=2"
		[ "$status" -eq 65 ]
		strip_abort sa-fetch 65
		diff <(echo "$output") "$(expected 0 3)"
		why="trailing garbage: the text ends inside a string"
		[ "$bad" = trail ] ||
		    why="lexical error: a form feed or vertical tab is not JSON whitespace"
		[[ "$stderr" == *"page=2: the page is not valid JSON: $why" ]]
	done
}

@test "--max-pages with --state: each run continues where the last stopped" {
	start_api
	st="$BATS_TEST_TMPDIR/state"
	url="$API/offset/accounts?n=10"
	for i in 1 2 3; do
		sa-fetch --state "$st" --max-pages 2 --offset-param offset --limit 2 \
		    "$url" >>"$BATS_TEST_TMPDIR/out"
	done
	diff "$BATS_TEST_TMPDIR/out" "$(expected 0 10)"
	[ "$(jq -c '[.done, .offset, .pages]' "$st")" = '[true,10,6]' ]
	[ "$(requests . | wc -l)" -eq 6 ]
}

@test "--rate: never more than N requests in any one-second window" {
	start_api
	run sa-fetch --rate 3 "$API/link/accounts?n=10&size=1"
	assert_success
	diff <(echo "$output") "$(expected 0 10)"
	jq -s '[.[].t] | sort | . as $t | [range(3; length) | $t[.] - $t[. - 3]] | min >= 1' "$LOG" | grep -qx true
}

@test "--state: after kill -9 a rerun with -o holds every record exactly once" {
	start_api
	url="$API/link/accounts?n=60&size=3&delay=0.05"
	st="$BATS_TEST_TMPDIR/state"
	out="$BATS_TEST_TMPDIR/out"
	for pages in 3 9; do
		sa-fetch --state "$st" -o "$out" "$url" 3>&- &
		FETCH_PID=$!
		wait_pages "$st" "$pages"
		kill_fetch
		[ "$(jq .done "$st")" = false ]
	done
	run sa-fetch --state "$st" -o "$out" "$url"
	assert_success
	diff "$out" "$(expected 0 60)"
	[ "$(jq -c '[.done, .next, .pages, .records, .output_bytes == '"$(stat -c %s "$out")"']' "$st")" = '[true,null,20,60,true]' ]
	[ "$(ls "$BATS_TEST_TMPDIR" | grep -c 'state\.')" -eq 0 ]
	# A completed run is not resumed: the next one starts over.
	run sa-fetch --state "$st" -o "$out" "$url"
	assert_success
	diff "$out" "$(expected 0 60)"
}

@test "--state: temporary names of killed runs are removed, those of running ones kept" {
	start_api
	st="$BATS_TEST_TMPDIR/state"
	# A process ID above pid_max never runs; this shell runs.  The
	# others are not names sa gives "state" (the first is one it gives
	# "state.20260101"), or a file a process still holds.
	keep="$st.$$.1f0.tmp $st.20260101.$$.1f0.tmp $st.99999999.tmp
	    $st.x.tmp $st.99999998.1f0.tmp $BATS_TEST_TMPDIR/other.99999999.1f0.tmp"
	touch $keep "$st.99999999.1f0.tmp"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_SH)
time.sleep(60)' "$st.99999998.1f0.tmp" 3>&- &
	holder=$!
	until grep -qw "$holder" /proc/locks; do
		kill -0 "$holder"
		sleep 0.02
	done
	run sa-fetch --state "$st" "$API/link/accounts?n=4&size=2"
	kill "$holder"
	assert_success
	[ "$(cd "$BATS_TEST_TMPDIR" && ls *.tmp | sort)" = \
	    "$(for f in $keep; do basename "$f"; done | sort)" ]
}

@test "--state on a pipe: after kill -9 every record comes at least once" {
	start_api
	url="$API/cursor/accounts?n=40&size=4&delay=0.05"
	st="$BATS_TEST_TMPDIR/state"
	out="$BATS_TEST_TMPDIR/out"
	sa-fetch --state "$st" --next .meta.next_cursor --cursor-param cursor \
	    "$url" >"$out" 3>&- &
	FETCH_PID=$!
	wait_pages "$st" 4
	kill -9 "$FETCH_PID"
	wait "$FETCH_PID" || true
	FETCH_PID=
	sa-fetch --state "$st" --next .meta.next_cursor --cursor-param cursor \
	    "$url" >>"$out"
	diff <(sort -u "$out") <(sort "$(expected 0 40)")
}

@test "--state of another URL is refused" {
	start_api
	sa-fetch --state "$BATS_TEST_TMPDIR/st" "$API/link/accounts?n=2" >/dev/null
	run --separate-stderr sa-fetch --state "$BATS_TEST_TMPDIR/st" "$API/link/accounts?n=3"
	[ "$status" -eq 64 ]
	[ "$stderr" = "sa-fetch: $BATS_TEST_TMPDIR/st: the state of another URL ($API/link/accounts?n=2)" ]
}

@test "--since-field/--since-param: the next run fetches only newer records" {
	start_api --records 30
	st="$BATS_TEST_TMPDIR/state"
	run sa-fetch --state "$st" --since-field updated_at \
	    --since-param updated_since "$API/link/accounts?size=7"
	assert_success
	diff <(echo "$output") "$(expected 0 30)"
	[ "$(jq -c '[.done, .since]' "$st")" = '[true,"2025-01-01T00:29:00Z"]' ]
	# Fifteen records appear on the server.
	sa-fetch --records . "$API/_admin?n=45" >/dev/null
	: >"$LOG"
	run sa-fetch --state "$st" --since-field updated_at \
	    --since-param updated_since "$API/link/accounts?size=7"
	assert_success
	diff <(echo "$output") "$(expected 30 45)"
	requests . | head -n 1 | grep -qi 'updated_since=2025-01-01T00%3A29%3A00Z'
	[ "$(jq -c '[.done, .since]' "$st")" = '[true,"2025-01-01T00:44:00Z"]' ]
	# Nothing new: nothing fetched, the mark stays.
	run sa-fetch --state "$st" --since-field updated_at \
	    --since-param updated_since "$API/link/accounts?size=7"
	assert_success
	[ "$output" = "" ]
	[ "$(jq -c '[.done, .since]' "$st")" = '[true,"2025-01-01T00:44:00Z"]' ]
}

@test "-t writes TSV as sa-explode -t would, and nothing if the fetch fails" {
	start_api
	run --separate-stderr sa-fetch -t "$API/link/accounts?n=23&size=5"
	assert_success
	[ "$stderr" = "" ]
	diff <(echo "$output") <(sa-explode -t "$(expected 0 23)")
	[ "${lines[0]:0:26}" = "$(printf 'id\tname\tactive\tcreated_at\t')" ]
	run sa-fetch -t -o "$BATS_TEST_TMPDIR/out.tsv" "$API/link/accounts?n=3"
	assert_success
	[ "$output" = "" ]
	diff "$BATS_TEST_TMPDIR/out.tsv" <(sa-explode -t "$(expected 0 3)")
	run --separate-stderr sa-fetch -t "$API/link/accounts?n=9&size=3&status=404&on=2"
	[ "$status" -eq 66 ]
	strip_abort sa-fetch 66
	[ "$output" = "" ]
	run --separate-stderr sa-fetch -t --state "$BATS_TEST_TMPDIR/st" "$API/link/accounts"
	[ "$status" -eq 64 ]
}

@test "a closed pipe ends sa-fetch quietly with status 0" {
	start_api
	run --separate-stderr bash -c "sa-fetch '$API/link/accounts?n=50&size=5' | head -n 2"
	assert_success
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "memory holds one page: 200 000 records in pages of 500" {
	skip_if_sanitizers
	start_api
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-fetch \
	    "$API/link/accounts?n=200000&size=500")
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 200000 ]
	[ "$(cut -d, -f1 "$BATS_TEST_TMPDIR/out" | sort -u | wc -l)" -eq 200000 ]
	# Ten times fewer pages need the same memory.
	small=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-fetch \
	    "$API/link/accounts?n=20000&size=500")
	echo "peak RSS: $rss KiB (200 000 records), $small KiB (20 000)" >&3
	[ "$rss" -le 24576 ]
	[ "$rss" -le $((small + 2048)) ]
}

@test "memory with --records and --next (libjq): 200 000 records" {
	skip_if_sanitizers
	start_api
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-fetch \
	    --records '.data[] | select(.id > 0)' \
	    --next '.meta | .next_id' --cursor-param cursor \
	    "$API/cursor/accounts?n=200000&size=500")
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 200000 ]
	[ "$(cut -d, -f1 "$BATS_TEST_TMPDIR/out" | sort -u | wc -l)" -eq 200000 ]
	echo "peak RSS: $rss KiB" >&3
	[ "$rss" -le 32768 ]
}

# --each: the children of parent records.  Account A has A % 4 notes.

# The parents FROM..TO-1 as {"id":...}, and their notes as sa-fetch --each
# writes them (parent_id first).
parents() {
	seq $((100000 + $1)) $((100000 + $2 - 1)) | jq -c '{id: .}' \
	    >"$BATS_TEST_TMPDIR/parents"
	echo "$BATS_TEST_TMPDIR/parents"
}
# (jq 1.6 would round "big", 2**53 + 1, which sa-fetch must not.)
children() {
	fixture-api --notes "$1" "$2" |
	    sed -E 's/^\{(.*"account_id":([0-9]+).*)$/{"parent_id":\2,\1/' \
	    >"$BATS_TEST_TMPDIR/children-$1-$2"
	echo "$BATS_TEST_TMPDIR/children-$1-$2"
}

@test "--each: the children of every parent, in order, in each paging style" {
	start_api
	par=$(parents 0 9)
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes?size=2" "$par"
	assert_success
	[ "$stderr" = "" ]
	diff <(echo "$output") "$(children 0 9)"
	# One request per page, and one for each parent without a next link.
	[ "$(requests . | wc -l)" -eq 11 ]
	run sa-fetch --each "$API/cursor/accounts/{id}/notes?size=2" \
	    --next .meta.next_cursor --cursor-param cursor <"$par"
	assert_success
	diff <(echo "$output") "$(children 0 9)"
	run sa-fetch --each "$API/pages/accounts/{id}/notes" --page-param page \
	    --limit 2 --limit-param per_page "$par"
	assert_success
	diff <(echo "$output") "$(children 0 9)"
	run sa-fetch --each "$API/offset/accounts/{id}/notes?max_limit=1" \
	    --offset-param offset --limit 2 - <"$par"
	assert_success
	diff <(echo "$output") "$(children 0 9)"
	# --max-pages counts the pages of each child URL.
	run sa-fetch --each "$API/link/accounts/{id}/notes?size=2" --max-pages 1 "$par"
	assert_success
	diff <(echo "$output") <(grep -E '"seq":[01],' "$(children 0 9)")
}

@test "--each: dotted paths, percent-encoded values, --parent-key and --parent-prefix" {
	start_api
	printf '%s\n' '{"acc":{"id":100002},"name":"a b/c&d é","x":1}' \
	    '{"acc":{"id":100003},"name":"Z","x":[2]}' >"$BATS_TEST_TMPDIR/par"
	run sa-fetch --each "$API/link/accounts/{acc.id}/notes?q={name}" \
	    --records '.[] | {seq, parent_acc_id: 0}' "$BATS_TEST_TMPDIR/par"
	assert_success
	[ "$output" = '{"parent_acc_id":100002,"parent_name":"a b/c&d é","seq":0}
{"parent_acc_id":100002,"parent_name":"a b/c&d é","seq":1}
{"parent_acc_id":100003,"parent_name":"Z","seq":0}
{"parent_acc_id":100003,"parent_name":"Z","seq":1}
{"parent_acc_id":100003,"parent_name":"Z","seq":2}' ]
	[ "$(requests . | cut -d' ' -f3)" = "/link/accounts/100002/notes?q=a%20b%2Fc%26d%20%C3%A9
/link/accounts/100003/notes?q=Z" ]
	run sa-fetch --each "$API/link/accounts/{acc.id}/notes" --parent-key x,acc.id \
	    --parent-prefix p_ --records '.[] | {seq}' --max-pages 1 "$BATS_TEST_TMPDIR/par"
	assert_success
	[ "${lines[0]}" = '{"p_x":1,"p_acc_id":100002,"seq":0}' ]
	[ "${lines[2]}" = '{"p_x":[2],"p_acc_id":100003,"seq":0}' ]
}

@test "--each reads TSV parents: their values are text" {
	start_api
	run sa-fetch --each "$API/link/accounts/{id}/notes" --records '.[] | {seq}' \
	    < <(printf 'id\tname\n100001\tx\n100002\ty\n')
	assert_success
	[ "$output" = '{"parent_id":"100001","seq":0}
{"parent_id":"100002","seq":0}
{"parent_id":"100002","seq":1}' ]
}

# N TEMPLATE PARENTS CHILDREN MESSAGE: sa-fetch --parallel N --each
# TEMPLATE PARENTS writes the records of file CHILDREN, then stops at a bad
# parent with status 65, saying MESSAGE.
stops_at_bad_parent() {
	run --separate-stderr sa-fetch --parallel "$1" --each "$2" "$3"
	[ "$status" -eq 65 ]
	strip_abort sa-fetch 65
	diff <(echo "$output") "$4"
	[ "$stderr" = "sa-fetch: $5" ]
}

@test "--each: a parent without the field is bad input, 65 or --rejects" {
	start_api
	printf '%s\n' '{"id":100001}' '{"x":1}' '{"id":null}' '{"id":{"a":1}}' \
	    '{"id":100003}' >"$BATS_TEST_TMPDIR/par"
	for n in 1 4; do
		stops_at_bad_parent $n "$API/link/accounts/{id}/notes" \
		    "$BATS_TEST_TMPDIR/par" "$(children 1 2)" \
		    "$BATS_TEST_TMPDIR/par:2: field \"id\" of the template is missing"
	done
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes" --stats \
	    --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/par"
	assert_success
	diff <(echo "$output") <(cat "$(children 1 2)" "$(children 3 4)")
	[ "$(jq -c '[.line, .error, .input]' "$BATS_TEST_TMPDIR/rej")" = '[2,"field \"id\" of the template is missing","{\"x\":1}"]
[3,"field \"id\" of the template is null","{\"id\":null}"]
[4,"field \"id\" of the template is not a string or a number","{\"id\":{\"a\":1}}"]' ]
	[[ "$stderr" == *'"records_rejected":3,'*'"parents":5,"missing":0,'* ]]
}

@test "--each: a line that is not JSON stops after the parents before it, whatever --parallel" {
	start_api
	par=$(parents 0 12)
	sed -i -e '6s/.*/{"id": 1000/' -e '9s/.*/{"x":9}/' "$par"
	good=$BATS_TEST_TMPDIR/good
	cat "$(children 0 5)" "$(children 6 8)" "$(children 9 12)" >"$good"
	for n in 1 16; do
		stops_at_bad_parent $n "$API/link/accounts/{id}/notes?delay=0.01" \
		    "$par" "$(children 0 5)" "$par:6: invalid JSON: parse error: after key and value, inside map, I expect ',' or '}'"
		run --separate-stderr sa-fetch --parallel $n --each \
		    "$API/link/accounts/{id}/notes?delay=0.01" \
		    --rejects "$BATS_TEST_TMPDIR/rej$n" "$par"
		assert_success
		[ "$stderr" = "" ]
		diff <(echo "$output") "$good"
		# A batch that the bad line cuts short is fetched before it.
		run sa-fetch --parallel $n --each "$API/link/notes?account_id={id}" \
		    --batch 4 --batch-key account_id --rejects "$BATS_TEST_TMPDIR/brej$n" "$par"
		assert_success
		diff <(echo "$output") "$good"
	done
	[ "$(jq -c '[.line, .error, .input]' "$BATS_TEST_TMPDIR/rej1")" = '[6,"invalid JSON: parse error: after key and value, inside map, I expect '"','"' or '"'}'"'","{\"id\": 1000"]
[9,"field \"id\" of the template is missing","{\"x\":9}"]' ]
	cmp "$BATS_TEST_TMPDIR/rej1" "$BATS_TEST_TMPDIR/rej16"
	cmp "$BATS_TEST_TMPDIR/rej1" "$BATS_TEST_TMPDIR/brej1"
	cmp "$BATS_TEST_TMPDIR/brej1" "$BATS_TEST_TMPDIR/brej16"
}

@test "--each: a parent whose URL answers 404 exits 66, or --missing skip counts it" {
	start_api
	printf '%s\n' '{"id":100001}' '{"id":7}' '{"id":100003}' >"$BATS_TEST_TMPDIR/par"
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes" \
	    --parallel 3 "$BATS_TEST_TMPDIR/par"
	[ "$status" -eq 66 ]
	strip_abort sa-fetch 66
	diff <(echo "$output") "$(children 1 2)"
	[ "$stderr" = "sa-fetch: $API/link/accounts/7/notes: HTTP 404: {\"error\": \"no account 7\"}" ]
	# --stats counts what a failed run did.
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes" \
	    --stats "$BATS_TEST_TMPDIR/par"
	[ "$status" -eq 66 ]
	[[ "${stderr#*$'\n'}" == *'"parents":1,"missing":0,"max_in_flight":1,"pages":1,"requests":2,"retries":0}' ]]
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes" \
	    --missing skip --stats "$BATS_TEST_TMPDIR/par"
	assert_success
	diff <(echo "$output") <(grep -v '"account_id":100002' "$(children 1 4)")
	[[ "$stderr" == *'"parents":3,"missing":1,"max_in_flight":1,"pages":2,"requests":3,"retries":0}' ]]
	run --separate-stderr sa-fetch --each "$API/link/accounts/{id}/notes" \
	    --missing maybe "$BATS_TEST_TMPDIR/par"
	[ "$status" -eq 64 ]
}

@test "--parallel: the output of --parallel 1, also under 429, 503 and drops" {
	start_api --records 100
	par=$(parents 0 40)
	tmpl="$API/link/accounts/{id}/notes?size=1&delay=0.02"
	for faults in "" "&fail=1&fail_status=429&retry_after=0" "&fail=2" "&drop=1"; do
		: >"$LOG"
		run --separate-stderr sa-fetch --backoff 0.01 --parallel 8 --stats \
		    --each "$tmpl$faults" "$par"
		assert_success
		diff <(echo "$output") "$(children 0 40)"
		[[ "$stderr" == *'"max_in_flight":8,'* ]]
		run sa-fetch --backoff 0.01 --each "$tmpl$faults" "$par"
		assert_success
		diff <(echo "$output") "$(children 0 40)"
	done
	# The last fault: the first request of each of the 70 URLs was cut
	# (in the first run), and asked again.
	[ "$(jq -r .status "$LOG" | sort | uniq -c | tr -s ' ')" = " 70 -200
 140 200" ]
}

@test "memory with --parallel 16 holds at most 16 pages" {
	skip_if_sanitizers
	start_api
	# 48 parents, each with two pages of 500 accounts (some 760 KiB).
	seq 48 | jq -c '{id: .}' >"$BATS_TEST_TMPDIR/par"
	tmpl="$API/link/accounts?n=1000&size=500&parent={id}"
	page=$(sa-fetch "$API/link/accounts?n=500&size=500" | wc -c)
	one=$(peak_rss_kb "$BATS_TEST_TMPDIR/out1" sa-fetch --each "$tmpl" \
	    "$BATS_TEST_TMPDIR/par")
	rss=$(peak_rss_kb "$BATS_TEST_TMPDIR/out" sa-fetch --parallel 16 \
	    --each "$tmpl" "$BATS_TEST_TMPDIR/par")
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 48000 ]
	cmp "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/out"
	echo "peak RSS: $rss KiB (--parallel 16), $one KiB (--parallel 1)," \
	    "pages of $((page / 1024)) KiB" >&3
	[ "$rss" -lt 65536 ]
	# The 15 pages more than one at a time, and room for the allocator:
	# all 96 pages, or one per parent, would be far more.
	[ "$rss" -le $((one + 16 * page / 1024 + 4096)) ]
}

@test "--parallel: HTTP/1.1 connections are reused, at most N of them" {
	start_api --records 100
	par=$(parents 0 40)
	for n in 1 4; do
		: >"$LOG"
		run sa-fetch --parallel $n --each "$API/link/accounts/{id}/notes?size=1&delay=0.01" "$par"
		assert_success
		diff <(echo "$output") "$(children 0 40)"
		[ "$(requests . | wc -l)" -eq 70 ]
		[ "$(jq .client_port "$LOG" | sort -u | wc -l)" -eq $n ]
	done
}

@test "--parallel over HTTP/2: the requests share one connection" {
	mkdir "$BATS_TEST_TMPDIR/docs"
	for i in $(seq 8); do
		echo "[{\"n\":$i},{\"m\":$i}]" >"$BATS_TEST_TMPDIR/docs/$i.json"
	done
	start_h2 "$BATS_TEST_TMPDIR/docs"
	seq 8 | jq -c '{id: .}' >"$BATS_TEST_TMPDIR/par"
	# Its CA is not the system's: without a trusted bundle, no page.
	run --separate-stderr env CURL_CA_BUNDLE= SSL_CERT_FILE= SSL_CERT_DIR= \
	    sa-fetch --each "$H2/{id}.json" "$BATS_TEST_TMPDIR/par"
	[ "$status" -eq 69 ]
	# (libcurl's words depend on the CA store the machine has.)
	[[ "$stderr" == "sa-fetch: $H2/1.json: "*certificate* ]]
	: >"$H2_LOG"
	run --separate-stderr env CURL_CA_BUNDLE="$H2_CERT" sa-fetch --parallel 8 \
	    --stats --each "$H2/{id}.json" "$BATS_TEST_TMPDIR/par"
	assert_success
	diff <(echo "$output") <(for i in $(seq 8); do
		echo "{\"parent_id\":$i,\"n\":$i}"
		echo "{\"parent_id\":$i,\"m\":$i}"
	done)
	[[ "$stderr" == *'"max_in_flight":8,"pages":8,"requests":8,'* ]]
	stop_h2
	# Eight requests at once, each a stream of the one connection.
	[ "$(grep -ao '^\[id=[0-9]*\]' "$H2_LOG" | sort -u | wc -l)" -eq 1 ]
	[ "$(grep -a 'recv HEADERS' "$H2_LOG" | grep -o 'stream_id=[0-9]*' | tr '\n' ' ')" = \
	    "stream_id=1 stream_id=3 stream_id=5 stream_id=7 stream_id=9 stream_id=11 stream_id=13 stream_id=15 " ]
	# SSL_CERT_FILE does it too, when CURL_CA_BUNDLE is not set.
	start_h2 "$BATS_TEST_TMPDIR/docs"
	run env -u CURL_CA_BUNDLE SSL_CERT_FILE="$H2_CERT" sa-fetch "$H2/1.json"
	assert_success
	[ "$output" = '{"n":1}
{"m":1}' ]
}

@test "--rate holds with --parallel" {
	start_api
	run sa-fetch --rate 4 --parallel 8 --each "$API/link/accounts/{id}/notes" \
	    "$(parents 0 12)"
	assert_success
	diff <(echo "$output") "$(children 0 12)"
	[ "$(requests . | wc -l)" -eq 12 ]
	jq -s '[.[].t] | sort | . as $t | [range(4; length) | $t[.] - $t[. - 4]] | min >= 1' "$LOG" | grep -qx true
}

@test "--batch: one request for N parents, children given back to their parents" {
	start_api
	par=$(parents 0 11)
	run --separate-stderr sa-fetch --each "$API/link/notes?account_id={id}&order=desc&size=4" \
	    --batch 4 --batch-key account_id --stats "$par"
	assert_success
	# Parent by parent; within a parent, the order of the API (reversed).
	diff <(echo "$output") <(for i in $(seq 0 10); do tac "$(children $i $((i + 1)))"; done)
	[ "$(requests . | cut -d' ' -f3 | grep -c 'page=')" -eq 2 ]
	[ "$(requests . | cut -d' ' -f3 | grep -vc 'page=')" -eq 3 ]
	requests . | head -n 1 | grep -q 'account_id=100000%2C100001%2C100002%2C100003\|account_id=100000,100001,100002,100003'
	[[ "$stderr" == *'"parents":11,"missing":0,'* ]]
	: >"$LOG"
	run sa-fetch --each "$API/link/notes?account_id={id}" --parallel 2 \
	    --batch 5 --batch-key account_id --batch-sep '&account_id=' "$par"
	assert_success
	diff <(echo "$output") "$(children 0 11)"
	[ "$(requests . | cut -d' ' -f3 | head -n 1)" = \
	    "/link/notes?account_id=100000&account_id=100001&account_id=100002&account_id=100003&account_id=100004" ]
	run --separate-stderr sa-fetch --each "$API/link/notes?a={id}&b={x}" --batch 2 \
	    --batch-key account_id "$par"
	[ "$status" -eq 64 ]
	run --separate-stderr sa-fetch --each "$API/link/notes?a={id}" --batch 2 "$par"
	[ "$status" -eq 64 ]
}

@test "--each --state: after kill -9 a rerun with -o holds every child exactly once" {
	start_api --records 100
	par=$(parents 0 60)
	tmpl="$API/link/accounts/{id}/notes?size=1&delay=0.02"
	st="$BATS_TEST_TMPDIR/state"
	out="$BATS_TEST_TMPDIR/out"
	for n in 8 25; do
		sa-fetch --each "$tmpl" --parallel 4 --state "$st" -o "$out" "$par" 3>&- &
		FETCH_PID=$!
		wait_pages "$st" "$n" parents
		kill_fetch
		[ "$(jq .done "$st")" = false ]
	done
	: >"$LOG"
	run sa-fetch --each "$tmpl" --parallel 4 --state "$st" -o "$out" "$par"
	assert_success
	diff "$out" "$(children 0 60)"
	[ "$(jq -c '[.done, .parents, .output_bytes == '"$(stat -c %s "$out")"']' "$st")" = '[true,60,true]' ]
	# The rerun asked nothing of the parents written before.
	! requests . | grep -q '/accounts/100000/'
	run --separate-stderr sa-fetch --state "$st" "$API/link/accounts"
	[ "$status" -eq 64 ]
}

@test "--parallel: numbered and offset pages N at a time once the total is known" {
	start_api
	for how in "--limit-param size $API/link/accounts?n=23&total=header" \
	    "--limit-param size $API/link/accounts?n=23&total=last" \
	    "--total .meta.total --limit-param per_page $API/pages/accounts?n=23&total=body"; do
		: >"$LOG"
		run --separate-stderr sa-fetch --parallel 4 --stats --page-param page --limit 3 $how
		assert_success
		diff <(echo "$output") "$(expected 0 23)"
		# Eight pages, no empty one at the end.
		[[ "$stderr" == *'"max_in_flight":4,"pages":8,"requests":8,"retries":0}' ]]
	done
	# A server that sends fewer than asked sets the step of the offsets.
	: >"$LOG"
	run --separate-stderr sa-fetch --parallel 4 --stats --offset-param offset --limit 5 \
	    "$API/offset/accounts?n=23&total=header&max_limit=3&fail=1&on=3,5"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
	[[ "$stderr" == *'"pages":8,"requests":10,"retries":2}' ]]
	# Without a total, one page after the other.
	run --separate-stderr sa-fetch --parallel 4 --stats --page-param page --limit 3 \
	    --limit-param size "$API/link/accounts?n=23"
	assert_success
	diff <(echo "$output") "$(expected 0 23)"
	[[ "$stderr" == *'"max_in_flight":1,"pages":9,"requests":9,"retries":0}' ]]
}
