/* config.json (OCI runtime-spec 1.1) into struct oci_config: the top
 * level, root, hooks and annotations here; process, linux and mounts in
 * config_process.c, config_linux.c and config_mounts.c. */
#include "oci/config.h"
#include "oci/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/config_internal.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* A config.json with the default seccomp profile is ~30 KiB; this leaves
 * room for any real one and keeps a mistaken path from filling memory. */
#define CONFIG_MAX (16u << 20)

static int f_oci_version(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    if (strncmp(s, "1.", 2) != 0)
        return oci_bad(x, path, "'%s' is not supported (expected 1.x, runtime-spec 1.0 to 1.1)", s);
    return oci_set_string(x, dst, s);
}

static int f_root_path(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    if (!*s)
        return oci_bad(x, path, "empty (expected the root file system's directory, relative to the bundle "
                       "or absolute)");
    if (s[0] == '/')
        return oci_set_string(x, dst, s);
    /* relative to the bundle; the runtime resolves it (symlinks and all) */
    char *abs;
    if (asprintf(&abs, "%s/%s", x->bundle, s) < 0)
        return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    free(*(char **)dst);
    *(char **)dst = abs;
    return 0;
}

static int f_root_readonly(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    bool ro = false;
    int r = oci_get_bool(x, v, path, &ro);
    x->cfg->spec.container.writable = !ro;
    return r;
}

static const struct oci_field root_fields[] = {
    { "path", f_root_path, OCI_OFF(spec.container.root), OCI_REQUIRED },
    { "readonly", f_root_readonly, 0, 0 },
};

static int f_root(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    x->cfg->spec.container.writable = true;
    return oci_walk(x, v, path, root_fields, ARRAY_SIZE(root_fields), NULL);
}

/* hostname, domainname: "" is none, as runc reads it */
static int f_name(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    return r < 0 ? r : oci_set_string(x, dst, *s ? s : NULL);
}

static int f_process(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_parse_process(x, v, path);
}

static int f_mounts(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_parse_mounts(x, v, path);
}

static int f_linux(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_parse_linux(x, v, path);
}

/* hooks */
static int f_hook_timeout(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int64_t n = 0;
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) <= 0)
        return oci_bad(x, path, "%s is not a timeout (expected a number of seconds above 0)",
                       json_object_get_string(v));
    int r = oci_get_i64(x, v, path, 1, INT_MAX, &n);
    *(int *)dst = (int)n;
    return r;
}

static const struct oci_field hook_fields[] = {
    { "path", oci_f_abs, offsetof(struct oci_hook, path), OCI_REQUIRED },
    { "args", oci_f_strv, offsetof(struct oci_hook, args), 0 },
    { "env", oci_f_strv, offsetof(struct oci_hook, env), 0 },
    { "timeout", f_hook_timeout, offsetof(struct oci_hook, timeout), 0 },
};


static int f_hooks(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct oci_hooks *hooks = &x->cfg->hooks;
    int r = oci_need_object(x, v, path);
    for (int s = 0; r == 0 && s < OCI_HOOK_STAGES; s++) {
        char p[OCI_PATH_MAX];
        json_object *list = json_object_object_get(v, oci_hook_stage_name(s));
        oci_path_key(p, path, oci_hook_stage_name(s));
        if (!list)
            continue;
        size_t n;
        if ((r = oci_array_alloc(x, list, p, "objects", sizeof(struct oci_hook), (void **)&hooks->h[s], &hooks->n[s],
                                 &n)) < 0)
            return r;
        for (size_t i = 0; i < n; i++) {
            char pi[OCI_PATH_MAX];
            hooks->n[s]++;   /* counted first: a half-filled hook is freed with the rest */
            r = oci_walk(x, json_object_array_get_idx(list, i), oci_path_index(pi, p, i), hook_fields,
                         ARRAY_SIZE(hook_fields), &hooks->h[s][i]);
            if (r < 0)
                return r;
        }
    }
    return r;
}

static int f_annotations(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int r = oci_need_object(x, v, path);
    if (r < 0)
        return r;
    json_object_object_foreach(v, key, val)
    {
        char p[OCI_PATH_MAX];
        const char *s;
        oci_path_key(p, path, key);
        if (!val)
            return oci_type(x, p, "a string");
        if ((r = oci_get_string(x, val, p, &s)) < 0)
            return r;
    }
    x->cfg->annotations = v;   /* borrowed from the document */
    return 0;
}

static const struct oci_field top_fields[] = {
    { "ociVersion", f_oci_version, OCI_OFF(oci_version), OCI_REQUIRED },
    { "root", f_root, 0, OCI_REQUIRED },
    /* runtime-spec makes process optional until start; appbox-oci's create
     * starts the process, so it is needed at create, as in runc */
    { "process", f_process, 0, OCI_REQUIRED },
    { "hostname", f_name, OCI_OFF(spec.container.hostname), 0 },
    { "domainname", f_name, OCI_OFF(oci.domainname), 0 },
    { "mounts", f_mounts, 0, 0 },
    { "hooks", f_hooks, 0, 0 },
    { "annotations", f_annotations, 0, 0 },
    { "linux", f_linux, 0, 0 },
    /* other platforms' sections */
    { "solaris", oci_f_ignore, 0, 0 },
    { "windows", oci_f_ignore, 0, 0 },
    { "vm", oci_f_ignore, 0, 0 },
    { "zos", oci_f_ignore, 0, 0 },
};

/* TEXT as one JSON object; a syntax error names WHAT, the place and
 * json-c's reason. */
static json_object *parse_json(const char *text, const char *what, ab_error *err)
{
    size_t len = strlen(text);
    if (len > INT_MAX) {
        ab_error_set(err, AB_ERR_USAGE, 0, "%s: too large (%zu bytes)", what, len);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        ab_fail(err, ENOMEM, "%s", what);
        return NULL;
    }
    json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    const char *reason = NULL;
    if (je == json_tokener_continue)
        reason = "the text ends inside a value";
    else if (je != json_tokener_success)
        reason = json_tokener_error_desc(je);
    else if ((off += strspn(text + off, " \t\r\n")) != len)
        reason = "more text after the JSON value";   /* OFF: where it starts */
    if (reason) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        json_object_put(doc);
        ab_error_set(err, AB_ERR_USAGE, 0, "%s: invalid JSON at line %zu, column %zu: %s", what, line, col, reason);
        return NULL;
    }
    if (!json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        ab_error_set(err, AB_ERR_USAGE, 0, "%s: expected a JSON object", what);
        return NULL;
    }
    return doc;
}

/* BUNDLE made absolute against the working directory (lexically, as runc's
 * filepath.Abs; symlinks are the runtime's to resolve). */
static char *absolute_bundle(const char *bundle)
{
    if (!bundle || !*bundle)
        bundle = ".";
    if (bundle[0] == '/')
        return oci_clean_path(bundle);
    _cleanup_free_ char *cwd = getcwd(NULL, 0);
    _cleanup_free_ char *joined = NULL;
    if (!cwd || asprintf(&joined, "%s/%s", cwd, bundle) < 0)
        return NULL;
    return oci_clean_path(joined);
}

static void config_init(struct oci_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    spec_init(&cfg->spec);
    cfg->spec.oci = &cfg->oci;
    /* config.json's lists, not appbox's defaults: nothing is masked or
     * read-only that maskedPaths and readonlyPaths do not name */
    strv_clear(&cfg->spec.container.masked_paths);
    strv_clear(&cfg->spec.container.readonly_paths);
    /* no pids limit unless linux.resources.pids asks (runc's default) */
    cfg->spec.container.pids_limit = 0;
    cfg->spec.container.net = NET_HOST;
    cfg->spec.process.seccomp = false;
    cfg->spec.process.uid_set = true;
    cfg->oci.resources.memory_swappiness = -1;
}

int oci_config_parse(const char *text, const char *what, const char *bundle, const char *id,
                     struct oci_config *cfg, ab_error *err)
{
    config_init(cfg);
    if (!(cfg->oci.bundle = absolute_bundle(bundle)) || (id && !(cfg->oci.id = strdup(id))))
        return ab_fail(err, errno ? errno : ENOMEM, "cannot make the bundle path %s absolute", bundle);
    if (!(cfg->doc = parse_json(text, what, err)))
        return -EINVAL;
    struct oci_ctx x = { .cfg = cfg, .what = what, .bundle = cfg->oci.bundle, .err = err };
    int r = oci_walk(&x, cfg->doc, "", top_fields, ARRAY_SIZE(top_fields), NULL);
    if (r < 0)
        return r;
    if ((r = oci_check_namespaces(&x)) < 0)
        return r;
    /* Without linux.seccomp, appbox's own filter (runc and crun load
     * none); the annotation "org.appbox.seccomp": "unconfined" asks for
     * runc's behaviour, anything else there is an error. */
    cfg->oci.seccomp_default = !cfg->oci.seccomp_given;
    /* what the caller asked for where it passes no filter: podman's
     * --security-opt seccomp=unconfined and --privileged say so in
     * annotations; a process whose bounding set keeps CAP_SYS_ADMIN is a
     * privileged container whatever the engine (Kubernetes' privileged
     * pods), which the filter would break */
    static const char *const unconfined[][2] = { { "io.podman.annotations.seccomp", "unconfined" },
                                                 { "io.podman.annotations.privileged", "TRUE" } };
    for (size_t i = 0; cfg->annotations && i < ARRAY_SIZE(unconfined); i++) {
        json_object *v = NULL;
        if (json_object_object_get_ex(cfg->annotations, unconfined[i][0], &v) &&
            strcmp(json_object_get_string(v), unconfined[i][1]) == 0)
            cfg->oci.seccomp_default = false;
    }
    if (cfg->oci.cap_bounding & (1ULL << 21 /* CAP_SYS_ADMIN */))
        cfg->oci.seccomp_default = false;
    json_object *mode = NULL;
    if (cfg->annotations && json_object_object_get_ex(cfg->annotations, OCI_SECCOMP_ANNOTATION, &mode)) {
        const char *m = json_object_get_string(mode);
        if (strcmp(m, "unconfined") == 0)
            cfg->oci.seccomp_default = false;
        else if (strcmp(m, "default") != 0)
            return ab_usage(err, "%s: annotations.%s: '%s' is not a seccomp mode (expected default or unconfined)",
                            what, OCI_SECCOMP_ANNOTATION, m);
    }
    return 0;
}

int oci_config_load(const char *bundle, const char *id, struct oci_config *cfg, ab_error *err)
{
    _cleanup_free_ char *abs = absolute_bundle(bundle);
    _cleanup_free_ char *path = NULL;
    if (!abs || asprintf(&path, "%s/config.json", abs) < 0) {
        config_init(cfg);
        return ab_fail(err, errno ? errno : ENOMEM, "cannot make the bundle path %s absolute", bundle);
    }
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, CONFIG_MAX);
    if (!text) {
        int e = errno;
        config_init(cfg);   /* oci_config_free works on it */
        if (e == EFBIG)
            return ab_error_set(err, AB_ERR_USAGE, 0, "%s: larger than %u MiB", path, CONFIG_MAX >> 20);
        return ab_error_set(err, AB_ERR_USAGE, e, "cannot read %s", path);
    }
    return oci_config_parse(text, "config.json", abs, id, cfg, err);
}

int oci_process_parse(const char *text, const char *what, struct oci_config *cfg, ab_error *err)
{
    json_object *doc = parse_json(text, what, err);
    if (!doc)
        return -EINVAL;
    struct oci_ctx x = { .cfg = cfg, .what = what, .bundle = cfg->oci.bundle, .err = err };
    int r = oci_parse_process(&x, doc, "");
    json_object_put(doc);   /* everything taken was copied */
    return r;
}

static void hook_free(struct oci_hook *h)
{
    free(h->path);
    strv_clear(&h->args);
    strv_clear(&h->env);
}

void oci_config_free(struct oci_config *cfg)
{
    cfg->spec.oci = NULL;
    spec_free(&cfg->spec);
    spec_oci_free(&cfg->oci);
    for (int s = 0; s < OCI_HOOK_STAGES; s++) {
        for (size_t i = 0; i < cfg->hooks.n[s]; i++)
            hook_free(&cfg->hooks.h[s][i]);
        free(cfg->hooks.h[s]);
    }
    free(cfg->oci_version);
    json_object_put(cfg->doc);
    memset(cfg, 0, sizeof(*cfg));
}
