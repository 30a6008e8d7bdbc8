/* Passing file descriptors over unix sockets (SCM_RIGHTS). */
#pragma once

#include <stddef.h>

#define FDPASS_MAX 8

/* Send LEN bytes of DATA with N fds (N may be 0).  0 or -errno. */
int fds_send(int sock, const int *fds, size_t n, const void *data, size_t len);
/* Receive one message; up to MAX fds land in FDS (close-on-exec), their
 * number in *N.  Returns the byte count, 0 at EOF, or -errno. */
int fds_recv(int sock, int *fds, size_t max, size_t *n, void *data, size_t len);

/* One fd, or none when FD < 0 / FD is NULL. */
int fd_send(int sock, int fd, const void *data, size_t len);
int fd_recv(int sock, int *fd, void *data, size_t len);
