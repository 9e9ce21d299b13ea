#ifndef MS_IMAP_STREAM_H
#define MS_IMAP_STREAM_H

/*
 * Internal to the IMAP pool: the byte stream under libetpan. A libetpan
 * low-level stream driver (mailstream_low) over our own non-blocking
 * socket (ms_net.h), plain or TLS (OpenSSL), so that libetpan never
 * select()s and never sees an unverified TLS peer. Every wait is a poll()
 * bounded by the timeout and the job's deadline and cut short by the
 * pool's stop pipe.
 *
 * The stream also guards libetpan against the server: what it reads goes
 * through ms_imap_guard.h (byte budget, literal sizes, BYE greeting)
 * first, and EOF is a read error (libetpan loops forever on a literal cut
 * short by EOF).
 *
 * A stream is used by one thread at a time. Its I/O must run on a thread
 * that blocks SIGPIPE (the pool's workers block all signals).
 */

#include <openssl/ssl.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "ms_imap.h"
#include "ms_imap_guard.h"
#include "ms_net.h"

struct ms_imap__stream;

/*
 * Wraps the connected non-blocking socket fd in a libetpan stream, plain
 * for now. The stream owns fd from here on: mailstream_close() closes it
 * and frees everything, including *st_r, which stays valid until then.
 * secret (may be NULL; must outlive the stream) is scrubbed from server
 * text that an error quotes.
 */
mailstream *ms_imap__stream_new(int fd, int stop_fd, uint64_t timeout_msecs,
				uint64_t deadline_msecs, uint64_t job_msecs,
				const char *secret,
				struct ms_imap__stream **st_r);

/*
 * TLS handshake on the stream's socket (implicit TLS before the greeting,
 * or after a STARTTLS answer with nothing left unread), verifying the
 * certificate chain and that it names host (DNS name, or the address of an
 * IP literal); SNI is sent for names. From then on the stream speaks TLS.
 * Returns 0, or -1 with the stream failed (see ms_imap__stream_error):
 * MS_IMAP_ERR_TLS when TLS itself failed, MS_IMAP_ERR_TEMP for a timeout,
 * a lost connection or the pool stopping.
 */
int ms_imap__stream_start_tls(struct ms_imap__stream *st, SSL_CTX *ctx,
			      const char *host);

/*
 * Why the stream failed: MS_IMAP_OK while it has not, else the class and
 * a one-line reason in *text_r (owned by the stream), such as "timed out
 * after 2000 ms" or "connection closed by the server".
 */
enum ms_imap_error ms_imap__stream_error(const struct ms_imap__stream *st,
					 const char **text_r);

#endif
