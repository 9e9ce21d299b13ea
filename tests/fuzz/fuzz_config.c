/*
 * Fuzz target for the configuration reader: any bytes as a config file.
 * A successful parse is also dumped and the dump parsed again, which must
 * succeed (the dump is meant to be a valid configuration).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "br_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct br_config *cfg = NULL, *again = NULL;
	char *error = NULL, *text = NULL;
	size_t len = 0;

	if (br_config_parse("fuzz.conf", (const char *)data, size, &cfg,
			    &error) < 0) {
		free(error);
		return 0;
	}
	FILE *f = open_memstream(&text, &len);
	if (f != NULL) {
		br_config_dump(cfg, f);
		fclose(f);
		if (br_config_parse("dump", text, len, &again, &error) < 0)
			abort();
		br_config_free(&again);
		free(text);
	}
	(void)br_config_mailbox_notified(cfg, "INBOX");
	br_config_free(&cfg);
	return 0;
}
