#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/error.h"


int cmd_version(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc >= 1 && cmd_is_help(argv[0])) {
        printf("Usage: appbox version | appbox --version\n\nPrint appbox's version.\n");
        return 0;
    }
    if (argc > 0)
        return cmd_usage_error("version", "unexpected argument '%s'", argv[0]);
    printf("appbox %s\n", APPBOX_VERSION);
    return 0;
}

static void usage(void)
{
    printf("Usage: appbox [--version] [--help] VERB [ARGS...]\n"
           "\n"
           "Run applications and services in lightweight containers that share\n"
           "nothing with the host but what you name.\n"
           "\n"
           "Verbs:\n"
           "  sandbox [OPTIONS] [--] COMMAND [ARG...]   run COMMAND in a throwaway container\n"
           "  create NAME [--base B] [OPTIONS] [--run CMD]  make a named container (+ launcher)\n"
           "  run NAME [++OPTIONS] [--] [ARGS...]       start if needed, run, stop after the last\n"
           "  start NAME [++OPTIONS]                    start a named container\n"
           "  stop NAME... [--timeout S] | stop --all   stop named containers\n"
           "  exec [--root|--user U] NAME [--] CMD...   run CMD in a running container\n"
           "  shell [--root] NAME                       a login shell in the container\n"
           "  cp SRC NAME:DST | cp NAME:SRC DST         copy files into or out of a container\n"
           "  export [--force] NAME FILE.tar            a container's root as a tar\n"
           "  list [--json|--names] | show NAME [--json]  what exists; what a container can reach\n"
           "  logs NAME [-f] [--since T] [-n N] [-t]    its service's output (--network: its proxy's)\n"
           "  unit NAME [--user|--system] [--enable]    a systemd unit that starts NAME\n"
           "  stats [NAME...] [--no-stream] [--json]    running containers' CPU, memory, processes, I/O\n"
           "  config NAME [KEY[=VALUE]] | edit NAME     read or change appbox.conf\n"
           "  rm [--force] NAME...                      remove containers and their launchers\n"
           "  launcher install NAME [--as CMD] | launcher remove NAME\n"
           "  update NAME... | update --all             apt-get update + upgrade in containers\n"
           "  install NAME PACKAGE... | FILE.deb...     apt-get install into a stopped container\n"
           "  image list [--json] | image rm NAME | image pull debian:SUITE   the cache of bases\n"
           "  completion bash|zsh|fish                  print a shell completion script\n"
           "  help [VERB]                               show this help, or VERB's\n"
           "  version                                   show the version\n"
           "\n"
           "`appbox help VERB` or `appbox VERB --help` describes a verb; see appbox(1).\n"
           "Exit status: the command's own; 125 appbox failed (a missing container too);\n"
           "126 the command cannot be executed; 127 it was not found; 2 the command line\n"
           "is wrong.\n");
}

int cmd_help(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc == 0 || cmd_is_help(argv[0])) {
        usage();
        return 0;
    }
    if (argc > 1)
        return cmd_usage_error("help", "unexpected argument '%s' (usage: appbox help [VERB])", argv[1]);
    const struct cmd_verb *v = cmd_verb_find(argv[0]);
    if (!v)
        return cmd_usage_error("help", "'%s' is not a verb (see appbox help)", argv[0]);
    if (v->fn == cmd_help) {
        usage();
        return 0;
    }
    /* The verb's own --help: one text a verb, wherever it is asked for. */
    char help[] = "--help";
    char *args[] = { help, NULL };
    return v->fn(ctx, 1, args);
}
