/* User and group id maps of the container's user namespace.
 *
 *  - root caller: ids 0-65535 inside map to an unprivileged host range
 *    (root's /etc/subuid entry, or IDMAP_ROOT_DEFAULT_BASE), so container
 *    root is never host root;
 *  - ordinary caller with a subordinate range: 65536 ids, the caller's own
 *    id kept as itself, the rest from the range (written by newuidmap);
 *  - ordinary caller without one: a single id (the target id -> caller). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/error.h"

#define IDMAP_SIZE 65536u
#define IDMAP_ROOT_DEFAULT_BASE 1000000000u

/* Find NAME's (or ID's) range in a subordinate-id file (/etc/subuid
 * format "name-or-id:start:count"); the first matching line wins.
 * Returns 0 and fills start/count, -ENOENT when absent, other -errno. */
int subid_lookup(const char *file, const char *name, uint32_t id,
                 uint32_t *start, uint32_t *count);
/* Same, from a buffer (for tests). */
int subid_lookup_text(const char *text, const char *name, uint32_t id,
                      uint32_t *start, uint32_t *count);

/* Build a map keeping SELF as itself and filling ids 0..IDMAP_SIZE-1 around
 * it from [sub_start, sub_start+sub_count). */
int idmap_build_ranged(struct spec_idmap *m, uint32_t self, uint32_t sub_start, uint32_t sub_count);
/* Build the single-id map INSIDE -> SELF. */
void idmap_build_single(struct spec_idmap *m, uint32_t inside, uint32_t self);
/* Build a map of 0..count-1 onto [base, base+count). */
void idmap_build_shifted(struct spec_idmap *m, uint32_t base, uint32_t count);

bool idmap_contains(const struct spec_idmap *m, uint32_t inside);
/* The host id of INSIDE, or (uint32_t)-1 when unmapped. */
uint32_t idmap_outside(const struct spec_idmap *m, uint32_t inside);
/* "inside outside count\n" lines, as /proc/PID/uid_map wants them. */
int idmap_format(const struct spec_idmap *m, char *buf, size_t size);

/* Choose the uid and gid maps for this caller (see above). */
int idmap_choose(struct spec_idmap *uids, struct spec_idmap *gids, uid_t caller_uid, gid_t caller_gid,
                 const char *caller_name, uid_t target_uid, gid_t target_gid, ab_error *err);

/* Write both maps for process PID (called by its parent). */
int idmap_write(pid_t pid, const struct spec_idmap *uids, const struct spec_idmap *gids, ab_error *err);

/* The pipeline module that writes the maps of the resolved spec. */
extern const struct module idmap_module;
