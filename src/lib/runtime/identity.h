/* Who the command is inside the container: the caller's own name, uid and
 * group by default, or root with --uid 0. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "spec/spec.h"
#include "util/error.h"

int identity_resolve(const struct spec *s, struct spec_user *id, ab_error *err);

/* "name:x:uid:gid::home:shell\n" and "group:x:gid:\n" lines. */
int identity_passwd_line(const struct spec_user *id, char *buf, size_t size);
int identity_group_line(const struct spec_user *id, char *buf, size_t size);

/* Look USER (a name or a number) up in TEXT (a passwd file) and make it
 * the identity; group name from GROUP_TEXT when given. */
int identity_from_passwd(struct spec_user *id, const char *text, const char *group_text, const char *user,
                         ab_error *err);

/* The same, reading /etc/passwd and /etc/group of the current root
 * without NSS (which could load the container's libraries). */
int resolve_user_in_root(const char *user, struct spec_user *id, ab_error *err);

/* Whether TEXT (a passwd or group file) has an entry with NAME and ID. */
int identity_file_has(const char *text, const char *name, unsigned id);

/* The PATH a login gets in the root ROOTFD (an fd of its "/"), as the root
 * itself says: ENV_SUPATH (ROOT) or ENV_PATH of /etc/login.defs, else the
 * one literal PATH= of /etc/profile.  Read as identity files are (regular
 * files resolved in the root, small).  0 with BUF filled, or -errno. */
int identity_login_path(int rootfd, bool root, char *buf, size_t size);

/* Whether the root ROOTFD has the locale NAME (a LANG or LC_* value): C,
 * C.UTF-8 and POSIX always; else /usr/lib/locale/NAME (or glibc's
 * normalized codeset), or a locale-archive. */
bool identity_locale_present(int rootfd, const char *name);
