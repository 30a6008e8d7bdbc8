/* `appbox-oci __completion bash`: the bash completion script, made from
 * the verb table (meson installs what the built binary prints), so that it
 * never drifts from the options the parser takes. */
#include <stdio.h>
#include <string.h>

#include "oci/cli.h"

/* OPTS's spellings, blank-separated; VALUES: only those taking a value. */
static void print_opts(const struct oci_opt *o, bool values)
{
    const char *sep = "";
    for (; o->name; o++) {
        if (values && o->kind == OCI_OPT_BOOL)
            continue;
        printf("%s--%s", sep, o->name);
        sep = " ";
        if (o->short_name)
            printf(" -%c", o->short_name);
    }
}

static void print_verbs(void)
{
    for (const struct oci_verb *v = oci_verbs; v->name; v++)
        printf("%s ", v->name);
}

int oci_completion(const char *shell)
{
    if (!shell || strcmp(shell, "bash") != 0) {
        fprintf(stderr, "%s: __completion: '%s' is not a shell this can complete for (expected bash)\n",
                OCI_CLI_NAME, shell ? shell : "");
        return 1;
    }
    printf("# bash completion for appbox-oci (made by `appbox-oci __completion bash`)\n"
           "_appbox_oci() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    local verb='' root=() i\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        case ${COMP_WORDS[i]} in\n"
           "        --root) root=(--root \"${COMP_WORDS[i+1]}\"); ((i++)) ;;\n"
           "        --log|--log-format|--rootless|--criu) ((i++)) ;;\n"
           "        -*) ;;\n"
           "        *) verb=${COMP_WORDS[i]}; break ;;\n"
           "        esac\n"
           "    done\n"
           "    if [[ -z $verb ]]; then\n"
           "        case $prev in\n"
           "        --root|--log|--criu) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
           "        --log-format) COMPREPLY=($(compgen -W 'text json' -- \"$cur\")); return ;;\n"
           "        --rootless) COMPREPLY=($(compgen -W 'true false auto' -- \"$cur\")); return ;;\n"
           "        esac\n"
           "        if [[ $cur == -* ]]; then\n"
           "            COMPREPLY=($(compgen -W '--root --log --log-format --debug --systemd-cgroup --rootless "
           "--criu --help --version' -- \"$cur\"))\n"
           "        else\n"
           "            COMPREPLY=($(compgen -W '");
    print_verbs();
    printf("help' -- \"$cur\"))\n"
           "        fi\n"
           "        return\n"
           "    fi\n"
           "    local opts='' values=''\n"
           "    case $verb in\n");
    for (const struct oci_verb *v = oci_verbs; v->name; v++) {
        printf("    %s) opts='", v->name);
        print_opts(v->opts, false);
        printf(" --help'; values='");
        print_opts(v->opts, true);
        printf("' ;;\n");
    }
    printf("    help) COMPREPLY=($(compgen -W '");
    print_verbs();
    printf("' -- \"$cur\")); return ;;\n"
           "    esac\n"
           "    case $prev in\n"
           "    --format|-f) if [[ $verb == list || $verb == ps ]]; then\n"
           "        COMPREPLY=($(compgen -W 'table json' -- \"$cur\")); return; fi ;;\n"
           "    esac\n"
           "    if [[ -n $prev && \" $values \" == *\" $prev \"* ]]; then\n"
           "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    if [[ $cur == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    case $verb in\n"
           "    spec|features|list) return ;;\n"
           "    esac\n"
           "    # the container ids in the same --root\n"
           "    COMPREPLY=($(compgen -W \"$(appbox-oci \"${root[@]}\" list -q 2>/dev/null)\" -- \"$cur\"))\n"
           "}\n"
           "complete -F _appbox_oci appbox-oci\n");
    return 0;
}
