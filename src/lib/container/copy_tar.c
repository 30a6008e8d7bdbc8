/* export's tar writer: cp's stream (with owners and hard links) as a POSIX
 * pax archive, which appbox-unpack (libarchive) reads back for create
 * --base tar:.  appbox itself does not link libarchive: the few header
 * fields are written here. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/copy_stream.h"

/* Export: the frames as a tar archive (POSIX pax: ustar headers, an
 * extended header where a name or link is too long for them). */
struct tar {
    struct wbuf *w;
    char path[PATH_MAX * 2];
    size_t plen;
    size_t lens[COPY_MAX_DEPTH + 1];
    bool started;
};

static void tar_num(char *dst, size_t n, uint64_t v)
{
    if (v < (1ULL << (3 * (n - 1)))) {
        snprintf(dst, n, "%0*llo", (int)(n - 1), (unsigned long long)v);
        return;
    }
    /* base-256, for sizes of 8 GiB and more */
    memset(dst, 0, n);
    for (size_t i = n - 1; i > 0 && v; i--, v >>= 8)
        dst[i] = (char)(v & 0xff);
    dst[0] = (char)0x80;
}

static int tar_header(struct tar *T, char type, const char *path, const char *link, const struct copy_frame *f,
                      uint64_t size)
{
    unsigned char h[512] = { 0 };
    snprintf((char *)h, 100, "%s", path);
    tar_num((char *)h + 100, 8, f ? f->mode : 0644);
    tar_num((char *)h + 108, 8, f ? f->uid : 0);
    tar_num((char *)h + 116, 8, f ? f->gid : 0);
    tar_num((char *)h + 124, 12, size);
    tar_num((char *)h + 136, 12, f && f->mtime > 0 ? (uint64_t)f->mtime : 0);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    if (link)
        strncpy((char *)h + 157, link, 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return stream_put(T->w, h, sizeof(h));
}

static int tar_pad(struct tar *T, uint64_t size)
{
    static const char zero[512];
    size_t pad = (size_t)((512 - size % 512) % 512);
    return pad ? stream_put(T->w, zero, pad) : 0;
}

static int pax_record(char *out, size_t size, const char *key, const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1; /* " key=value\n" */
    size_t len = body + 1;
    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    return snprintf(out, size, "%zu %s=%s\n", len, key, value);
}

static int tar_entry(struct tar *T, char type, const char *path, const char *link, const struct copy_frame *f,
                     uint64_t size)
{
    if (strlen(path) >= 100 || (link && strlen(link) >= 100)) {
        char ext[PATH_MAX * 3 + 64];
        int n = pax_record(ext, sizeof(ext), "path", path);
        if (link)
            n += pax_record(ext + n, sizeof(ext) - (size_t)n, "linkpath", link);
        if (tar_header(T, 'x', "././@PaxHeader", NULL, NULL, (uint64_t)n) < 0 || stream_put(T->w, ext, (size_t)n) < 0 ||
            tar_pad(T, (uint64_t)n) < 0)
            return -T->w->error;
    }
    return tar_header(T, type, path, link, f, size);
}

static int tar_receive(struct ab_ctx *ctx, const char *cname, struct rbuf *rb, struct tar *T, ab_error *err)
{
    int depth = 0, r;
    char name[NAME_MAX + 1], link[PATH_MAX];
    for (;;) {
        struct copy_frame f;
        if ((r = stream_get(rb, &f, sizeof(f))) < 0)
            return ab_fail(err, r == -EPIPE ? 0 : -r, "%s: the export was cut short (the helper stopped)",
                           cname);
        bool text = f.type == FR_WARN || f.type == FR_FAIL;
        char msg[sizeof(err->msg)];
        char *np = text ? msg : name;
        if (f.namelen > (text ? sizeof(msg) - 1 : NAME_MAX) || f.linklen >= sizeof(link) ||
            (f.namelen && stream_get(rb, np, f.namelen) < 0) || (f.linklen && stream_get(rb, link, f.linklen) < 0))
            return ab_fail(err, 0, "%s: a bad frame in the export stream", cname);
        np[f.namelen] = '\0';
        link[f.linklen] = '\0';
        if (f.type == FR_DONE)
            return depth == 0 ? 0 : ab_fail(err, 0, "%s: the export stream ended early", cname);
        if (f.type == FR_FAIL)
            return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s", msg);
        if (f.type == FR_WARN) {
            ab_log(ctx, AB_LOG_WARNING, "%s", msg);
            continue;
        }
        if (f.type == FR_END) {
            if (depth == 0)
                return ab_fail(err, 0, "%s: a bad frame in the export stream", cname);
            T->plen = T->lens[--depth];
            T->path[T->plen] = '\0';
            continue;
        }
        /* the first frame is the root itself: no entry of its own */
        bool top = !T->started;
        if (top && f.type != FR_DIR)
            return ab_fail(err, 0, "%s: a bad frame in the export stream", cname);
        if (!top && (depth == 0 || !stream_name_ok(name, f.namelen)))
            return ab_fail(err, 0, "%s: a bad name in the export stream", cname);
        size_t old = T->plen;
        if (!top) {
            if (T->plen + f.namelen + 2 >= sizeof(T->path))
                return ab_fail(err, ENAMETOOLONG, "%s: /%s/%s", cname, T->path, name);
            T->plen += (size_t)snprintf(T->path + T->plen, sizeof(T->path) - T->plen, "%s%s", old ? "/" : "", name);
        }
        r = 0;
        if (f.type == FR_DIR) {
            if (depth == COPY_MAX_DEPTH)
                return ab_fail(err, 0, "%s: /%s: too deep (more than 256 levels)", cname, T->path);
            if (!top) {
                char dirpath[sizeof(T->path) + 1];
                snprintf(dirpath, sizeof(dirpath), "%s/", T->path);
                r = tar_entry(T, '5', dirpath, NULL, &f, 0);
            }
            T->lens[depth++] = old;
            T->started = true;
            if (r < 0)
                break;
            continue;
        }
        if (f.type == FR_FILE) {
            r = tar_entry(T, '0', T->path, NULL, &f, f.size);
            char buf[65536];
            for (uint64_t left = f.size; r == 0 && left > 0;) {
                size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
                if (stream_get(rb, buf, want) < 0)
                    return ab_fail(err, 0, "%s: the export was cut short", cname);
                r = stream_put(T->w, buf, want);
                left -= want;
            }
            if (r == 0)
                r = tar_pad(T, f.size);
        } else if (f.type == FR_LINK) {
            r = tar_entry(T, '2', T->path, link, &f, 0);
        } else if (f.type == FR_HARD) {
            r = tar_entry(T, '1', T->path, link, &f, 0);
        } else {
            return ab_fail(err, 0, "%s: a bad frame in the export stream", cname);
        }
        if (r < 0)
            break;
        T->plen = old;
        T->path[old] = '\0';
    }
    return ab_fail(err, T->w->error, "cannot write the archive");
}

int copy_stream_to_tar(struct ab_ctx *ctx, const char *name, int in, int out, ab_error *err)
{
    struct rbuf *rb = calloc(1, sizeof(*rb));
    struct wbuf *w = calloc(1, sizeof(*w));
    struct tar *T = calloc(1, sizeof(*T));
    int r;
    if (!rb || !w || !T) {
        r = ab_fail(err, ENOMEM, "out of memory");
    } else {
        rb->fd = in;
        w->fd = out;
        T->w = w;
        r = tar_receive(ctx, name, rb, T, err);
        /* the end of the archive: two zero blocks */
        static const char end[1024];
        if (r == 0 && (stream_put(w, end, sizeof(end)) < 0 || stream_flush(w) < 0))
            r = ab_fail(err, w->error, "cannot write the archive");
    }
    free(rb);
    free(w);
    free(T);
    return r;
}
