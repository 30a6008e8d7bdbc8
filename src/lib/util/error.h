/* Errors of libappbox: a function returns 0 or a negative errno and fills an
 * ab_error with a message that says what was done, to what, and why it
 * failed.  The CLI decides how to show it; lib/ never prints. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

/* What kind of failure: the CLI maps these onto exit codes. */
enum ab_error_kind {
    AB_ERR_NONE = 0,
    AB_ERR_USAGE,     /* bad option or value: exit 2 */
    AB_ERR_RUNTIME,   /* appbox's own failure: exit 125 */
    AB_ERR_EXEC,      /* the command exists but cannot be executed: exit 126 */
    AB_ERR_NOTFOUND,  /* the command was not found: exit 127 */
};

typedef struct ab_error {
    enum ab_error_kind kind;
    int errnum;
    char msg[1024];
} ab_error;

/* Set *err and return -errnum (or -EINVAL when errnum is 0).  When errnum is
 * non-zero, ": strerror(errnum)" is appended to the message. */
int ab_error_set(ab_error *err, enum ab_error_kind kind, int errnum,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int ab_error_setv(ab_error *err, enum ab_error_kind kind, int errnum,
                  const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

#define ab_usage(err, ...) ab_error_set((err), AB_ERR_USAGE, 0, __VA_ARGS__)
#define ab_fail(err, errnum, ...) ab_error_set((err), AB_ERR_RUNTIME, (errnum), __VA_ARGS__)

/* Put "PREFIX: " before the message already in *err (keeps its kind and
 * errno); returns -errnum like ab_error_set. */
int ab_error_prefix(ab_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit code the CLI uses for this error. */
int ab_error_exit_code(const ab_error *err);

/* MSG (of SIZE bytes) with every control character but none written as
 * text: \n and \t as such, others as \xNN (untrusted text never reaches
 * the user's terminal raw).  Every ab_error message and log line gets it. */
void ab_escape_controls(char *msg, size_t size);
