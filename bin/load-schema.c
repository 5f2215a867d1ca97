/*
 * load-schema.c: the table as it is, the names of its columns, and the
 * DDL that creates and evolves it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

#define NAMEDATALEN 63		/* PostgreSQL's longest identifier */
#define MAX_COLUMNS 1600	/* PostgreSQL's widest table */

/* Names and SQL text. */

void
add_ident(struct sa_buf *b, const char *s)
{
	sa_buf_addc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			sa_buf_addc(b, '"');
		sa_buf_addc(b, *s);
	}
	sa_buf_addc(b, '"');
}

/* Returns NAME as PostgreSQL keeps it: names longer than 63 bytes are cut
 * at a character boundary and end in a hash of the whole name, so that
 * the same long name always gives the same short one. */
char *
pg_name(const char *what, const char *s, size_t len, int report)
{
	struct sa_fp fp;
	static const char *const system[] = {
		"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", NULL
	};
	size_t cut = NAMEDATALEN - 9, i;
	char *name;

	/* PostgreSQL keeps these names for the system columns. */
	for (i = 0; strcmp(what, "column") == 0 && system[i] != NULL; i++)
		if (len == strlen(system[i]) && memcmp(s, system[i], len) == 0) {
			name = xmalloc(len + 2);
			snprintf(name, len + 2, "%s_", system[i]);
			if (report)
				sa_warn("column \"%s\" is a system column "
				    "name in PostgreSQL: named \"%s\"",
				    system[i], name);
			return name;
		}
	if (len <= NAMEDATALEN)
		return xstrndup(s, len);
	fp = sa_fp_bytes(s, len);
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	name = xmalloc(cut + 10);
	memcpy(name, s, cut);
	snprintf(name + cut, 10, "_%08x", (unsigned)(fp.lo & 0xffffffff));
	if (report)
		sa_warn("%s \"%.*s\" is longer than %d bytes: named \"%s\"",
		    what, (int)len, s, NAMEDATALEN, name);
	return name;
}

/* The table as it is. */

int
find_tcol(const char *name)
{
	size_t i;

	for (i = 0; i < ld.ntcols; i++)
		if (strcmp(ld.tcols[i].name, name) == 0)
			return i;
	return -1;
}

/* Reads the columns of the table as it is now; the first time it
 * exists, what it is as well (load-part.c). */
void
read_table(void)
{
	const char *params[] = { ld.target.s };
	PGresult *res;
	size_t i;
	int k;

	for (i = 0; i < ld.ntcols; i++) {
		free(ld.tcols[i].name);
		free(ld.tcols[i].typname);
		free(ld.tcols[i].type);
	}
	ld.ntcols = 0;
	res = run("SELECT a.attname, t.typname, "
	    "format_type(a.atttypid, a.atttypmod), c.oid IS NOT NULL "
	    "FROM (SELECT to_regclass($1) AS oid) c "
	    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
	    "AND NOT a.attisdropped "
	    "LEFT JOIN pg_type t ON t.oid = a.atttypid ORDER BY a.attnum",
	    1, params);
	ld.table_exists = PQntuples(res) > 0 && PQgetvalue(res, 0, 3)[0] == 't';
	ld.tcols = xrealloc(ld.tcols, (PQntuples(res) + 1) * sizeof(*ld.tcols));
	for (k = 0; k < PQntuples(res); k++) {
		if (PQgetisnull(res, k, 0))
			continue;
		ld.tcols[ld.ntcols].name = xstrdup(PQgetvalue(res, k, 0));
		ld.tcols[ld.ntcols].typname = xstrdup(PQgetvalue(res, k, 1));
		ld.tcols[ld.ntcols].type = xstrdup(PQgetvalue(res, k, 2));
		ld.ntcols++;
	}
	PQclear(res);
	check_parts();
	for (i = 0; i < ld.ncols; i++) {
		k = find_tcol(ld.cols[i].name);
		ld.cols[i].intable = k >= 0;
		ld.cols[i].table = k >= 0 ? ld_from_pg(ld.tcols[k].typname) :
		    LD_NONE;
		ld.cols[i].tabletype = k >= 0 ? ld.tcols[k].type : NULL;
		ld.cols[i].typname = k >= 0 ? ld.tcols[k].typname : NULL;
	}
}

/* Columns. */

unsigned
hash(const char *s, size_t len)
{
	return (unsigned)sa_name_hash(s, len);
}

static void
rehash(void)
{
	size_t i;

	free(ld.htab);
	ld.hsize = ld.hsize ? ld.hsize * 2 : 64;
	ld.htab = xmalloc(ld.hsize * sizeof(*ld.htab));
	for (i = 0; i < ld.hsize; i++)
		ld.htab[i] = -1;
	for (i = 0; i < ld.ncols; i++) {
		ld.cols[i].hnext = ld.htab[ld.cols[i].hash & (ld.hsize - 1)];
		ld.htab[ld.cols[i].hash & (ld.hsize - 1)] = i;
	}
}

int
find_column(const char *key, size_t len, unsigned h)
{
	int i;

	if (ld.hsize == 0)
		return -1;
	for (i = ld.htab[h & (ld.hsize - 1)]; i >= 0; i = ld.cols[i].hnext)
		if (ld.cols[i].hash == h && ld.cols[i].keylen == len &&
		    memcmp(ld.cols[i].key, key, len) == 0)
			return i;
	return -1;
}

int
new_column(const char *key, size_t len, unsigned h)
{
	struct column *c;
	size_t i;
	int k;

	if (ld.ncols == MAX_COLUMNS)
		sa_die(EX_DATAERR, "%s: more than %d columns", ld.shown.s,
		    MAX_COLUMNS);
	if (ld.ncols == ld.colcap) {
		ld.colcap = ld.colcap ? ld.colcap * 2 : 32;
		ld.cols = xrealloc(ld.cols, ld.colcap * sizeof(*ld.cols));
	}
	c = &ld.cols[ld.ncols];
	memset(c, 0, sizeof(*c));
	c->key = xstrndup(key, len);
	c->keylen = len;
	c->name = pg_name("column", key, len, 1);
	c->hash = h;
	if (ld.opt.inserted_at != NULL &&
	    strcmp(c->name, ld.opt.inserted_at) == 0)
		sa_die(EX_USAGE, "--inserted-at %s: the input has a field of "
		    "that name", ld.opt.inserted_at);
	for (i = 0; i < ld.ncols; i++)
		if (strcmp(ld.cols[i].name, c->name) == 0)
			sa_die(EX_DATAERR, "fields \"%s\" and \"%s\" would both "
			    "be column \"%s\"", ld.cols[i].key, c->key,
			    c->name);
	k = find_tcol(c->name);
	c->intable = k >= 0;
	c->table = k >= 0 ? ld_from_pg(ld.tcols[k].typname) : LD_NONE;
	c->tabletype = k >= 0 ? ld.tcols[k].type : NULL;
	c->typname = k >= 0 ? ld.tcols[k].typname : NULL;
	ld.ncols++;
	if (ld.ncols * 2 > ld.hsize)
		rehash();
	else {
		c->hnext = ld.htab[h & (ld.hsize - 1)];
		ld.htab[h & (ld.hsize - 1)] = ld.ncols - 1;
	}
	return ld.ncols - 1;
}

/* The table: creating it, evolving it. */

void
add_primary_key(struct sa_buf *b)
{
	size_t k;

	sa_buf_adds(b, "PRIMARY KEY (");
	for (k = 0; k < ld.opt.nkeys; k++) {
		if (k > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, ld.keynames[k]);
	}
	sa_buf_addc(b, ')');
}

static void
start_alter(struct sa_buf *b, int *n)
{
	if ((*n)++ > 0) {
		sa_buf_adds(b, ",\n    ");
		return;
	}
	sa_buf_adds(b, "ALTER TABLE ");
	sa_buf_adds(b, ld.target.s);
	sa_buf_adds(b, "\n    ");
}

/* Appends the DDL that the rows read so far need to B and returns the
 * number of changes.  With DEFER, columns that had only nulls wait until
 * a value shows their type.  With REPORT, each change is reported. */
int
plan(struct sa_buf *b, int defer, int report)
{
	size_t i, k;
	int n = 0;
	enum ld_type j;

	for (i = 0, k = 0; i < ld.ncols; i++)
		k += ld.cols[i].used && ld.cols[i].data != LD_NONE;
	if (k == 0)
		defer = 0;
	if (!ld.table_exists) {
		sa_buf_adds(b, "CREATE TABLE IF NOT EXISTS ");
		sa_buf_adds(b, ld.target.s);
		sa_buf_adds(b, " (");
		for (i = 0; i < ld.ncols; i++) {
			if (!ld.cols[i].used ||
			    (defer && ld.cols[i].data == LD_NONE))
				continue;
			sa_buf_adds(b, n++ ? ",\n    " : "\n    ");
			add_ident(b, ld.cols[i].name);
			sa_buf_addc(b, ' ');
			sa_buf_adds(b, ld_type_sql(ld.cols[i].data));
		}
		if (ld.opt.inserted_at != NULL) {
			sa_buf_adds(b, n++ ? ",\n    " : "\n    ");
			add_ident(b, ld.opt.inserted_at);
			sa_buf_adds(b, " timestamptz");
		}
		if (ld.opt.nkeys > 0 && !ld.key_later) {
			sa_buf_adds(b, ",\n    ");
			add_primary_key(b);
		}
		sa_buf_adds(b, "\n);\n");
		return 1;
	}
	if (ld.opt.dry_run)
		part_plan(b);
	for (i = 0; i < ld.ncols; i++) {
		struct column *c = &ld.cols[i];

		if (!c->used || (defer && c->data == LD_NONE))
			continue;
		if (!c->intable) {
			/* A foreign table cannot take a column; one of
			 * nulls only is left out, and nothing is lost. */
			if (ld.part.foreign != NULL && c->data == LD_NONE) {
				if (report)
					sa_warn("%s: field \"%s\" is null in "
					    "every row and gets no column, "
					    "which a foreign table cannot "
					    "take", ld.shown.s, c->key);
				continue;
			}
			check_change(c->name, NULL, ld_type_sql(c->data));
			start_alter(b, &n);
			sa_buf_adds(b, "ADD COLUMN IF NOT EXISTS ");
			add_ident(b, c->name);
			sa_buf_addc(b, ' ');
			sa_buf_adds(b, ld_type_sql(c->data));
			if (report)
				sa_warn("%s: new column \"%s\" %s", ld.shown.s,
				    c->name, ld_type_sql(c->data));
			continue;
		}
		j = ld_join(c->table, c->data);
		if (j == c->table)
			continue;
		if (ld.opt.no_evolve)
			sa_die(EX_DATAERR, "%s: column \"%s\" (%s) would have to "
			    "become %s (--no-evolve)", ld.shown.s, c->name,
			    c->tabletype, ld_type_sql(j));
		check_change(c->name, c->tabletype, ld_type_sql(j));
		start_alter(b, &n);
		sa_buf_adds(b, "ALTER COLUMN ");
		add_ident(b, c->name);
		sa_buf_adds(b, " TYPE ");
		sa_buf_adds(b, ld_type_sql(j));
		sa_buf_adds(b, " USING ");
		add_ident(b, c->name);
		sa_buf_adds(b, "::");
		sa_buf_adds(b, ld_type_sql(j));
		if (report)
			sa_warn("%s: column \"%s\" widened from %s to %s",
			    ld.shown.s, c->name, c->tabletype, ld_type_sql(j));
	}
	if (ld.opt.inserted_at != NULL && find_tcol(ld.opt.inserted_at) < 0) {
		check_change(ld.opt.inserted_at, NULL, "timestamptz");
		start_alter(b, &n);
		sa_buf_adds(b, "ADD COLUMN IF NOT EXISTS ");
		add_ident(b, ld.opt.inserted_at);
		sa_buf_adds(b, " timestamptz");
		if (report)
			sa_warn("%s: new column \"%s\" timestamptz", ld.shown.s,
			    ld.opt.inserted_at);
	}
	if (n > 0)
		sa_buf_adds(b, ";\n");
	return n;
}

/* Runs the DDL that the rows read so far need, and reads the table
 * again.  A table this load created is not reported on. */
void
evolve(int defer)
{
	struct sa_buf ddl = { 0 };
	int report = ld.table_exists && !ld.created;

	if (!ld.table_exists)
		ld.created = 1;
	if (plan(&ddl, defer, report) > 0) {
		run_ok(ddl.s);
		read_table();
	}
	sa_buf_free(&ddl);
}

/*
 * Runs the DDL that the rows read so far need.  In the load's transaction
 * (whose table no one else sees yet) it runs there; otherwise in a
 * transaction of its own, so that its ACCESS EXCLUSIVE lock lasts as long
 * as the DDL (a widening: the rewrite of the rows), never as long as the
 * load.  Waiting for that lock behind a long transaction would make every
 * reader queue behind the DDL: the lock is asked for with a short timeout,
 * and again after a pause, until it is had.  Columns added this way stay
 * if the load fails later; LD.ADDED names them.
 */
void
change_table(int defer)
{
	struct sa_buf ddl = { 0 };
	const char *state;
	unsigned pause = 10000;
	PGresult *res;
	char *had;
	size_t i;

	if (PQtransactionStatus(ld.conn) != PQTRANS_IDLE || !ld.table_exists) {
		evolve(defer);
		return;
	}
	if (plan(&ddl, defer, !ld.created) == 0) {
		sa_buf_free(&ddl);
		return;
	}
	for (;;) {
		run_ok("BEGIN");
		run_ok("SET LOCAL lock_timeout = '100ms'");
		res = PQexec(ld.conn, ddl.s);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			break;
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state == NULL || strcmp(state, "55P03") != 0)
			db_fail(res, ld.shown.s);
		PQclear(res);
		run_ok("ROLLBACK");
		usleep(pause);
		if (pause < 1000000)
			pause *= 2;
	}
	PQclear(res);
	run_ok("COMMIT");
	had = xmalloc(ld.ncols + 1);
	for (i = 0; i < ld.ncols; i++)
		had[i] = ld.cols[i].intable;
	had[ld.ncols] = ld.opt.inserted_at == NULL ||
	    find_tcol(ld.opt.inserted_at) >= 0;
	read_table();
	for (i = 0; i <= ld.ncols; i++) {
		if (had[i] || (i < ld.ncols && !ld.cols[i].intable))
			continue;
		sa_buf_adds(&ld.added, ld.added.len > 0 ? ", \"" : "\"");
		sa_buf_adds(&ld.added, i < ld.ncols ? ld.cols[i].name :
		    ld.opt.inserted_at);
		sa_buf_addc(&ld.added, '"');
	}
	free(had);
	sa_buf_free(&ddl);
}

/* Takes the lock that makes loads which change one table wait for each
 * other.  It is taken before any lock on the table, so that two loads
 * never deadlock, and held by the session across the load's transactions
 * until it ends. */
void
lock_table(void)
{
	const char *params[] = { ld.schema, ld.table };

	if (!ld.locked)
		PQclear(run("SELECT pg_advisory_lock(hashtext('sa-load'), "
		    "hashtext(coalesce($1, current_schema()) || '.' || $2))",
		    2, params));
	ld.locked = 1;
	read_table();
}

/* The column names of the -k fields. */
void
name_keys(void)
{
	size_t i, len;
	int k;

	if (ld.keynames != NULL)	/* named before the rows were read */
		return;
	ld.keynames = xcalloc(ld.opt.nkeys + 1, sizeof(*ld.keynames));
	for (i = 0; i < ld.opt.nkeys; i++) {
		len = strlen(ld.opt.keys[i]);
		k = find_column(ld.opt.keys[i], len, hash(ld.opt.keys[i], len));
		ld.keynames[i] = k >= 0 ? xstrdup(ld.cols[k].name) :
		    pg_name("column", ld.opt.keys[i], len, 0);
	}
}

/* Is the table missing or without rows? */
int
table_empty(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	int empty;

	if (!ld.table_exists)
		return 1;
	sa_buf_adds(&sql, "SELECT NOT EXISTS (SELECT FROM ");
	sa_buf_adds(&sql, ld.target.s);
	sa_buf_addc(&sql, ')');
	res = run(sql.s, 0, NULL);
	empty = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	sa_buf_free(&sql);
	return empty;
}
