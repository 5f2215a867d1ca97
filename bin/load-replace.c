/*
 * load-replace.c: --mode replace-keys, the rows of the keys in scope
 * deleted in one statement before the input's rows go in.
 *
 * The keys in scope come from the input's own rows or from the --scope
 * stream.  Either way they are written as COPY text to a temporary file
 * as they are read, then copied into a temporary table typed as the
 * table's key columns, and one DELETE joins the table with it: memory
 * holds one record whatever the number of keys, and no statement is run
 * per key.  The rows follow in the same transaction, so readers see the
 * old rows or the new ones.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* Parses --scope-key COL[=FIELD][,...] through the one list parser. */
void
scope_keys(const char *arg)
{
	char **items = NULL, *eq;
	size_t i, k, n = 0;

	sa_list_add("--scope-key", arg, ',', &items, &n);
	for (k = 0; k < n; k++) {
		eq = strchr(items[k], '=');
		if (eq == items[k] || (eq != NULL && eq[1] == '\0'))
			sa_usage_error("--scope-key: empty name in '%s'", arg);
		i = ld.scope.n++;
		ld.scope.cols = xrealloc(ld.scope.cols, ld.scope.n *
		    sizeof(char *));
		ld.scope.fields = xrealloc(ld.scope.fields, ld.scope.n *
		    sizeof(char *));
		ld.scope.cols[i] = eq ? xstrndup(items[k], eq - items[k]) :
		    xstrdup(items[k]);
		ld.scope.fields[i] = xstrdup(eq ? eq + 1 : items[k]);
		while (i-- > 0)
			if (strcmp(ld.scope.cols[i],
			    ld.scope.cols[ld.scope.n - 1]) == 0)
				sa_usage_error("--scope-key: column '%s' given "
				    "twice", ld.scope.cols[i]);
	}
	sa_list_free(&items, &n);
}

/* Takes one --scope FILE. */
void
scope_file(const char *arg)
{
	ld.scope.files = xrealloc(ld.scope.files, (ld.scope.nfiles + 1) *
	    sizeof(char *));
	ld.scope.files[ld.scope.nfiles++] = (char *)arg;
}

static int
is_stdin(int nfiles, char **files)
{
	int i;

	if (nfiles == 0)
		return 1;
	for (i = 0; i < nfiles; i++)
		if (strcmp(files[i], "-") == 0)
			return 1;
	return 0;
}

/* The options of replace-keys, checked once all are read; NFILES and
 * FILES are the input's operands. */
void
scope_check(int nfiles, char **files)
{
	size_t i;

	if (ld.opt.mode != REPLACE_KEYS) {
		if (ld.scope.n > 0 || ld.scope.nfiles > 0)
			sa_usage_error("--scope-key and --scope need --mode "
			    "replace-keys");
		return;
	}
	if (ld.scope.n == 0)
		sa_usage_error("--mode replace-keys needs --scope-key");
	for (i = 0; i < ld.scope.n && ld.scope.nfiles == 0; i++)
		if (strcmp(ld.scope.cols[i], ld.scope.fields[i]) != 0)
			sa_usage_error("--scope-key %s=%s: FIELD names a field "
			    "of --scope, which is not given", ld.scope.cols[i],
			    ld.scope.fields[i]);
	if (ld.scope.nfiles > 0 && is_stdin(nfiles, files) &&
	    is_stdin(ld.scope.nfiles, ld.scope.files))
		sa_usage_error("--scope and the rows cannot both be read from "
		    "stdin");
	for (i = 0; i < ld.scope.n; i++)
		if (ld.opt.inserted_at != NULL &&
		    strcmp(ld.scope.cols[i], ld.opt.inserted_at) == 0)
			sa_usage_error("--inserted-at %s cannot be a scope key",
			    ld.opt.inserted_at);
}

/* Is the scope the keys of the input's own rows? */
int
scope_from_input(void)
{
	return ld.opt.mode == REPLACE_KEYS && ld.scope.nfiles == 0;
}

/* Appends the scope key of record ROOT, named by NAMES, to LINE as a
 * COPY line, with SCRATCH for the text of its values.  Returns the index
 * of a key that is missing or null (*ISNULL tells which), or -1.
 * Touches nothing shared: runs in the workers. */
int
scope_key(const struct sa_val *root, char **names, struct sa_buf *line,
    struct sa_buf *scratch, int *isnull)
{
	const struct sa_val *v;
	const char *s;
	size_t i, len, start = line->len;

	for (i = 0; i < ld.scope.n; i++) {
		v = sa_get(root, names[i], strlen(names[i]));
		if (v == NULL || !sa_val_text(v, scratch, &s, &len)) {
			*isnull = v != NULL;
			line->len = start;
			return i;
		}
		if (i > 0)
			sa_buf_addc(line, '\t');
		sa_copy_escape(line, s, len);
	}
	sa_buf_addc(line, '\n');
	return -1;
}

/* Appends LEN bytes of key lines at S to the keys file. */
static void
write_keys(const char *s, size_t len)
{
	if (ld.scope.keys == NULL) {
		ld.scope.keys = sa_tmpfile_buffered();
	}
	if (fwrite(s, 1, len, ld.scope.keys) != len)
		sa_die_errno(EX_IOERR, "temporary file");
}

/* A row of the input must carry its scope key: a row without one would
 * never be in any scope, and would stay for good.  IDX and ISNULL are
 * what scope_key() said of the row at LINE of FILE (its JSON, for the
 * rejects, at JSON), KEY its key line: without --scope its key is in
 * scope.  Returns 0 if the row was rejected. */
int
scope_take(const char *file, uintmax_t line, const char *json, size_t jlen,
    int idx, int isnull, const char *key, size_t keylen)
{
	if (idx >= 0) {
		sa_reject(file, line, json, jlen, NULL,
		    "scope key \"%s\" is %s", ld.scope.cols[idx],
		    isnull ? "null" : "missing");
		return 0;
	}
	/* Once the rows go in, the scope has been staged: the keys of a
	 * table made by this load, which had none to delete. */
	if (scope_from_input() && !ld.sending)
		write_keys(key, keylen);
	return 1;
}

/* A worker's, for the --scope stream. */
static __thread struct sa_buf scope_scratch;

/* In a worker: the key line of --scope record REC, or its reject. */
static void
scope_record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	char msg[320];
	int i, isnull;

	(void)w;
	i = scope_key(rec->root, ld.scope.fields, sa_chunk_buf(c, 0),
	    &scope_scratch, &isnull);
	if (i >= 0) {
		snprintf(msg, sizeof(msg), "scope key \"%.256s\" is %s",
		    ld.scope.fields[i], isnull ? "null" : "missing");
		sa_chunk_reject(c, rec, NULL, 0, msg);
	}
}

static void
scope_write(int tag, const char *s, size_t len)
{
	(void)tag;
	write_keys(s, len);
}

static void
scope_worker_free(void *w)
{
	(void)w;
	sa_buf_free(&scope_scratch);
}

static const struct sa_chunk_ops scope_ops = {
	NULL, scope_worker_free, scope_record, scope_write
};

/* Reads the --scope stream into the keys file, with the load's threads.
 * Its records are not the rows: the counters of the load are left as
 * they were. */
static void
read_scope(void)
{
	struct sa_stats saved = sa_stats;
	struct sa_input in;

	sa_input_init(&in, ld.scope.nfiles, ld.scope.files);
	sa_chunks_run(&in, ld.opt.threads, &scope_ops, NULL, NULL);
	sa_input_close(&in);
	if (in.status != 0)
		sa_die(in.status, "--scope: nothing was loaded");
	saved.rejected = sa_stats.rejected;
	sa_stats = saved;
}

/* The table's columns of the scope keys, or NULL if a key has none. */
static const char *
missing_column(int *idx)
{
	size_t i;
	char *name;

	for (i = 0; i < ld.scope.n; i++) {
		name = pg_name("column", ld.scope.cols[i],
		    strlen(ld.scope.cols[i]), 0);
		idx[i] = find_tcol(name);
		free(name);
		if (idx[i] < 0)
			return ld.scope.cols[i];
	}
	return NULL;
}

/* Sends the keys file with COPY into the scope table. */
static void
copy_keys(void)
{
	char chunk[1 << 15];
	PGresult *res;
	size_t n;

	res = PQexec(ld.conn, "COPY pg_temp.sa_load_scope FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN)
		db_fail(res, "--scope");
	PQclear(res);
	if (ld.scope.keys != NULL) {
		rewind(ld.scope.keys);
		while ((n = fread(chunk, 1, sizeof(chunk), ld.scope.keys)) > 0)
			if (PQputCopyData(ld.conn, chunk, n) != 1)
				db_fail(NULL, "--scope");
		if (ferror(ld.scope.keys))
			sa_die_errno(EX_IOERR, "temporary file");
	}
	if (PQputCopyEnd(ld.conn, NULL) != 1)
		db_fail(NULL, "--scope");
	while ((res = PQgetResult(ld.conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_fail(res, "--scope");
		PQclear(res);
	}
}

/* Appends the statement that finds the rows in scope to B: a DELETE, or
 * with COUNT a count of the keys and of those rows. */
static void
add_scope_sql(struct sa_buf *b, int count)
{
	size_t i;

	sa_buf_adds(b, count ? "SELECT (SELECT count(*) FROM (SELECT DISTINCT "
	    "* FROM pg_temp.sa_load_scope) k), count(*) FROM " :
	    "DELETE FROM ");
	sa_buf_adds(b, ld.target.s);
	sa_buf_adds(b, " t\n    WHERE EXISTS (SELECT FROM pg_temp.sa_load_scope"
	    " s WHERE ");
	for (i = 0; i < ld.scope.n; i++) {
		char *name = pg_name("column", ld.scope.cols[i],
		    strlen(ld.scope.cols[i]), 0);

		sa_buf_adds(b, i ? " AND t." : "t.");
		add_ident(b, name);
		sa_buf_adds(b, " = s.");
		add_ident(b, name);
		free(name);
	}
	sa_buf_adds(b, ")");
}

/* Stages the keys in scope in a temporary table of the key columns'
 * types; returns 0 if nothing can be in scope: the table does not exist,
 * or (in a dry run) it has yet to get the key columns from the rows. */
static int
stage_scope(void)
{
	struct sa_buf sql = { 0 };
	const char *col;
	int *idx;
	size_t i;

	if (ld.scope.nfiles > 0)
		read_scope();
	read_table();
	if (!ld.table_exists)
		return 0;
	idx = xcalloc(ld.scope.n, sizeof(*idx));
	if ((col = missing_column(idx)) != NULL) {
		if (ld.rows_loaded == 0)
			sa_die(EX_USAGE, "%s: no column \"%s\" for "
			    "--scope-key", ld.shown.s, col);
		free(idx);
		return 0;
	}
	sa_buf_adds(&sql, "CREATE TEMP TABLE sa_load_scope (");
	for (i = 0; i < ld.scope.n; i++) {
		sa_buf_adds(&sql, i ? ", " : "");
		add_ident(&sql, ld.tcols[idx[i]].name);
		sa_buf_addc(&sql, ' ');
		sa_buf_adds(&sql, ld.tcols[idx[i]].type);
	}
	sa_buf_adds(&sql, ") ON COMMIT DROP");
	run_ok(sql.s);
	copy_keys();
	/* The planner knows the number of keys before it joins. */
	run_ok("ANALYZE pg_temp.sa_load_scope");
	free(idx);
	sa_buf_free(&sql);
	return 1;
}

/* Deletes the rows of the keys in scope, before the rows are sent. */
void
replace_keys(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;

	lock_table();
	if (stage_scope()) {
		add_scope_sql(&sql, 0);
		res = run(sql.s, 0, NULL);
		ld.scope.deleted = strtoumax(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	sa_buf_free(&sql);
}

/* --dry-run: appends to B what replace_keys() would do, with the number
 * of keys in scope and of the rows they name now. */
void
replace_plan(struct sa_buf *b)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	char line[160];

	if (!stage_scope()) {
		snprintf(line, sizeof(line), "-- replace-keys: nothing in "
		    "scope yet; insert %ju rows\n", ld.rows_loaded);
		sa_buf_adds(b, line);
		return;
	}
	add_scope_sql(&sql, 1);
	res = run(sql.s, 0, NULL);
	snprintf(line, sizeof(line), "-- replace-keys: %s keys in scope; "
	    "delete %s rows, insert %ju rows\n", PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 1), ld.rows_loaded);
	PQclear(res);
	sa_buf_adds(b, line);
	sa_buf_reset(&sql);
	add_scope_sql(&sql, 0);
	sa_buf_add(b, sql.s, sql.len);
	sa_buf_adds(b, ";\n");
	sa_buf_free(&sql);
}
