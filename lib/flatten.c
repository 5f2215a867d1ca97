#include "sa.h"
