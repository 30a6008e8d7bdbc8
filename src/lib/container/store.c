#include "container/store.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

bool store_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return false;
    }
    return true;
}

int store_check_name(const char *name, ab_error *err)
{
    if (!store_name_valid(name))
        return ab_usage(err, "'%s' is not a valid container name (allowed: 1-64 letters, digits, '-', '_', '.'; "
                             "not starting with '.' or '-')", name);
    return 0;
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && h[0] == '/')
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

char *store_data_root(ab_error *err)
{
    char *r = NULL;
    const char *x = getenv("XDG_DATA_HOME");
    if (getuid() == 0 && !getenv("APPBOX_DATA_DIR"))
        r = strdup("/var/lib/appbox");
    else if (getenv("APPBOX_DATA_DIR"))
        r = strdup(getenv("APPBOX_DATA_DIR"));
    else if (x && x[0] == '/')
        asprintf(&r, "%s/appbox", x) < 0 ? (void)(r = NULL) : (void)0;
    else if (home_dir())
        asprintf(&r, "%s/.local/share/appbox", home_dir()) < 0 ? (void)(r = NULL) : (void)0;
    if (!r)
        ab_fail(err, ENOENT, "cannot find where to keep containers (set HOME or XDG_DATA_HOME)");
    return r;
}

char *store_runtime_root(ab_error *err)
{
    char *r = NULL;
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (getenv("APPBOX_RUNTIME_DIR"))
        r = strdup(getenv("APPBOX_RUNTIME_DIR"));
    else if (getuid() == 0)
        r = strdup("/run/appbox");
    else if (x && x[0] == '/')
        asprintf(&r, "%s/appbox", x) < 0 ? (void)(r = NULL) : (void)0;
    else
        /* No session runtime dir (e.g. su without a login): a private
         * per-user dir in /tmp, created 0700 and checked to be ours. */
        asprintf(&r, "/tmp/appbox-%u", getuid()) < 0 ? (void)(r = NULL) : (void)0;
    if (!r)
        ab_fail(err, ENOMEM, "cannot find the runtime directory");
    return r;
}

static char *join3(const char *a, const char *b, const char *c, ab_error *err)
{
    char *r;
    if (asprintf(&r, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "") < 0) {
        ab_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return r;
}

char *store_path(const char *name, const char *file, ab_error *err)
{
    _cleanup_free_ char *root = store_data_root(err);
    return root ? join3(root, name, file, err) : NULL;
}

char *store_run_path(const char *name, const char *file, ab_error *err)
{
    _cleanup_free_ char *root = store_runtime_root(err);
    return root ? join3(root, name, file, err) : NULL;
}

int store_mkdirs(const char *path, bool private_dir, ab_error *err)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return ab_fail(err, ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return ab_fail(err, errno, "cannot create %s", p);
            *s = saved;
            if (!saved)
                break;
        }
    }
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
        return ab_fail(err, EPERM, "%s is not a directory of yours", path);
    if (private_dir && (st.st_mode & 077) && chmod(path, 0700) < 0)
        return ab_fail(err, errno, "cannot make %s private", path);
    return 0;
}

bool store_exists(const char *name)
{
    ab_error err;
    _cleanup_free_ char *p = store_path(name, "appbox.conf", &err);
    return p && access(p, F_OK) == 0;
}

static int names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list(strv *names, ab_error *err)
{
    _cleanup_free_ char *root = store_data_root(err);
    if (!root)
        return -ENOENT;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : ab_fail(err, errno, "cannot read %s", root);
    for (struct dirent *e; (e = readdir(d));)
        if (store_name_valid(e->d_name) && store_exists(e->d_name))
            strv_push(names, e->d_name);
    closedir(d);
    if (names->n)
        qsort(names->v, names->n, sizeof(char *), names_cmp);
    return 0;
}
