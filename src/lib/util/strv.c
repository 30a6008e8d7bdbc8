#include "util/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strv_push_take(strv *s, char *str)
{
    if (!str)
        return -ENOMEM;
    char **nv = realloc(s->v, (s->n + 2) * sizeof(char *));
    if (!nv) {
        free(str);
        return -ENOMEM;
    }
    s->v = nv;
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

int strv_push(strv *s, const char *str)
{
    return strv_push_take(s, strdup(str));
}

void strv_clear(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

const char *strv_find_prefix(const strv *s, const char *prefix)
{
    size_t len = strlen(prefix);
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->v[i], prefix, len) == 0)
            return s->v[i];
    return NULL;
}
