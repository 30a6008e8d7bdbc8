/* appbox-oci state, list and ps. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "oci/cli.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "cgroup/oci.h"

extern char **environ;

int oci_cmd_state(struct oci_cli *cli, struct oci_args *a)
{
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, a->pos[0], false, &c))
        return 1;
    _cleanup_free_ char *json = oci_state_json(&c.st, c.status);
    if (!json)
        return oci_error(cli, "out of memory");
    fputs(json, stdout);
    return 0;
}

struct row {
    struct oci_state st;
    enum oci_status status;
    char owner[64];
};

static int row_cmp(const void *x, const void *y)
{
    return strcmp(((const struct row *)x)->st.id, ((const struct row *)y)->st.id);
}

static void owner_name(uid_t uid, char *buf, size_t size)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(buf, size, "%s", res->pw_name);
    else
        snprintf(buf, size, "#%u", (unsigned)uid);
}

/* Every container below the root, sorted by id (read without locks: a
 * container being created or deleted is left out). */
static int read_rows(struct oci_cli *cli, struct row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    ab_error err = { 0 };
    int rootfd = oci_state_open_root(cli->root, false, &err);
    if (rootfd == -ENOENT)
        return 0;   /* nothing made yet: an empty list, as runc */
    if (rootfd < 0)
        return oci_report(cli, &err);
    DIR *d = fdopendir(rootfd);
    if (!d) {
        close(rootfd);
        return oci_error(cli, "cannot list %s: %s", cli->root, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || !oci_id_valid(e->d_name))
            continue;
        ab_error ignored;
        _cleanup_close_ int cfd = oci_state_open_dir(rootfd, e->d_name, NULL, &ignored);
        if (cfd < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct row *r = realloc(*rows, cap * sizeof(**rows));
            if (!r)
                break;
            *rows = r;
        }
        struct row *r = &(*rows)[*n];
        if (oci_state_read(cfd, &r->st, &ignored) < 0)
            continue;
        r->status = oci_state_status(cfd, &r->st);
        owner_name(r->st.owner, r->owner, sizeof(r->owner));
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*rows, *n, sizeof(**rows), row_cmp);
    return 0;
}

/* ROW's cells (NULL: the header); PID: a buffer for its pid. */
static void row_cells(const struct row *r, char pid[16], const char *cells[6])
{
    static const char *const head[6] = { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" };
    if (!r) {
        memcpy(cells, head, sizeof(head));
        return;
    }
    snprintf(pid, 16, "%d", r->status == OCI_STATUS_STOPPED ? 0 : (int)r->st.pid);
    cells[0] = r->st.id;
    cells[1] = pid;
    cells[2] = oci_status_name(r->status);
    cells[3] = r->st.bundle;
    cells[4] = r->st.created;
    cells[5] = r->owner;
}

/* Go's tabwriter as runc sets it: cells padded to the widest + 3, at least
 * 12 wide; the last column not padded. */
static void print_table(const struct row *rows, size_t n)
{
    enum { COLS = 6 };
    char pid[16];
    const char *cells[COLS];
    size_t w[COLS] = { 0 };
    for (size_t i = 0; i <= n; i++) {
        row_cells(i ? &rows[i - 1] : NULL, pid, cells);
        for (int c = 0; c < COLS; c++)
            if (strlen(cells[c]) + 3 > w[c])
                w[c] = strlen(cells[c]) + 3;
    }
    for (size_t i = 0; i <= n; i++) {
        row_cells(i ? &rows[i - 1] : NULL, pid, cells);
        for (int c = 0; c < COLS - 1; c++)
            printf("%-*s", (int)(w[c] < 12 ? 12 : w[c]), cells[c]);
        printf("%s\n", cells[COLS - 1]);
    }
}

static int print_json(struct oci_cli *cli, struct row *rows, size_t n)
{
    if (n == 0) {
        puts("null");   /* runc's encoding of an empty list */
        return 0;
    }
    json_object *arr = json_object_new_array();
    for (size_t i = 0; arr && i < n; i++) {
        _cleanup_free_ char *one = oci_state_json(&rows[i].st, rows[i].status);
        json_object *o = one ? json_tokener_parse(one) : NULL;
        if (!o) {
            json_object_put(arr);
            return oci_error(cli, "out of memory");
        }
        json_object_object_add(o, "owner", json_object_new_string(rows[i].owner));
        json_object_array_add(arr, o);
    }
    if (!arr)
        return oci_error(cli, "out of memory");
    puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    return 0;
}

static int check_format(struct oci_cli *cli, struct oci_args *a, bool *json)
{
    const char *f = a->opt[FORMAT_FORMAT].set ? a->opt[FORMAT_FORMAT].value : "table";
    if (strcmp(f, "table") != 0 && strcmp(f, "json") != 0)
        return oci_error(cli, "%s: --format: '%s' is not a format (expected table or json)", cli->verb, f);
    *json = strcmp(f, "json") == 0;
    return 0;
}

int oci_cmd_list(struct oci_cli *cli, struct oci_args *a)
{
    bool json;
    if (check_format(cli, a, &json))
        return 1;
    struct row *rows;
    size_t n;
    int code = read_rows(cli, &rows, &n);
    if (code == 0) {
        if (a->opt[LIST_QUIET].set)
            for (size_t i = 0; i < n; i++)
                puts(rows[i].st.id);
        else if (json)
            code = print_json(cli, rows, n);
        else
            print_table(rows, n);
    }
    for (size_t i = 0; i < n; i++)
        oci_state_free(&rows[i].st);
    free(rows);
    return code;
}

static bool has_pid(const pid_t *pids, size_t n, long pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* `ps ARGS`: its header, then its lines whose PID column is one of PIDS. */
static int ps_table(struct oci_cli *cli, char **args, int nargs, const pid_t *pids, size_t n)
{
    char *argv[nargs + 3];
    argv[0] = "ps";
    int k = 1;
    if (nargs == 0)
        argv[k++] = "-ef";
    for (int i = 0; i < nargs; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return oci_error(cli, "ps: cannot make a pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    pid_t child;
    int r = posix_spawnp(&child, "ps", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (r != 0) {
        close(p[0]);
        return oci_error(cli, "ps: cannot run ps: %s", strerror(r));
    }
    _cleanup_free_ char *out = fs_read_fd(p[0], 64 << 20);
    close(p[0]);
    int ws = 0;
    while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
        ;
    if (!out)
        return oci_error(cli, "ps: cannot read its output: %s", strerror(errno));
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        return oci_error(cli, "ps: 'ps' failed (exit status %d): %s", WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws),
                         out);
    char *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    if (!line)
        return oci_error(cli, "ps: 'ps' printed nothing");
    /* which column is PID */
    int col = -1, i = 0;
    _cleanup_free_ char *head = strdup(line);
    for (char *s2 = NULL, *w = head ? strtok_r(head, " \t", &s2) : NULL; w; w = strtok_r(NULL, " \t", &s2), i++)
        if (strcmp(w, "PID") == 0) {
            col = i;
            break;
        }
    if (col < 0)
        return oci_error(cli, "ps: no PID column in ps's output (add one to the ps options, e.g. -o pid,cmd)");
    puts(line);
    while ((line = strtok_r(NULL, "\n", &save))) {
        _cleanup_free_ char *copy = strdup(line);
        char *s2 = NULL, *w = copy ? strtok_r(copy, " \t", &s2) : NULL;
        for (int c = 0; w && c < col; c++)
            w = strtok_r(NULL, " \t", &s2);
        if (w && has_pid(pids, n, strtol(w, NULL, 10)))
            puts(line);
    }
    return 0;
}

int oci_cmd_ps(struct oci_cli *cli, struct oci_args *a)
{
    bool json;
    if (check_format(cli, a, &json))
        return 1;
    if (json && a->npos > 1)
        return oci_error(cli, "ps: ps options (%s) cannot be used with --format json", a->pos[1]);
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, a->pos[0], false, &c))
        return 1;
    int code = 0;
    pid_t *pids = NULL;
    size_t n = 0;
    ab_error err = { 0 };
    if (c.status != OCI_STATUS_STOPPED && oci_container_pids(&c.st, &pids, &n, &err) < 0)
        code = oci_report(cli, &err);
    if (code == 0 && json) {
        printf("[");
        for (size_t i = 0; i < n; i++)
            printf("%s%d", i ? "," : "", (int)pids[i]);
        printf("]\n");
    } else if (code == 0) {
        code = ps_table(cli, a->pos + 1, a->npos - 1, pids, n);
    }
    free(pids);
    return code;
}
