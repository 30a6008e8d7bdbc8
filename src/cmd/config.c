/* config and edit: read or change appbox.conf; an invalid result is
 * refused with the error and the old file kept (and an edit's copy with
 * it: the user's work). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "runtime/resolve.h"
#include "container/config.h"
#include "container/container.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static int split_key(const char *key, char *section, size_t ss, char *name, size_t ns)
{
    const char *dot = strchr(key, '.');
    if (!dot || dot == key || !dot[1] || (size_t)(dot - key) >= ss || strlen(dot + 1) >= ns)
        return -1;
    snprintf(section, ss, "%.*s", (int)(dot - key), key);
    snprintf(name, ns, "%s", dot + 1);
    return 0;
}

int cmd_config(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || cmd_is_help(argv[0]) || argc > 2) {
        if (argc >= 1 && cmd_is_help(argv[0])) {
            printf("Usage: appbox config NAME [SECTION.KEY[=VALUE] | --pin]\n\nPrint appbox.conf, print a key, or set it "
                   "(KEY= clears it).\nExample: appbox config web Network.Mode=host\n"
                   "--pin: confirm the bind sources as they are now (a start refuses a source that\n"
                   "was replaced since the container was made).\n");
            return 0;
        }
        return cmd_usage_error("config", "usage: appbox config NAME [SECTION.KEY[=VALUE]]");
    }
    const char *name = argv[0];
    struct container c;
    ab_error err = { 0 };
    if (container_open(ctx, name, &c, &err) < 0) {
        /* a broken file can still be shown, to be fixed with edit */
        if (argc == 1 && store_name_valid(name) && store_exists(ctx, name)) {
            _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, c.conf_path, false, 1 << 20);
            if (t)
                fputs(t, stdout);
        }
        int code = cmd_report(&err);
        container_close(&c);
        return code;
    }
    if (argc == 1) {
        _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, c.conf_path, false, 1 << 20);
        fputs(t ? t : "", stdout);
        container_close(&c);
        return 0;
    }
    if (strcmp(argv[1], "--pin") == 0) {
        int r = container_pin(&c, &err);
        container_close(&c);
        if (r < 0)
            return cmd_report(&err);
        printf("pinned the bind sources of %s as they are now\n", name);
        return 0;
    }
    const char *eq = strchr(argv[1], '=');
    _cleanup_free_ char *key = strndup(argv[1], eq ? (size_t)(eq - argv[1]) : strlen(argv[1]));
    char section[32], k[64];
    bool repeatable;
    if (!key || split_key(key, section, sizeof(section), k, sizeof(k)) < 0 || !conf_key_known(section, k, &repeatable)) {
        container_close(&c);
        return cmd_usage_error("config", "'%s' is not a key (SECTION.KEY, e.g. Network.Mode; see appbox.conf(5))",
                               key ? key : argv[1]);
    }
    if (!eq) {
        for (size_t i = 0; i < c.conf.n; i++)
            if (strcmp(c.conf.e[i].section, section) == 0 && strcmp(c.conf.e[i].key, k) == 0)
                printf("%s\n", c.conf.e[i].value);
        container_close(&c);
        return 0;
    }
    conf_remove(&c.conf, section, k);
    if (eq[1])
        conf_add(&c.conf, section, k, eq + 1, 0);
    /* a value that is not allowed (or would not read back) is the command
     * line's (2); a file that cannot be written is appbox's failure (125) */
    int r = container_check(&c, &c.conf, &err), code = 2;
    if (r == 0) {
        _cleanup_free_ char *header = conf_header(name);
        r = conf_write(c.conf_path, &c.conf, header, &err);
        code = err.kind == AB_ERR_USAGE ? 2 : 125;
    }
    container_close(&c);
    if (r < 0) {
        fprintf(stderr, "appbox: config: %s (appbox.conf unchanged)\n", err.msg);
        return code;
    }
    return 0;
}

/* "Y" (or just Enter) to a question on the terminal: a line from stdin. */
static bool ask_yes(const char *question)
{
    fprintf(stderr, "%s [Y/n] ", question);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return false;
    return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

/* Run the editor on PATH; 0 when it exited 0. */
static int run_editor(const char *editor, const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("sh", "sh", "-c", "exec $0 \"$1\"", editor, path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Whether COPY is a valid appbox.conf for NAME, as the next start sees it. */
static int check_copy(struct ab_ctx *ctx, const char *name, const char *copy, ab_error *err)
{
    struct conf conf = { 0 };
    struct container_conf cc;
    memset(&cc, 0, sizeof(cc));
    int r = conf_load(copy, &conf, &cc, err);
    struct container c = { 0 };
    if (r == 0 && (r = container_open_state(ctx, name, &c, err)) == 0) {
        free(c.conf_path);
        c.conf_path = strdup(copy);
        r = c.conf_path ? container_check(&c, &conf, err) : -ENOMEM;
    }
    container_close(&c);
    container_conf_free(&cc);
    conf_free(&conf);
    return r;
}

int cmd_edit(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        if (argc == 1 && cmd_is_help(argv[0])) {
            printf("Usage: appbox edit NAME\n\nEdit appbox.conf with $EDITOR (or vi) on a copy; the copy "
                   "replaces it only if it is valid.\nA copy that is not is kept (appbox.conf.edit, next to "
                   "appbox.conf): on a terminal\nappbox offers to edit it again; the next edit starts from it.\n");
            return 0;
        }
        return cmd_usage_error("edit", "usage: appbox edit NAME");
    }
    const char *name = argv[0];
    ab_error err = { 0 };
    if (store_check_name(name, &err) < 0)
        return cmd_report(&err);
    if (!store_exists(ctx, name))
        return cmd_fail("edit", "no container named '%s' (see appbox list)", name);
    _cleanup_free_ char *path = store_path(ctx, name, "appbox.conf", &err);
    _cleanup_free_ char *copy = NULL;
    if (!path || asprintf(&copy, "%s.edit", path) < 0)
        return 125;
    bool tty = isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
    /* A copy an earlier edit kept (it was refused) is the user's work:
     * never overwritten without a yes. */
    bool resume = false;
    if (access(copy, F_OK) == 0) {
        if (!tty) {
            fprintf(stderr, "appbox: edit: %s holds an earlier edit that was refused; edit it on a terminal to "
                            "resume, or remove it to start again from %s\n", copy, path);
            return 125;
        }
        fprintf(stderr, "appbox: edit: %s holds an earlier edit that was refused.\n", copy);
        resume = ask_yes("Continue with it?");
    }
    if (!resume) {
        _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, 1 << 20);
        FILE *f = fopen(copy, "we");
        if (!text || !f || fputs(text, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "appbox: edit: cannot make a copy of %s: %s\n", path, strerror(errno));
            unlink(copy);
            return 125;
        }
    }
    const char *editor = getenv("VISUAL") && *getenv("VISUAL") ? getenv("VISUAL") : getenv("EDITOR");
    if (!editor || !*editor)
        editor = "vi";
    for (;;) {
        if (run_editor(editor, copy) < 0) {
            /* the user gave up in the editor (:cq): nothing to keep, but
             * for an earlier edit's copy, which stays as it was */
            fprintf(stderr, "appbox: edit: the editor (%s) failed; %s unchanged%s%s\n", editor, path,
                    resume ? "; your earlier edit is still in " : "", resume ? copy : "");
            if (!resume)
                unlink(copy);
            return 125;
        }
        memset(&err, 0, sizeof(err));
        if (check_copy(ctx, name, copy, &err) == 0)
            break;
        resume = true; /* the copy holds the user's work from now on */
        if (!tty) {
            fprintf(stderr, "appbox: edit: %s (%s unchanged; your edit is kept in %s: appbox edit %s on a terminal "
                            "continues with it)\n", err.msg, path, copy, name);
            return 125;
        }
        fprintf(stderr, "appbox: edit: %s (%s unchanged)\n", err.msg, path);
        if (!ask_yes("Edit again?")) {
            fprintf(stderr, "appbox: edit: your edit is kept in %s (appbox edit %s continues with it)\n", copy, name);
            return 125;
        }
    }
    if (rename(copy, path) < 0) {
        fprintf(stderr, "appbox: edit: cannot replace %s: %s\n", path, strerror(errno));
        return 125;
    }
    return 0;
}
