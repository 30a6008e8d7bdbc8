#include "container/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec/options.h"
#include "util/cleanup.h"

static const char *const sections[] = { "Container", "Files", "Network", "Resources", "Security", "Desktop", "Service",
                                        NULL };

/* Keys that belong to named containers only. */
static const struct {
    const char *section, *key;
} extra_keys[] = {
    { "Container", "Base" },
    { "Container", "Run" },
};

bool conf_key_known(const char *section, const char *key, bool *repeatable)
{
    const struct spec_option *o = spec_option_by_key(section, key);
    if (o) {
        if (repeatable)
            *repeatable = o->repeatable;
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(extra_keys); i++)
        if (strcmp(extra_keys[i].section, section) == 0 && strcmp(extra_keys[i].key, key) == 0) {
            if (repeatable)
                *repeatable = false;
            return true;
        }
    return false;
}

void conf_free(struct conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].section);
        free(c->e[i].key);
        free(c->e[i].value);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

int conf_add(struct conf *c, const char *section, const char *key, const char *value, int line)
{
    struct conf_entry *ne = realloc(c->e, (c->n + 1) * sizeof(*ne));
    if (!ne)
        return -ENOMEM;
    c->e = ne;
    struct conf_entry *e = &c->e[c->n];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value ? value : "");
    e->line = line;
    if (!e->section || !e->key || !e->value) {
        free(e->section);
        free(e->key);
        free(e->value);
        return -ENOMEM;
    }
    c->n++;
    return 0;
}

size_t conf_remove(struct conf *c, const char *section, const char *key)
{
    size_t o = 0, removed = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0) {
            free(c->e[i].section);
            free(c->e[i].key);
            free(c->e[i].value);
            removed++;
            continue;
        }
        c->e[o++] = c->e[i];
    }
    c->n = o;
    return removed;
}

static int unknown_section(const char *path, int line, const char *section, ab_error *err)
{
    return ab_error_set(err, AB_ERR_RUNTIME, 0,
                        "%s:%d: unknown section [%s] (allowed: [Container], [Files], [Network], [Resources], "
                        "[Security], [Desktop], [Service])",
                        path, line, section);
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The INI syntax appbox.conf has always had (inih's, as appbox set it up:
 * no inline comments, no continuation lines), read here with no limit on
 * a line's length: inih, as Debian builds it, cuts a line at 199 bytes and
 * reads the rest as a line of its own, so a long value could smuggle in a
 * "[Security]" and a "Seccomp=off".  Every line is what it looks like:
 * blanks around it ignored; empty, or starting with ';' or '#': a comment;
 * "[Name]": a section (one of appbox's); else Key=Value (or Key:Value),
 * the key and value without the blanks around them.  One pass, each line
 * numbered as it is read. */
static int conf_parse(char *text, const char *path, struct conf *c, ab_error *err)
{
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3; /* a UTF-8 BOM */
    const char *section = "";
    int line = 0;
    for (char *p = text; *p;) {
        line++;
        char *eol = strchrnul(p, '\n');
        char *next = *eol ? eol + 1 : eol;
        *eol = '\0';
        char *end = eol;
        while (end > p && is_blank(end[-1]))
            *--end = '\0';
        while (is_blank(*p))
            p++;
        if (*p == '\0' || *p == ';' || *p == '#') {
            p = next;
            continue;
        }
        if (*p == '[') {
            char *close = strchr(p + 1, ']');
            if (!close)
                return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s:%d: not a [Section] or Key=Value line", path, line);
            *close = '\0';
            section = NULL;
            for (size_t s = 0; sections[s]; s++)
                if (strcmp(sections[s], p + 1) == 0)
                    section = sections[s];
            if (!section)
                return unknown_section(path, line, p + 1, err);
            p = next;
            continue;
        }
        char *sep = strpbrk(p, "=:");
        if (!sep)
            return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s:%d: not a [Section] or Key=Value line", path, line);
        char *value = sep + 1;
        while (sep > p && is_blank(sep[-1]))
            sep--;
        *sep = '\0';
        while (is_blank(*value))
            value++;
        if (c->n >= CONF_MAX_ENTRIES)
            return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s:%d: too many settings (at most %d)", path, line,
                                CONF_MAX_ENTRIES);
        if (conf_add(c, section, p, value, line) < 0)
            return ab_fail(err, ENOMEM, "cannot parse %s", path);
        p = next;
    }
    return 0;
}

int conf_parse_text(const char *text, size_t len, const char *path, struct conf *c, ab_error *err)
{
    if (strnlen(text, len) != len)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: contains a NUL byte (not a text file)", path);
    _cleanup_free_ char *copy = strndup(text, len);
    if (!copy)
        return ab_fail(err, ENOMEM, "cannot parse %s", path);
    int r = conf_parse(copy, path, c, err);
    if (r == 0 && c->n == 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: empty: no settings (see appbox.conf(5))", path);
    return r;
}

int conf_read(const char *path, struct conf *c, ab_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return ab_fail(err, errno, "cannot read %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return ab_fail(err, EINVAL, "cannot read %s: not a regular file", path);
    if (st.st_size > CONF_MAX_SIZE)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: too large (%lld bytes; at most %d)", path,
                            (long long)st.st_size, CONF_MAX_SIZE);
    _cleanup_free_ char *text = calloc(1, (size_t)st.st_size + 1);
    if (!text)
        return ab_fail(err, ENOMEM, "cannot read %s", path);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ab_fail(err, errno, "cannot read %s", path);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return conf_parse_text(text, got, path, c, err);
}

void container_conf_free(struct container_conf *cc)
{
    spec_free(&cc->spec);
    free(cc->base);
    free(cc->run);
    cc->base = cc->run = NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

static int check_base(const char *where, const char *v, ab_error *err)
{
    static const char *const kinds[] = { "dir:", "tar:", "oci:", "docker-archive:" };
    if (strcmp(v, "host") == 0 || strncmp(v, "debian:", 7) == 0 || strncmp(v, "ubuntu:", 7) == 0)
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strncmp(v, kinds[i], strlen(kinds[i])) == 0 && v[strlen(kinds[i])] == '/')
            return 0;
    return ab_error_set(err, AB_ERR_RUNTIME, 0,
                        "%s: '%s' is not a base (allowed: host, dir:PATH, tar:FILE, oci:DIR[:TAG], "
                        "docker-archive:FILE[:TAG], with absolute paths)", where, v);
}

/* A key that takes one value, as first seen: at most one of each known
 * key, so looking one up is bounded by the option table, and reading a
 * file is linear in its length (a rescan of every earlier entry made a
 * 1 MiB file take seconds). */
struct seen_key {
    const char *section, *key;
    int line;
};

int conf_to_container(const struct conf *c, const char *path, struct container_conf *cc, ab_error *err)
{
    memset(cc, 0, sizeof(*cc));
    spec_init(&cc->spec);
    _cleanup_free_ struct seen_key *seen = NULL;
    size_t n_seen = 0, cap_seen = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct conf_entry *e = &c->e[i];
        char where[4200];
        const struct spec_option *opt = spec_option_by_key(e->section, e->key);
        if (e->line == CONF_LINE_OVERRIDE && opt)
            snprintf(where, sizeof(where), "++%s", opt->name);
        else if (e->line > 0)
            snprintf(where, sizeof(where), "%s:%d: [%s] %s", path, e->line, e->section, e->key);
        else
            snprintf(where, sizeof(where), "%s: [%s] %s", path, e->section, e->key);

        bool known_section = false;
        for (size_t s = 0; sections[s]; s++)
            known_section |= strcmp(sections[s], e->section) == 0;
        if (!known_section)
            return unknown_section(path, e->line, e->section, err);
        bool repeatable;
        if (!conf_key_known(e->section, e->key, &repeatable))
            return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: unknown key in [%s] (see appbox.conf(5))", where,
                                e->section);
        if (!repeatable) {
            for (size_t j = 0; j < n_seen; j++)
                if (strcmp(seen[j].section, e->section) == 0 && strcmp(seen[j].key, e->key) == 0)
                    return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: given twice (also on line %d); it takes one value",
                                        where, seen[j].line);
            if (n_seen == cap_seen) {
                size_t ncap = cap_seen ? cap_seen * 2 : 16;
                struct seen_key *ns = realloc(seen, ncap * sizeof(*ns));
                if (!ns)
                    return ab_fail(err, ENOMEM, "out of memory");
                seen = ns;
                cap_seen = ncap;
            }
            seen[n_seen++] = (struct seen_key){ e->section, e->key, e->line };
        }

        int r;
        if (strcmp(e->section, "Container") == 0 && strcmp(e->key, "Base") == 0) {
            if ((r = check_base(where, e->value, err)) < 0)
                return r;
            free(cc->base);
            cc->base = strdup(e->value);
            continue;
        }
        if (strcmp(e->section, "Container") == 0 && strcmp(e->key, "Run") == 0) {
            strv words = { 0 };
            r = conf_split_command(e->value, &words);
            size_t n = words.n;
            strv_clear(&words);
            if (r < 0 || n == 0)
                return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: '%s' is not a command line (%s)", where, e->value,
                                    r < 0 ? "unterminated quote" : "empty");
            free(cc->run);
            cc->run = strdup(e->value);
            continue;
        }
        const struct spec_option *o = spec_option_by_key(e->section, e->key);
        const char *value = e->value;
        if (!o->metavar) {
            bool on;
            if (!parse_bool(e->value, &on))
                return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: '%s' is not a boolean (allowed: yes, no)", where,
                                    e->value);
            if (!on)
                continue;
            value = NULL;
        }
        r = spec_option_apply(&cc->spec, o, where, value, err);
        if (r < 0) {
            err->kind = AB_ERR_RUNTIME; /* a bad file is not a usage error */
            return r;
        }
    }
    if (!cc->base)
        cc->base = strdup("host");
    return 0;
}

int conf_load(const char *path, struct conf *c, struct container_conf *cc, ab_error *err)
{
    int r = conf_read(path, c, err);
    if (r < 0)
        return r;
    return conf_to_container(c, path, cc, err);
}

/* The text of entries as conf_write() writes them: grouped by section in
 * the canonical order (entries of other sections are dropped). */
static char *conf_format(const struct conf *c, const char *header, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    if (header)
        fputs(header, f);
    for (size_t s = 0; sections[s]; s++) {
        bool any = false;
        for (size_t i = 0; i < c->n; i++) {
            if (strcmp(c->e[i].section, sections[s]) != 0)
                continue;
            if (!any)
                fprintf(f, "%s[%s]\n", s ? "\n" : "", sections[s]);
            any = true;
            fprintf(f, "%s=%s\n", c->e[i].key, c->e[i].value);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Whether READ (the file as read back) holds exactly the entries of C that
 * conf_format() wrote, in its order. */
static int conf_same(const struct conf *c, const struct conf *read, ab_error *err)
{
    size_t k = 0;
    for (size_t s = 0; sections[s]; s++)
        for (size_t i = 0; i < c->n; i++) {
            const struct conf_entry *e = &c->e[i];
            if (strcmp(e->section, sections[s]) != 0)
                continue;
            if (k >= read->n || strcmp(read->e[k].section, e->section) != 0 || strcmp(read->e[k].key, e->key) != 0 ||
                strcmp(read->e[k].value, e->value) != 0)
                return ab_error_set(err, AB_ERR_USAGE, 0, "[%s] %s=%s: would not read back as written", e->section,
                                    e->key, e->value);
            k++;
        }
    if (k != read->n)
        return ab_error_set(err, AB_ERR_USAGE, 0, "appbox.conf would not read back as written (%zu settings "
                                                  "written, %zu read)", k, read->n);
    return 0;
}

/* What a value may not hold, said plainly (conf_same() is the net). */
static int conf_values_ok(const struct conf *c, ab_error *err)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct conf_entry *e = &c->e[i];
        if (strpbrk(e->value, "\n\r") || strpbrk(e->key, "\n\r"))
            return ab_error_set(err, AB_ERR_USAGE, 0, "[%s] %s: a value may not contain a line break", e->section,
                                e->key);
        size_t len = strlen(e->value);
        if (len && (is_blank(e->value[0]) || is_blank(e->value[len - 1])))
            return ab_error_set(err, AB_ERR_USAGE, 0, "[%s] %s: a value may not start or end with a blank (it "
                                                      "would not be read back)", e->section, e->key);
    }
    return 0;
}

int conf_check_roundtrip(const struct conf *c, ab_error *err)
{
    int r = conf_values_ok(c, err);
    if (r < 0)
        return r;
    size_t len = 0;
    _cleanup_free_ char *text = conf_format(c, NULL, &len);
    if (!text)
        return ab_fail(err, ENOMEM, "out of memory");
    struct conf back = { 0 };
    r = conf_parse_text(text, len, "appbox.conf", &back, err);
    if (r == 0)
        r = conf_same(c, &back, err);
    conf_free(&back);
    return r;
}

int conf_write(const char *path, const struct conf *c, const char *header, ab_error *err)
{
    int r = conf_values_ok(c, err);
    if (r < 0)
        return r;
    size_t len = 0;
    _cleanup_free_ char *text = conf_format(c, header, &len);
    _cleanup_free_ char *tmp = NULL;
    if (!text || asprintf(&tmp, "%s.tmp.%d", path, getpid()) < 0)
        return ab_fail(err, ENOMEM, "cannot write %s", path);
    unlink(tmp); /* a stale one of a crashed appbox with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s", tmp);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done != len || fsync(fd) != 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", tmp);
    }
    close(fd);
    /* What is on disk is what is checked: the file read back must hold
     * exactly the entries that were validated, and be valid as read;
     * otherwise the old file stays. */
    struct conf back = { 0 };
    struct container_conf cc;
    r = conf_read(tmp, &back, err);
    if (r == 0)
        r = conf_same(c, &back, err);
    if (r == 0) {
        r = conf_to_container(&back, path, &cc, err);
        container_conf_free(&cc);
    }
    conf_free(&back);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot replace %s", path);
    }
    return 0;
}

int conf_split_command(const char *line, strv *out)
{
    size_t len = strlen(line);
    _cleanup_free_ char *word = malloc(len + 1);
    if (!word)
        return -ENOMEM;
    size_t w = 0;
    bool in_word = false;
    char quote = 0;
    for (const char *p = line;; p++) {
        char ch = *p;
        if (ch == '\0') {
            if (quote)
                return -EINVAL;
            if (in_word) {
                word[w] = '\0';
                if (strv_push(out, word) < 0)
                    return -ENOMEM;
            }
            return 0;
        }
        if (quote) {
            if (ch == quote)
                quote = 0;
            else if (ch == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\'))
                word[w++] = *++p;
            else
                word[w++] = ch;
            continue;
        }
        if (ch == ' ' || ch == '\t') {
            if (in_word) {
                word[w] = '\0';
                if (strv_push(out, word) < 0)
                    return -ENOMEM;
                w = 0;
                in_word = false;
            }
            continue;
        }
        in_word = true;
        if (ch == '\'' || ch == '"')
            quote = ch;
        else if (ch == '\\' && p[1])
            word[w++] = *++p;
        else
            word[w++] = ch;
    }
}

char *conf_header(const char *name)
{
    char *h;
    if (asprintf(&h, "# appbox.conf of the container %s; see appbox.conf(5).\n"
                     "# Change it with appbox config or appbox edit; check it with: appbox show %s\n\n",
                 name, name) < 0)
        return NULL;
    return h;
}
