/* fetch-http.c: what one HTTP request is made of: its headers, what the
 * response headers say, what its outcome means, and URL editing. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
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
#define BODY_START 200		/* bytes of an error body shown */

struct http_stats http_stats;
struct http_opts http_opt;

/* Headers for the origin of the start URL, and for any other host: the
 * latter never carry credentials or cookies. */
static struct curl_slist *hdr_origin, *hdr_other;
/* Where trusted CA certificates are, if the environment says so. */
static const char *ca_file, *ca_dir;

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

static long long
parse_count(const char *s, size_t len)
{
	long long n = 0;
	size_t i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n;
}

size_t
http_on_header(char *p, size_t size, size_t n, void *ud)
{
	struct http_req *r = ud;
	size_t len = size * n, vlen;
	const char *val;

	if (len >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		sa_buf_reset(&r->link_hdr);
		r->retry_after = -1;
		r->page.total = -1;
	} else if (header_is(p, len, "link", &val, &vlen)) {
		if (r->link_hdr.len > 0)
			sa_buf_adds(&r->link_hdr, ", ");
		sa_buf_add(&r->link_hdr, val, vlen);
	} else if (header_is(p, len, "retry-after", &val, &vlen))
		r->retry_after = parse_retry_after(val, vlen);
	else if (header_is(p, len, "x-total-count", &val, &vlen))
		r->page.total = parse_count(val, vlen);
	return len;
}

size_t
http_on_body(char *p, size_t size, size_t n, void *ud)
{
	sa_buf_add(ud, p, size * n);
	return size * n;
}

int
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

	http_opt = *o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		sa_die(EX_SOFTWARE, "cannot initialise libcurl");
	for (i = 0; i < http_opt.nheaders; i++) {
		if (strncasecmp(http_opt.headers[i], "accept:", 7) == 0)
			has_accept = 1;
		hdr_origin = curl_slist_append(hdr_origin,
		    http_opt.headers[i]);
		if (!is_secret_header(http_opt.headers[i]))
			hdr_other = curl_slist_append(hdr_other,
			    http_opt.headers[i]);
	}
	if (!has_accept) {
		hdr_origin = curl_slist_append(hdr_origin,
		    "Accept: application/json");
		hdr_other = curl_slist_append(hdr_other,
		    "Accept: application/json");
	}
	if (http_opt.auth != NULL)
		hdr_origin = curl_slist_append(hdr_origin, http_opt.auth);
	/* libcurl reads these only in the curl program; sa-fetch honours them
	 * as curl does, so that a private CA (a company's, a test server's)
	 * can be trusted without a flag. */
	if ((ca_file = getenv("CURL_CA_BUNDLE")) == NULL || *ca_file == '\0')
		ca_file = getenv("SSL_CERT_FILE");
	if (ca_file != NULL && *ca_file == '\0')
		ca_file = NULL;
	if ((ca_dir = getenv("SSL_CERT_DIR")) != NULL && *ca_dir == '\0')
		ca_dir = NULL;
	srand48((long)time(NULL) ^ (long)getpid() << 16);
	multi_init();
}

/* A new handle with what every request shares. */
CURL *
http_handle(void)
{
	CURL *c = curl_easy_init();

	if (c == NULL)
		sa_die(EX_SOFTWARE, "cannot initialise libcurl");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sa-fetch/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	/* HTTP/2 where TLS offers it, and requests wait for a connection
	 * that can multiplex them rather than open another one. */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
	if (ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	if (ca_dir != NULL)
		curl_easy_setopt(c, CURLOPT_CAPATH, ca_dir);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
	if (http_opt.timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, http_opt.timeout_ms);
	return c;
}

/* Points handle C at the current URL of R. */
void
http_aim(CURL *c, struct http_req *r)
{
	curl_easy_setopt(c, CURLOPT_URL, r->cur);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER,
	    same_origin(r->cur, http_opt.start_url) ? hdr_origin : hdr_other);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->page.body);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, r);
	sa_buf_reset(&r->page.body);
	sa_buf_reset(&r->link_hdr);
	r->retry_after = -1;
	r->page.total = -1;
	r->errbuf[0] = '\0';
}

void
http_cleanup(void)
{
	multi_cleanup();
	curl_slist_free_all(hdr_origin);
	curl_slist_free_all(hdr_other);
	hdr_origin = hdr_other = NULL;
	curl_global_cleanup();
}

void
http_page_clear(struct http_page *pg)
{
	sa_buf_reset(&pg->body);
	free(pg->url);
	free(pg->link_next);
	free(pg->link_last);
	pg->url = pg->link_next = pg->link_last = NULL;
	pg->total = -1;
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

/* What the end of one transfer of R means: HTTP_PAGE (R->page holds it),
 * HTTP_RETRY or HTTP_REDIRECT (R->cur is the new target), or HTTP_FAIL
 * with R->status and R->error set.  WHY says what went wrong for a
 * retry. */
int
http_outcome(struct http_req *r, CURL *c, CURLcode rc, char *why,
    size_t whylen)
{
	char *loc;
	long status;

	if (rc != CURLE_OK) {
		const char *msg = r->errbuf[0] ? r->errbuf :
		    curl_easy_strerror(rc);

		if (transient(rc)) {
			snprintf(why, whylen, "%s", msg);
			return HTTP_RETRY;
		}
		return http_fail(r, rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ? EX_USAGE :
		    EX_UNAVAILABLE, 0, "%s: %s", r->cur, msg);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->http_status = status;
	if (status >= 300 && status < 400 && status != 304) {
		loc = NULL;
		curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
		if (loc == NULL)
			return http_fail(r, EX_UNAVAILABLE, 0, "%s: HTTP %ld "
			    "without a Location", r->cur, status);
		/* Only to http and https: a server must not turn a fetch
		 * into a read of file:// or a request to ftp://. */
		if (strncasecmp(loc, "http://", 7) != 0 &&
		    strncasecmp(loc, "https://", 8) != 0)
			return http_fail(r, EX_NOINPUT, 0, "%s: redirected to "
			    "%s: only http and https are followed", r->cur, loc);
		if (++r->hops > MAX_REDIRECTS)
			return http_fail(r, EX_UNAVAILABLE, 0, "%s: more than "
			    "%d redirects", r->url, MAX_REDIRECTS);
		free(r->cur);
		r->cur = xstrdup(loc);
		return HTTP_REDIRECT;
	}
	if (status >= 200 && status < 300) {
		r->page.url = r->cur;
		r->cur = NULL;
		if (r->link_hdr.len > 0) {
			r->page.link_next = link_next(r->link_hdr.s,
			    r->link_hdr.len);
			r->page.link_last = link_target(r->link_hdr.s,
			    r->link_hdr.len, "last");
		}
		return HTTP_PAGE;
	}
	if (status == 429 || status >= 500) {
		snprintf(why, whylen, "HTTP %ld: %s", status,
		    body_start(&r->page.body));
		return HTTP_RETRY;
	}
	if (status == 401 || status == 403)
		return http_fail(r, EX_NOPERM, status, "%s: authentication "
		    "failed: HTTP %ld: %s", r->cur, status,
		    body_start(&r->page.body));
	if (status >= 400)
		return http_fail(r, EX_NOINPUT, status, "%s: HTTP %ld: %s",
		    r->cur, status, body_start(&r->page.body));
	return http_fail(r, EX_UNAVAILABLE, status, "%s: unexpected HTTP "
	    "status %ld", r->cur, status);
}

int
http_fail(struct http_req *r, int status, long http_status,
    const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		sa_die(EX_OSERR, "out of memory");
	va_end(ap);
	free(r->error);
	r->error = s;
	r->status = status;
	if (http_status)
		r->http_status = http_status;
	return HTTP_FAIL;
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

void
url_escape(struct sa_buf *b, const char *s, size_t len)
{
	char *e;

	/* A length of 0 tells libcurl to take strlen(S): an empty value
	 * has nothing to escape, and S need not end in NUL. */
	if (len == 0)
		return;
	if ((e = curl_easy_escape(NULL, s, (int)len)) == NULL)
		sa_die(EX_OSERR, "out of memory");
	sa_buf_adds(b, e);
	curl_free(e);
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
	url_escape(&enc, name, strlen(name));
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
	url_escape(&nq, value, len);
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

char *
url_get_param(const char *url, const char *name)
{
	CURLU *u = curl_url();
	char *q = NULL, *r = NULL, *v;
	const char *p, *amp, *eq;
	size_t nlen = strlen(name);
	int len;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK)
		for (p = q; r == NULL && p != NULL; p = amp ? amp + 1 : NULL) {
			amp = strchr(p, '&');
			eq = strchr(p, '=');
			if (eq == NULL || (amp != NULL && eq > amp) ||
			    (size_t)(eq - p) != nlen ||
			    memcmp(p, name, nlen) != 0)
				continue;
			v = curl_easy_unescape(NULL, eq + 1, amp ? (int)(amp -
			    eq - 1) : 0, &len);
			if (v != NULL)
				r = xstrndup(v, len);
			curl_free(v);
		}
	curl_free(q);
	curl_url_cleanup(u);
	return r;
}

char *
link_next(const char *s, size_t len)
{
	return link_target(s, len, "next");
}

/* RFC 8288: link-value = "<" URI ">" *( ";" param ); values are
 * separated by commas, and rel may hold several relation types. */
char *
link_target(const char *s, size_t len, const char *rel)
{
	size_t rlen = strlen(rel);
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
					if ((size_t)(we - w) == rlen &&
					    strncasecmp(w, rel, rlen) == 0)
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
