#include "image/layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

int digest_to_path(const char *dir, const char *digest, char **out, ab_error *err)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64 ||
        strspn(digest + 7, "0123456789abcdef") != 64)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "'%s' is not a sha256 digest", digest ? digest : "(none)");
    if (asprintf(out, "%s/blobs/sha256/%s", dir, digest + 7) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    return 0;
}

static json_object *read_json(const char *path, ab_error *err)
{
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, 16 << 20);
    if (!text) {
        ab_fail(err, errno, "cannot read %s", path);
        return NULL;
    }
    json_object *j = json_tokener_parse(text);
    if (!j)
        ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: not valid JSON", path);
    return j;
}

static const char *str_field(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static const char *ref_name(json_object *desc)
{
    json_object *ann;
    if (!json_object_object_get_ex(desc, "annotations", &ann))
        return NULL;
    return str_field(ann, "org.opencontainers.image.ref.name");
}

static void json_putp(json_object **o)
{
    if (*o)
        json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

int oci_layers(const char *dir, const char *tag, strv *paths, ab_error *err)
{
    _cleanup_free_ char *index_path = NULL;
    if (asprintf(&index_path, "%s/index.json", dir) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    _cleanup_json_ json_object *index = read_json(index_path, err);
    if (!index)
        return -EINVAL;
    int r = 0;
    json_object *manifests, *chosen = NULL;
    if (!json_object_object_get_ex(index, "manifests", &manifests) ||
        !json_object_is_type(manifests, json_type_array) || json_object_array_length(manifests) == 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: no manifests", index_path);
    for (size_t i = 0; i < json_object_array_length(manifests) && !chosen; i++) {
        json_object *d = json_object_array_get_idx(manifests, i);
        const char *name = ref_name(d);
        if (!tag || (name && strcmp(name, tag) == 0))
            chosen = d;
    }
    if (!chosen)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: no image tagged '%s'", dir, tag);
    _cleanup_free_ char *mpath = NULL;
    if ((r = digest_to_path(dir, str_field(chosen, "digest"), &mpath, err)) < 0)
        return r;
    _cleanup_json_ json_object *manifest = read_json(mpath, err);
    if (!manifest)
        return -EINVAL;
    json_object *layers;
    if (!json_object_object_get_ex(manifest, "layers", &layers) || !json_object_is_type(layers, json_type_array))
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: not an image manifest (no layers)", mpath);
    for (size_t i = 0; i < json_object_array_length(layers) && r == 0; i++) {
        char *p = NULL;
        r = digest_to_path(dir, str_field(json_object_array_get_idx(layers, i), "digest"), &p, err);
        if (r == 0 && access(p, R_OK) < 0)
            r = ab_fail(err, errno, "cannot read the layer %s", p);
        if (r == 0)
            r = strv_push_take(paths, p) < 0 ? ab_fail(err, ENOMEM, "out of memory") : 0;
        else
            free(p);
    }
    return r;
}

static struct archive *open_outer(int fd, ab_error *err)
{
    if (lseek(fd, 0, SEEK_SET) < 0) {
        ab_fail(err, errno, "the docker archive must be a file");
        return NULL;
    }
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        ab_error_set(err, AB_ERR_RUNTIME, 0, "not a docker archive: %s", archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static void strip_dot_slash(char *s)
{
    while (s[0] == '.' && s[1] == '/')
        memmove(s, s + 2, strlen(s + 2) + 1);
}

int docker_archive_layers(int fd, const char *tag, const char *scratch, strv *paths, ab_error *err)
{
    /* First pass: manifest.json. */
    struct archive *a = open_outer(fd, err);
    if (!a)
        return -EINVAL;
    struct archive_entry *e;
    _cleanup_free_ char *text = NULL;
    int ar;
    while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        _cleanup_free_ char *name = strdup(archive_entry_pathname(e));
        strip_dot_slash(name);
        if (strcmp(name, "manifest.json") != 0)
            continue;
        la_int64_t size = archive_entry_size(e);
        if (size <= 0 || size > (16 << 20))
            break;
        text = calloc(1, (size_t)size + 1);
        if (!text || archive_read_data(a, text, (size_t)size) != size) {
            free(text);
            text = NULL;
        }
        break;
    }
    bool corrupt = ar != ARCHIVE_OK && ar != ARCHIVE_EOF;
    archive_read_free(a);
    if (corrupt)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "not a docker archive: corrupt tar");
    if (!text)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "not a docker archive: no manifest.json");
    json_object *m = json_tokener_parse(text);
    if (!m || !json_object_is_type(m, json_type_array) || json_object_array_length(m) == 0) {
        if (m)
            json_object_put(m);
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "not a docker archive: manifest.json is not a list of images");
    }
    json_object *img = NULL;
    for (size_t i = 0; i < json_object_array_length(m) && !img; i++) {
        json_object *cand = json_object_array_get_idx(m, i), *tags;
        if (!tag)
            img = cand;
        else if (json_object_object_get_ex(cand, "RepoTags", &tags) && json_object_is_type(tags, json_type_array))
            for (size_t t = 0; t < json_object_array_length(tags); t++) {
                const char *s = json_object_get_string(json_object_array_get_idx(tags, t));
                if (s && strcmp(s, tag) == 0)
                    img = cand;
            }
    }
    json_object *layers;
    int r = 0;
    if (!img)
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "the docker archive has no image tagged '%s'", tag);
    else if (!json_object_object_get_ex(img, "Layers", &layers) || !json_object_is_type(layers, json_type_array))
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "not a docker archive: an image without Layers");
    size_t n = r == 0 ? json_object_array_length(layers) : 0;
    strv names = { 0 };
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *l = json_object_get_string(json_object_array_get_idx(layers, i));
        _cleanup_free_ char *c = l ? strdup(l) : NULL;
        if (c)
            strip_dot_slash(c);
        if (!c || !unpack_path_ok(c))
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the layer name '%s'", l ? l : "(none)");
        else
            strv_push(&names, c);
        char *p;
        if (r == 0 && asprintf(&p, "%s/%zu", scratch, i) >= 0)
            strv_push_take(paths, p);
    }
    json_object_put(m);
    /* Second pass: copy each layer member out, wherever it stands. */
    unsigned long found = 0;
    if (r == 0 && (a = open_outer(fd, err)) != NULL) {
        while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
            _cleanup_free_ char *name = strdup(archive_entry_pathname(e));
            strip_dot_slash(name);
            for (size_t i = 0; i < names.n && r == 0; i++) {
                if (strcmp(names.v[i], name) != 0)
                    continue;
                int out = open(paths->v[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (out < 0 || archive_read_data_into_fd(a, out) != ARCHIVE_OK)
                    r = ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot copy the layer %s", name);
                if (out >= 0)
                    close(out);
                found++;
                break;
            }
        }
        if (r == 0 && ar != ARCHIVE_EOF)
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "corrupt docker archive: %s", archive_error_string(a));
        archive_read_free(a);
    } else if (r == 0) {
        r = -EINVAL;
    }
    if (r == 0 && found < names.n)
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "the docker archive lacks %zu of its %zu layers",
                         names.n - found, names.n);
    strv_clear(&names);
    return r;
}
