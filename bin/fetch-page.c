/*
 * fetch-page.c: a page parsed into exact values, its records, its next
 * cursor, and the request after it.
 *
 * libjq (jq 1.6) turns every number into a double, which would corrupt
 * 64-bit ids.  So the page is parsed twice: by yajl into sa_val trees that
 * keep numbers as written, and by libjq only to evaluate path(EXPR); the
 * paths are then followed in the exact tree.  Only an expression that
 * builds new values (not a path expression) has its results taken from
 * libjq itself.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "fetch.h"

struct expr {
	const char *opt, *src;
	jq_state *paths;	/* path(EXPR) */
	jq_state *values;	/* EXPR itself, for non-path expressions */
	int by_value;		/* EXPR proved not to be a path expression */
	int simple;		/* EXPR is ".a.b" or ".a.b[]": no jq needed */
	int iterate;		/* it ends in "[]" */
};

static struct expr records_expr, next_expr, total_expr;
static struct sa_buf jq_msg;
static struct sa_arena *arena;	/* of the page being worked on */

/* The page as a jv, parsed on first use. */
static jv doc;
static int have_doc;

/* Results of an expression, and the records of a page. */
static struct sa_val **vals, **recs;
static size_t nvals, capvals, nrecs, caprecs;

void
page_parse(struct page *pg, struct sa_arena *a)
{
	char *err;

	if (have_doc)
		jv_free(doc);
	have_doc = 0;
	arena = a;
	pg->root = sa_json_parse(a, pg->body, pg->len, &err);
	if (pg->root == NULL)
		sa_die(EX_DATAERR, "%s: the page is not valid JSON: %s",
		    pg->url, err);
}

static void
on_jq_error(void *ud, jv msg)
{
	(void)ud;
	msg = jq_format_error(msg);
	/* The first message says what is wrong; later ones count errors. */
	if (jq_msg.len == 0) {
		sa_buf_adds(&jq_msg, jv_string_value(msg));
		sa_buf_addc(&jq_msg, '\0');
		jq_msg.s[strcspn(jq_msg.s, "\n")] = '\0';
	}
	jv_free(msg);
}

static void
compile(jq_state **slot, const char *opt, const char *prog)
{
	jq_state *jq = *slot = jq_init();

	if (jq == NULL)
		sa_die(EX_SOFTWARE, "cannot initialise libjq");
	jq_set_error_cb(jq, on_jq_error, NULL);
	sa_buf_reset(&jq_msg);
	if (!jq_compile(jq, prog))
		sa_usage_error("%s: %s", opt, jq_msg.len ? jq_msg.s :
		    "cannot compile the expression");
}

static void push(struct sa_val ***, size_t *, size_t *, struct sa_val *);

/* Is SRC a chain of plain member names, ".a.b", perhaps ending in "[]"?
 * Those are followed in the exact tree directly, without parsing the page
 * a second time for jq. */
static int
is_simple(const char *s, int *iterate)
{
	size_t n = strlen(s);

	*iterate = n > 2 && strcmp(s + n - 2, "[]") == 0;
	if (*iterate)
		n -= 2;
	if (n == 1 && *s == '.')
		return 1;
	while (n > 0) {
		if (*s != '.' || n < 2 || !(isalpha((unsigned char)s[1]) ||
		    s[1] == '_'))
			return 0;
		s++, n--;
		while (n > 0 && (isalnum((unsigned char)*s) || *s == '_'))
			s++, n--;
	}
	return 1;
}

/* Follows a simple expression; returns 0 if the page has a shape where
 * jq would raise an error, so that jq can say what it is. */
static int
eval_simple(struct expr *e, struct page *pg)
{
	struct sa_val *v = pg->root, *c;
	const char *p = e->src, *q;

	nvals = 0;
	if (strcmp(p, ".") != 0 && strcmp(p, ".[]") != 0)
		while (*p == '.' && p[1] != '[' && v != NULL) {
			if (v->type == SA_NULL)
				v = NULL;
			else if (v->type != SA_OBJECT)
				return 0;
			else {
				for (q = ++p; *q != '\0' && *q != '.' &&
				    *q != '['; q++)
					;
				v = sa_get(v, p, q - p);
				p = q;
			}
		}
	if (!e->iterate) {
		if (v != NULL)
			push(&vals, &nvals, &capvals, v);
		return 1;
	}
	if (v == NULL || v->type != SA_ARRAY)
		return 0;
	for (c = v->child; c != NULL; c = c->next)
		push(&vals, &nvals, &capvals, c);
	return 1;
}

static void
expr_init(struct expr *e, const char *opt, const char *src)
{
	struct sa_buf p = { 0 };

	e->opt = opt;
	e->src = src;
	if (src == NULL)
		return;
	e->simple = is_simple(src, &e->iterate);
	compile(&e->values, opt, src);
	/* The newline ends a comment at the end of SRC. */
	sa_buf_adds(&p, "path(");
	sa_buf_adds(&p, src);
	sa_buf_adds(&p, "\n)");
	sa_buf_addc(&p, '\0');
	compile(&e->paths, opt, p.s);
	sa_buf_free(&p);
}

void
page_init(const char *records, const char *next, const char *total)
{
	/* jq keeps pointers to the ends of its blocks, which leak checkers
	 * cannot follow: tear it down on every exit. */
	atexit(page_cleanup);
	expr_init(&records_expr, "--records", records);
	expr_init(&next_expr, "--next", next);
	expr_init(&total_expr, "--total", total);
}

void
page_cleanup(void)
{
	jq_state **all[] = { &records_expr.paths, &records_expr.values,
		&next_expr.paths, &next_expr.values, &total_expr.paths,
		&total_expr.values };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (*all[i] != NULL)
			jq_teardown(all[i]);
	if (have_doc)
		jv_free(doc);
	have_doc = 0;
	sa_buf_free(&jq_msg);
	free(vals);
	free(recs);
	vals = recs = NULL;
	capvals = caprecs = 0;
}

static void
push(struct sa_val ***list, size_t *n, size_t *cap, struct sa_val *v)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*list = xrealloc(*list, *cap * sizeof(**list));
	}
	(*list)[(*n)++] = v;
}

/* Runs JQ over the page; returns every output in an array, or dies with
 * the jq error. */
static jv
run(struct expr *e, jq_state *jq, const struct page *pg, int *path_error)
{
	jv out = jv_array(), r;

	if (!have_doc) {
		doc = jv_parse_sized(pg->body, (int)pg->len);
		have_doc = 1;
		if (!jv_is_valid(doc)) {
			jv m = jv_invalid_get_msg(doc);

			doc = jv_null();
			sa_die(EX_DATAERR, "%s: jq cannot parse the page: %s",
			    pg->url, jv_get_kind(m) == JV_KIND_STRING ?
			    jv_string_value(m) : "invalid JSON");
		}
	}
	jq_start(jq, jv_copy(doc), 0);
	while (jv_is_valid(r = jq_next(jq)))
		out = jv_array_append(out, r);
	if (jv_invalid_has_msg(jv_copy(r))) {
		jv m = jv_invalid_get_msg(r);
		const char *s;

		if (jv_get_kind(m) != JV_KIND_STRING)
			m = jv_dump_string(m, 0);
		s = jv_string_value(m);
		if (path_error != NULL && strstr(s, "path expression")) {
			*path_error = 1;
			jv_free(m);
			jv_free(out);
			return jv_null();
		}
		sa_die(EX_DATAERR, "%s: %s: jq error: %s", pg->url, e->opt, s);
	}
	jv_free(r);
	return out;
}

/* Follows PATH (an array of keys and indexes) in the exact tree; sets
 * *OK to 0 for a path element it cannot follow (a slice). */
static struct sa_val *
follow(struct sa_val *v, jv path, int *ok)
{
	int i, n = jv_array_length(jv_copy(path));

	for (i = 0; i < n && v != NULL; i++) {
		jv k = jv_array_get(jv_copy(path), i);

		if (jv_get_kind(k) == JV_KIND_STRING) {
			v = sa_get(v, jv_string_value(k),
			    jv_string_length_bytes(jv_copy(k)));
		} else if (jv_get_kind(k) == JV_KIND_NUMBER &&
		    v->type == SA_ARRAY) {
			double d = jv_number_value(k);
			long idx = (long)d;
			struct sa_val *c;

			if (idx < 0)
				idx += (long)v->len;
			for (c = v->child; c != NULL && idx > 0; idx--)
				c = c->next;
			v = idx < 0 ? NULL : c;
		} else if (jv_get_kind(k) == JV_KIND_NUMBER ||
		    jv_get_kind(k) == JV_KIND_NULL)
			v = NULL;
		else
			*ok = 0;
		jv_free(k);
	}
	jv_free(path);
	return v;
}

/* Evaluates E over the page into VALS: values of the exact tree, or
 * values re-parsed from libjq's output for a non-path expression. */
static void
eval(struct expr *e, struct page *pg)
{
	jv out;
	int i, n, ok = 1, path_error = 0;

	if (e->simple && eval_simple(e, pg))
		return;
	nvals = 0;
	if (!e->by_value) {
		out = run(e, e->paths, pg, &path_error);
		n = path_error ? 0 : jv_array_length(jv_copy(out));
		for (i = 0; i < n && ok; i++) {
			struct sa_val *v = follow(pg->root,
			    jv_array_get(jv_copy(out), i), &ok);

			if (v != NULL)
				push(&vals, &nvals, &capvals, v);
		}
		jv_free(out);
		if (!path_error && ok)
			return;
		e->by_value = 1;
		nvals = 0;
	}
	out = run(e, e->values, pg, NULL);
	n = jv_array_length(jv_copy(out));
	for (i = 0; i < n; i++) {
		jv s = jv_dump_string(jv_array_get(jv_copy(out), i), 0);
		char *err;
		struct sa_val *v = sa_json_parse(arena, jv_string_value(s),
		    jv_string_length_bytes(jv_copy(s)), &err);

		if (v == NULL)
			sa_die(EX_SOFTWARE, "%s: cannot read jq's output: %s",
			    e->opt, err);
		push(&vals, &nvals, &capvals, v);
		jv_free(s);
	}
	jv_free(out);
}

static void
add_records(struct sa_val *v)
{
	struct sa_val *c;

	if (v->type == SA_ARRAY) {
		for (c = v->child; c != NULL; c = c->next)
			push(&recs, &nrecs, &caprecs, c);
	} else if (v->type != SA_NULL)
		push(&recs, &nrecs, &caprecs, v);
}

size_t
page_records(struct page *pg, struct sa_val ***out)
{
	static const char *const where[] = { "data", "results", "items",
		"records" };
	struct sa_val *v = NULL;
	size_t i;

	nrecs = 0;
	if (records_expr.src != NULL) {
		eval(&records_expr, pg);
		for (i = 0; i < nvals; i++)
			add_records(vals[i]);
	} else {
		if (pg->root->type == SA_ARRAY)
			v = pg->root;
		for (i = 0; v == NULL && i < 4; i++) {
			v = sa_get(pg->root, where[i], strlen(where[i]));
			if (v != NULL && v->type != SA_ARRAY)
				v = NULL;
		}
		if (v == NULL)
			sa_die(EX_DATAERR, "%s: no records in the page: it is "
			    "not an array and has no .data, .results, .items "
			    "or .records array (see --records)", pg->url);
		add_records(v);
	}
	*out = recs;
	return nrecs;
}

struct sa_val *
page_next(struct page *pg)
{
	struct sa_val *v;

	eval(&next_expr, pg);
	if (nvals == 0)
		return NULL;
	v = vals[0];
	if (v->type == SA_NULL || v->type == SA_FALSE ||
	    (v->type == SA_STRING && v->len == 0))
		return NULL;
	if (v->type != SA_STRING && v->type != SA_NUMBER)
		sa_die(EX_DATAERR, "%s: --next gave neither a string nor a "
		    "number", pg->url);
	return v;
}

long long
page_total(struct page *pg)
{
	struct sa_val *v;
	char *end;
	long long n;

	if (total_expr.src == NULL)
		return -1;
	eval(&total_expr, pg);
	if (nvals == 0 || (v = vals[0])->type == SA_NULL)
		return -1;
	if (v->type != SA_NUMBER || (n = strtoll(v->str, &end, 10)) < 0 ||
	    *end != '\0')
		sa_die(EX_DATAERR, "%s: --total gave no count of records",
		    pg->url);
	return n;
}

struct paging paging;

char *
must_url(char *u, const char *what, const char *url)
{
	if (u == NULL)
		sa_die(EX_DATAERR, "%s: %s is not a URL", url, what);
	return u;
}

char *
url_with_number(const char *url, const char *name, long long n)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", n);
	return must_url(url_set_param(url, name, num, strlen(num)), "the URL",
	    url);
}

char *
chain_first(struct chain *ch, const char *url)
{
	ch->base = paging.limit > 0 ? url_with_number(url, paging.limit_param,
	    paging.limit) : xstrdup(url);
	ch->page = ch->offset = paging.start;
	ch->pages = 0;
	if (paging.mode == BY_PAGE)
		return url_with_number(ch->base, paging.page_param, ch->page);
	if (paging.mode == BY_OFFSET)
		return url_with_number(ch->base, paging.offset_param,
		    ch->offset);
	return xstrdup(ch->base);
}

char *
chain_next(struct chain *ch, struct page *pg, const struct http_page *hp,
    size_t n, const char *url)
{
	struct sa_val *v;
	char *next = NULL;

	ch->pages++;
	switch (paging.mode) {
	case BY_LINK:
		if (hp->link_next != NULL)
			next = must_url(url_resolve(hp->url, hp->link_next),
			    "the Link rel=\"next\" target", hp->url);
		break;
	case BY_NEXT:
		if ((v = page_next(pg)) == NULL)
			break;
		if (paging.cursor_param != NULL)
			next = must_url(url_set_param(ch->base,
			    paging.cursor_param, v->str, v->len), "the URL",
			    ch->base);
		else
			next = must_url(url_resolve(hp->url, v->str),
			    "the --next value", hp->url);
		break;
	case BY_PAGE:
		if (n > 0)
			next = url_with_number(ch->base, paging.page_param,
			    ++ch->page);
		break;
	case BY_OFFSET:
		ch->offset += n;
		if (n > 0)
			next = url_with_number(ch->base, paging.offset_param,
			    ch->offset);
		break;
	}
	if (next != NULL && (strcmp(next, url) == 0 ||
	    strcmp(next, hp->url) == 0))
		sa_die(EX_DATAERR, "%s: the next page is this page again",
		    hp->url);
	return next;
}

static int
skipped(const struct sa_val *m, char *const *skip, size_t nskip)
{
	size_t i;

	for (i = 0; i < nskip; i++)
		if (strlen(skip[i]) == m->keylen &&
		    memcmp(skip[i], m->key, m->keylen) == 0)
			return 1;
	return 0;
}

size_t
page_write(struct sa_buf *out, const struct page *pg, struct sa_val **recs,
    size_t n, const char *prefix, char *const *skip, size_t nskip)
{
	const struct sa_val *m;
	size_t i, written = 0;

	for (i = 0; i < n; i++) {
		sa_stats.in++;
		if (recs[i]->type != SA_OBJECT) {
			sa_reject(pg->url, i + 1, NULL, 0, recs[i],
			    "record %zu of the page is not an object", i + 1);
			continue;
		}
		if (*prefix == '\0')
			sa_json_append(out, recs[i]);
		else {
			sa_buf_addc(out, '{');
			sa_buf_adds(out, prefix);
			for (m = recs[i]->child; m != NULL; m = m->next) {
				if (skipped(m, skip, nskip))
					continue;
				sa_buf_addc(out, ',');
				sa_json_string(out, m->key, m->keylen);
				sa_buf_addc(out, ':');
				sa_json_append(out, m);
			}
			sa_buf_addc(out, '}');
		}
		sa_buf_addc(out, '\n');
		sa_stats.out++;
		written++;
		sa_progress();
	}
	return written;
}
