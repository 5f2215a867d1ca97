# Loaded by every suite: the built tools first on PATH, bats-support and
# bats-assert, and the paths of fixtures and helpers.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

: "${SA_BIN:?run the suites through make check}"
: "${SA_SRCDIR:?run the suites through make check}"
PATH="$SA_BIN:$SA_SRCDIR/tests/helpers:$PATH"
FIXTURES="$SA_SRCDIR/tests/fixtures"
export TMPDIR="${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}"

# Peak RSS in KiB of a command; its stdout goes to $1.
peak_rss_kb() {
	local out=$1; shift
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" "$@" >"$out"
	tail -n 1 "$BATS_TEST_TMPDIR/rss"
}

# Memory tests measure the normal build only: sanitizers inflate RSS.
skip_if_sanitizers() {
	if [ -n "${SA_SANITIZERS:-}" ]; then
		skip "RSS is measured in the normal build"
	fi
}

# Tests that need PostgreSQL run under pg_virtualenv (make check does).
require_pg() {
	if [ -z "${PGHOST:-}${PGPORT:-}" ]; then
		skip "no PostgreSQL: run make check under pg_virtualenv"
	fi
}

# The SYNOPSIS of a man page in man/ (e.g. sa-load.1) as one line, the way
# --help prints its usage line: mandoc renders it, col -bx strips the
# overstrikes, runs of blanks become one space.
man_synopsis() {
	mandoc -Tascii "$SA_SRCDIR/man/$1" | col -bx |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' |
	    tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'
}

# TOOL OPT ARG [OPERAND...]: TOOL refuses list ARG of option OPT for its
# empty item, with the one message of sa(7), status 64 and no output.
assert_empty_item() {
	local tool=$1 opt=$2 arg=$3
	shift 3
	run --separate-stderr "$tool" "$opt" "$arg" "$@"
	assert_failure 64
	strip_abort "$tool" 64
	assert_output ""
	assert_equal "$stderr" "$tool: $opt: empty item in '$arg'
Try '$tool --help' for more information."
}

# After `run` of a tool that failed: checks that $output ends in the
# tool's abort line (sa(7)) for STATUS, as bash keeps it (without its
# NUL byte), and removes it, leaving what the tool wrote before.
strip_abort() {
	local line="\\.$1 failed (exit $2)"
	if [ "$output" = "$line" ]; then
		output=
	elif [[ "$output" == *$'\n'"$line" ]]; then
		output=${output%$'\n'"$line"}
	else
		echo "no abort line of $1 (exit $2) at the end of: $output" >&2
		return 1
	fi
}
