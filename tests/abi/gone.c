/* SPDX-License-Identifier: Apache-2.0 */
/* A shared library bs_missingdep.so links against and that the loader cannot find. */
int modtgt_test_gone_function(void);
int modtgt_test_gone_function(void) { return 42; }
