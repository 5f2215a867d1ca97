# Shared by the bench scripts: where the tools are, timing, peak RSS, the
# result table and DuckDB.  Sourced by sh and bash scripts, not run.

top=$(cd "$(dirname "$0")/.." && pwd)

# sa_bin DIR...: prints the first DIR that holds the built tools.
sa_bin() {
	for d; do
		if [ -x "$d/sa-explode" ]; then
			echo "$d"
			return 0
		fi
	done
	echo "bench: no sa-explode in $*: build first (the README's quick start) or set SA_BIN" >&2
	return 1
}
# The tools: SA_BIN if set, else the normal build, where the README's
# quick start builds, else bin/ of a build in the source tree.
if [ -n "${SA_BIN:-}" ]; then
	bin=$(sa_bin "$SA_BIN") || exit 1
else
	bin=$(sa_bin "$top/_build/normal/bin" "$top/bin") || exit 1
fi
PATH="$bin:$top/tests/helpers:$PATH"
export PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/sa-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
: > "$work/table"

# has_threads TOOL: whether TOOL takes --threads (its --help names it);
# when it does not, says that its one-thread rows are skipped (its one
# run is then the one-thread run).
has_threads() {
	if "$1" --help 2>/dev/null | grep -e --threads >/dev/null; then
		return 0
	fi
	echo "bench: $1 has no --threads yet: its --threads 1 rows are skipped" >&2
	return 1
}

# measure NAME INPUT_BYTES COMMAND...: runs COMMAND, its output to a file
# that is then counted, REPEAT times (default 1; once if a run takes over
# 10 s), and adds a row to the table: the best elapsed and CPU (user +
# sys of every process) seconds, the largest peak RSS, the output lines.
measure() {
	local name="$1" bytes="$2" i=0
	shift 2
	: > "$work/runs"
	while [ "$i" -lt "${REPEAT:-1}" ]; do
		i=$((i + 1))
		if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err"; then
			echo "bench: $name failed:" >&2
			cat "$work/err" >&2
			printf '%s\t%s\t-\n' "$name" "$bytes" >> "$work/table"
			return 0
		fi
		tail -n 1 "$work/time" >> "$work/runs"
		tail -n 1 "$work/time" | awk '{ exit !($1 > 10) }' && break
	done
	awk -v name="$name" -v bytes="$bytes" -v lines="$(wc -l < "$work/out")" '
	{ if (NR == 1 || $1 < s) s = $1; if (NR == 1 || $2 + $3 < c) c = $2 + $3; if ($4 > m) m = $4 }
	END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", name, bytes, s, c, m, lines }' "$work/runs" >> "$work/table"
	rm -f "$work/out"
}

# table BASELINE: prints the rows, then starts a new table.  Each row
# gives MB/s of its input, by elapsed and by CPU time, and its speed and
# memory relative to the row named BASELINE (ours: "ours x" is how many
# times faster BASELINE is); a row NAME that has a row "NAME --threads 1"
# gives its speed over that one's ("1 thr x", the scaling to every core).
table() {
	awk -F '\t' -v base="$1" '
	function rate(b, s) { return b / 1e6 / (s < 0.01 ? 0.01 : s) }
	{ name[NR] = $1; sec[NR] = $3; cpu[NR] = $4; rss[NR] = $5; out[NR] = $6
	  mbs[NR] = rate($2, $3); cmbs[NR] = rate($2, $4); row[$1] = NR }
	END {
		b = row[base]
		printf "%-38s %8s %8s %8s %8s %12s %10s %7s %8s %7s\n", "tool", "seconds", "CPU s", "MB/s",
		    "CPU MB/s", "peak RSS", "lines out", "ours x", "RSS/ours", "1 thr x"
		for (i = 1; i <= NR; i++) {
			if (sec[i] == "-") {
				printf "%-38s %8s\n", name[i], "failed"
				continue
			}
			one = row[name[i] " --threads 1"]
			printf "%-38s %8.2f %8.2f %8.1f %8.1f %8.1f MiB %10d %6.1fx %7.1fx %7s\n", name[i],
			    sec[i], cpu[i], mbs[i], cmbs[i], rss[i] / 1024, out[i],
			    (b && sec[b] != "-" ? mbs[b] / mbs[i] : 0), (b && rss[b] > 0 ? rss[i] / rss[b] : 0),
			    (one && sec[one] != "-" ? sprintf("%.2fx", mbs[i] / mbs[one]) : "")
		}
	}' "$work/table"
	mv "$work/table" "$work/last"
	: > "$work/table"
}

# legend: what the columns of table mean.
legend() {
	echo "(MB/s of input by elapsed and by CPU time, user + sys of every process;"
	echo " ours x: how many times faster ours, the first sa row, is; RSS/ours:"
	echo " peak RSS over ours; 1 thr x: speed over the row's --threads 1 run;"
	echo " lines out: TSV's include a header)"
}

# compare A B [EXTRA]: after table, row B's output lines and time against
# row A's, on one line (nothing if either is missing); B's output should
# have EXTRA lines more than A's (default 0; a header is 1).
compare() {
	awk -F '\t' -v a="$1" -v b="$2" -v extra="${3:-0}" '
	$1 == a && $3 != "-" { la = $6; sa = $3 }
	$1 == b && $3 != "-" { lb = $6; sb = $3 }
	END {
		if (la == "" || lb == "")
			exit
		printf "%s / %s: lines out %d / %d (%s), time %.2fx\n", b, a, lb, la,
		    (la + extra == lb ? "as expected" : "DIFFERENT"), sb / (sa < 0.01 ? 0.01 : sa)
	}' "$work/last"
}

# duckdb_setup: makes "node $DUCKDB_RUN FILE" run the SQL in FILE with
# DuckDB (@duckdb/node-api, installed from npm into a cache directory on
# first use, which it says on stderr); returns 1, saying why, where it
# cannot (no node or npm, no network, a package that does not run).
duckdb_setup() {
	local cache="${XDG_CACHE_HOME:-$HOME/.cache}/sa-bench/duckdb"
	if ! command -v node >/dev/null; then
		echo "bench: no node: the DuckDB rows are skipped" >&2
		return 1
	fi
	if [ ! -d "$cache/node_modules/@duckdb/node-api" ]; then
		if ! command -v npm >/dev/null; then
			echo "bench: no npm: the DuckDB rows are skipped" >&2
			return 1
		fi
		echo "bench: installing @duckdb/node-api from npm into $cache (once)" >&2
		if ! mkdir -p "$cache" || ! (cd "$cache" && npm install --silent --no-audit --no-fund \
		    --fetch-retries 1 --fetch-timeout 30000 @duckdb/node-api) >&2; then
			rm -rf "$cache/node_modules"
			echo "bench: npm install @duckdb/node-api failed (no network?): the DuckDB rows are skipped" >&2
			return 1
		fi
	fi
	cat > "$cache/run.mjs" <<'EOF'
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'fs';
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(readFileSync(process.argv[2], 'utf8'));
EOF
	echo "COPY (SELECT version() AS v) TO '/dev/stdout' (FORMAT csv, HEADER false);" > "$work/duckdb.sql"
	if ! DUCKDB_VERSION=$(node "$cache/run.mjs" "$work/duckdb.sql" 2>&1) ||
	    [ "${DUCKDB_VERSION#v}" = "$DUCKDB_VERSION" ]; then
		echo "bench: DuckDB from $cache does not run (remove it to reinstall): the DuckDB rows are skipped" >&2
		return 1
	fi
	DUCKDB_RUN="$cache/run.mjs"
}
