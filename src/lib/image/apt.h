/* Packages in Debian/Ubuntu containers: apt-get runs inside the container,
 * as its root, with the host's network and resolver for just this run. */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "util/error.h"
#include "util/strv.h"

/* ROOTFS is the root file system, or with LOWER (a container of a shared
 * base) the layer that holds the container's changes over the read-only
 * LOWER: the root is then their overlay, and every write lands in ROOTFS. */

/* Install PACKAGES and the local .deb files DEBS (dependencies resolved by
 * apt from the mirror) into the root file system ROOTFS. */
int apt_install(struct ab_ctx *ctx, const char *rootfs, const char *lower, const strv *packages, const strv *debs, const char *logpath, bool verbose,
                ab_error *err);

/* apt-get update and a non-interactive upgrade in ROOTFS. */
int apt_upgrade(struct ab_ctx *ctx, const char *rootfs, const char *lower, const char *logpath, bool verbose, ab_error *err);

/* Debian's rule for a package name, as apt_install() is given them:
 * lower-case letters, digits and + - . : = ~ (a version or release after
 * = or :), starting with a letter or digit, so that none looks like an
 * option to apt-get. */
bool apt_package_name_valid(const char *name);

/* Whether ROOTFS has apt (a Debian or Ubuntu root). */
bool apt_present(const char *rootfs);
