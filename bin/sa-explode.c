#include "sa.h"
int main(int argc, char **argv) { (void)argc; sa_setprog(argv[0]); return 70; }
