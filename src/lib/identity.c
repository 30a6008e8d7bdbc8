#include "identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int identity_resolve(const struct spec *s, struct identity *id, ab_error *err)
{
    memset(id, 0, sizeof(*id));
    id->caller_uid = getuid();
    id->caller_gid = getgid();

    struct passwd *pw = getpwuid(id->caller_uid);
    if (pw) {
        snprintf(id->caller_name, sizeof(id->caller_name), "%s", pw->pw_name);
        snprintf(id->shell, sizeof(id->shell), "%s", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
    } else {
        snprintf(id->caller_name, sizeof(id->caller_name), "user%u", id->caller_uid);
        snprintf(id->shell, sizeof(id->shell), "/bin/sh");
    }

    id->uid = s->uid_set ? s->uid : id->caller_uid;
    if (id->uid == id->caller_uid) {
        id->gid = id->caller_gid;
        snprintf(id->name, sizeof(id->name), "%s", id->caller_name);
        if (id->uid == 0)
            snprintf(id->home, sizeof(id->home), "/root");
        else if (pw && pw->pw_dir && pw->pw_dir[0] == '/' && strcmp(pw->pw_dir, "/") != 0 &&
                 strcmp(pw->pw_dir, "/nonexistent") != 0)
            snprintf(id->home, sizeof(id->home), "%s", pw->pw_dir);
        else
            snprintf(id->home, sizeof(id->home), "/home/%s", id->name);
        struct group *gr = getgrgid(id->gid);
        snprintf(id->group, sizeof(id->group), "%s", gr ? gr->gr_name : id->name);
    } else if (id->uid == 0) {
        id->gid = 0;
        snprintf(id->name, sizeof(id->name), "root");
        snprintf(id->group, sizeof(id->group), "root");
        snprintf(id->home, sizeof(id->home), "/root");
        snprintf(id->shell, sizeof(id->shell), "/bin/sh");
    } else {
        id->gid = (gid_t)id->uid;
        snprintf(id->name, sizeof(id->name), "user%u", id->uid);
        snprintf(id->group, sizeof(id->group), "user%u", id->uid);
        snprintf(id->home, sizeof(id->home), "/home/%s", id->name);
        snprintf(id->shell, sizeof(id->shell), "/bin/sh");
    }
    (void)err;
    return 0;
}

int identity_passwd_line(const struct identity *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s:x:%u:%u:%s:%s:%s\n", id->name, id->uid, id->gid, id->name, id->home,
                     id->shell);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int identity_group_line(const struct identity *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s:x:%u:\n", id->group, id->gid);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int identity_file_has(const char *text, const char *name, unsigned idnum)
{
    size_t nlen = strlen(name);
    for (const char *line = text; line && *line;) {
        const char *eol = strchrnul(line, '\n');
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
            /* name:x:ID:... */
            const char *f = strchr(line + nlen + 1, ':');
            if (f && f < eol && strtoul(f + 1, NULL, 10) == idnum)
                return 1;
        }
        line = *eol ? eol + 1 : NULL;
    }
    return 0;
}
