/*
 * fuzz-page.c: sa-fetch's page parsing on any page: its records and its
 * next cursor, found as sa-fetch finds them.
 *
 * The --records and --next expressions come from the environment:
 * SA_FUZZ_RECORDS (default: none, so the page or its .data, .results,
 * .items or .records array) and SA_FUZZ_NEXT (default: a jq expression
 * that is no plain path, so that libjq evaluates it on every page, and
 * that raises no jq error: that exit leaves libjq's values behind, which
 * the leak checker would take for a leak; give -detect_leaks=0 with
 * expressions that can fail).  A page sa-fetch refuses ends it with a status
 * (65): here the harness catches that exit and goes on to the next input.
 * Linked with -Wl,--wrap=exit.
 */
#include <setjmp.h>
#include <string.h>

#include "fetch.h"
#include "fuzz.h"

static struct sa_arena *arena;
static jmp_buf refused;
static int running;
static const char *next_expr = "(.meta.next_cursor)? // (.links.next)?";

void __real_exit(int) __attribute__((noreturn));
void __wrap_exit(int) __attribute__((noreturn));

/* sa_die's exit: a refused page if it comes from a test input with a
 * data error, anything else is a crash. */
void
__wrap_exit(int status)
{
	if (!running)
		__real_exit(status);
	running = 0;
	FUZZ_CHECK(status == EX_DATAERR, "a page ended sa-fetch with a "
	    "status other than 65");
	longjmp(refused, 1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sa_setprog("fuzz-page");
	if (getenv("SA_FUZZ_NEXT") != NULL)
		next_expr = getenv("SA_FUZZ_NEXT");
	page_init(getenv("SA_FUZZ_RECORDS"), next_expr, NULL);
	arena = sa_arena_new();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct page pg = { "fuzz", (const char *)data, size, NULL };
	struct sa_val **recs, *next;
	size_t n, i;

	sa_arena_reset(arena);
	if (setjmp(refused) != 0)
		return 0;
	running = 1;
	page_parse(&pg, arena);
	n = page_records(&pg, &recs);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(recs[i] != NULL, "a record that is not there");
	if ((next = page_next(&pg)) != NULL)
		FUZZ_CHECK(next->type == SA_STRING || next->type == SA_NUMBER,
		    "a next cursor that is neither text nor a number");
	running = 0;
	return 0;
}
