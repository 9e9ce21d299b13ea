/*
 * Binding a UNIX socket's path: the event socket's, the control socket's
 * (see ms_evsock_bind.h).
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_evsock_bind.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define LOG_PREFIX "events"

/* Resolves a group name to its id. Returns 0 or -1 with *error_r set. */
static int lookup_group(const char *name, gid_t *gid_r, char **error_r)
{
	long size = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t buflen = size > 0 ? (size_t)size : 4096;
	struct group grp, *result = NULL;
	int ret;

	for (;;) {
		char *buf = xmalloc(buflen);
		ret = getgrnam_r(name, &grp, buf, buflen, &result);
		if (ret == 0 && result != NULL)
			*gid_r = grp.gr_gid;
		free(buf);
		if (ret != ERANGE || buflen >= (1u << 24))
			break;
		buflen *= 2;
	}
	if (ret != 0) {
		*error_r =
		    xasprintf("looking up group %s: %s", name, strerror(ret));
		return -1;
	}
	if (result == NULL) {
		*error_r = xasprintf("no such group: %s", name);
		return -1;
	}
	return 0;
}

/*
 * Makes the path free for bind: nothing there is fine; a socket nobody
 * listens on (left by a crash) is removed; a socket somebody still reads
 * from, or anything that is not a socket, is an error.
 */
static int clear_stale(const struct sockaddr_un *sun, int sock_type,
		       const char *log_prefix, char **error_r)
{
	struct stat st;

	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*error_r = xasprintf("%s exists and is not a socket; "
				     "refusing to replace it",
				     sun->sun_path);
		return -1;
	}
	/* Non-blocking: a live listener with a full backlog must not hang
	   the start (it is in use all the same). */
	int probe =
	    socket(AF_UNIX, sock_type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	int ret = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;
	close(probe);
	if (ret == 0 || err == EAGAIN || err == EINPROGRESS) {
		*error_r =
		    xasprintf("%s is in use by another process", sun->sun_path);
		return -1;
	}
	if (err != ECONNREFUSED) {
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(err));
		return -1;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		*error_r = xasprintf("removing stale socket %s: %s",
				     sun->sun_path, strerror(errno));
		return -1;
	}
	ut_log(UT_LOG_INFO, log_prefix, "replaced stale socket %s",
	       sun->sun_path);
	return 0;
}

void ms_evsock__set_rcvbuf(int fd, int bytes)
{
	/* As root, SO_RCVBUFFORCE may exceed net.core.rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) ==
	    0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX, "SO_RCVBUF %d: %s", bytes,
		       strerror(errno));
}

int ms_unix_bind_path(int fd, int sock_type, const struct sockaddr_un *sun,
		      unsigned mode, const char *group, const char *log_prefix,
		      struct stat *st_r, char **error_r)
{
	if (clear_stale(sun, sock_type, log_prefix, error_r) < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0) {
		*error_r =
		    xasprintf("bind %s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (chmod(sun->sun_path, mode) < 0) {
		*error_r =
		    xasprintf("chmod %s: %s", sun->sun_path, strerror(errno));
		goto fail;
	}
	if (group != NULL) {
		gid_t gid = 0;
		if (lookup_group(group, &gid, error_r) < 0)
			goto fail;
		if (chown(sun->sun_path, (uid_t)-1, gid) < 0) {
			*error_r =
			    xasprintf("chown %s to group %s: %s", sun->sun_path,
				      group, strerror(errno));
			goto fail;
		}
	}
	if (lstat(sun->sun_path, st_r) < 0) {
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	(void)unlink(sun->sun_path);
	return -1;
}

int ms_evsock__bind_path(int fd, const struct sockaddr_un *sun,
			 const struct ms_evsock_settings *set,
			 struct stat *st_r, char **error_r)
{
	return ms_unix_bind_path(fd, SOCK_DGRAM, sun, set->mode, set->group,
				 LOG_PREFIX, st_r, error_r);
}
