/*
 * fuzz-link.c: sa-fetch's Link header parser, and the URL edits that
 * follow it, on any header value.
 *
 * The next target is a piece of the header, and resolving it against the
 * page's URL never fails for a reason other than its being no URL.  The
 * same bytes as a cursor value always make a URL.
 */
#include <string.h>

#include "fetch.h"
#include "fuzz.h"

static const char page_url[] = "https://api.example.com/v1/items?page=2";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *next, *url;

	if ((next = link_next((const char *)data, size)) != NULL) {
		FUZZ_CHECK(memmem(data, size, next, strlen(next)) != NULL,
		    "the next link is not in the header");
		free(url_resolve(page_url, next));
		free(next);
	}
	url = url_set_param(page_url, "cursor", (const char *)data, size);
	FUZZ_CHECK(url != NULL && strstr(url, "cursor=") != NULL,
	    "a cursor did not make a URL");
	free(url);
	return 0;
}
