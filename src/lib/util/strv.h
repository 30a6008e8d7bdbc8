/* NULL-terminated string vectors that own their strings. */
#pragma once

#include <stddef.h>

typedef struct strv {
    char **v;   /* always NULL-terminated when non-NULL */
    size_t n;
} strv;

int strv_push(strv *s, const char *str);   /* copies str; 0 or -ENOMEM */
int strv_push_take(strv *s, char *str);    /* takes ownership of str */
void strv_clear(strv *s);
const char *strv_find_prefix(const strv *s, const char *prefix);
