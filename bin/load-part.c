/*
 * load-part.c: partitioned and foreign tables, what a load can do to
 * them, and the clear refusal where PostgreSQL cannot do what it needs.
 *
 * The rows always go to the table named, and PostgreSQL routes them to
 * its partitions, foreign ones (postgres_fdw) included.  What differs is
 * the DDL and the upsert: ALTER TABLE on a partitioned table reaches
 * every partition, but a foreign partition changes only here, never on
 * its remote server, after which it can be neither read nor written; a
 * partition key column cannot change its type; and ON CONFLICT needs a
 * unique index on the key in every partition, which a foreign table
 * cannot have.  Each is found from the catalog before a row is read, or
 * as the DDL is planned, and refused with a message naming the table.
 */
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* Reads what the table is: its kind, partitions and partition keys. */
static void
read_parts(void)
{
	const char *params[] = { ld.target.s };
	PGresult *res;
	int k;

	res = run("SELECT c.relkind, pg_get_partkeydef(c.oid), "
	    "(SELECT count(*) FROM pg_partition_tree(c.oid) p "
	    "WHERE p.isleaf AND p.relid <> c.oid), "
	    "(SELECT count(*) FROM pg_partition_tree(c.oid) p "
	    "JOIN pg_class f ON f.oid = p.relid WHERE f.relkind = 'f'), "
	    "(SELECT p.relid::regclass::text FROM pg_partition_tree(c.oid) p "
	    "JOIN pg_class f ON f.oid = p.relid WHERE f.relkind = 'f' "
	    "ORDER BY p.level, 1 LIMIT 1) "
	    "FROM pg_class c WHERE c.oid = to_regclass($1)", 1, params);
	if (PQntuples(res) == 1) {
		ld.part.kind = PQgetvalue(res, 0, 0)[0];
		if (!PQgetisnull(res, 0, 1))
			ld.part.key = xstrdup(PQgetvalue(res, 0, 1));
		ld.part.n = strtoul(PQgetvalue(res, 0, 2), NULL, 10);
		ld.part.nforeign = strtoul(PQgetvalue(res, 0, 3), NULL, 10);
		if (!PQgetisnull(res, 0, 4))
			ld.part.foreign = xstrdup(PQgetvalue(res, 0, 4));
	}
	PQclear(res);
	/* pg_partition_tree() has no rows for a foreign table that is not
	 * a partition. */
	if (ld.part.kind == 'f' && ld.part.foreign == NULL) {
		ld.part.foreign = xstrdup(ld.shown.s);
		ld.part.nforeign = 1;
	}
	if (ld.part.kind != 'p')
		return;
	/* The columns of the partition keys at every level; a key that is
	 * an expression names no column here. */
	res = run("SELECT DISTINCT a.attname FROM pg_partition_tree("
	    "to_regclass($1)) p JOIN pg_partitioned_table k "
	    "ON k.partrelid = p.relid JOIN pg_attribute a "
	    "ON a.attrelid = k.partrelid AND a.attnum = ANY (k.partattrs) "
	    "ORDER BY 1", 1, params);
	ld.part.cols = xcalloc(PQntuples(res) + 1, sizeof(*ld.part.cols));
	for (k = 0; k < PQntuples(res); k++)
		ld.part.cols[k] = xstrdup(PQgetvalue(res, k, 0));
	PQclear(res);
}

/* Where the table is foreign or has a foreign partition: a phrase that
 * names it, for messages. */
static const char *
foreign_one(void)
{
	static struct sa_buf s;

	sa_buf_reset(&s);
	if (ld.part.kind == 'f') {
		sa_buf_adds(&s, "it is a foreign table");
		return s.s;
	}
	sa_buf_adds(&s, "partition ");
	sa_buf_adds(&s, ld.part.foreign);
	sa_buf_adds(&s, " is a foreign table");
	return s.s;
}

/*
 * Reads what the table is, once it exists, and refuses an upsert that
 * PostgreSQL cannot do before any row is read: a foreign table, or one
 * with foreign partitions, cannot have the unique index ON CONFLICT
 * needs; a partitioned table must have one on the -k columns, and
 * PostgreSQL allows it only if the key includes the partition key.
 */
void
check_parts(void)
{
	if (ld.part.kind != 0 || !ld.table_exists)
		return;
	read_parts();
	if (ld.opt.mode != UPSERT)
		return;
	if (ld.part.foreign != NULL)
		sa_die(EX_USAGE, "%s: %s, which cannot have the unique index "
		    "on the -k columns that --mode upsert needs", ld.shown.s,
		    foreign_one());
	name_keys();
	if (ld.part.kind == 'p' && !has_unique_key())
		sa_die(EX_USAGE, "%s: no primary key or unique index on the -k "
		    "columns, which --mode upsert needs (partitioned by %s: "
		    "the key must include the partition key)", ld.shown.s,
		    ld.part.key);
}

static int
in_partition_key(const char *name)
{
	size_t i;

	for (i = 0; ld.part.cols != NULL && ld.part.cols[i] != NULL; i++)
		if (strcmp(ld.part.cols[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Refuses a change to column NAME that the table cannot take: FROM is
 * its SQL type and TO the new one, or FROM is NULL for a new column.
 * The load then fails before its rows are committed.
 */
void
check_change(const char *name, const char *from, const char *to)
{
	if (ld.part.foreign != NULL && from == NULL)
		sa_die(EX_DATAERR, "%s: new column \"%s\" %s: %s, whose remote "
		    "table sa-load cannot change (add the column there and "
		    "here, or load with --no-evolve)", ld.shown.s, name, to,
		    foreign_one());
	if (ld.part.foreign != NULL)
		sa_die(EX_DATAERR, "%s: column \"%s\" (%s) would have to "
		    "become %s: %s, whose remote table sa-load cannot change "
		    "(change it there and here, or load with --no-evolve)",
		    ld.shown.s, name, from, to, foreign_one());
	if (from != NULL && in_partition_key(name))
		sa_die(EX_DATAERR, "%s: column \"%s\" (%s) would have to "
		    "become %s, but it is in the partition key (%s), whose "
		    "type cannot change", ld.shown.s, name, from, to,
		    ld.part.key);
}

/* --dry-run: appends to B what the table is, when it is partitioned or
 * foreign. */
void
part_plan(struct sa_buf *b)
{
	char line[80];

	if (ld.part.kind == 'f') {
		sa_buf_adds(b, "-- ");
		sa_buf_adds(b, ld.shown.s);
		sa_buf_adds(b, " is a foreign table\n");
		return;
	}
	if (ld.part.kind != 'p')
		return;
	sa_buf_adds(b, "-- ");
	sa_buf_adds(b, ld.shown.s);
	sa_buf_adds(b, ": partitioned by ");
	sa_buf_adds(b, ld.part.key);
	snprintf(line, sizeof(line), ", %zu partition%s", ld.part.n,
	    ld.part.n == 1 ? "" : "s");
	sa_buf_adds(b, line);
	if (ld.part.nforeign > 0) {
		snprintf(line, sizeof(line), ", %zu foreign (",
		    ld.part.nforeign);
		sa_buf_adds(b, line);
		sa_buf_adds(b, ld.part.foreign);
		sa_buf_adds(b, ld.part.nforeign > 1 ? ", ...)" : ")");
	}
	sa_buf_adds(b, "; COPY goes to the parent, which routes the rows\n");
}
