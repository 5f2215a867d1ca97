/*
 * sa-join: join two record streams on keys, with SQL semantics.
 *
 * The RIGHT input is hashed in memory and the LEFT input streams past it.
 * When RIGHT outgrows --memory, both sides go to hash partitions (a grace
 * hash join); every output row carries the input positions of its left
 * and right records, and the partitions' rows are merged by them, so the
 * rows come out in the same order whatever the budget: left input order,
 * matches in right input order, then the unmatched right records.
 * --sorted is a merge join over inputs sorted by key, in constant memory.
 * This file reads the options; join.h says which file does the rest.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "join.h"

enum { OPT_TYPE = 0x2000, OPT_SUFFIX, OPT_VALIDATE, OPT_MAX_FANOUT,
	OPT_SORTED, OPT_SHARD, OPT_THREADS, OPT_RIGHT_COLUMNS };

int type = INNER;
char **lkeys, **rkeys;
size_t nkeys;
const char *suffix = "_right";
int unique_left, unique_right;
const char *validate;
unsigned long long max_fanout;
size_t budget;
struct sa_shard shard;
const char *rname, *lname;

static void
usage(void)
{
	printf("usage: sa-join -k KEY[,KEY...] [--type inner|left|right|full] "
	    "[--right-columns COL[,COL...]] "
	    "[--suffix S] [--validate 1:1|1:m|m:1] [--max-fanout N] "
	    "[-m SIZE] [--sorted] [--shard I/N] [--threads N] [-tj] "
	    "[--rejects FILE] "
	    "[--stats] [--quiet] "
	    "[--metrics FILE] [--metrics-label NAME=VALUE] RIGHT [LEFT]\n"
	    "\n"
	    "Join the records of LEFT (default stdin) with those of RIGHT.\n"
	    "\n"
	    "  -k, --key KEY[,KEY...]  join columns; LEFTNAME=RIGHTNAME when "
	    "names differ\n"
	    "      --type TYPE         inner (default), left, right or full\n"
	    "      --right-columns COL[,COL...]  keep only the right columns "
	    "named (GLOBs)\n"
	    "      --suffix S          for right columns whose names clash "
	    "(default _right)\n"
	    "      --validate REL      1:1, 1:m or m:1: stop if a side declared "
	    "unique is not\n"
	    "      --max-fanout N      stop when one key would give more than N "
	    "rows\n"
	    "  -m, --memory SIZE       memory for RIGHT before spilling "
	    "(default 256M)\n"
	    "      --sorted            both inputs are sorted by key: merge "
	    "join\n"
	    "      --shard I/N         only the keys of shard I of N, each side "
	    "by its own key\n"
	    "      --threads N         parse with N threads (default: the "
	    "online CPUs;\n"
	    "                          --sorted reads on one thread)\n"
	    "  -t, --tsv               write TSV (PostgreSQL COPY text)\n"
	    "  -j, --ndjson            write NDJSON (also --json)\n"
	    "      --rejects FILE      write bad records to FILE and go on\n"
	    "      --stats             print counters as JSON on stderr at exit\n"
	    "      --quiet             no progress line or warnings\n"
	    "      --metrics FILE      write the --stats figures for Prometheus "
	    "at exit\n"
	    "      --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
	    "  -h, --help              show this help\n"
	    "      --version           show the version\n");
}

/* -k: the key names, LEFTNAME=RIGHTNAME where they differ. */
static void
parse_keys(const char *arg)
{
	size_t i = nkeys;
	char *eq;

	sa_list_add("-k", arg, ',', &lkeys, &nkeys);
	rkeys = xrealloc(rkeys, nkeys * sizeof(*rkeys));
	for (; i < nkeys; i++) {
		if ((eq = strchr(lkeys[i], '=')) != NULL)
			*eq++ = '\0';
		rkeys[i] = eq != NULL ? eq : lkeys[i];
		if (*lkeys[i] == '\0' || *rkeys[i] == '\0')
			sa_usage_error("-k: empty key name in '%s'", arg);
	}
}

/* Is PATH there to be read?  Asked without opening it: a FIFO opened
 * and closed here would lose its writer. */
static void
can_open(const char *path)
{
	struct stat st;

	if (strcmp(path, "-") == 0)
		return;
	if (stat(path, &st) != 0 || access(path, R_OK) != 0)
		sa_die(EX_NOINPUT, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		sa_die(EX_NOINPUT, "%s: %s", path, strerror(EISDIR));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "right-columns", required_argument, NULL,
		    OPT_RIGHT_COLUMNS },
		{ "suffix", required_argument, NULL, OPT_SUFFIX },
		{ "validate", required_argument, NULL, OPT_VALIDATE },
		{ "max-fanout", required_argument, NULL, OPT_MAX_FANOUT },
		{ "memory", required_argument, NULL, 'm' },
		{ "sorted", no_argument, NULL, OPT_SORTED },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "tsv", no_argument, NULL, 't' },
		{ "ndjson", no_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'j' },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *lfiles[1];
	struct sa_input rin, lin;
	enum sa_format ofmt = SA_FMT_UNKNOWN;
	size_t memory = 256 << 20;
	int c, sorted = 0;

	sa_setprog(argv[0]);
	sa_out_init();
	threads = sa_threads_default();
	while ((c = getopt_long(argc, argv, "hk:m:tj", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			parse_keys(optarg);
			break;
		case OPT_TYPE:
			if (strcmp(optarg, "inner") == 0)
				type = INNER;
			else if (strcmp(optarg, "left") == 0)
				type = LEFT;
			else if (strcmp(optarg, "right") == 0)
				type = RIGHT;
			else if (strcmp(optarg, "full") == 0)
				type = FULL;
			else
				sa_usage_error("--type: expected inner, left, "
				    "right or full, not '%s'", optarg);
			break;
		case OPT_RIGHT_COLUMNS:
			right_columns_parse(optarg);
			break;
		case OPT_SUFFIX:
			suffix = optarg;
			break;
		case OPT_VALIDATE:
			validate = optarg;
			if (strcmp(optarg, "1:1") == 0)
				unique_left = unique_right = 1;
			else if (strcmp(optarg, "1:m") == 0)
				unique_left = 1;
			else if (strcmp(optarg, "m:1") == 0)
				unique_right = 1;
			else if (strcmp(optarg, "m:m") != 0)
				sa_usage_error("--validate: expected 1:1, 1:m, "
				    "m:1 or m:m, not '%s'", optarg);
			break;
		case OPT_MAX_FANOUT:
			max_fanout = sa_parse_int("--max-fanout", optarg, 1,
			    INT64_MAX);
			break;
		case 'm':
			memory = sa_parse_size("-m", optarg, 1 << 20);
			break;
		case OPT_SORTED:
			sorted = 1;
			break;
		case OPT_SHARD:
			sa_shard_parse(&shard, "--shard", optarg);
			break;
		case OPT_THREADS:
			threads = sa_threads_parse("--threads", optarg);
			break;
		case 't':
			ofmt = SA_FMT_TSV;
			sa_copy_text = 1;	/* refuse \u0000 as it is read */
			break;
		case 'j':
			ofmt = SA_FMT_JSON;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (nkeys == 0)
		sa_usage_error("a key is required (-k KEY)");
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		sa_usage_error(argc < 1 ? "RIGHT is missing" :
		    "too many operands");
	rname = argv[0];
	lname = argc > 1 ? argv[1] : "-";
	if (strcmp(rname, "-") == 0 && strcmp(lname, "-") == 0)
		sa_usage_error("RIGHT and LEFT cannot both be stdin");
	if (strcmp(lname, "-") == 0)
		lname = "stdin";
	if (strcmp(rname, "-") == 0)
		rname = "stdin";
	budget = sa_memory_budget(memory, threads);

	lfiles[0] = argc > 1 ? argv[1] : "-";
	/* Without one side the join is wrong, not short: nothing is
	 * written. */
	can_open(argv[0]);
	can_open(lfiles[0]);
	sa_input_init(&rin, 1, argv);
	sa_input_init(&lin, 1, lfiles);
	if (sorted)
		sorted_join(&rin, &lin, ofmt);
	else
		hash_join(&rin, &lin, ofmt);
	sa_input_close(&rin);
	sa_input_close(&lin);
	sa_sink_finish(sink);
	return rin.status > lin.status ? rin.status : lin.status;
}
