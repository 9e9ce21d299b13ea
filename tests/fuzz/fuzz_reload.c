/*
 * Fuzz target for the reload's comparison (br_reload_merge): the input is
 * two configuration files, the running one and the new one, split at the
 * first line "%%\n". When both parse, the new one is merged into the
 * running one; the result must dump to a valid configuration, and both
 * structs must free cleanly (sanitizers watch the swapped values).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "br_reload.h"
#include "ut_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)line;
	(void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *sep = memmem(text, size, "\n%%\n", 4);
	struct br_config *cfg = NULL, *fresh = NULL, *again = NULL;
	char *error = NULL, *dump = NULL;
	size_t len = 0;
	unsigned applied, kept;

	if (sep == NULL)
		return 0;
	ut_log_set_hook(quiet, NULL);
	size_t first = (size_t)(sep - text) + 1;
	if (br_config_parse("running.conf", text, first, &cfg, &error) < 0 ||
	    br_config_parse("new.conf", sep + 4, size - first - 3, &fresh,
			    &error) < 0) {
		free(error);
		br_config_free(&cfg);
		ut_log_set_hook(NULL, NULL);
		return 0;
	}
	br_reload_merge(cfg, fresh, &applied, &kept);
	FILE *f = open_memstream(&dump, &len);
	if (f != NULL) {
		br_config_dump(cfg, f);
		fclose(f);
		if (br_config_parse("dump", dump, len, &again, &error) < 0)
			abort();
		br_config_free(&again);
		free(dump);
	}
	br_config_free(&fresh);
	br_config_free(&cfg);
	ut_log_set_hook(NULL, NULL);
	return 0;
}
