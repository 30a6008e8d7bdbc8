/* The context every lib/ call that touches the store takes, instead of
 * globals and environment reads: where containers and runtime state live
 * (resolved once, their directories opened once as fds), what appbox needs
 * to know of its environment, and where messages go.  The CLI fills it
 * from the environment (cmd/common.c); lib/ never reads getenv, never
 * prints and never exits. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

#include "util/error.h"
#include "util/strv.h"

/* What the caller's environment says, as given (any may be NULL). */
struct ab_env {
    const char *home;              /* HOME */
    const char *xdg_data_home;     /* XDG_DATA_HOME */
    const char *xdg_runtime_dir;   /* XDG_RUNTIME_DIR */
    const char *data_dir;          /* APPBOX_DATA_DIR: overrides the data dir */
    const char *runtime_dir;       /* APPBOX_RUNTIME_DIR: overrides the runtime dir */
    const char *self_exe;          /* APPBOX_EXE: appbox's own path before a sealed re-exec */
    const char *bootstrap_tool;    /* APPBOX_BOOTSTRAP: mmdebstrap or debootstrap */
    const char *path;              /* PATH, to find helper tools */
    char *const *environ;          /* the whole environment: TERM, LANG, LANGUAGE, LC_* pass into containers */
};

/* How much a message matters: the caller picks what it shows. */
enum ab_log_level {
    AB_LOG_STEP = 0,     /* each step (run ++show) */
    AB_LOG_INFO = 1,     /* a long step starts (create's bootstrap on a terminal) */
    AB_LOG_WARNING = 2,  /* something the user should know (an unpacker's warning) */
};

typedef void (*ab_log_fn)(void *ud, enum ab_log_level level, const char *msg);

struct ab_ctx {
    char *data_dir;        /* $XDG_DATA_HOME/appbox, /var/lib/appbox for root */
    char *runtime_dir;     /* $XDG_RUNTIME_DIR/appbox, /run/appbox for root */
    int data_fd;           /* O_PATH fds of the two, opened (and made) on first use; -1 until */
    int runtime_fd;
    char *self_exe;
    char *bootstrap_tool;
    char *path;
    strv passenv;          /* TERM, LANG, LANGUAGE, LC_*: the only host variables a container gets */
    /* Where the host's sound server is (desktop/sound.c reads them; none
     * is passed into a container): XDG_RUNTIME_DIR, PULSE_SERVER,
     * PULSE_COOKIE, PIPEWIRE_REMOTE, PIPEWIRE_RUNTIME_DIR, HOME. */
    strv sound_env;
    /* The host session's display (desktop/display.c), as given; NULL: unset. */
    char *display;           /* DISPLAY */
    char *xauthority;        /* XAUTHORITY */
    char *wayland_display;   /* WAYLAND_DISPLAY */
    char *xdg_runtime_dir;   /* XDG_RUNTIME_DIR: where WAYLAND_DISPLAY's socket is */
    ab_log_fn log;         /* messages; NULL: quiet */
    void *log_ud;
    enum ab_log_level log_min;   /* messages below this level are not passed to log */
};

/* Fill CTX from ENV: the directories chosen (root: /var/lib/appbox and
 * /run/appbox; a user: the XDG directories, or ~/.local/share and
 * /tmp/appbox-UID), nothing opened yet. */
int ab_ctx_init(struct ab_ctx *ctx, const struct ab_env *env, ab_error *err);
void ab_ctx_free(struct ab_ctx *ctx);

/* The data and runtime directories as O_PATH fds, created and opened on
 * first use, then kept; everything below them is opened from these fds.
 * Each is checked: a directory (not a symbolic link) of the caller's, made
 * 0700 (the runtime dir exactly; the data dir without group or other
 * bits); the runtime dir's parent must be root's or the caller's and, if
 * others may write to it (the /tmp of /tmp/appbox-UID), sticky.  Anything
 * else is refused with a message that names the path, what is wrong and
 * what to do. */
int ab_ctx_data_fd(struct ab_ctx *ctx, ab_error *err);
int ab_ctx_runtime_fd(struct ab_ctx *ctx, ab_error *err);
/* The same, creating nothing: -ENOENT (and no message) when missing. */
int ab_ctx_data_fd_existing(struct ab_ctx *ctx, ab_error *err);
int ab_ctx_runtime_fd_existing(struct ab_ctx *ctx, ab_error *err);
/* Check both where they exist (creating nothing): what every verb that
 * uses named containers does first, so a directory another user planted
 * (/tmp/appbox-UID) is refused before anything is read from it. */
int ab_ctx_check_dirs(struct ab_ctx *ctx, ab_error *err);

/* The value of NAME in CTX's sound_env, or NULL. */
const char *ab_ctx_sound_env(const struct ab_ctx *ctx, const char *name);

/* Whether a message of LEVEL would be shown: check it first where working
 * out the message costs something (reading /proc/locks for a count). */
static inline bool ab_log_enabled(const struct ab_ctx *ctx, enum ab_log_level level)
{
    return ctx && ctx->log && level >= ctx->log_min;
}

/* A message through CTX's log callback, when it has one and LEVEL is at
 * least CTX's log_min. */
void ab_log(const struct ab_ctx *ctx, enum ab_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
