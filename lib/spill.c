/* spill.c: placeholder until sa-dedup and sa-join land. */
#include "sa.h"
