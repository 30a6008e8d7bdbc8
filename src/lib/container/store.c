#include "container/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

char *store_data_root(struct ab_ctx *ctx, ab_error *err)
{
    char *r = strdup(ctx->data_dir);
    if (!r)
        ab_fail(err, ENOMEM, "out of memory");
    return r;
}

char *store_runtime_root(struct ab_ctx *ctx, ab_error *err)
{
    char *r = strdup(ctx->runtime_dir);
    if (!r)
        ab_fail(err, ENOMEM, "out of memory");
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

char *store_path(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err)
{
    return join3(ctx->data_dir, name, file, err);
}

char *store_run_path(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err)
{
    return join3(ctx->runtime_dir, name, file, err);
}


bool store_exists(struct ab_ctx *ctx, const char *name)
{
    /* NAME/appbox.conf below the data dir fd (checked: ours, not a link),
     * NAME a directory, not a symbolic link to somewhere else */
    ab_error err;
    int root = store_name_valid(name) ? ab_ctx_data_fd_existing(ctx, &err) : -1;
    _cleanup_close_ int dir = root < 0 ? -1 : openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    return dir >= 0 && fstatat(dir, "appbox.conf", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

enum store_kind store_kind(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    int root = store_name_valid(name) ? ab_ctx_data_fd_existing(ctx, &err) : -1;
    struct stat st;
    if (root < 0 || fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return STORE_ABSENT;
    if (S_ISLNK(st.st_mode))
        return STORE_LINK;
    if (!S_ISDIR(st.st_mode))
        return STORE_OTHER;
    return store_exists(ctx, name) ? STORE_CONTAINER : STORE_REMAINS;
}

static int names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_kind(struct ab_ctx *ctx, strv *names, bool remains, ab_error *err)
{
    _cleanup_free_ char *root = store_data_root(ctx, err);
    if (!root)
        return -ENOENT;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : ab_fail(err, errno, "cannot read %s", root);
    for (struct dirent *e; (e = readdir(d));)
        if (store_name_valid(e->d_name) &&
            (remains ? store_kind(ctx, e->d_name) == STORE_REMAINS : store_exists(ctx, e->d_name)))
            strv_push(names, e->d_name);
    closedir(d);
    if (names->n)
        qsort(names->v, names->n, sizeof(char *), names_cmp);
    return 0;
}

int store_list(struct ab_ctx *ctx, strv *names, ab_error *err)
{
    return list_kind(ctx, names, false, err);
}

int store_list_remains(struct ab_ctx *ctx, strv *names, ab_error *err)
{
    return list_kind(ctx, names, true, err);
}
