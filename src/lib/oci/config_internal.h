/* The config.json parser's own parts (oci/config*.c): the context every
 * handler gets, typed getters that name the field in their messages, and
 * the table walker.  Not for use outside oci/config*.c. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/config.h"
#include "util/error.h"
#include "util/strv.h"

/* Field paths in messages ("linux.resources.unified.memory.high") are cut
 * at this length. */
#define OCI_PATH_MAX 256

struct oci_ctx {
    struct oci_config *cfg;
    const char *what;     /* "config.json" */
    const char *bundle;   /* absolute; NULL for a bare process object */
    ab_error *err;
};

/* "WHAT: PATH: <fmt>", AB_ERR_USAGE. */
int oci_bad(struct oci_ctx *x, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "WHAT: PATH: expected EXPECTED" (a value of the wrong JSON type). */
int oci_type(struct oci_ctx *x, const char *path, const char *expected);

/* PATH of a member: "PREFIX.KEY" (KEY alone when PREFIX is empty) or of
 * an element: "PREFIX[I]", into BUF of OCI_PATH_MAX. */
const char *oci_path_key(char *buf, const char *prefix, const char *key);
const char *oci_path_index(char *buf, const char *prefix, size_t i);

/* Typed getters: a wrong type, a string with a NUL byte, or a number out of
 * [MIN, MAX] is an error naming PATH. */
int oci_get_string(struct oci_ctx *x, json_object *v, const char *path, const char **out);
int oci_get_bool(struct oci_ctx *x, json_object *v, const char *path, bool *out);
int oci_get_i64(struct oci_ctx *x, json_object *v, const char *path, int64_t min, int64_t max, int64_t *out);
int oci_get_u64(struct oci_ctx *x, json_object *v, const char *path, uint64_t max, uint64_t *out);
/* An array of strings into OUT (cleared first). */
int oci_get_strv(struct oci_ctx *x, json_object *v, const char *path, strv *out);
/* A string that must be an absolute path. */
int oci_get_abs(struct oci_ctx *x, json_object *v, const char *path, const char **out);
int oci_need_object(struct oci_ctx *x, json_object *v, const char *path);
int oci_need_array(struct oci_ctx *x, json_object *v, const char *path, const char *of);
/* V (at PATH) as an array of OF: *ITEMS is freed and replaced by room for
 * its *N elements of SIZE bytes, zeroed, with *COUNT (the elements filled)
 * 0; -EINVAL (not an array) or -ENOMEM. */
int oci_array_alloc(struct oci_ctx *x, json_object *v, const char *path, const char *of, size_t size, void **items,
                    size_t *count, size_t *n);
/* An object of strings into OUT as "KEY=VALUE" (cleared first). */
int oci_get_string_map(struct oci_ctx *x, json_object *v, const char *path, strv *out);
/* Replace *DST with a copy of S (NULL: none); -ENOMEM. */
int oci_set_string(struct oci_ctx *x, char **dst, const char *s);
/* Whether V is absent, null, or an empty object or array (what a runtime
 * that does not support a field may still accept). */
bool oci_json_empty(json_object *v);

/* One row of a table: the member KEY of an object, handled by FN with DST
 * = (char *)base + OFF, the base being the config unless oci_walk is told
 * otherwise (handlers that need no offset ignore it). */
typedef int (*oci_field_fn)(struct oci_ctx *x, json_object *v, const char *path, void *dst);

enum {
    OCI_REQUIRED = 1u << 0,   /* missing (or null): "PATH: missing (required)" */
};

struct oci_field {
    const char *key;
    oci_field_fn fn;
    size_t off;
    unsigned flags;
};

#define OCI_OFF(m) offsetof(struct oci_config, m)

/* Check that OBJ (at PATH) is an object and run the rows of TABLE on its
 * members, in table order; the rows' offsets are into BASE (NULL: the
 * config, x->cfg). */
int oci_walk(struct oci_ctx *x, json_object *obj, const char *path, const struct oci_field *table, size_t n,
             void *base);

/* Generic handlers. */
int oci_f_string(struct oci_ctx *x, json_object *v, const char *path, void *dst);   /* char ** */
int oci_f_bool(struct oci_ctx *x, json_object *v, const char *path, void *dst);     /* bool * */
int oci_f_strv(struct oci_ctx *x, json_object *v, const char *path, void *dst);     /* strv * */
int oci_f_abs(struct oci_ctx *x, json_object *v, const char *path, void *dst);      /* char **, an absolute path */
/* A string of one letter of ALLOWED into *OUT; else "'V' is not a WHAT
 * (expected EXPECTED)". */
int oci_get_letter(struct oci_ctx *x, json_object *v, const char *path, const char *allowed, const char *what,
                   const char *expected, char *out);
/* A field appbox-oci does not support: accepted when empty, else refused. */
int oci_f_refuse(struct oci_ctx *x, json_object *v, const char *path, void *dst);
/* A field that is read and ignored (documented in docs/oci.md). */
int oci_f_ignore(struct oci_ctx *x, json_object *v, const char *path, void *dst);

/* Lexically clean absolute path P (Go's path.Clean: "//" and "." dropped,
 * ".." taken against the parent, never above "/"); malloc'd. */
char *oci_clean_path(const char *p);

/* MS_PRIVATE, MS_SLAVE | MS_REC, ... of a propagation name ("rslave"),
 * from the mount options' table; 0: not one. */
unsigned long oci_propagation_flags(const char *name);

/* The sections (config_process.c, config_linux.c, config_mounts.c). */
int oci_parse_process(struct oci_ctx *x, json_object *v, const char *path);
void oci_process_reset(struct oci_config *cfg);
int oci_parse_linux(struct oci_ctx *x, json_object *v, const char *path);
int oci_parse_mounts(struct oci_ctx *x, json_object *v, const char *path);
/* After the whole document: the namespaces' CLONE_NEW* flags and network
 * mode into the spec, and what they require of id maps and names. */
int oci_check_namespaces(struct oci_ctx *x);

/* Names for features.json and `spec`. */
extern const char *const oci_cap_names[];            /* index = capability; NULL-terminated */
extern const char *const oci_mount_option_names[];   /* the options mounts accept; NULL-terminated */
extern const char *const oci_ns_names[OCI_NS_COUNT];  /* enum oci_ns order */
