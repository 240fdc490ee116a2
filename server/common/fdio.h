/*
 * fdio.h - whole writes, EINTR-safe reads and the SHA-256 of a file, on
 * plain descriptors: what the artifact upload, the blob store, the import
 * of old artifact files, the delta patcher and the agent share.
 */
#ifndef RAMP_FDIO_H
#define RAMP_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all n bytes of buf, retrying short writes and EINTR: 0 or RAMP_EIO
 * (errno says why). */
int fd_write_all(int fd, const void *buf, size_t n);
/* read(2) retried on EINTR: bytes read, 0 at the end, -1 with errno. */
ssize_t fd_read_some(int fd, void *buf, size_t n);
/* The SHA-256 of the whole file behind fd, read with pread from offset 0
 * (the file offset does not move), as 64 lower-case hex digits in hex, and
 * its length in *bytes when bytes is not NULL: 0, RAMP_EIO or RAMP_ENOMEM. */
int fd_sha256(int fd, char hex[65], int64_t *bytes);

#endif
