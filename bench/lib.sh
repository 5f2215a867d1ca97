# Shared by the bench scripts: timing, peak RSS and the result table.
# Sourced, not run.

top=$(cd "$(dirname "$0")/.." && pwd)
# The tools from the normal build; configure and make first.
for d in "$top/_build/normal/bin" "$top/bin"; do
	if [ -x "$d/sa-explode" ]; then
		PATH="$d:$PATH"
		break
	fi
done
PATH="$top/tests/helpers:$PATH"
export PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/sa-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# measure NAME INPUT_BYTES COMMAND...: runs COMMAND (stdout to /dev/null)
# and adds a row NAME seconds MB/s peak-RSS to the table.
measure() {
	name=$1 bytes=$2
	shift 2
	if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err"; then
		echo "bench: $name failed:" >&2
		cat "$work/err" >&2
		return 0
	fi
	set -- $(tail -n 1 "$work/time")
	printf '%s\t%s\t%s\t%s\n' "$name" "$1" \
	    "$(awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? b / 1e6 / s : 0) }')" \
	    "$2" >> "$work/table"
}

# table BASELINE: prints the rows, with each one's speed and memory
# relative to the row named BASELINE (ours).
table() {
	awk -F '\t' -v base="$1" '
	{ name[NR] = $1; sec[NR] = $2; mbs[NR] = $3; rss[NR] = $4
	  if ($1 == base) { bs = $3; br = $4 } }
	END {
		printf "%-34s %8s %9s %12s %10s %10s\n", "tool", "seconds", "MB/s", "peak RSS", "ours x", "RSS/ours"
		for (i = 1; i <= NR; i++)
			printf "%-34s %8.2f %9.1f %9.1f MiB %9.1fx %9.1fx\n", name[i], sec[i], mbs[i], rss[i] / 1024,
			    (mbs[i] > 0 ? bs / mbs[i] : 0), (br > 0 ? rss[i] / br : 0)
	}' "$work/table"
	: > "$work/table"
}

# duckdb_setup: makes "node $DUCKDB_RUN FILE" run the SQL in FILE with
# DuckDB (@duckdb/node-api, installed from npm into a cache directory on
# first use); returns 1, saying why, where it cannot.
duckdb_setup() {
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/sa-bench/duckdb
	if [ ! -d "$cache/node_modules/@duckdb/node-api" ]; then
		if ! command -v npm >/dev/null; then
			echo "bench: no npm: the DuckDB rows are skipped" >&2
			return 1
		fi
		echo "bench: installing @duckdb/node-api from npm into $cache (once)" >&2
		mkdir -p "$cache" &&
		    (cd "$cache" && npm install --silent --no-audit --no-fund @duckdb/node-api) >&2 ||
		    { echo "bench: npm failed: the DuckDB rows are skipped" >&2; return 1; }
	fi
	cat > "$cache/run.mjs" <<'EOF'
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'fs';
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(readFileSync(process.argv[2], 'utf8'));
EOF
	DUCKDB_RUN="$cache/run.mjs"
}
