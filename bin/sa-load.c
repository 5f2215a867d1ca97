/*
 * sa-load: rows into PostgreSQL in bulk, with types inferred from the data.
 *
 * The input is read once.  The first rows go to an unlinked spool file as
 * COPY text while the type of every column is inferred from them; then the
 * table is created or evolved, the spool is sent with COPY FROM STDIN, and
 * the rest of the input follows as it is read, in batches, the table
 * evolving whenever a row needs it: the server parses while sa-load reads.
 * The rows go in one transaction; changes to a table others can see go
 * in short ones of their own, so that readers never wait for the load
 * (load.h says how).  Memory holds one record and the list of columns
 * (and, for an upsert, 8 bytes per key), never the input.
 *
 * With --threads, workers parse the records and encode their values
 * (load-row.c), two chunks of input and their rows per thread in memory;
 * the main thread takes the rows in input order (take_row()) and does
 * the rest, as on one thread.
 *
 * This file reads the options and takes a load through its steps in
 * order; the steps are in the load-*.c files, which load.h lists.
 */
#include <getopt.h>
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
	    "      --mode MODE         append (default), upsert, replace or "
	    "replace-keys\n"
	    "      --scope-key COL[=FIELD][,...]\n"
	    "                          replace-keys: the columns whose rows are"
	    " replaced\n"
	    "      --scope FILE        replace-keys: the keys in scope, from "
	    "FILE\n"
	    "                          (repeatable; default: the rows' own)\n"
	    "      --no-create         fail if the table does not exist\n"
	    "      --no-evolve         fail instead of adding or widening "
	    "columns\n"
	    "      --inserted-at COL   add a timestamptz column set at load "
	    "time\n"
	    "      --batch-rows N      rows per COPY statement (default "
	    "100000)\n"
	    "      --batch-bytes SIZE  bytes per COPY statement (default 64M)\n"
	    "      --dry-run           print the DDL and change nothing\n"
	    "      --threads N         read line-delimited input with N threads "
	    "(default:\n"
	    "                          online CPUs)\n"
	    "      --rejects FILE      write bad records to FILE and go on\n"
	    "      --stats             print a JSON line of counters at exit\n"
	    "      --quiet             no progress line, warnings or summary\n"
	    "      --metrics FILE      write the --stats figures for Prometheus "
	    "at exit\n"
	    "      --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
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
	size_t i, j;

	sa_list_add("-k", arg, ',', &ld.opt.keys, &ld.opt.nkeys);
	for (i = 0; i < ld.opt.nkeys; i++)
		for (j = 0; j < i; j++)
			if (strcmp(ld.opt.keys[i], ld.opt.keys[j]) == 0)
				sa_usage_error("-k: column '%s' given twice",
				    ld.opt.keys[i]);
}

/* The first rows are spooled until LIMIT rows or SAMPLE_BYTES; DIRECT
 * says an upsert may go straight into the table, which is empty. */
static uintmax_t limit = SAMPLE_ROWS, spooled;
static int direct;

/* The first rows are read: the table is made ready for them and they are
 * sent, and so will be the rows that follow. */
static void
start_rows(void)
{
	name_keys();
	/* A table made for an upsert or by replace-keys gets its primary
	 * key once the rows are in: building the index at once is cheaper
	 * than growing it row by row.  replace-keys adds it earlier should
	 * a key repeat (send_row()), for the server to name the row. */
	ld.key_later = !ld.table_exists && ((ld.opt.mode == UPSERT && direct) ||
	    (ld.opt.mode == REPLACE_KEYS && ld.opt.nkeys > 0 && !ld.dup_keys));
	/* Rows sent into a table others see may have to be sent again,
	 * should it change mid-stream. */
	ld.keep = ld.table_exists && !ld.opt.no_evolve &&
	    ld.opt.mode != UPSERT;
	if (ld.opt.mode == UPSERT && (!direct || ld.dup_keys)) {
		run_ok("BEGIN");
		create_stage();
	} else {
		begin_rows();
		ld.copy_target = ld.target.s;
	}
	if (ld.opt.mode == REPLACE_KEYS)
		replace_keys();
	send_rows();
	ld.sending = 1;
}

/* Takes the good row just read, in input order: spooled while the types
 * are being inferred, sent once the table is ready. */
void
take_row(void)
{
	if (ld.sending) {
		send_row();
		return;
	}
	if (ld.opt.dry_run)
		return;
	if (fwrite(ld.row.s, 1, ld.row.len, ld.spool) != ld.row.len)
		sa_die_errno(EX_IOERR, "temporary file");
	spooled += ld.row.len;
	if (ld.rows_loaded >= limit ||
	    (spooled >= SAMPLE_BYTES && limit != UINTMAX_MAX))
		start_rows();
}

static void
load(int nargs, char **args)
{
	struct sa_buf sql = { 0 };

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

	/* The first rows show the types; with --no-evolve a new table is
	 * made for all of them, since it may not change later. */
	/* replace-keys into a table that exists reads all its rows first as
	 * well: its DELETE cannot be sent again should the table change
	 * mid-stream (load-copy.c).  A table it makes changes in place. */
	if (ld.opt.dry_run || (ld.opt.no_evolve && !ld.table_exists) ||
	    (ld.opt.mode == REPLACE_KEYS && ld.table_exists))
		limit = UINTMAX_MAX;
	ld.spool = sa_tmpfile_buffered();
	if (sa_rejects_enabled() && !ld.opt.dry_run) {
		/* A descriptor of its own (load-copy.c truncates it), and a
		 * buffer: given none, setvbuf() keeps glibc's 4 KiB. */
		static char batchbuf[1 << 16];

		ld.batchf = sa_tmpfile();
		setvbuf(ld.batchf, batchbuf, _IOFBF, sizeof(batchbuf));
	}
	sa_input_init(&ld.in, nargs, args);
	read_rows(ld.opt.threads);
	name_keys();

	if (ld.opt.dry_run) {
		struct sa_buf ddl = { 0 };

		check_input();
		if (ld.opt.mode == UPSERT && ld.table_exists &&
		    !has_unique_key())
			sa_die(EX_USAGE, "%s: no primary key or unique index on "
			    "the -k columns, which --mode upsert needs",
			    ld.shown.s);
		if (ld.rows_loaded > 0 && plan(&ddl, 0, 0) == 0)
			sa_buf_adds(&ddl, "-- no change to the table\n");
		if (ld.opt.mode == REPLACE_KEYS) {
			/* The scope is staged to be counted, then dropped. */
			run_ok("BEGIN");
			replace_plan(&ddl);
			run_ok("ROLLBACK");
		}
		sa_buf_add(&sa_out, ddl.s ? ddl.s : "", ddl.len);
		sa_out_flush();
		sa_buf_free(&ddl);
		return;
	}
	/* All the input fitted in the first rows. */
	if (!ld.sending && ld.rows_loaded > 0)
		start_rows();
	if (ld.sending) {
		if (ld.copying)
			copy_end();
		check_input();
		if (ld.staging) {
			stage_columns(0);
			upsert();
		} else {
			if (ld.created)
				evolve(0);
			ld.rows_inserted = ld.rows_loaded;
		}
		if (ld.key_later && ld.created)
			key_now();
	} else {
		run_ok("BEGIN");
		if (ld.opt.mode == REPLACE && ld.table_exists)
			delete_rows();
		check_input();
		if (ld.opt.mode == REPLACE_KEYS)
			replace_keys();
	}
	/* The rows and the rejects go together: a rejects file that
	 * cannot be written means nothing is loaded. */
	sa_rejects_close();
	run_ok("COMMIT");
	ld.done = 1;
	/* Columns of nulls only, on a table others see, come after. */
	if (ld.rows_loaded > 0 && !ld.staging)
		change_table(0);
	/* The replaced rows are dead: the planner learns of the new ones
	 * now; autovacuum frees the old ones' space. */
	if (ld.opt.mode == REPLACE && ld.table_exists && !ld.created) {
		sa_buf_reset(&sql);
		sa_buf_adds(&sql, "ANALYZE ");
		sa_buf_adds(&sql, ld.target.s);
		run_ok(sql.s);
	}
	sa_buf_free(&sql);
}

/* At exit: a load that failed after adding columns in transactions of
 * their own says they stay. */
static void
report_added(void)
{
	if (!ld.done && ld.added.len > 0)
		sa_note("%s: the load failed, but the columns it added stay "
		    "(nullable, empty): %s", ld.shown.s, ld.added.s);
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
	int n;

	sa_stats.out = ld.rows_inserted + ld.rows_updated;
	n = ld.opt.mode != REPLACE_KEYS ? 0 : snprintf(extra, sizeof(extra),
	    "\"deleted\":%ju,", ld.scope.deleted);
	snprintf(extra + n, sizeof(extra) - n, "\"inserted\":%ju,"
	    "\"updated\":%ju", ld.rows_inserted, ld.rows_updated);
	sa_stats_extra(extra);
	if (sa_quiet)
		return;
	sa_progress_clear();
	fprintf(stderr, "%s: %s: %ju rows read, ", sa_prog, ld.shown.s,
	    sa_stats.in);
	if (ld.opt.mode == REPLACE_KEYS)
		fprintf(stderr, "%ju deleted, ", ld.scope.deleted);
	fprintf(stderr, "%ju inserted, %ju updated", ld.rows_inserted,
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
		OPT_INSERTED_AT, OPT_BATCH_ROWS, OPT_BATCH_BYTES, OPT_DRY_RUN,
		OPT_SCOPE_KEY, OPT_SCOPE, OPT_THREADS
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
		{ "scope-key", required_argument, NULL, OPT_SCOPE_KEY },
		{ "scope", required_argument, NULL, OPT_SCOPE },
		{ "threads", required_argument, NULL, OPT_THREADS },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	size_t i;
	int c;

	clock_gettime(CLOCK_MONOTONIC, &ld.started);
	sa_setprog(argv[0]);
	ld.opt.threads = sa_threads_default();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	sa_out_init();
	sa_out_plain();
	sa_copy_text = 1;
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
			else if (strcmp(optarg, "replace-keys") == 0)
				ld.opt.mode = REPLACE_KEYS;
			else
				sa_usage_error("--mode: '%s' is not append, "
				    "upsert, replace or replace-keys", optarg);
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
		case OPT_SCOPE_KEY:
			scope_keys(optarg);
			break;
		case OPT_SCOPE:
			scope_file(optarg);
			break;
		case OPT_THREADS:
			ld.opt.threads = sa_threads_parse("--threads", optarg);
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
	scope_check(argc - optind, argv + optind);

	atexit(report_added);
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
