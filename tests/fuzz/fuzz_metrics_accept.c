/*
 * Fuzz target for the metrics' content negotiation (br_metrics_negotiate):
 * any bytes as an HTTP Accept header (cut at a NUL, as libmicrohttpd
 * hands it over). Checks: the answer is one of the two formats, and a
 * header that never names application/openmetrics-text (in any case)
 * gets the Prometheus text format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "br_metrics_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int names_openmetrics(const char *s)
{
	static const char om[] = "application/openmetrics-text";
	for (; *s != '\0'; s++)
		if (strncasecmp(s, om, sizeof(om) - 1) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	enum br_metrics_format f = br_metrics_negotiate(s);
	if (f != BR_METRICS_TEXT && f != BR_METRICS_OPENMETRICS)
		abort();
	if (f == BR_METRICS_OPENMETRICS && !names_openmetrics(s))
		abort();
	free(s);
	return 0;
}
