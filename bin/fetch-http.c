/* fetch-http.c: pages over HTTP with libcurl, retried politely. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "fetch.h"

#define MAX_REDIRECTS 10
#define MAX_DELAY 60.0		/* cap of the exponential backoff, seconds */
#define BODY_START 200		/* bytes of an error body shown */

struct http_stats http_stats;

static CURL *curl;
static struct http_opts opt;
/* Headers for the origin of the start URL, and for any other host: the
 * latter never carry credentials or cookies. */
static struct curl_slist *hdr_origin, *hdr_other;
static char errbuf[CURL_ERROR_SIZE];

/* Start times of the last OPT.rate requests, oldest at ring_pos once
 * the ring is full. */
static double *ring;
static int ring_count, ring_pos;

/* What the header callback saw in the current response. */
static struct sa_buf link_hdr;
static double retry_after;

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void
sleep_for(double s)
{
	struct timespec t;

	if (s <= 0)
		return;
	t.tv_sec = (time_t)s;
	t.tv_nsec = (long)((s - t.tv_sec) * 1e9);
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* Waits until one more request keeps at most OPT.rate requests in any
 * one-second window, then counts it. */
static void
rate_wait(void)
{
	double now;

	if (opt.rate == 0)
		return;
	now = mono();
	if (ring_count == opt.rate) {
		/* A little slack, so that the server sees the window too. */
		double t = ring[ring_pos] + 1.0 + 0.05;

		if (now < t) {
			sleep_for(t - now);
			now = mono();
		}
	}
	ring[ring_pos] = now;
	ring_pos = (ring_pos + 1) % opt.rate;
	if (ring_count < opt.rate)
		ring_count++;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	sa_buf_add(ud, p, size * n);
	return size * n;
}

/* If the header line P names NAME, points *VAL at its trimmed value. */
static int
header_is(const char *p, size_t len, const char *name, const char **val,
    size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || p[n] != ':' || strncasecmp(p, name, n) != 0)
		return 0;
	p += n + 1, len -= n + 1;
	while (len > 0 && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	*val = p, *vlen = len;
	return 1;
}

static double
parse_retry_after(const char *s, size_t len)
{
	char tmp[64];
	size_t i;
	time_t t;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	for (i = 0; i < len && isdigit((unsigned char)tmp[i]); i++)
		;
	if (i == len)
		return strtod(tmp, NULL);
	t = curl_getdate(tmp, NULL);
	if (t == (time_t)-1)
		return -1;
	return t > time(NULL) ? (double)(t - time(NULL)) : 0;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	size_t len = size * n, vlen;
	const char *val;

	(void)ud;
	if (len >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		sa_buf_reset(&link_hdr);
		retry_after = -1;
	} else if (header_is(p, len, "link", &val, &vlen)) {
		if (link_hdr.len > 0)
			sa_buf_adds(&link_hdr, ", ");
		sa_buf_add(&link_hdr, val, vlen);
	} else if (header_is(p, len, "retry-after", &val, &vlen))
		retry_after = parse_retry_after(val, vlen);
	return len;
}

static int
same_origin(const char *a, const char *b)
{
	static const CURLUPart parts[] = {
		CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT
	};
	CURLU *ua = curl_url(), *ub = curl_url();
	int same = 1;
	size_t i;

	if (curl_url_set(ua, CURLUPART_URL, a, 0) != CURLUE_OK ||
	    curl_url_set(ub, CURLUPART_URL, b, 0) != CURLUE_OK)
		same = 0;
	for (i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *x = NULL, *y = NULL;

		if (curl_url_get(ua, parts[i], &x, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK || curl_url_get(ub, parts[i], &y,
		    CURLU_DEFAULT_PORT) != CURLUE_OK || strcasecmp(x, y) != 0)
			same = 0;
		curl_free(x);
		curl_free(y);
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/* Headers that carry credentials stay with the origin they were meant
 * for, as curl(1) does with -H after a redirect. */
static int
is_secret_header(const char *h)
{
	return strncasecmp(h, "authorization:", 14) == 0 ||
	    strncasecmp(h, "cookie:", 7) == 0;
}

void
http_init(const struct http_opts *o)
{
	int has_accept = 0;
	size_t i;

	opt = *o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (curl = curl_easy_init()) == NULL)
		sa_die(EX_SOFTWARE, "cannot initialise libcurl");
	for (i = 0; i < opt.nheaders; i++) {
		if (strncasecmp(opt.headers[i], "accept:", 7) == 0)
			has_accept = 1;
		hdr_origin = curl_slist_append(hdr_origin, opt.headers[i]);
		if (!is_secret_header(opt.headers[i]))
			hdr_other = curl_slist_append(hdr_other,
			    opt.headers[i]);
	}
	if (!has_accept) {
		hdr_origin = curl_slist_append(hdr_origin,
		    "Accept: application/json");
		hdr_other = curl_slist_append(hdr_other,
		    "Accept: application/json");
	}
	if (opt.auth != NULL)
		hdr_origin = curl_slist_append(hdr_origin, opt.auth);
	if (opt.rate > 0)
		ring = xcalloc(opt.rate, sizeof(*ring));
	srand48((long)time(NULL) ^ (long)getpid() << 16);

	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "sa-fetch/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	if (opt.timeout_ms > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
}

void
http_cleanup(void)
{
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl = NULL;
	curl_slist_free_all(hdr_origin);
	curl_slist_free_all(hdr_other);
	hdr_origin = hdr_other = NULL;
	curl_global_cleanup();
	free(ring);
	ring = NULL;
	sa_buf_free(&link_hdr);
}

void
http_page_clear(struct http_page *pg)
{
	sa_buf_reset(&pg->body);
	free(pg->url);
	free(pg->link_next);
	pg->url = pg->link_next = NULL;
}

/* The start of an error body, on one line, cut at a character. */
static const char *
body_start(const struct sa_buf *b)
{
	static char s[BODY_START + 4];
	size_t n = b->len < BODY_START ? b->len : BODY_START, i;

	if (n < b->len)
		while (n > 0 && ((unsigned char)b->s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++)
		s[i] = (unsigned char)b->s[i] < 0x20 ? ' ' : b->s[i];
	strcpy(s + n, n < b->len ? "..." : "");
	if (n == 0)
		return "(empty body)";
	return s;
}

static int
transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_HTTP2:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

enum { GOT_PAGE, RETRY };

/* One attempt at URL, redirects included.  Returns GOT_PAGE, or RETRY
 * with WHY saying what went wrong; other failures are fatal. */
static int
attempt(const char *url, struct http_page *pg, char *why, size_t whylen)
{
	char *cur = xstrdup(url), *loc;
	int hops = 0;
	long status;
	CURLcode rc;

	for (;;) {
		rate_wait();
		http_stats.requests++;
		sa_buf_reset(&pg->body);
		sa_buf_reset(&link_hdr);
		retry_after = -1;
		errbuf[0] = '\0';
		curl_easy_setopt(curl, CURLOPT_URL, cur);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER,
		    same_origin(cur, opt.start_url) ? hdr_origin : hdr_other);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &pg->body);
		rc = curl_easy_perform(curl);
		if (rc != CURLE_OK) {
			const char *msg = errbuf[0] ? errbuf :
			    curl_easy_strerror(rc);

			if (transient(rc)) {
				snprintf(why, whylen, "%s", msg);
				free(cur);
				return RETRY;
			}
			sa_die(rc == CURLE_URL_MALFORMAT ||
			    rc == CURLE_UNSUPPORTED_PROTOCOL ? EX_USAGE :
			    EX_UNAVAILABLE, "%s: %s", cur, msg);
		}
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 300 && status < 400 && status != 304) {
			loc = NULL;
			curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &loc);
			if (loc == NULL)
				sa_die(EX_UNAVAILABLE, "%s: HTTP %ld without a "
				    "Location", cur, status);
			/* Only to http and https: a server must not turn a
			 * fetch into a read of file:// or a request to ftp://. */
			if (strncasecmp(loc, "http://", 7) != 0 &&
			    strncasecmp(loc, "https://", 8) != 0)
				sa_die(EX_NOINPUT, "%s: redirected to %s: only "
				    "http and https are followed", cur, loc);
			if (++hops > MAX_REDIRECTS)
				sa_die(EX_UNAVAILABLE, "%s: more than %d "
				    "redirects", url, MAX_REDIRECTS);
			free(cur);
			cur = xstrdup(loc);
			continue;
		}
		if (status >= 200 && status < 300) {
			pg->url = cur;
			if (link_hdr.len > 0)
				pg->link_next = link_next(link_hdr.s,
				    link_hdr.len);
			return GOT_PAGE;
		}
		if (status == 429 || status >= 500) {
			snprintf(why, whylen, "HTTP %ld: %s", status,
			    body_start(&pg->body));
			free(cur);
			return RETRY;
		}
		if (status == 401 || status == 403)
			sa_die(EX_NOPERM, "%s: authentication failed: HTTP "
			    "%ld: %s", cur, status, body_start(&pg->body));
		if (status >= 400)
			sa_die(EX_NOINPUT, "%s: HTTP %ld: %s", cur, status,
			    body_start(&pg->body));
		sa_die(EX_UNAVAILABLE, "%s: unexpected HTTP status %ld", cur,
		    status);
	}
}

void
http_get(const char *url, struct http_page *pg)
{
	char why[BODY_START + 128];
	double delay, cap;
	int n;

	http_page_clear(pg);
	for (n = 0;; n++) {
		if (attempt(url, pg, why, sizeof(why)) == GOT_PAGE)
			return;
		if (n >= opt.retries)
			sa_die(EX_UNAVAILABLE, "%s: %s (gave up after %d "
			    "attempts)", url, why, n + 1);
		http_stats.retries++;
		/* Full jitter: a random wait up to the exponential cap, so
		 * that many clients do not retry in step. */
		cap = opt.backoff * (double)(1UL << (n < 30 ? n : 30));
		if (cap > MAX_DELAY)
			cap = MAX_DELAY;
		delay = drand48() * cap;
		if (retry_after >= 0)
			delay = retry_after;
		/* Someone watching a terminal learns why nothing moves; a
		 * log of a successful run stays clean. */
		if (isatty(STDERR_FILENO))
			sa_warn("%s: %s; retry %d of %d in %.1f s", url, why,
			    n + 1, opt.retries, delay);
		sleep_for(delay);
	}
}

char *
url_resolve(const char *base, const char *ref)
{
	CURLU *u = curl_url();
	char *s = NULL, *r = NULL;

	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = xstrdup(s);
	curl_free(s);
	curl_url_cleanup(u);
	return r;
}

static void
percent_encode(struct sa_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~')
			sa_buf_addc(b, c);
		else {
			sa_buf_addc(b, '%');
			sa_buf_addc(b, hex[c >> 4]);
			sa_buf_addc(b, hex[c & 15]);
		}
	}
}

char *
url_set_param(const char *url, const char *name, const char *value,
    size_t len)
{
	CURLU *u = curl_url();
	char *q = NULL, *s = NULL, *r = NULL;
	struct sa_buf nq = { 0 }, enc = { 0 };
	const char *p, *amp;
	size_t n;

	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	percent_encode(&enc, name, strlen(name));
	curl_url_get(u, CURLUPART_QUERY, &q, 0);
	for (p = q; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		n = amp ? (size_t)(amp - p) : strlen(p);
		if (n == 0 || ((n == enc.len || (n > enc.len &&
		    p[enc.len] == '=')) && memcmp(p, enc.s, enc.len) == 0))
			continue;
		if (nq.len > 0)
			sa_buf_addc(&nq, '&');
		sa_buf_add(&nq, p, n);
		if (amp == NULL)
			break;
	}
	if (nq.len > 0)
		sa_buf_addc(&nq, '&');
	sa_buf_add(&nq, enc.s, enc.len);
	sa_buf_addc(&nq, '=');
	percent_encode(&nq, value, len);
	sa_buf_addc(&nq, '\0');
	if (curl_url_set(u, CURLUPART_QUERY, nq.s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = xstrdup(s);
out:
	curl_free(q);
	curl_free(s);
	curl_url_cleanup(u);
	sa_buf_free(&nq);
	sa_buf_free(&enc);
	return r;
}

/* RFC 8288: link-value = "<" URI ">" *( ";" param ); values are
 * separated by commas, and rel may hold several relation types. */
char *
link_next(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *t, *te, *n, *ne, *v, *ve;
	int next;

	while (p < end) {
		while (p < end && (isspace((unsigned char)*p) || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p != '<' || (te = memchr(p, '>', end - p)) == NULL)
			return NULL;
		t = p + 1;
		p = te + 1;
		next = 0;
		for (;;) {
			while (p < end && isspace((unsigned char)*p))
				p++;
			if (p == end || *p != ';')
				break;
			p++;
			while (p < end && isspace((unsigned char)*p))
				p++;
			for (n = p; p < end && *p != '=' && *p != ';' &&
			    *p != ',' && !isspace((unsigned char)*p); p++)
				;
			ne = p;
			while (p < end && isspace((unsigned char)*p))
				p++;
			v = ve = p;
			if (p < end && *p == '=') {
				p++;
				while (p < end && isspace((unsigned char)*p))
					p++;
				if (p < end && *p == '"') {
					v = ++p;
					while (p < end && *p != '"')
						p += (*p == '\\' && p + 1 < end)
						    ? 2 : 1;
					ve = p;
					if (p < end)
						p++;
				} else {
					for (v = p; p < end && *p != ';' &&
					    *p != ',' &&
					    !isspace((unsigned char)*p); p++)
						;
					ve = p;
				}
			}
			if (ne - n == 3 && strncasecmp(n, "rel", 3) == 0) {
				const char *w = v, *we;

				while (w < ve) {
					while (w < ve &&
					    isspace((unsigned char)*w))
						w++;
					for (we = w; we < ve &&
					    !isspace((unsigned char)*we); we++)
						;
					if (we - w == 4 &&
					    strncasecmp(w, "next", 4) == 0)
						next = 1;
					w = we;
				}
			}
		}
		if (next)
			return xstrndup(t, te - t);
		/* Skip whatever is left of this link-value. */
		while (p < end && *p != ',')
			p++;
	}
	return NULL;
}
