/* Scope-bound cleanup helpers, in the style of systemd and crun: a variable
 * declared with one of these is released when it goes out of scope, so error
 * paths need no goto ladders. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void cleanup_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cleanup_closedirp)))

/* Hand ownership out of a cleanup variable. */
static inline int take_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

static inline void *take_ptr_(void **p)
{
    void *r = *p;
    *p = NULL;
    return r;
}
#define take_ptr(p) take_ptr_((void **)&(p))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
