#!/usr/bin/env bats
# What every tool shares: --help, --version, usage errors.

load helpers/common

TOOLS="sa-explode sa-dedup sa-join sa-load sa-fetch"

@test "--help prints the usage line first and exits 0" {
	for t in $TOOLS; do
		run --separate-stderr "$t" --help
		assert_success
		assert_line --index 0 --regexp "^usage: $t "
		assert_equal "$stderr" ""
	done
}

@test "--version names the tool and the package version" {
	for t in $TOOLS; do
		run "$t" --version
		assert_success
		assert_output --regexp "^$t \\(sa\\) [0-9]+\\.[0-9]+\\.[0-9]+$"
	done
}

@test "an unknown option points to --help and exits 64" {
	for t in $TOOLS; do
		run --separate-stderr "$t" --no-such-option
		assert_failure 64
		assert_equal "$(sed -n 2p <<<"$stderr")" "Try '$t --help' for more information."
	done
}

@test "the man pages have no mandoc warnings" {
	run mandoc -Tlint -Wwarning "$SA_SRCDIR"/man/*.[17]
	assert_success
	assert_output ""
}
