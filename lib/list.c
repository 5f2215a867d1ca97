/* list.c: the one parser of lists in option arguments, such as -k a,b. */
#include <stdlib.h>
#include <string.h>

#include "sa.h"

void
sa_list_add(const char *opt, const char *arg, int sep, char ***items,
    size_t *n)
{
	const char *p = arg, *end;

	/* One rule for every tool: "a,,b", ",a", "a," and "" are mistakes,
	 * never a list with an item skipped. */
	for (;;) {
		if ((end = strchr(p, sep)) == NULL)
			end = p + strlen(p);
		if (end == p)
			sa_usage_error("%s: empty item in '%s'", opt, arg);
		*items = xrealloc(*items, (*n + 1) * sizeof(**items));
		(*items)[(*n)++] = xstrndup(p, end - p);
		if (*end == '\0')
			return;
		p = end + 1;
	}
}

void
sa_list_free(char ***items, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		free((*items)[i]);
	free(*items);
	*items = NULL;
	*n = 0;
}
