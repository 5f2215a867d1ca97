/* stats.c: record counters, the terminal progress line, --stats and the
 * exit hook that also writes --metrics. */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sa.h"

struct sa_stats sa_stats;

static struct timespec t0;
static double last_draw = -1;
static int progress_on = -1;	/* -1: not decided yet */
static int progress_shown;
static int stats_on, hooked;
static const char *stats_extra;
static unsigned tick;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

long
sa_peak_rss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return ru.ru_maxrss;
}

static void
print_stats(double seconds, long rss_kb)
{
	sa_progress_clear();
	fprintf(stderr, "{\"prog\":\"%s\",\"records_in\":%ju,"
	    "\"records_out\":%ju,\"records_rejected\":%ju,\"bytes_in\":%ju,"
	    "\"seconds\":%.3f,\"peak_rss_kb\":%ld%s%s}\n", sa_prog,
	    sa_stats.in, sa_stats.out, sa_stats.rejected, sa_stats.bytes,
	    seconds, rss_kb, stats_extra ? "," : "",
	    stats_extra ? stats_extra : "");
}

/* At exit, whatever the path (return from main, exit(), sa_die()): the
 * figures are taken once, so that --stats and --metrics agree. */
static void
at_exit(int status, void *arg)
{
	double seconds = now();
	long rss_kb = sa_peak_rss_kb();

	(void)arg;
	if (stats_on)
		print_stats(seconds, rss_kb);
	if (sa_metrics_enabled())
		sa_metrics_write(status, seconds, rss_kb);
}

static void
start_clock(void)
{
	if (t0.tv_sec == 0 && t0.tv_nsec == 0)
		clock_gettime(CLOCK_MONOTONIC, &t0);
}

void
sa_stats_hook(void)
{
	start_clock();
	if (!hooked)
		on_exit(at_exit, NULL);
	hooked = 1;
}

void
sa_stats_enable(void)
{
	sa_stats_hook();
	stats_on = 1;
}

void
sa_stats_extra(const char *extra)
{
	stats_extra = extra;
}

void
sa_progress(void)
{
	double t;

	if (++tick & 1023)
		return;
	if (progress_on < 0) {
		start_clock();
		progress_on = !sa_quiet && isatty(STDERR_FILENO);
	}
	if (!progress_on)
		return;
	t = now();
	if (last_draw >= 0 && t - last_draw < 0.25)
		return;
	if (last_draw < 0)
		atexit(sa_progress_clear);
	last_draw = t;
	fprintf(stderr, "\r%s: %ju records, %.1f MB", sa_prog, sa_stats.in,
	    sa_stats.bytes / 1e6);
	if (t >= 0.1)
		fprintf(stderr, ", %.1f MB/s", sa_stats.bytes / 1e6 / t);
	fputs("\033[K", stderr);
	progress_shown = 1;
}

void
sa_progress_clear(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = 0;
	}
}
