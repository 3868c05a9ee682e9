#include "jitgen/jitgen.h"
