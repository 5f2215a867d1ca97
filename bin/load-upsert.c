/*
 * load-upsert.c: the staging table, the unchanged rows taken out of it,
 * and the INSERT ... ON CONFLICT that moves the rest into the table.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

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

void
create_stage(void)
{
	struct sa_buf sql = { 0 };

	ld.ord = order_column();
	sa_buf_adds(&sql, "CREATE TEMP TABLE sa_load_stage (");
	add_ident(&sql, ld.ord);
	/* Rows are numbered as they are sent; rows moved from the table
	 * by to_stage() are all 0: their keys differ, and every row sent
	 * after them comes later. */
	sa_buf_adds(&sql, " bigint NOT NULL DEFAULT 0)");
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

/* A partitioned table returns no system column, so xmax cannot tell an
 * inserted row from an updated one: appends to B a query that counts,
 * before the INSERT, the staged keys that the table does not have. */
static void
new_keys(struct sa_buf *b)
{
	size_t k;

	sa_buf_adds(b, "WITH n AS (SELECT count(*) AS n FROM "
	    "(SELECT DISTINCT ");
	for (k = 0; k < ld.opt.nkeys; k++) {
		sa_buf_adds(b, k ? ", " : "");
		add_key_cast(b, k);
		sa_buf_adds(b, " AS ");
		add_ident(b, key_column(k)->name);
	}
	sa_buf_adds(b, " FROM pg_temp.sa_load_stage) s WHERE NOT EXISTS "
	    "(SELECT FROM ");
	sa_buf_adds(b, ld.target.s);
	sa_buf_adds(b, " t WHERE ");
	for (k = 0; k < ld.opt.nkeys; k++) {
		sa_buf_adds(b, k ? " AND t." : "t.");
		add_ident(b, key_column(k)->name);
		sa_buf_adds(b, " = s.");
		add_ident(b, key_column(k)->name);
	}
	sa_buf_adds(b, ")), i AS (INSERT INTO ");
}

/* Upsert: the rows went to a staging table of text columns; now the
 * table is created or evolved for all of them, and one INSERT ... ON
 * CONFLICT moves them over, the last row of each key winning. */
void
upsert(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	size_t i, k;
	int n, empty;

	/* The staging table outlives its transaction, which ends before
	 * the lock is taken: a load waiting for the lock holds no lock on
	 * the table that the one holding it may wait for.  A table made in
	 * the transaction stays in it, and the lock was taken before. */
	if (!ld.created) {
		run_ok("COMMIT");
		lock_table();
		if (!ld.table_exists && ld.opt.no_create)
			sa_die(EX_CANTCREAT, "%s: the table does not exist "
			    "(--no-create)", ld.shown.s);
		if (ld.table_exists)
			change_table(0);
		run_ok("BEGIN");
	}
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

	if (empty)
		sa_buf_adds(&sql, "INSERT INTO ");
	else if (ld.part.kind == 'p')
		new_keys(&sql);
	else
		sa_buf_adds(&sql, "WITH i AS (INSERT INTO ");
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
	/* The statement's parts share one snapshot: N counts the keys
	 * as they were before the INSERT. */
	if (ld.part.kind == 'p')
		sa_buf_adds(&sql, " RETURNING 1) SELECT (SELECT n FROM n), "
		    "count(*) - (SELECT n FROM n) FROM i");
	else
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
int
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
