/* Desktop niceties (issue 11): for a container with a display, the host's
 * fonts, icon and cursor themes and time zone, read-only, where the
 * container's own programs find them without anything of the root's own
 * being replaced.
 *
 *   /usr/share/fonts, /usr/local/share/fonts   /run/host/share/fonts, /run/host/local-share/fonts
 *   ~/.local/share/fonts, ~/.fonts             /run/host/user-share/fonts, /run/host/user-dot/fonts
 *   /usr/share/icons, ~/.local/share/icons,    /run/host/share/icons, /run/host/user-share/icons,
 *   ~/.icons                                   /run/host/user-dot/icons
 *   /etc/localtime (its target)                /run/host/localtime, TZ=:/run/host/localtime
 *                                              (the caller's TZ instead when set)
 *
 * FONTCONFIG_FILE names a configuration of appbox's own (in its data
 * directory, bound read-only at /run/host/fonts.conf) that includes the
 * root's /etc/fonts/fonts.conf and adds those font directories;
 * XDG_DATA_DIRS keeps the root's /usr/local/share:/usr/share first and adds
 * the /run/host ones after, and XCURSOR_PATH does the same for cursors;
 * XCURSOR_THEME and XCURSOR_SIZE pass when set.  Everything is under
 * /run/host (a tmpfs where the root has /run): nothing is made or replaced
 * in the root.  The locale's variables already pass where the root has
 * that locale (runtime/sandbox.c).
 *
 * In the host view (no root of its own) the host's /usr and /etc are
 * there already: only the home's folders are bound.
 *
 * Host paths: a system one must resolve to a directory (or file) of
 * root's, a home one must hold no symbolic link below the home and be the
 * caller's own; none may lie in (or hold) what the container can write
 * through a read-write bind.  Missing ones are skipped.  Each bind is
 * pinned to the object checked (dev, inode). */
#pragma once

#include "context.h"
#include "spec/spec.h"
#include "util/error.h"

#define HOSTFILES_DIR "/run/host"

/* At start, after display_resolve(): the binds and environment added to S
 * when it has a display and the niceties are on (spec_container.
 * no_host_files false). */
int hostfiles_resolve(struct ab_ctx *ctx, struct spec *s, ab_error *err);

/* For `show`: what the niceties give, or why nothing. */
const char *hostfiles_describe(const struct spec_container *c, char *buf, size_t len);
