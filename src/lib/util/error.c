#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ab_error_setv(ab_error *err, enum ab_error_kind kind, int errnum,
                  const char *fmt, va_list ap)
{
    if (err) {
        err->kind = kind;
        err->errnum = errnum;
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
    }
    return errnum ? -errnum : -EINVAL;
}

int ab_error_set(ab_error *err, enum ab_error_kind kind, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = ab_error_setv(err, kind, errnum, fmt, ap);
    va_end(ap);
    return r;
}

int ab_error_exit_code(const ab_error *err)
{
    switch (err->kind) {
    case AB_ERR_USAGE: return 2;
    case AB_ERR_EXEC: return 126;
    case AB_ERR_NOTFOUND: return 127;
    default: return 125;
    }
}
