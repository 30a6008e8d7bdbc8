#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/error.h"


int cmd_version(struct ab_ctx *ctx, int argc, char **argv)
{
    printf("appbox %s\n", APPBOX_VERSION);
    return 0;
}

int cmd_help(struct ab_ctx *ctx, int argc, char **argv)
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
           "  start NAME | stop NAME [--timeout S]      start or stop a named container\n"
           "  exec [--root|--user U] NAME [--] CMD...   run CMD in a running container\n"
           "  shell [--root] NAME                       a login shell in the container\n"
           "  cp SRC NAME:DST | cp NAME:SRC DST         copy files into or out of a container\n"
           "  export [--force] NAME FILE.tar            a container's root as a tar\n"
           "  list [--json] | show NAME [--json]        what exists; what a container can reach\n"
           "  config NAME [KEY[=VALUE]] | edit NAME     read or change appbox.conf\n"
           "  rm [--force] NAME                         remove a container and its launcher\n"
           "  launcher install NAME [--as CMD] | launcher remove NAME\n"
           "  update NAME... | update --all             apt-get update + upgrade in containers\n"
           "  image list | image rm NAME | image pull debian:SUITE   the cache of bases\n"
           "  help                                      show this help\n"
           "  version                                   show the version\n"
           "\n"
           "`appbox VERB --help` describes a verb; see appbox(1).\n"
           "Exit status: the command's own; 125 appbox failed; 126 the command cannot be\n"
           "executed; 127 it was not found; 2 usage error.\n");
    return 0;
}
