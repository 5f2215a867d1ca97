/*
 * spill.h: what sa-dedup and sa-join keep in memory, and how they spill
 * the rest to hash partitions under $TMPDIR.
 *
 * Ownership: a fingerprint table owns its slots; payload pointers it
 * returns stay valid until the next sa_fptab_get() on it.  A spill record
 * read back points into the caller's buffer.  Fields (struct sa_field)
 * point into whatever they were made from and never own their bytes.
 */
#ifndef SA_SPILL_H
#define SA_SPILL_H

#include "sa.h"

/* Fingerprint tables: open addressing over 256 sub-tables that grow by
 * half at 80% load, so that growing never holds two copies of the whole
 * table and a set of 128-bit fingerprints costs 20 to 30 bytes a key. */
struct sa_fptab;
/* Each slot holds a fingerprint and PAYLOAD bytes (zeroed when added).
 * BUDGET caps the bytes of slots; 0 means no cap. */
struct sa_fptab *sa_fptab_new(size_t payload, size_t budget);
/* Finds FP, adding it if absent (*ISNEW says which).  Returns its
 * payload, or NULL if adding it would go past the budget. */
void *sa_fptab_get(struct sa_fptab *, struct sa_fp fp, int *isnew);
void *sa_fptab_find(struct sa_fptab *, struct sa_fp fp);
size_t sa_fptab_count(const struct sa_fptab *);
size_t sa_fptab_bytes(const struct sa_fptab *);
/* Calls FN for every fingerprint with its payload. */
void sa_fptab_each(struct sa_fptab *,
    void (*fn)(struct sa_fp, void *payload, void *arg), void *arg);
void sa_fptab_free(struct sa_fptab *);

/* Spill records: a fingerprint, two numbers (sequence numbers, flags) and
 * two byte strings, written in binary to temporary files. */
struct sa_spill_rec {
	struct sa_fp fp;
	uint64_t a, b;
	const char *p, *q;
	size_t plen, qlen;
};
void sa_spill_write(FILE *, const struct sa_spill_rec *);
/* Reads the next record into REC, its bytes into BUF; 0 at the end. */
int sa_spill_read(FILE *, struct sa_spill_rec *, struct sa_buf *buf);
/* A temporary file with a large buffer, for spill records. */
FILE *sa_spill_file(void);
/* Exits 74 saying that a temporary file under $TMPDIR could not be written. */
void sa_spill_write_error(void) __attribute__((noreturn));
/* Rewinds F for reading; read errors are fatal. */
void sa_spill_rewind(FILE *);
/* A spill file read a block at a time, the records taken where they lie
 * in the block instead of copied each: sa_spill_scan_begin() flushes F
 * (descriptor FD, of sa_tmpfile_buffered_fd()) and starts at its
 * beginning; a record's bytes stay valid until the next call. */
struct sa_spill_scan {
	int fd;
	uint64_t size, at;	/* of the file; of the next record */
	struct sa_buf buf;	/* the bytes at START */
	uint64_t start;
};
void sa_spill_scan_begin(struct sa_spill_scan *, FILE *f, int fd);
int sa_spill_scan_next(struct sa_spill_scan *, struct sa_spill_rec *);
void sa_spill_scan_end(struct sa_spill_scan *);
/* store.c: like sa_spill_file(), but every such stream lives in one
 * temporary file of the process: a thousand partitions hold one
 * descriptor.  The streams are appended to, rewound and read, never
 * written in the middle; they are not safe to use from two threads. */
FILE *sa_spill_stream(void);

/* Hash partitions.  Level 0 is sa_partition() itself; deeper levels,
 * for a partition still too big, use the next bits of the fingerprint. */
#define SA_SPILL_PARTS 64
#define SA_SPILL_MAXLEVEL 7
unsigned sa_spill_part(struct sa_fp, unsigned level, unsigned nparts);
struct sa_parts {
	unsigned n, level;
	FILE **f;
	uintmax_t *count;
};
struct sa_parts *sa_parts_new(unsigned level);
void sa_parts_write(struct sa_parts *, const struct sa_spill_rec *);
void sa_parts_free(struct sa_parts *);

/* A k-way merge of spill files, each in ascending (a, b) order. */
struct sa_merge;
struct sa_merge *sa_merge_new(FILE **f, size_t n);
int sa_merge_next(struct sa_merge *, struct sa_spill_rec *rec);
void sa_merge_free(struct sa_merge *);

/* Fields: a flat view of a record's members.  S holds the bytes of a
 * string or number, or compact JSON for an object or an array. */
struct sa_field {
	const char *name;
	size_t namelen;
	int type;		/* enum sa_type */
	const char *s;
	size_t len;
};
struct sa_fields {
	struct sa_field *f;
	size_t n, cap;
	struct sa_buf json;	/* text of nested members */
};
/* Sets FS to the members of object O. */
void sa_fields_of(struct sa_fields *fs, const struct sa_val *o);
/* The same, leaving out the members whose name KEEP (if not NULL) turns
 * down: they are not even serialised. */
void sa_fields_of_some(struct sa_fields *fs, const struct sa_val *o,
    int (*keep)(const char *name, size_t len));
void sa_fields_add(struct sa_fields *fs, const char *name, size_t namelen,
    int type, const char *s, size_t len);
/* Packs fields into bytes, and back (values point into P, names into a
 * table of the process, so packed bytes do not outlive it). */
void sa_fields_pack(struct sa_buf *, const struct sa_field *, size_t n);
void sa_fields_unpack(struct sa_fields *fs, const char *p, size_t len);
/* The same with the names in the bytes, needing no table: safe in any
 * thread.  Unpacking returns the end of the fields at P. */
void sa_fields_pack_named(struct sa_buf *, const struct sa_field *, size_t n);
const char *sa_fields_unpack_named(struct sa_fields *fs, const char *p);
void sa_fields_free(struct sa_fields *);

/* Output sinks: rows as NDJSON, or as TSV with a header.  When a TSV
 * stream's columns are not known in advance (JSON in, -t out), the rows
 * are spooled, encoded (not JSON), and written at the end under the union
 * of their columns, in the order they first appear. */
struct sa_sink;
/* FMT is SA_FMT_JSON or SA_FMT_TSV; COLS (TSV only) are the columns, or
 * NULL to learn them from the rows. */
struct sa_sink *sa_sink_new(enum sa_format fmt, const char *const *cols,
    size_t ncols);
/* Appends the line for a row to B (a whole line, LF included; for a sink
 * that spools, the row encoded: bytes only sa_sink_put() reads). */
void sa_sink_format(struct sa_sink *, struct sa_buf *b,
    const struct sa_field *, size_t n);
/* Like sa_sink_format, from an object.  Both may run in several threads
 * at once: each has scratch of its own, freed by sa_sink_thread_done(). */
void sa_sink_format_val(struct sa_sink *, struct sa_buf *b,
    const struct sa_val *o);
void sa_sink_thread_done(void);
/* Whether rows are written as JSON (so that a caller may build a line
 * from parts with sa_field_json). */
int sa_sink_json(const struct sa_sink *);
/* Appends "NAME":VALUE for one field. */
void sa_field_json(struct sa_buf *b, const struct sa_field *f);
/* Writes a formatted line. */
void sa_sink_put(struct sa_sink *, const char *line, size_t len);
/* Whether sa_sink_put() spools; if not, it appends the line to sa_out as
 * it is. */
int sa_sink_spools(const struct sa_sink *);
/* Writes what was deferred and flushes standard output. */
void sa_sink_finish(struct sa_sink *);

#endif
