#include "runtime/identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

int identity_resolve(const struct spec *s, struct spec_user *id, ab_error *err)
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

    id->uid = s->process.uid_set ? s->process.uid : id->caller_uid;
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

int identity_passwd_line(const struct spec_user *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s:x:%u:%u:%s:%s:%s\n", id->name, id->uid, id->gid, id->name, id->home,
                     id->shell);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int identity_group_line(const struct spec_user *id, char *buf, size_t size)
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

static bool field(const char *line, const char *eol, int n, const char **start, size_t *len)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = memchr(p, ':', (size_t)(eol - p));
        if (!p)
            return false;
        p++;
    }
    const char *end = memchr(p, ':', (size_t)(eol - p));
    *start = p;
    *len = (size_t)((end ? end : eol) - p);
    return true;
}

/* A uid or gid field: decimal digits only, below (uint32_t)-1, which is
 * no id at all (setresuid(-1) changes nothing).  strtoul() alone would
 * take "-1" and "4294967296" (0 once truncated). */
static bool parse_id(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v >= UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

int identity_from_passwd(struct spec_user *id, const char *text, const char *group_text, const char *user,
                         ab_error *err)
{
    uint32_t num = 0;
    bool numeric = parse_id(user, strlen(user), &num);
    for (const char *line = text; line && *line;) {
        const char *eol = strchrnul(line, '\n');
        const char *f[7];
        size_t l[7];
        bool ok = true;
        for (int i = 0; i < 7 && ok; i++)
            ok = field(line, eol, i, &f[i], &l[i]);
        uint32_t uid = 0, gid = 0;
        bool uid_ok = ok && parse_id(f[2], l[2], &uid);
        bool match = ok && (numeric ? uid_ok && uid == num : (l[0] == strlen(user) && strncmp(f[0], user, l[0]) == 0));
        if (match) {
            if (!uid_ok)
                return ab_usage(err, "--user: %s has an invalid uid '%.*s' in the container's /etc/passwd", user,
                                (int)(l[2] > 16 ? 16 : l[2]), f[2]);
            if (!parse_id(f[3], l[3], &gid))
                return ab_usage(err, "--user: %s has an invalid gid '%.*s' in the container's /etc/passwd", user,
                                (int)(l[3] > 16 ? 16 : l[3]), f[3]);
            id->uid = (uid_t)uid;
            id->gid = (gid_t)gid;
            snprintf(id->name, sizeof(id->name), "%.*s", (int)l[0], f[0]);
            snprintf(id->home, sizeof(id->home), "%.*s", (int)l[5], f[5]);
            snprintf(id->shell, sizeof(id->shell), "%.*s", (int)l[6], l[6] ? f[6] : "/bin/sh");
            snprintf(id->group, sizeof(id->group), "%s", id->name);
            for (const char *g = group_text; g && *g;) {
                const char *geol = strchrnul(g, '\n');
                const char *gf[3];
                size_t gl[3];
                uint32_t ggid;
                if (field(g, geol, 0, &gf[0], &gl[0]) && field(g, geol, 2, &gf[2], &gl[2]) &&
                    parse_id(gf[2], gl[2], &ggid) && ggid == gid) {
                    snprintf(id->group, sizeof(id->group), "%.*s", (int)gl[0], gf[0]);
                    break;
                }
                g = *geol ? geol + 1 : NULL;
            }
            return 0;
        }
        line = *eol ? eol + 1 : NULL;
    }
    if (numeric && num <= 65535) {
        /* an id without an entry is still a valid user */
        id->uid = (uid_t)num;
        id->gid = (gid_t)num;
        snprintf(id->name, sizeof(id->name), "%u", num);
        snprintf(id->group, sizeof(id->group), "%u", num);
        snprintf(id->home, sizeof(id->home), "/");
        snprintf(id->shell, sizeof(id->shell), "/bin/sh");
        return 0;
    }
    return ab_usage(err, "--user: '%s' is not a user in the container (not in its /etc/passwd)", user);
}

int resolve_user_in_root(const char *user, struct spec_user *id, ab_error *err)
{
    /* The container's files, so hostile: resolved inside its root, a
     * regular file only (a FIFO must not hang the join), not a kernel
     * file, and small. */
    _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return ab_fail(err, errno, "cannot open the container's root");
    _cleanup_free_ char *pw = fs_read_config_in_root(root, "/etc/passwd", 1 << 22, NULL);
    int pw_errno = pw ? 0 : errno;
    _cleanup_free_ char *gr = fs_read_config_in_root(root, "/etc/group", 1 << 22, NULL);
    int r = identity_from_passwd(id, pw ? pw : "", gr, user, err);
    /* A number needs no entry; a name that was not found may have been in
     * a file that could not be read: say so. */
    if (r < 0 && pw_errno && pw_errno != ENOENT)
        return ab_usage(err, "--user: '%s': cannot read the container's /etc/passwd: %s", user,
                        pw_errno == EINVAL ? "not a regular file" : strerror(pw_errno));
    return r;
}

/* A PATH value worth taking: absolute folders separated by ':', and
 * nothing a shell would expand or split. */
static bool plain_path_list(const char *v, size_t len)
{
    if (len == 0 || v[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch <= ' ' || ch == 0x7f || strchr("$`\"'\\;&|<>()*?[]{}~#", ch))
            return false;
        if (ch == ':' && (i + 1 == len || v[i + 1] != '/'))
            return false;
    }
    return true;
}

static int take_path(const char *v, size_t len, char *buf, size_t size)
{
    if (!plain_path_list(v, len) || len >= size)
        return -EINVAL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 0;
}

/* login.defs: "ENV_SUPATH  PATH=/usr/local/sbin:..." (the "PATH=" is
 * optional, as for login(1)). */
static int path_from_login_defs(const char *text, bool root, char *buf, size_t size)
{
    const char *key = root ? "ENV_SUPATH" : "ENV_PATH";
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *eol = strchrnul(line, '\n');
        const char *p = line;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(eol - p) > klen && strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '\t')) {
            p += klen;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            const char *end = eol;
            while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            if ((size_t)(end - p) > 5 && strncmp(p, "PATH=", 5) == 0)
                p += 5;
            return take_path(p, (size_t)(end - p), buf, size);
        }
        line = *eol ? eol + 1 : NULL;
    }
    return -ENOENT;
}

/* /etc/profile: one PATH=... (or export PATH=...) of a literal value,
 * quoted or not; two different ones (one for root, one for the others, as
 * Debian's) or one built from other values is not simply parseable. */
static int path_from_profile(const char *text, char *buf, size_t size)
{
    char found[1024] = "";
    for (const char *line = text; line && *line;) {
        const char *eol = strchrnul(line, '\n');
        const char *p = line;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if (eol - p > 7 && strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
            p += 6;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
        }
        if (eol - p > 5 && strncmp(p, "PATH=", 5) == 0) {
            p += 5;
            const char *end;
            if (*p == '"' || *p == '\'') {
                end = memchr(p + 1, *p, (size_t)(eol - p - 1));
                if (!end)
                    return -EINVAL;
                p++;
            } else {
                end = p;
                while (end < eol && *end != ' ' && *end != '\t' && *end != ';' && *end != '\r')
                    end++;
            }
            char one[1024];
            if (take_path(p, (size_t)(end - p), one, sizeof(one)) < 0)
                return -EINVAL;
            if (found[0] && strcmp(found, one) != 0)
                return -EINVAL;
            snprintf(found, sizeof(found), "%s", one);
        }
        line = *eol ? eol + 1 : NULL;
    }
    if (!found[0])
        return -ENOENT;
    if (strlen(found) >= size)
        return -EINVAL;
    snprintf(buf, size, "%s", found);
    return 0;
}

int identity_login_path(int rootfd, bool root, char *buf, size_t size)
{
    /* The root's files, so hostile: read as identity files are (regular
     * files only, in the root, small). */
    _cleanup_free_ char *defs = fs_read_config_in_root(rootfd, "/etc/login.defs", 1 << 16, NULL);
    if (defs && path_from_login_defs(defs, root, buf, size) == 0)
        return 0;
    _cleanup_free_ char *profile = fs_read_config_in_root(rootfd, "/etc/profile", 1 << 16, NULL);
    if (profile && path_from_profile(profile, buf, size) == 0)
        return 0;
    return -ENOENT;
}

bool identity_locale_present(int rootfd, const char *name)
{
    if (!name || !*name || name[0] == '.' || strchr(name, '/') || strlen(name) > 128)
        return false;
    if (strcmp(name, "C") == 0 || strcmp(name, "POSIX") == 0 || strcmp(name, "C.UTF-8") == 0 ||
        strcmp(name, "C.utf8") == 0)
        return true;
    char path[192];
    snprintf(path, sizeof(path), "/usr/lib/locale/%s", name);
    _cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd >= 0)
        return true;
    /* glibc's own spelling of the codeset: "en_US.UTF-8" is in en_US.utf8 */
    const char *dot = strchr(name, '.');
    if (dot) {
        char norm[160];
        size_t n = (size_t)(dot - name) + 1;
        memcpy(norm, name, n);
        for (const char *c = dot + 1; *c && n + 1 < sizeof(norm); c++) {
            if (*c == '@') {
                snprintf(norm + n, sizeof(norm) - n, "%s", c);
                n += strlen(c);
                break;
            }
            if (*c != '-' && *c != '_')
                norm[n++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        }
        norm[n < sizeof(norm) ? n : sizeof(norm) - 1] = '\0';
        snprintf(path, sizeof(path), "/usr/lib/locale/%s", norm);
        _cleanup_close_ int nfd = fs_open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
        if (nfd >= 0)
            return true;
    }
    /* every locale glibc's localedef compiled in one file: its presence
     * is what can be checked without parsing it */
    _cleanup_close_ int afd = fs_open_in_root(rootfd, "/usr/lib/locale/locale-archive", O_PATH);
    struct stat st;
    return afd >= 0 && fstat(afd, &st) == 0 && S_ISREG(st.st_mode);
}
