#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/error.h"

int cmd_report(const ab_error *err)
{
    fprintf(stderr, "appbox: %s\n", err->msg);
    return ab_error_exit_code(err);
}

int cmd_version(int argc, char **argv)
{
    printf("appbox %s\n", APPBOX_VERSION);
    return 0;
}

int cmd_help(int argc, char **argv)
{
    printf("Usage: appbox [--version] [--help] VERB [ARGS...]\n"
           "\n"
           "Run applications and services in lightweight containers that share\n"
           "nothing with the host but what you name.\n"
           "\n"
           "Verbs:\n"
           "  sandbox [OPTIONS] [--] COMMAND [ARG...]   run COMMAND in a throwaway container\n"
           "  help                                      show this help\n"
           "  version                                   show the version\n"
           "\n"
           "`appbox VERB --help` describes a verb; see appbox(1).\n"
           "Exit status: the command's own; 125 appbox failed; 126 the command cannot be\n"
           "executed; 127 it was not found; 2 usage error.\n");
    return 0;
}
