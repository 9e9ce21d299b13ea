#ifndef MS_EVSOCK_BIND_H
#define MS_EVSOCK_BIND_H

/*
 * Making a UNIX socket's file: ms_evsock.c (the event socket) and the
 * bridge's control socket (br_control.c) share ms_unix_bind_path().
 */

#include <sys/stat.h>
#include <sys/un.h>

#include "ms_evsock.h"

/*
 * Binds fd (an AF_UNIX socket of type sock_type, SOCK_DGRAM or
 * SOCK_STREAM) to sun's path, then gives the file mode and, when group is
 * not NULL, that group. Nothing at the path is fine; a socket nobody
 * listens on (left by a crash) is replaced (logged at info with
 * log_prefix); a socket somebody still uses, or anything that is not a
 * socket, is an error. Fills *st_r with the bound file's status. Returns
 * 0, or -1 with an xmalloc'ed message in *error_r and the path unlinked.
 */
int ms_unix_bind_path(int fd, int sock_type, const struct sockaddr_un *sun,
		      unsigned mode, const char *group, const char *log_prefix,
		      struct stat *st_r, char **error_r);
/* The event socket's use of it: SOCK_DGRAM with the settings' mode and
   group. */
int ms_evsock__bind_path(int fd, const struct sockaddr_un *sun,
			 const struct ms_evsock_settings *set,
			 struct stat *st_r, char **error_r);
/* SO_RCVBUFFORCE (root may exceed net.core.rmem_max), else SO_RCVBUF;
   a failure is logged. */
void ms_evsock__set_rcvbuf(int fd, int bytes);

#endif
