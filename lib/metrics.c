/* metrics.c: --metrics FILE, the --stats figures for a Prometheus textfile collector. */
#include <sys/resource.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sa.h"

struct label {
	char *name, *value;
};

static char *metrics_path, *metrics_dir, *metrics_tmp;
static struct label *labels;
static size_t nlabels;

static void size_text(void);

/* The text of the file is made in TEXT, sized as the labels need, so
 * that a signal handler can make it too: no allocation from there on. */
static char *text;
static size_t text_size;
static volatile sig_atomic_t writing;	/* the file is being written */
static struct timespec started;

int
sa_metrics_enabled(void)
{
	return metrics_path != NULL;
}

/* The directory of PATH, where the temporary file goes so that the
 * rename is atomic. */
static char *
dir_of(const char *path)
{
	char *copy = xstrdup(path), *d = xstrdup(dirname(copy));

	free(copy);
	return d;
}

void
sa_metrics_open(const char *path)
{
	struct stat st;
	char *dir, *copy;

	if (*path == '\0')
		sa_usage_error("--metrics: the file name is empty");
	/* Found out now, not after the work: the file is made at exit. */
	dir = dir_of(path);
	if (access(dir, W_OK | X_OK) != 0)
		sa_die_errno(EX_CANTCREAT, "%s", path);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		sa_die(EX_CANTCREAT, "%s: is a directory", path);
	free(metrics_path);
	metrics_path = xstrdup(path);
	/* The temporary name is made now, for a signal handler to use: in
	 * the same directory, so that the rename is atomic, and not a *.prom
	 * name, so that the collector never reads it. */
	free(metrics_tmp);
	metrics_tmp = xmalloc(strlen(dir) + strlen(path) + 40);
	copy = xstrdup(path);
	sprintf(metrics_tmp, "%s/.%s.%ld.tmp", dir, basename(copy),
	    (long)getpid());
	free(copy);
	free(metrics_dir);
	metrics_dir = dir;
	size_text();
	sa_stats_hook();
	clock_gettime(CLOCK_MONOTONIC, &started);
}

/* Label names as the exposition format allows them; names that begin
 * with "__" are Prometheus's own, "tool" is ours. */
static int
valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return !(len >= 2 && s[0] == '_' && s[1] == '_');
}

void
sa_metrics_label(const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg), i;

	if (eq == NULL)
		sa_usage_error("--metrics-label: expected NAME=VALUE, not '%s'",
		    arg);
	if (!valid_name(arg, len))
		sa_usage_error("--metrics-label: '%.*s' is not a label name "
		    "([a-zA-Z_][a-zA-Z0-9_]*, not beginning with __)",
		    (int)len, arg);
	if (len == 4 && memcmp(arg, "tool", 4) == 0)
		sa_usage_error("--metrics-label: the label tool is set by %s",
		    sa_prog);
	for (i = 0; i < nlabels; i++)
		if (strlen(labels[i].name) == len &&
		    memcmp(labels[i].name, arg, len) == 0)
			sa_usage_error("--metrics-label: %.*s is given twice",
			    (int)len, arg);
	if (sa_utf8_valid_len(eq + 1, strlen(eq + 1)) != strlen(eq + 1))
		sa_usage_error("--metrics-label: the value of %.*s is not "
		    "UTF-8", (int)len, arg);
	labels = xrealloc(labels, (nlabels + 1) * sizeof(*labels));
	labels[nlabels].name = xstrndup(arg, len);
	labels[nlabels++].value = xstrdup(eq + 1);
	size_text();
}

struct out {
	char *p, *end;
};

static void
put(struct out *o, const char *s)
{
	for (; *s != '\0' && o->p < o->end; s++)
		*o->p++ = *s;
}

/* A label value escaped as the format says: \\, \" and \n. */
static void
put_value(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			put(o, "\\");
		if (*s == '\n')
			put(o, "\\n");
		else if (o->p < o->end)
			*o->p++ = *s;
	}
}

static void
put_num(struct out *o, uintmax_t v)
{
	char d[24];
	int i = 0;

	do
		d[i++] = '0' + v % 10;
	while ((v /= 10) > 0);
	while (i > 0 && o->p < o->end)
		*o->p++ = d[--i];
}

/* Makes TEXT as long as the metrics with the labels so far can be. */
static void
size_text(void)
{
	size_t i, n = strlen(sa_prog) * 2 + 64;

	for (i = 0; i < nlabels; i++)
		n += strlen(labels[i].name) + 2 * strlen(labels[i].value) + 8;
	n = 7 * (n + 256);
	if (n > text_size) {
		free(text);
		text = xmalloc(n);
		text_size = n;
	}
}

/* The metrics, in the order of the --stats line; sa(7) documents them. */
static const struct metric {
	const char *name, *type, *help;
} metrics[] = {
	{ "sa_records_in_total", "counter", "Records read from the input." },
	{ "sa_records_out_total", "counter", "Records or rows written." },
	{ "sa_records_rejected_total", "counter",
	    "Bad records written to --rejects." },
	{ "sa_bytes_in_total", "counter", "Bytes of input read." },
	{ "sa_seconds", "gauge",
	    "Seconds from the start of the run to its exit." },
	{ "sa_peak_rss_bytes", "gauge", "Peak resident set size in bytes." },
	{ "sa_exit_status", "gauge",
	    "Exit status of the run (0 success, else as in sysexits.h)." },
};

/* Makes the file's text in TEXT for STATUS, SECONDS (as written) and
 * peak RSS_KB; returns its length. */
static size_t
format(int status, const char *seconds, long rss_kb)
{
	struct out o = { text, text + text_size };
	size_t i, j;

	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		put(&o, "# HELP ");
		put(&o, metrics[i].name);
		put(&o, " ");
		put(&o, metrics[i].help);
		put(&o, "\n# TYPE ");
		put(&o, metrics[i].name);
		put(&o, " ");
		put(&o, metrics[i].type);
		put(&o, "\n");
		put(&o, metrics[i].name);
		put(&o, "{tool=\"");
		put_value(&o, sa_prog);
		put(&o, "\"");
		for (j = 0; j < nlabels; j++) {
			put(&o, ",");
			put(&o, labels[j].name);
			put(&o, "=\"");
			put_value(&o, labels[j].value);
			put(&o, "\"");
		}
		put(&o, "} ");
		switch (i) {
		case 0: put_num(&o, sa_stats.in); break;
		case 1: put_num(&o, sa_stats.out); break;
		case 2: put_num(&o, sa_stats.rejected); break;
		case 3: put_num(&o, sa_stats.bytes); break;
		case 4: put(&o, seconds); break;
		case 5:
			if (rss_kb < 0)
				put(&o, "-1");
			else
				put_num(&o, (uintmax_t)rss_kb * 1024);
			break;
		default:
			put_num(&o, status);
		}
		put(&o, "\n");
	}
	return o.p - text;
}

/* Writes LEN bytes of TEXT to the temporary file beside the metrics file,
 * then renames it: a textfile collector reading the directory sees the
 * old file or the whole new one.  Only system calls a signal handler may
 * make.  Returns 0 with errno set if that fails. */
static int
replace(size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, dfd, e;

	/* A file left by a killed run of the same pid is stale. */
	unlink(metrics_tmp);
	/* The umask applies: the collector may be another user. */
	fd = open(metrics_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0666);
	if (fd < 0)
		return 0;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(metrics_tmp, metrics_path) != 0)
		goto fail;
	/* The rename itself lasts once the directory is on disk. */
	if ((dfd = open(metrics_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 1;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(metrics_tmp);
	errno = e;
	return 0;
}

void
sa_metrics_write(int status, double seconds, long rss_kb)
{
	char secs[32];
	int ok, e;

	writing = 1;
	snprintf(secs, sizeof(secs), "%.3f", seconds);
	ok = replace(format(status, secs, rss_kb));
	e = errno;
	writing = 0;
	if (ok)
		return;
	/* A run that failed keeps its own status; a run that succeeded
	 * but could not say so fails. */
	if (status == 0)
		sa_die_errno(EX_CANTCREAT, "%s", metrics_path);
	sa_note("%s: %s", metrics_path, strerror(e));
}

void
sa_metrics_signal(int status)
{
	struct timespec t;
	struct rusage ru;
	struct out o;
	char secs[32];
	uintmax_t ms;
	int e = errno;

	/* At exit the file is being written already. */
	if (metrics_path == NULL || writing)
		return;
	writing = 1;
	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (uintmax_t)(t.tv_sec - started.tv_sec) * 1000 +
	    (t.tv_nsec - started.tv_nsec) / 1000000;
	o.p = secs;
	o.end = secs + sizeof(secs) - 1;
	put_num(&o, ms / 1000);
	put(&o, ".");
	if (ms % 1000 < 100)
		put(&o, ms % 1000 < 10 ? "00" : "0");
	put_num(&o, ms % 1000);
	*o.p = '\0';
	replace(format(status, secs,
	    getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1));
	errno = e;
}
