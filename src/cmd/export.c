/* export: a container's root as a tar archive (create --base tar:FILE
 * makes a container of it again). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/copy.h"
#include "util/cleanup.h"


int cmd_export(struct ab_ctx *ctx, int argc, char **argv)
{
    bool force = false, dashdash = false;
    const char *name = NULL, *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (!dashdash && cmd_is_help(argv[i])) {
            printf("Usage: appbox export [--force] NAME FILE.tar\n"
                   "\nWrite the root file system of the container NAME to FILE.tar, as the\n"
                   "container sees it (its ids, modes, set-id bits, links); a container\n"
                   "created from the base tar:FILE.tar has the same root.  What is mounted on the\n"
                   "root (/proc, /dev, /tmp, binds) is not included.  A running container may\n"
                   "be exported: files it changes meanwhile are caught as they are.  An\n"
                   "existing FILE is refused unless --force.\n");
            return 0;
        }
        if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = true;
        else if (!dashdash && (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0))
            force = true;
        else if (!dashdash && argv[i][0] == '-' && argv[i][1])
            return cmd_usage_error("export", "%s: unknown option (allowed: --force)", argv[i]);
        else if (!name)
            name = argv[i];
        else if (!file)
            file = argv[i];
        else
            return cmd_usage_error("export", "unexpected argument '%s'", argv[i]);
    }
    if (!name || !file)
        return cmd_usage_error("export", "missing %s (usage: appbox export [--force] NAME FILE.tar)",
                               name ? "FILE" : "NAME and FILE");
    if (!file[0] || file[strlen(file) - 1] == '/')
        return cmd_usage_error("export", "'%s': not a file name", file);
    struct stat fst;
    if (!force && lstat(file, &fst) == 0)
        return cmd_usage_error("export", "%s exists (use --force to replace it)", file);

    struct container c;
    int code = cmd_open_for_copy(ctx, "export", name, &c);
    if (code)
        return code;
    ab_error err = { 0 };
    if (c.cc.base && strcmp(c.cc.base, "host") == 0) {
        container_close(&c);
        ab_error_set(&err, AB_ERR_USAGE, 0, "%s is a view of the host: it has no root of its own to export", name);
        return cmd_report(&err);
    }
    /* Written to a temporary file next to FILE and renamed at the end: a
     * failed export leaves nothing, and an old FILE stays until then. */
    _cleanup_free_ char *copy = strdup(file), *tmp = NULL;
    if (!copy || asprintf(&tmp, "%s/.%s.appbox-XXXXXX", dirname(copy), basename((char *)file)) < 0) {
        container_close(&c);
        return cmd_report(&(ab_error){ .kind = AB_ERR_RUNTIME, .msg = "out of memory" });
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ab_fail(&err, errno, "cannot create %s", file);
        container_close(&c);
        return cmd_report(&err);
    }
    /* a regular file's mode, as a plain creation would give it */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    struct copy_stats st = { 0 };
    int r = container_export(&c, fd, &st, &err);
    container_close(&c);
    if (r == 0 && fsync(fd) < 0)
        r = ab_fail(&err, errno, "cannot write %s", file);
    close(fd);
    if (r == 0 && (force ? rename(tmp, file) : renameat2(AT_FDCWD, tmp, AT_FDCWD, file, RENAME_NOREPLACE)) < 0)
        r = ab_fail(&err, errno, "cannot create %s", file);
    if (r < 0) {
        unlink(tmp);
        return cmd_report(&err);
    }
    return 0;
}
