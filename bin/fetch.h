/*
 * fetch.h: the parts of sa-fetch.  fetch-http.c makes up one request
 * (headers, what a response means) and edits URLs; fetch-multi.c runs
 * requests, many at once over libcurl's multi interface, retried and
 * within the rate limit; fetch-page.c parses pages, finds their records
 * and next cursors (yajl, libjq) and follows pagination; fetch-each.c
 * fetches child resources per parent record and pages in parallel, in
 * order; fetch-state.c keeps the --state file.
 *
 * Ownership: strings returned by the url_* and link_* functions,
 * http_page.url / link_next / link_last and http_req.error are malloc'd
 * and belong to their holder.  Values from page_parse() live in the
 * arena given to it until its next reset.
 */
#ifndef FETCH_H
#define FETCH_H

#include <curl/curl.h>

#include "sa.h"

/* fetch-http.c */
struct http_opts {
	const char *start_url;	/* credentials go only to its origin */
	char **headers;		/* -H "Name: value", in order */
	size_t nheaders;
	const char *auth;	/* "Authorization: ..." or NULL */
	long timeout_ms;
	int retries;		/* at most RETRIES + 1 attempts per request */
	double backoff;		/* base of the exponential backoff, seconds */
	int rate;		/* requests in any one second, 0: no limit */
	int parallel;		/* requests in flight at most */
};
extern struct http_opts http_opt;
struct http_page {
	struct sa_buf body;
	char *url;		/* where the body came from, after redirects */
	char *link_next;	/* Link rel="next" target as sent, or NULL */
	char *link_last;	/* Link rel="last" target as sent, or NULL */
	long long total;	/* X-Total-Count, or -1 */
};
/* One request, from http_start() until it is done. */
struct http_req {
	struct http_page page;	/* the result, if status is 0 */
	int done;
	int status;		/* 0, or the exit status of a failure */
	long http_status;	/* of the last response */
	char *error;		/* what failed, "URL: ..." */
	/* Private to fetch-http.c and fetch-multi.c. */
	char *url, *cur;	/* as asked; the target after redirects */
	int failures, hops, queued;
	double not_before;	/* a retry waits until then */
	uintmax_t seq;		/* requests start in the order asked */
	struct http_req *qnext;
	struct sa_buf link_hdr;
	double retry_after;
	char errbuf[CURL_ERROR_SIZE];
};
struct http_stats {
	uintmax_t requests, retries, max_in_flight;
};
extern struct http_stats http_stats;
enum { HTTP_PAGE, HTTP_RETRY, HTTP_REDIRECT, HTTP_FAIL };

void http_init(const struct http_opts *);
void http_cleanup(void);
void http_page_clear(struct http_page *);
CURL *http_handle(void);
void http_aim(CURL *, struct http_req *);
size_t http_on_header(char *, size_t, size_t, void *);
size_t http_on_body(char *, size_t, size_t, void *);
int http_outcome(struct http_req *, CURL *, CURLcode, char *why,
    size_t whylen);
int http_fail(struct http_req *, int status, long http_status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int same_origin(const char *, const char *);

/* REF resolved against BASE, or NULL if it is not a URL. */
char *url_resolve(const char *base, const char *ref);
/* URL with query parameter NAME set to VALUE (percent-encoded), every
 * earlier NAME removed; NULL if URL is not a URL. */
char *url_set_param(const char *url, const char *name, const char *value,
    size_t len);
/* The value of query parameter NAME of URL, decoded, or NULL. */
char *url_get_param(const char *url, const char *name);
/* Appends S percent-encoded (all but RFC 3986 unreserved bytes). */
void url_escape(struct sa_buf *, const char *s, size_t len);
/* The target of the first rel="next" link in a Link header value. */
char *link_next(const char *s, size_t len);
/* The target of the first link of relation type REL. */
char *link_target(const char *s, size_t len, const char *rel);

/* fetch-multi.c */
void multi_init(void);
void multi_cleanup(void);
/* Queues a request for URL into R (whose page buffer is reused). */
void http_start(struct http_req *, const char *url);
/* Runs every request in flight until R is done. */
void http_wait(struct http_req *);
/* Frees what R holds. */
void http_req_free(struct http_req *);
/* Fetches URL into PAGE, following redirects and retrying transient
 * failures; any other failure ends the program with its exit status. */
void http_get(const char *url, struct http_page *page);

/* fetch-page.c */
struct page {
	const char *url;	/* for messages */
	const char *body;
	size_t len;
	struct sa_val *root;
};
/* Compiles the --records, --next and --total expressions (any may be
 * NULL); a bad expression is a usage error. */
void page_init(const char *records_expr, const char *next_expr,
    const char *total_expr);
/* Parses PAGE->body into PAGE->root, values in arena A; a page that is
 * not JSON ends the program with status 65. */
void page_parse(struct page *, struct sa_arena *a);
/* The records of the page: *RECS points to N values that stay valid until
 * the next page_parse().  Records that are not objects are included; the
 * caller rejects them. */
size_t page_records(struct page *, struct sa_val ***recs);
/* The value --next finds in the page, or NULL for none (null, false, "",
 * or no output). */
struct sa_val *page_next(struct page *);
/* What --total finds in the page (records in all), or -1 without it. */
long long page_total(struct page *);
void page_cleanup(void);

/* Pagination, the same for a top-level URL and each child URL. */
enum mode { BY_LINK, BY_NEXT, BY_PAGE, BY_OFFSET };
struct paging {
	enum mode mode;
	const char *cursor_param, *page_param, *offset_param, *limit_param;
	long long start, limit, max_pages;
};
extern struct paging paging;
/* Where one paginated URL is. */
struct chain {
	char *base;		/* the URL and its fixed parameters */
	long long page, offset;	/* of the next request */
	long long pages;	/* pages done */
};
/* Starts CH at URL (BASE takes the --limit); returns the first request. */
char *chain_first(struct chain *, const char *url);
/* The request after page PG of N records, fetched as URL, or NULL. */
char *chain_next(struct chain *, struct page *pg, const struct http_page *,
    size_t n, const char *url);
/* URL with query parameter NAME set to the number N. */
char *url_with_number(const char *url, const char *name, long long n);
/* U, or death with 65 if it is NULL (WHAT of URL is not a URL). */
char *must_url(char *u, const char *what, const char *url);
/* Writes the object records of RECS[N] to OUT, each after PREFIX (JSON
 * members, "" for none) and without its own members named in SKIP[NSKIP];
 * rejects the others.  Returns the records written. */
size_t page_write(struct sa_buf *out, const struct page *pg,
    struct sa_val **recs, size_t n, const char *prefix,
    char *const *skip, size_t nskip);

/* fetch-state.c: the --state file. */
struct since {
	int type;		/* SA_NULL: none yet */
	char *s;
	size_t len;
};
struct state {
	char *url;		/* the URL (or --each template) given */
	int done;		/* the last run completed */
	int each;		/* of a run with --each */
	char *next;		/* the request to make next */
	long long page, offset;
	long long parents;	/* --each: parents completely written */
	long long bytes;	/* length of -o FILE, or -1 */
	struct since used;	/* --since-param value of this run */
	struct since max;	/* largest --since-field value seen */
	uintmax_t pages, records;
};
extern struct state st;
extern const char *state_path, *output_path, *since_field;
void since_set(struct since *, int type, const char *text, size_t len);
/* Keeps the largest --since-field value among RECS[N]. */
void since_see(struct sa_val **recs, size_t n);
/* Reads the state file; returns 0 if there is none. */
int load_state(void);
void save_state(void);
/* Opens -o FILE on standard output: truncated to what the state says
 * was completely written, or empty for a new run. */
void open_output(int resume);
/* After a page or a parent is completely written: syncs -o FILE, and
 * saves the state with NEXT as the next request. */
void state_step(const char *next, int done);

/* fetch-each.c */
struct each_opts {
	const char *tmpl;	/* --each URL_TEMPLATE */
	const char *parent_key;	/* --parent-key F[,F...], or NULL */
	const char *prefix;	/* --parent-prefix */
	int missing_skip;	/* --missing skip */
	long long batch;	/* --batch N, 0: one request per parent */
	const char *batch_key, *batch_sep;
};
/* Checks the template and options; a bad one is a usage error. */
void each_init(const struct each_opts *);
/* Fetches the children of every parent record of FILES[NFILES]; returns
 * the exit status. */
int each_run(char **files, int nfiles, long long skip);
/* Fetches numbered or offset pages FROM (a page number or offset) up to
 * LAST of the URL in CH, STEP apart, N at a time, in order. */
void pages_run(struct chain *, long long last, long long step);
void each_cleanup(void);
extern uintmax_t each_parents, each_missing, fetch_pages;
/* Brings the --stats members of sa-fetch up to date. */
void fetch_stats_refresh(void);

#endif
