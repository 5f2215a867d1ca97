/*
 * fetch.h: the parts of sa-fetch.  fetch-http.c fetches pages (libcurl,
 * redirects, retries, the rate limit) and edits URLs; fetch-page.c parses
 * pages and finds their records and next cursors (yajl, libjq).
 *
 * Ownership: strings returned by the url_* functions and http_page.url /
 * http_page.link_next are malloc'd and belong to the caller.  Values from
 * page_parse() live in the arena given to it until its next reset.
 */
#ifndef FETCH_H
#define FETCH_H

#include "sa.h"

/* fetch-http.c */
struct http_opts {
	const char *start_url;	/* credentials go only to its origin */
	char **headers;		/* -H "Name: value", in order */
	size_t nheaders;
	const char *auth;	/* "Authorization: ..." or NULL */
	long timeout_ms;
	int retries;		/* at most RETRIES + 1 attempts per page */
	double backoff;		/* base of the exponential backoff, seconds */
	int rate;		/* requests in any one second, 0: no limit */
};
struct http_page {
	struct sa_buf body;
	char *url;		/* where the body came from, after redirects */
	char *link_next;	/* Link rel="next" target as sent, or NULL */
};
struct http_stats {
	uintmax_t requests, retries;
};
extern struct http_stats http_stats;

void http_init(const struct http_opts *);
/* Fetches URL into PAGE, following redirects and retrying transient
 * failures; any other failure ends the program with its exit status. */
void http_get(const char *url, struct http_page *page);
void http_page_clear(struct http_page *);
void http_cleanup(void);

/* REF resolved against BASE, or NULL if it is not a URL. */
char *url_resolve(const char *base, const char *ref);
/* URL with query parameter NAME set to VALUE (percent-encoded), every
 * earlier NAME removed; NULL if URL is not a URL. */
char *url_set_param(const char *url, const char *name, const char *value,
    size_t len);
/* The target of the first rel="next" link in a Link header value. */
char *link_next(const char *s, size_t len);

/* fetch-page.c */
struct page {
	const char *url;	/* for messages */
	const char *body;
	size_t len;
	struct sa_val *root;
};
/* Compiles the --records and --next expressions (either may be NULL);
 * a bad expression is a usage error. */
void page_init(const char *records_expr, const char *next_expr);
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
void page_cleanup(void);

#endif
