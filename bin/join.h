/*
 * join.h: what the files of sa-join share.
 *
 * Ownership, stated once:
 * - The options are set by main() in sa-join.c and only read after it.
 * - The schemas, the left names, the sink and emit_to belong to
 *   join-row.c; the join strategies set them through schema_of(),
 *   open_sink() and emit_to, and free nothing of them.  open_sink()
 *   cuts the right schema to --right-columns (join-cols.c), freeing the
 *   names it leaves out.
 * - A struct table owns its right records (in its arena) and its index;
 *   table_free() releases both.  A struct key owns its text buffer.
 * - Fields handed to emit() are read, never kept: emit() copies what it
 *   writes or spills.
 */
#ifndef JOIN_H
#define JOIN_H

#include "sa.h"
#include "spill.h"

enum { INNER, LEFT, RIGHT, FULL };
#define NO_LEFT UINT64_MAX	/* the left position of right-only rows */
#define NULLKEY 1		/* in spill records: B is NULLKEY | line << 1 */

/* A right record in memory. */
struct rrec {
	struct rrec *next;	/* of the same fingerprint */
	struct rrec *onext;	/* in input order */
	uint64_t rseq;
	uintmax_t line;
	uint32_t klen, flen;
	unsigned char matched, nullkey;
	char data[];		/* key text, then packed fields */
};

struct bucket {
	struct rrec *first, *last;
	uint64_t nright, nleft;
};

struct table {
	struct sa_fptab *idx;
	struct sa_arena *a;
	struct rrec *first, *last;
	size_t cap;
};

/* A key value, from a record: its fingerprint and its text. */
struct key {
	int null;
	struct sa_fp fp;
	struct sa_buf text;
};

/* Names: a small set of strings, for the left columns. */
struct nameset {
	struct { const char *s; size_t len; } *e;
	size_t size, n;
};

/* sa-join.c: the options. */
extern int type;
extern char **lkeys, **rkeys;
extern size_t nkeys;
extern const char *suffix;
extern int unique_left, unique_right;
extern const char *validate;
extern unsigned long long max_fanout;
extern size_t budget;			/* for RIGHT in memory */
extern struct sa_shard shard;		/* --shard, n 0 when off */
extern const char *rname, *lname;	/* the operands, for messages */
extern unsigned threads;		/* --threads, for LEFT */

/* join-key.c: key values, their descriptions and the checks on them. */
void key_of(const struct sa_val *o, char **names, struct key *k);
int key_in_shard(const struct key *k);
const char *key_desc(const char *p, size_t len);
void not_unique(const char *file, uintmax_t line, const char *key,
    size_t klen, const char *side) __attribute__((noreturn));
void check_fanout(struct bucket *b, const char *file, uintmax_t line,
    const char *key, size_t klen);
int is_right_key(const char *s, size_t len);
int is_left_key(const char *s, size_t len, size_t *which);
void key_thread_done(void);

/* join-cols.c: --right-columns, the right columns kept. */
void right_columns_parse(const char *arg);
int right_column_kept(const char *name, size_t len);
void right_fields_of(struct sa_fields *fs, const struct sa_val *o);
void right_schema_cut(void);

/* join-row.c: column names, schemas and output rows. */
extern struct sa_sink *sink;
/* Column names of each side: the TSV header, or the first record's. */
extern char **lschema, **rschema;
extern size_t nlschema, nrschema;
extern struct nameset lnames;	/* of the left schema */
extern __thread FILE *emit_to;	/* spill file of output rows, or NULL */
extern __thread struct sa_buf *emit_rows;	/* or a worker's rows */
extern __thread uint32_t emit_nrows;		/* and how many */
extern __thread uint64_t left_gen;	/* bumped when the left record changes */
int nameset_has(const struct nameset *ns, const char *s, size_t len);
void nameset_add(struct nameset *ns, const char *s, size_t len);
void emit(const struct sa_fields *lf, const struct sa_fields *rf,
    uint64_t lseq, uint64_t rseq);
void schema_of(struct sa_input *in, const struct sa_val *first,
    char ***names, size_t *n);
void open_sink(enum sa_format ofmt, int both_tsv);
enum sa_format output_format(enum sa_format lfmt, enum sa_format rfmt);
void join_thread_done(void);
/* Frees what probe() and table_rest() kept for the calling thread. */
void probe_thread_done(void);

/* join-hash.c: the in-memory hash join, which hands the partitions to
 * the grace join when RIGHT outgrows the budget. */
extern __thread struct sa_fptab *lseen;	/* left keys, for --validate 1:m, 1:1 */
void table_init(struct table *t, size_t cap);
void table_free(struct table *t);
int table_add(struct table *t, const struct key *k, uint64_t rseq,
    uintmax_t line, const char *fields, size_t flen);
void probe(struct table *t, const struct key *k, const struct sa_fields *lf,
    uint64_t lseq, const char *file, uintmax_t line);
int matches(struct bucket *b, const struct key *k, const struct sa_fields *lf,
    uint64_t lseq, int how, struct sa_fields *rf);
struct bucket *right_bucket(const struct key *k);
int right_spilled(void);
void left_schema(struct sa_input *lin, const struct sa_val *first);
void right_schema(struct sa_input *rin, const struct sa_val *first);
void right_fields(const struct key *k, const struct sa_fields *fs,
    uintmax_t line);
void left_fields(const struct key *k, const struct sa_fields *fs,
    const char *file, uintmax_t line);
void left_joined(const struct key *k, struct bucket *b, const char *rows,
    size_t len, uint32_t nrows, uintmax_t line);
void table_rest(struct table *t);
void hash_join(struct sa_input *rin, struct sa_input *lin,
    enum sa_format ofmt);

/* join-grace.c: the grace hash join over spill partitions, and the block
 * join of a key too big for the budget. */
void spill_row(struct sa_parts *parts, const struct key *k, uint64_t seq,
    uintmax_t line, const struct sa_buf *packed);
void join_files(FILE *rf, FILE *lf, unsigned level, FILE *out);
void spill_table(struct table *t, struct sa_parts *rp);
void grace_join(struct sa_parts *rp, struct sa_parts *lp);

/* join-threads.c: --threads, the probe side on worker threads. */
void probe_left(struct sa_input *lin,
    void (*left_one_thread)(struct sa_input *, void *));
void build_right(struct sa_input *rin,
    void (*right_one_thread)(struct sa_input *, void *));

/* join-merge.c: the merge join of sorted inputs. */
void sorted_join(struct sa_input *rin, struct sa_input *lin,
    enum sa_format ofmt);

#endif
