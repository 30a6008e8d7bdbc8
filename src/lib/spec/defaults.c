#include "spec/defaults.h"

#include <stddef.h>
#include <stdbool.h>

const char *const spec_default_masked_paths[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/kallsyms", "/proc/sysrq-trigger",
    "/proc/kmsg", "/proc/config.gz",
    "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/kernel/security", "/sys/kernel/debug",
    NULL,
};

const char *const spec_default_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", NULL,
};

const char *const spec_default_devices[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL,
};

const char *const spec_host_view_dirs[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", NULL,
};

const char *spec_default_path(bool root)
{
    /* the games folders for root too (Debian's ENV_SUPATH lacks them): a
     * container's root runs its apps, and cowsay is an app */
    return root ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/games:/usr/games"
                : "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/games:/usr/games";
}

void spec_hostname_of(const char *name, char *buf, size_t size)
{
    /* A container name is a host name but for '_' (and a host name has at
     * most 64 bytes, as a container name). */
    size_t n = 0;
    for (; name[n] && n + 1 < size && n < 64; n++)
        buf[n] = name[n] == '_' ? '-' : name[n];
    buf[n] = '\0';
}
