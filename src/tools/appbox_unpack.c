/* appbox-unpack: lays an image down on a root file system.  appbox create
 * runs it inside a sandbox, as the container's root, with the target at
 * DEST and the image read-only at SOURCE: it is the one place that parses
 * image archives, and it holds nothing but what it unpacks.  It lives apart
 * from appbox so that appbox itself does not load libarchive on every
 * start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layers.h"
#include "image/unpack.h"
#include "util/cleanup.h"

static int fail(const ab_error *err)
{
    fprintf(stderr, "appbox: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: appbox-unpack tar|oci|docker-archive SOURCE DEST [TAG]\n");
        return 2;
    }
    const char *kind = argv[1], *src = argv[2], *dest = argv[3], *tag = argc == 5 ? argv[4] : NULL;
    ab_error err = { 0 };
    strv layers = { 0 };
    int r;
    /* "rootfs": a bootstrapped root whose /dev nodes are expected (and
     * skipped: appbox makes its own /dev) */
    bool rootfs = strcmp(kind, "rootfs") == 0;
    if (strcmp(kind, "tar") == 0 || rootfs)
        r = strv_push(&layers, src);
    else if (strcmp(kind, "oci") == 0)
        r = oci_layers(src, tag, &layers, &err);
    else if (strcmp(kind, "docker-archive") == 0) {
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? ab_fail(&err, errno, "cannot read the docker archive") :
                     docker_archive_layers(fd, tag, "/scratch", &layers, &err);
    } else {
        fprintf(stderr, "appbox-unpack: unknown kind %s\n", kind);
        return 2;
    }
    if (r < 0)
        return fail(&err);
    struct unpack_stats st = { 0 };
    for (size_t i = 0; i < layers.n; i++) {
        _cleanup_close_ int fd = open(layers.v[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ab_fail(&err, errno, "cannot read the layer %s", layers.v[i]);
            return fail(&err);
        }
        /* a layer staged in /scratch (on disk) is gone once it is open */
        if (strncmp(layers.v[i], "/scratch/", 9) == 0)
            unlink(layers.v[i]);
        if (unpack_layer(fd, dest, &st, &err) < 0) {
            if (layers.n > 1)
                ab_error_prefix(&err, "layer %zu of %zu", i + 1, layers.n);
            return fail(&err);
        }
    }
    /* The root directory belongs to the container's root. */
    if (chown(dest, 0, 0) < 0 || chmod(dest, 0755) < 0)
        fprintf(stderr, "appbox: warning: cannot hand %s to the container's root: %s\n", dest, strerror(errno));
    if (st.skipped_devices && !rootfs)
        fprintf(stderr, "appbox: warning: skipped %lu device nodes (a container cannot create them)\n",
                st.skipped_devices);
    if (st.dropped_setid)
        fprintf(stderr, "appbox: warning: dropped the set-id bit of %lu files owned by ids outside the "
                        "container's map\n", st.dropped_setid);
    strv_clear(&layers);
    return 0;
}
