#ifndef MS_MIME_H
#define MS_MIME_H

/*
 * Header decoding to clean UTF-8 (libetpan + iconv). Never fails on bad
 * input: what cannot be decoded is kept as it was, then cleaned.
 */

#include <stddef.h>

/*
 * Decodes an RFC 2047 header value (encoded words in any charset iconv
 * knows, mixed in one header; raw 8-bit text taken as UTF-8 when valid,
 * otherwise as Windows-1252) into one line of clean UTF-8 of at most
 * max_bytes (0 = no limit). Never NULL.
 */
char *ms_mime_decode_header(const char *raw, size_t len, size_t max_bytes);

/* The value (0..63) of a base64 digit, c63 being the 64th digit ('/' in
   MIME, ',' in IMAP's modified UTF-7); -1 for anything else. */
int ms_mime_b64_value(unsigned char c, char c63);

#endif
