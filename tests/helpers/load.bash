# Helpers of the sa-load suites that need a server (loaded after common).

# Every test that needs the server calls pg PREFIX first: a fresh table
# name T, PREFIX and the test's number; timestamps shown in UTC.
pg() {
	require_pg
	export PGTZ=UTC PGOPTIONS="-c client_min_messages=warning"
	T="$1${BATS_TEST_NUMBER}"
	q "DROP TABLE IF EXISTS \"$T\" CASCADE"
}

q() {
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# The number of statements sa-load sends with the arguments, read from
# the server's log.
statements() {
	local log size
	log=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PGPORT" '$3 == p { print $7 }')
	[ -r "$log" ] || skip "the server log is not readable here"
	size=$(stat -c %s "$log")
	PGOPTIONS="-c log_statement=all" sa-load --quiet "$@"
	sleep 0.2
	tail -c +$((size + 1)) "$log" | grep -cE 'LOG: +(statement|execute)'
}
