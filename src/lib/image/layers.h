/* Finding an image's layers, in order: an OCI image layout (index.json,
 * blobs/sha256/...) or a `docker save` archive (manifest.json).  The
 * manifests are untrusted: a digest must be sha256:<64 hex digits>, a
 * member name must stay inside the archive. */
#pragma once

#include "util/error.h"
#include "util/strv.h"

/* Paths of the layer blobs of DIR's manifest tagged TAG (NULL: the first). */
int oci_layers(const char *dir, const char *tag, strv *paths, ab_error *err);

/* Copy the layers of the docker archive read from FD (a file) into SCRATCH
 * (a directory) as 0, 1, 2...; their paths in order in PATHS. */
int docker_archive_layers(int fd, const char *tag, const char *scratch, strv *paths, ab_error *err);

int digest_to_path(const char *dir, const char *digest, char **out, ab_error *err);
