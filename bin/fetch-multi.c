/*
 * fetch-multi.c: requests run over libcurl's multi interface, at most
 * --parallel at once on reused connections, each retried on its own and
 * all within --rate.
 *
 * Requests wait in a queue ordered by when they were asked for; a retry
 * keeps its place but waits out its backoff, so the earliest requests,
 * whose pages are written first, are never stuck behind later ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"

#define MAX_DELAY 60.0		/* cap of the exponential backoff, seconds */
#define WHY_MAX 400

static CURLM *multi;
static CURL **idle;		/* handles not in use */
static int nidle, running;
static struct http_req *queue;	/* waiting to start, by seq */
static uintmax_t seq;
static struct http_req get_req;	/* of http_get() */

/* Start times of the last http_opt.rate requests, oldest at ring_pos
 * once the ring is full. */
static double *ring;
static int ring_count, ring_pos;

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

void
multi_init(void)
{
	if ((multi = curl_multi_init()) == NULL)
		sa_die(EX_SOFTWARE, "cannot initialise libcurl");
	if (http_opt.parallel < 1)
		http_opt.parallel = 1;
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)http_opt.parallel);
	idle = xcalloc(http_opt.parallel, sizeof(*idle));
	if (http_opt.rate > 0)
		ring = xcalloc(http_opt.rate, sizeof(*ring));
}

void
multi_cleanup(void)
{
	int i;

	http_req_free(&get_req);
	for (i = 0; i < nidle; i++)
		curl_easy_cleanup(idle[i]);
	nidle = 0;
	free(idle);
	idle = NULL;
	if (multi != NULL)
		curl_multi_cleanup(multi);
	multi = NULL;
	free(ring);
	ring = NULL;
}

/* When one more request keeps at most http_opt.rate requests in any
 * one-second window: now or later. */
static double
rate_free_at(void)
{
	if (http_opt.rate == 0 || ring_count < http_opt.rate)
		return 0;
	/* A little slack, so that the server sees the window too. */
	return ring[ring_pos] + 1.0 + 0.05;
}

static void
rate_count(double now)
{
	if (http_opt.rate == 0)
		return;
	ring[ring_pos] = now;
	ring_pos = (ring_pos + 1) % http_opt.rate;
	if (ring_count < http_opt.rate)
		ring_count++;
}

static void
enqueue(struct http_req *r)
{
	struct http_req **p = &queue;

	while (*p != NULL && (*p)->seq < r->seq)
		p = &(*p)->qnext;
	r->qnext = *p;
	*p = r;
	r->queued = 1;
}

void
http_start(struct http_req *r, const char *url)
{
	http_page_clear(&r->page);
	free(r->url);
	free(r->cur);
	free(r->error);
	r->url = xstrdup(url);
	r->cur = xstrdup(url);
	r->error = NULL;
	r->done = r->status = 0;
	r->http_status = 0;
	r->failures = r->hops = 0;
	r->not_before = 0;
	r->seq = seq++;
	enqueue(r);
}

static void
launch(struct http_req *r, double now)
{
	CURL *c = nidle > 0 ? idle[--nidle] : http_handle();

	rate_count(now);
	http_stats.requests++;
	http_aim(c, r);
	if (curl_multi_add_handle(multi, c) != CURLM_OK)
		sa_die(EX_SOFTWARE, "cannot start a transfer");
	if ((uintmax_t)++running > http_stats.max_in_flight)
		http_stats.max_in_flight = running;
}

/* Starts the waiting requests whose time has come, in order, while there
 * is room; returns how long to wait, in seconds, for the next one. */
static double
launch_ready(void)
{
	struct http_req **p = &queue, *r;
	double now = mono(), wait = 1, t;

	while (*p != NULL && running < http_opt.parallel) {
		r = *p;
		if (r->not_before > now) {
			if (r->not_before - now < wait)
				wait = r->not_before - now;
			p = &r->qnext;
			continue;
		}
		if ((t = rate_free_at()) > now) {
			if (t - now < wait)
				wait = t - now;
			break;
		}
		*p = r->qnext;
		r->queued = 0;
		launch(r, now);
	}
	return wait;
}

static void
retry(struct http_req *r, const char *why)
{
	double delay, cap;
	int n = r->failures++;

	if (n >= http_opt.retries) {
		http_fail(r, EX_UNAVAILABLE, 0, "%s: %s (gave up after %d "
		    "attempts)", r->url, why, n + 1);
		r->done = 1;
		return;
	}
	http_stats.retries++;
	/* Full jitter: a random wait up to the exponential cap, so that
	 * many clients do not retry in step. */
	cap = http_opt.backoff * (double)(1UL << (n < 30 ? n : 30));
	if (cap > MAX_DELAY)
		cap = MAX_DELAY;
	delay = drand48() * cap;
	if (r->retry_after >= 0)
		delay = r->retry_after;
	/* Someone watching a terminal learns why nothing moves; a log of a
	 * successful run stays clean. */
	if (isatty(STDERR_FILENO))
		sa_warn("%s: %s; retry %d of %d in %.1f s", r->url, why, n + 1,
		    http_opt.retries, delay);
	free(r->cur);
	r->cur = xstrdup(r->url);
	r->hops = 0;
	r->not_before = mono() + delay;
	enqueue(r);
}

/* A transfer ended: the request is done, or queued again. */
static void
finished(CURL *c, CURLcode rc)
{
	struct http_req *r = NULL;
	char why[WHY_MAX];

	curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&r);
	curl_multi_remove_handle(multi, c);
	running--;
	switch (http_outcome(r, c, rc, why, sizeof(why))) {
	case HTTP_PAGE:
	case HTTP_FAIL:
		r->done = 1;
		break;
	case HTTP_REDIRECT:
		r->not_before = 0;
		enqueue(r);
		break;
	case HTTP_RETRY:
		retry(r, why);
		break;
	}
	/* Connections live in the multi handle's cache: handles can go. */
	if (nidle < http_opt.parallel)
		idle[nidle++] = c;
	else
		curl_easy_cleanup(c);
}

void
http_wait(struct http_req *r)
{
	struct CURLMsg *m;
	double wait;
	int still, left, ms;

	while (!r->done) {
		wait = launch_ready();
		if (curl_multi_perform(multi, &still) != CURLM_OK)
			sa_die(EX_SOFTWARE, "libcurl multi interface failed");
		while ((m = curl_multi_info_read(multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE)
				finished(m->easy_handle, m->data.result);
		if (r->done)
			break;
		if (running == 0 && queue == NULL)
			sa_die(EX_SOFTWARE, "a request that never started");
		ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
		if (running == 0) {
			struct timespec t = { ms / 1000, ms % 1000 * 1000000L };

			while (nanosleep(&t, &t) != 0 && errno == EINTR)
				;
		} else if (curl_multi_poll(multi, NULL, 0, ms, NULL) !=
		    CURLM_OK)
			sa_die(EX_SOFTWARE, "libcurl multi interface failed");
	}
}

void
http_req_free(struct http_req *r)
{
	http_page_clear(&r->page);
	sa_buf_free(&r->page.body);
	sa_buf_free(&r->link_hdr);
	free(r->url);
	free(r->cur);
	free(r->error);
	r->url = r->cur = r->error = NULL;
}

void
http_get(const char *url, struct http_page *pg)
{
	/* The caller's buffer is lent to the request and handed back. */
	http_page_clear(pg);
	sa_buf_free(&get_req.page.body);
	get_req.page.body = pg->body;
	memset(&pg->body, 0, sizeof(pg->body));
	http_start(&get_req, url);
	http_wait(&get_req);
	if (get_req.status != 0)
		sa_die(get_req.status, "%s", get_req.error);
	*pg = get_req.page;
	memset(&get_req.page, 0, sizeof(get_req.page));
}
