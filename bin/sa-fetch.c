/*
 * sa-fetch: pages from an HTTP API to NDJSON records.
 *
 * One page at a time: fetch it (fetch-http.c), parse it and find its
 * records (fetch-page.c), write them, flush, and only then save the
 * position of the next page in the --state file.  Memory holds one page.
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

enum mode { BY_LINK, BY_NEXT, BY_PAGE, BY_OFFSET };

/* A --since value: a JSON string or number, kept as its text. */
struct since {
	int type;		/* SA_NULL: none yet */
	char *s;
	size_t len;
};

/* What the --state file holds. */
struct state {
	char *url;		/* the URL given on the command line */
	int done;		/* the last run completed */
	char *next;		/* the request to make next */
	long long page, offset;
	long long bytes;	/* length of -o FILE, or -1 */
	struct since used;	/* --since-param value of this run */
	struct since max;	/* largest --since-field value seen */
	uintmax_t pages, records;
};

static const char *state_path, *output_path;
static char *state_tmp;		/* removed by the signal handler */
static struct state st;
static char stats_extra[128] = "\"pages\":0,\"requests\":0,\"retries\":0";

static void
usage(void)
{
	printf(
"usage: sa-fetch [-H HEADER] [--bearer-env VAR | --basic-env VAR]\n"
"                [--records JQ] [--next JQ [--cursor-param NAME]]\n"
"                [--page-param NAME] [--offset-param NAME] [--start N]\n"
"                [--limit N] [--limit-param NAME] [--max-pages N]\n"
"                [--retries N] [--backoff S] [--timeout S] [--rate N]\n"
"                [--state FILE] [-o FILE] [--since-field F --since-param P]\n"
"                [-t] [--rejects FILE] [--stats] [--quiet] [--metrics FILE]\n"
"                [--metrics-label NAME=VALUE] URL\n"
"\n"
"Fetches the pages of an HTTP API and writes their records as NDJSON.\n"
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
"  --max-pages N        stop after N pages\n"
"  --retries N          retries per page (default 5)\n"
"  --backoff S          base of the exponential backoff (default 1)\n"
"  --timeout S          time limit of one request (default 60)\n"
"  --rate N             at most N requests in any one second\n"
"  --state FILE         save the position after each page; resume from it\n"
"  -o, --output FILE    write to FILE, truncated to the state on resume\n"
"  -t, --tsv            write PostgreSQL COPY text, flattened by sa-explode\n"
"  --since-field F      remember the largest F (needs --state) ...\n"
"  --since-param P      ... and send it as P on the next run\n"
"  --rejects FILE       write records that are not objects to FILE\n"
"  --stats              print statistics as JSON on stderr at exit\n"
"  --quiet              no progress line, no warnings\n"
"  --metrics FILE       write the --stats figures for Prometheus at exit\n"
"  --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
"  -h, --help           show this help;  --version  show the version\n"
"\n"
"Pagination follows Link: rel=\"next\" headers unless --next, --page-param\n"
"or --offset-param says otherwise.\n");
}

enum {
	OPT_BEARER = 0x2000, OPT_BASIC, OPT_RECORDS, OPT_NEXT, OPT_CURSOR,
	OPT_PAGE, OPT_START, OPT_OFFSET, OPT_LIMIT, OPT_LIMIT_PARAM,
	OPT_MAX_PAGES, OPT_RETRIES, OPT_BACKOFF, OPT_TIMEOUT, OPT_RATE,
	OPT_STATE, OPT_SINCE_FIELD, OPT_SINCE_PARAM
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
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "since-field", required_argument, NULL, OPT_SINCE_FIELD },
	{ "since-param", required_argument, NULL, OPT_SINCE_PARAM },
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

static void
since_set(struct since *s, int type, const char *text, size_t len)
{
	free(s->s);
	s->type = type;
	s->s = type == SA_NULL ? NULL : xstrndup(text, len);
	s->len = type == SA_NULL ? 0 : len;
}

/* Is V greater than S?  Numbers compare as numbers, anything else as
 * text, so that ISO timestamps compare correctly. */
static int
since_greater(const struct sa_val *v, const struct since *s)
{
	size_t n;
	int c;

	if (v == NULL || (v->type != SA_STRING && v->type != SA_NUMBER))
		return 0;
	if (s->type == SA_NULL)
		return 1;
	if (v->type == SA_NUMBER && s->type == SA_NUMBER)
		return strtold(v->str, NULL) > strtold(s->s, NULL);
	n = v->len < s->len ? v->len : s->len;
	c = memcmp(v->str, s->s, n);
	return c > 0 || (c == 0 && v->len > s->len);
}

static void
json_since(struct sa_buf *b, const struct since *s)
{
	if (s->type == SA_STRING)
		sa_json_string(b, s->s, s->len);
	else if (s->type == SA_NUMBER)
		sa_buf_add(b, s->s, s->len);
	else
		sa_buf_adds(b, "null");
}

static void
on_signal(int sig)
{
	if (state_tmp != NULL)
		unlink(state_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
write_all(int fd, const char *s, size_t len, const char *name)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sa_die_errno(EX_IOERR, "%s", name);
		s += n, len -= n;
	}
}

/* Writes the state to a temporary file beside it, syncs it and renames
 * it over the old one, so that a crash leaves one or the other. */
static void
save_state(void)
{
	struct sa_buf b = { 0 }, tmp = { 0 };
	char *dir;
	int fd;

	sa_buf_adds(&b, "{\"url\":");
	sa_json_string(&b, st.url, strlen(st.url));
	sa_buf_adds(&b, st.done ? ",\"done\":true" : ",\"done\":false");
	sa_buf_adds(&b, ",\"next\":");
	if (st.next != NULL)
		sa_json_string(&b, st.next, strlen(st.next));
	else
		sa_buf_adds(&b, "null");
	sa_buf_grow(&b, 160);
	b.len += snprintf(b.s + b.len, 160, ",\"page\":%lld,\"offset\":%lld,"
	    "\"pages\":%ju,\"records\":%ju", st.page, st.offset, st.pages,
	    st.records);
	if (st.bytes >= 0) {
		sa_buf_grow(&b, 48);
		b.len += snprintf(b.s + b.len, 48, ",\"output_bytes\":%lld",
		    st.bytes);
	}
	sa_buf_adds(&b, ",\"since_used\":");
	json_since(&b, &st.used);
	sa_buf_adds(&b, ",\"since\":");
	json_since(&b, &st.max);
	sa_buf_adds(&b, "}\n");

	sa_buf_adds(&tmp, state_path);
	sa_buf_adds(&tmp, ".XXXXXX");
	sa_buf_addc(&tmp, '\0');
	if ((fd = mkstemp(tmp.s)) < 0)
		sa_die_errno(EX_CANTCREAT, "%s", tmp.s);
	state_tmp = tmp.s;
	write_all(fd, b.s, b.len, tmp.s);
	if (fsync(fd) != 0 || close(fd) != 0)
		sa_die_errno(EX_IOERR, "%s", tmp.s);
	if (rename(tmp.s, state_path) != 0) {
		unlink(tmp.s);
		sa_die_errno(EX_CANTCREAT, "%s", state_path);
	}
	state_tmp = NULL;
	/* The rename itself is only durable once the directory is synced. */
	dir = dirname(tmp.s);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(fd);
		close(fd);
	}
	sa_buf_free(&tmp);
	sa_buf_free(&b);
}

static long long
state_int(const struct sa_val *o, const char *name, long long dflt)
{
	const struct sa_val *v = sa_get(o, name, strlen(name));

	if (v == NULL || v->type == SA_NULL)
		return dflt;
	if (v->type != SA_NUMBER)
		sa_die(EX_DATAERR, "%s: \"%s\" is not a number", state_path,
		    name);
	return strtoll(v->str, NULL, 10);
}

static void
state_since(const struct sa_val *o, const char *name, struct since *s)
{
	const struct sa_val *v = sa_get(o, name, strlen(name));

	if (v != NULL && (v->type == SA_STRING || v->type == SA_NUMBER))
		since_set(s, v->type, v->str, v->len);
}

/* Reads the state file; returns 0 if there is none. */
static int
load_state(void)
{
	struct sa_reader *r = sa_reader_open(state_path);
	struct sa_record rec;
	const struct sa_val *o, *v;

	if (r == NULL) {
		if (errno == ENOENT)
			return 0;
		sa_die_errno(EX_NOINPUT, "%s", state_path);
	}
	if (sa_reader_next(r, &rec) != SA_OK)
		sa_die(EX_DATAERR, "%s: not a state file of sa-fetch",
		    state_path);
	o = rec.root;
	v = sa_get(o, "url", 3);
	if (v == NULL || v->type != SA_STRING)
		sa_die(EX_DATAERR, "%s: not a state file of sa-fetch",
		    state_path);
	if (strcmp(v->str, st.url) != 0)
		sa_die(EX_USAGE, "%s: the state of another URL (%s)",
		    state_path, v->str);
	v = sa_get(o, "done", 4);
	st.done = v != NULL && v->type == SA_TRUE;
	v = sa_get(o, "next", 4);
	if (v != NULL && v->type == SA_STRING)
		st.next = xstrdup(v->str);
	st.page = state_int(o, "page", 0);
	st.offset = state_int(o, "offset", 0);
	st.bytes = state_int(o, "output_bytes", -1);
	st.pages = state_int(o, "pages", 0);
	st.records = state_int(o, "records", 0);
	state_since(o, "since_used", &st.used);
	state_since(o, "since", &st.max);
	sa_reader_close(r);
	if (!st.done && st.next == NULL)
		sa_die(EX_DATAERR, "%s: no next page in an unfinished run",
		    state_path);
	return 1;
}

/* Opens -o FILE on standard output: truncated to what the state says
 * was completely written, or empty for a new run. */
static void
open_output(int resume)
{
	struct stat sb;
	off_t keep = 0;
	int fd;

	fd = open(output_path, O_WRONLY | O_CREAT, 0666);
	if (fd < 0 || fstat(fd, &sb) != 0)
		sa_die_errno(EX_CANTCREAT, "%s", output_path);
	if (resume && st.bytes >= 0) {
		keep = st.bytes;
		if (S_ISREG(sb.st_mode) && sb.st_size < keep)
			sa_die(EX_DATAERR, "%s: %lld bytes, less than the %lld "
			    "that %s recorded", output_path,
			    (long long)sb.st_size, st.bytes, state_path);
	}
	if (S_ISREG(sb.st_mode) && (ftruncate(fd, keep) != 0 ||
	    lseek(fd, 0, SEEK_END) < 0))
		sa_die_errno(EX_IOERR, "%s", output_path);
	if (dup2(fd, STDOUT_FILENO) < 0)
		sa_die_errno(EX_OSERR, "dup2");
	close(fd);
}

static char *
must_url(char *u, const char *what, const char *url)
{
	if (u == NULL)
		sa_die(EX_DATAERR, "%s: %s is not a URL", url, what);
	return u;
}

static char *
with_number(const char *url, const char *name, long long n)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", n);
	return must_url(url_set_param(url, name, num, strlen(num)), "the URL",
	    url);
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

int
main(int argc, char **argv)
{
	struct http_opts ho = { 0 };
	struct http_page hp = { 0 };
	struct page pg;
	struct sa_arena *arena;
	struct sa_val **recs, *v;
	const char *records = NULL, *next = NULL, *cursor_param = NULL;
	const char *page_param = NULL, *offset_param = NULL;
	const char *limit_param = "limit", *since_field = NULL;
	const char *since_param = NULL, *bearer = NULL, *basic = NULL;
	long long start = -1, limit = 0, max_pages = 0, run_pages = 0;
	char *base, *url, *nurl, *t, *secret;
	enum mode mode = BY_LINK;
	struct sa_buf line = { 0 };
	size_t n, i;
	int c, resume = 0, tsv = 0, tsv_out = -1;

	sa_setprog(argv[0]);
	sa_out_init();
	ho.retries = 5;
	ho.backoff = 1;
	ho.timeout_ms = 60000;
	ho.headers = xcalloc(argc, sizeof(char *));
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
		case OPT_CURSOR: cursor_param = optarg; break;
		case OPT_PAGE: page_param = optarg; break;
		case OPT_OFFSET: offset_param = optarg; break;
		case OPT_LIMIT_PARAM: limit_param = optarg; break;
		case OPT_STATE: state_path = optarg; break;
		case OPT_SINCE_FIELD: since_field = optarg; break;
		case OPT_SINCE_PARAM: since_param = optarg; break;
		case OPT_START:
			start = sa_parse_int("--start", optarg, 0, LLONG_MAX / 2);
			break;
		case OPT_LIMIT:
			limit = sa_parse_int("--limit", optarg, 1, 1000000000);
			break;
		case OPT_MAX_PAGES:
			max_pages = sa_parse_int("--max-pages", optarg, 1,
			    LLONG_MAX);
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
	if (optind != argc - 1)
		sa_usage_error(optind == argc ? "missing URL" :
		    "one URL only");
	if ((next != NULL) + (page_param != NULL) + (offset_param != NULL) > 1)
		sa_usage_error("--next, --page-param and --offset-param "
		    "exclude each other");
	if (cursor_param != NULL && next == NULL)
		sa_usage_error("--cursor-param needs --next");
	if (offset_param != NULL && limit == 0)
		sa_usage_error("--offset-param needs --limit");
	if (start >= 0 && page_param == NULL && offset_param == NULL)
		sa_usage_error("--start needs --page-param or --offset-param");
	if (limit > 0 && page_param == NULL && offset_param == NULL)
		sa_usage_error("--limit needs --offset-param or --page-param");
	if ((since_field == NULL) != (since_param == NULL))
		sa_usage_error("--since-field and --since-param go together");
	if (since_field != NULL && state_path == NULL)
		sa_usage_error("--since-field needs --state");
	if (tsv && state_path != NULL)
		sa_usage_error("-t cannot be resumed: leave out --state, or "
		    "pipe into sa-explode -t");
	if (bearer != NULL && basic != NULL)
		sa_usage_error("--bearer-env and --basic-env exclude each "
		    "other");
	if (next != NULL)
		mode = BY_NEXT;
	else if (page_param != NULL)
		mode = BY_PAGE;
	else if (offset_param != NULL)
		mode = BY_OFFSET;
	if (start < 0)
		start = mode == BY_PAGE ? 1 : 0;

	/* Secrets come from the environment, never from the arguments. */
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
		secret = NULL;
	if (secret != NULL) {
		sa_buf_addc(&line, '\0');
		ho.auth = line.s;
		memset(secret, 0, strlen(secret));
		free(secret);
	}

	st.url = argv[optind];
	st.bytes = -1;
	ho.start_url = st.url;
	page_init(records, next);
	http_init(&ho);
	if (state_path != NULL) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		if (load_state() && !st.done)
			resume = 1;
	}
	if (!resume) {
		/* A new run starts from the first page, newer than what the
		 * last completed run saw. */
		since_set(&st.used, st.max.type, st.max.s, st.max.len);
		st.page = start;
		st.offset = start;
		st.pages = st.records = 0;
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
	}

	base = xstrdup(st.url);
	if (since_param != NULL && st.used.type != SA_NULL) {
		t = base;
		base = must_url(url_set_param(t, since_param, st.used.s,
		    st.used.len), "the URL", st.url);
		free(t);
	}
	if (limit > 0) {
		t = base;
		base = with_number(t, limit_param, limit);
		free(t);
	}
	if (resume)
		url = xstrdup(st.next);
	else if (mode == BY_PAGE)
		url = with_number(base, page_param, st.page);
	else if (mode == BY_OFFSET)
		url = with_number(base, offset_param, st.offset);
	else
		url = xstrdup(base);

	arena = sa_arena_new();
	sa_stats_extra(stats_extra);
	while (url != NULL) {
		if (max_pages > 0 && run_pages >= max_pages)
			break;
		http_get(url, &hp);
		sa_arena_reset(arena);
		pg.url = hp.url;
		pg.body = hp.body.s ? hp.body.s : "";
		pg.len = hp.body.len;
		page_parse(&pg, arena);
		n = page_records(&pg, &recs);
		sa_stats.bytes += hp.body.len;
		for (i = 0; i < n; i++) {
			sa_stats.in++;
			if (recs[i]->type != SA_OBJECT) {
				sa_reject(hp.url, i + 1, NULL, 0, recs[i],
				    "record %zu of the page is not an object",
				    i + 1);
				continue;
			}
			if (since_field != NULL &&
			    since_greater(v = sa_get_path(recs[i],
			    since_field), &st.max))
				since_set(&st.max, v->type, v->str, v->len);
			sa_json_append(&sa_out, recs[i]);
			sa_buf_addc(&sa_out, '\n');
			sa_stats.out++;
			sa_progress();
		}
		sa_out_flush();

		switch (mode) {
		case BY_LINK:
			nurl = hp.link_next == NULL ? NULL : must_url(
			    url_resolve(hp.url, hp.link_next),
			    "the Link rel=\"next\" target", hp.url);
			break;
		case BY_NEXT:
			if ((v = page_next(&pg)) == NULL)
				nurl = NULL;
			else if (cursor_param != NULL)
				nurl = must_url(url_set_param(base,
				    cursor_param, v->str, v->len),
				    "the URL", base);
			else
				nurl = must_url(url_resolve(hp.url, v->str),
				    "the --next value", hp.url);
			break;
		case BY_PAGE:
			nurl = n == 0 ? NULL : with_number(base, page_param,
			    ++st.page);
			break;
		case BY_OFFSET:
			st.offset += n;
			nurl = n == 0 ? NULL : with_number(base, offset_param,
			    st.offset);
			break;
		}
		if (nurl != NULL && (strcmp(nurl, url) == 0 ||
		    strcmp(nurl, hp.url) == 0))
			sa_die(EX_DATAERR, "%s: the next page is this page "
			    "again", hp.url);
		run_pages++;
		st.pages++;
		st.records += n;
		snprintf(stats_extra, sizeof(stats_extra), "\"pages\":%lld,"
		    "\"requests\":%ju,\"retries\":%ju", run_pages,
		    http_stats.requests, http_stats.retries);
		if (state_path != NULL) {
			if (output_path != NULL) {
				/* The records reach the disk before the
				 * state that counts them. */
				if (fdatasync(STDOUT_FILENO) != 0 &&
				    errno != EINVAL)
					sa_die_errno(EX_IOERR, "%s",
					    output_path);
				st.bytes = lseek(STDOUT_FILENO, 0, SEEK_CUR);
			}
			free(st.next);
			st.next = nurl ? xstrdup(nurl) : NULL;
			st.done = nurl == NULL;
			save_state();
		}
		free(url);
		url = nurl;
	}
	sa_progress_clear();
	free(url);
	free(base);
	free(st.next);
	free(st.used.s);
	free(st.max.s);
	free(ho.headers);
	sa_buf_free(&line);
	http_page_clear(&hp);
	sa_buf_free(&hp.body);
	sa_arena_free(arena);
	page_cleanup();
	http_cleanup();
	return tsv ? to_tsv(tsv_out) : EX_OK;
}
