/* The display module (--display): what of the host's display server the
 * container reaches, and how.
 *
 *   x11          the host X server's socket alone, bound as the
 *                container's /tmp/.X11-unix/X0 (never the abstract socket:
 *                the container has a network namespace of its own), with a
 *                cookie made for this container by the SECURITY extension,
 *                untrusted: no XTEST, no reading other clients' windows or
 *                the root window's pixels, no grabs of others' input.
 *                appbox-x11auth, a runner helper, revokes it at teardown
 *                (the server does not when the connection that made it
 *                closes); killed, the server's timer does.
 *   x11-trusted  the same socket with the user's own cookie for the display
 *   wayland      the compositor's socket, as $XDG_RUNTIME_DIR/wayland-0
 *   private      a nested Xephyr (a window on the host's display) started
 *                with the container and stopped with it; the container sees
 *                only Xephyr's socket, with a cookie of its own
 *
 * The container always sees display :0 and XAUTHORITY=/run/appbox/Xauthority
 * (or WAYLAND_DISPLAY=wayland-0): display_resolve() puts these into the
 * spec's process environment and its mounts, so sessions that join later
 * (exec, run, launchers) get them from spec.json. */
#pragma once

#include "context.h"
#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/error.h"

#define DISPLAY_XAUTHORITY "/run/appbox/Xauthority"

/* At start, once the spec is resolved: the mode of --display auto chosen
 * from the session, the host's socket found (and a display number for
 * Xephyr), a directory of ours made for the cookie, and the mounts and
 * environment added to S.  NAME: the container, or NULL (a sandbox; the
 * window title).  Bad input is refused here, before anything is started. */
int display_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);

/* Remove what display_resolve() made, where the start failed before the
 * pipeline could (safe to call twice). */
void display_release(const struct spec *s);

/* One line for `show`: the mode and what it lets the app do. */
const char *display_describe(const struct spec_display *d, char *buf, size_t len);

extern const struct module display_module;
