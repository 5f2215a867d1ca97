/*
 * load.h: the parts of sa-load and the state of one load, which they share.
 * sa-load.c reads the options and takes a load through its steps in order;
 * load-db.c holds the connection, load-schema.c the table and its DDL,
 * load-part.c what a partitioned or foreign table allows,
 * load-row.c reads and encodes the rows (with --threads, in workers and
 * the main thread), load-copy.c sends them with COPY
 * and load-upsert.c moves them from a staging table with ON CONFLICT;
 * load-replace.c deletes the rows of the keys in scope for replace-keys;
 * load-binary.c encodes values in COPY's binary format.
 *
 * Ownership, stated once:
 * - There is one load per process, LD; what it points to belongs to it
 *   and lives until exit, freed only where a new value replaces the old.
 * - A column owns its KEY and NAME; its TABLETYPE and TYPNAME point into
 *   LD.TCOLS, which read_table() frees and reads again: they stay valid
 *   until the next read_table(), which sets them anew.
 * - LD.ROW holds the row just read, encoded (below), for take_row(); the
 *   next row overwrites it.  Encoded rows point to their file by its index in
 *   LD.FILES, which only grows.
 * - A PGresult belongs to whoever ran the statement and is cleared there;
 *   db_fail() clears the one it is given, closes the connection and exits.
 * - Strings from pg_name() and one_line() are malloc'd and the caller's.
 * - LD.SPOOL, LD.BATCHF and LD.SCOPE.KEYS come from sa_tmpfile(): unlinked, they vanish
 *   on every exit path.
 *
 * Transactions: DDL on a table others can see runs in a transaction of
 * its own (change_table()); the rows go in another (begin_rows()), which
 * never holds more than ROW EXCLUSIVE on such a table.  A change that a
 * row needs mid-stream rolls the row transaction back, changes the table
 * and sends the rows again from LD.SPOOL, which then holds every row sent.
 */
#ifndef LOAD_H
#define LOAD_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "load-infer.h"
#include "sa.h"

enum mode { APPEND, UPSERT, REPLACE, REPLACE_KEYS };

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

/*
 * A row is encoded as its length (4 bytes, not counting itself), the
 * index of its file (4) and its line (8), then for each non-null field
 * the column index (4), the length (4) and the text of the value, not yet
 * escaped (a string's characters, a number or true or false as JSON writes
 * it, an object or array as JSON);
 * with --rejects, last, RECORD (4), the length (4) and the record as JSON.
 * The first rows are spooled in this form until the table is ready;
 * the rest are sent as they are read.
 */
#define RECORD UINT32_MAX	/* the field that holds the whole record */

struct rowfield {
	uint32_t col;
	enum ld_type type;
};

/* Where a row of the COPY in progress came from. */
struct origin {
	uint32_t file;
	uint64_t line;
};

struct load {
	/* How to load, from the command line. */
	struct {
		const char *conninfo;
		char **keys;
		size_t nkeys;
		enum mode mode;
		int no_create, no_evolve, dry_run;
		char *inserted_at;
		long long batch_rows;
		size_t batch_bytes;
		unsigned threads;
	} opt;

	/* The target and the connection. */
	char *schema, *table;	/* the target, unquoted */
	struct sa_buf target;	/* the target, quoted */
	struct sa_buf shown;	/* the target, as messages show it */
	PGconn *conn;
	PGcancel *volatile cancel;	/* for the signal handler */
	struct timespec started;

	/* The load's columns, found by their key's hash (load-schema.c). */
	struct column *cols;
	size_t ncols, colcap;
	int *htab;
	size_t hsize;

	/* The table as it is now (load-schema.c). */
	struct tcol *tcols;
	size_t ntcols;
	int table_exists;
	char **keynames;	/* column names of the -k fields */
	int created;		/* this load created the table */
	int locked;		/* the session holds the table's load lock */
	struct sa_buf added;	/* columns added in transactions of their own */
	int done;		/* the rows are committed */
	int key_later;		/* its primary key is added at the end */
	/* What the table is (load-part.c), read once it exists. */
	struct {
		char kind;	/* pg_class.relkind: 'r', 'p', 'f'... */
		char *key;	/* pg_get_partkeydef(), if partitioned */
		char **cols;	/* the partition keys' columns, NULL-ended */
		size_t n;	/* leaf partitions */
		size_t nforeign;	/* foreign tables, itself included */
		char *foreign;	/* the first of them, or NULL */
	} part;

	/* Reading the input (load-row.c). */
	struct sa_input in;
	FILE *spool;		/* the first rows; with KEEP, every row sent */
	int keep;		/* the rows may have to be sent again */
	int sending;		/* the table is ready: rows go as they come */
	char **files;		/* names of the input files, for messages */
	size_t nfiles;
	uintmax_t rows_loaded, rows_inserted, rows_updated;
	struct sa_buf row;	/* the row just read, encoded */
	struct rowfield *rf;	/* the types of its fields, nulls included */
	size_t nrf, rfcap;
	uint32_t *seq, *prev;	/* its columns in order, and the last row's */
	size_t nprev, seqcap;
	uint64_t *keyset;	/* the keys seen, as note_key() keeps them */
	size_t keycap, nkeys_seen;
	int note_keys;		/* note_key() keeps the keys of the rows */
	int dup_keys;		/* a key may appear more than once */

	/* Sending the rows (load-copy.c). */
	const char *copy_target;	/* the table COPY writes to */
	int copying;		/* a COPY is in progress */
	int counting;		/* rows without columns: only counted */
	/*
	 * With --rejects, the rows of the COPY in progress are also kept in
	 * BATCHF, and each COPY runs in a savepoint: when the server refuses
	 * a row, the batch is rolled back, that row goes to the rejects and
	 * the others are sent again.
	 */
	FILE *batchf;
	int replaying;		/* sending a batch again */
	uintmax_t *skip;	/* rows of the batch rejected, ascending */
	size_t nskip, skipcap;
	uintmax_t batch_i;	/* rows of BATCHF read so far */
	size_t batch_k;		/* rejected rows passed so far */
	struct sa_buf out;	/* COPY text not sent yet */
	uint32_t *active;	/* the columns COPY lists */
	size_t nactive;
	const char **slot;	/* a row's fields by column */
	uint32_t *slotlen;
	char *stamp;		/* the --inserted-at value */
	char stamp_bin[8];	/* and in binary */
	/*
	 * COPY is binary unless a column's type or a value has no binary form
	 * that load-binary.c can make; after such a value the rest of the
	 * load goes as text.
	 */
	int binary;		/* the COPY in progress is binary */
	int text_only;
	unsigned char *bkind;	/* each active column's BIN_ kind */
	uintmax_t batch_n;	/* rows in this COPY */
	size_t batch_bytes;
	struct origin *origins;	/* where the rows of this COPY came from */
	size_t origcap;
	struct origin *refused;	/* rows the server refused, in input order */
	size_t nrefused, refcap;

	/* The upsert (load-upsert.c). */
	int staging;		/* rows go to the staging table */
	uintmax_t nstaged;	/* rows sent to the staging table */
	char *ord;		/* the staging table's row order column */

	/* --mode replace-keys (load-replace.c). */
	struct {
		char **cols;	/* --scope-key: columns of the table */
		char **fields;	/* and their fields in --scope */
		size_t n;
		char **files;	/* --scope */
		int nfiles;
		FILE *keys;	/* the keys in scope, as COPY text */
		uintmax_t deleted;
	} scope;
};

extern struct load ld;

/* load-db.c */
void db_connect(void);
/* Runs SQL with NPARAMS text parameters; a failure ends the load. */
PGresult *run(const char *sql, int nparams, const char *const *params);
void run_ok(const char *sql);
void db_fail(PGresult *res, const char *where) __attribute__((noreturn));
char *one_line(const char *msg);
void on_signal(int sig);

/* load-schema.c */
void add_ident(struct sa_buf *b, const char *s);
char *pg_name(const char *what, const char *s, size_t len, int report);
int find_tcol(const char *name);
void read_table(void);
unsigned hash(const char *s, size_t len);
/* The index of the column of field KEY, of hash H, or -1. */
int find_column(const char *key, size_t len, unsigned h);
int new_column(const char *key, size_t len, unsigned h);
void add_primary_key(struct sa_buf *b);
int plan(struct sa_buf *b, int defer, int report);
void evolve(int defer);
void change_table(int defer);
void lock_table(void);
void name_keys(void);
int table_empty(void);

/* load-part.c */
void check_parts(void);
void check_change(const char *name, const char *from, const char *to);
void part_plan(struct sa_buf *b);

/* sa-load.c: takes the good row just read, in LD.ROW. */
void take_row(void);

/* load-row.c */
/* Reads the input, each good row into LD.ROW for take_row(), in order. */
void read_rows(unsigned threads);
void check_input(void);

/* load-copy.c */
void begin_rows(void);
void delete_rows(void);
void send_rows(void);
void key_now(void);
void send_row(void);
void copy_end(void);

/* load-binary.c */
enum {
	BIN_NONE, BIN_TEXT, BIN_BOOL, BIN_INT8, BIN_NUMERIC, BIN_DATE,
	BIN_TIMESTAMPTZ, BIN_UUID, BIN_JSONB
};
/* The kind of a column of SQL type TYPNAME, or of sa-load's type T
 * (a staging table's); BIN_NONE if it goes only as text. */
int bin_kind(const char *typname);
int bin_kind_of(enum ld_type t);
void bin_header(struct sa_buf *b);
void bin_trailer(struct sa_buf *b);
void bin_put_count(struct sa_buf *b, unsigned nfields);
/* Appends the field of kind KIND whose text is S/LEN; returns 0, having
 * appended some bytes or none, if the server could read the text
 * differently from any binary form. */
int bin_put(struct sa_buf *b, int kind, const char *s, size_t len);
void bin_put_int8(struct sa_buf *b, int64_t v);
void bin_put_raw(struct sa_buf *b, const void *p, uint32_t n);
void bin_put_null(struct sa_buf *b);

/* load-upsert.c */
void create_stage(void);
void stage_columns(int defer);
void to_stage(void);
void upsert(void);
/* Has the table a unique index on just the -k columns? */
int has_unique_key(void);

/* load-replace.c */
void scope_keys(const char *arg);
void scope_file(const char *arg);
void scope_check(int nfiles, char **files);
int scope_from_input(void);
/* A record's scope key as a COPY line (in a worker), and the main
 * thread's check of it; scope_take() returns 0 if it rejected the row. */
int scope_key(const struct sa_val *root, char **names, struct sa_buf *line,
    struct sa_buf *scratch, int *isnull);
int scope_take(const char *file, uintmax_t line, const char *json,
    size_t jlen, int idx, int isnull, const char *key, size_t keylen);
void replace_keys(void);
void replace_plan(struct sa_buf *b);

#endif
