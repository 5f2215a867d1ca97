/*
 * fetch-each.c: child resources fetched for each parent record (--each,
 * --batch), and top-level pages fetched N at a time, always written in
 * order.
 *
 * A window holds up to --parallel jobs, a job being one parent, one batch
 * of parents, or one top-level page.  Each job has one request in flight
 * or one page in hand.  Only the oldest job, the head, writes: its pages
 * are written as they come and its next page is asked for; a later job
 * waits with its first page until it is the head.  So the output is that
 * of --parallel 1 and memory holds at most N pages.
 */
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

uintmax_t each_parents, each_missing, fetch_pages;

static struct each_opts eo;
/* The template: LITS[0] {FIELDS[0]} LITS[1] ... {FIELDS[NF-1]} LITS[NF] */
static char **lits, **fields;
static size_t nf;
/* --parent-key paths and the names of their members in the output. */
static char **keys, **names;
static size_t nkeys;

struct parent {
	char *prefix;		/* its key members, JSON */
	char **vals;		/* text of the template fields */
	size_t *lens;
	struct sa_buf out;	/* a batch: its children, until the end */
};

struct job {
	struct job *next;
	struct parent *parents;
	size_t nparents;
	struct http_req req;
	struct chain ch;
	char *url;		/* of the request in flight */
	long long number;	/* a top-level page: its number or offset */
	/* A parent that cannot be fetched, rejected in its turn. */
	char *bad, *bad_file, *bad_text;
	uintmax_t bad_line;
};

static struct job *head, *tail;
static size_t njobs;
static struct sa_arena *arena;
static struct sa_buf scratch;
static char stats_text[256];

void
fetch_stats_refresh(void)
{
	int n = 0;

	if (eo.tmpl != NULL)
		n = snprintf(stats_text, sizeof(stats_text), "\"parents\":%ju,"
		    "\"missing\":%ju,", each_parents, each_missing);
	snprintf(stats_text + n, sizeof(stats_text) - n, "\"max_in_flight\":"
	    "%ju,\"pages\":%ju,\"requests\":%ju,\"retries\":%ju",
	    http_stats.max_in_flight, fetch_pages, http_stats.requests,
	    http_stats.retries);
}

void
each_init(const struct each_opts *o)
{
	const char *p = o->tmpl, *open, *close;
	size_t i, j;

	eo = *o;
	sa_stats_extra(stats_text);
	fetch_stats_refresh();
	/* Runs before the hook that prints --stats: a run that fails counts
	 * the requests it made too. */
	atexit(fetch_stats_refresh);
	if (o->tmpl == NULL)
		return;
	lits = xcalloc(strlen(p) / 2 + 2, sizeof(char *));
	fields = xcalloc(strlen(p) / 2 + 1, sizeof(char *));
	while ((open = strchr(p, '{')) != NULL) {
		if ((close = strchr(open, '}')) == NULL)
			sa_usage_error("--each: an unclosed { in '%s'",
			    o->tmpl);
		if (close == open + 1 || memchr(open + 1, '{',
		    close - open - 1) != NULL)
			sa_usage_error("--each: '%.*s' names no field",
			    (int)(close - open + 1), open);
		lits[nf] = xstrndup(p, open - p);
		fields[nf++] = xstrndup(open + 1, close - open - 1);
		p = close + 1;
	}
	if (strchr(p, '}') != NULL)
		sa_usage_error("--each: a } without { in '%s'", o->tmpl);
	lits[nf] = xstrdup(p);
	if (nf == 0)
		sa_usage_error("--each: the template has no {FIELD}");
	if (o->batch > 0 && nf != 1)
		sa_usage_error("--batch: the template needs exactly one "
		    "{FIELD}");
	if (o->parent_key != NULL)
		sa_list_add("--parent-key", o->parent_key, ',', &keys,
		    &nkeys);
	else {
		keys = xcalloc(nf, sizeof(char *));
		for (i = 0; i < nf; i++) {
			for (j = 0; j < nkeys; j++)
				if (strcmp(keys[j], fields[i]) == 0)
					break;
			if (j == nkeys)
				keys[nkeys++] = xstrdup(fields[i]);
		}
	}
	names = xcalloc(nkeys, sizeof(char *));
	for (i = 0; i < nkeys; i++) {
		char *s = xmalloc(strlen(o->prefix) + strlen(keys[i]) + 1), *t;

		strcpy(s, o->prefix);
		strcat(s, keys[i]);
		/* A dotted path is named as sa-explode flattens it. */
		for (t = s + strlen(o->prefix); *t; t++)
			if (*t == '.')
				*t = '_';
		names[i] = s;
	}
}

static void
parent_free(struct parent *p)
{
	size_t i;

	for (i = 0; i < nf; i++)
		free(p->vals[i]);
	free(p->vals);
	free(p->lens);
	free(p->prefix);
	sa_buf_free(&p->out);
}

static void
job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->nparents; i++)
		parent_free(&j->parents[i]);
	free(j->parents);
	http_req_free(&j->req);
	free(j->ch.base);
	free(j->url);
	free(j->bad);
	free(j->bad_file);
	free(j->bad_text);
	free(j);
}

static void
append(struct job *j)
{
	if (tail != NULL)
		tail->next = j;
	else
		head = j;
	tail = j;
	njobs++;
	if (j->url != NULL)
		http_start(&j->req, j->url);
}

/* Reads parent REC into P; returns NULL, or what makes it bad. */
static char *
parent_read(struct parent *p, const struct sa_record *rec)
{
	struct sa_buf b = { 0 };
	const struct sa_val *v;
	const char *s;
	size_t i, len;
	char *why;

	memset(p, 0, sizeof(*p));
	p->vals = xcalloc(nf, sizeof(char *));
	p->lens = xcalloc(nf, sizeof(size_t));
	for (i = 0; i < nf; i++) {
		v = sa_get_path(rec->root, fields[i]);
		if (v == NULL || v->type == SA_NULL ||
		    v->type == SA_OBJECT || v->type == SA_ARRAY) {
			if (asprintf(&why, "field \"%s\" of the template is "
			    "%s", fields[i], v == NULL ? "missing" :
			    v->type == SA_NULL ? "null" :
			    "not a string or a number") < 0)
				sa_die(EX_OSERR, "out of memory");
			return why;
		}
		sa_val_text(v, &scratch, &s, &len);
		p->vals[i] = xstrndup(s, len);
		p->lens[i] = len;
	}
	for (i = 0; i < nkeys; i++) {
		if (i > 0)
			sa_buf_addc(&b, ',');
		sa_json_string(&b, names[i], strlen(names[i]));
		sa_buf_addc(&b, ':');
		if ((v = sa_get_path(rec->root, keys[i])) != NULL)
			sa_json_append(&b, v);
		else
			sa_buf_adds(&b, "null");
	}
	p->prefix = b.s ? b.s : xstrdup("");
	return NULL;
}

/* The template filled in with the values of parents P[N]; a batch joins
 * the values of its placeholder with --batch-sep. */
static char *
fill_template(const struct parent *p, size_t n)
{
	struct sa_buf b = { 0 };
	size_t i, k;

	for (i = 0; i < nf; i++) {
		sa_buf_adds(&b, lits[i]);
		for (k = 0; k < n; k++) {
			if (k > 0)
				sa_buf_adds(&b, eo.batch_sep);
			url_escape(&b, p[k].vals[i], p[k].lens[i]);
		}
	}
	sa_buf_adds(&b, lits[nf]);
	return b.s;
}

/* A parent that cannot be fetched keeps its place as a job of its own:
 * the text RAW[LEN] of FILE:LINE, and WHY (taken). */
static struct job *
bad_job(const char *file, uintmax_t line, const char *raw, size_t len,
    char *why)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->bad = why;
	j->bad_file = xstrdup(file);
	j->bad_line = line;
	j->bad_text = xstrndup(raw, len);
	j->nparents = 1;
	j->parents = xcalloc(1, sizeof(struct parent));
	j->parents[0].vals = xcalloc(nf, sizeof(char *));
	return j;
}

/*
 * The next parent record of IN: SA_OK, SA_EOF, or SA_BAD for text that is
 * not a record.  Unlike sa_input_next(), which reports a bad record as it
 * reads it, this leaves it to the caller, so that a bad line read ahead
 * of the parents before it is reported in its turn, after their children.
 */
static int
parent_next(struct sa_input *in, struct sa_record *rec)
{
	int st;

	for (;;) {
		sa_input_format(in);	/* opens the next file, if need be */
		if (in->r == NULL)
			return SA_EOF;
		st = sa_reader_next(in->r, rec);
		sa_stats.bytes += sa_reader_bytes(in->r) - in->counted;
		in->counted = sa_reader_bytes(in->r);
		if (st != SA_EOF)
			return st;
		sa_reader_close(in->r);
		in->r = NULL;
	}
}

static void
start_parents(struct job *j)
{
	char *u = fill_template(j->parents, j->nparents);

	j->url = chain_first(&j->ch, u);
	free(u);
	append(j);
}

/* Reads parents into new jobs while the window has room. */
static void
fill(struct sa_input *in, int *eof)
{
	static struct job *batch;
	struct sa_record rec;
	struct parent p;
	const char *raw = NULL;
	char *why;
	size_t len = 0, cap = eo.batch > 0 ? (size_t)eo.batch : 1;
	int st;

	while (!*eof && njobs < (size_t)http_opt.parallel) {
		if ((st = parent_next(in, &rec)) == SA_EOF) {
			*eof = 1;
			break;
		}
		if (st == SA_BAD) {
			raw = sa_reader_raw(in->r, &len);
			why = xstrdup(sa_reader_error(in->r));
		} else if ((why = parent_read(&p, &rec)) != NULL) {
			parent_free(&p);
			sa_buf_reset(&scratch);
			sa_json_append(&scratch, rec.root);
			raw = scratch.s;
			len = scratch.len;
		}
		if (why != NULL) {
			if (batch != NULL) {
				start_parents(batch);
				batch = NULL;
			}
			append(bad_job(rec.file, rec.line, raw, len, why));
			continue;
		}
		if (batch == NULL) {
			batch = xcalloc(1, sizeof(*batch));
			batch->parents = xcalloc(cap, sizeof(struct parent));
		}
		batch->parents[batch->nparents++] = p;
		if (batch->nparents == cap) {
			start_parents(batch);
			batch = NULL;
		}
	}
	if (*eof && batch != NULL) {
		start_parents(batch);
		batch = NULL;
	}
}

/* Gives each record of a batch's page to the parents whose value its
 * --batch-key holds. */
static void
distribute(struct job *j, struct page *pg, struct sa_val **recs, size_t n)
{
	const struct sa_val *v;
	const char *s;
	size_t i, k, len, got;

	for (i = 0; i < n; i++) {
		got = 0;
		v = recs[i]->type == SA_OBJECT ? sa_get_path(recs[i],
		    eo.batch_key) : NULL;
		if (v != NULL && v->type != SA_OBJECT &&
		    v->type != SA_ARRAY && sa_val_text(v, &scratch, &s, &len))
			for (k = 0; k < j->nparents; k++)
				if (j->parents[k].lens[0] == len &&
				    memcmp(j->parents[k].vals[0], s, len) == 0) {
					page_write(&j->parents[k].out, pg,
					    recs + i, 1, j->parents[k].prefix,
					    names, nkeys);
					/* Counted once, however many take it. */
					if (got++ > 0)
						sa_stats.in--;
				}
		if (got == 0 && recs[i]->type == SA_OBJECT) {
			sa_stats.in++;
			sa_reject(pg->url, i + 1, NULL, 0, recs[i], "record "
			    "%zu of the page: its %s matches no parent of the "
			    "batch", i + 1, eo.batch_key);
		} else if (got == 0)
			page_write(&sa_out, pg, recs + i, 1, "", NULL, 0);
	}
}

/* Writes the page in hand of the head job; returns the next request of
 * that job, or NULL when it is complete. */
static char *
write_page(struct job *j)
{
	struct http_page *hp = &j->req.page;
	struct sa_val **recs;
	struct page pg;
	size_t n;
	char *next;

	sa_arena_reset(arena);
	pg.url = hp->url;
	pg.body = hp->body.s ? hp->body.s : "";
	pg.len = hp->body.len;
	page_parse(&pg, arena);
	n = page_records(&pg, &recs);
	sa_stats.bytes += hp->body.len;
	if (eo.tmpl == NULL)
		since_see(recs, n);
	if (eo.batch > 0)
		distribute(j, &pg, recs, n);
	else
		page_write(&sa_out, &pg, recs, n,
		    j->nparents > 0 ? j->parents[0].prefix : "", names,
		    nkeys);
	st.pages++;
	st.records += n;
	fetch_pages++;
	if (eo.tmpl == NULL)
		return NULL;	/* a top-level page: the numbers go on */
	next = chain_next(&j->ch, &pg, hp, n, j->url);
	if (next != NULL && paging.max_pages > 0 &&
	    j->ch.pages >= paging.max_pages) {
		free(next);
		next = NULL;
	}
	return next;
}

/* Works on the head job until it is complete, then removes it. */
static void
advance(void)
{
	struct job *j = head;
	char *next;
	size_t k;

	if (j->bad != NULL) {
		sa_reject(j->bad_file, j->bad_line, j->bad_text,
		    strlen(j->bad_text), NULL, "%s", j->bad);
		each_parents++;
	} else
		for (;;) {
			http_wait(&j->req);
			if (j->req.status != 0) {
				if (j->req.http_status == 404 &&
				    eo.missing_skip) {
					each_missing++;
					break;
				}
				sa_die(j->req.status, "%s", j->req.error);
			}
			next = write_page(j);
			sa_out_flush();
			fetch_stats_refresh();
			if (next == NULL)
				break;
			free(j->url);
			j->url = next;
			http_start(&j->req, next);
		}
	for (k = 0; eo.batch > 0 && k < j->nparents; k++)
		if (j->parents[k].out.len > 0)
			sa_buf_add(&sa_out, j->parents[k].out.s,
			    j->parents[k].out.len);
	sa_out_flush();
	if (eo.tmpl != NULL) {
		if (j->bad == NULL)
			each_parents += j->nparents;
		st.parents += j->nparents;
	}
	fetch_stats_refresh();
	head = j->next;
	if (head == NULL)
		tail = NULL;
	njobs--;
	if (eo.tmpl != NULL)
		state_step(NULL, 0);
	job_free(j);
}

int
each_run(char **files, int nfiles, long long skip)
{
	struct sa_input in;
	struct sa_record rec;
	int eof = 0;

	arena = sa_arena_new();
	sa_input_init(&in, nfiles, files);
	/* A resumed run skips the parents the last one wrote completely. */
	for (; skip > 0; skip--)
		if (parent_next(&in, &rec) == SA_EOF)
			break;
	for (;;) {
		fill(&in, &eof);
		if (head == NULL)
			break;
		advance();
	}
	sa_input_close(&in);
	sa_arena_free(arena);
	sa_buf_free(&scratch);
	state_step(NULL, 1);
	return in.status;
}

void
pages_run(struct chain *ch, long long end, long long step)
{
	const char *param = paging.mode == BY_PAGE ? paging.page_param :
	    paging.offset_param;
	long long *pos = paging.mode == BY_PAGE ? &st.page : &st.offset;
	long long k = *pos;
	struct job *j;
	char *next;

	arena = sa_arena_new();
	for (;;) {
		while (k < end && njobs < (size_t)http_opt.parallel) {
			j = xcalloc(1, sizeof(*j));
			j->number = k;
			j->url = url_with_number(ch->base, param, k);
			append(j);
			k += step;
		}
		if (head == NULL)
			break;
		*pos = head->number + step;
		next = *pos < end ? url_with_number(ch->base, param, *pos) :
		    NULL;
		advance();
		state_step(next, next == NULL);
		free(next);
	}
	sa_arena_free(arena);
	sa_buf_free(&scratch);
}

void
each_cleanup(void)
{
	size_t i;

	for (i = 0; lits != NULL && i <= nf; i++)
		free(lits[i]);
	for (i = 0; i < nf; i++)
		free(fields[i]);
	for (i = 0; i < nkeys; i++) {
		free(keys[i]);
		free(names[i]);
	}
	free(lits);
	free(fields);
	free(keys);
	free(names);
	lits = fields = keys = names = NULL;
	nf = nkeys = 0;
}
