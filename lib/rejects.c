/* rejects.c: bad records, fatal by default or kept in --rejects FILE. */
#include <stdlib.h>
#include <string.h>

#include "sa.h"

static FILE *rejects;
static const char *rejects_path;

static void
close_at_exit(void)
{
	sa_rejects_close();
}

void
sa_rejects_open(const char *path)
{
	if (rejects != NULL)
		fclose(rejects);
	/* Rejects hold input data: private, and never written through a
	 * symbolic link someone else placed at PATH. */
	rejects = fdopen(sa_open_private(path), "w");
	if (rejects == NULL)
		sa_die_errno(EX_OSERR, "%s", path);
	rejects_path = path;
	atexit(close_at_exit);
}

int
sa_rejects_enabled(void)
{
	return rejects != NULL;
}

void
sa_rejects_close(void)
{
	if (rejects == NULL)
		return;
	if (fclose(rejects) != 0) {
		rejects = NULL;
		sa_die_errno(EX_IOERR, "%s", rejects_path);
	}
	rejects = NULL;
}

void
sa_reject(const char *file, uintmax_t line, const char *raw, size_t rawlen,
    const struct sa_val *v, const char *fmt, ...)
{
	static struct sa_buf msg, rec;
	va_list ap;

	sa_buf_reset(&msg);
	va_start(ap, fmt);
	sa_buf_vprintf(&msg, fmt, ap);
	va_end(ap);

	if (rejects == NULL) {
		sa_out_flush();
		sa_die(EX_DATAERR, "%s:%ju: %s", file, line, msg.s);
	}
	sa_stats.rejected++;
	sa_buf_reset(&rec);
	sa_buf_adds(&rec, "{\"file\":");
	sa_json_string_lossy(&rec, file, strlen(file));
	sa_buf_grow(&rec, 32);
	rec.len += snprintf(rec.s + rec.len, 32, ",\"line\":%ju", line);
	sa_buf_adds(&rec, ",\"error\":");
	sa_json_string_lossy(&rec, msg.s, msg.len);
	sa_buf_adds(&rec, ",\"input\":");
	if (raw != NULL)
		sa_json_string_lossy(&rec, raw, rawlen);
	else {
		struct sa_buf j = { 0 };

		sa_json_append(&j, v);
		sa_json_string_lossy(&rec, j.s, j.len);
		sa_buf_free(&j);
	}
	sa_buf_adds(&rec, "}\n");
	if (fwrite(rec.s, 1, rec.len, rejects) != rec.len)
		sa_die_errno(EX_IOERR, "%s", rejects_path);
}
