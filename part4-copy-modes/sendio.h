/*
 * sendio.h - the plain sending that every mode of lesson 4 builds on: a
 * non-blocking socket takes what fits, and the rest waits for room.
 */
#ifndef SENDIO_H
#define SENDIO_H

#include <stddef.h>
#include <sys/uio.h>

struct conn;

/* Why a send failed, as the connection's log says it. */
const char *send_error_reason(int err);

/* Wait (up to timeout_ms, < 0: no limit) until the socket can take more.
 * NULL when it can, else why the connection ends. */
const char *wait_writable(int fd, int timeout_ms);

/* Send n bytes from one buffer on the connection's non-blocking socket;
 * `more` corks them (MSG_MORE) into the segment of whatever is sent next.
 * NULL when all went, else why the connection ends. */
const char *send_all(struct conn *c, const void *buf, size_t n, int more, int timeout_ms);

/* After a send took `done` bytes of an iovec, move it past them. */
void iov_advance(struct iovec **iov, int *cnt, size_t done);

#endif
