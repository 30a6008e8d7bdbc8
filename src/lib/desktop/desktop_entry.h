/* .desktop entries on the host for containers (issue 11): the launcher's
 * (appbox-NAME.desktop) and an application's published from inside the
 * root by `export NAME --app APP` (appbox-NAME-APP.desktop), in
 * $XDG_DATA_HOME/applications (~/.local/share/applications), with icons
 * copied to $XDG_DATA_HOME/icons/appbox.
 *
 * The container's entry is text of the container's choosing: it is read
 * through the container (container_read_file(): resolved inside it, size
 * capped) and only a few of its keys are taken, checked, into an entry
 * written here from scratch; its Exec becomes `appbox run NAME ++cmd ...`
 * with every argument quoted again.  Every file written is recorded in
 * the container's directory (desktop-files) and removed with it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "util/error.h"
#include "util/strv.h"

#define DESKTOP_ENTRY_MAX (64 * 1024)   /* the container's .desktop file */
#define DESKTOP_ICON_MAX (1024 * 1024)  /* an icon copied out */
#define DESKTOP_MARKER "X-Appbox-Container"

/* The value of KEY in the [Desktop Entry] group of TEXT (malloc'd), or
 * NULL.  Localized keys (Name[de]) are not KEY. */
char *desktop_entry_value(const char *text, const char *key);

/* EXEC (a desktop entry's Exec value, as written in the file) as the Exec
 * value of `SELF run NAME ++cmd ARGS...`: each argument quoted again;
 * %f %F %u %U kept (the same files after), %i %c %k and the deprecated
 * codes dropped, %% kept; any other field code, or one inside an argument,
 * is refused. */
int desktop_exec_rewrite(const char *self, const char *name, const char *exec, char **out, ab_error *err);

/* One argument quoted for an Exec value (and the file's escapes). */
char *desktop_exec_quote(const char *arg);

/* $XDG_DATA_HOME/SUB or ~/.local/share/SUB, malloc'd; NULL without HOME. */
char *desktop_data_dir(const char *sub);

/* Write LEN bytes of DATA as DIR/FILE (DIR made when missing), through a
 * temporary file and a rename; a file there that is not NAME's entry
 * (a .desktop without DESKTOP_MARKER=NAME) is refused.  The path written
 * is recorded for NAME. */
int desktop_write(struct ab_ctx *ctx, const char *name, const char *dir, const char *file, const char *data,
                  size_t len, ab_error *err);

/* Remove PATH when it is NAME's (a .desktop entry with NAME's marker, or
 * an icon named appbox-NAME-*); 1 removed, 0 not there or not NAME's. */
int desktop_remove(const char *name, const char *path);

/* The files recorded for NAME (read before the container's directory goes). */
void desktop_recorded(struct ab_ctx *ctx, const char *name, strv *out);
/* Remove each of PATHS that is NAME's. */
void desktop_remove_all(const char *name, const strv *paths);
/* Forget PATH in NAME's record. */
void desktop_forget(struct ab_ctx *ctx, const char *name, const char *path);
