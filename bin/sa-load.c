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

#include "load-infer.h"
#include "sa.h"

#define NAMEDATALEN 63		/* PostgreSQL's longest identifier */
#define MAX_COLUMNS 1600	/* PostgreSQL's widest table */
/*
 * Bytes handed to PQputCopyData at once.  Well below the socket buffer
 * (about 200 KiB): a call returns only once its whole chunk is in the
 * socket, so a chunk larger than the buffer leaves the server idle while
 * the next one is made.  256 KiB chunks cost a third of the throughput.
 */
#define COPY_CHUNK (1 << 15)
#define SAMPLE_ROWS 10000	/* rows read before the table is made */
#define SAMPLE_BYTES (16 << 20)

enum mode { APPEND, UPSERT, REPLACE };

/* A column of the load: a field of the input and its place in the table. */
struct column {
	char *key;		/* field name in the input */
	size_t keylen;
	char *name;		/* column name, at most 63 bytes */
	enum ld_type data;	/* what the loaded values need */
	int used;		/* a loaded row has the field */
	int intable;		/* the table has the column */
	enum ld_type table;	/* its type there, as sa-load sees it */
	char *tabletype;	/* its SQL type there */
	char *typname;		/* and its pg_type.typname */
	int active;		/* in the COPY in progress */
	int staged;		/* in the staging table */
	enum ld_type stype;	/* its type there */
	unsigned hash;
	int hnext;		/* next column in the hash chain, or -1 */
};

/* A column of the existing table. */
struct tcol {
	char *name;
	char *typname;		/* pg_type.typname */
	char *type;		/* format_type() */
};

static struct {
	const char *conninfo;
	char **keys;
	size_t nkeys;
	enum mode mode;
	int no_create, no_evolve, dry_run;
	char *inserted_at;
	long long batch_rows;
	size_t batch_bytes;
} opt = { .batch_rows = 100000, .batch_bytes = 64 << 20 };

static char *schema, *table;	/* the target, unquoted */
static struct sa_buf target;	/* the target, quoted */
static struct sa_buf shown;	/* the target, as messages show it */
static PGconn *conn;
static PGcancel *volatile cancel;	/* for the signal handler */
static struct timespec started;

static struct column *cols;
static size_t ncols, colcap;
static int *htab;
static size_t hsize;

static struct tcol *tcols;
static size_t ntcols;
static int table_exists;

static FILE *spool;
static char **files;		/* names of the input files, for messages */
static size_t nfiles;
static uintmax_t rows_loaded, rows_inserted, rows_updated;
static char **keynames;		/* column names of the -k fields */
static int created;		/* this load created the table */
static int key_later;		/* its primary key is added at the end */

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

/* Names and SQL text. */

static void
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
static char *
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

static void
parse_target(const char *arg)
{
	const char *dot = strchr(arg, '.');

	if (*arg == '\0' || (dot != NULL && (dot == arg || dot[1] == '\0')))
		sa_usage_error("invalid table name '%s'", arg);
	if (dot != NULL) {
		schema = pg_name("schema", arg, dot - arg, 1);
		table = pg_name("table", dot + 1, strlen(dot + 1), 1);
		add_ident(&target, schema);
		sa_buf_addc(&target, '.');
	} else
		table = pg_name("table", arg, strlen(arg), 1);
	add_ident(&target, table);
	if (schema != NULL) {
		sa_buf_adds(&shown, schema);
		sa_buf_addc(&shown, '.');
	}
	sa_buf_adds(&shown, table);
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
		opt.keys = xrealloc(opt.keys, (opt.nkeys + 1) * sizeof(char *));
		opt.keys[opt.nkeys] = comma ? xstrndup(p, comma - p) :
		    xstrdup(p);
		for (i = 0; i < opt.nkeys; i++)
			if (strcmp(opt.keys[i], opt.keys[opt.nkeys]) == 0)
				sa_usage_error("-k: column '%s' given twice",
				    opt.keys[i]);
		opt.nkeys++;
		p = comma + 1;
	} while (comma != NULL);
}

/* The database. */

/* The exit status for an error of SQLSTATE STATE. */
static int
status_of(const char *state)
{
	if (state == NULL || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0 ||
	    strcmp(state, "40P01") == 0)
		return EX_UNAVAILABLE;
	if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
		return EX_NOPERM;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	    strncmp(state, "54", 2) == 0)
		return EX_DATAERR;
	if (strcmp(state, "42P10") == 0)
		return EX_USAGE;
	if (strcmp(state, "3F000") == 0)
		return EX_CANTCREAT;
	return EX_SOFTWARE;
}

/* Makes a one-line message of libpq's text. */
static char *
one_line(const char *msg)
{
	char *s = xmalloc(2 * strlen(msg ? msg : "") + 1), *p, *q;

	for (p = (char *)(msg ? msg : ""), q = s; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t') {
			/* libpq's lines become sentences. */
			if (*p == '\n' && q > s && strchr(".:;?! ", q[-1]) == NULL)
				*q++ = '.';
			if (q > s && q[-1] != ' ')
				*q++ = ' ';
			continue;
		}
		*q++ = *p;
	}
	while (q > s && q[-1] == ' ')
		q--;
	*q = '\0';
	return s;
}

/* Reports a failed statement and exits; the server rolls the transaction
 * back when the connection closes. */
static void __attribute__((noreturn))
db_fail(PGresult *res, const char *where)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	const char *detail = res ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) :
	    NULL;
	int status = status_of(state);
	char *msg = one_line(res && PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));

	if (state != NULL && strcmp(state, "42P10") == 0)
		hint = "--mode upsert needs a primary key or unique index on "
		    "the -k columns";
	sa_note("%s: %s%s%s%s", where, msg, detail ? " (" : "",
	    detail ? detail : "", detail ? ")" : "");
	if (hint != NULL)
		sa_note("hint: %s", hint);
	free(msg);
	PQclear(res);
	PQfinish(conn);
	exit(status);
}

static PGresult *
run(const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
	    NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		db_fail(res, shown.s);
	return res;
}

static void
run_ok(const char *sql)
{
	PQclear(run(sql, 0, NULL));
}

static void
notice(void *arg, const char *msg)
{
	char *m = one_line(msg);

	(void)arg;
	sa_warn("%s", m);
	free(m);
}

/* A signal ends the load: the statement in progress is cancelled, and
 * the transaction rolls back as the connection closes.  The handler is
 * installed even where the shell left SIGINT ignored (background jobs),
 * since an interrupted load must never commit. */
static void
on_signal(int sig)
{
	char err[256];

	if (cancel != NULL)
		PQcancel(cancel, err, sizeof(err));
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
auth_failed(const char *msg)
{
	return PQconnectionNeedsPassword(conn) ||
	    strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "no pg_hba.conf entry") != NULL ||
	    (strstr(msg, "role \"") != NULL &&
	    strstr(msg, "does not exist") != NULL) ||
	    strstr(msg, "permission denied") != NULL;
}

static void
db_connect(void)
{
	const char *kw[] = { "dbname", "fallback_application_name", NULL };
	const char *val[] = { opt.conninfo, "sa-load", NULL };
	PQconninfoOption *o;
	static char *err, *msg;
	int tries = 0;

	/* As for psql, a -d without '=' or a URI prefix is a database
	 * name. */
	if (opt.conninfo != NULL && (strchr(opt.conninfo, '=') != NULL ||
	    strncmp(opt.conninfo, "postgres://", 11) == 0 ||
	    strncmp(opt.conninfo, "postgresql://", 13) == 0)) {
		if ((o = PQconninfoParse(opt.conninfo, &err)) == NULL) {
			msg = one_line(err);
			sa_usage_error("-d: %s", msg);
		}
		PQconninfoFree(o);
	}
	/* A server that cannot be reached is tried 4 times in 3.5 s. */
	for (;;) {
		conn = PQconnectdbParams(kw, val, 1);
		if (PQstatus(conn) == CONNECTION_OK)
			break;
		free(msg);
		msg = one_line(PQerrorMessage(conn));
		if (auth_failed(msg))
			sa_die(EX_NOPERM, "cannot connect to PostgreSQL: %s",
			    msg);
		if (++tries == 4)
			sa_die(EX_UNAVAILABLE, "cannot connect to PostgreSQL "
			    "(%d tries): %s", tries, msg);
		PQfinish(conn);
		usleep(500000u << (tries - 1));
	}
	PQsetNoticeProcessor(conn, notice, NULL);
	cancel = PQgetCancel(conn);
	if (PQsetClientEncoding(conn, "UTF8") != 0)
		db_fail(NULL, "client_encoding");
	run_ok("SET client_min_messages = warning");
}

static int
find_tcol(const char *name)
{
	size_t i;

	for (i = 0; i < ntcols; i++)
		if (strcmp(tcols[i].name, name) == 0)
			return i;
	return -1;
}

/* Reads the columns of the table as it is now. */
static void
read_table(void)
{
	const char *params[] = { target.s };
	PGresult *res;
	size_t i;
	int k;

	for (i = 0; i < ntcols; i++) {
		free(tcols[i].name);
		free(tcols[i].typname);
		free(tcols[i].type);
	}
	ntcols = 0;
	res = run("SELECT a.attname, t.typname, "
	    "format_type(a.atttypid, a.atttypmod), c.oid IS NOT NULL "
	    "FROM (SELECT to_regclass($1) AS oid) c "
	    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
	    "AND NOT a.attisdropped "
	    "LEFT JOIN pg_type t ON t.oid = a.atttypid ORDER BY a.attnum",
	    1, params);
	table_exists = PQntuples(res) > 0 && PQgetvalue(res, 0, 3)[0] == 't';
	tcols = xrealloc(tcols, (PQntuples(res) + 1) * sizeof(*tcols));
	for (k = 0; k < PQntuples(res); k++) {
		if (PQgetisnull(res, k, 0))
			continue;
		tcols[ntcols].name = xstrdup(PQgetvalue(res, k, 0));
		tcols[ntcols].typname = xstrdup(PQgetvalue(res, k, 1));
		tcols[ntcols].type = xstrdup(PQgetvalue(res, k, 2));
		ntcols++;
	}
	PQclear(res);
	for (i = 0; i < ncols; i++) {
		k = find_tcol(cols[i].name);
		cols[i].intable = k >= 0;
		cols[i].table = k >= 0 ? ld_from_pg(tcols[k].typname) : LD_NONE;
		cols[i].tabletype = k >= 0 ? tcols[k].type : NULL;
		cols[i].typname = k >= 0 ? tcols[k].typname : NULL;
	}
}

/* Columns. */

static unsigned
hash(const char *s, size_t len)
{
	unsigned h = 2166136261u;

	while (len-- > 0)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
rehash(void)
{
	size_t i;

	free(htab);
	hsize = hsize ? hsize * 2 : 64;
	htab = xmalloc(hsize * sizeof(*htab));
	for (i = 0; i < hsize; i++)
		htab[i] = -1;
	for (i = 0; i < ncols; i++) {
		cols[i].hnext = htab[cols[i].hash & (hsize - 1)];
		htab[cols[i].hash & (hsize - 1)] = i;
	}
}

static int
find_column(const char *key, size_t len, unsigned h)
{
	int i;

	if (hsize == 0)
		return -1;
	for (i = htab[h & (hsize - 1)]; i >= 0; i = cols[i].hnext)
		if (cols[i].hash == h && cols[i].keylen == len &&
		    memcmp(cols[i].key, key, len) == 0)
			return i;
	return -1;
}

static int
new_column(const char *key, size_t len, unsigned h)
{
	struct column *c;
	size_t i;
	int k;

	if (ncols == MAX_COLUMNS)
		sa_die(EX_DATAERR, "%s: more than %d columns", shown.s,
		    MAX_COLUMNS);
	if (ncols == colcap) {
		colcap = colcap ? colcap * 2 : 32;
		cols = xrealloc(cols, colcap * sizeof(*cols));
	}
	c = &cols[ncols];
	memset(c, 0, sizeof(*c));
	c->key = xstrndup(key, len);
	c->keylen = len;
	c->name = pg_name("column", key, len, 1);
	c->hash = h;
	if (opt.inserted_at != NULL && strcmp(c->name, opt.inserted_at) == 0)
		sa_die(EX_USAGE, "--inserted-at %s: the input has a field of "
		    "that name", opt.inserted_at);
	for (i = 0; i < ncols; i++)
		if (strcmp(cols[i].name, c->name) == 0)
			sa_die(EX_DATAERR, "fields \"%s\" and \"%s\" would both "
			    "be column \"%s\"", cols[i].key, c->key, c->name);
	k = find_tcol(c->name);
	c->intable = k >= 0;
	c->table = k >= 0 ? ld_from_pg(tcols[k].typname) : LD_NONE;
	c->tabletype = k >= 0 ? tcols[k].type : NULL;
	c->typname = k >= 0 ? tcols[k].typname : NULL;
	ncols++;
	if (ncols * 2 > hsize)
		rehash();
	else {
		c->hnext = htab[h & (hsize - 1)];
		htab[h & (hsize - 1)] = ncols - 1;
	}
	return ncols - 1;
}

/* Reading the input. */

static int
in_table(const char *key, size_t len)
{
	char *name = pg_name("column", key, len, 0);
	int found = find_tcol(name) >= 0;

	free(name);
	return found;
}

/* Does V hold a NUL character, which PostgreSQL cannot store in text? */
static int
has_nul(const struct sa_val *v)
{
	const struct sa_val *e;

	if (v->key != NULL && memchr(v->key, '\0', v->keylen) != NULL)
		return 1;
	if (v->type == SA_STRING)
		return memchr(v->str, '\0', v->len) != NULL;
	if (v->type == SA_OBJECT || v->type == SA_ARRAY)
		for (e = v->child; e != NULL; e = e->next)
			if (has_nul(e))
				return 1;
	return 0;
}

static enum ld_type
type_of(const struct sa_val *v, int tsv)
{
	switch (v->type) {
	case SA_TRUE:
	case SA_FALSE:
		return LD_BOOL;
	case SA_NUMBER:
		return ld_number(v->str, v->len);
	case SA_STRING:
		return tsv ? ld_tsv(v->str, v->len) : ld_string(v->str, v->len);
	case SA_OBJECT:
	case SA_ARRAY:
		return LD_JSONB;
	}
	return LD_NONE;
}

static void
put32(struct sa_buf *b, uint32_t v)
{
	sa_buf_add(b, &v, sizeof(v));
}

static uint32_t
file_index(const char *name)
{
	if (nfiles == 0 || strcmp(files[nfiles - 1], name) != 0) {
		files = xrealloc(files, (nfiles + 1) * sizeof(*files));
		files[nfiles++] = xstrdup(name);
	}
	return nfiles - 1;
}

/*
 * A row is encoded as its length (4 bytes, not counting itself), the
 * index of its file (4) and its line (8), then for each non-null field
 * the column index (4), the length (4) and the COPY text of the value;
 * with --rejects, last, RECORD (4), the length (4) and the record as JSON.
 * The first rows are spooled in this form until the table is ready;
 * the rest are sent as they are read.
 */
#define RECORD UINT32_MAX	/* the field that holds the whole record */

struct rowfield {
	uint32_t col;
	enum ld_type type;
};

static struct sa_input in;
static struct sa_buf row;	/* the row just read, encoded */
static struct rowfield *rf;	/* the types of its fields, nulls included */
static size_t nrf, rfcap;
static uint32_t *seq, *prev;	/* its columns in order, and the last row's */
static size_t nprev, seqcap;

/*
 * An upsert sorts the staged rows by key so that the last row of a key
 * wins, unless every key is known to appear once: 8 bytes of each key's
 * fingerprint are kept for that, up to KEYSET_MAX slots (64 MiB).
 */
#define KEYSET_MAX (1 << 23)
static uint64_t *keyset;
static size_t keycap, nkeys_seen;
static int dup_keys;		/* a key may appear more than once */

static void
note_key(const struct sa_val *root)
{
	static struct sa_buf kb, scratch;
	const struct sa_val *v;
	const char *ks;
	size_t i, klen, k;
	uint64_t h, *old;
	struct sa_fp fp;

	if (dup_keys)
		return;
	sa_buf_reset(&kb);
	for (i = 0; i < opt.nkeys; i++) {
		v = sa_get(root, opt.keys[i], strlen(opt.keys[i]));
		if (v == NULL || !sa_val_text(v, &scratch, &ks, &klen) ||
		    (klen == 2 && memcmp(ks, "-0", 2) == 0))
			goto give_up;
		sa_buf_add(&kb, ks, klen);
		sa_buf_addc(&kb, '\0');
	}
	if ((nkeys_seen + 1) * 2 > keycap) {
		if (keycap == KEYSET_MAX)
			goto give_up;
		old = keyset;
		k = keycap;
		keycap = keycap ? keycap * 2 : 1 << 12;
		keyset = xcalloc(keycap, sizeof(*keyset));
		nkeys_seen = 0;
		for (i = 0; i < k; i++)
			if (old[i] != 0) {
				size_t j = old[i] & (keycap - 1);

				while (keyset[j] != 0)
					j = (j + 1) & (keycap - 1);
				keyset[j] = old[i];
				nkeys_seen++;
			}
		free(old);
	}
	fp = sa_fp_bytes(kb.s, kb.len);
	h = fp.lo | 1;
	for (k = h & (keycap - 1); keyset[k] != 0; k = (k + 1) & (keycap - 1))
		if (keyset[k] == h)
			goto give_up;
	keyset[k] = h;
	nkeys_seen++;
	return;
give_up:
	dup_keys = 1;
	free(keyset);
	keyset = NULL;
}

/* Encodes record REC into ROW; returns 0 if it was rejected. */
static int
encode(struct sa_record *rec)
{
	static struct sa_buf text;
	const struct sa_val *m, *kv;
	uint32_t len, *tmp;
	uint64_t line = rec->line;
	size_t i, pos;
	int tsv = sa_input_format(&in) == SA_FMT_TSV, ci;
	enum ld_type t;
	unsigned h;

	sa_buf_reset(&row);
	put32(&row, 0);
	put32(&row, file_index(rec->file));
	sa_buf_add(&row, &line, sizeof(line));
	nrf = 0;
	if (rec->root->len > seqcap) {
		seqcap = rec->root->len * 2;
		seq = xrealloc(seq, seqcap * sizeof(*seq));
		prev = xrealloc(prev, seqcap * sizeof(*prev));
	}
	if (rec->root->len > rfcap) {
		rfcap = rec->root->len * 2;
		rf = xrealloc(rf, rfcap * sizeof(*rf));
	}
	for (m = rec->root->child, pos = 0; m != NULL; m = m->next, pos++) {
		/* Rows usually repeat the previous row's fields. */
		if (pos < nprev && cols[prev[pos]].keylen == m->keylen &&
		    memcmp(cols[prev[pos]].key, m->key, m->keylen) == 0)
			ci = prev[pos];
		else {
			if (m->keylen == 0 ||
			    memchr(m->key, '\0', m->keylen) != NULL) {
				sa_reject(rec->file, rec->line, NULL, 0,
				    rec->root, "a field name is empty or holds "
				    "a NUL character");
				goto bad;
			}
			h = hash(m->key, m->keylen);
			ci = find_column(m->key, m->keylen, h);
			if (ci < 0) {
				if (opt.no_evolve && table_exists &&
				    !in_table(m->key, m->keylen)) {
					sa_reject(rec->file, rec->line, NULL, 0,
					    rec->root, "field \"%s\" is not a "
					    "column of %s (--no-evolve)",
					    m->key, shown.s);
					goto bad;
				}
				ci = new_column(m->key, m->keylen, h);
			}
		}
		seq[pos] = ci;
		/* Text holds anything: no need to look at the value. */
		t = m->type == SA_NULL ? LD_NONE : cols[ci].data == LD_TEXT ?
		    LD_TEXT : type_of(m, tsv);
		rf[nrf].col = ci;
		rf[nrf++].type = t;
		if (t == LD_NONE)
			continue;
		if ((m->type == SA_STRING || m->type == SA_OBJECT ||
		    m->type == SA_ARRAY) && has_nul(m)) {
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "field \"%s\" holds a NUL character, which "
			    "PostgreSQL cannot store", m->key);
			goto bad;
		}
		if (opt.no_evolve && cols[ci].intable &&
		    ld_join(cols[ci].table, t) != cols[ci].table) {
			sa_buf_reset(&text);
			sa_json_append(&text, m);
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "%.*s%s does not fit column \"%s\" (%s) of %s "
			    "(--no-evolve)", text.len > 40 ? 40 :
			    (int)text.len, text.s, text.len > 40 ? "..." : "",
			    cols[ci].name, cols[ci].tabletype, shown.s);
			goto bad;
		}
		sa_buf_grow(&row, 8);
		memcpy(row.s + row.len, &ci, 4);
		row.len += 8;
		len = row.len;
		if (m->type == SA_OBJECT || m->type == SA_ARRAY) {
			/* As sa_copy_field does, without a buffer per value. */
			sa_buf_reset(&text);
			sa_json_append(&text, m);
			sa_copy_escape(&row, text.s, text.len);
		} else
			sa_copy_field(&row, m);
		len = row.len - len;
		memcpy(row.s + row.len - len - 4, &len, 4);
	}
	for (i = 0; i < opt.nkeys; i++) {
		kv = sa_get(rec->root, opt.keys[i], strlen(opt.keys[i]));
		if (kv == NULL || kv->type == SA_NULL) {
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "key \"%s\" is %s", opt.keys[i],
			    kv ? "null" : "missing");
			goto bad;
		}
	}
	for (i = 0; i < nrf; i++) {
		cols[rf[i].col].used = 1;
		cols[rf[i].col].data = ld_join(cols[rf[i].col].data,
		    rf[i].type);
	}
	if (sa_rejects_enabled()) {
		/* The record as JSON, for the rejects if the server refuses
		 * the row. */
		uint32_t whole = RECORD;

		sa_buf_grow(&row, 8);
		memcpy(row.s + row.len, &whole, 4);
		row.len += 8;
		len = row.len;
		sa_json_append(&row, rec->root);
		len = row.len - len;
		memcpy(row.s + row.len - len - 4, &len, 4);
	}
	len = row.len - 4;
	memcpy(row.s, &len, 4);
	rows_loaded++;
	if (opt.mode == UPSERT)
		note_key(rec->root);
	tmp = prev, prev = seq, seq = tmp;
	nprev = pos;
	return 1;
bad:
	nprev = 0;
	return 0;
}

/* Reads the next good row into ROW; returns 0 at the end of the input. */
static int
next_row(void)
{
	struct sa_record rec;

	while (sa_input_next(&in, &rec) == SA_OK)
		if (encode(&rec))
			return 1;
	return 0;
}

/* The table: creating it, evolving it. */

static void
add_primary_key(struct sa_buf *b)
{
	size_t k;

	sa_buf_adds(b, "PRIMARY KEY (");
	for (k = 0; k < opt.nkeys; k++) {
		if (k > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, keynames[k]);
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
	sa_buf_adds(b, target.s);
	sa_buf_adds(b, "\n    ");
}

/* Appends the DDL that the rows read so far need to B and returns the
 * number of changes.  With DEFER, columns that had only nulls wait until
 * a value shows their type.  With REPORT, each change is reported. */
static int
plan(struct sa_buf *b, int defer, int report)
{
	size_t i, k;
	int n = 0;
	enum ld_type j;

	for (i = 0, k = 0; i < ncols; i++)
		k += cols[i].used && cols[i].data != LD_NONE;
	if (k == 0)
		defer = 0;
	if (!table_exists) {
		sa_buf_adds(b, "CREATE TABLE IF NOT EXISTS ");
		sa_buf_adds(b, target.s);
		sa_buf_adds(b, " (");
		for (i = 0; i < ncols; i++) {
			if (!cols[i].used || (defer && cols[i].data == LD_NONE))
				continue;
			sa_buf_adds(b, n++ ? ",\n    " : "\n    ");
			add_ident(b, cols[i].name);
			sa_buf_addc(b, ' ');
			sa_buf_adds(b, ld_type_sql(cols[i].data));
		}
		if (opt.inserted_at != NULL) {
			sa_buf_adds(b, n++ ? ",\n    " : "\n    ");
			add_ident(b, opt.inserted_at);
			sa_buf_adds(b, " timestamptz");
		}
		if (opt.nkeys > 0 && !key_later) {
			sa_buf_adds(b, ",\n    ");
			add_primary_key(b);
		}
		sa_buf_adds(b, "\n);\n");
		return 1;
	}
	for (i = 0; i < ncols; i++) {
		struct column *c = &cols[i];

		if (!c->used || (defer && c->data == LD_NONE))
			continue;
		if (!c->intable) {
			start_alter(b, &n);
			sa_buf_adds(b, "ADD COLUMN IF NOT EXISTS ");
			add_ident(b, c->name);
			sa_buf_addc(b, ' ');
			sa_buf_adds(b, ld_type_sql(c->data));
			if (report)
				sa_warn("%s: new column \"%s\" %s", shown.s,
				    c->name, ld_type_sql(c->data));
			continue;
		}
		j = ld_join(c->table, c->data);
		if (j == c->table)
			continue;
		if (opt.no_evolve)
			sa_die(EX_DATAERR, "%s: column \"%s\" (%s) would have to "
			    "become %s (--no-evolve)", shown.s, c->name,
			    c->tabletype, ld_type_sql(j));
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
			    shown.s, c->name, c->tabletype, ld_type_sql(j));
	}
	if (opt.inserted_at != NULL && find_tcol(opt.inserted_at) < 0) {
		start_alter(b, &n);
		sa_buf_adds(b, "ADD COLUMN IF NOT EXISTS ");
		add_ident(b, opt.inserted_at);
		sa_buf_adds(b, " timestamptz");
		if (report)
			sa_warn("%s: new column \"%s\" timestamptz", shown.s,
			    opt.inserted_at);
	}
	if (n > 0)
		sa_buf_adds(b, ";\n");
	return n;
}

/* Runs the DDL that the rows read so far need, and reads the table
 * again.  A table this load created is not reported on. */
static void
evolve(int defer)
{
	struct sa_buf ddl = { 0 };
	int report = table_exists && !created;

	if (!table_exists)
		created = 1;
	if (plan(&ddl, defer, report) > 0) {
		run_ok(ddl.s);
		read_table();
	}
	sa_buf_free(&ddl);
}

/* Takes the lock that makes loads which change one table wait for each
 * other.  It is taken before any lock on the table, so that two loads
 * never deadlock, and held until the end of the transaction. */
static void
lock_table(void)
{
	const char *params[] = { schema, table };

	PQclear(run("SELECT pg_advisory_xact_lock(hashtext('sa-load'), "
	    "hashtext(coalesce($1, current_schema()) || '.' || $2))", 2,
	    params));
	read_table();
}

/* Sending the rows. */

static const char *copy_target;	/* the table COPY writes to */
static int copying;		/* a COPY is in progress */
static int counting;		/* rows without columns: only counted */
/*
 * With --rejects, the rows of the COPY in progress are also kept in
 * BATCHF, and each COPY runs in a savepoint: when the server refuses a
 * row, the batch is rolled back, that row goes to the rejects and the
 * others are sent again.
 */
static FILE *batchf;
static int replaying;		/* sending a batch again */
static uintmax_t *skip;		/* rows of the batch rejected, ascending */
static size_t nskip, skipcap;
static int staging;		/* rows go to the staging table (upsert) */
static struct sa_buf out;	/* COPY text not sent yet */
static uint32_t *active;	/* the columns COPY lists */
static size_t nactive;
static const char **slot;	/* a row's fields by column */
static uint32_t *slotlen;
static char *stamp;		/* the --inserted-at value */
static uintmax_t batch_n;	/* rows in this COPY */
static uintmax_t nstaged;	/* rows sent to the staging table */
static char *ord;		/* the staging table's row order column */
static size_t batch_bytes;
static struct origin {
	uint32_t file;
	uint64_t line;
} *origins;			/* where the rows of this COPY came from */
static size_t origcap;

static void
add_column_list(struct sa_buf *b)
{
	size_t i;

	if (staging) {
		add_ident(b, ord);
		if (nactive > 0)
			sa_buf_adds(b, ", ");
	}
	for (i = 0; i < nactive; i++) {
		if (i > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, cols[active[i]].name);
	}
	if (opt.inserted_at != NULL && !staging) {
		if (nactive > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, opt.inserted_at);
	}
}

static void
copy_begin(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	size_t i;

	nactive = 0;
	active = xrealloc(active, (ncols + 1) * sizeof(*active));
	slot = xrealloc(slot, (ncols + 1) * sizeof(*slot));
	slotlen = xrealloc(slotlen, (ncols + 1) * sizeof(*slotlen));
	for (i = 0; i < ncols; i++) {
		cols[i].active = staging ? cols[i].staged && cols[i].used :
		    cols[i].used && cols[i].intable;
		if (cols[i].active)
			active[nactive++] = i;
		slot[i] = NULL;
	}
	copying = 1;
	batch_n = batch_bytes = 0;
	/* COPY needs a column; rows of no field ({}) are inserted with
	 * their number at the end. */
	if (nactive == 0 && (stamp == NULL || staging)) {
		counting = 1;
		return;
	}
	if (batchf != NULL && !replaying) {
		rewind(batchf);
		if (ftruncate(fileno(batchf), 0) != 0)
			sa_die_errno(EX_IOERR, "temporary file");
		nskip = 0;
		run_ok("SAVEPOINT sa_load_batch");
	}
	sa_buf_adds(&sql, "COPY ");
	sa_buf_adds(&sql, copy_target);
	sa_buf_adds(&sql, " (");
	add_column_list(&sql);
	sa_buf_adds(&sql, ") FROM STDIN");
	res = PQexec(conn, sql.s);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		db_fail(res, shown.s);
	PQclear(res);
	sa_buf_free(&sql);
}

static void
copy_send(void)
{
	if (counting)
		sa_buf_reset(&out);
	if (out.len > 0 && PQputCopyData(conn, out.s, out.len) != 1)
		db_fail(NULL, shown.s);
	sa_buf_reset(&out);
}

static void replay(void);
static void format_row(const char *, size_t);

static uintmax_t batch_i;	/* rows of BATCHF read so far */
static size_t batch_k;		/* rejected rows passed so far */

static void
batch_rewind(void)
{
	rewind(batchf);
	batch_i = batch_k = 0;
}

/* Reads the next row of BATCHF that was not rejected into R; returns 0
 * at its end.  Its index in the batch is then batch_i - 1. */
static int
batch_row(struct sa_buf *r)
{
	uint32_t len;

	for (;;) {
		if (fread(&len, 4, 1, batchf) != 1)
			return 0;
		sa_buf_reset(r);
		sa_buf_grow(r, len);
		if (fread(r->s, 1, len, batchf) != len)
			sa_die(EX_IOERR, "temporary file: short read");
		r->len = len;
		if (batch_k < nskip && skip[batch_k] == batch_i) {
			batch_i++;
			batch_k++;
			continue;
		}
		batch_i++;
		return 1;
	}
}

/* The server refused line N of the COPY just sent: that row goes to the
 * rejects with the server's message MSG. */
static void
reject_row(uintmax_t n, const char *msg)
{
	struct sa_buf r = { 0 };
	uintmax_t i, sent = 0;
	uint64_t line;
	uint32_t file, ci, flen;
	const char *p, *json = NULL;
	size_t k, jsonlen = 0;

	batch_rewind();
	while (sent < n && batch_row(&r))
		sent++;
	i = batch_i - 1;
	if (sent != n)
		sa_die(EX_SOFTWARE, "%s: the server refused line %ju of %ju",
		    shown.s, n, sent);
	memcpy(&file, r.s, 4);
	memcpy(&line, r.s + 4, 8);
	for (p = r.s + 12; p < r.s + r.len; p += 8 + flen) {
		memcpy(&ci, p, 4);
		memcpy(&flen, p + 4, 4);
		if (ci == RECORD) {
			json = p + 8;
			jsonlen = flen;
		}
	}
	sa_reject(files[file], line, json, jsonlen, NULL, "%s", msg);
	rows_loaded--;
	if (nskip == skipcap) {
		skipcap = skipcap ? skipcap * 2 : 16;
		skip = xrealloc(skip, skipcap * sizeof(*skip));
	}
	/* Rows are refused in the order they are sent, so SKIP stays
	 * sorted; insert in place all the same. */
	for (k = nskip++; k > 0 && skip[k - 1] > i; k--)
		skip[k] = skip[k - 1];
	skip[k] = i;
	sa_buf_free(&r);
	fseek(batchf, 0, SEEK_END);
}

/* Ends a COPY.  A row the server refused is reported with its file and
 * line, or with --rejects goes there while the rest of its batch is sent
 * again. */
static void
copy_end(void)
{
	static struct sa_buf where, sql;
	PGresult *res;
	const char *ctx, *p, *state;
	unsigned long n;
	char *msg;

	copy_send();
	copying = 0;
	if (counting) {
		counting = 0;
		sa_buf_reset(&sql);
		sa_buf_adds(&sql, "INSERT INTO ");
		sa_buf_adds(&sql, copy_target);
		sa_buf_grow(&sql, 64);
		sql.len += snprintf(sql.s + sql.len, 64,
		    " SELECT FROM generate_series(1, %ju)", batch_n);
		run_ok(sql.s);
		return;
	}
	if (PQputCopyEnd(conn, NULL) != 1)
		db_fail(NULL, shown.s);
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			continue;
		}
		/* Only data exceptions (22) and broken constraints (23)
		 * are the row's fault. */
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
		p = ctx && state && (strncmp(state, "22", 2) == 0 ||
		    strncmp(state, "23", 2) == 0) ? strstr(ctx, ", line ") :
		    NULL;
		if (p == NULL || sscanf(p, ", line %lu", &n) != 1 || n < 1 ||
		    n > batch_n)
			db_fail(res, shown.s);
		if (batchf != NULL) {
			msg = one_line(PQresultErrorField(res,
			    PG_DIAG_MESSAGE_PRIMARY));
			PQclear(res);
			while ((res = PQgetResult(conn)) != NULL)
				PQclear(res);
			run_ok("ROLLBACK TO SAVEPOINT sa_load_batch");
			reject_row(n, msg);
			free(msg);
			replay();
			return;
		}
		if (n > origcap)
			db_fail(res, shown.s);
		sa_buf_adds(&where, files[origins[n - 1].file]);
		sa_buf_grow(&where, 32);
		where.len += snprintf(where.s + where.len, 32, ":%ju",
		    (uintmax_t)origins[n - 1].line);
		db_fail(res, where.s);
	}
	if (batchf != NULL)
		run_ok("RELEASE SAVEPOINT sa_load_batch");
}

/* Sends the rows of the batch again, but those rejected. */
static void
replay(void)
{
	struct sa_buf r = { 0 };

	replaying = 1;
	copy_begin();
	batch_rewind();
	while (batch_row(&r)) {
		format_row(r.s, r.len);
		batch_n++;
	}
	sa_buf_free(&r);
	fseek(batchf, 0, SEEK_END);
	replaying = 0;
	copy_end();
}

/* Appends the COPY line of the encoded row at R (after its length) of
 * LEN bytes to OUT. */
static void
format_row(const char *r, size_t len)
{
	const char *p = r + 12, *end = r + len;
	uint32_t ci, flen;
	size_t i;

	for (; p < end; p += 8 + flen) {
		memcpy(&ci, p, 4);
		memcpy(&flen, p + 4, 4);
		if (ci == RECORD)
			continue;
		slot[ci] = p + 8;
		slotlen[ci] = flen;
	}
	sa_buf_grow(&out, len + nactive * 3 + 64);
	if (staging) {
		/* The row's number: the last row of a key wins. */
		out.len += snprintf(out.s + out.len, 24, "%ju", ++nstaged);
		if (nactive > 0)
			out.s[out.len++] = '\t';
	}
	for (i = 0; i < nactive; i++) {
		ci = active[i];
		if (i > 0)
			out.s[out.len++] = '\t';
		if (slot[ci] != NULL) {
			memcpy(out.s + out.len, slot[ci], slotlen[ci]);
			out.len += slotlen[ci];
			slot[ci] = NULL;
		} else {
			out.s[out.len++] = '\\';
			out.s[out.len++] = 'N';
		}
	}
	if (stamp != NULL && !staging) {
		if (nactive > 0)
			sa_buf_addc(&out, '\t');
		sa_buf_adds(&out, stamp);
	}
	sa_buf_addc(&out, '\n');
	if (out.len >= COPY_CHUNK)
		copy_send();
}

/* Sends the encoded row at R (after its length) of LEN bytes. */
static void
emit(const char *r, size_t len)
{
	uint32_t len32 = len;

	if (!copying)
		copy_begin();
	if (batch_n < 1 << 20) {
		if (batch_n == origcap) {
			origcap = origcap ? origcap * 2 : 1024;
			origins = xrealloc(origins, origcap * sizeof(*origins));
		}
		memcpy(&origins[batch_n].file, r, 4);
		memcpy(&origins[batch_n].line, r + 4, 8);
	}
	if (batchf != NULL && (fwrite(&len32, 4, 1, batchf) != 1 ||
	    fwrite(r, 1, len, batchf) != len))
		sa_die_errno(EX_IOERR, "temporary file");
	format_row(r, len);
	batch_n++;
	batch_bytes += len;
	if (batch_n == (uintmax_t)opt.batch_rows ||
	    batch_bytes >= opt.batch_bytes)
		copy_end();
}

/* Does the row just read go into the COPY in progress as it is? */
static int
fits(void)
{
	struct column *c;
	size_t i;

	for (i = 0; i < nrf; i++) {
		c = &cols[rf[i].col];
		if (rf[i].type == LD_NONE)
			continue;
		if (!c->active || (staging ? ld_join(c->stype, rf[i].type) !=
		    c->stype : !c->intable ||
		    ld_join(c->table, rf[i].type) != c->table))
			return 0;
	}
	return 1;
}

/* Brings the staging table to what the rows read so far need: it has
 * the types inferred from the rows, so that the server parses the values
 * while the input is still being read.  With DEFER, columns that had
 * only nulls wait. */
static void
stage_columns(int defer)
{
	struct sa_buf sql = { 0 };
	enum ld_type j;
	size_t i;
	int n = 0;

	sa_buf_adds(&sql, "ALTER TABLE pg_temp.sa_load_stage");
	for (i = 0; i < ncols; i++) {
		struct column *c = &cols[i];

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
		for (i = 0; i < ncols; i++)
			if (strcmp(cols[i].name, ord.s) == 0)
				break;
		if (i == ncols)
			return ord.s;
		sa_buf_addc(&ord, '_');
	}
}

/* The column names of the -k fields. */
static void
name_keys(void)
{
	size_t i, len;
	int k;

	keynames = xcalloc(opt.nkeys + 1, sizeof(*keynames));
	for (i = 0; i < opt.nkeys; i++) {
		len = strlen(opt.keys[i]);
		k = find_column(opt.keys[i], len, hash(opt.keys[i], len));
		keynames[i] = k >= 0 ? xstrdup(cols[k].name) :
		    pg_name("column", opt.keys[i], len, 0);
	}
}

/* A file that could not be opened means nothing is loaded. */
static void
check_input(void)
{
	sa_input_close(&in);
	if (in.status != 0)
		sa_die(in.status, "nothing was loaded");
}

/* Is the table missing or without rows? */
static int
table_empty(void)
{
	struct sa_buf sql = { 0 };
	PGresult *res;
	int empty;

	if (!table_exists)
		return 1;
	sa_buf_adds(&sql, "SELECT NOT EXISTS (SELECT FROM ");
	sa_buf_adds(&sql, target.s);
	sa_buf_addc(&sql, ')');
	res = run(sql.s, 0, NULL);
	empty = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	sa_buf_free(&sql);
	return empty;
}

static void
create_stage(void)
{
	struct sa_buf sql = { 0 };

	ord = order_column();
	sa_buf_adds(&sql, "CREATE TEMP TABLE sa_load_stage (");
	add_ident(&sql, ord);
	/* Rows are numbered as they are sent; rows moved from the table
	 * by to_stage() are all 0: their keys differ, and every row sent
	 * after them comes later. */
	sa_buf_adds(&sql, " bigint NOT NULL DEFAULT 0) ON COMMIT DROP");
	run_ok(sql.s);
	sa_buf_free(&sql);
	stage_columns(1);
	staging = 1;
	copy_target = "pg_temp.sa_load_stage";
}

/* An upsert into an empty table sends its rows straight there, as long
 * as no key repeats.  When one does, the rows sent so far move to the
 * staging table, where the last row of each key can win. */
static void
to_stage(void)
{
	struct sa_buf sql = { 0 };
	size_t i;
	int n = 0;

	if (copying)
		copy_end();
	create_stage();
	sa_buf_adds(&sql, "INSERT INTO pg_temp.sa_load_stage (");
	for (i = 0; i < ncols; i++)
		if (cols[i].intable && cols[i].staged) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, cols[i].name);
		}
	sa_buf_adds(&sql, ") SELECT ");
	for (i = 0, n = 0; i < ncols; i++)
		if (cols[i].intable && cols[i].staged) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, cols[i].name);
			sa_buf_adds(&sql, "::");
			sa_buf_adds(&sql, ld_type_sql(cols[i].stype));
		}
	sa_buf_adds(&sql, " FROM ");
	sa_buf_adds(&sql, target.s);
	run_ok(sql.s);
	sa_buf_reset(&sql);
	/* A table nobody else can see yet is truncated; otherwise readers
	 * are not to be blocked until the end. */
	sa_buf_adds(&sql, created ? "TRUNCATE " : "DELETE FROM ");
	sa_buf_adds(&sql, target.s);
	run_ok(sql.s);
	sa_buf_free(&sql);
}

/* Sends the spooled rows, then the rest of the input as it is read,
 * changing the table (or the staging table) whenever a row needs it. */
static void
send_rows(void)
{
	struct sa_buf r = { 0 };
	uint32_t len;

	if (opt.inserted_at != NULL) {
		PGresult *res = run("SELECT now()", 0, NULL);

		stamp = xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	rewind(spool);
	while (fread(&len, 4, 1, spool) == 1) {
		sa_buf_reset(&r);
		sa_buf_grow(&r, len);
		if (fread(r.s, 1, len, spool) != len)
			sa_die(EX_IOERR, "temporary file: short read");
		emit(r.s, len);
	}
	sa_buf_free(&r);
	fclose(spool);
	spool = NULL;
	while (next_row()) {
		if (opt.mode == UPSERT && !staging && dup_keys)
			to_stage();
		if (!fits()) {
			if (copying)
				copy_end();
			if (staging)
				stage_columns(1);
			else
				evolve(1);
		}
		emit(row.s + 4, row.len - 4);
	}
	if (copying)
		copy_end();
}

/* The column of the K-th -k field. */
static struct column *
key_column(size_t k)
{
	size_t len = strlen(opt.keys[k]);

	return &cols[find_column(opt.keys[k], len, hash(opt.keys[k], len))];
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

	for (k = 0; k < opt.nkeys; k++)
		if (strcmp(name, keynames[k]) == 0)
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

	for (i = 0; i < ncols; i++) {
		if (!cols[i].used || is_key(cols[i].name))
			continue;
		sa_buf_adds(b, n++ ? ", " : "");
		sa_buf_adds(b, p);
		add_ident(b, cols[i].name);
		if (cast) {
			sa_buf_adds(b, "::");
			add_ident(b, cols[i].typname);
		}
		if (strcmp(cols[i].typname, "numeric") == 0)
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

	for (k = 0; k < opt.nkeys; k++) {
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
		sa_buf_adds(&sql, target.s);
		sa_buf_adds(&sql, " t WHERE ");
		sa_buf_add(&sql, on.s, on.len);
		sa_buf_adds(&sql, " AND (SELECT count(*) FILTER (WHERE EXISTS "
		    "(SELECT FROM ");
		sa_buf_adds(&sql, target.s);
		sa_buf_adds(&sql, " t WHERE ");
		sa_buf_add(&sql, on.s, on.len);
		/* The join costs about what locking 60% of the rows does. */
		sa_buf_grow(&sql, 128);
		sql.len += snprintf(sql.s + sql.len, 128, ")) > 0.7 * count(*) "
		    "FROM pg_temp.sa_load_stage s TABLESAMPLE SYSTEM (%.6f) "
		    "REPEATABLE (0))", nstaged > 2000 ? 2e5 / nstaged : 100.0);
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
	if (!table_exists && opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", shown.s);
	evolve(0);
	read_table();
	run_ok("SET LOCAL work_mem = '128MB'");
	/* Into an empty table every row is new, and ON CONFLICT is work
	 * for nothing; sorting is needed only if a key may repeat. */
	empty = created || table_empty();
	for (k = 0; k < opt.nkeys; k++)
		if (strcmp(key_column(k)->typname, "int8") != 0 &&
		    strcmp(key_column(k)->typname, "text") != 0)
			dup_keys = 1;
	if (!empty && !dup_keys)
		drop_unchanged();

	sa_buf_adds(&sql, empty ? "INSERT INTO " : "WITH i AS (INSERT INTO ");
	sa_buf_adds(&sql, target.s);
	sa_buf_adds(&sql, " AS t (");
	for (i = 0, n = 0; i < ncols; i++)
		if (cols[i].used) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, cols[i].name);
		}
	if (opt.inserted_at != NULL) {
		sa_buf_adds(&sql, n++ ? ", " : "");
		add_ident(&sql, opt.inserted_at);
	}
	sa_buf_adds(&sql, ") SELECT ");
	if (dup_keys) {
		sa_buf_adds(&sql, "DISTINCT ON (");
		for (k = 0; k < opt.nkeys; k++) {
			sa_buf_adds(&sql, k ? ", " : "");
			add_key_cast(&sql, k);
		}
		sa_buf_adds(&sql, ") ");
	}
	for (i = 0, n = 0; i < ncols; i++)
		if (cols[i].used) {
			sa_buf_adds(&sql, n++ ? ", " : "");
			add_ident(&sql, cols[i].name);
			sa_buf_adds(&sql, "::");
			add_ident(&sql, cols[i].typname);
		}
	if (opt.inserted_at != NULL)
		sa_buf_adds(&sql, n++ ? ", now()" : "now()");
	sa_buf_adds(&sql, " FROM pg_temp.sa_load_stage");
	if (dup_keys) {
		sa_buf_adds(&sql, " ORDER BY ");
		for (k = 0; k < opt.nkeys; k++) {
			add_key_cast(&sql, k);
			sa_buf_adds(&sql, ", ");
		}
		add_ident(&sql, ord);
		sa_buf_adds(&sql, " DESC");
	}
	if (empty) {
		res = run(sql.s, 0, NULL);
		rows_inserted = strtoumax(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		sa_buf_free(&sql);
		return;
	}
	sa_buf_adds(&sql, " ON CONFLICT (");
	for (k = 0; k < opt.nkeys; k++) {
		sa_buf_adds(&sql, k ? ", " : "");
		add_ident(&sql, keynames[k]);
	}
	/* Rows whose values are all as loaded are left alone: no dead
	 * tuple, and they do not count as updated. */
	n = 0;
	for (i = 0; i < ncols; i++) {
		if (!cols[i].used || is_key(cols[i].name))
			continue;
		sa_buf_adds(&sql, n++ ? ", " : ") DO UPDATE SET ");
		add_ident(&sql, cols[i].name);
		sa_buf_adds(&sql, " = EXCLUDED.");
		add_ident(&sql, cols[i].name);
	}
	if (n == 0)
		sa_buf_adds(&sql, ") DO NOTHING");
	else {
		if (opt.inserted_at != NULL) {
			sa_buf_adds(&sql, ", ");
			add_ident(&sql, opt.inserted_at);
			sa_buf_adds(&sql, " = EXCLUDED.");
			add_ident(&sql, opt.inserted_at);
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
	rows_inserted = strtoumax(PQgetvalue(res, 0, 0), NULL, 10);
	rows_updated = strtoumax(PQgetvalue(res, 0, 1), NULL, 10);
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
	for (k = 0; k < opt.nkeys; k++) {
		sa_buf_adds(&keys, k ? ",\"" : "\"");
		for (p = keynames[k]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				sa_buf_addc(&keys, '\\');
			sa_buf_addc(&keys, *p);
		}
		sa_buf_addc(&keys, '"');
	}
	sa_buf_addc(&keys, '}');
	params[0] = target.s;
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
	if (!opt.dry_run && opt.mode != UPSERT &&
	    !(opt.no_evolve && table_exists))
		lock_table();
	if (!opt.dry_run && opt.mode == UPSERT && table_empty()) {
		lock_table();
		direct = table_empty();
	}
	if (!table_exists && opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", shown.s);
	if (!opt.dry_run && opt.mode == REPLACE && table_exists) {
		sa_buf_adds(&sql, "DELETE FROM ");
		sa_buf_adds(&sql, target.s);
		run_ok(sql.s);
	}

	/* The first rows show the types; with --no-evolve a new table is
	 * made for all of them, since it may not change later. */
	if (opt.dry_run || (opt.no_evolve && !table_exists))
		limit = UINTMAX_MAX;
	spool = sa_tmpfile();
	setvbuf(spool, NULL, _IOFBF, 1 << 20);
	if (sa_rejects_enabled() && !opt.dry_run) {
		batchf = sa_tmpfile();
		setvbuf(batchf, NULL, _IOFBF, 1 << 20);
	}
	sa_input_init(&in, nargs, args);
	while (rows_loaded < limit && spooled < SAMPLE_BYTES && next_row()) {
		if (opt.dry_run)
			continue;
		if (fwrite(row.s, 1, row.len, spool) != row.len)
			sa_die_errno(EX_IOERR, "temporary file");
		spooled += row.len;
	}
	name_keys();

	if (opt.dry_run) {
		struct sa_buf ddl = { 0 };

		while (next_row())
			;
		check_input();
		if (opt.mode == UPSERT && table_exists && !has_unique_key())
			sa_die(EX_USAGE, "%s: no primary key or unique index on "
			    "the -k columns, which --mode upsert needs",
			    shown.s);
		if (rows_loaded > 0 && plan(&ddl, 0, 0) == 0)
			sa_buf_adds(&ddl, "-- no change to the table\n");
		sa_buf_add(&sa_out, ddl.s ? ddl.s : "", ddl.len);
		sa_out_flush();
		sa_buf_free(&ddl);
		return;
	}
	if (rows_loaded > 0) {
		/* A table made for an upsert gets its primary key once the
		 * rows are in: building the index at once is cheaper than
		 * growing it row by row. */
		key_later = direct && !table_exists;
		if (opt.mode == UPSERT && (!direct || dup_keys))
			create_stage();
		else {
			evolve(1);
			copy_target = target.s;
		}
		send_rows();
		check_input();
		if (staging) {
			stage_columns(0);
			upsert();
		} else {
			evolve(0);
			rows_inserted = rows_loaded;
		}
		if (key_later && created) {
			sa_buf_reset(&sql);
			sa_buf_adds(&sql, "ALTER TABLE ");
			sa_buf_adds(&sql, target.s);
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
	return (t.tv_sec - started.tv_sec) + (t.tv_nsec - started.tv_nsec) /
	    1e9;
}

static void
summary(void)
{
	static char extra[128];
	double s = elapsed();

	sa_stats.out = rows_inserted + rows_updated;
	snprintf(extra, sizeof(extra), "\"inserted\":%ju,\"updated\":%ju",
	    rows_inserted, rows_updated);
	sa_stats_extra(extra);
	if (sa_quiet)
		return;
	sa_progress_clear();
	fprintf(stderr, "%s: %s: %ju rows read, %ju inserted, %ju updated",
	    sa_prog, shown.s, sa_stats.in, rows_inserted, rows_updated);
	if (sa_stats.rejected > 0)
		fprintf(stderr, ", %ju rejected", sa_stats.rejected);
	fprintf(stderr, ", %.2f s, %.0f rows/s%s\n", s,
	    s > 0 ? sa_stats.in / s : 0.0, opt.dry_run ? " (dry run)" : "");
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

	clock_gettime(CLOCK_MONOTONIC, &started);
	sa_setprog(argv[0]);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	sa_out_init();
	sa_out_plain();
	sa_copy_text = 1;
	while ((c = getopt_long(argc, argv, "d:hk:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt.conninfo = optarg;
			break;
		case 'k':
			parse_keys(optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "append") == 0)
				opt.mode = APPEND;
			else if (strcmp(optarg, "upsert") == 0)
				opt.mode = UPSERT;
			else if (strcmp(optarg, "replace") == 0)
				opt.mode = REPLACE;
			else
				sa_usage_error("--mode: '%s' is not append, "
				    "upsert or replace", optarg);
			break;
		case OPT_NO_CREATE:
			opt.no_create = 1;
			break;
		case OPT_NO_EVOLVE:
			opt.no_evolve = 1;
			break;
		case OPT_INSERTED_AT:
			if (*optarg == '\0')
				sa_usage_error("--inserted-at: empty name");
			opt.inserted_at = pg_name("column", optarg,
			    strlen(optarg), 1);
			break;
		case OPT_BATCH_ROWS:
			opt.batch_rows = sa_parse_int("--batch-rows", optarg, 1,
			    INT64_MAX);
			break;
		case OPT_BATCH_BYTES:
			opt.batch_bytes = sa_parse_size("--batch-bytes", optarg,
			    1);
			break;
		case OPT_DRY_RUN:
			opt.dry_run = 1;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (optind >= argc)
		sa_usage_error("missing table name");
	if (opt.mode == UPSERT && opt.nkeys == 0)
		sa_usage_error("--mode upsert needs -k/--key");
	parse_target(argv[optind++]);
	for (i = 0; i < opt.nkeys; i++)
		if (opt.inserted_at != NULL &&
		    strcmp(opt.keys[i], opt.inserted_at) == 0)
			sa_usage_error("--inserted-at %s cannot be a key",
			    opt.inserted_at);

	db_connect();
	if (opt.mode == UPSERT)
		run_ok("SET temp_buffers = '256MB'");
	read_table();
	if (!table_exists && opt.no_create)
		sa_die(EX_CANTCREAT, "%s: the table does not exist "
		    "(--no-create)", shown.s);
	load(argc - optind, argv + optind);
	summary();
	PQfinish(conn);
	return EX_OK;
}
