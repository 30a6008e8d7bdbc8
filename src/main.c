/* appbox: verb dispatch.  Everything else lives in cmd/ (one file a verb)
 * over lib/ (libappbox, which never prints or exits). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "oci/oci.h"
#include "runtime/exe_guard.h"

/* Every verb: dispatch here, `appbox help VERB` and shell completion read
 * this table. */
const struct cmd_verb cmd_verbs[] = {
    { "sandbox", cmd_sandbox, 1, 0 },
    { "create", cmd_create, 1, 1 },
    { "run", cmd_run, 1, 1 },
    { "start", cmd_start, 1, 1 },
    { "stop", cmd_stop, 0, 1 },
    { "exec", cmd_exec, 1, 1 },
    { "shell", cmd_shell, 1, 1 },
    { "cp", cmd_cp, 1, 1 },
    { "export", cmd_export, 1, 1 },
    { "list", cmd_list, 0, 1 },
    { "show", cmd_show, 0, 1 },
    { "logs", cmd_logs, 0, 1 },
    { "unit", cmd_unit, 0, 1 },
    { "stats", cmd_stats, 0, 1 },
    { "config", cmd_config, 0, 1 },
    { "edit", cmd_edit, 0, 1 },
    { "rm", cmd_rm, 1, 1 },
    { "launcher", cmd_launcher, 0, 1 },
    { "update", cmd_update, 1, 1 },
    { "install", cmd_install, 1, 1 },
    { "image", cmd_image, 1, 0 },
    { "help", cmd_help, 0, 0 },
    { "version", cmd_version, 0, 0 },
    { "completion", cmd_completion, 0, 0 },
    { "__complete", cmd_complete, 0, 0 }, /* the completion scripts' question (not listed) */
    { NULL, NULL, 0, 0 },
};

/* What each verb takes, for shell completion (cmd/completion.c) and the
 * "goes after the name" messages: its own options as its --help lists them
 * (tests/integration/test_cli.py holds the two together; "--opt=" takes a
 * value), what its other words are, and whether it takes the registry's
 * container options.  A verb without a line still works and is completed
 * by name. */
const struct cmd_verb_args cmd_verb_args[] = {
    { "sandbox", "", "@command", CMD_SPEC_DASH },
    { "create", "--base= --mirror= --variant= --packages= --deb= --user-home= --verbose --run= --no-launcher --as= --launcher-replaces",
      NULL, CMD_SPEC_DASH },
    { "run", "++show ++start ++stop ++cmd ++aptupdate ++aptupdateall", "@container", CMD_SPEC_PLUS },
    { "start", "", "@container", CMD_SPEC_PLUS },
    { "stop", "--all --timeout=", "@containers", CMD_SPEC_NONE },
    { "exec", "--root --user= --env= --chdir=", "@container", CMD_SPEC_NONE },
    { "shell", "--root", "@container", CMD_SPEC_NONE },
    { "list", "--json --names", NULL, CMD_SPEC_NONE },
    { "show", "--json", "@container", CMD_SPEC_NONE },
    { "logs", "--follow --since= --lines= --timestamps --network", "@container", CMD_SPEC_NONE },
    { "unit", "--user --system --enable --stdout", "@container", CMD_SPEC_NONE },
    { "stats", "--no-stream --json", "@containers", CMD_SPEC_NONE },
    { "config", "--pin", "@container", CMD_SPEC_NONE },
    { "edit", "", "@container", CMD_SPEC_NONE },
    { "rm", "--force", "@containers", CMD_SPEC_NONE },
    { "update", "--all --verbose", "@containers", CMD_SPEC_NONE },
    { "install", "--verbose", "@container", CMD_SPEC_NONE },
    { "cp", "", "@copy", CMD_SPEC_NONE },
    { "export", "--force --app= --remove", "@container-file", CMD_SPEC_NONE },
    { "completion", "", "bash zsh fish", CMD_SPEC_NONE },
    { "help", "", "@verbs", CMD_SPEC_NONE },
    /* launcher and image: their sub-verbs' lines are in cmd/completion.c */
    { NULL, NULL, NULL, CMD_SPEC_NONE },
};

const struct cmd_verb_args *cmd_verb_args_find(const char *name)
{
    for (const struct cmd_verb_args *e = cmd_verb_args; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

const struct cmd_verb *cmd_verb_find(const char *name)
{
    for (const struct cmd_verb *e = cmd_verbs; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cmd_is_help(argv[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    /* installed as a symlink appbox-oci -> appbox: the OCI runtime's
     * command line (runc's), not appbox's */
    const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (argc > 0 && strcmp(self ? self + 1 : argv[0], "appbox-oci") == 0)
        return oci_main(argc, argv);
    if (argc < 2) {
        cmd_help(NULL, 0, NULL);
        return 2;
    }
    const char *v = argv[1];
    if (strcmp(v, "--version") == 0)
        return cmd_version(NULL, 0, NULL);
    if (cmd_is_help(v))
        return cmd_help(NULL, 0, NULL);
    const struct cmd_verb *e = cmd_verb_find(v);
    if (!e) {
        fprintf(stderr, "appbox: '%s' is not a verb (see appbox help)\n", v);
        return 2;
    }
    if (e->guard_exe)
        exe_guard(argv);
    /* The environment is read here, once, into the context that every
     * lib/ call gets. */
    struct ab_ctx ctx;
    ab_error err = { 0 };
    if (cmd_context_init(&ctx, &err) < 0)
        return cmd_report(&err);
    /* A runtime (or data) dir that is not the caller's own, e.g. a
     * /tmp/appbox-UID another user made first, is refused before anything
     * is read from it or made in it (help still works). */
    if (e->store && !wants_help(argc - 2, argv + 2) && ab_ctx_check_dirs(&ctx, &err) < 0) {
        ab_ctx_free(&ctx);
        return cmd_report(&err);
    }
    int code = e->fn(&ctx, argc - 2, argv + 2);
    ab_ctx_free(&ctx);
    return code;
}
