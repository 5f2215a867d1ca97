#!/usr/bin/env bats
# Faults and attacks outside sa-load: a full disk, kill -9, symbolic links
# planted where the tools write, redirects and credentials.  The README's
# "Reliability" table points here.
load helpers/common
bats_require_minimum_version 1.5.0

setup() {
	PIDS=()
	MNT=
	T="$BATS_TEST_TMPDIR"
	mkdir "$T/tmp"
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$MNT" ]; then
		umount "$MNT" || true
	fi
}

# Records with ids 1..N that repeat from MOD on, padded to make spills.
records() {
	awk -v n="$1" -v m="${2:-$1}" 'BEGIN { for (i = 0; i < n; i++)
	    printf "{\"id\":%d,\"pad\":\"%032d\",\"t\":[{\"x\":%d}]}\n",
	    i % m + 1, i, i }'
}

# Runs a command with a limit of KB kilobytes on the size of each file
# it writes (ulimit -f); the rest of the arguments are the command.
limited() {
	local kb=$1
	shift
	bash -c 'ulimit -f "$0"; exec "$@"' "$kb" "$@"
}

# A small tmpfs at $1 (root only): disk full without filling a real disk.
small_tmpfs() {
	if [ "$(id -u)" != 0 ]; then
		skip "a tmpfs needs root; the ulimit -f tests cover everybody"
	fi
	mkdir -p "$1"
	mount -t tmpfs -o size=256k tmpfs "$1"
	MNT=$1
}

# Starts the mock API; sets API and OTHER (a second origin).
start_api() {
	fixture-api --port-file "$T/port" --log "$T/api.log" --lifetime 300 \
	    "$@" 3>&- &
	PIDS+=($!)
	until [ -s "$T/port" ]; do sleep 0.05; done
	read -r port other <"$T/port"
	API="http://127.0.0.1:$port"
	OTHER="http://127.0.0.1:$other"
}

# Waits until process PID holds a deleted file of $T/tmp open, then
# prints that file's mode: the temporary file exists only unlinked.
wait_spool() {
	local fd
	until fd=$(ls -l "/proc/$1/fd" 2>/dev/null |
	    grep -o "[0-9]* -> $T/tmp/sa-.* (deleted)"); do
		kill -0 "$1" || return 1
		sleep 0.02
	done
	stat -L -c %a "/proc/$1/fd/${fd%% *}"
}

# Starts "$@" reading a FIFO that holds FILE's lines and stays open, so
# that the command is still at work when it is killed; sets PID.
start_fed() {
	local file=$1
	shift
	mkfifo "$T/fifo"
	"$@" <"$T/fifo" >/dev/null 3>&- &
	PID=$!
	PIDS+=($PID)
	exec 7>"$T/fifo"
	cat "$file" >&7 3>&- &
	PIDS+=($!)
}

# Kills PID with SIGKILL at a random moment of the next half second.
kill_randomly() {
	sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
	kill -9 "$1"
	wait "$1" || true
	exec 7>&-
	rm -f "$T/fifo"
}

@test "disk full (ulimit -f) while sa-dedup and sa-join spill: 74 naming \$TMPDIR" {
	records 60000 40000 >"$T/in"
	for cmd in "sa-dedup -k id -m 1M" "sa-dedup -k id --keep last -m 1M" \
	    "sa-join -k id -m 1M $T/in"; do
		TMPDIR="$T/tmp" run --separate-stderr limited 64 $cmd "$T/in"
		[ "$status" -eq 74 ]
		assert_equal "$stderr" "${cmd%% *}: $T/tmp: cannot write a temporary file: File too large"
	done
	run ls -A "$T/tmp"
	assert_output ""
}

@test "a file size limit on standard output: 74 naming it, not death by SIGXFSZ" {
	records 20000 >"$T/in"
	for cmd in "sa-explode" "sa-dedup -k id" "sa-join -k id $T/in"; do
		run --separate-stderr limited 64 sh -c 'exec "$@" >"$0"' \
		    "$T/out" $cmd "$T/in"
		[ "$status" -eq 74 ]
		assert_equal "$stderr" "${cmd%% *}: standard output: File too large"
		[ "$(stat -c %s "$T/out")" -eq 65536 ]
	done
}

@test "disk full while sa-explode -t spools stdin: 74, nothing written" {
	records 20000 >"$T/in"
	TMPDIR="$T/tmp" run --separate-stderr limited 64 sa-explode -t <"$T/in"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-explode: $T/tmp: cannot write a temporary file: File too large"
	strip_abort sa-explode 74
	assert_equal "$output" ""
}

@test "disk full while writing --split files: 74, the last good model stays" {
	records 3 | sa-explode --split "$T/m" --name a
	cp -r "$T/m" "$T/good"
	records 20000 >"$T/in"
	run --separate-stderr limited 64 sa-explode --split "$T/m" --name a "$T/in"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-explode: $T/m/a.ndjson: File too large"
	diff -r "$T/good" "$T/m"
}

@test "disk full on a tmpfs (root): spilling, --split and --rejects on /dev/full" {
	small_tmpfs "$T/full"
	records 60000 40000 >"$T/in"
	TMPDIR="$T/full" run --separate-stderr sa-dedup -k id --keep last -m 1M "$T/in"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-dedup: $T/full: cannot write a temporary file: No space left on device"
	run ls -A "$T/full"
	assert_output ""

	run --separate-stderr sa-explode --split "$T/full/m" --name a "$T/in"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-explode: $T/full/m/a.ndjson: No space left on device"
	run ls -A "$T/full/m"
	assert_output ""

	printf '{"id":1}\nnot json\n' >"$T/bad"
	run --separate-stderr sa-dedup -k id --rejects /dev/full "$T/bad"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-dedup: /dev/full: No space left on device"
}

@test "disk full under -o with --state: 74, and the rerun completes the file exactly" {
	start_api
	url="$API/link/accounts?n=300&size=10"
	run --separate-stderr limited 20 sa-fetch --state "$T/st" -o "$T/out" "$url"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-fetch: $T/out: File too large"
	[ "$(jq .done "$T/st")" = false ]
	[ "$(stat -c %s "$T/out")" -gt "$(jq .output_bytes "$T/st")" ]
	run sa-fetch --state "$T/st" -o "$T/out" "$url"
	assert_success
	fixture-api --dump 0 300 | cmp - "$T/out"
}

@test "disk full on --state's tmpfs (root): 74, the old state stays, no file beside it" {
	start_api
	small_tmpfs "$T/full"
	url="$API/link/accounts?n=30&size=10"
	sa-fetch --state "$T/full/st" --max-pages 1 "$url" >/dev/null
	cp "$T/full/st" "$T/st.before"
	head -c 1M /dev/zero >"$T/full/filler" || true
	run --separate-stderr sa-fetch --state "$T/full/st" "$url"
	[ "$status" -eq 74 ]
	assert_equal "$stderr" "sa-fetch: $T/full/st: No space left on device"
	cmp "$T/st.before" "$T/full/st"
	run ls -A "$T/full"
	assert_output "filler
st"
}

@test "kill -9 of sa-dedup, sa-join and sa-explode -t at a random point leaves no temporary file" {
	records 400000 300000 >"$T/in"
	for cmd in "sa-dedup -k id --keep last -m 1M" "sa-join -k id -m 1M $T/in" \
	    "sa-explode -t"; do
		TMPDIR="$T/tmp" start_fed "$T/in" $cmd
		# Unlinked as soon as it exists, and private.
		run wait_spool $PID
		assert_output 600
		run ls -A "$T/tmp"
		assert_output ""
		kill_randomly $PID
		run ls -A "$T/tmp"
		assert_output ""
	done
}

@test "kill -9 of sa-fetch -t -o leaves no temporary file" {
	start_api
	url="$API/link/accounts?n=60&size=3&delay=0.05"
	TMPDIR="$T/tmp" sa-fetch -t -o "$T/out" "$url" 3>&- &
	PID=$!
	PIDS+=($PID)
	run wait_spool $PID
	assert_output 600
	kill_randomly $PID
	run ls -A "$T/tmp"
	assert_output ""
}

@test "kill -9 during --split: the old files stay whole, no partial or temporary file" {
	records 3 | sa-explode --split "$T/m" --name a
	cp -r "$T/m" "$T/good"
	records 100000 >"$T/in"
	start_fed "$T/in" sa-explode --split "$T/m" --name a
	# Rows are being written: both files of the model are open.
	until [ "$(ls -l "/proc/$PID/fd" 2>/dev/null | grep -c " -> $T/m/")" -eq 2 ]; do
		kill -0 $PID
		sleep 0.02
	done
	kill_randomly $PID
	diff -r "$T/good" "$T/m"
}

@test "--split replaces a symbolic link planted at a file's name, never follows it" {
	echo precious >"$T/victim"
	mkdir "$T/m"
	ln -s "$T/victim" "$T/m/a.ndjson"
	ln -s "$T/nothing" "$T/m/a__t.ndjson"
	records 2 | sa-explode --split "$T/m" --name a
	run cat "$T/victim"
	assert_output precious
	[ ! -e "$T/nothing" ]
	[ ! -L "$T/m/a.ndjson" ] && [ ! -L "$T/m/a__t.ndjson" ]
	run cat "$T/m/a.ndjson" "$T/m/a__t.ndjson"
	assert_output '{"id":1,"pad":"00000000000000000000000000000000"}
{"id":2,"pad":"00000000000000000000000000000001"}
{"id":1,"t_idx":0,"t_x":0}
{"id":2,"t_idx":0,"t_x":1}'
}

@test "--rejects is created 0600 and never through a planted symbolic link" {
	printf '{"id":1}\n{"x":1}\n' >"$T/in"
	sa-dedup -k id --rejects "$T/rej" "$T/in" >/dev/null
	run stat -c %a "$T/rej"
	assert_output 600

	echo precious >"$T/victim"
	for tool in sa-dedup sa-explode "sa-join -k id $T/in"; do
		ln -sf "$T/victim" "$T/link"
		run --separate-stderr $tool --rejects "$T/link" "$T/in"
		[ "$status" -eq 73 ]
		assert_equal "$stderr" "${tool%% *}: $T/link: a symbolic link, not followed"
		strip_abort "${tool%% *}" 73
		assert_equal "$output" ""
		ln -sf "$T/nothing" "$T/link"
		run --separate-stderr $tool --rejects "$T/link" "$T/in"
		[ "$status" -eq 73 ]
		[ ! -e "$T/nothing" ]
	done
	run cat "$T/victim"
	assert_output precious

	# The user's own descriptors are followed, and appended to.
	echo first >"$T/log"
	sa-dedup -k id --rejects /dev/stderr "$T/in" 2>>"$T/log" >/dev/null
	run cat "$T/log"
	assert_output 'first
{"file":"'"$T"'/in","line":2,"error":"key \"id\" is missing","input":"{\"x\":1}"}'
}

@test "--state is 0600 and a symbolic link planted at its name is replaced, not followed" {
	start_api
	url="$API/link/accounts?n=6&size=3"
	echo precious >"$T/victim"
	ln -s "$T/nothing" "$T/st"
	sa-fetch --state "$T/st" "$url" >/dev/null
	[ ! -e "$T/nothing" ] && [ ! -L "$T/st" ]
	run stat -c %a "$T/st"
	assert_output 600
	run jq -c '[.done, .records]' "$T/st"
	assert_output '[true,6]'
	# A link to a file is read as a state: not one, so nothing is written.
	rm "$T/st"
	ln -s "$T/victim" "$T/st"
	run --separate-stderr sa-fetch --state "$T/st" "$url"
	[ "$status" -eq 65 ]
	assert_equal "$stderr" "sa-fetch: $T/st: not a state file of sa-fetch"
	run cat "$T/victim"
	assert_output precious
}

@test "a redirect to file:// or ftp:// stops with 66 and a clear message" {
	cat >"$T/redirect.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.path[1:])
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".new", "w") as f:
    f.write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".new", sys.argv[1])
s.serve_forever()
EOF
	python3 "$T/redirect.py" "$T/rport" 3>&- &
	PIDS+=($!)
	until [ -s "$T/rport" ]; do sleep 0.05; done
	r="http://127.0.0.1:$(cat "$T/rport")"
	for target in file:///etc/passwd ftp://127.0.0.1/x; do
		run --separate-stderr sa-fetch "$r/$target"
		[ "$status" -eq 66 ]
		assert_equal "$stderr" "sa-fetch: $r/$target: redirected to $target: only http and https are followed"
		strip_abort sa-fetch 66
		assert_equal "$output" ""
	done
}

# Fetches through a redirect to the other origin with the credential
# options "$@": the first origin sees an Authorization header, the other
# none.
no_leak() {
	local n
	n=$(wc -l <"$T/api.log")
	sa-fetch "$@" "$API/link/accounts?n=3&redirect=other" >"$T/out"
	fixture-api --dump 0 3 | cmp - "$T/out"
	run jq -r '"\(.server) \(.status) \(.headers.authorization != null)"' \
	    <(tail -n +$((n + 1)) "$T/api.log")
	assert_output "main 302 true
other 200 false"
}

@test "credentials never follow a redirect to another origin: -H, --bearer-env, --basic-env" {
	start_api
	export SA_TOKEN=tok SA_BASIC=ann:pw
	touch "$T/api.log"
	no_leak -H 'Authorization: Token t'
	no_leak --bearer-env SA_TOKEN
	no_leak --basic-env SA_BASIC
}
