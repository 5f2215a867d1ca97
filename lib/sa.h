/*
 * sa.h: what every sa tool shares.
 *
 * Ownership, stated once:
 * - Values (struct sa_val) returned by a reader live in the reader's arena
 *   and stay valid until the next sa_reader_next() or sa_input_next() call
 *   on that reader; copy what you keep (sa_val_copy, sa_json_append).
 * - struct sa_buf owns its bytes; sa_buf_free releases them.
 * - Every x* allocator exits with EX_OSERR and a message on failure;
 *   nobody checks their results for NULL.
 * - Temporary files come from sa_tmpfile() and are unlinked at creation,
 *   so they vanish on every exit path, SIGKILL included.
 */
#ifndef SA_H
#define SA_H

#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#ifndef __GNUC__
#define __attribute__(x)
#endif

/* Exit statuses are those of sysexits.h: EX_OK 0, EX_USAGE 64,
 * EX_DATAERR 65, EX_NOINPUT 66, EX_UNAVAILABLE 69, EX_SOFTWARE 70,
 * EX_OSERR 71, EX_CANTCREAT 73, EX_IOERR 74, EX_NOPERM 77. */

/* xalloc.c */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);

/* diag.c: messages are "PROG: message" on stderr. */
extern const char *sa_prog;
extern int sa_quiet;
void sa_setprog(const char *argv0);
void sa_die(int status, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
void sa_die_errno(int status, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
/* Set in a thread whose errors must not end the program at once (one of
 * sa-join's partitions, joined beside others): sa_die() and
 * sa_die_errno() hand it the status and the message, and it must not
 * return (longjmp). */
extern __thread void (*sa_die_hook)(int status, const char *msg);
void sa_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sa_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "PROG: unrecognized ... / Try 'PROG --help'" and exits 64. */
void sa_usage_error(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void sa_version(void) __attribute__((noreturn));
/* Parses "256M", "1G", "64k", "1048576" into bytes; dies with 64 if bad
 * or below MIN. OPT names the option in the message. */
size_t sa_parse_size(const char *opt, const char *s, size_t min);
/* Parses a decimal integer in [MIN, MAX]; dies with 64 otherwise. */
long long sa_parse_int(const char *opt, const char *s, long long min,
    long long max);

/* list.c: lists in option arguments ("-k a,b").  Appends the items of
 * ARG, split at SEP, to *ITEMS (*N of them), each a string of its own
 * that the caller owns with the array.  An empty item ("a,,b", ",a", "a,"
 * or "") is a usage error naming OPT: "PROG: OPT: empty item in 'ARG'",
 * exit 64. */
void sa_list_add(const char *opt, const char *arg, int sep, char ***items,
    size_t *n);
/* Frees the items and the array, leaving an empty list. */
void sa_list_free(char ***items, size_t *n);

/* buf.c: a growable byte buffer. */
struct sa_buf {
	char *s;
	size_t len, cap;
};
void sa_buf_grow(struct sa_buf *, size_t more);
void sa_buf_add(struct sa_buf *, const void *, size_t);
static inline void
sa_buf_addc(struct sa_buf *b, int c)
{
	if (b->len + 2 > b->cap)
		sa_buf_grow(b, 1);
	b->s[b->len++] = (char)c;
	b->s[b->len] = '\0';
}
void sa_buf_adds(struct sa_buf *, const char *);
/* Appends FMT formatted with AP, as vsnprintf() would write it; B ends
 * in a NUL after, as after every sa_buf_ call. */
void sa_buf_vprintf(struct sa_buf *, const char *fmt, va_list ap);
void sa_buf_free(struct sa_buf *);
static inline void sa_buf_reset(struct sa_buf *b) { b->len = 0; }

/* out.c: buffered standard output, written in whole lines.  A closed
 * pipe (EPIPE) ends the program quietly with status 0; any other write
 * error exits 74.  sa_out_flush() is called at exit (after a failure,
 * for the whole lines only). */
extern struct sa_buf sa_out;
/* What a write error names: "standard output", or the file a tool put
 * there (sa-fetch -o FILE). */
extern const char *sa_out_name;
void sa_out_init(void);
void sa_out_flush(void);
/* Call after each complete line; flushes when the buffer is large. */
static inline void sa_out_line_done(void)
{
	if (sa_out.len >= 1 << 16)
		sa_out_flush();
}

/*
 * The abort line (sa(7)): a run that fails (any non-zero exit, SIGINT,
 * SIGTERM, SIGHUP; not a closed pipe) ends its output with the bytes
 * SA_ABORT_MARK and "TOOL failed (exit STATUS)\n", unless stdout is a
 * terminal.  No JSON parser and no COPY reader accepts it; every sa
 * reader stops at it with that status (and so writes its own).  A line
 * begun is never cut short by it.  A tool killed by a signal writes
 * 128 + the signal's number and dies of the signal.
 */
#define SA_ABORT_MARK "\\.\0"	/* backslash, period, NUL */
#define SA_ABORT_MARKLEN 3
/* Writes LEN bytes at S, whole lines, to FD: a signal that arrives
 * meanwhile takes effect once the line under way is written.  Returns 0,
 * or -1 with errno set.  One write(2) takes at most SA_WRITE_MAX bytes,
 * the size cat(1) uses: given 1 MiB at a time, the page cache fills
 * large folios, which cost up to ten times as much system time on a
 * virtual machine that gives free memory back to its host. */
#define SA_WRITE_MAX ((size_t)1 << 17)
int sa_write_lines(int fd, const char *s, size_t len);
/* The same for the LEN bytes of whole lines at offset OFF of descriptor
 * IN (a spool), copied in the kernel where it can (sendfile). */
int sa_copy_lines(int fd, int in, off_t off, size_t len);
/* Writes to standard output what sa_out holds, then those LEN bytes. */
void sa_out_copy(int in, off_t off, size_t len);
/* A write of standard output failed (errno): a quiet end on EPIPE, else
 * exit 74. */
void sa_out_failed(void);

/* bgwrite.c: a thread that writes whole lines to FD, one buffer while
 * the caller fills the other.  sa_bgwrite_start() gives the first
 * buffer to fill; sa_bgwrite_put() hands *B over and sets *B to an
 * empty one; sa_bgwrite_end() writes B and what is left, and ends the
 * thread.  Both return -1 with errno set once a write has failed. */
struct sa_bgwrite;
struct sa_bgwrite *sa_bgwrite_start(int fd, struct sa_buf **b);
int sa_bgwrite_put(struct sa_bgwrite *, struct sa_buf **b);
int sa_bgwrite_end(struct sa_bgwrite *, struct sa_buf *b);
/* The bytes a buffer holds when it is handed over. */
#define SA_BGWRITE_BLOCK ((size_t)1 << 20)
/* Adds the LEN bytes of whole lines at P to *B, and hands *B over
 * (sa_bgwrite_put) once it holds SA_BGWRITE_BLOCK. */
int sa_bgwrite_add(struct sa_bgwrite *, struct sa_buf **b, const char *p,
    size_t len);
/* FD (a --split file) gets the abort line too if the run fails; forget
 * it before closing it. */
void sa_abort_also(int fd);
void sa_abort_forget(int fd);
/* Standard output carries no records (sa-load): no abort line on it. */
void sa_out_plain(void);
/* FN, async-signal-safe, runs when SIGINT, SIGTERM or SIGHUP ends the
 * run, after the abort lines are written (a handler the tool installed
 * before sa_out_init() is kept this way too). */
void sa_on_signal(void (*fn)(int));

/* value.c: JSON values.  Numbers keep their text exactly as written. */
enum sa_type {
	SA_NULL, SA_FALSE, SA_TRUE, SA_NUMBER, SA_STRING, SA_OBJECT, SA_ARRAY
};
struct sa_val {
	struct sa_val *next;	/* next member or element of the parent */
	struct sa_val *parent;
	struct sa_val *child;	/* first member or element */
	struct sa_val *last;	/* last member or element */
	const char *key;	/* member name if the parent is an object */
	const char *str;	/* bytes of a number or string, NUL-terminated */
	size_t keylen;
	size_t len;		/* bytes of str, or count of children */
	unsigned char type;
};
/* Appends V as compact JSON (members in their order). */
void sa_json_append(struct sa_buf *, const struct sa_val *v);
/* Appends V as canonical JSON: members sorted by name, so that equal
 * values have equal text whatever their key order. */
void sa_json_canonical(struct sa_buf *, const struct sa_val *v);
/* Appends S as a JSON string literal, quotes included. */
void sa_json_string(struct sa_buf *, const char *s, size_t len);
/* Like sa_json_string, but bytes that are not valid UTF-8 become U+FFFD. */
void sa_json_string_lossy(struct sa_buf *, const char *s, size_t len);
/* The length of the longest prefix of S that is valid UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
size_t sa_utf8_valid_len(const char *s, size_t len);
/* 1 + the offset in the JSON text S of the first \u escape that is half
 * of a surrogate pair without its other half, or 0. */
size_t sa_json_half_surrogate(const char *s, size_t len);
/* Member NAME of object O, or NULL. */
struct sa_val *sa_get(const struct sa_val *o, const char *name, size_t len);
/* Follows a dotted path ("owner.team.id") from object O, or NULL. */
struct sa_val *sa_get_path(const struct sa_val *o, const char *path);
/* Value as key text: a string's bytes, a number's text, true/false, JSON
 * for objects and arrays; returns 0 for null (which never matches). */
int sa_val_text(const struct sa_val *v, struct sa_buf *scratch,
    const char **s, size_t *len);
int sa_val_equal(const struct sa_val *, const struct sa_val *);

/* parse.c: one whole JSON text (an HTTP body, say) into values in
 * arena A.  Returns NULL and points *ERR at a static message if it is not
 * exactly one JSON value, has a string that is not UTF-8 (or half a
 * surrogate pair), or nests deeper than SA_MAX_DEPTH. */
#define SA_MAX_DEPTH 10000
struct sa_arena;
struct sa_val *sa_json_parse(struct sa_arena *a, const char *s, size_t len,
    char **err);

/* arena.c: node storage for values; blocks are recycled in FIFO order. */
struct sa_arena;
struct sa_arena *sa_arena_new(void);
void *sa_arena_alloc(struct sa_arena *, size_t);
void sa_arena_reset(struct sa_arena *);
size_t sa_arena_used(const struct sa_arena *);
void sa_arena_free(struct sa_arena *);
/* Builds values by hand (sa-fetch, tests of the library). */
struct sa_val *sa_val_new(struct sa_arena *, int type, const char *s,
    size_t len);
void sa_val_add(struct sa_val *parent, struct sa_val *child,
    const char *key, size_t keylen);	/* KEY must live as long as CHILD */

/* reader.c: one interface over NDJSON, concatenated/pretty JSON, a
 * top-level array (streamed element by element) and TSV with a header.
 * The format is detected from the first non-blank byte. */
enum sa_format { SA_FMT_UNKNOWN, SA_FMT_JSON, SA_FMT_TSV };
enum { SA_EOF = 0, SA_OK = 1, SA_BAD = -1 };
struct sa_record {
	struct sa_val *root;	/* an object for SA_OK */
	const char *file;	/* name for messages ("-" reads as "stdin") */
	uintmax_t line;		/* line where the record starts */
};
struct sa_reader;
/* Opens PATH ("-" is stdin); NULL with errno set if it cannot. */
struct sa_reader *sa_reader_open(const char *path);
struct sa_reader *sa_reader_fdopen(int fd, const char *name);
/* SA_OK: REC holds the next record.  SA_BAD: REC->line and
 * sa_reader_error() say what is wrong, sa_reader_raw() holds the
 * offending text; reading can go on.  SA_EOF: no more records.
 * Read errors exit 74. */
int sa_reader_next(struct sa_reader *, struct sa_record *rec);
const char *sa_reader_error(struct sa_reader *);
const char *sa_reader_raw(struct sa_reader *, size_t *len);
enum sa_format sa_reader_format(struct sa_reader *);
/* TSV only: the header's column names, valid until close. */
const char *const *sa_reader_columns(struct sa_reader *, size_t *n);
uintmax_t sa_reader_bytes(struct sa_reader *);
/* Starts again from the beginning (regular files only). */
void sa_reader_rewind(struct sa_reader *);
void sa_reader_close(struct sa_reader *);

/* input.c: the FILE... arguments of a tool as one record stream.  Files
 * that cannot be opened are reported and skipped (exit 66 at the end);
 * bad records go to --rejects or stop the tool with status 65. */
struct sa_input {
	char **files;
	int nfiles, cur;
	struct sa_reader *r;
	int status;		/* worst status so far, for the end */
	int rereadable;		/* set before reading: stdin, pipes and
				 * FIFOs are spooled as they are first read */
	int *spools;		/* by operand: its spool, or -1 */
	int dry;		/* a first pass: bad records are not reported
				 * if --rejects will get them on the next */
	int rewound;
	uintmax_t counted;	/* bytes of the current reader in sa_stats */
	int one_file;		/* sa_input_next() ends with the open file */
};
void sa_input_init(struct sa_input *, int nfiles, char **files);
/* Starts again at the first operand (needs in->rereadable). */
void sa_input_rewind(struct sa_input *);
int sa_input_next(struct sa_input *, struct sa_record *rec);
enum sa_format sa_input_format(struct sa_input *); /* of the current file */
void sa_input_close(struct sa_input *);

/* rejects.c: --rejects FILE.  Without it a bad record is fatal (65). */
void sa_rejects_open(const char *path);
/* Reports a bad record: "PROG: FILE:LINE: MESSAGE" and exit 65, or one
 * NDJSON line in the rejects file.  RAW/RAWLEN is the input text; if RAW
 * is NULL the record V is written as JSON instead. */
void sa_reject(const char *file, uintmax_t line, const char *raw,
    size_t rawlen, const struct sa_val *v, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void sa_rejects_close(void);
int sa_rejects_enabled(void);

/* writer.c: NDJSON or PostgreSQL COPY text rows. */
/* Set by a tool that writes COPY text, before it reads: PostgreSQL text
 * cannot hold a NUL character, so readers make a record with \u0000 in a
 * string a bad record, and sa_copy_escape() refuses one (65). */
extern int sa_copy_text;
struct sa_col {
	const char *name;
	size_t namelen;
	const struct sa_val *v;	/* NULL is SQL NULL */
};
/* Appends one NDJSON line for the columns. */
void sa_write_ndjson(struct sa_buf *, const struct sa_col *, size_t n);
/* Appends S escaped for COPY text format (\\ \t \n \r); a NUL byte
 * exits 65. */
void sa_copy_escape(struct sa_buf *, const char *s, size_t len);
/* Appends V as one COPY field: \N for null, JSON text for objects and
 * arrays, the bytes of strings and numbers, true/false. */
void sa_copy_field(struct sa_buf *, const struct sa_val *v);
/* Appends a header line of column names. */
void sa_write_tsv_header(struct sa_buf *, const char *const *names, size_t n);

/* fingerprint.c: 128-bit XXH3 fingerprints and the one partition
 * function every keyed stage uses (spilling now, --shard later). */
struct sa_fp {
	uint64_t lo, hi;
};
struct sa_fp sa_fp_bytes(const void *, size_t);
/* A hash of a column name, for hash tables (XXH3-64). */
size_t sa_name_hash(const void *, size_t);
/* Of value V, key order not mattering: equal for values that
 * sa_val_equal() finds equal.  SCRATCH holds the bytes hashed. */
struct sa_fp sa_fp_value(const struct sa_val *v, struct sa_buf *scratch);
/* Of the key values' text (sa_val_text); returns 0 if one is null or
 * missing. */
int sa_fp_key(struct sa_val *const *vals, size_t n, struct sa_buf *scratch,
    struct sa_fp *fp);
unsigned sa_partition(struct sa_fp fp, unsigned nparts);
/* --shard I/N: which of N shards (0 to N-1) fingerprint FP falls in, from
 * other bits than sa_partition() and the tables use, so that a shard
 * still spreads over every spill partition and table slot. */
struct sa_shard {
	unsigned i, n;		/* I is 1-based, as the user writes it; N 0: off */
};
/* Parses "I/N" (1 <= I <= N); dies with 64 if bad. */
void sa_shard_parse(struct sa_shard *, const char *opt, const char *arg);
unsigned sa_shard_of(struct sa_fp fp, unsigned n);
/* Whether FP is in shard SH (always, if sharding is off). */
int sa_shard_keep(const struct sa_shard *sh, struct sa_fp fp);

/* shardfiles.c: the one-pass split (--shard-dir DIR --shards N): N files
 * DIR/1.EXT to DIR/N.EXT, each beginning with HEADER (or NULL), made at
 * once and named by sa_shard_files_commit() only, so that a failed run
 * leaves none of them half written.  A line goes to the file of the
 * shard of FP, as sa_shard_keep() would keep it. */
#define SA_SHARD_FILES_MAX 256
struct sa_shard_files;
struct sa_shard_files *sa_shard_files_open(const char *dir, unsigned n,
    const char *ext, const struct sa_buf *header);
void sa_shard_files_put(struct sa_shard_files *, struct sa_fp fp,
    const char *line, size_t len);
void sa_shard_files_commit(struct sa_shard_files *);

/* tmp.c: temporary files under $TMPDIR, unlinked at once, 0600. */
FILE *sa_tmpfile(void);
/* The same with a 64 KiB buffer, for spools; it has no descriptor
 * (fileno() is -1). */
FILE *sa_tmpfile_buffered(void);
/* The same, its descriptor in *FD (to read it by other means, after
 * fflush()). */
FILE *sa_tmpfile_buffered_fd(int *fd);
int sa_tmpfd(void);
/* All N bytes at S to temporary file FD, or all N at offset OFF of it
 * into BUF; anything less ends the program (74). */
void sa_tmp_write(int fd, const void *s, size_t n);
void sa_tmp_pread(int fd, void *buf, size_t n, off_t off);
/* Hands FN the LEN bytes at OFF of temporary file FD a block of whole
 * lines at a time (about 1 MiB); stops at FN's first non-zero return,
 * and returns it. */
int sa_tmp_lines(int fd, uint64_t off, uint64_t len,
    int (*fn)(void *arg, const char *s, size_t n), void *arg);
const char *sa_tmpdir(void);	/* $TMPDIR, or /tmp */

/* file.c: files written for the user. */
/* Makes a file size limit (ulimit -f) a write error (EFBIG) instead of
 * a fatal SIGXFSZ; the functions below and sa_tmpfd() call it. */
void sa_no_sigxfsz(void);
/* Opens PATH for writing, truncated, created 0600 if new; a symbolic
 * link at PATH is an error (exit 73), except under /dev and /proc
 * (/dev/stderr), which are appended to. */
int sa_open_private(const char *path);
/* A file that appears at PATH complete or not at all: written unnamed
 * in PATH's directory (O_TMPFILE; where the file system has none, under
 * a temporary name beside PATH, removed at exit), and given its name by
 * sa_commit(), which syncs it, closes FD and renames it over PATH.  A
 * symbolic link at PATH is replaced, never followed.  Temporary names
 * beside PATH of processes that no longer run (killed with SIGKILL while
 * naming the file), of files no process holds, are removed first.
 * Errors exit 73/74. */
int sa_create_atomic(const char *path, mode_t mode);
void sa_commit(int fd, const char *path);

/* stats.c: counters, the progress line and --stats. */
struct sa_stats {
	uintmax_t in, out, rejected, bytes;
};
extern struct sa_stats sa_stats;
/* Prints the --stats JSON line at exit; EXTRA is more "k":v members or
 * NULL. */
void sa_stats_enable(void);
void sa_stats_extra(const char *extra);
/* Called once per record: redraws the progress line when stderr is a
 * terminal, at most four times a second. */
void sa_progress(void);
void sa_progress_clear(void);
long sa_peak_rss_kb(void);
/* Starts the clock and the exit hook that prints --stats and writes
 * --metrics, with the figures taken once for both. */
void sa_stats_hook(void);

/* metrics.c: --metrics FILE, the --stats figures in the Prometheus text
 * exposition format, written atomically at exit (also after a failure,
 * with its exit status); --metrics-label NAME=VALUE adds a label. */
void sa_metrics_open(const char *path);
void sa_metrics_label(const char *arg);
void sa_metrics_write(int status, double seconds, long peak_rss_kb);
/* From a signal handler, when SIGINT, SIGTERM or SIGHUP ends the run
 * with STATUS (128 + the signal): the same file, with the figures so far;
 * async-signal-safe. */
void sa_metrics_signal(int status);
int sa_metrics_enabled(void);

/* Options every tool shares; put SA_COMMON_LONGOPTS in the getopt_long
 * table and hand unknown codes to sa_common_option(), which returns 0 if
 * C is not one of them. */
enum {
	SA_OPT_VERSION = 0x1000, SA_OPT_REJECTS, SA_OPT_STATS, SA_OPT_QUIET,
	SA_OPT_METRICS, SA_OPT_METRICS_LABEL
};
#define SA_COMMON_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, SA_OPT_VERSION }, \
	{ "rejects", required_argument, NULL, SA_OPT_REJECTS }, \
	{ "stats", no_argument, NULL, SA_OPT_STATS }, \
	{ "quiet", no_argument, NULL, SA_OPT_QUIET }, \
	{ "metrics", required_argument, NULL, SA_OPT_METRICS }, \
	{ "metrics-label", required_argument, NULL, SA_OPT_METRICS_LABEL }
int sa_common_option(int c, const char *arg, void (*usage)(void));

/*
 * chunks.c: --threads N.  Line-delimited input (NDJSON, TSV) is cut into
 * chunks of SA_CHUNK bytes at line ends; worker threads read them and
 * turn their records into output, each chunk into buffers of its own;
 * one writer (the main thread) hands the buffers on in input order, so
 * that output, rejects, their line numbers and the counters are those of
 * one thread.  Input that is not line-delimited (pretty-printed JSON, a
 * top-level array, a record running on past a chunk's end) is read on
 * from there by one thread.  Memory: 2 chunks per thread in flight, each
 * its input and its output (about 3 * SA_CHUNK for flattening).
 */
#define SA_CHUNK (512 * 1024)
/* The bytes of input per chunk: SA_CHUNK, unless a tool whose output is
 * larger than its input sets less before sa_chunks_run(). */
extern size_t sa_chunk_size;
struct sa_chunk;
struct sa_chunk_ops {
	/* A worker's own state, made in its thread (NULL: none). */
	void *(*worker_new)(void);
	void (*worker_free)(void *w);
	/* Turns good record REC into output (sa_chunk_buf) or a reject
	 * (sa_chunk_reject); runs in a worker, so touches nothing shared. */
	void (*record)(void *w, struct sa_chunk *c, const struct sa_record *rec);
	/* Takes output for TAG, in input order; runs in the writer. */
	void (*write)(int tag, const char *s, size_t len);
};
/* The buffer that output for TAG goes to next. */
struct sa_buf *sa_chunk_buf(struct sa_chunk *c, int tag);
/* Counts N rows out (sa_stats.out), given to the writer in order. */
void sa_chunk_count(struct sa_chunk *c, size_t n);
/* REC is bad: RAW (or REC's JSON if RAW is NULL) goes to the rejects. */
void sa_chunk_reject(struct sa_chunk *c, const struct sa_record *rec,
    const char *raw, size_t rawlen, const char *msg);
/* A chunk of one record at a time, for the one-thread way: hand it one
 * record with ops->record, then sa_chunk_flush() it. */
struct sa_chunk *sa_chunk_new(void);
void sa_chunk_flush(struct sa_chunk *c, const struct sa_chunk_ops *ops);
void sa_chunk_free(struct sa_chunk *c);
/* Reads all of IN with THREADS workers; a file, or the rest of one, that
 * is not line-delimited is read by ONE_THREAD(IN, ARG), which reads IN
 * with sa_input_next() until SA_EOF (with THREADS 1, all of it).  A NULL
 * ONE_THREAD hands each record to OPS in the one thread and writes its
 * chunk at once. */
void sa_chunks_run(struct sa_input *in, unsigned threads,
    const struct sa_chunk_ops *ops,
    void (*one_thread)(struct sa_input *, void *), void *arg);
/* In ops->write: the lines before the chunk being written (a record's
 * line in a worker counts from its chunk's start). */
uintmax_t sa_chunk_base(void);
/* True if the JSON text at P starts with '[' (a top-level array). */
int sa_array_first(const char *p, size_t n);
/* --threads N: parses N (1 to 256); the default is the number of online
 * CPUs. */
unsigned sa_threads_parse(const char *opt, const char *arg);
unsigned sa_threads_default(void);
/* Of -m MEMORY, what a tool's table may take: the rest is kept for its
 * buffers, 16 MiB and 4 MiB per thread past the first, at most half. */
size_t sa_memory_budget(size_t memory, unsigned threads);

/* reader.c, for chunks.c: a reader over one chunk, what it found at its
 * end (returns 1 if a record ran on past it), and the one-thread way on
 * from a chunk of a file. */
struct sa_reader *sa_reader_chunk(const char *buf, size_t len,
    const char *name, enum sa_format fmt, int last);
int sa_reader_chunk_state(struct sa_reader *, uintmax_t *lines,
    const char **abort_text, size_t *abort_len, uintmax_t *abort_line);
void sa_reader_resume(struct sa_reader *, const char *text, size_t len,
    uintmax_t line, int first);
const char *sa_reader_buffered(struct sa_reader *, size_t *len,
    size_t *header);
int sa_reader_fd(struct sa_reader *);
const char *sa_reader_name(struct sa_reader *);

#endif
