#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ut_parse.h"

int ut_parse_u64(const char *s, uint64_t max, uint64_t *r)
{
	uint64_t v = 0;
	if (s == NULL || *s == '\0')
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*r = v;
	return 0;
}

int ut_parse_u32(const char *s, uint32_t *r)
{
	uint64_t v;
	if (ut_parse_u64(s, UINT32_MAX, &v) < 0)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

int ut_parse_bool(const char *s, bool *r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*r = false;
			return 0;
		}
	}
	return -1;
}

/* Splits "123unit" into a number and a unit; the unit may be empty. */
static int split_unit(const char *s, uint64_t *num_r, const char **unit_r)
{
	char digits[32];
	size_t n = 0;
	if (s == NULL)
		return -1;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n + 1 >= sizeof(digits))
			return -1;
		digits[n] = s[n];
		n++;
	}
	if (n == 0)
		return -1;
	digits[n] = '\0';
	if (ut_parse_u64(digits, UINT64_MAX, num_r) < 0)
		return -1;
	*unit_r = s + n;
	return 0;
}

static int scale(uint64_t num, uint64_t mult, uint64_t *r)
{
	if (mult != 0 && num > UINT64_MAX / mult)
		return -1;
	*r = num * mult;
	return 0;
}

int ut_parse_msecs(const char *s, uint64_t *msecs_r)
{
	uint64_t num, mult;
	const char *unit;
	if (split_unit(s, &num, &unit) < 0)
		return -1;
	if (*unit == '\0' || strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0)
		mult = 60 * 1000;
	else if (strcmp(unit, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(unit, "d") == 0)
		mult = 86400 * 1000;
	else
		return -1;
	return scale(num, mult, msecs_r);
}

int ut_parse_size(const char *s, uint64_t *bytes_r)
{
	uint64_t num, mult;
	const char *unit;
	if (split_unit(s, &num, &unit) < 0)
		return -1;
	if (*unit == '\0' || strcasecmp(unit, "b") == 0)
		mult = 1;
	else if (strcasecmp(unit, "k") == 0 || strcasecmp(unit, "kb") == 0)
		mult = 1024;
	else if (strcasecmp(unit, "m") == 0 || strcasecmp(unit, "mb") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(unit, "g") == 0 || strcasecmp(unit, "gb") == 0)
		mult = 1024 * 1024 * 1024;
	else
		return -1;
	return scale(num, mult, bytes_r);
}

int ut_parse_mode(const char *s, unsigned *mode_r)
{
	unsigned v = 0;
	if (s == NULL || *s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return -1;
		v = v * 8 + (unsigned)(*p - '0');
	}
	if (v > 07777)
		return -1;
	*mode_r = v;
	return 0;
}
