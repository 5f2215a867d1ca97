/* sa-explode: flatten nested records; explode arrays into child rows. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "explode.h"

static struct sa_flat_opts fo = { "_", 1, 0, NULL, 0, 0, NULL, 0 };
static char **keys;
static size_t nkeys;
static char **segs;
static size_t nsegs;
static int keep_empty;
static struct sa_shard shard;
enum { OPT_SHARD = 0x2000, OPT_THREADS };

/* Each worker thread's own (--threads). */
static __thread struct pending *rows;
static __thread size_t nrows, rows_cap;
static __thread struct sa_arena *scratch;	/* made-up values of a record */

static void
usage(void)
{
	printf("usage: sa-explode [-t] [-p PATH] [-k KEY[,KEY...]] [--keep-empty]\n"
	    "                  [--split DIR --name NAME] [--max-depth N] [--drop GLOB]\n"
	    "                  [--columns GLOB[,GLOB...]] [--sep SEP] [--shard I/N]\n"
	    "                  [--threads N]\n"
	    "                  [--rejects FILE] [--stats] [--quiet] [--metrics FILE]\n"
	    "                  [--metrics-label NAME=VALUE] [FILE...]\n"
	    "\n"
	    "Flatten nested JSON records into rows; explode arrays into child rows.\n"
	    "\n"
	    "  -p, --path PATH      one row per element of the array at PATH (dotted:\n"
	    "                       territories.tags explodes both levels)\n"
	    "  -k, --key KEYS       parent key columns each row carries (default id)\n"
	    "      --keep-empty     a row of parent keys for an empty or missing array\n"
	    "      --split DIR      write the whole model: DIR/NAME.ndjson and one file\n"
	    "                       per array of objects, DIR/NAME__PATH.ndjson\n"
	    "      --name NAME      base name of the --split files\n"
	    "      --max-depth N    objects deeper than N stay whole as JSON\n"
	    "      --drop GLOB      leave out columns matching GLOB (repeatable)\n"
	    "      --columns GLOB[,GLOB...]\n"
	    "                       keep only the columns matching a GLOB\n"
	    "      --sep SEP        joins the keys of nested names (default _)\n"
	    "      --shard I/N      only the records whose -k key is in shard I of N\n"
	    "      --threads N      read line-delimited input with N threads (default:\n"
	    "                       one per CPU); the output is that of one thread\n"
	    "  -t, --tsv            write PostgreSQL COPY text with a header (the rows\n"
	    "                       wait in a file under $TMPDIR until it is known)\n"
	    "  -j, --ndjson         write NDJSON (the default; also --json)\n"
	    "      --rejects FILE   write bad records to FILE and go on\n"
	    "      --stats          print a JSON line of counters on stderr at exit\n"
	    "      --quiet          no progress line or warnings\n"
	    "      --metrics FILE   write the --stats figures for Prometheus at exit\n"
	    "      --metrics-label NAME=VALUE\n"
	    "                       add a label to them (repeatable)\n"
	    "  -h, --help           show this help\n"
	    "      --version        show the version\n");
}

/* Rows of the record being processed. */

static struct sa_row *
new_row(int s, const struct sa_col *ctx, size_t nctx)
{
	struct pending *p;
	size_t i;

	if (nrows == rows_cap) {
		rows = xrealloc(rows, (rows_cap + 8) * sizeof(*rows));
		for (i = rows_cap; i < rows_cap + 8; i++)
			sa_row_init(&rows[i].row);
		rows_cap += 8;
	}
	p = &rows[nrows++];
	sa_row_reset(&p->row);
	p->sink = s;
	for (i = 0; i < nctx; i++)
		sa_row_add(&p->row, &fo, ctx[i].name, ctx[i].namelen,
		    ctx[i].v);
	return &p->row;
}

/* Context: the columns that tie a child row to its ancestors. */
struct ctx {
	struct sa_col *cols;
	size_t n, cap;
};

static void
ctx_add(struct ctx *c, const char *name, size_t len, const struct sa_val *v)
{
	char *copy = sa_arena_alloc(scratch, len + 1);

	memcpy(copy, name, len);
	copy[len] = '\0';
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->cols = xrealloc(c->cols, c->cap * sizeof(*c->cols));
	}
	c->cols[c->n].name = copy;
	c->cols[c->n].namelen = len;
	c->cols[c->n++].v = v;
}

static void
ctx_copy(struct ctx *dst, const struct ctx *src)
{
	size_t i;

	dst->n = 0;
	for (i = 0; i < src->n; i++)
		ctx_add(dst, src->cols[i].name, src->cols[i].namelen,
		    src->cols[i].v);
}

static void
join_name(struct sa_buf *b, const char *prefix, size_t plen, const char *name,
    size_t len)
{
	sa_buf_reset(b);
	if (plen > 0) {
		sa_buf_add(b, prefix, plen);
		sa_buf_add(b, fo.sep, fo.seplen);
	}
	sa_buf_add(b, name, len);
}

/* Adds the -k columns of object O, named under PREFIX. */
static void
ctx_keys(struct ctx *c, const struct sa_val *o, const char *prefix, size_t plen)
{
	struct sa_buf name = { 0 }, k = { 0 };
	const char *p;
	size_t i;

	for (i = 0; i < nkeys; i++) {
		sa_buf_reset(&k);
		for (p = keys[i]; *p != '\0'; p++)
			if (*p == '.')
				sa_buf_add(&k, fo.sep, fo.seplen);
			else
				sa_buf_addc(&k, *p);
		join_name(&name, prefix, plen, k.s, k.len);
		ctx_add(c, name.s, name.len, sa_get_path(o, keys[i]));
	}
	sa_buf_free(&name);
	sa_buf_free(&k);
}

static void
ctx_idx(struct ctx *c, const char *prefix, size_t plen, const struct sa_val *v)
{
	struct sa_buf name = { 0 };

	join_name(&name, prefix, plen, "idx", 3);
	ctx_add(c, name.s, name.len, v);
	sa_buf_free(&name);
}

static struct sa_val *
number(uintmax_t n)
{
	char s[24], *p = s + sizeof(s);

	/* Not snprintf: this is every exploded row's idx. */
	do
		*--p = '0' + n % 10;
	while ((n /= 10) > 0);
	return sa_val_new(scratch, SA_NUMBER, p, s + sizeof(s) - p);
}

/* Fills ROW with element E of an exploded array named PREFIX. */
static __thread char error[512];

/* Keeps the message of a row that failed. */
static int
check(int ok, const struct sa_row *row)
{
	if (!ok && error[0] == '\0')
		snprintf(error, sizeof(error), "%s", row->error);
	return ok;
}

static int
element_columns(struct sa_row *row, const struct sa_val *e, const char *prefix,
    size_t plen)
{
	if (e->type == SA_OBJECT)
		return check(sa_flatten(&fo, row, e, prefix, plen, 1), row);
	return check(sa_row_add(row, &fo, prefix, plen, e), row);
}

/* -p: explodes the array found from O along segs[S...]. */
static int
explode(const struct sa_val *o, size_t s, const char *prefix, size_t plen,
    const struct ctx *ctx)
{
	struct sa_buf name = { 0 };
	const struct sa_val *v = NULL, *cur = o, *e;
	struct ctx child = { 0 };
	struct sa_row *row;
	uintmax_t i;
	int ok = 1;

	sa_buf_add(&name, prefix, plen);
	while (s < nsegs) {
		v = sa_get(cur, segs[s], strlen(segs[s]));
		if (name.len > 0)
			sa_buf_add(&name, fo.sep, fo.seplen);
		sa_buf_adds(&name, segs[s]);
		s++;
		if (v == NULL || v->type != SA_OBJECT || s == nsegs)
			break;
		cur = v;
	}
	if (v != NULL && v->type == SA_OBJECT && v->len > 0) {
		/* A path that ends at an object: one row of its fields. */
		row = new_row(0, ctx->cols, ctx->n);
		ok = element_columns(row, v, name.s, name.len);
		goto done;
	}
	if (v == NULL || v->type != SA_ARRAY || v->len == 0) {
		if (keep_empty) {
			row = new_row(0, ctx->cols, ctx->n);
			ctx_idx(&child, name.s, name.len, NULL);
			ok = check(sa_row_add(row, &fo, child.cols[0].name,
			    child.cols[0].namelen, NULL), row);
		}
		goto done;
	}
	for (e = v->child, i = 0; e != NULL && ok; e = e->next, i++) {
		ctx_copy(&child, ctx);
		ctx_idx(&child, name.s, name.len, number(i));
		if (s == nsegs) {
			row = new_row(0, child.cols, child.n);
			ok = element_columns(row, e, name.s, name.len);
		} else if (e->type == SA_OBJECT) {
			ctx_keys(&child, e, name.s, name.len);
			ok = explode(e, s, name.s, name.len, &child);
		}
	}
done:
	free(child.cols);
	sa_buf_free(&name);
	return ok;
}

/* --split: the row of object O under PREFIX into the file named REL, then
 * one child file per array of objects in it. */
static int
split(const struct sa_val *o, const char *rel, const char *prefix, size_t plen,
    const struct ctx *ctx)
{
	struct sa_buf childrel = { 0 };
	struct ctx child = { 0 }, base = { 0 };
	const struct sa_val *e;
	struct sa_row *row;
	size_t a, me, namelen;
	const char *name;
	uintmax_t i;
	int ok;

	row = new_row(sink_for(rel), ctx->cols, ctx->n);
	ok = check(sa_flatten(&fo, row, o, prefix, plen, 1), row);
	if (!ok)
		return 0;
	ctx_copy(&base, ctx);
	ctx_keys(&base, o, prefix, plen);
	/* new_row() may move the rows: find this one by its index. */
	me = nrows - 1;
	for (a = 0; ok && a < rows[me].row.narrays; a++) {
		const struct sa_val *arr = rows[me].row.arrays[a];

		name = rows[me].row.array_names[a];
		namelen = strlen(name);
		sa_buf_reset(&childrel);
		sa_buf_adds(&childrel, rel);
		sa_buf_add(&childrel, "__", 2);
		sa_buf_adds(&childrel, plen > 0 ? name + plen + fo.seplen :
		    name);
		for (e = arr->child, i = 0; ok && e != NULL; e = e->next, i++) {
			ctx_copy(&child, &base);
			ctx_idx(&child, name, namelen, number(i));
			if (e->type == SA_OBJECT)
				ok = split(e, childrel.s, name, namelen, &child);
			else {
				row = new_row(sink_for(childrel.s), child.cols,
				    child.n);
				ok = element_columns(row, e, name, namelen);
			}
		}
	}
	free(child.cols);
	free(base.cols);
	sa_buf_free(&childrel);
	return ok;
}

static int
process(const struct sa_val *rec)
{
	struct ctx root = { 0 };
	struct sa_row *row;
	int ok;

	error[0] = '\0';
	if (split_dir != NULL)
		ok = split(rec, "", "", 0, &root);
	else if (nsegs > 0) {
		ctx_keys(&root, rec, "", 0);
		ok = explode(rec, 0, "", 0, &root);
	} else {
		row = new_row(0, NULL, 0);
		ok = check(sa_flatten(&fo, row, rec, "", 0, 1), row);
	}
	free(root.cols);
	return ok;
}

static __thread struct sa_val **shard_vals;	/* in_shard()'s */
static __thread struct sa_buf shard_text;

/* --shard: whether record O's -k key is in the shard; a record without
 * one goes to shard 1, so that every record is in exactly one shard. */
static int
in_shard(const struct sa_val *o)
{
	struct sa_fp fp;
	size_t i;

	if (shard.n == 0)
		return 1;
	if (shard_vals == NULL)
		shard_vals = xcalloc(nkeys, sizeof(*shard_vals));
	for (i = 0; i < nkeys; i++)
		shard_vals[i] = sa_get_path(o, keys[i]);
	if (!sa_fp_key(shard_vals, nkeys, &shard_text, &fp))
		return shard.i == 1;
	return sa_shard_keep(&shard, fp);
}

/* A worker's state is the thread's own variables above. */
static void *
worker_new(void)
{
	scratch = sa_arena_new();
	return NULL;
}

static void
worker_free(void *w)
{
	size_t i;

	(void)w;
	for (i = 0; i < rows_cap; i++)
		sa_row_free(&rows[i].row);
	free(rows);
	rows = NULL;
	nrows = rows_cap = 0;
	sa_arena_free(scratch);
	scratch = NULL;
	sink_for_done();
	free(shard_vals);
	shard_vals = NULL;
	sa_buf_free(&shard_text);
	sa_flatten_thread_done();
}

static void
record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	size_t i;

	(void)w;
	if (!in_shard(rec->root))
		return;
	nrows = 0;
	sa_arena_reset(scratch);
	if (!process(rec->root)) {
		sa_chunk_reject(c, rec, NULL, 0, error);
		return;
	}
	for (i = 0; i < nrows; i++)
		put_row(c, &rows[i]);
	sa_chunk_count(c, nrows);
}

static const struct sa_chunk_ops ops = {
	worker_new, worker_free, record, take_rows
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "keep-empty", no_argument, NULL, 'E' },
		{ "split", required_argument, NULL, 'S' },
		{ "name", required_argument, NULL, 'N' },
		{ "max-depth", required_argument, NULL, 'D' },
		{ "drop", required_argument, NULL, 'X' },
		{ "columns", required_argument, NULL, 'C' },
		{ "sep", required_argument, NULL, 's' },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "tsv", no_argument, NULL, 't' },
		{ "ndjson", no_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'j' },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sa_input in;
	struct stat st;
	unsigned threads = sa_threads_default();
	size_t i;
	int c;

	sa_setprog(argv[0]);
	sa_out_init();
	sa_list_add("-k", "id", ',', &keys, &nkeys);
	while ((c = getopt_long(argc, argv, "p:k:tjh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			sa_list_free(&segs, &nsegs);
			sa_list_add("-p", optarg, '.', &segs, &nsegs);
			break;
		case 'k':
			sa_list_free(&keys, &nkeys);
			sa_list_add("-k", optarg, ',', &keys, &nkeys);
			break;
		case 'E':
			keep_empty = 1;
			break;
		case 'S':
			split_dir = optarg;
			break;
		case 'N':
			split_name = optarg;
			break;
		case 'D':
			fo.max_depth = sa_parse_int("--max-depth", optarg, 1,
			    1000000);
			break;
		case 'X':
			fo.drop = xrealloc(fo.drop,
			    (fo.ndrop + 1) * sizeof(*fo.drop));
			fo.drop[fo.ndrop++] = optarg;
			break;
		case 'C':
			sa_list_add("--columns", optarg, ',', &fo.keep,
			    &fo.nkeep);
			break;
		case 's':
			if (*optarg == '\0')
				sa_usage_error("--sep must not be empty");
			fo.sep = optarg;
			fo.seplen = strlen(optarg);
			break;
		case OPT_SHARD:
			sa_shard_parse(&shard, "--shard", optarg);
			break;
		case OPT_THREADS:
			threads = sa_threads_parse("--threads", optarg);
			break;
		case 't':
			tsv = 1;
			break;
		case 'j':
			tsv = 0;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if ((split_dir == NULL) != (split_name == NULL))
		sa_usage_error("--split and --name go together");
	if (split_dir != NULL && nsegs > 0)
		sa_usage_error("--split writes every array; it takes no --path");
	if (split_name != NULL && (*split_name == '\0' ||
	    strchr(split_name, '/') != NULL))
		sa_usage_error("--name must be a plain file name");
	if (split_dir != NULL) {
		if (mkdir(split_dir, 0777) != 0 && errno != EEXIST)
			sa_die_errno(EX_CANTCREAT, "%s", split_dir);
		if (stat(split_dir, &st) != 0 || !S_ISDIR(st.st_mode))
			sa_die(EX_CANTCREAT, "%s: not a directory", split_dir);
		sink_names_init();
		fo.split = 1;
	}
	sa_copy_text = tsv;
	out_sink.buf = &sa_out;
	sa_row_init(&out_sink.cols);
	if (split_dir == NULL) {
		sinks = xmalloc(sizeof(*sinks));
		sinks[nsinks++] = &out_sink;
	} else if (!tsv)
		sink_open(sink_at(sink_for("")));

	argc -= optind;
	argv += optind;
	sa_input_init(&in, argc, argv);
	nthreads = threads;
	sa_chunks_run(&in, threads, &ops, NULL, NULL);
	sa_input_close(&in);
	if (tsv) {
		if (split_dir != NULL)
			sink_for("");
		for (i = 0; i < nsinks; i++)
			if (sinks[i]->cols.n > 0 || split_dir != NULL)
				tsv_finish(sinks[i]);
	}
	/* Everything is written before the first file takes its name. */
	for (i = 0; i < nsinks; i++)
		sink_write(sinks[i]);
	if (in.status == 0)
		for (i = 0; i < nsinks; i++)
			sink_close(sinks[i]);
	sa_out_flush();
	return in.status;
}
