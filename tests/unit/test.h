#ifndef TIDINGS_TEST_H
#define TIDINGS_TEST_H

/*
 * A tiny unit-test kit. A test file defines static void test_x(void)
 * functions and a main() that calls T_RUN(test_x) for each, then returns
 * T_DONE(). Checks do not stop the test; they count failures and print
 * file:line and the expression.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int t_failures_;
static int t_checks_;
static const char *t_current_;

#define T_CHECK(expr)                                                          \
	do {                                                                   \
		t_checks_++;                                                   \
		if (!(expr)) {                                                 \
			t_failures_++;                                         \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",       \
				__FILE__, __LINE__, t_current_, #expr);        \
		}                                                              \
	} while (0)

#define T_CHECK_STR(a, b)                                                      \
	do {                                                                   \
		const char *t_a_ = (a), *t_b_ = (b);                           \
		t_checks_++;                                                   \
		if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) { \
			t_failures_++;                                         \
			fprintf(stderr,                                        \
				"%s:%d: %s: \"%s\" != \"%s\" (%s vs %s)\n",    \
				__FILE__, __LINE__, t_current_,                \
				t_a_ ? t_a_ : "(null)",                        \
				t_b_ ? t_b_ : "(null)", #a, #b);               \
		}                                                              \
	} while (0)

#define T_CHECK_INT(a, b)                                                      \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		t_checks_++;                                                   \
		if (t_a_ != t_b_) {                                            \
			t_failures_++;                                         \
			fprintf(stderr,                                        \
				"%s:%d: %s: %lld != %lld (%s vs %s)\n",        \
				__FILE__, __LINE__, t_current_, t_a_, t_b_,    \
				#a, #b);                                       \
		}                                                              \
	} while (0)

#define T_RUN(fn)                                                              \
	do {                                                                   \
		int t_before_ = t_failures_;                                   \
		t_current_ = #fn;                                              \
		fn();                                                          \
		printf("%s %s\n", t_failures_ == t_before_ ? "ok" : "FAIL",    \
		       #fn);                                                   \
	} while (0)

#define T_DONE()                                                               \
	(printf("%d checks, %d failed\n", t_checks_, t_failures_),             \
	 t_failures_ == 0 ? 0 : 1)

#endif
