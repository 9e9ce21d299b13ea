#ifndef MS_EVSOCK_BIND_H
#define MS_EVSOCK_BIND_H

/*
 * Internals of ms_evsock: making the socket file. Only ms_evsock.c uses
 * this.
 */

#include <sys/stat.h>
#include <sys/un.h>

#include "ms_evsock.h"

/*
 * Binds fd to sun's path with the settings' mode and group. Nothing at the
 * path is fine; a socket nobody listens on (left by a crash) is replaced;
 * a socket somebody still reads from, or anything that is not a socket, is
 * an error. Fills *st_r with the bound file's status. Returns 0, or -1 with
 * an xmalloc'ed message in *error_r and the path unlinked.
 */
int ms_evsock__bind_path(int fd, const struct sockaddr_un *sun,
			 const struct ms_evsock_settings *set,
			 struct stat *st_r, char **error_r);
/* SO_RCVBUFFORCE (root may exceed net.core.rmem_max), else SO_RCVBUF;
   a failure is logged. */
void ms_evsock__set_rcvbuf(int fd, int bytes);

#endif
