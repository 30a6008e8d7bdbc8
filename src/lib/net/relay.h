/* Carrying a connection: bytes both ways between two connected stream
 * sockets, through pipes with splice(2), so that they never pass through
 * user space (the port forwarder, links and the proxy all carry
 * connections this way). */
#pragma once

#include <stdint.h>

struct relay_bytes {
    uint64_t a_to_b, b_to_a;
};

/* Carry bytes between A and B until both directions have ended (an end of
 * stream is passed on as shutdown(SHUT_WR)) or either side fails; blocks,
 * for a process of its own.  Counts what went each way into BYTES (may be
 * NULL).  0, or -errno of the failure that ended it. */
int net_relay(int a, int b, struct relay_bytes *bytes);
