#include "spec/spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void spec_init(struct spec *s)
{
    memset(s, 0, sizeof(*s));
    s->net = NET_NONE;
    s->seccomp = true;
}

void spec_free(struct spec *s)
{
    free(s->root);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].src);
        free(s->mounts[i].dst);
    }
    free(s->mounts);
    strv_clear(&s->env);
    free(s->chdir);
    free(s->hostname);
    strv_clear(&s->argv);
    memset(s, 0, sizeof(*s));
}

int spec_add_mount(struct spec *s, enum mount_kind kind, const char *src, const char *dst)
{
    struct mount_entry *nm = realloc(s->mounts, (s->n_mounts + 1) * sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    s->mounts = nm;
    struct mount_entry *m = &s->mounts[s->n_mounts];
    m->kind = kind;
    m->src = src ? strdup(src) : NULL;
    m->dst = strdup(dst);
    if ((src && !m->src) || !m->dst) {
        free(m->src);
        free(m->dst);
        return -ENOMEM;
    }
    s->n_mounts++;
    return 0;
}

static const char *const net_names[] = {
    [NET_NONE] = "none",
    [NET_HOST] = "host",
};

const char *net_mode_name(enum net_mode m)
{
    return (size_t)m < sizeof(net_names) / sizeof(net_names[0]) ? net_names[m] : "?";
}

int net_mode_from_name(const char *name, enum net_mode *out)
{
    for (size_t i = 0; i < sizeof(net_names) / sizeof(net_names[0]); i++)
        if (net_names[i] && strcmp(name, net_names[i]) == 0) {
            *out = (enum net_mode)i;
            return 0;
        }
    return -EINVAL;
}
