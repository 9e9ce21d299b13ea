/*
 * Fuzz target for the IMAP guard (mailstore/ms_imap_guard.c), which reads
 * what an IMAP server sends before libetpan does. The first input byte
 * picks how the rest is cut into chunks (as reads would deliver it).
 * Checks: the byte budget never goes up and never lets more than
 * MS_IMAP__READ_MAX through; a refusal comes with a one-line error; once
 * refused, the session is over (nothing more is fed); a BYE text is clean
 * one-line UTF-8 and never holds the secret.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_imap_guard.h"
#include "ut_utf8.h"

#define SECRET "m4ster-s3cret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_imap__guard g;
	size_t chunk, fed = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	ms_imap__guard_init(&g, SECRET);
	while (fed < size) {
		size_t room = ms_imap__guard_room(&g);
		size_t n = size - fed < chunk ? size - fed : chunk;
		if (n > room)
			n = room;
		if (n == 0)
			break;
		char *error = NULL;
		int rc = ms_imap__guard_scan(&g, (const char *)data + fed, n,
					     &error);
		if (ms_imap__guard_room(&g) > room)
			abort();
		if (rc < 0) {
			if (error == NULL || strchr(error, '\n') != NULL)
				abort();
			free(error);
			break;
		}
		if (error != NULL)
			abort();
		fed += n;
	}
	if (fed > MS_IMAP__READ_MAX)
		abort();
	char *bye = ms_imap__guard_bye(&g);
	if (bye != NULL) {
		size_t len = strlen(bye);
		if (!ut_utf8_valid(bye, len) || strstr(bye, SECRET) != NULL)
			abort();
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)bye[i] < 0x20)
				abort();
		free(bye);
	}
	ms_imap__guard_free(&g);
	return 0;
}
