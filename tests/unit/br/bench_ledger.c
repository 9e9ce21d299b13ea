/*
 * Ledger benchmark (built, not run as a test):
 *   bench-ledger [COMMITS [PARENT_DIR]]
 * Times br_ledger_commit() with one key and a 600-byte stanza, the way the
 * router commits one notification, then commit + confirm pairs (the steady
 * state, where the server confirms each stanza), is_notified(), and
 * pruning. Prints commits per second and microseconds per call (mean, p50,
 * p99, max).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "br_ledger.h"
#include "ut_xalloc.h"

static double now_usecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time (user + system) of this thread so far: the loop thread's
   cost, without the checkpoint thread. */
static double cpu_usecs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Prints wall-clock figures over usecs[0..n) and the CPU used since cpu0. */
static void report(const char *what, double *usecs, size_t n, double cpu0)
{
	double cpu = (cpu_usecs() - cpu0) / (double)n;
	double total = 0;
	for (size_t i = 0; i < n; i++)
		total += usecs[i];
	qsort(usecs, n, sizeof(*usecs), cmp_double);
	printf("%-22s %7.0f/s  mean %6.1f us  p50 %5.1f us  p99 %7.1f us  "
	       "max %8.1f us  cpu %5.1f us\n",
	       what, (double)n / (total / 1e6), total / (double)n, usecs[n / 2],
	       usecs[n * 99 / 100], usecs[n - 1], cpu);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	const char *parent = argc > 2 ? argv[2] : "/tmp";
	char *tmpl = xasprintf("%s/bench-ledger-XXXXXX", parent);
	struct br_ledger *l;
	char *error = NULL, xml[600];
	double *usecs;

	if (n < 100 || mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "usage: bench-ledger [COMMITS>=100 [DIR]]\n");
		return 2;
	}
	char *dir = xasprintf("%s/state", tmpl);
	if (br_ledger_open(dir, &l, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	memset(xml, 'x', sizeof(xml));
	usecs = xcalloc(n, sizeof(*usecs));
	printf("ledger in %s, %zu operations each, 1 key + %zu-byte stanza "
	       "per commit\n",
	       dir, n, sizeof(xml));

	uint64_t *ids = xcalloc(n, sizeof(*ids));
	double cpu0 = cpu_usecs();
	for (size_t i = 0; i < n; i++) {
		struct br_ledger_key k = {"INBOX", 1, (uint32_t)i + 1};
		char user[32];
		snprintf(user, sizeof(user), "user%zu@example.org", i % 60);
		double t0 = now_usecs();
		if (br_ledger_commit(l, user, &k, 1, user, xml, sizeof(xml),
				     &ids[i]) < 0)
			return 1;
		usecs[i] = now_usecs() - t0;
	}
	report("commit (outbox grows)", usecs, n, cpu0);
	cpu0 = cpu_usecs();

	for (size_t i = 0; i < n; i++) {
		double t0 = now_usecs();
		if (br_ledger_confirm(l, ids[i]) < 0)
			return 1;
		usecs[i] = now_usecs() - t0;
	}
	report("confirm", usecs, n, cpu0);
	cpu0 = cpu_usecs();

	for (size_t i = 0; i < n; i++) {
		struct br_ledger_key k = {"INBOX", 1, (uint32_t)(n + i) + 1};
		char user[32];
		uint64_t id;
		snprintf(user, sizeof(user), "user%zu@example.org", i % 60);
		double t0 = now_usecs();
		if (br_ledger_commit(l, user, &k, 1, user, xml, sizeof(xml),
				     &id) < 0 ||
		    br_ledger_confirm(l, id) < 0)
			return 1;
		usecs[i] = now_usecs() - t0;
	}
	report("commit + confirm", usecs, n, cpu0);
	cpu0 = cpu_usecs();

	for (size_t i = 0; i < n; i++) {
		struct br_ledger_key k = {"INBOX", 1,
					  (uint32_t)(i * 7 % n) + 1};
		char user[32];
		int notified;
		snprintf(user, sizeof(user), "user%zu@example.org", i % 60);
		double t0 = now_usecs();
		if (br_ledger_is_notified(l, user, &k, &notified) < 0)
			return 1;
		usecs[i] = now_usecs() - t0;
	}
	report("is_notified", usecs, n, cpu0);

	/* Pruning: the hourly case (nothing old enough), then everything
	   (all keys but this second's are older than "0 s"). */
	for (int i = 0; i < 10; i++) {
		double t0 = now_usecs();
		if (br_ledger_prune(l, 3600) < 0)
			return 1;
		usecs[i] = now_usecs() - t0;
	}
	qsort(usecs, 10, sizeof(*usecs), cmp_double);
	printf("prune, nothing old      %8.1f us (median of 10)\n", usecs[5]);
	double t0 = now_usecs();
	if (br_ledger_prune(l, 0) < 0)
		return 1;
	printf("prune, %zu keys old  %8.1f us\n", 2 * n, now_usecs() - t0);

	char *wal = xasprintf("%s/tidings.db-wal", dir),
	     *db = xasprintf("%s/tidings.db", dir);
	struct stat st_wal, st_db;
	if (stat(wal, &st_wal) == 0 && stat(db, &st_db) == 0)
		printf("database %lld KiB, WAL %lld KiB\n",
		       (long long)st_db.st_size / 1024,
		       (long long)st_wal.st_size / 1024);
	free(wal);
	free(db);
	br_ledger_close(&l);
	char *cmd = xasprintf("rm -rf '%s'", tmpl);
	int rc = system(cmd);
	free(cmd);
	free(ids);
	free(usecs);
	free(dir);
	free(tmpl);
	return rc == 0 ? 0 : 1;
}
