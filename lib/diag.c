/* diag.c: messages, usage errors and argument parsing shared by the tools. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sa.h"

const char *sa_prog = "sa";
int sa_quiet;

void
sa_setprog(const char *argv0)
{
	const char *p = strrchr(argv0, '/');

	sa_prog = p ? p + 1 : argv0;
}

static void
vmsg(const char *fmt, va_list ap, int errnum)
{
	sa_progress_clear();
	fprintf(stderr, "%s: ", sa_prog);
	vfprintf(stderr, fmt, ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
}

__thread void (*sa_die_hook)(int status, const char *msg);

/* Hands the message to sa_die_hook; returns only if there is none. */
static void
to_hook(int status, const char *fmt, va_list ap, int errnum)
{
	struct sa_buf b = { 0 };

	if (sa_die_hook == NULL)
		return;
	sa_buf_vprintf(&b, fmt, ap);
	if (errnum) {
		sa_buf_adds(&b, ": ");
		sa_buf_adds(&b, strerror(errnum));
	}
	sa_die_hook(status, b.s);
}

void
sa_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	to_hook(status, fmt, ap, 0);
	va_end(ap);
	va_start(ap, fmt);
	vmsg(fmt, ap, 0);
	va_end(ap);
	exit(status);
}

void
sa_die_errno(int status, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	to_hook(status, fmt, ap, e);
	va_end(ap);
	va_start(ap, fmt);
	vmsg(fmt, ap, e);
	va_end(ap);
	exit(status);
}

void
sa_warn(const char *fmt, ...)
{
	va_list ap;

	if (sa_quiet)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap, 0);
	va_end(ap);
}

/* Like sa_warn, but --quiet does not silence it: errors that change the
 * exit status must always be seen. */
void
sa_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, 0);
	va_end(ap);
}

void
sa_usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vmsg(fmt, ap, 0);
		va_end(ap);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", sa_prog);
	exit(EX_USAGE);
}

void
sa_version(void)
{
	printf("%s (sa) %s\n", sa_prog, PACKAGE_VERSION);
	sa_out_flush();
	exit(EX_OK);
}

size_t
sa_parse_size(const char *opt, const char *s, size_t min)
{
	char *end;
	unsigned long long n, mul = 1;

	errno = 0;
	if (*s == '-' || *s == '\0')
		goto bad;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	}
	if (*end == 'B' || (*end == 'i' && end[1] == 'B' && end++))
		end++;
	if (*end != '\0' || n > SIZE_MAX / mul)
		goto bad;
	n *= mul;
	if (n < min)
		sa_usage_error("%s: %s is too small (at least %zu bytes)", opt,
		    s, min);
	return n;
bad:
	sa_usage_error("%s: invalid size '%s' (e.g. 64M, 1G)", opt, s);
}

long long
sa_parse_int(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		sa_usage_error("%s: invalid number '%s'", opt, s);
	if (n < min || n > max)
		sa_usage_error("%s: %s is out of range (%lld to %lld)", opt, s,
		    min, max);
	return n;
}

int
sa_common_option(int c, const char *arg, void (*usage)(void))
{
	switch (c) {
	case 'h':
		usage();
		sa_out_flush();
		exit(EX_OK);
	case SA_OPT_VERSION:
		sa_version();
	case SA_OPT_REJECTS:
		sa_rejects_open(arg);
		return 1;
	case SA_OPT_STATS:
		sa_stats_enable();
		return 1;
	case SA_OPT_QUIET:
		sa_quiet = 1;
		return 1;
	case SA_OPT_METRICS:
		sa_metrics_open(arg);
		return 1;
	case SA_OPT_METRICS_LABEL:
		sa_metrics_label(arg);
		return 1;
	case '?':
		sa_usage_error(NULL);
	}
	return 0;
}
