#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Messages echo untrusted text (an archive's entry names, a container's
 * files, values from appbox.conf): no control character of it reaches the
 * user's terminal, and a message stays one line.  \n and \t are written as
 * such, any other control byte as \xNN. */
void ab_escape_controls(char *msg, size_t size)
{
    char out[4096];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < sizeof(out) && o + 5 < size; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            out[o++] = (char)*p;
        else if (*p == '\n' || *p == '\t')
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\%c", *p == '\n' ? 'n' : 't');
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", *p);
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

int ab_error_setv(ab_error *err, enum ab_error_kind kind, int errnum,
                  const char *fmt, va_list ap)
{
    if (err) {
        err->kind = kind;
        err->errnum = errnum;
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
        ab_escape_controls(err->msg, sizeof(err->msg));
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

int ab_error_prefix(ab_error *err, const char *fmt, ...)
{
    char prefix[512], old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(old, sizeof(old), "%s", err->msg);
    char joined[sizeof(prefix) + sizeof(old) + 4];
    snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
    snprintf(err->msg, sizeof(err->msg), "%.*s", (int)sizeof(err->msg) - 1, joined);
    ab_escape_controls(err->msg, sizeof(err->msg));
    return err->errnum ? -err->errnum : -EINVAL;
}
