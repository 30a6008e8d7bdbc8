/* Who the command is inside the container: the caller's own name, uid and
 * group by default, or root with --uid 0. */
#pragma once

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
