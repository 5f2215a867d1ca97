/* sa-fetch: placeholder until the tool lands. */
#include "sa.h"

int
main(int argc, char **argv)
{
	(void)argc;
	sa_setprog(argv[0]);
	sa_die(EX_SOFTWARE, "not implemented yet");
}
