/* Milliseconds of CLOCK_MONOTONIC, for deadlines of waits (helpers that
 * become ready, processes that exit). */
#pragma once

#include <time.h>

static inline long clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}
