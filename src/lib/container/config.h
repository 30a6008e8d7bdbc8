/* appbox.conf: a container's description, INI in the spirit of
 * systemd.nspawn(5).  The file is kept as an ordered list of entries so it
 * can be edited key by key and written back; every entry is validated by
 * the same option table that parses the command line (options.c). */
#pragma once

#include <stdbool.h>

#include "spec/spec.h"
#include "util/error.h"
#include "util/strv.h"

struct conf_entry {
    char *section;
    char *key;
    char *value;
    int line;       /* 0 for entries not read from a file; CONF_LINE_OVERRIDE for run/start ++OPTION */
};

/* An entry given as "++OPTION" on the command line (messages name it so). */
#define CONF_LINE_OVERRIDE (-1)

struct conf {
    struct conf_entry *e;
    size_t n;
};

/* The result of loading: the spec, plus the keys only a named container
 * has. */
struct container_conf {
    struct spec spec;
    char *base;     /* Base=: "host", "dir:PATH" */
    char *run;      /* Run=: the command line, split by conf_split_command() */
};

void conf_free(struct conf *c);
int conf_add(struct conf *c, const char *section, const char *key, const char *value, int line);
/* Remove every entry for SECTION.KEY; returns how many were removed. */
size_t conf_remove(struct conf *c, const char *section, const char *key);

/* The largest appbox.conf read, and the most settings in it: reading is
 * linear, but a setting may be checked against the earlier ones of its
 * kind (a later Environment= replaces one of the same name). */
#define CONF_MAX_SIZE (1 << 20)
#define CONF_MAX_ENTRIES 10000

/* Read PATH into entries (syntax only; unknown sections refused).  Lines
 * have no length limit. */
int conf_read(const char *path, struct conf *c, ab_error *err);
/* The same for LEN bytes of TEXT (PATH names it in messages). */
int conf_parse_text(const char *text, size_t len, const char *path, struct conf *c, ab_error *err);
/* Whether C, written by conf_write(), reads back as exactly C: no value
 * with a line break or blanks at its ends.  A usage error otherwise. */
int conf_check_roundtrip(const struct conf *c, ab_error *err);
/* Validate entries and fill CC (whose spec is spec_init()ed here); PATH
 * names the file in messages. */
int conf_to_container(const struct conf *c, const char *path, struct container_conf *cc, ab_error *err);
/* Both. */
int conf_load(const char *path, struct conf *c, struct container_conf *cc, ab_error *err);
/* Write entries atomically (temp file + rename), grouped by section in
 * the canonical order, with a header comment.  The temporary file is read
 * back and must hold exactly C and be valid as read (conf_to_container());
 * otherwise it is removed and PATH left as it was. */
int conf_write(const char *path, const struct conf *c, const char *header, ab_error *err);

void container_conf_free(struct container_conf *cc);

/* The comment appbox writes at the top of NAME's appbox.conf (malloc'd). */
char *conf_header(const char *name);

/* Split a Run= line into words: whitespace separates, '...' and "..."
 * quote, backslash escapes.  Returns -EINVAL on an unterminated quote. */
int conf_split_command(const char *line, strv *out);

/* Is SECTION.KEY a known key?  (Options' keys plus Container.Base/Run.) */
bool conf_key_known(const char *section, const char *key, bool *repeatable);
