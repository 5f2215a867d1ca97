/* metrics.c: --metrics FILE, the --stats figures for a Prometheus textfile collector. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa.h"

struct label {
	char *name, *value;
};

static char *metrics_path;
static struct label *labels;
static size_t nlabels;

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
	char *dir;

	if (*path == '\0')
		sa_usage_error("--metrics: the file name is empty");
	/* Found out now, not after the work: the file is made at exit. */
	dir = dir_of(path);
	if (access(dir, W_OK | X_OK) != 0)
		sa_die_errno(EX_CANTCREAT, "%s", path);
	free(dir);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		sa_die(EX_CANTCREAT, "%s: is a directory", path);
	free(metrics_path);
	metrics_path = xstrdup(path);
	sa_stats_hook();
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
}

/* Appends a label value escaped as the format says: \\, \" and \n. */
static void
add_value(struct sa_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			sa_buf_addc(b, '\\');
		if (*s == '\n')
			sa_buf_adds(b, "\\n");
		else
			sa_buf_addc(b, *s);
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

static void
format(struct sa_buf *b, int status, double seconds, long rss_kb)
{
	struct sa_buf ls = { 0 };
	char v[sizeof(metrics) / sizeof(metrics[0])][32];
	size_t i;

	sa_buf_adds(&ls, "{tool=\"");
	add_value(&ls, sa_prog);
	sa_buf_addc(&ls, '"');
	for (i = 0; i < nlabels; i++) {
		sa_buf_addc(&ls, ',');
		sa_buf_adds(&ls, labels[i].name);
		sa_buf_adds(&ls, "=\"");
		add_value(&ls, labels[i].value);
		sa_buf_addc(&ls, '"');
	}
	sa_buf_addc(&ls, '}');
	snprintf(v[0], sizeof(v[0]), "%ju", sa_stats.in);
	snprintf(v[1], sizeof(v[1]), "%ju", sa_stats.out);
	snprintf(v[2], sizeof(v[2]), "%ju", sa_stats.rejected);
	snprintf(v[3], sizeof(v[3]), "%ju", sa_stats.bytes);
	snprintf(v[4], sizeof(v[4]), "%.3f", seconds);
	snprintf(v[5], sizeof(v[5]), "%lld", rss_kb < 0 ? -1LL :
	    rss_kb * 1024LL);
	snprintf(v[6], sizeof(v[6]), "%d", status);
	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		sa_buf_adds(b, "# HELP ");
		sa_buf_adds(b, metrics[i].name);
		sa_buf_addc(b, ' ');
		sa_buf_adds(b, metrics[i].help);
		sa_buf_adds(b, "\n# TYPE ");
		sa_buf_adds(b, metrics[i].name);
		sa_buf_addc(b, ' ');
		sa_buf_adds(b, metrics[i].type);
		sa_buf_addc(b, '\n');
		sa_buf_adds(b, metrics[i].name);
		sa_buf_adds(b, ls.s);
		sa_buf_addc(b, ' ');
		sa_buf_adds(b, v[i]);
		sa_buf_addc(b, '\n');
	}
	sa_buf_free(&ls);
}

/* Writes B to a new temporary file beside the metrics file, then renames
 * it: a textfile collector reading the directory sees the old file or the
 * whole new one.  Returns 0 with errno set if that fails. */
static int
replace(const struct sa_buf *b, const char *dir)
{
	struct sa_buf tmp = { 0 };
	char *copy = xstrdup(metrics_path);
	size_t off = 0;
	ssize_t n;
	mode_t mask;
	int fd, dfd, e;

	sa_buf_adds(&tmp, dir);
	sa_buf_adds(&tmp, "/.");
	sa_buf_adds(&tmp, basename(copy));
	sa_buf_adds(&tmp, ".XXXXXX");
	free(copy);
	if ((fd = mkstemp(tmp.s)) < 0)
		goto fail;
	/* mkstemp() makes the file 0600: the collector may be another user. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0)
		goto fail_fd;
	while (off < b->len) {
		n = write(fd, b->s + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_fd;
		off += n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail_fd;
	}
	if (rename(tmp.s, metrics_path) != 0) {
		fd = -1;
		goto fail_fd;
	}
	/* The rename itself lasts once the directory is on disk. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	sa_buf_free(&tmp);
	return 1;
fail_fd:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp.s);
	errno = e;
fail:
	sa_buf_free(&tmp);
	return 0;
}

void
sa_metrics_write(int status, double seconds, long rss_kb)
{
	struct sa_buf b = { 0 };
	char *dir = dir_of(metrics_path);
	int ok, e;

	format(&b, status, seconds, rss_kb);
	ok = replace(&b, dir);
	e = errno;
	sa_buf_free(&b);
	free(dir);
	if (ok)
		return;
	errno = e;
	/* A run that failed keeps its own status; a run that succeeded
	 * but could not say so fails. */
	if (status == 0)
		sa_die_errno(EX_CANTCREAT, "%s", metrics_path);
	sa_note("%s: %s", metrics_path, strerror(e));
}
