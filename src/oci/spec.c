/* appbox-oci spec and features. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/cli.h"
#include "oci/config.h"
#include "util/cleanup.h"

int oci_cmd_spec(struct oci_cli *cli, struct oci_args *a)
{
    const char *bundle = a->opt[SPEC_BUNDLE].set ? a->opt[SPEC_BUNDLE].value : ".";
    _cleanup_close_ int dirfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return oci_error(cli, "spec: --bundle: cannot open '%s': %s", bundle, strerror(errno));
    _cleanup_free_ char *text = oci_default_config(a->opt[SPEC_ROOTLESS].set, getuid(), getgid());
    if (!text)
        return oci_error(cli, "spec: cannot make the default config.json: %s", strerror(errno ? errno : ENOMEM));
    /* O_EXCL: an existing config.json (or a link by that name) is never
     * overwritten */
    _cleanup_close_ int fd = openat(dirfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return oci_error(cli, "spec: File %s/config.json exists. Remove it first", bundle);
    if (fd < 0)
        return oci_error(cli, "spec: cannot write %s/config.json: %s", bundle, strerror(errno));
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        int e = errno ? errno : EIO;
        unlinkat(dirfd, "config.json", 0);
        return oci_error(cli, "spec: cannot write %s/config.json: %s", bundle, strerror(e));
    }
    return 0;
}

int oci_cmd_features(struct oci_cli *cli, struct oci_args *a)
{
    _cleanup_free_ char *json = oci_features_json();
    if (!json)
        return oci_error(cli, "features: cannot make the features JSON: %s", strerror(errno ? errno : ENOMEM));
    fputs(json, stdout);
    if (json[0] && json[strlen(json) - 1] != '\n')
        fputc('\n', stdout);
    return 0;
}
