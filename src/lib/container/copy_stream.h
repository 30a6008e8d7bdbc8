/* cp's stream between the helper in a container and the host side, its
 * two ends, and the tar writer of export (copy_stream.c, copy_tar.c).
 * Internal to copy.c; here for the unit tests, which feed the receiver
 * hostile streams. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "context.h"
#include "container/copy.h"
#include "util/error.h"

enum {
    FR_DIR = 'D',  /* a directory: its entries follow, then FR_END */
    FR_END = 'E',
    FR_FILE = 'F', /* a regular file: exactly `size` bytes follow */
    FR_LINK = 'L', /* a symbolic link: its target follows the name */
    FR_HARD = 'H', /* (export) a hard link: the earlier path follows the name */
    FR_WARN = 'W', /* a warning: its text in place of the name */
    FR_FAIL = 'R', /* the sender's error: its text in place of the name */
    FR_DONE = 'X', /* the end */
};
struct copy_frame {
    uint8_t type;
    uint8_t pad[3];
    uint32_t mode; /* permission bits (07777) */
    uint32_t uid, gid;
    uint32_t namelen, linklen; /* the name, then a link's target, follow */
    uint32_t mtime_ns;
    int64_t mtime;
    uint64_t size;
};

#define COPY_MAX_DEPTH 256

struct wbuf {
    int fd;
    size_t n;
    int error; /* errno of the first failed write */
    char b[65536];
};

struct rbuf {
    int fd;
    size_t pos, len;
    char b[65536];
};

/* Write all N bytes (a socket without SIGPIPE); 0 or -errno. */
int stream_put_raw(int fd, const char *p, size_t n);
/* Buffered writes; the first error sticks in W->error. */
int stream_put(struct wbuf *w, const void *p, size_t n);
int stream_flush(struct wbuf *w);
/* Exactly N bytes, or -EPIPE at the end of the stream. */
int stream_get(struct rbuf *r, void *p, size_t n);
/* A frame of TYPE (FR_WARN, FR_FAIL, FR_DONE) with MSG as its text. */
int stream_send_text(struct wbuf *w, int type, const char *msg);
/* A name a frame may carry: one component, not "." or "..". */
bool stream_name_ok(const char *n, size_t len);
/* FD's mount id (statx), or 0. */
uint64_t stream_mount_id(int fd);

struct sender {
    struct wbuf *w;
    const char *display; /* the source as the user named it, for messages */
    bool owners;         /* export: ids and hard links */
    bool one_mount;      /* export without a detached root: stay on the root's mount */
    uint64_t mnt_id;
    void *links;         /* tsearch tree of struct link_seen */
    char path[PATH_MAX]; /* below the top, for messages and hard links */
    size_t plen;
    unsigned long skipped;
    struct ab_ctx *log_here; /* the host side warns itself */
    ab_error *err;
};

/* Send the tree at the open FD (ST: its fstat) as TOP, then FR_DONE, or
 * FR_FAIL with the error. */
int stream_send_tree(struct sender *S, int fd, const struct stat *st, const char *top);

/* Receive a stream from IN: its top entry is made as NAME in DIRFD ("."
 * for DIRFD itself), everything else below it, one name at a time, never
 * through a symlink; set-id bits dropped, and the bits of MASK (on the
 * host: the caller's umask and group/other write, so that a container's
 * 0777 does not become a host directory's).  A directory that exists is
 * merged into and keeps its own mode.  Warnings go to CTX's log. */
int copy_receive(struct ab_ctx *ctx, int in, int dirfd, const char *name, const char *display, mode_t mask,
                 struct copy_stats *st, ab_error *err);

/* The last component of PATH into OUT; "" for "/", ".", "..". */
void copy_base_of(const char *path, char *out, size_t size);
/* Where DST (resolved in ROOTFD with RESOLVE_IN_ROOT, or on the host when
 * ROOTFD < 0) puts the copy of a source named SRC_BASE: into DST when it is
 * a directory, else as DST.  *PARENT: the directory (O_PATH), NAME: the
 * entry's name ("." for the directory itself), WHERE: the entry as the
 * user will know it (DISPLAY, or DISPLAY/SRC_BASE), for messages. */
int copy_resolve_dest(int rootfd, const char *display, const char *dst, const char *src_base, int *parent, char *name,
                      size_t size, char *where, size_t wsize, ab_error *err);
/* Open SRC (resolved as above, a final symlink followed) for reading: a
 * regular file or a directory only. */
int copy_open_source(int rootfd, const char *display, const char *src, int *fd, struct stat *st, ab_error *err);

/* Export: read a stream (with owners) from IN and write it to OUT as a tar
 * archive (pax); NAME is the container's, for messages. */
int copy_stream_to_tar(struct ab_ctx *ctx, const char *name, int in, int out, ab_error *err);
