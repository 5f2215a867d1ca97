/*
 * fetch-state.c: the --state file of sa-fetch: where a run is, saved
 * atomically after each page (or parent) is completely written, and read
 * back to resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"

struct state st;
const char *state_path, *output_path, *since_field;

void
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

/* Writes the state unnamed beside it, syncs it and renames it over the
 * old one, so that a crash leaves one or the other. */
void
save_state(void)
{
	struct sa_buf b = { 0 };
	int fd;

	sa_buf_adds(&b, "{\"url\":");
	sa_json_string(&b, st.url, strlen(st.url));
	sa_buf_adds(&b, st.done ? ",\"done\":true" : ",\"done\":false");
	if (st.each) {
		sa_buf_grow(&b, 48);
		b.len += snprintf(b.s + b.len, 48, ",\"parents\":%lld",
		    st.parents);
	}
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

	/* Unnamed until complete and synced (file.c), 0600, and a symbolic
	 * link planted at the path is replaced, never followed. */
	fd = sa_create_atomic(state_path, 0600);
	write_all(fd, b.s, b.len, state_path);
	sa_commit(fd, state_path);
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

int
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
	v = sa_get(o, "parents", 7);
	if ((v != NULL) != st.each)
		sa_die(EX_USAGE, "%s: the state of a run %s --each",
		    state_path, st.each ? "without" : "with");
	st.parents = state_int(o, "parents", 0);
	st.page = state_int(o, "page", 0);
	st.offset = state_int(o, "offset", 0);
	st.bytes = state_int(o, "output_bytes", -1);
	st.pages = state_int(o, "pages", 0);
	st.records = state_int(o, "records", 0);
	state_since(o, "since_used", &st.used);
	state_since(o, "since", &st.max);
	sa_reader_close(r);
	if (!st.done && st.next == NULL && !st.each)
		sa_die(EX_DATAERR, "%s: no next page in an unfinished run",
		    state_path);
	return 1;
}

void
open_output(int resume)
{
	struct stat sb;
	off_t keep = 0;
	int fd;

	sa_no_sigxfsz();
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
	sa_out_name = output_path;
}


void
since_see(struct sa_val **recs, size_t n)
{
	struct sa_val *v;
	size_t i;

	if (since_field == NULL)
		return;
	for (i = 0; i < n; i++)
		if (recs[i]->type == SA_OBJECT && since_greater(v =
		    sa_get_path(recs[i], since_field), &st.max))
			since_set(&st.max, v->type, v->str, v->len);
}

void
state_step(const char *next, int done)
{
	if (state_path == NULL)
		return;
	if (output_path != NULL) {
		/* The records reach the disk before the state that counts
		 * them. */
		if (fdatasync(STDOUT_FILENO) != 0 && errno != EINVAL)
			sa_die_errno(EX_IOERR, "%s", output_path);
		st.bytes = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	}
	free(st.next);
	st.next = next ? xstrdup(next) : NULL;
	st.done = done;
	save_state();
}
