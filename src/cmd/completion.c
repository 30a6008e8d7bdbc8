/* completion: shell completion for bash, zsh and fish.
 *
 * The scripts are thin: on every TAB they ask `appbox __complete WORD...
 * CURRENT` what may come next, and appbox answers from the verb table
 * (main.c), the option registry (spec/options.c) and the store.  So the
 * completion of a verb, an option or a ++OPTION cannot drift from what
 * appbox takes, and a container made a second ago is offered at once. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/store.h"
#include "image/bootstrap.h"
#include "spec/options.h"
#include "util/cleanup.h"
#include "util/strv.h"

/* Verbs with sub-verbs: their words, as the verb table's fields. */
struct subverb {
    const char *verb, *name, *options, *operands;
};
static const struct subverb subverbs[] = {
    { "image", "list", "--json --names", NULL },
    { "image", "rm", "", "@image" },
    { "image", "pull", "--variant= --mirror= --verbose", NULL },
    { "launcher", "install", "--as= --launcher-replaces", "@container" },
    { "launcher", "remove", "", "@container" },
    { NULL, NULL, NULL, NULL },
};

/* What is being completed, and the candidates so far. */
struct answer {
    const char *cur;
    bool any; /* "words" was printed */
};

static void offer(struct answer *a, const char *word, size_t len)
{
    size_t cl = strlen(a->cur);
    if (len < cl || strncmp(word, a->cur, cl) != 0)
        return;
    if (!a->any)
        printf("words\n");
    a->any = true;
    printf("%.*s\n", (int)len, word);
}

/* Every word of a blank-separated list ("--as=" offered as "--as"). */
static void offer_list(struct answer *a, const char *list)
{
    for (const char *p = list ? list : ""; *p;) {
        size_t n = strcspn(p, " ");
        offer(a, p, n && p[n - 1] == '=' ? n - 1 : n);
        p += n;
        p += strspn(p, " ");
    }
}

static void offer_registry(struct answer *a, const char *prefix)
{
    for (const struct spec_option *o = spec_options; o->name; o++) {
        char w[72];
        int n = snprintf(w, sizeof(w), "%s%s", prefix, o->name);
        offer(a, w, (size_t)n);
    }
    for (const struct spec_option_alias *o = spec_option_aliases; o->name; o++) {
        char w[72];
        int n = snprintf(w, sizeof(w), "%s%s", prefix, o->name);
        offer(a, w, (size_t)n);
    }
}

static void offer_names(struct answer *a, struct ab_ctx *ctx, bool images)
{
    strv names = { 0 };
    ab_error err = { 0 };
    if ((images ? image_cache_list(ctx, &names, &err) : store_list(ctx, &names, &err)) == 0)
        for (size_t i = 0; i < names.n; i++)
            offer(a, names.v[i], strlen(names.v[i]));
    strv_clear(&names);
}

static bool in_list(const char *list, const char *word, bool *value)
{
    size_t wl = strlen(word);
    for (const char *p = list ? list : ""; *p;) {
        size_t n = strcspn(p, " ");
        size_t bare = n && p[n - 1] == '=' ? n - 1 : n;
        if (bare == wl && strncmp(p, word, wl) == 0) {
            *value = bare != n;
            return true;
        }
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* Whether WORD is an option of this verb, and whether it takes a value;
 * the registry's (by its spelling, -- or ++) or the verb's own. */
static bool is_option(const char *word, const char *own, enum cmd_spec_opts spec, bool *value,
                      const struct spec_option **reg)
{
    *reg = NULL;
    if (in_list(own, word, value))
        return true;
    const char *prefix = spec == CMD_SPEC_DASH ? "--" : spec == CMD_SPEC_PLUS ? "++" : NULL;
    if (prefix && strncmp(word, prefix, 2) == 0 && (*reg = spec_option_find(word + 2))) {
        *value = (*reg)->metavar != NULL;
        return true;
    }
    *value = false;
    return word[0] == '-' || (spec == CMD_SPEC_PLUS && word[0] == '+' && word[1] == '+');
}

/* Options whose metavar is one word (MODE) but whose values are a list. */
static const struct {
    const char *option, *words;
} value_words[] = {
    { "network", "none|host|nat|nat:|macvlan|macvlan:|proxy|off|on|separate" },
    { "display", "x11|x11-trusted|wayland|private|auto|none" },
};

/* The words a metavar such as "on|off" allows; false when it names none. */
static bool offer_metavar(struct answer *a, const struct spec_option *o)
{
    const char *words = o ? o->metavar : NULL;
    for (size_t i = 0; o && i < sizeof(value_words) / sizeof(value_words[0]); i++)
        if (strcmp(o->name, value_words[i].option) == 0)
            words = value_words[i].words;
    if (!words || !strchr(words, '|'))
        return false;
    if (words != o->metavar) {
        for (const char *p = words; *p;) {
            size_t n = strcspn(p, "|");
            offer(a, p, n);
            p += n + (p[n] == '|');
        }
        return true;
    }
    /* "[a|b]": an optional value offers the same words */
    for (const char *p = o->metavar + (o->metavar[0] == '['); *p && *p != ']';) {
        size_t n = strcspn(p, "|]");
        offer(a, p, n);
        p += n + (p[n] == '|');
    }
    return true;
}

static void offer_verbs(struct answer *a)
{
    for (const struct cmd_verb *v = cmd_verbs; v->name; v++)
        if (v->name[0] != '_') /* __complete is the scripts' */
            offer(a, v->name, strlen(v->name));
}

static int complete(struct ab_ctx *ctx, int n, char **words, const char *cur)
{
    struct answer a = { .cur = cur };
    if (n == 0) {
        offer_verbs(&a);
        offer_list(&a, "--help --version");
        return 0;
    }
    const struct cmd_verb *v = cmd_verb_find(words[0]);
    if (!v)
        return 0;
    const struct cmd_verb_args *va = cmd_verb_args_find(v->name);
    const char *own = va ? va->options : NULL, *operands = va ? va->operands : NULL;
    enum cmd_spec_opts spec = va ? va->spec : CMD_SPEC_NONE;
    int start = 1;
    bool has_sub = false;
    for (const struct subverb *s = subverbs; s->verb; s++)
        if (strcmp(s->verb, v->name) == 0) {
            has_sub = true;
            if (n >= 2 && strcmp(s->name, words[1]) == 0) {
                own = s->options;
                operands = s->operands;
                start = 2;
            }
        }
    if (has_sub && n == 1) {
        for (const struct subverb *s = subverbs; s->verb; s++)
            if (strcmp(s->verb, v->name) == 0)
                offer(&a, s->name, strlen(s->name));
        offer_list(&a, "--help");
        return 0;
    }
    if (has_sub && start == 1)
        return 0; /* an unknown sub-verb */
    bool run_like = spec == CMD_SPEC_PLUS;
    bool command_verb = operands && strcmp(operands, "@command") == 0;
    bool exec_like = strcmp(v->name, "exec") == 0; /* options, the name, then a command */

    /* Walk what is typed: options (and their values) and the other words. */
    int given = 0;          /* the other words (names, the command and its arguments) */
    bool ended = false;     /* "--" or ++cmd: no more options */
    int cmd_at = -1;        /* where a command starts (sandbox, exec, run ++cmd) */
    const struct spec_option *pending = NULL;
    bool value_next = false;
    for (int i = start; i < n; i++) {
        const char *w = words[i];
        if (value_next) {
            value_next = false;
            continue;
        }
        if (!ended && strcmp(w, "--") == 0) {
            ended = true;
            if ((command_verb && given == 0) || (exec_like && given == 1))
                cmd_at = i + 1;
            continue;
        }
        /* run's ++options follow the name; exec's and sandbox's options end at the first word */
        bool opts_here = !ended && !((command_verb && given > 0) || (exec_like && given > 0) ||
                                     (run_like && given > 1));
        bool value;
        const struct spec_option *reg;
        if (opts_here && (w[0] == '-' || (run_like && w[0] == '+' && w[1] == '+')) &&
            is_option(w, own, spec, &value, &reg)) {
            if (run_like && strcmp(w, "++cmd") == 0) {
                ended = true;
                cmd_at = i + 1;
                continue;
            }
            if (value && !strchr(w, '=')) {
                value_next = true;
                pending = reg;
            }
            continue;
        }
        if ((command_verb && given == 0) || (exec_like && given == 1))
            cmd_at = i;
        given++;
    }

    if (value_next) {
        /* the value of an option: the words it allows, or a path */
        if (!offer_metavar(&a, pending))
            printf("files\n");
        return 0;
    }
    /* a command (sandbox, exec NAME, run NAME ++cmd), then its arguments */
    bool at_cmd = (run_like && ended && cmd_at == n) || (command_verb && given == 0 && (ended || cur[0] != '-')) ||
                  (exec_like && given == 1 && (ended || cur[0] != '-'));
    bool in_args = (cmd_at >= 0 && cmd_at < n) || (run_like && ended) || (command_verb && given >= 1) ||
                   (exec_like && given >= 2) || (run_like && given >= 2);
    if (at_cmd || in_args) {
        printf("%s\n", at_cmd ? "commands" : "files");
        return 0;
    }
    if (cur[0] == '-' || (run_like && given == 1 && (cur[0] == '+' || !cur[0]))) {
        if (!(run_like && given == 1))
            offer_list(&a, "--help");
        if (!(run_like && given == 0))
            offer_list(&a, own);
        if (spec == CMD_SPEC_DASH)
            offer_registry(&a, "--");
        else if (run_like && given == 1)
            offer_registry(&a, "++");
        if (a.any || cur[0])
            return 0;
    }
    if (!operands)
        return 0; /* create NAME: a new name; then only options */
    bool many = strcmp(operands, "@containers") == 0;
    if (strcmp(operands, "@container") == 0 || many) {
        if (given == 0 || many)
            offer_names(&a, ctx, false);
        else if (run_like)
            printf("files\n"); /* the app's arguments */
        return 0;
    }
    if (strcmp(operands, "@copy") == 0) {
        /* cp: NAME: of a container whose name starts so, else a host file */
        if (!strchr(cur, ':')) {
            strv names = { 0 };
            ab_error err = { 0 };
            if (store_list(ctx, &names, &err) == 0)
                for (size_t i = 0; i < names.n; i++) {
                    _cleanup_free_ char *w = NULL;
                    if (asprintf(&w, "%s:", names.v[i]) > 0)
                        offer(&a, w, strlen(w));
                }
            strv_clear(&names);
        }
        if (!a.any)
            printf("files\n");
        return 0;
    }
    if (strcmp(operands, "@container-file") == 0) {
        /* export NAME FILE */
        if (given == 0)
            offer_names(&a, ctx, false);
        else
            printf("files\n");
        return 0;
    }
    if (given > 0)
        return 0;
    if (strcmp(operands, "@image") == 0)
        offer_names(&a, ctx, true);
    else if (strcmp(operands, "@verbs") == 0)
        offer_verbs(&a);
    else if (operands[0] != '@')
        offer_list(&a, operands);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The scripts: each hands the words to `appbox __complete` and turns
 * the answer ("words" and the candidates, "files" or "commands") into
 * its shell's completions. */

static const char bash_script[] =
    "# bash completion for appbox (made by `appbox completion bash`)\n"
    "_appbox() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} ab=${COMP_WORDS[0]} IFS=$'\\n'\n"
    "    [[ $ab == */* && -x $ab ]] || ab=appbox\n"
    "    local -a out\n"
    "    out=($(\"$ab\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD-1}\" \"$cur\" 2>/dev/null))\n"
    "    case ${out[0]} in\n"
    "    files)\n"
    "        compopt -o filenames 2>/dev/null\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
    "    commands)\n"
    "        COMPREPLY=($(compgen -c -- \"$cur\" | sort -u)) ;;\n"
    "    words)\n"
    "        COMPREPLY=(\"${out[@]:1}\") ;;\n"
    "    *)\n"
    "        COMPREPLY=() ;;\n"
    "    esac\n"
    "}\n"
    "complete -F _appbox appbox\n";

static const char zsh_script[] =
    "#compdef appbox\n"
    "# zsh completion for appbox (made by `appbox completion zsh`)\n"
    "_appbox() {\n"
    "    local ab=${words[1]}\n"
    "    [[ $ab == */* && -x $ab ]] || ab=appbox\n"
    "    local -a out\n"
    "    out=(\"${(@f)$(\"$ab\" __complete \"${(@)words[2,CURRENT-1]}\" \"${words[CURRENT]}\" 2>/dev/null)}\")\n"
    "    case ${out[1]} in\n"
    "    files) _files ;;\n"
    "    commands) _command_names -e ;;\n"
    "    words) compadd -Q -- \"${(@)out[2,-1]}\" ;;\n"
    "    esac\n"
    "}\n"
    "if [[ ${funcstack[1]} == _appbox ]]; then\n"
    "    _appbox \"$@\"\n"
    "else\n"
    "    compdef _appbox appbox\n"
    "fi\n";

static const char fish_script[] =
    "# fish completion for appbox (made by `appbox completion fish`)\n"
    "function __appbox_complete\n"
    "    set -l words (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    set -l ab $words[1]\n"
    "    if not string match -q -- '*/*' $ab; or not test -x $ab\n"
    "        set ab appbox\n"
    "    end\n"
    "    set -e words[1]\n"
    "    set -l out ($ab __complete $words \"$cur\" 2>/dev/null)\n"
    "    switch \"$out[1]\"\n"
    "        case files\n"
    "            __fish_complete_path \"$cur\"\n"
    "        case commands\n"
    "            complete -C \"$cur\"\n"
    "        case words\n"
    "            set -e out[1]\n"
    "            printf '%s\\n' $out\n"
    "    end\n"
    "end\n"
    "complete -c appbox -f -a '(__appbox_complete)'\n";

static void completion_usage(FILE *f)
{
    fprintf(f, "Usage: appbox completion bash|zsh|fish\n"
               "\nPrint the completion script for the shell: verbs, their options, the ++OPTIONs of\n"
               "run and start, container and image names.  Installed with appbox; to try it:\n"
               "  bash: source <(appbox completion bash)\n"
               "  zsh:  source <(appbox completion zsh)   (after compinit)\n"
               "  fish: appbox completion fish | source\n");
}

int cmd_completion(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc >= 1 && cmd_is_help(argv[0])) {
        completion_usage(stdout);
        return 0;
    }
    if (argc < 1)
        return cmd_usage_error("completion", "missing the shell (usage: appbox completion bash|zsh|fish)");
    if (argc > 1)
        return cmd_usage_error("completion", "unexpected argument '%s' (usage: appbox completion bash|zsh|fish)",
                               argv[1]);
    const char *script = strcmp(argv[0], "bash") == 0  ? bash_script
                         : strcmp(argv[0], "zsh") == 0 ? zsh_script
                         : strcmp(argv[0], "fish") == 0 ? fish_script
                                                         : NULL;
    if (!script)
        return cmd_usage_error("completion", "'%s' is not a shell (allowed: bash, zsh, fish)", argv[0]);
    fputs(script, stdout);
    return 0;
}

/* `appbox __complete WORD... CURRENT`: what may come after WORD...
 * that starts with CURRENT.  For the scripts only, so quiet: no errors. */
int cmd_complete(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc < 1)
        return 0;
    int r = complete(ctx, argc - 1, argv, argv[argc - 1]);
    fflush(stdout);
    return r;
}
