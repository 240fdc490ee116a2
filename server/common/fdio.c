/*
 * fdio.c - see fdio.h.
 */
#include "common/fdio.h"

#include "common/err.h"
#include "common/hex.h"

#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

int fd_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RAMP_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t fd_read_some(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

int fd_sha256(int fd, char hex[65], int64_t *bytes)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], out[EVP_MAX_MD_SIZE];
	unsigned int olen = 0;
	off_t off = 0;
	ssize_t n;
	int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : RAMP_ENOMEM;

	while (rc == 0 && (n = pread(fd, buf, sizeof(buf), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			rc = RAMP_EIO;
		else
			off += n;
	}
	if (rc == 0 && (EVP_DigestFinal_ex(md, out, &olen) != 1 || olen != 32))
		rc = RAMP_EIO;
	if (rc == 0) {
		hex_encode(hex, out, 32);
		if (bytes)
			*bytes = (int64_t)off;
	}
	EVP_MD_CTX_free(md);
	return rc;
}
