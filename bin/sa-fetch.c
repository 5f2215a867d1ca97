/*
 * sa-fetch: pages from an HTTP API to NDJSON records.
 *
 * One page at a time: fetch it (fetch-multi.c), parse it and find its
 * records (fetch-page.c), write them, flush, and only then save the
 * position of the next page in the --state file (fetch-state.c).  Memory
 * holds one page.  Numbered pages whose count is known, and the children
 * of parent records (--each), go through fetch-each.c, N at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch.h"

static void
usage(void)
{
	printf(
"usage: sa-fetch [-H HEADER] [--bearer-env VAR | --basic-env VAR]\n"
"                [--records JQ] [--next JQ [--cursor-param NAME]]\n"
"                [--page-param NAME] [--offset-param NAME] [--start N]\n"
"                [--limit N] [--limit-param NAME] [--max-pages N]\n"
"                [--total JQ] [--parallel N] [--retries N] [--backoff S]\n"
"                [--timeout S] [--rate N] [--state FILE] [-o FILE]\n"
"                [--since-field F --since-param P] [-t] [--rejects FILE]\n"
"                [--stats] [--quiet] [--metrics FILE]\n"
"                [--metrics-label NAME=VALUE] URL\n"
"       sa-fetch --each URL_TEMPLATE [--parent-key F[,F...]]\n"
"                [--parent-prefix P] [--missing skip]\n"
"                [--batch N --batch-key F [--batch-sep S]] [options]\n"
"                [FILE ...]\n"
"\n"
"Fetches the pages of an HTTP API and writes their records as NDJSON;\n"
"with --each, the pages of a child URL for each parent record read.\n"
"\n"
"  -H, --header 'NAME: VALUE'  send this header (repeatable)\n"
"  --bearer-env VAR     send 'Authorization: Bearer $VAR'\n"
"  --basic-env VAR      send basic authentication, $VAR is user:password\n"
"  --records JQ         where the records are (default: the page if it is\n"
"                       an array, else .data .results .items or .records)\n"
"  --next JQ            next URL, or with --cursor-param the next cursor\n"
"  --cursor-param NAME  send the cursor as query parameter NAME\n"
"  --page-param NAME    numbered pages, from --start (default 1)\n"
"  --offset-param NAME  offsets, from --start (default 0), needs --limit\n"
"  --limit N            page size, sent as --limit-param (default limit)\n"
"  --max-pages N        stop after N pages (of each child URL)\n"
"  --total JQ           records in all, from the first page, so that\n"
"                       numbered pages can be fetched in parallel\n"
"  --parallel N         at most N requests in flight (default 1)\n"
"  --retries N          retries per request (default 5)\n"
"  --backoff S          base of the exponential backoff (default 1)\n"
"  --timeout S          time limit of one request (default 60)\n"
"  --rate N             at most N requests in any one second\n"
"  --state FILE         save the position after each page (or parent);\n"
"                       resume from it\n"
"  -o, --output FILE    write to FILE, truncated to the state on resume\n"
"  -t, --tsv            write PostgreSQL COPY text, flattened by sa-explode\n"
"  --since-field F      remember the largest F (needs --state) ...\n"
"  --since-param P      ... and send it as P on the next run\n"
"  --each URL_TEMPLATE  for each parent record, fetch the template with\n"
"                       {FIELD} replaced by its value (dotted paths)\n"
"  --parent-key F,...   parent fields put on each child record (default:\n"
"                       the template's)\n"
"  --parent-prefix P    their names' prefix (default parent_)\n"
"  --missing skip       skip a parent whose URL answers 404\n"
"  --batch N            one request for N parents, their values joined\n"
"  --batch-key F        the child field that holds its parent's value\n"
"  --batch-sep S        what joins the values (default ,)\n"
"  --rejects FILE       write bad records and parents to FILE\n"
"  --stats              print statistics as JSON on stderr at exit\n"
"  --quiet              no progress line, no warnings\n"
"  --metrics FILE       write the --stats figures for Prometheus at exit\n"
"  --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
"  -h, --help           show this help;  --version  show the version\n"
"\n"
"Pagination follows Link: rel=\"next\" headers unless --next, --page-param\n"
"or --offset-param says otherwise.  CA certificates other than the\n"
"system's: CURL_CA_BUNDLE or SSL_CERT_FILE, as curl(1) reads them.\n");
}

enum {
	OPT_BEARER = 0x2000, OPT_BASIC, OPT_RECORDS, OPT_NEXT, OPT_CURSOR,
	OPT_PAGE, OPT_START, OPT_OFFSET, OPT_LIMIT, OPT_LIMIT_PARAM,
	OPT_MAX_PAGES, OPT_RETRIES, OPT_BACKOFF, OPT_TIMEOUT, OPT_RATE,
	OPT_STATE, OPT_SINCE_FIELD, OPT_SINCE_PARAM, OPT_TOTAL, OPT_PARALLEL,
	OPT_EACH, OPT_PARENT_KEY, OPT_PARENT_PREFIX, OPT_MISSING, OPT_BATCH,
	OPT_BATCH_KEY, OPT_BATCH_SEP
};

static const struct option longopts[] = {
	{ "header", required_argument, NULL, 'H' },
	{ "output", required_argument, NULL, 'o' },
	{ "tsv", no_argument, NULL, 't' },
	{ "bearer-env", required_argument, NULL, OPT_BEARER },
	{ "basic-env", required_argument, NULL, OPT_BASIC },
	{ "records", required_argument, NULL, OPT_RECORDS },
	{ "next", required_argument, NULL, OPT_NEXT },
	{ "cursor-param", required_argument, NULL, OPT_CURSOR },
	{ "page-param", required_argument, NULL, OPT_PAGE },
	{ "start", required_argument, NULL, OPT_START },
	{ "offset-param", required_argument, NULL, OPT_OFFSET },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "limit-param", required_argument, NULL, OPT_LIMIT_PARAM },
	{ "max-pages", required_argument, NULL, OPT_MAX_PAGES },
	{ "total", required_argument, NULL, OPT_TOTAL },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "since-field", required_argument, NULL, OPT_SINCE_FIELD },
	{ "since-param", required_argument, NULL, OPT_SINCE_PARAM },
	{ "each", required_argument, NULL, OPT_EACH },
	{ "parent-key", required_argument, NULL, OPT_PARENT_KEY },
	{ "parent-prefix", required_argument, NULL, OPT_PARENT_PREFIX },
	{ "missing", required_argument, NULL, OPT_MISSING },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "batch-key", required_argument, NULL, OPT_BATCH_KEY },
	{ "batch-sep", required_argument, NULL, OPT_BATCH_SEP },
	SA_COMMON_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

static double
parse_seconds(const char *opt, const char *s, double min, double max)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(d))
		sa_usage_error("%s: invalid number of seconds '%s'", opt, s);
	if (d < min || d > max)
		sa_usage_error("%s: %s is out of range (%g to %g)", opt, s, min,
		    max);
	return d;
}

static char *
secret_from_env(const char *opt, const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		sa_usage_error("%s: the environment variable %s is not set",
		    opt, var);
	return xstrdup(v);
}

static char *
base64(const char *s)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, j = 0;
	const unsigned char *p = (const unsigned char *)s;
	char *r = xmalloc(4 * ((n + 2) / 3) + 1);

	for (i = 0; i + 2 < n; i += 3) {
		r[j++] = tab[p[i] >> 2];
		r[j++] = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		r[j++] = tab[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		r[j++] = tab[p[i + 2] & 63];
	}
	if (i + 1 == n) {
		r[j++] = tab[p[i] >> 2];
		r[j++] = tab[(p[i] & 3) << 4];
		r[j++] = '=';
		r[j++] = '=';
	} else if (i + 2 == n) {
		r[j++] = tab[p[i] >> 2];
		r[j++] = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		r[j++] = tab[(p[i + 1] & 15) << 2];
		r[j++] = '=';
	}
	r[j] = '\0';
	return r;
}

/* Writes the records spooled on standard output to OUT as TSV, by
 * sa-explode -t, which flattens them exactly as in a pipeline; returns
 * its exit status. */
static int
to_tsv(int out)
{
	char self[4096], *slash;
	const char *prog = "sa-explode";
	ssize_t n;
	int status;
	pid_t pid;

	sa_out_flush();
	n = readlink("/proc/self/exe", self, sizeof(self) - 16);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			strcpy(slash + 1, "sa-explode");
			if (access(self, X_OK) == 0)
				prog = self;
		}
	}
	fflush(stderr);
	if ((pid = fork()) < 0)
		sa_die_errno(EX_OSERR, "fork");
	if (pid == 0) {
		if (lseek(STDOUT_FILENO, 0, SEEK_SET) != 0 ||
		    dup2(STDOUT_FILENO, STDIN_FILENO) < 0 ||
		    dup2(out, STDOUT_FILENO) < 0)
			_exit(EX_OSERR);
		close(out);
		execlp(prog, "sa-explode", "-t", (char *)NULL);
		fprintf(stderr, "%s: cannot run %s: %s\n", sa_prog, prog,
		    strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	close(out);
	close(STDOUT_FILENO);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			sa_die_errno(EX_OSERR, "waitpid");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return EX_SOFTWARE;
}

/* The Authorization header that --bearer-env or --basic-env asks for,
 * or NULL.  Secrets come from the environment, never from the
 * arguments. */
static char *
auth_header(const char *bearer, const char *basic)
{
	struct sa_buf line = { 0 };
	char *secret, *t;

	if (bearer != NULL) {
		secret = secret_from_env("--bearer-env", bearer);
		sa_buf_adds(&line, "Authorization: Bearer ");
		sa_buf_adds(&line, secret);
	} else if (basic != NULL) {
		secret = secret_from_env("--basic-env", basic);
		if (strchr(secret, ':') == NULL)
			sa_usage_error("--basic-env: %s is not user:password",
			    basic);
		t = base64(secret);
		sa_buf_adds(&line, "Authorization: Basic ");
		sa_buf_adds(&line, t);
		free(t);
	} else
		return NULL;
	memset(secret, 0, strlen(secret));
	free(secret);
	return line.s;
}

/* Where numbered or offset pages end, if the first page (PG, HP, with N
 * records) tells: the bound of the page numbers or offsets, else -1. */
static long long
pages_end(struct page *pg, const struct http_page *hp, size_t n,
    long long *step)
{
	const char *param = paging.mode == BY_PAGE ? paging.page_param :
	    paging.offset_param;
	long long total, size, last;
	char *v, *end;

	if (hp->link_last != NULL) {
		char *u = url_resolve(hp->url, hp->link_last);

		v = u ? url_get_param(u, param) : NULL;
		free(u);
		last = v ? strtoll(v, &end, 10) : -1;
		if (v == NULL || *end != '\0' || last < 0)
			last = -1;
		free(v);
		if (last >= 0) {
			*step = paging.mode == BY_PAGE ? 1 : (long long)n;
			return *step > 0 ? last + 1 : -1;
		}
	}
	if ((total = page_total(pg)) < 0 && (total = hp->total) < 0)
		return -1;
	/* A server that sends fewer records than asked sets the size. */
	size = paging.limit > 0 && paging.limit < (long long)n ?
	    paging.limit : (long long)n;
	if (size == 0)
		return -1;
	*step = paging.mode == BY_PAGE ? 1 : size;
	if (paging.mode == BY_OFFSET)
		return total;
	/* Page numbers count from 1, or from 0 if --start 0 says so. */
	return (paging.start == 0 ? 0 : 1) + (total + size - 1) / size;
}

/* Fetches URL and the pages after it; RESUME continues the saved run. */
static void
fetch_url(const char *url0, int resume, const char *since_param)
{
	struct http_page hp = { 0 };
	struct chain ch;
	struct page pg;
	struct sa_arena *arena;
	struct sa_val **recs;
	long long run_pages = 0, end, step;
	char *url, *nurl, *t;
	size_t n;

	t = xstrdup(url0);
	if (since_param != NULL && st.used.type != SA_NULL) {
		free(t);
		t = must_url(url_set_param(url0, since_param, st.used.s,
		    st.used.len), "the URL", url0);
	}
	url = chain_first(&ch, t);
	free(t);
	if (resume) {
		free(url);
		url = xstrdup(st.next);
		ch.page = st.page;
		ch.offset = st.offset;
	}
	arena = sa_arena_new();
	while (url != NULL) {
		if (paging.max_pages > 0 && run_pages >= paging.max_pages)
			break;
		http_get(url, &hp);
		sa_arena_reset(arena);
		pg.url = hp.url;
		pg.body = hp.body.s ? hp.body.s : "";
		pg.len = hp.body.len;
		page_parse(&pg, arena);
		n = page_records(&pg, &recs);
		sa_stats.bytes += hp.body.len;
		since_see(recs, n);
		page_write(&sa_out, &pg, recs, n, "", NULL, 0);
		sa_out_flush();
		nurl = chain_next(&ch, &pg, &hp, n, url);
		run_pages++;
		fetch_pages++;
		st.pages++;
		st.records += n;
		st.page = ch.page;
		st.offset = ch.offset;
		fetch_stats_refresh();
		state_step(nurl, nurl == NULL);
		free(url);
		url = nurl;
		/* Once the count of pages is known, the rest go N at a time. */
		if (url != NULL && http_opt.parallel > 1 &&
		    paging.max_pages == 0 && (paging.mode == BY_PAGE ||
		    paging.mode == BY_OFFSET) && run_pages == 1 &&
		    (end = pages_end(&pg, &hp, n, &step)) >= 0) {
			pages_run(&ch, end, step);
			free(url);
			url = NULL;
		}
	}
	free(url);
	free(ch.base);
	http_page_clear(&hp);
	sa_buf_free(&hp.body);
	sa_arena_free(arena);
}

int
main(int argc, char **argv)
{
	struct http_opts ho = { 0 };
	struct each_opts eo = { 0 };
	const char *records = NULL, *next = NULL, *total = NULL;
	const char *since_param = NULL, *bearer = NULL, *basic = NULL;
	int c, resume = 0, tsv = 0, tsv_out = -1, status = EX_OK;

	sa_setprog(argv[0]);
	sa_out_init();
	ho.retries = 5;
	ho.backoff = 1;
	ho.timeout_ms = 60000;
	ho.parallel = 1;
	ho.headers = xcalloc(argc, sizeof(char *));
	paging.limit_param = "limit";
	paging.start = -1;
	eo.prefix = "parent_";
	eo.batch_sep = ",";
	while ((c = getopt_long(argc, argv, "hH:o:t", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (strchr(optarg, ':') == NULL ||
			    *optarg == ':' || strpbrk(optarg, "\r\n"))
				sa_usage_error("-H: '%s' is not 'Name: value'",
				    optarg);
			ho.headers[ho.nheaders++] = optarg;
			break;
		case 'o': output_path = optarg; break;
		case 't': tsv = 1; break;
		case OPT_BEARER: bearer = optarg; break;
		case OPT_BASIC: basic = optarg; break;
		case OPT_RECORDS: records = optarg; break;
		case OPT_NEXT: next = optarg; break;
		case OPT_TOTAL: total = optarg; break;
		case OPT_CURSOR: paging.cursor_param = optarg; break;
		case OPT_PAGE: paging.page_param = optarg; break;
		case OPT_OFFSET: paging.offset_param = optarg; break;
		case OPT_LIMIT_PARAM: paging.limit_param = optarg; break;
		case OPT_STATE: state_path = optarg; break;
		case OPT_SINCE_FIELD: since_field = optarg; break;
		case OPT_SINCE_PARAM: since_param = optarg; break;
		case OPT_EACH: eo.tmpl = optarg; break;
		case OPT_PARENT_KEY: eo.parent_key = optarg; break;
		case OPT_PARENT_PREFIX: eo.prefix = optarg; break;
		case OPT_BATCH_KEY: eo.batch_key = optarg; break;
		case OPT_BATCH_SEP: eo.batch_sep = optarg; break;
		case OPT_MISSING:
			if (strcmp(optarg, "skip") != 0 &&
			    strcmp(optarg, "fail") != 0)
				sa_usage_error("--missing: '%s' is neither "
				    "skip nor fail", optarg);
			eo.missing_skip = *optarg == 's';
			break;
		case OPT_START:
			paging.start = sa_parse_int("--start", optarg, 0,
			    LLONG_MAX / 2);
			break;
		case OPT_LIMIT:
			paging.limit = sa_parse_int("--limit", optarg, 1,
			    1000000000);
			break;
		case OPT_MAX_PAGES:
			paging.max_pages = sa_parse_int("--max-pages", optarg,
			    1, LLONG_MAX);
			break;
		case OPT_PARALLEL:
			ho.parallel = sa_parse_int("--parallel", optarg, 1,
			    1000);
			break;
		case OPT_BATCH:
			eo.batch = sa_parse_int("--batch", optarg, 1, 10000);
			break;
		case OPT_RETRIES:
			ho.retries = sa_parse_int("--retries", optarg, 0, 100);
			break;
		case OPT_BACKOFF:
			ho.backoff = parse_seconds("--backoff", optarg, 0, 60);
			break;
		case OPT_TIMEOUT:
			ho.timeout_ms = 1000 * parse_seconds("--timeout", optarg,
			    0.001, 86400);
			break;
		case OPT_RATE:
			ho.rate = sa_parse_int("--rate", optarg, 1, 100000);
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (eo.tmpl == NULL && optind != argc - 1)
		sa_usage_error(optind == argc ? "missing URL" :
		    "one URL only");
	if ((next != NULL) + (paging.page_param != NULL) +
	    (paging.offset_param != NULL) > 1)
		sa_usage_error("--next, --page-param and --offset-param "
		    "exclude each other");
	if (paging.cursor_param != NULL && next == NULL)
		sa_usage_error("--cursor-param needs --next");
	if (paging.offset_param != NULL && paging.limit == 0)
		sa_usage_error("--offset-param needs --limit");
	if (paging.start >= 0 && paging.page_param == NULL &&
	    paging.offset_param == NULL)
		sa_usage_error("--start needs --page-param or --offset-param");
	if (paging.limit > 0 && paging.page_param == NULL &&
	    paging.offset_param == NULL)
		sa_usage_error("--limit needs --offset-param or --page-param");
	if (total != NULL && paging.page_param == NULL &&
	    paging.offset_param == NULL)
		sa_usage_error("--total needs --page-param or --offset-param");
	if ((since_field == NULL) != (since_param == NULL))
		sa_usage_error("--since-field and --since-param go together");
	if (since_field != NULL && (state_path == NULL || eo.tmpl != NULL))
		sa_usage_error(eo.tmpl ? "--since-field cannot be used with "
		    "--each" : "--since-field needs --state");
	if (tsv && state_path != NULL)
		sa_usage_error("-t cannot be resumed: leave out --state, or "
		    "pipe into sa-explode -t");
	if (bearer != NULL && basic != NULL)
		sa_usage_error("--bearer-env and --basic-env exclude each "
		    "other");
	if (eo.tmpl == NULL && (eo.parent_key || eo.batch || eo.batch_key ||
	    eo.missing_skip || strcmp(eo.prefix, "parent_") != 0 ||
	    strcmp(eo.batch_sep, ",") != 0))
		sa_usage_error("--parent-key, --parent-prefix, --missing and "
		    "--batch need --each");
	if ((eo.batch > 0) != (eo.batch_key != NULL))
		sa_usage_error("--batch and --batch-key go together");
	if (next != NULL)
		paging.mode = BY_NEXT;
	else if (paging.page_param != NULL)
		paging.mode = BY_PAGE;
	else if (paging.offset_param != NULL)
		paging.mode = BY_OFFSET;
	if (paging.start < 0)
		paging.start = paging.mode == BY_PAGE ? 1 : 0;

	ho.auth = auth_header(bearer, basic);
	st.url = eo.tmpl ? (char *)eo.tmpl : argv[optind];
	st.each = eo.tmpl != NULL;
	st.bytes = -1;
	ho.start_url = st.url;
	each_init(&eo);
	page_init(records, next, total);
	http_init(&ho);
	if (state_path != NULL) {
		if (load_state() && !st.done)
			resume = 1;
	}
	if (!resume) {
		/* A new run starts from the first page, newer than what the
		 * last completed run saw. */
		since_set(&st.used, st.max.type, st.max.s, st.max.len);
		st.page = st.offset = paging.start;
		st.pages = st.records = 0;
		st.parents = 0;
		free(st.next);
		st.next = NULL;
	}
	if (output_path != NULL)
		open_output(resume);
	if (tsv) {
		/* The records go to a temporary file first: the TSV header
		 * can only be written once every record has been seen. */
		if ((tsv_out = dup(STDOUT_FILENO)) < 0 ||
		    dup2(sa_tmpfd(), STDOUT_FILENO) < 0)
			sa_die_errno(EX_OSERR, "dup");
		sa_abort_also(tsv_out);
		sa_out_name = sa_tmpdir();
	}
	if (eo.tmpl != NULL)
		status = each_run(argv + optind, argc - optind, st.parents);
	else
		fetch_url(st.url, resume, since_param);
	sa_progress_clear();
	free(st.next);
	free(st.used.s);
	free(st.max.s);
	free(ho.headers);
	free((char *)ho.auth);
	page_cleanup();
	http_cleanup();
	each_cleanup();
	if (status != EX_OK)
		return status;
	return tsv ? to_tsv(tsv_out) : EX_OK;
}
