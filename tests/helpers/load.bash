# Loaded by the sa-load suites: a fresh table, psql, waiting for the
# server, and a load fed through a FIFO so that a test can act while the
# load is in the middle of its rows.

# pg PREFIX: needs the server; T is a fresh table name, PREFIX and the
# test's number (and ${T}b a second one), timestamps are shown in UTC.
pg_table() {
	require_pg
	export PGTZ=UTC PGOPTIONS="-c client_min_messages=warning"
	T="$1${BATS_TEST_NUMBER}"
	q "DROP TABLE IF EXISTS \"$T\", \"${T}b\" CASCADE"
}

q() {
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# Waits up to 60 s until the query $1 answers t.
wait_until() {
	for _ in $(seq 600); do
		[ "$(q "$1")" = t ] && return 0
		sleep 0.1
	done
	echo "never true: $1" >&2
	return 1
}

# fifo_load [OPTION...]: sa-load OPTIONS $T in the background, reading
# a FIFO that the test writes on descriptor 7 (bats has 3); LOAD is its
# pid, its standard error goes to $BATS_TEST_TMPDIR/err.
fifo_load() {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	sa-load "$@" "$T" "$BATS_TEST_TMPDIR/fifo" 2>"$BATS_TEST_TMPDIR/err" &
	LOAD=$!
	exec 7>"$BATS_TEST_TMPDIR/fifo"
}

# end_load STATUS: closes the load's input; it exits STATUS, and its
# standard error is in $output and $lines.
end_load() {
	local st=0

	exec 7>&-
	wait "$LOAD" || st=$?
	run cat "$BATS_TEST_TMPDIR/err"
	[ "$st" -eq "$1" ]
}

# wait_for_copy [SQL]: waits until sa-load sends rows into $T (its COPY
# holds ROW EXCLUSIVE on it) and SQL is true.
wait_for_copy() {
	wait_until "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	   WHERE a.application_name = 'sa-load' AND l.relation = '\"$T\"'::regclass
	   AND l.mode = 'RowExclusiveLock' AND l.granted${1:+ AND $1}"
}

# pg [PREFIX]: what every test that needs the server calls first;
# pg_table with PREFIX, t by default.
pg() {
	pg_table "${1:-t}"
}

# The number of statements sa-load sends with the arguments, read from
# the server's log.
statements() {
	local log size pids
	log=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PGPORT" '$3 == p { print $7 }')
	[ -r "$log" ] || skip "the server log is not readable here"
	size=$(stat -c %s "$log")
	PGOPTIONS="-c log_statement=all" sa-load --quiet "$@"
	sleep 0.2
	# Only the statements of the backends that named this test's table:
	# under make -j2 check, another suite's load may log beside it.
	tail -c +$((size + 1)) "$log" | grep -E 'LOG: +(statement|execute)' \
	    >"$BATS_TEST_TMPDIR/statements"
	pids=$(grep -F "\"$T\"" "$BATS_TEST_TMPDIR/statements" |
	    sed -nE 's/^[^[]*\[([0-9]+)\].*/\1/p' | sort -u | paste -sd '|')
	grep -cE "^[^[]*\[(${pids:-none})\]" "$BATS_TEST_TMPDIR/statements"
}

# The server programs of the newest PostgreSQL installed (Debian keeps
# them out of PATH).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

# Runs a command as the owner of a cluster of the suite's own: postgres
# when root.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# own_server DIR: a cluster of the test's own in DIR (made, started, and
# made the one the test's psql and sa-load reach), listening on no TCP
# port, only on a socket in DIR; for faults that would hit every other
# suite on the shared server.  own_server_stop stops it.
own_server() {
	OWN=$1
	# The server runs as postgres and must reach its directory.
	[ "$(id -u)" -ne 0 ] || chmod go+x "$BATS_RUN_TMPDIR" "$BATS_TEST_TMPDIR"
	mkdir "$OWN"
	[ "$(id -u)" -ne 0 ] || chown postgres "$OWN"
	as_owner "$PGBIN/initdb" -A trust -U postgres -D "$OWN/data" >/dev/null
	as_owner "$PGBIN/pg_ctl" -D "$OWN/data" -l "$OWN/log" -w -o \
	    "-c listen_addresses= -c unix_socket_directories=$OWN -p 5432 -c fsync=off" \
	    start >/dev/null 3>&-
	export PGHOST=$OWN PGPORT=5432 PGUSER=postgres PGDATABASE=postgres PGPASSWORD=
}

own_server_stop() {
	as_owner "$PGBIN/pg_ctl" -D "$OWN/data" -m immediate stop >/dev/null
}
