/* The container options: one table that knows what every option means.
 * `sandbox` flags, `create` flags, `run ++` overrides and (later)
 * appbox.conf keys all go through spec_option_apply(), so an option is
 * parsed and validated in exactly one place. */
#pragma once

#include <stdbool.h>

#include "spec/spec.h"
#include "util/error.h"

struct spec_option {
    const char *name;      /* long flag without "--" */
    const char *metavar;   /* NULL for a flag without value */
    const char *help;      /* one line for --help */
    int (*apply)(struct spec *s, const char *flag, const char *value, ab_error *err);
    const char *section;   /* its appbox.conf section and key */
    const char *key;
    bool repeatable;       /* may be given more than once (Bind=, ...) */
};

/* A metavar in brackets ("[a|b|c]") makes the value optional (--sound
 * alone): it is taken from "--opt=VALUE", or from the next word only when
 * that word is one of the bracket's words; apply gets NULL without one. */
static inline bool spec_option_value_optional(const struct spec_option *o)
{
    return o->metavar && o->metavar[0] == '[';
}
/* Whether WORD is one of O's metavar words ("a|b|c" or "[a|b|c]"). */
bool spec_option_value_word(const struct spec_option *o, const char *word);

/* Called for every option spec_parse_args() applied, so that a caller
 * (create) can write the same options into appbox.conf. */
typedef int (*spec_record_fn)(void *ud, const struct spec_option *opt, const char *value);

extern const struct spec_option spec_options[];

const struct spec_option *spec_option_find(const char *name);

/* Apply one option.  FLAG is how the user spelled it (for messages, e.g.
 * "--bind" or "appbox.conf:12: Bind"); VALUE is NULL for a plain flag. */
int spec_option_apply(struct spec *s, const struct spec_option *opt,
                      const char *flag, const char *value, ab_error *err);

/* Parse "[--opt [value]|--opt=value]... [--] COMMAND [ARG...]" from argv
 * (argv[0] is the first option, not the verb).  Stops at the first
 * non-option; the rest becomes s->argv.  UNKNOWN, when non-NULL, is called
 * for flags not in the table (verb-specific ones such as --help); it
 * returns 1 when it consumed a value, 0 when not, or a negative error. */
typedef int (*spec_unknown_fn)(void *ud, const char *name, const char *value, ab_error *err);
int spec_parse_args(struct spec *s, int argc, char **argv,
                    spec_unknown_fn unknown, void *ud, ab_error *err);
/* The same, also handing each applied option to RECORD; stops at the first
 * non-option without storing the rest when STOP_AT_COMMAND (returns the
 * index of the first unparsed argument). */
int spec_parse_args_full(struct spec *s, int argc, char **argv, spec_unknown_fn unknown, void *ud,
                         spec_record_fn record, void *rud, bool stop_at_command, ab_error *err);

/* Flags that are another option with a fixed value (--gui is --display
 * auto): applied, recorded and overridden as that option. */
struct spec_option_alias {
    const char *name, *target, *value, *help;
};
extern const struct spec_option_alias spec_option_aliases[];
/* The option NAME spells, with its *VALUE; NULL when NAME is no alias. */
const struct spec_option *spec_option_alias_find(const char *name, const char **value);

const struct spec_option *spec_option_by_key(const char *section, const char *key);

/* An option given in another spelling ("++network host" for run, "--env"
 * for exec): parse ARGV[*I] (NAME already split off by the caller as
 * OPT) the way the flag would be, consuming its value from "=VALUE" (EQ,
 * may be NULL) or the next word.  On success *VALUE is the value (NULL for
 * a plain flag) and *I the last word used.  FLAG names it in messages. */
int spec_option_take_value(const struct spec_option *opt, const char *flag, const char *eq, int argc, char **argv,
                           int *i, const char **value, ab_error *err);

/* Capability names: "NET_ADMIN", "cap_net_admin", "all".  Returns the
 * number, CAP_ALL for "all", or -1. */
#define CAP_ALL 64
int cap_parse_name(const char *name);

/* Split "SRC[:DST]".  A ':' may be escaped as "\:" in SRC or DST. */
int split_src_dst(const char *arg, char **src, char **dst);
