/* SPDX-License-Identifier: Apache-2.0 */
/* The ABI layout as a C11 compiler sees it (see layout_asserts.h). */
#include "layout_asserts.h"

int modtgt_abi_layout_checked_in_c(void);
int modtgt_abi_layout_checked_in_c(void) { return 1; }
