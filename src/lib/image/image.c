#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/sandbox.h"
#include "spec/spec.h"
#include "util/cleanup.h"

static const struct {
    const char *prefix;
    enum image_kind kind;
    bool dir;
} kinds[] = {
    { "tar:", IMAGE_TAR, false },
    { "oci:", IMAGE_OCI, true },
    { "docker-archive:", IMAGE_DOCKER_ARCHIVE, false },
};

bool image_base_kind_known(const char *base)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strncmp(base, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
            return true;
    return false;
}

void image_ref_free(struct image_ref *ref)
{
    free(ref->path);
    free(ref->tag);
    ref->path = ref->tag = NULL;
}

int image_parse(const char *base, struct image_ref *ref, ab_error *err)
{
    memset(ref, 0, sizeof(*ref));
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        size_t plen = strlen(kinds[i].prefix);
        if (strncmp(base, kinds[i].prefix, plen) != 0)
            continue;
        _cleanup_free_ char *rest = strdup(base + plen);
        if (!rest)
            return ab_fail(err, ENOMEM, "out of memory");
        /* PATH[:TAG]: when the whole string is not an existing path, the
         * tag is what follows the first ':' whose left part is one (a
         * docker tag has a ':' of its own: FILE:debian:bookworm). */
        if (kinds[i].kind != IMAGE_TAR && access(rest, F_OK) < 0) {
            for (char *c = strchr(rest, ':'); c; c = strchr(c + 1, ':')) {
                *c = '\0';
                if (access(rest, F_OK) == 0) {
                    ref->tag = strdup(c + 1);
                    break;
                }
                *c = ':';
            }
        }
        if (!*rest)
            return ab_usage(err, "--base: '%s' names no file (expected %sPATH)", base, kinds[i].prefix);
        char *abs = realpath(rest, NULL);
        struct stat st;
        if (!abs || stat(abs, &st) < 0) {
            int e = errno;
            free(abs);
            image_ref_free(ref);
            return ab_usage(err, "--base: '%s': %s: %s", base, rest, strerror(e));
        }
        if (kinds[i].dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
            free(abs);
            image_ref_free(ref);
            return ab_usage(err, "--base: '%s': %s is not a %s", base, rest,
                            kinds[i].dir ? "directory (an OCI image layout)" : "file");
        }
        if (access(abs, R_OK) < 0) {
            int e = errno;
            free(abs);
            image_ref_free(ref);
            return ab_usage(err, "--base: '%s': %s: %s", base, rest, strerror(e));
        }
        ref->kind = kinds[i].kind;
        ref->path = abs;
        return 0;
    }
    return 0;
}

/* appbox-unpack: next to this appbox (a build tree), or in the libexec
 * directory it was installed with. */
static char *helper_path(const struct ab_ctx *ctx)
{
    char self[PATH_MAX];
    const char *env = ctx->self_exe;
    ssize_t n;
    if (env && env[0] == '/') {
        snprintf(self, sizeof(self), "%s", env);
    } else if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
        self[n] = '\0';
    } else {
        self[0] = '\0';
    }
    char *p = NULL;
    if (self[0] == '/' && asprintf(&p, "%s/appbox-unpack", dirname(self)) >= 0 && access(p, X_OK) == 0)
        return p;
    free(p);
    return access(APPBOX_LIBEXECDIR "/appbox-unpack", X_OK) == 0 ? strdup(APPBOX_LIBEXECDIR "/appbox-unpack") : NULL;
}

int image_import(struct ab_ctx *ctx, const struct image_ref *ref, const char *rootfs, ab_error *err)
{
    _cleanup_free_ char *helper = helper_path(ctx);
    if (!helper)
        return ab_fail(err, ENOENT, "cannot find appbox-unpack (next to appbox or in " APPBOX_LIBEXECDIR ")");
    static const char *const kind_names[] = { [IMAGE_TAR] = "tar", [IMAGE_OCI] = "oci",
                                              [IMAGE_DOCKER_ARCHIVE] = "docker-archive",
                                              [IMAGE_BOOTSTRAP_TAR] = "rootfs" };
    struct spec s;
    spec_init(&s);
    s.process.uid_set = true;
    s.process.uid = 0;
    /* An image's set-id files of mapped owners keep their bits: the filter
     * keeps set-id modes for this run (sandbox_run() checks that the only
     * writable tree, the new rootfs, is in the store). */
    s.process.store_setid = true;
    int r = spec_add_bind(&s, rootfs, "/mnt", false, NULL);
    if (r == 0)
        r = spec_add_bind(&s, ref->path, "/src", true, NULL);
    if (r == 0)
        r = spec_add_bind(&s, helper, "/appbox-unpack", true, NULL);
    /* Layers a docker archive holds are staged on disk, next to the new
     * root (and removed by the unpacker as it reads them), not in memory:
     * a small archive may hold a layer of gigabytes. */
    _cleanup_free_ char *scratch = NULL;
    _cleanup_free_ char *parent = strdup(rootfs);
    if (r == 0 && (!parent || asprintf(&scratch, "%s/.unpack", dirname(parent)) < 0))
        r = -ENOMEM;
    if (r == 0 && mkdir(scratch, 0700) < 0 && errno != EEXIST) {
        spec_free(&s);
        return ab_fail(err, errno, "cannot create %s", scratch);
    }
    if (r == 0)
        r = spec_add_bind(&s, scratch, "/scratch", false, NULL);
    const char *argv[] = { "/appbox-unpack", kind_names[ref->kind], "/src", "/mnt", ref->tag, NULL };
    for (size_t i = 0; r == 0 && argv[i]; i++)
        r = strv_push(&s.process.argv, argv[i]);
    if (r < 0) {
        spec_free(&s);
        return ab_fail(err, ENOMEM, "out of memory");
    }
    /* Its messages become ours: stderr goes to a memfd for the run. */
    _cleanup_close_ int msgs = memfd_create("appbox-unpack", MFD_CLOEXEC);
    _cleanup_close_ int saved = msgs >= 0 ? dup(STDERR_FILENO) : -1;
    if (saved >= 0)
        dup2(msgs, STDERR_FILENO);
    int code = 0;
    r = sandbox_run(ctx, &s, &code, NULL, err);
    if (saved >= 0)
        dup2(saved, STDERR_FILENO);
    spec_free(&s);
    rmdir(scratch); /* empty unless the unpacker failed: then the container's dir goes as a whole */
    char out[2048] = "";
    ssize_t n = msgs >= 0 ? pread(msgs, out, sizeof(out) - 1, 0) : 0;
    out[n > 0 ? n : 0] = '\0';
    if (r < 0)
        return r;
    /* Warnings pass through; a failure's last line is the error. */
    char *last = NULL;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        const char *text = strncmp(line, "appbox: ", 8) == 0 ? line + 8 : line;
        if (code == 0)
            ab_log(ctx, AB_LOG_WARNING, "%s", text);
        last = (char *)text;
    }
    if (code != 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot unpack %s: %s", ref->path,
                            last ? last : "appbox-unpack failed");
    return 0;
}
