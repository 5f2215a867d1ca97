/*
 * sa-dedup: drop duplicate records, keeping fingerprints, not records, in
 * memory.
 *
 * --keep first streams: a record is written as soon as its fingerprint is
 * new.  --keep last and --latest spool every record to a temporary file,
 * pick the winner of each fingerprint in memory and write the winners in
 * a second pass.  When the fingerprints outgrow --memory, the rest of the
 * work goes to hash partitions; each partition is deduplicated on its own
 * (split again if still too big) and the survivors of all partitions are
 * merged by input position, so the output is the same whatever the budget.
 *
 * --threads: workers parse the records of a chunk and turn each into an
 * item (fingerprint, output line, --latest value); the main thread takes
 * the items in input order (keep()), and all that follows is its alone.
 */
#include <sys/stat.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa.h"
#include "spill.h"

enum { KEEP_FIRST, KEEP_LAST, KEEP_LATEST };
enum {
	OPT_KEEP = 0x2000, OPT_LATEST, OPT_SHARD, OPT_SHARDS, OPT_SHARD_DIR,
	OPT_THREADS
};

/* In spill records: A is the input position, B says a record is only a
 * marker for a fingerprint already written, P is the output line and Q
 * the --latest value. */
#define MARKER 1

struct winner {
	uint64_t seq;
	uint64_t off;		/* of the --latest value in the pool */
	uint64_t len;
};

static int mode = KEEP_FIRST;
static const char *latest;
static char **keys;
static size_t nkeys;
static size_t budget;
static struct sa_shard shard;
static struct sa_shard_files *shard_files;	/* --shard-dir, or NULL */
static uintmax_t dups;
static struct sa_sink *sink;
static struct sa_buf pool;
static unsigned nthreads = 1;	/* --threads */

/* What a worker hands the main thread for a record it keeps; the output
 * line (PLEN bytes) and the --latest value (QLEN) follow it. */
struct item {
	struct sa_fp fp;
	size_t plen, qlen;
};

/* Each worker thread's own. */
static __thread struct sa_buf scratch, msg;
static __thread struct sa_val **vals;

static void
usage(void)
{
	printf("usage: sa-dedup [-tj] [-k KEY[,KEY...]] [--keep first|last] "
	    "[--latest FIELD] [-m SIZE] [--shard I/N | --shards N --shard-dir DIR] "
	    "[--threads N] [--rejects FILE] [--stats] [--quiet] [--metrics FILE] "
	    "[--metrics-label NAME=VALUE] [FILE...]\n"
	    "\n"
	    "Drop duplicate records: equal JSON values, or equal KEY values.\n"
	    "\n"
	    "  -k, --key KEY[,KEY...]  records with equal keys are duplicates "
	    "(dotted paths)\n"
	    "      --keep first|last   which duplicate survives (default first,"
	    " streaming)\n"
	    "      --latest FIELD      keep the record with the greatest FIELD\n"
	    "  -m, --memory SIZE       memory for fingerprints before spilling "
	    "(default 256M)\n"
	    "      --shard I/N         keep only the keys of shard I of N\n"
	    "      --shards N          with --shard-dir: write every shard, "
	    "in one pass,\n"
	    "      --shard-dir DIR     to DIR/1.ndjson ... DIR/N.ndjson "
	    "(.tsv with TSV)\n"
	    "      --threads N         read line-delimited input with N threads "
	    "(default:\n"
	    "                          one per CPU); the output is that of one "
	    "thread\n"
	    "  -t, --tsv               write TSV (PostgreSQL COPY text)\n"
	    "  -j, --ndjson            write NDJSON (also --json)\n"
	    "      --rejects FILE      write bad records to FILE and go on\n"
	    "      --stats             print counters as JSON on stderr at exit\n"
	    "      --quiet             no progress line or warnings\n"
	    "      --metrics FILE      write the --stats figures for Prometheus "
	    "at exit\n"
	    "      --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
	    "  -h, --help              show this help\n"
	    "      --version           show the version\n");
}

/* The fingerprint of REC's key, or of the whole record; 0 if the record
 * went to C's rejects. */
static int
fingerprint(struct sa_chunk *c, const struct sa_record *rec, struct sa_fp *fp)
{
	struct sa_val *v;
	size_t i;

	if (nkeys == 0) {
		*fp = sa_fp_value(rec->root, &scratch);
		return 1;
	}
	if (vals == NULL)
		vals = xcalloc(nkeys, sizeof(*vals));
	for (i = 0; i < nkeys; i++) {
		v = sa_get_path(rec->root, keys[i]);
		if (v == NULL || v->type == SA_NULL) {
			sa_buf_reset(&msg);
			sa_buf_adds(&msg, "key \"");
			sa_buf_adds(&msg, keys[i]);
			sa_buf_adds(&msg, v == NULL ? "\" is missing" :
			    "\" is null");
			sa_buf_addc(&msg, '\0');
			sa_chunk_reject(c, rec, NULL, 0, msg.s);
			return 0;
		}
		vals[i] = v;
	}
	return sa_fp_key(vals, nkeys, &scratch, fp);
}

/* Appends the --latest value of REC to B as comparable bytes: nothing
 * for null or missing, else 1 followed by the value's text. */
static void
latest_value(const struct sa_record *rec, struct sa_buf *b)
{
	const struct sa_val *v = sa_get_path(rec->root, latest);
	const char *s;
	size_t len;

	if (v == NULL || !sa_val_text(v, &scratch, &s, &len))
		return;
	sa_buf_addc(b, 1);
	sa_buf_add(b, s, len);
}

/* Whether S is a number as JSON writes them. */
static int
numeric(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == d)
		return 0;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* Orders --latest values: null lowest, numbers as numbers, the rest (ISO
 * timestamps above all) as text. */
static int
compare_latest(const char *a, size_t alen, const char *b, size_t blen)
{
	char x[64], y[64];
	long double u, v;
	size_t n;
	int c;

	if (alen == 0 || blen == 0)
		return (alen > 0) - (blen > 0);
	a++, alen--, b++, blen--;
	if (alen < sizeof(x) && blen < sizeof(y) && numeric(a, alen) &&
	    numeric(b, blen)) {
		memcpy(x, a, alen);
		x[alen] = '\0';
		memcpy(y, b, blen);
		y[blen] = '\0';
		u = strtold(x, NULL);
		v = strtold(y, NULL);
		if (u != v)
			return u < v ? -1 : 1;
	}
	n = alen < blen ? alen : blen;
	if ((c = memcmp(a, b, n)) != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* --keep last needs only the position of the winner: 24-byte slots. */
static size_t
winner_size(void)
{
	return mode == KEEP_LATEST ? sizeof(struct winner) : sizeof(uint64_t);
}

/* Whether record R beats the winner W so far; ties go to the later. */
static int
beats(const struct winner *w, const char *q, size_t qlen)
{
	if (mode == KEEP_LAST)
		return 1;
	return compare_latest(q, qlen, pool.s + w->off, w->len) >= 0;
}

/* Records the winner of a fingerprint; 0 if the budget is spent. */
static int
offer(struct sa_fptab *t, struct sa_fp fp, uint64_t seq, const char *q,
    size_t qlen)
{
	struct winner *w;
	int isnew;

	if (mode == KEEP_LATEST && sa_fptab_bytes(t) + pool.len + qlen >
	    budget)
		return 0;
	if ((w = sa_fptab_get(t, fp, &isnew)) == NULL)
		return 0;
	if (isnew || beats(w, q, qlen)) {
		w->seq = seq;
		if (mode == KEEP_LATEST) {
			w->off = pool.len;
			w->len = qlen;
			sa_buf_add(&pool, q, qlen);
		}
	}
	return 1;
}

static FILE *dedup_file(FILE *f, unsigned level, int try_memory);

/* Deduplicates F by splitting it into the partitions of LEVEL. */
static FILE *
split(FILE *f, unsigned level)
{
	struct sa_parts *parts = sa_parts_new(level);
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	FILE *out[SA_SPILL_PARTS], *res;
	struct sa_merge *m;
	unsigned i;

	sa_spill_rewind(f);
	while (sa_spill_read(f, &rec, &buf))
		sa_parts_write(parts, &rec);
	sa_buf_free(&buf);
	for (i = 0; i < parts->n; i++) {
		out[i] = NULL;
		if (parts->f[i] != NULL) {
			out[i] = dedup_file(parts->f[i], level + 1, 1);
			fclose(parts->f[i]);
			parts->f[i] = NULL;
		}
	}
	sa_parts_free(parts);
	res = sa_spill_file();
	m = sa_merge_new(out, SA_SPILL_PARTS);
	while (sa_merge_next(m, &rec))
		sa_spill_write(res, &rec);
	sa_merge_free(m);
	for (i = 0; i < SA_SPILL_PARTS; i++)
		if (out[i] != NULL)
			fclose(out[i]);
	return res;
}

/* Deduplicates the spill records of F; returns the survivors, in input
 * order, as a new spill file.  Beyond the last level the budget no
 * longer applies: splitting cannot separate equal fingerprints. */
static FILE *
dedup_file(FILE *f, unsigned level, int try_memory)
{
	size_t cap = level > SA_SPILL_MAXLEVEL ? 0 : budget;
	struct sa_fptab *t;
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	struct winner *w;
	uintmax_t d = 0;
	FILE *out;
	int isnew, ok = 1;

	if (!try_memory)
		return split(f, level);
	out = sa_spill_file();
	sa_spill_rewind(f);
	if (mode == KEEP_FIRST) {
		t = sa_fptab_new(0, cap);
		while (sa_spill_read(f, &rec, &buf)) {
			if (sa_fptab_get(t, rec.fp, &isnew) == NULL) {
				ok = 0;
				break;
			}
			if (rec.b == MARKER)
				continue;
			if (isnew)
				sa_spill_write(out, &rec);
			else
				d++;
		}
	} else {
		t = sa_fptab_new(winner_size(), cap);
		sa_buf_reset(&pool);
		while (ok && sa_spill_read(f, &rec, &buf))
			ok = offer(t, rec.fp, rec.a, rec.q, rec.qlen);
		if (ok) {
			sa_spill_rewind(f);
			while (sa_spill_read(f, &rec, &buf)) {
				w = sa_fptab_find(t, rec.fp);
				if (w->seq == rec.a)
					sa_spill_write(out, &rec);
				else
					d++;
			}
		}
		sa_buf_free(&pool);
	}
	sa_fptab_free(t);
	sa_buf_free(&buf);
	if (!ok) {
		fclose(out);
		return split(f, level);
	}
	dups += d;
	return out;
}

/* Writes the LINE of a survivor whose fingerprint is FP: to standard
 * output, or to its shard's file. */
static void
put(struct sa_fp fp, const char *line, size_t len)
{
	if (shard_files != NULL)
		sa_shard_files_put(shard_files, fp, line, len);
	else
		sa_sink_put(sink, line, len);
	sa_stats.out++;
}

static void
write_spilled(FILE *f)
{
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };

	sa_spill_rewind(f);
	while (sa_spill_read(f, &rec, &buf))
		put(rec.fp, rec.p, rec.plen);
	sa_buf_free(&buf);
}

static void
write_marker(struct sa_fp fp, void *payload, void *arg)
{
	struct sa_spill_rec rec = { fp, 0, MARKER, NULL, NULL, 0, 0 };

	(void)payload;
	sa_spill_write(arg, &rec);
}

/* The input pass, in the main thread: its table (global, so that it is
 * still reachable when a bad record ends the program), its spool and the
 * position of the last record taken. */
static struct sa_fptab *t;
static FILE *spool;
static int spool_fd;		/* --keep last and --latest */
static uint64_t seq;
static struct sa_input *input;

/* Whether standard input is a pipe, FIFO, socket or terminal, where the
 * next record may be long in coming. */
static int slow_stdin = -1;

/* Flushes the records written so far when standard input has nothing to
 * read at once, so that "| head" sees them without waiting for more. */
static void
flush_if_idle(void)
{
	struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
	struct stat st;

	if (mode != KEEP_FIRST || spool != NULL || sa_out.len == 0 ||
	    input->cur == 0 || strcmp(input->files[input->cur - 1], "-") != 0)
		return;
	if (slow_stdin < 0)
		slow_stdin = fstat(STDIN_FILENO, &st) == 0 &&
		    (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) ||
		    S_ISSOCK(st.st_mode));
	if (slow_stdin && poll(&p, 1, 0) == 0)
		sa_out_flush();
}

/*
 * Takes the next record kept, in input order: its fingerprint FP, output
 * line P and --latest value Q.  --keep first writes first occurrences as
 * they come; past the budget, it spools the rest behind markers for the
 * fingerprints already written.  --keep last and --latest spool every
 * record; the winners are known at the end.
 */
static void
keep(struct sa_fp fp, const char *p, size_t plen, const char *q,
    size_t qlen)
{
	struct sa_spill_rec sr = { fp, ++seq, 0, p, q, plen, qlen };
	int isnew;

	if (mode != KEEP_FIRST) {
		sa_spill_write(spool, &sr);
		if (t != NULL && !offer(t, fp, seq, q, qlen)) {
			sa_fptab_free(t);
			sa_buf_free(&pool);
			t = NULL;
		}
		return;
	}
	if (spool == NULL && sa_fptab_get(t, fp, &isnew) == NULL) {
		spool = sa_spill_file();
		sa_fptab_each(t, write_marker, spool);
		sa_fptab_free(t);
		t = NULL;
	}
	if (spool != NULL)
		sa_spill_write(spool, &sr);
	else if (isnew)
		put(fp, p, plen);
	else
		dups++;
}

/* --keep last and --latest with every fingerprint in memory: the second
 * pass over the spool (read a block at a time, not a record) writes the
 * winners.  With threads, a writer thread writes one buffer of them while
 * this one reads and fills the other. */
static void
write_winners(void)
{
	struct sa_spill_rec sr;
	struct sa_spill_scan m;
	struct sa_buf *b = NULL;
	struct sa_bgwrite *bg = NULL;
	struct winner *w;

	if (nthreads > 1 && shard_files == NULL && !sa_sink_spools(sink)) {
		sa_out_flush();
		bg = sa_bgwrite_start(STDOUT_FILENO, &b);
	}
	sa_spill_scan_begin(&m, spool, spool_fd);
	while (sa_spill_scan_next(&m, &sr)) {
		w = sa_fptab_find(t, sr.fp);
		if (w->seq != sr.a)
			dups++;
		else if (bg == NULL)
			put(sr.fp, sr.p, sr.plen);
		else {
			sa_stats.out++;
			if (sa_bgwrite_add(bg, &b, sr.p, sr.plen) != 0)
				sa_out_failed();
		}
	}
	sa_spill_scan_end(&m);
	if (bg != NULL && sa_bgwrite_end(bg, b) != 0)
		sa_out_failed();
}

/* After the input pass: what was spooled, deduplicated and written. */
static void
finish(void)
{
	FILE *res;

	if (t != NULL && mode != KEEP_FIRST) {
		write_winners();
		sa_buf_free(&pool);
	} else if (spool != NULL) {
		res = dedup_file(spool, 0, 0);
		write_spilled(res);
		fclose(res);
	}
	sa_fptab_free(t);
	t = NULL;
	if (spool != NULL)
		fclose(spool);
	spool = NULL;
}

/* In a worker: good record REC as an item in chunk C, unless it is
 * rejected or in another shard. */
static void
record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	struct sa_buf *b;
	struct item it;
	size_t off;

	(void)w;
	if (!fingerprint(c, rec, &it.fp) || !sa_shard_keep(&shard, it.fp))
		return;
	b = sa_chunk_buf(c, 0);
	off = b->len;
	sa_buf_grow(b, sizeof(it));
	b->len += sizeof(it);
	sa_sink_format_val(sink, b, rec->root);
	it.plen = b->len - off - sizeof(it);
	if (mode == KEEP_LATEST)
		latest_value(rec, b);
	it.qlen = b->len - off - sizeof(it) - it.plen;
	memcpy(b->s + off, &it, sizeof(it));
}

/* In the main thread: the items of a chunk, in input order. */
static void
take(int tag, const char *s, size_t len)
{
	struct item it;
	const char *p;

	(void)tag;
	while (len > 0) {
		memcpy(&it, s, sizeof(it));
		p = s + sizeof(it);
		keep(it.fp, p, it.plen, p + it.plen, it.qlen);
		s = p + it.plen + it.qlen;
		len -= sizeof(it) + it.plen + it.qlen;
	}
	flush_if_idle();
}

static void
worker_free(void *w)
{
	(void)w;
	sa_buf_free(&scratch);
	sa_buf_free(&msg);
	free(vals);
	vals = NULL;
	sa_sink_thread_done();
}

static const struct sa_chunk_ops ops = {
	NULL, worker_free, record, take
};

/* --threads 1, and input that is not line-delimited. */
static void
one_thread(struct sa_input *in, void *arg)
{
	struct sa_chunk *c = sa_chunk_new();
	struct sa_record rec;

	(void)arg;
	flush_if_idle();
	while (sa_input_next(in, &rec) == SA_OK) {
		record(NULL, c, &rec);
		sa_chunk_flush(c, &ops);
	}
	sa_chunk_free(c);
}

/* --shard-dir: the files of the one-pass split.  A TSV file begins with
 * the header of the input; JSON read and TSV written would need a
 * second pass per shard to learn its columns. */
static void
open_shard_files(const char *dir, unsigned n, enum sa_format ofmt,
    const char *const *cols, size_t ncols)
{
	struct sa_buf header = { 0 };

	if (ofmt == SA_FMT_TSV && cols == NULL)
		sa_usage_error("--shard-dir writes TSV only from one TSV input; "
		    "write NDJSON (-j) and convert each shard");
	if (ofmt == SA_FMT_TSV)
		sa_write_tsv_header(&header, cols, ncols);
	shard_files = sa_shard_files_open(dir, n,
	    ofmt == SA_FMT_TSV ? "tsv" : "ndjson",
	    ofmt == SA_FMT_TSV ? &header : NULL);
	sa_buf_free(&header);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "latest", required_argument, NULL, OPT_LATEST },
		{ "memory", required_argument, NULL, 'm' },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "shards", required_argument, NULL, OPT_SHARDS },
		{ "shard-dir", required_argument, NULL, OPT_SHARD_DIR },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "tsv", no_argument, NULL, 't' },
		{ "ndjson", no_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'j' },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sa_input in;
	enum sa_format ofmt = SA_FMT_UNKNOWN, ifmt;
	const char *const *cols = NULL;
	size_t ncols = 0, memory = 256 << 20;
	static char extra[64];
	const char *shard_dir = NULL;
	unsigned nshards = 0, threads = sa_threads_default();
	int c, keep_set = 0;

	sa_setprog(argv[0]);
	sa_out_init();
	while ((c = getopt_long(argc, argv, "hk:m:tj", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			sa_list_add("-k", optarg, ',', &keys, &nkeys);
			break;
		case OPT_KEEP:
			if (strcmp(optarg, "first") == 0)
				mode = KEEP_FIRST;
			else if (strcmp(optarg, "last") == 0)
				mode = KEEP_LAST;
			else
				sa_usage_error("--keep: expected first or "
				    "last, not '%s'", optarg);
			keep_set = 1;
			break;
		case OPT_LATEST:
			latest = optarg;
			break;
		case 'm':
			memory = sa_parse_size("-m", optarg, 1 << 20);
			break;
		case OPT_SHARD:
			sa_shard_parse(&shard, "--shard", optarg);
			break;
		case OPT_SHARDS:
			nshards = sa_parse_int("--shards", optarg, 1,
			    SA_SHARD_FILES_MAX);
			break;
		case OPT_SHARD_DIR:
			if (*optarg == '\0')
				sa_usage_error("--shard-dir: the directory name "
				    "is empty");
			shard_dir = optarg;
			break;
		case OPT_THREADS:
			threads = sa_threads_parse("--threads", optarg);
			break;
		case 't':
			ofmt = SA_FMT_TSV;
			break;
		case 'j':
			ofmt = SA_FMT_JSON;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (latest != NULL && keep_set)
		sa_usage_error("--keep and --latest cannot be combined");
	if (latest != NULL)
		mode = KEEP_LATEST;
	if ((nshards == 0) != (shard_dir == NULL))
		sa_usage_error("--shards and --shard-dir go together");
	if (nshards > 0 && shard.n > 0)
		sa_usage_error("--shard and --shard-dir cannot be combined");
	/* What the tables may use; the rest is for buffers. */
	budget = sa_memory_budget(memory, threads);

	sa_input_init(&in, argc - optind, argv + optind);
	ifmt = sa_input_format(&in);
	if (ofmt == SA_FMT_UNKNOWN)
		ofmt = ifmt == SA_FMT_TSV ? SA_FMT_TSV : SA_FMT_JSON;
	/* One TSV file: its header is the output's.  Several files may
	 * have other columns: the sink collects them all. */
	if (ofmt == SA_FMT_TSV && ifmt == SA_FMT_TSV && in.nfiles == 1)
		cols = sa_reader_columns(in.r, &ncols);
	sink = sa_sink_new(ofmt, cols, ncols);
	if (shard_dir != NULL) {
		/* The header the sink buffered for standard output goes to
		 * each file instead: standard output carries no records. */
		sa_out.len = 0;
		open_shard_files(shard_dir, nshards, ofmt, cols, ncols);
	}
	input = &in;
	if (mode == KEEP_FIRST)
		t = sa_fptab_new(0, budget);
	else {
		spool = sa_tmpfile_buffered_fd(&spool_fd);
		t = sa_fptab_new(winner_size(), budget);
	}
	nthreads = threads;
	sa_chunks_run(&in, threads, &ops, one_thread, NULL);
	finish();
	sa_input_close(&in);
	/* A bad record ended the run (its status is in.status) unless
	 * --rejects took it: then the files are not named. */
	if (shard_files != NULL && in.status == 0)
		sa_shard_files_commit(shard_files);
	sa_sink_finish(sink);
	worker_free(NULL);
	snprintf(extra, sizeof(extra), "\"duplicates\":%ju", dups);
	sa_stats_extra(extra);
	return in.status;
}
