#ifndef UT_PARSE_H
#define UT_PARSE_H

/*
 * Strict value parsers for config and protocol fields. Unlike atoi, every
 * byte must belong to the value: "53x7", "", " 5" and overflows are errors.
 * All return 0 on success and -1 on error, leaving *r untouched on error.
 */

#include <stdbool.h>
#include <stdint.h>

int ut_parse_u64(const char *s, uint64_t max, uint64_t *r);
int ut_parse_u32(const char *s, uint32_t *r);
/* "yes/no/true/false/on/off/1/0", case-insensitive. */
int ut_parse_bool(const char *s, bool *r);
/* "250ms", "5s", "2m", "1h", "14d" or a bare number of seconds -> milliseconds.
 */
int ut_parse_msecs(const char *s, uint64_t *msecs_r);
/* "64k", "10M", "1G" or bytes. */
int ut_parse_size(const char *s, uint64_t *bytes_r);
/* Octal file mode such as "0660" (<= 07777). */
int ut_parse_mode(const char *s, unsigned *mode_r);

#endif
