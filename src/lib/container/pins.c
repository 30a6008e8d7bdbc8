#include "container/pins.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* A mount the pins are about: a bind the user asked for. */
static bool pinned_kind(const struct spec_mount *m)
{
    return m->type == MOUNT_TYPE_BIND && m->origin && strncmp(m->origin, "++", 2) != 0 && m->ino &&
           !(m->options & MOUNT_AT_START);
}

static int write_pins(struct ab_ctx *ctx, const char *name, const struct spec *s, ab_error *err)
{
    _cleanup_free_ char *path = store_path(ctx, name, "pins", err);
    _cleanup_free_ char *tmp = NULL;
    if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->container.n_mounts; i++)
        n += pinned_kind(&s->container.mounts[i]);
    if (n == 0) { /* no bind: nothing to pin, no file */
        if (unlink(path) < 0 && errno != ENOENT)
            return ab_fail(err, errno, "cannot remove %s", path);
        return 0;
    }
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s", tmp);
    _cleanup_fclose_ FILE *f = fdopen(fd, "w");
    if (!f)
        return ab_fail(err, errno, "cannot write %s", tmp);
    fd = -1;
    fprintf(f, "# appbox: device, inode, destination and source (as given) of each bind, as made or confirmed\n");
    for (size_t i = 0; i < s->container.n_mounts; i++) {
        const struct spec_mount *m = &s->container.mounts[i];
        if (pinned_kind(m))
            fprintf(f, "%" PRIu64 " %" PRIu64 "\t%s\t%s\n", (uint64_t)m->dev, (uint64_t)m->ino, m->destination,
                    m->given ? m->given : m->source);
    }
    if (fflush(f) != 0 || ferror(f) || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", path);
    }
    return 0;
}

int pins_record(struct ab_ctx *ctx, const char *name, const struct spec *s, ab_error *err)
{
    return write_pins(ctx, name, s, err);
}

int pins_verify(struct ab_ctx *ctx, const char *name, const struct spec *s, ab_error *err)
{
    _cleanup_free_ char *path = store_path(ctx, name, "pins", err);
    if (!path)
        return -ENOMEM;
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, 1 << 20);
    bool missing = false;
    for (size_t i = 0; i < s->container.n_mounts; i++) {
        const struct spec_mount *m = &s->container.mounts[i];
        if (!pinned_kind(m))
            continue;
        bool found = false;
        char key[8192];
        snprintf(key, sizeof(key), "%s\t%s", m->destination, m->given ? m->given : m->source);
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            size_t len = next ? (size_t)(next - line) : strlen(line);
            if (next)
                next++;
            uint64_t dev, ino;
            int off = 0;
            if (line[0] == '#' || sscanf(line, "%" SCNu64 " %" SCNu64 "\t%n", &dev, &ino, &off) != 2 || off <= 0)
                continue;
            /* the same bind: the same destination and the same source as written */
            if (len - (size_t)off != strlen(key) || strncmp(line + off, key, len - (size_t)off) != 0)
                continue;
            found = true;
            if (dev != (uint64_t)m->dev || ino != (uint64_t)m->ino)
                return ab_error_set(err, AB_ERR_RUNTIME, ESTALE,
                                    "%s: %s is no longer what %s was made with (it was replaced since, or a part "
                                    "of its path is a symlink now: it leads to %s); if that is what you want, "
                                    "confirm it with: appbox config %s --pin",
                                    m->origin, m->given ? m->given : m->source, name, m->source, name);
        }
        missing |= !found;
    }
    /* Trust on first use for a bind added by hand: pinned as it is now. */
    return missing ? write_pins(ctx, name, s, err) : 0;
}
