/* no_programs.c — a library object: global functions in .text only, no
 * SEC() program. Nothing in it runs on its own, so there is nothing to
 * prove: pstack-verify says "no programs" (verdict none) in every format
 * and exits 0.
 */
#include "../../cases/common.h"

__attribute__((noinline)) int lib_add(int a, int b)
{
	FRAME(32);
	return a + b + TOUCH();
}

int lib_twice(int a)
{
	return lib_add(a, a);
}
