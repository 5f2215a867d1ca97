/*
 * sa-load: rows into PostgreSQL in bulk, with types inferred from the data.
 *
 * The input is read once.  The first rows go to an unlinked spool file as
 * COPY text while the type of every column is inferred from them; then the
 * table is created or evolved, the spool is sent with COPY FROM STDIN, and
 * the rest of the input follows as it is read, in batches, the table
 * evolving whenever a row needs it: the server parses while sa-load reads.
 * Everything happens in one transaction.  Memory holds one record and the
 * list of columns (and, for an upsert, 8 bytes per key), never the input.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"

#define SAMPLE_ROWS 10000	/* rows read before the table is made */
#define SAMPLE_BYTES (16 << 20)

struct load ld = {
	.opt = { .batch_rows = 100000, .batch_bytes = 64 << 20 }
};

static void
usage(void)
{
	printf("usage: sa-load [options] [schema.]table [file ...]\n"
	    "Load rows (NDJSON, JSON arrays or TSV) into a PostgreSQL table.\n"
	    "\n"
	    "  -d, --dbname CONNINFO   connection string or URI (default: PG*"
	    " variables)\n"
	    "  -k, --key COL[,COL...]  key columns: primary key of a new table,"
	    " upsert key\n"
	    "      --mode MODE         append (default), upsert or replace\n"
	    "      --no-create         fail if the table does not exist\n"
	    "      --no-evolve         fail instead of adding or widening "
	    "columns\n"
	    "      --inserted-at COL   add a timestamptz column set at load "
	    "time\n"
	    "      --batch-rows N      rows per COPY statement (default "
	    "100000)\n"
	    "      --batch-bytes SIZE  bytes per COPY statement (default 64M)\n"
	    "      --dry-run           print the DDL and change nothing\n"
	    "      --rejects FILE      write bad records to FILE and go on\n"
	    "      --stats             print a JSON line of counters at exit\n"
	    "      --quiet             no progress line, warnings or summary\n"
	    "  -h, --help              show this help\n"
	    "      --version           show the version\n");
}

static void
parse_target(const char *arg)
{
	const char *dot = strchr(arg, '.');

	if (*arg == '\0' || (dot != NULL && (dot == arg || dot[1] == '\0')))
		sa_usage_error("invalid table name '%s'", arg);
	if (dot != NULL) {
		ld.schema = pg_name("schema", arg, dot - arg, 1);
		ld.table = pg_name("table", dot + 1, strlen(dot + 1), 1);
		add_ident(&ld.target, ld.schema);
		sa_buf_addc(&ld.target, '.');
	} else
		ld.table = pg_name("table", arg, strlen(arg), 1);
	add_ident(&ld.target, ld.table);
	if (ld.schema != NULL) {
		sa_buf_adds(&ld.shown, ld.schema);
		sa_buf_addc(&ld.shown, '.');
	}
	sa_buf_adds(&ld.shown, ld.table);
}

static void
parse_keys(const char *arg)
{
	const char *p = arg, *comma;
	size_t i;

	do {
		comma = strchr(p, ',');
		if (comma == p || *p == '\0')
			sa_usage_error("-k: empty column name in '%s'", arg);
		ld.opt.keys = xrealloc(ld.opt.keys, (ld.opt.nkeys + 1) *
		    sizeof(char *));
		ld.opt.keys[ld.opt.nkeys] = comma ? xstrndup(p, comma - p) :
		    xstrdup(p);
		for (i = 0; i < ld.opt.nkeys; i++)
			if (strcmp(ld.opt.keys[i],
			    ld.opt.keys[ld.opt.nkeys]) == 0)
				sa_usage_error("-k: column '%s' given twice",
				    ld.opt.keys[i]);
		ld.opt.nkeys++;
		p = comma + 1;
	} while (comma != NULL);
}

/* Brings the staging table to what the rows read so far need: it has
 * the types inferred from the rows, so that the server parses the values
 * while the input is still being read.  With DEFER, columns that had
 * only nulls wait. */
void
stage_columns(int defer)
{
	struct sa_buf sql = { 0 };
	enum ld_type j;
	size_t i;
	int n = 0;

	sa_buf_adds(&sql, "ALTER TABLE pg_temp.sa_load_stage");
	for (i = 0; i < ld.ncols; i++) {
		struct column *c = &ld.cols[i];

		if (!c->used || (defer && c->data == LD_NONE))
			continue;
		j = ld_join(c->stype, c->data);
		if (!c->staged) {
			sa_buf_adds(&sql, n++ ? ", ADD COLUMN " :
			    " ADD COLUMN ");
			add_ident(&sql, c->name);
			sa_buf_addc(&sql, ' ');
			sa_buf_adds(&sql, ld_type_sql(j));
		} else if (j != c->stype) {
			sa_buf_adds(&sql, n++ ? ", ALTER COLUMN " :
			    " ALTER COLUMN ");
			add_ident(&sql, c->name);
			sa_buf_adds(&sql, " TYPE ");
			sa_buf_adds(&sql, ld_type_sql(j));
			sa_buf_adds(&sql, " USING ");
			add_ident(&sql, c->name);
			sa_buf_adds(&sql, "::");
			sa_buf_adds(&sql, ld_type_sql(j));
		}
		c->staged = 1;
		c->stype = j;
	}
	if (n > 0)
		run_ok(sql.s);
	sa_buf_free(&sql);
}

/* A name for the staging table's row order column that no loaded column
 * has. */
static char *
order_column(void)
{
	struct sa_buf ord = { 0 };
	size_t i;

	sa_buf_adds(&ord, "sa_load_ord");
	for (;;) {
		for (i = 0; i < ld.ncols; i++)
			if (strcmp(ld.cols[i].name, ord.s) == 0)
				break;
		if (i == ld.ncols)
			return ord.s;
		sa_buf_addc(&ord, '_');
	}
}

static void
create_stage(void)
{
	struct sa_buf sql = { 0 };

	ld.ord = order_column();
	sa_buf_adds(&sql, "CREATE TEMP TABLE sa_load_stage (");
	add_ident(&sql, ld.ord);
	/* Rows are numbered as they are sent; rows moved from the table
	 * by to_stage() are all 0: their keys differ, and every row sent
	 * after them comes later. */
	sa_buf_adds(&sql, " bigint NOT NULL DEFAULT 0) ON COMMIT DROP");
	run_ok(sql.s);
	sa_buf_free(&sql);
	stage_columns(1);
	ld.staging = 1;
	ld.copy_target = "pg_temp.sa_load_stage";
}

/* An upsert into an empty table sends its rows straight there, as long
 * as no key repeats.  When one does, the rows sent so far move to the
 * staging table, where the last row of each key can win. */
void
to_stage(void)
{
	struct sa_buf sql = { 0 };
	size_t i;
	int n = 0;

	if (ld.copying)
		copy_end();
	create_stage();
	sa_buf_adds(&sql, "INSERT INTO pg_temp.sa_load_stage (");
	for (i = 0; i < ld.ncols; i++)
		if (ld.cols[i].intable && ld.cols[i].staged) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, ld.cols[i].name);
		}
	sa_buf_adds(&sql, ") SELECT ");
	for (i = 0, n = 0; i < ld.ncols; i++)
		if (ld.cols[i].intable && ld.cols[i].staged) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, ld.cols[i].name);
			sa_buf_adds(&sql, "::");
			sa_buf_adds(&sql, ld_type_sql(ld.cols[i].stype));
		}
	sa_buf_adds(&sql, " FROM ");
	sa_buf_adds(&sql, ld.target.s);
	run_ok(sql.s);
	sa_buf_reset(&sql);
	/* A table nobody else can see yet is truncated; otherwise readers
	 * are not to be blocked until the end. */
	sa_buf_adds(&sql, ld.created ? "TRUNCATE " : "DELETE FROM ");
	sa_buf_adds(&sql, ld.target.s);
	run_ok(sql.s);
	sa_buf_free(&sql);
}

/* The column of the K-th -k field. */
static struct column *
key_column(size_t k)
{
	size_t len = strlen(ld.opt.keys[k]);

	return &ld.cols[find_column(ld.opt.keys[k], len,
	    hash(ld.opt.keys[k], len))];
}

/* Appends the K-th key column as the table's type to B. */
static void
add_key_cast(struct sa_buf *b, size_t k)
{
	add_ident(b, key_column(k)->name);
	sa_buf_adds(b, "::");
	add_ident(b, key_column(k)->typname);
}

static int
is_key(const char *name)
{
	size_t k;

	for (k = 0; k < ld.opt.nkeys; k++)
		if (strcmp(name, ld.keynames[k]) == 0)
			return 1;
	return 0;
}

/* Appends the loaded columns that are not keys, of row P, to B: with
 * CAST as the table's types; numbers as text, so that 1.0 and 1.00
 * differ.  Returns their number. */
static int
compared(struct sa_buf *b, const char *p, int cast)
{
	size_t i;
	int n = 0;

	for (i = 0; i < ld.ncols; i++) {
		if (!ld.cols[i].used || is_key(ld.cols[i].name))
			continue;
		sa_buf_adds(b, n++ ? ", " : "");
		sa_buf_adds(b, p);
		add_ident(b, ld.cols[i].name);
		if (cast) {
			sa_buf_adds(b, "::");
			add_ident(b, ld.cols[i].typname);
		}
		if (strcmp(ld.cols[i].typname, "numeric") == 0)
			sa_buf_adds(b, "::text");
	}
	return n;
}

/*
 * A row already in the table as it is loaded needs nothing, but INSERT
 * ... ON CONFLICT locks it all the same, which costs more than a join
 * that finds it first.  When a sample of the staged rows (about 2000, in
 * whole pages) shows that most are in the table unchanged (a load run
 * again, a snapshot that changed little), those rows leave the staging
 * table before the INSERT; otherwise the join is not run.  One statement
 * either way.  Only when every key is staged once: otherwise the last
 * row of a key could be the one to go.
 */
static void
drop_unchanged(void)
{
	struct sa_buf sql = { 0 }, on = { 0 };
	struct column *c;
	size_t k;

	for (k = 0; k < ld.opt.nkeys; k++) {
		c = key_column(k);
		sa_buf_adds(&on, "t.");
		add_ident(&on, c->name);
		sa_buf_adds(&on, " = s.");
		add_ident(&on, c->name);
		sa_buf_adds(&on, "::");
		add_ident(&on, c->typname);
		sa_buf_adds(&on, " AND ");
	}
	sa_buf_addc(&on, '(');
	if (compared(&on, "t.", 0) > 0) {	/* DO NOTHING locks nothing */
		sa_buf_adds(&on, ") IS NOT DISTINCT FROM (");
		compared(&on, "s.", 1);
		sa_buf_addc(&on, ')');
		sa_buf_adds(&sql, "DELETE FROM pg_temp.sa_load_stage s USING ");
		sa_buf_adds(&sql, ld.target.s);
		sa_buf_adds(&sql, " t WHERE ");
		sa_buf_add(&sql, on.s, on.len);
		sa_buf_adds(&sql, " AND (SELECT count(*) FILTER (WHERE EXISTS "
		    "(SELECT FROM ");
		sa_buf_adds(&sql, ld.target.s);
		sa_buf_adds(&sql, " t WHERE ");
		sa_buf_add(&sql, on.s, on.len);
		/* The join costs about what locking 60% of the rows does. */
		sa_buf_grow(&sql, 128);
		sql.len += snprintf(sql.s + sql.len, 128, ")) > 0.7 * count(*) "
		    "FROM pg_temp.sa_load_stage s TABLESAMPLE SYSTEM (%.6f) "
		    "REPEATABLE (0))", ld.nstaged > 2000 ? 2e5 / ld.nstaged :
		    100.0);
		run_ok(sql.s);
	}
	sa_buf_free(&on);
	sa_buf_free(&sql);
}

/* Upsert: the rows went to a staging table of text columns; now the
 * table is created or evolved for all of them, and one INSERT ... ON
 * CONFLICT moves them over, the last row of each key winning. */
static void
upsert(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	size_t i, k;
	int n, empty;

	lock_table();
	if (!ld.table_exists && ld.opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", ld.shown.s);
	evolve(0);
	read_table();
	run_ok("SET LOCAL work_mem = '128MB'");
	/* Into an empty table every row is new, and ON CONFLICT is work
	 * for nothing; sorting is needed only if a key may repeat. */
	empty = ld.created || table_empty();
	for (k = 0; k < ld.opt.nkeys; k++)
		if (strcmp(key_column(k)->typname, "int8") != 0 &&
		    strcmp(key_column(k)->typname, "text") != 0)
			ld.dup_keys = 1;
	if (!empty && !ld.dup_keys)
		drop_unchanged();

	sa_buf_adds(&sql, empty ? "INSERT INTO " : "WITH i AS (INSERT INTO ");
	sa_buf_adds(&sql, ld.target.s);
	sa_buf_adds(&sql, " AS t (");
	for (i = 0, n = 0; i < ld.ncols; i++)
		if (ld.cols[i].used) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, ld.cols[i].name);
		}
	if (ld.opt.inserted_at != NULL) {
		sa_buf_adds(&sql, n++ ? ", " : "");
		add_ident(&sql, ld.opt.inserted_at);
	}
	sa_buf_adds(&sql, ") SELECT ");
	if (ld.dup_keys) {
		sa_buf_adds(&sql, "DISTINCT ON (");
		for (k = 0; k < ld.opt.nkeys; k++) {
			sa_buf_adds(&sql, k ? ", " : "");
			add_key_cast(&sql, k);
		}
		sa_buf_adds(&sql, ") ");
	}
	for (i = 0, n = 0; i < ld.ncols; i++)
		if (ld.cols[i].used) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, ld.cols[i].name);
			sa_buf_adds(&sql, "::");
			add_ident(&sql, ld.cols[i].typname);
		}
	if (ld.opt.inserted_at != NULL)
		sa_buf_adds(&sql, n++ ? ", now()" : "now()");
	sa_buf_adds(&sql, " FROM pg_temp.sa_load_stage");
	if (ld.dup_keys) {
		sa_buf_adds(&sql, " ORDER BY ");
		for (k = 0; k < ld.opt.nkeys; k++) {
			add_key_cast(&sql, k);
			sa_buf_adds(&sql, ", ");
		}
		add_ident(&sql, ld.ord);
		sa_buf_adds(&sql, " DESC");
	}
	if (empty) {
		res = run(sql.s, 0, NULL);
		ld.rows_inserted = strtoumax(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		sa_buf_free(&sql);
		return;
	}
	sa_buf_adds(&sql, " ON CONFLICT (");
	for (k = 0; k < ld.opt.nkeys; k++) {
		sa_buf_adds(&sql, k ? ", " : "");
		add_ident(&sql, ld.keynames[k]);
	}
	/* Rows whose values are all as loaded are left alone: no dead
	 * tuple, and they do not count as updated. */
	n = 0;
	for (i = 0; i < ld.ncols; i++) {
		if (!ld.cols[i].used || is_key(ld.cols[i].name))
			continue;
		sa_buf_adds(&sql, n++ ? ", " : ") DO UPDATE SET ");
		add_ident(&sql, ld.cols[i].name);
		sa_buf_adds(&sql, " = EXCLUDED.");
		add_ident(&sql, ld.cols[i].name);
	}
	if (n == 0)
		sa_buf_adds(&sql, ") DO NOTHING");
	else {
		if (ld.opt.inserted_at != NULL) {
			sa_buf_adds(&sql, ", ");
			add_ident(&sql, ld.opt.inserted_at);
			sa_buf_adds(&sql, " = EXCLUDED.");
			add_ident(&sql, ld.opt.inserted_at);
		}
		sa_buf_adds(&sql, " WHERE (");
		compared(&sql, "t.", 0);
		sa_buf_adds(&sql, ") IS DISTINCT FROM (");
		compared(&sql, "EXCLUDED.", 0);
		sa_buf_addc(&sql, ')');
	}
	sa_buf_adds(&sql, " RETURNING (t.xmax = 0) AS inserted) "
	    "SELECT count(*) FILTER (WHERE inserted), "
	    "count(*) FILTER (WHERE NOT inserted) FROM i");
	res = run(sql.s, 0, NULL);
	ld.rows_inserted = strtoumax(PQgetvalue(res, 0, 0), NULL, 10);
	ld.rows_updated = strtoumax(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	sa_buf_free(&sql);
}

/* Has the table a unique index on just the -k columns, as ON CONFLICT
 * needs? */
static int
has_unique_key(void)
{
	struct sa_buf keys = { 0 };
	const char *params[2], *p;
	PGresult *res;
	size_t k;
	int yes;

	/* The key names as an array literal. */
	sa_buf_addc(&keys, '{');
	for (k = 0; k < ld.opt.nkeys; k++) {
		sa_buf_adds(&keys, k ? ",\"" : "\"");
		for (p = ld.keynames[k]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				sa_buf_addc(&keys, '\\');
			sa_buf_addc(&keys, *p);
		}
		sa_buf_addc(&keys, '"');
	}
	sa_buf_addc(&keys, '}');
	params[0] = ld.target.s;
	params[1] = keys.s;
	res = run("SELECT EXISTS (SELECT FROM pg_index i "
	    "WHERE i.indrelid = to_regclass($1) AND i.indisunique "
	    "AND i.indpred IS NULL AND i.indexprs IS NULL "
	    "AND i.indnatts = cardinality($2::text[]) "
	    "AND (SELECT array_agg(a.attname::text ORDER BY a.attname) "
	    "FROM pg_attribute a WHERE a.attrelid = i.indrelid "
	    "AND a.attnum = ANY (i.indkey)) = "
	    "(SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) k))",
	    2, params);
	yes = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	sa_buf_free(&keys);
	return yes;
}

static void
load(int nargs, char **args)
{
	struct sa_buf sql = { 0 };
	uintmax_t limit = SAMPLE_ROWS, spooled = 0;
	int direct = 0;

	run_ok("BEGIN");
	/* A load that may change the table takes the lock first; one that
	 * cannot (--no-evolve on a table that is there) runs alongside.  An
	 * upsert takes it at the end, unless the table is empty: then it
	 * locks now and sends the rows straight there. */
	if (!ld.opt.dry_run && ld.opt.mode != UPSERT &&
	    !(ld.opt.no_evolve && ld.table_exists))
		lock_table();
	if (!ld.opt.dry_run && ld.opt.mode == UPSERT && table_empty()) {
		lock_table();
		direct = table_empty();
	}
	if (!ld.table_exists && ld.opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", ld.shown.s);
	if (!ld.opt.dry_run && ld.opt.mode == REPLACE && ld.table_exists) {
		sa_buf_adds(&sql, "DELETE FROM ");
		sa_buf_adds(&sql, ld.target.s);
		run_ok(sql.s);
	}

	/* The first rows show the types; with --no-evolve a new table is
	 * made for all of them, since it may not change later. */
	if (ld.opt.dry_run || (ld.opt.no_evolve && !ld.table_exists))
		limit = UINTMAX_MAX;
	ld.spool = sa_tmpfile();
	setvbuf(ld.spool, NULL, _IOFBF, 1 << 20);
	if (sa_rejects_enabled() && !ld.opt.dry_run) {
		ld.batchf = sa_tmpfile();
		setvbuf(ld.batchf, NULL, _IOFBF, 1 << 20);
	}
	sa_input_init(&ld.in, nargs, args);
	while (ld.rows_loaded < limit && spooled < SAMPLE_BYTES && next_row()) {
		if (ld.opt.dry_run)
			continue;
		if (fwrite(ld.row.s, 1, ld.row.len, ld.spool) != ld.row.len)
			sa_die_errno(EX_IOERR, "temporary file");
		spooled += ld.row.len;
	}
	name_keys();

	if (ld.opt.dry_run) {
		struct sa_buf ddl = { 0 };

		while (next_row())
			;
		check_input();
		if (ld.opt.mode == UPSERT && ld.table_exists &&
		    !has_unique_key())
			sa_die(EX_USAGE, "%s: no primary key or unique index on "
			    "the -k columns, which --mode upsert needs",
			    ld.shown.s);
		if (ld.rows_loaded > 0 && plan(&ddl, 0, 0) == 0)
			sa_buf_adds(&ddl, "-- no change to the table\n");
		sa_buf_add(&sa_out, ddl.s ? ddl.s : "", ddl.len);
		sa_out_flush();
		sa_buf_free(&ddl);
		return;
	}
	if (ld.rows_loaded > 0) {
		/* A table made for an upsert gets its primary key once the
		 * rows are in: building the index at once is cheaper than
		 * growing it row by row. */
		ld.key_later = direct && !ld.table_exists;
		if (ld.opt.mode == UPSERT && (!direct || ld.dup_keys))
			create_stage();
		else {
			evolve(1);
			ld.copy_target = ld.target.s;
		}
		send_rows();
		check_input();
		if (ld.staging) {
			stage_columns(0);
			upsert();
		} else {
			evolve(0);
			ld.rows_inserted = ld.rows_loaded;
		}
		if (ld.key_later && ld.created) {
			sa_buf_reset(&sql);
			sa_buf_adds(&sql, "ALTER TABLE ");
			sa_buf_adds(&sql, ld.target.s);
			sa_buf_adds(&sql, " ADD ");
			add_primary_key(&sql);
			run_ok(sql.s);
		}
	} else
		check_input();
	/* The rows and the rejects go together: a rejects file that
	 * cannot be written means nothing is loaded. */
	sa_rejects_close();
	run_ok("COMMIT");
	sa_buf_free(&sql);
}

static double
elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - ld.started.tv_sec) +
	    (t.tv_nsec - ld.started.tv_nsec) / 1e9;
}

static void
summary(void)
{
	static char extra[128];
	double s = elapsed();

	sa_stats.out = ld.rows_inserted + ld.rows_updated;
	snprintf(extra, sizeof(extra), "\"inserted\":%ju,\"updated\":%ju",
	    ld.rows_inserted, ld.rows_updated);
	sa_stats_extra(extra);
	if (sa_quiet)
		return;
	sa_progress_clear();
	fprintf(stderr, "%s: %s: %ju rows read, %ju inserted, %ju updated",
	    sa_prog, ld.shown.s, sa_stats.in, ld.rows_inserted,
	    ld.rows_updated);
	if (sa_stats.rejected > 0)
		fprintf(stderr, ", %ju rejected", sa_stats.rejected);
	fprintf(stderr, ", %.2f s, %.0f rows/s%s\n", s,
	    s > 0 ? sa_stats.in / s : 0.0, ld.opt.dry_run ? " (dry run)" : "");
}

int
main(int argc, char **argv)
{
	enum {
		OPT_MODE = 0x2000, OPT_NO_CREATE, OPT_NO_EVOLVE,
		OPT_INSERTED_AT, OPT_BATCH_ROWS, OPT_BATCH_BYTES, OPT_DRY_RUN
	};
	static const struct option longopts[] = {
		{ "dbname", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "no-create", no_argument, NULL, OPT_NO_CREATE },
		{ "no-evolve", no_argument, NULL, OPT_NO_EVOLVE },
		{ "inserted-at", required_argument, NULL, OPT_INSERTED_AT },
		{ "batch-rows", required_argument, NULL, OPT_BATCH_ROWS },
		{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	size_t i;
	int c;

	clock_gettime(CLOCK_MONOTONIC, &ld.started);
	sa_setprog(argv[0]);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	sa_out_init();
	while ((c = getopt_long(argc, argv, "d:hk:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ld.opt.conninfo = optarg;
			break;
		case 'k':
			parse_keys(optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "append") == 0)
				ld.opt.mode = APPEND;
			else if (strcmp(optarg, "upsert") == 0)
				ld.opt.mode = UPSERT;
			else if (strcmp(optarg, "replace") == 0)
				ld.opt.mode = REPLACE;
			else
				sa_usage_error("--mode: '%s' is not append, "
				    "upsert or replace", optarg);
			break;
		case OPT_NO_CREATE:
			ld.opt.no_create = 1;
			break;
		case OPT_NO_EVOLVE:
			ld.opt.no_evolve = 1;
			break;
		case OPT_INSERTED_AT:
			if (*optarg == '\0')
				sa_usage_error("--inserted-at: empty name");
			ld.opt.inserted_at = pg_name("column", optarg,
			    strlen(optarg), 1);
			break;
		case OPT_BATCH_ROWS:
			ld.opt.batch_rows = sa_parse_int("--batch-rows",
			    optarg, 1, INT64_MAX);
			break;
		case OPT_BATCH_BYTES:
			ld.opt.batch_bytes = sa_parse_size("--batch-bytes",
			    optarg, 1);
			break;
		case OPT_DRY_RUN:
			ld.opt.dry_run = 1;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (optind >= argc)
		sa_usage_error("missing table name");
	if (ld.opt.mode == UPSERT && ld.opt.nkeys == 0)
		sa_usage_error("--mode upsert needs -k/--key");
	parse_target(argv[optind++]);
	for (i = 0; i < ld.opt.nkeys; i++)
		if (ld.opt.inserted_at != NULL &&
		    strcmp(ld.opt.keys[i], ld.opt.inserted_at) == 0)
			sa_usage_error("--inserted-at %s cannot be a key",
			    ld.opt.inserted_at);

	db_connect();
	if (ld.opt.mode == UPSERT)
		run_ok("SET temp_buffers = '256MB'");
	read_table();
	if (!ld.table_exists && ld.opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", ld.shown.s);
	load(argc - optind, argv + optind);
	summary();
	PQfinish(ld.conn);
	return EX_OK;
}
