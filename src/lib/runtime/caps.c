#include "runtime/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIT(c) (1ULL << (c))

uint64_t caps_default_root(void)
{
    return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) | BIT(CAP_FSETID) |
           BIT(CAP_KILL) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETPCAP) |
           BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_SETFCAP) | BIT(CAP_AUDIT_WRITE);
}

static int last_cap(void)
{
    static int cached = -1;
    if (cached < 0) {
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        int v = CAP_LAST_CAP;
        if (f) {
            if (fscanf(f, "%d", &v) != 1)
                v = CAP_LAST_CAP;
            fclose(f);
        }
        cached = v > 63 ? 63 : v;
    }
    return cached;
}

uint64_t caps_for_spec(const struct spec *s, bool root_inside)
{
    uint64_t base = root_inside && !s->process.cap_drop_all ? caps_default_root() : 0;
    uint64_t all = last_cap() >= 63 ? ~0ULL : BIT(last_cap() + 1) - 1;
    return ((base & ~s->process.cap_drop) | s->process.cap_add) & all;
}

int caps_set(uint64_t keep, ab_error *err)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        uint32_t word = (uint32_t)(keep >> (32 * i));
        data[i].effective = word;
        data[i].permitted = word;
        data[i].inheritable = word;
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return ab_fail(err, errno, "cannot set capabilities");
    return 0;
}

int caps_apply(uint64_t keep, bool root_inside, ab_error *err)
{
    /* After a change from uid 0 to another id the effective set is empty
     * (the permitted one is kept): raise it, or CAP_SETPCAP is missing for
     * the bounding set below. */
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct cur[2];
    if (syscall(SYS_capget, &hdr, cur) == 0 && (cur[0].effective != cur[0].permitted ||
                                                cur[1].effective != cur[1].permitted)) {
        cur[0].effective = cur[0].permitted;
        cur[1].effective = cur[1].permitted;
        syscall(SYS_capset, &hdr, cur);
    }
    int last = last_cap();
    for (int c = 0; c <= last; c++) {
        if (keep & BIT(c))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return ab_fail(err, errno, "cannot drop capability %d from the bounding set", c);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return ab_fail(err, errno, "cannot clear the ambient capabilities");

    int r = caps_set(keep, err);
    if (r < 0)
        return r;

    if (!root_inside) {
        for (int c = 0; c <= last; c++)
            if ((keep & BIT(c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                return ab_fail(err, errno, "cannot raise ambient capability %d", c);
    }
    return 0;
}

int caps_format(uint64_t set, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    if (!set) {
        snprintf(buf, size, "none");
        return 0;
    }
    for (int c = 0; c <= 63; c++) {
        if (!(set & BIT(c)))
            continue;
        char *name = cap_to_name((cap_value_t)c);
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", name ? name : "?");
        cap_free(name);
        if (n < 0 || (size_t)n >= size - o)
            return -ENOSPC;
        o += (size_t)n;
    }
    return 0;
}

int caps_drop_for_good(void)
{
    for (int c = 0; c <= 63; c++)
        prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
