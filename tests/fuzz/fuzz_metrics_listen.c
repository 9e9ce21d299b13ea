/*
 * Fuzz target for the [metrics] listen parser (br_metrics_parse_listen).
 * The input is the value (cut at a NUL, as a config value would be).
 * Checks: an error comes with a reason; a success is an AF_INET or
 * AF_INET6 address of the matching length with a port from 1 to 65535,
 * and its printed form ("ADDR:PORT", "[ADDR]:PORT") parses back to the
 * same address.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "br_metrics_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static in_port_t port_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6
		   ? ((const struct sockaddr_in6 *)(const void *)a)->sin6_port
		   : ((const struct sockaddr_in *)(const void *)a)->sin_port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage a, again;
	socklen_t len, len2;
	const char *why = NULL;
	char printed[80];

	if (size > 256)
		return 0;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if (br_metrics_parse_listen(s, &a, &len, &why) < 0) {
		if (why == NULL || why[0] == '\0')
			abort();
		free(s);
		return 0;
	}
	if (!((a.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
	      (a.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6))))
		abort();
	if (port_of(&a) == 0)
		abort();
	br_metrics_format_addr(&a, printed, sizeof(printed));
	if (br_metrics_parse_listen(printed, &again, &len2, &why) < 0 ||
	    len2 != len || memcmp(&a, &again, len) != 0)
		abort();
	free(s);
	return 0;
}
