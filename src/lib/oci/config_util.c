/* The config.json parser's getters and table walker: every value is read
 * through one of these, so a wrong type or range always names the field
 * and what was expected. */
#include "oci/config_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int oci_bad(struct oci_ctx *x, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ab_error_set(x->err, AB_ERR_USAGE, 0, "%s: %s: %s", x->what, path, msg);
}

int oci_type(struct oci_ctx *x, const char *path, const char *expected)
{
    return oci_bad(x, path, "expected %s", expected);
}

const char *oci_path_key(char *buf, const char *prefix, const char *key)
{
    snprintf(buf, OCI_PATH_MAX, "%s%s%s", prefix, *prefix ? "." : "", key);
    return buf;
}

const char *oci_path_index(char *buf, const char *prefix, size_t i)
{
    snprintf(buf, OCI_PATH_MAX, "%s[%zu]", prefix, i);
    return buf;
}

int oci_get_string(struct oci_ctx *x, json_object *v, const char *path, const char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return oci_type(x, path, "a string");
    const char *s = json_object_get_string(v);
    /* "\u0000" is valid JSON, but no path, name or argument can hold it */
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return oci_bad(x, path, "'%s' contains a NUL character", s);
    *out = s;
    return 0;
}

int oci_get_bool(struct oci_ctx *x, json_object *v, const char *path, bool *out)
{
    if (!json_object_is_type(v, json_type_boolean))
        return oci_type(x, path, "true or false");
    *out = json_object_get_boolean(v);
    return 0;
}

int oci_get_i64(struct oci_ctx *x, json_object *v, const char *path, int64_t min, int64_t max, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return oci_type(x, path, "an integer");
    int64_t n = json_object_get_int64(v);
    /* json-c keeps integers above INT64_MAX as uint64 and clamps here */
    if (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
        return oci_bad(x, path, "%s is out of range (expected %" PRId64 " to %" PRId64 ")",
                       json_object_get_string(v), min, max);
    if (n < min || n > max)
        return oci_bad(x, path, "%" PRId64 " is out of range (expected %" PRId64 " to %" PRId64 ")", n, min, max);
    *out = n;
    return 0;
}

int oci_get_u64(struct oci_ctx *x, json_object *v, const char *path, uint64_t max, uint64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return oci_type(x, path, "an integer");
    if (json_object_get_int64(v) < 0)
        return oci_bad(x, path, "%" PRId64 " is negative (expected 0 to %" PRIu64 ")", json_object_get_int64(v),
                       max);
    uint64_t n = json_object_get_uint64(v);
    if (n > max)
        return oci_bad(x, path, "%" PRIu64 " is out of range (expected 0 to %" PRIu64 ")", n, max);
    *out = n;
    return 0;
}

int oci_need_object(struct oci_ctx *x, json_object *v, const char *path)
{
    return json_object_is_type(v, json_type_object) ? 0 : oci_type(x, path, "an object");
}

int oci_need_array(struct oci_ctx *x, json_object *v, const char *path, const char *of)
{
    if (json_object_is_type(v, json_type_array))
        return 0;
    char what[64];
    snprintf(what, sizeof(what), "an array of %s", of);
    return oci_type(x, path, what);
}

int oci_array_alloc(struct oci_ctx *x, json_object *v, const char *path, const char *of, size_t size, void **items,
                    size_t *count, size_t *n)
{
    int r = oci_need_array(x, v, path, of);
    if (r < 0)
        return r;
    *n = json_object_array_length(v);
    free(*items);
    *count = 0;
    if (!(*items = calloc(*n ? *n : 1, size)))
        return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    return 0;
}

int oci_get_strv(struct oci_ctx *x, json_object *v, const char *path, strv *out)
{
    int r = oci_need_array(x, v, path, "strings");
    if (r < 0)
        return r;
    strv_clear(out);
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        const char *s;
        char p[OCI_PATH_MAX];
        if (!json_object_is_type(e, json_type_string))
            return oci_type(x, path, "an array of strings");
        if ((r = oci_get_string(x, e, oci_path_index(p, path, i), &s)) < 0)
            return r;
        if (strv_push(out, s) < 0)
            return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    }
    if (!out->v) {
        /* an empty array is a list, not "none": keep it NULL-terminated */
        out->v = calloc(1, sizeof(char *));
        if (!out->v)
            return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    }
    return 0;
}

int oci_get_abs(struct oci_ctx *x, json_object *v, const char *path, const char **out)
{
    int r = oci_get_string(x, v, path, out);
    if (r < 0)
        return r;
    if ((*out)[0] != '/')
        return oci_bad(x, path, "'%s' is not an absolute path (expected one starting with /)", *out);
    return 0;
}

int oci_get_string_map(struct oci_ctx *x, json_object *v, const char *path, strv *out)
{
    int r = oci_need_object(x, v, path);
    if (r < 0)
        return r;
    strv_clear(out);
    json_object_object_foreach(v, key, val)
    {
        char p[OCI_PATH_MAX];
        const char *s;
        oci_path_key(p, path, key);
        if (!json_object_is_type(val, json_type_string))
            return oci_type(x, p, "a string");
        if ((r = oci_get_string(x, val, p, &s)) < 0)
            return r;
        if (!*key || strchr(key, '='))
            return oci_bad(x, path, "'%s' is not a valid key (expected a non-empty name without '=')", key);
        char *kv;
        if (asprintf(&kv, "%s=%s", key, s) < 0 || strv_push_take(out, kv) < 0)
            return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    }
    return 0;
}

int oci_set_string(struct oci_ctx *x, char **dst, const char *s)
{
    char *c = NULL;
    if (s && !(c = strdup(s)))
        return ab_fail(x->err, ENOMEM, "%s", x->what);
    free(*dst);
    *dst = c;
    return 0;
}

bool oci_json_empty(json_object *v)
{
    if (!v)
        return true;
    if (json_object_is_type(v, json_type_object))
        return json_object_object_length(v) == 0;
    if (json_object_is_type(v, json_type_array))
        return json_object_array_length(v) == 0;
    return false;
}

int oci_walk(struct oci_ctx *x, json_object *obj, const char *path, const struct oci_field *table, size_t n,
             void *base)
{
    char *b = base ? base : (void *)x->cfg;
    int r = oci_need_object(x, obj, *path ? path : "(top level)");
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        json_object *v = json_object_object_get(obj, table[i].key);   /* null reads as absent */
        oci_path_key(p, path, table[i].key);
        if (!v) {
            if (table[i].flags & OCI_REQUIRED)
                return oci_bad(x, p, "missing (required)");
            continue;
        }
        if ((r = table[i].fn(x, v, p, b + table[i].off)) < 0)
            return r;
    }
    return 0;
}

int oci_f_string(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    return r < 0 ? r : oci_set_string(x, dst, s);
}

int oci_f_bool(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_bool(x, v, path, dst);
}

int oci_f_strv(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_strv(x, v, path, dst);
}

int oci_f_abs(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_abs(x, v, path, &s);
    return r < 0 ? r : oci_set_string(x, dst, s);
}

int oci_get_letter(struct oci_ctx *x, json_object *v, const char *path, const char *allowed, const char *what,
                   const char *expected, char *out)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    if (strlen(s) != 1 || !strchr(allowed, s[0]))
        return oci_bad(x, path, "'%s' is not a %s (expected %s)", s, what, expected);
    *out = s[0];
    return 0;
}

int oci_f_refuse(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    if (oci_json_empty(v))
        return 0;
    return oci_bad(x, path, "not supported by appbox-oci (expected it absent or empty)");
}

int oci_f_ignore(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return 0;
}

char *oci_clean_path(const char *p)
{
    size_t len = strlen(p);
    char *out = malloc(len + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '/';
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* nothing */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            /* back to the previous '/', never above the root */
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        s = e;
    }
    out[o] = '\0';
    return out;
}
