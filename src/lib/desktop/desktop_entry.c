#include "desktop/desktop_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define RECORD "desktop-files"

char *desktop_entry_value(const char *text, const char *key)
{
    bool in_group = false;
    size_t klen = strlen(key);
    for (const char *l = text; l && *l;) {
        const char *e = strchrnul(l, '\n');
        size_t n = (size_t)(e - l);
        if (n && l[n - 1] == '\r')
            n--;
        if (n && l[0] == '[')
            in_group = n == strlen("[Desktop Entry]") && strncmp(l, "[Desktop Entry]", n) == 0;
        else if (in_group && n > klen && strncmp(l, key, klen) == 0) {
            const char *p = l + klen;
            while (p < l + n && (*p == ' ' || *p == '\t'))
                p++;
            if (p < l + n && *p == '=') {
                p++;
                while (p < l + n && (*p == ' ' || *p == '\t'))
                    p++;
                return strndup(p, (size_t)(l + n - p));
            }
        }
        l = *e ? e + 1 : e;
    }
    return NULL;
}

/* The "string" escapes of a value: \s \n \t \r \\. */
static char *unescape_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = v; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        p++;
        *o++ = *p == 's' ? ' ' : *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
    }
    *o = '\0';
    return out;
}

char *desktop_exec_quote(const char *arg)
{
    /* quoted as an Exec argument ("..." with \" \` \$ \\), % as %%, then
     * every backslash doubled for the value's own escapes */
    size_t n = 3;
    for (const char *p = arg; *p; p++)
        n += 4;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    *o++ = '"';
    for (const char *p = arg; *p; p++) {
        if (*p == '"' || *p == '`' || *p == '$' || *p == '\\') {
            *o++ = '\\';
            *o++ = '\\';
            if (*p == '\\') {
                *o++ = '\\';
                *o++ = '\\';
                continue;
            }
        } else if (*p == '%') {
            *o++ = '%';
        }
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static int append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *b = realloc(*buf, *len + n + 2);
    if (!b)
        return -ENOMEM;
    if (*len)
        b[(*len)++] = ' ';
    memcpy(b + *len, s, n + 1);
    *len += n;
    *buf = b;
    return 0;
}

/* One argument done: a field code kept or dropped, or a plain argument
 * quoted again. */
static int emit(char **buf, size_t *len, const char *arg, bool quoted, ab_error *err)
{
    for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return ab_usage(err, "Exec: an argument holds a control character");
    if (!quoted && strlen(arg) == 2 && arg[0] == '%' && strchr("fFuU", arg[1]))
        return append(buf, len, arg) < 0 ? ab_fail(err, ENOMEM, "out of memory") : 0;
    if (!quoted && strlen(arg) == 2 && arg[0] == '%' && strchr("ickdDnNvm", arg[1]))
        return 0;
    /* %% is a percent sign; any other code inside an argument cannot be
     * expanded the same way after the rewrite */
    _cleanup_free_ char *plain = malloc(strlen(arg) + 1);
    if (!plain)
        return ab_fail(err, ENOMEM, "out of memory");
    char *o = plain;
    for (const char *p = arg; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        if (p[1] == '%') {
            *o++ = '%';
            p++;
            continue;
        }
        return ab_usage(err, "Exec: the field code '%%%c' in the argument '%s' cannot be kept (allowed: %%f %%F "
                             "%%u %%U as whole arguments; %%i %%c %%k are dropped)", p[1] ? p[1] : ' ', arg);
    }
    *o = '\0';
    _cleanup_free_ char *q = desktop_exec_quote(plain);
    if (!q || append(buf, len, q) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    return 0;
}

int desktop_exec_rewrite(const char *self, const char *name, const char *exec, char **out, ab_error *err)
{
    _cleanup_free_ char *v = unescape_value(exec);
    char *buf = NULL;
    size_t len = 0;
    if (!v)
        return ab_fail(err, ENOMEM, "out of memory");
    const char *prefix[] = { self, "run", name, "++cmd" };
    for (size_t i = 0; i < 4; i++) {
        _cleanup_free_ char *q = desktop_exec_quote(prefix[i]);
        if (!q || append(&buf, &len, q) < 0) {
            free(buf);
            return ab_fail(err, ENOMEM, "out of memory");
        }
    }
    _cleanup_free_ char *arg = malloc(strlen(v) + 1);
    if (!arg) {
        free(buf);
        return ab_fail(err, ENOMEM, "out of memory");
    }
    int nargs = 0, r = 0;
    for (const char *p = v; *p && r == 0;) {
        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }
        char *o = arg;
        bool quoted = *p == '"';
        if (quoted) {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1] && strchr("\"`$\\", p[1]))
                    p++;
                *o++ = *p;
            }
            if (*p != '"') {
                r = ab_usage(err, "Exec: a quoted argument is not closed");
                break;
            }
            p++;
            if (*p && *p != ' ' && *p != '\t') {
                r = ab_usage(err, "Exec: a quoted argument runs into the next one");
                break;
            }
        } else {
            for (; *p && *p != ' ' && *p != '\t'; p++) {
                if (*p == '"' || *p == '\'' || *p == '\\' || *p == '`' || *p == '$') {
                    r = ab_usage(err, "Exec: '%c' outside quotes (the entry is malformed)", *p);
                    break;
                }
                *o++ = *p;
            }
            if (r < 0)
                break;
        }
        *o = '\0';
        r = emit(&buf, &len, arg, quoted, err);
        nargs++;
    }
    if (r == 0 && nargs == 0)
        r = ab_usage(err, "Exec: no command");
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    return 0;
}

char *desktop_data_dir(const char *sub)
{
    const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char *d = NULL;
    if (x && x[0] == '/') {
        if (asprintf(&d, "%s/%s", x, sub) < 0)
            return NULL;
    } else if (home && home[0] == '/') {
        if (asprintf(&d, "%s/.local/share/%s", home, sub) < 0)
            return NULL;
    }
    return d;
}

/* Whether the .desktop file at PATH carries NAME's marker. */
static bool entry_is(const char *path, const char *name)
{
    _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, path, false, DESKTOP_ENTRY_MAX);
    _cleanup_free_ char *v = t ? desktop_entry_value(t, DESKTOP_MARKER) : NULL;
    return v && strcmp(v, name) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int desktop_remove(const char *name, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "appbox-%s", name);
    if (strncmp(base, prefix, strlen(prefix)) != 0)
        return 0;
    if (ends_with(path, ".desktop") && !entry_is(path, name))
        return 0;
    return unlink(path) == 0;
}

static bool strv_has(const strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

void desktop_recorded(struct ab_ctx *ctx, const char *name, strv *out)
{
    ab_error err = { 0 };
    _cleanup_free_ char *record = store_path(ctx, name, RECORD, &err);
    _cleanup_free_ char *t = record ? fs_read_file_at(AT_FDCWD, record, false, 1 << 20) : NULL;
    for (char *l = t, *e; l && *l; l = *e ? e + 1 : e) {
        e = strchrnul(l, '\n');
        char c = *e;
        *e = '\0';
        if (l[0] == '/' && !strv_has(out, l))
            strv_push(out, l);
        *e = c;
    }
}

void desktop_remove_all(const char *name, const strv *paths)
{
    for (size_t i = 0; i < paths->n; i++)
        desktop_remove(name, paths->v[i]);
}

static void record_write(struct ab_ctx *ctx, const char *name, const strv *paths)
{
    ab_error err = { 0 };
    _cleanup_free_ char *record = store_path(ctx, name, RECORD, &err);
    _cleanup_free_ char *tmp = NULL;
    if (!record || asprintf(&tmp, "%s.tmp", record) < 0)
        return;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    for (size_t i = 0; i < paths->n; i++)
        fprintf(f, "%s\n", paths->v[i]);
    if (fclose(f) != 0 || rename(tmp, record) < 0)
        unlink(tmp);
}

void desktop_forget(struct ab_ctx *ctx, const char *name, const char *path)
{
    strv all = { 0 }, keep = { 0 };
    desktop_recorded(ctx, name, &all);
    for (size_t i = 0; i < all.n; i++)
        if (strcmp(all.v[i], path) != 0)
            strv_push(&keep, all.v[i]);
    record_write(ctx, name, &keep);
    strv_clear(&all);
    strv_clear(&keep);
}

int desktop_write(struct ab_ctx *ctx, const char *name, const char *dir, const char *file, const char *data,
                  size_t len, ab_error *err)
{
    if (fs_mkdirs(dir, false, err) < 0)
        return -EIO;
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    if (asprintf(&path, "%s/%s", dir, file) < 0 || asprintf(&tmp, "%s/.%s.appbox-tmp", dir, file) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    struct stat st;
    if (lstat(path, &st) == 0 && (!S_ISREG(st.st_mode) || (ends_with(file, ".desktop") && !entry_is(path, name))))
        return ab_usage(err, "%s exists and is not %s's entry: not replaced (remove it yourself)", path, name);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return ab_fail(err, errno, "cannot create %s", tmp);
    ssize_t n = write(fd, data, len);
    int e = n == (ssize_t)len ? 0 : n < 0 ? errno : EIO;
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) < 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", path);
    }
    strv all = { 0 };
    desktop_recorded(ctx, name, &all);
    if (!strv_has(&all, path))
        strv_push(&all, path);
    record_write(ctx, name, &all);
    strv_clear(&all);
    return 0;
}
