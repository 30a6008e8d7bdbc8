/* The spec as JSON: how a resolved spec is kept in the runtime directory
 * for the sessions that join later (they load it; they never parse
 * appbox.conf or resolve again), and what `show --json` of a running
 * container reads.  Fields are read and written through one table
 * (spec_json.c), the shape of OCI's config.json where the two overlap. */
#pragma once

#include "spec/spec.h"
#include "util/error.h"

/* malloc'd JSON text, or NULL (out of memory). */
char *spec_to_json(const struct spec *s);
/* Fill OUT (spec_init()ed here) from TEXT; WHERE names the file in errors. */
int spec_from_json(const char *text, const char *where, struct spec *out, ab_error *err);
