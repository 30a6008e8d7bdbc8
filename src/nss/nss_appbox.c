/* libnss_appbox: the host resolves the names of running containers (as
 * systemd's nss-mymachines does for nspawn's machines).
 *
 * appbox (as root) keeps, per network namespace, a hosts-format file of
 * the running containers that have an address of their own (nat on a
 * bridge, macvlan): /run/appbox-net/<inode of the network namespace>/hosts.
 * This module answers a name from the file of the caller's own network
 * namespace (a container's address means nothing in another one), IPv4
 * only.  Enable it in /etc/nsswitch.conf:
 *
 *     hosts: files appbox dns
 *
 * It runs inside every program that resolves a name: it reads one small
 * file, and trusts it only when root owns it and its directories and
 * nobody else may write them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <nss.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define ADDRS_MAX 16

/* Open PATH's components from / without following links, each owned by
 * root and writable by nobody else; the file's fd or -1. */
static int open_trusted(const char *path)
{
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char part[256];
    const char *p = path + 1;
    while (dir >= 0) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n >= sizeof(part)) {
            close(dir);
            return -1;
        }
        memcpy(part, p, n);
        part[n] = 0;
        int fd = openat(dir, part, (slash ? O_PATH | O_DIRECTORY : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 022)) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if (!slash)
            return S_ISREG(st.st_mode) ? fd : (close(fd), -1);
        dir = fd;
        p = slash + 1;
    }
    return -1;
}

/* The addresses of NAME in this network namespace's file: up to MAX, their
 * number (0: not found; -1: no file). */
static int lookup(const char *name, struct in_addr *out, int max)
{
    struct stat ns;
    if (stat("/proc/self/ns/net", &ns) < 0)
        return -1;
    char path[96];
    snprintf(path, sizeof(path), "/run/appbox-net/%lu/hosts", (unsigned long)ns.st_ino);
    int fd = open_trusted(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "re");
    if (!f) {
        close(fd);
        return -1;
    }
    size_t nlen = strlen(name);
    if (nlen && name[nlen - 1] == '.')
        nlen--;
    int found = 0;
    char line[1024];
    while (found < max && fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL;
        char *addr = strtok_r(line, " \t\n", &save);
        struct in_addr a;
        if (!addr || inet_pton(AF_INET, addr, &a) != 1)
            continue;
        for (char *w = strtok_r(NULL, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
            if (strlen(w) == nlen && strncasecmp(w, name, nlen) == 0) {
                out[found++] = a;
                break;
            }
    }
    fclose(f);
    return found;
}

EXPORT enum nss_status _nss_appbox_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp);
EXPORT enum nss_status _nss_appbox_gethostbyname3_r(const char *name, int af, struct hostent *host, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp,
                                                    char **canonp);
EXPORT enum nss_status _nss_appbox_gethostbyname2_r(const char *name, int af, struct hostent *host, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop);
EXPORT enum nss_status _nss_appbox_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
                                                   size_t buflen, int *errnop, int *h_errnop);

static enum nss_status not_found(int n, int *errnop, int *h_errnop)
{
    *errnop = n < 0 ? ENOENT : 0;
    *h_errnop = HOST_NOT_FOUND;
    return NSS_STATUS_NOTFOUND;
}

static enum nss_status too_small(int *errnop, int *h_errnop)
{
    *errnop = ERANGE;
    *h_errnop = NETDB_INTERNAL;
    return NSS_STATUS_TRYAGAIN;
}

EXPORT enum nss_status _nss_appbox_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp)
{
    struct in_addr addrs[ADDRS_MAX];
    int n = lookup(name, addrs, ADDRS_MAX);
    if (n <= 0)
        return not_found(n, errnop, h_errnop);
    size_t nlen = strlen(name) + 1;
    size_t need = nlen + (size_t)n * sizeof(struct gaih_addrtuple) + _Alignof(struct gaih_addrtuple);
    if (buflen < need)
        return too_small(errnop, h_errnop);
    char *copy = buffer;
    memcpy(copy, name, nlen);
    uintptr_t at = ((uintptr_t)(buffer + nlen) + _Alignof(struct gaih_addrtuple) - 1) &
                   ~(uintptr_t)(_Alignof(struct gaih_addrtuple) - 1);
    struct gaih_addrtuple *t = (struct gaih_addrtuple *)at;
    for (int i = 0; i < n; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].next = i + 1 < n ? &t[i + 1] : NULL;
        t[i].name = copy;
        t[i].family = AF_INET;
        memcpy(t[i].addr, &addrs[i], sizeof(addrs[i]));
    }
    if (*pat)
        **pat = t[0];
    else
        *pat = t;
    if (ttlp)
        *ttlp = 0;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_appbox_gethostbyname3_r(const char *name, int af, struct hostent *host, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp,
                                                    char **canonp)
{
    if (af != AF_INET)
        return not_found(0, errnop, h_errnop);
    struct in_addr addrs[ADDRS_MAX];
    int n = lookup(name, addrs, ADDRS_MAX);
    if (n <= 0)
        return not_found(n, errnop, h_errnop);
    size_t nlen = strlen(name) + 1;
    size_t ptrs = sizeof(char *) * ((size_t)n + 1 + 1); /* addresses, their NULL, the aliases' NULL */
    size_t need = _Alignof(char *) + ptrs + (size_t)n * sizeof(struct in_addr) + nlen;
    if (buflen < need)
        return too_small(errnop, h_errnop);
    uintptr_t at = ((uintptr_t)buffer + _Alignof(char *) - 1) & ~(uintptr_t)(_Alignof(char *) - 1);
    char **list = (char **)at;
    char *data = (char *)(list + n + 2);
    for (int i = 0; i < n; i++) {
        memcpy(data + (size_t)i * sizeof(struct in_addr), &addrs[i], sizeof(addrs[i]));
        list[i] = data + (size_t)i * sizeof(struct in_addr);
    }
    list[n] = NULL;
    list[n + 1] = NULL; /* no aliases */
    char *copy = data + (size_t)n * sizeof(struct in_addr);
    memcpy(copy, name, nlen);
    host->h_name = copy;
    host->h_aliases = &list[n + 1];
    host->h_addrtype = AF_INET;
    host->h_length = sizeof(struct in_addr);
    host->h_addr_list = list;
    if (ttlp)
        *ttlp = 0;
    if (canonp)
        *canonp = copy;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_appbox_gethostbyname2_r(const char *name, int af, struct hostent *host, char *buffer,
                                                    size_t buflen, int *errnop, int *h_errnop)
{
    return _nss_appbox_gethostbyname3_r(name, af, host, buffer, buflen, errnop, h_errnop, NULL, NULL);
}

EXPORT enum nss_status _nss_appbox_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
                                                   size_t buflen, int *errnop, int *h_errnop)
{
    return _nss_appbox_gethostbyname3_r(name, AF_INET, host, buffer, buflen, errnop, h_errnop, NULL, NULL);
}
