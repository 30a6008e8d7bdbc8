#include "container/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec/options.h"
#include "util/cleanup.h"

static const char *const sections[] = { "Container", "Files", "Network", "Resources", "Security", NULL };

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

struct read_ctx {
    struct conf *c;
    int line;        /* lines seen so far, to number entries */
    const char *text;
};

static int line_of(const char *text, const char *section, const char *name, const char *value, int from)
{
    /* inih does not pass line numbers to handlers in Debian's build: find
     * the line of this key at or after the previous one. */
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *eol = strchrnul(p, '\n');
        if (line > from) {
            const char *q = p;
            while (*q == ' ' || *q == '\t')
                q++;
            size_t nlen = strlen(name);
            if ((size_t)(eol - q) >= nlen && strncmp(q, name, nlen) == 0) {
                const char *r = q + nlen;
                while (*r == ' ' || *r == '\t')
                    r++;
                if (*r == '=' || *r == ':')
                    return line;
            }
        }
        p = *eol ? eol + 1 : eol;
    }
    return from + 1;
}

static int read_handler(void *user, const char *section, const char *name, const char *value)
{
    struct read_ctx *rc = user;
    int line = line_of(rc->text, section, name, value, rc->line);
    rc->line = line;
    return conf_add(rc->c, section, name, value, line) == 0;
}

static int unknown_section(const char *path, int line, const char *section, ab_error *err)
{
    return ab_error_set(err, AB_ERR_RUNTIME, 0,
                        "%s:%d: unknown section [%s] (allowed: [Container], [Files], [Network], [Security])", path,
                        line, section);
}

/* inih calls the handler only for Key=Value lines, so an empty section
 * such as a stray "[Nope]" would pass unseen: check every header line as
 * inih reads it (leading blanks skipped, the name up to the first ']'). */
static int check_sections(const char *path, const char *text, ab_error *err)
{
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *eol = strchrnul(p, '\n');
        const char *q = p;
        if (line == 1 && strncmp(q, "\xEF\xBB\xBF", 3) == 0)
            q += 3; /* a UTF-8 BOM, which inih skips */
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        const char *close = q < eol && *q == '[' ? memchr(q, ']', (size_t)(eol - q)) : NULL;
        if (close) {
            _cleanup_free_ char *name = strndup(q + 1, (size_t)(close - q - 1));
            if (!name)
                return ab_fail(err, ENOMEM, "cannot parse %s", path);
            bool known = false;
            for (size_t s = 0; sections[s]; s++)
                known |= strcmp(sections[s], name) == 0;
            if (!known)
                return unknown_section(path, line, name, err);
        }
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

int conf_read(const char *path, struct conf *c, ab_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ab_fail(err, errno, "cannot read %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return ab_fail(err, EINVAL, "cannot read %s: not a regular file", path);
    if (st.st_size > (1 << 20))
        return ab_fail(err, EFBIG, "cannot read %s", path);
    _cleanup_free_ char *text = calloc(1, (size_t)st.st_size + 1);
    if (!text)
        return ab_fail(err, ENOMEM, "cannot read %s", path);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    text[got] = '\0';
    if (strlen(text) != got)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: contains a NUL byte (not a text file)", path);

    /* ';' is common in commands (Run=sh -c 'a; b'): no inline comments,
     * and no continuation lines, so every line is what it looks like. */
    ini_allow_inline_comments = false;
    ini_allow_multiline = false;
    struct read_ctx rc = { .c = c, .line = 0, .text = text };
    int r = ini_parse_string(text, read_handler, &rc);
    if (r > 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s:%d: not a [Section] or Key=Value line", path, r);
    if (r < 0)
        return ab_fail(err, ENOMEM, "cannot parse %s", path);
    if ((r = check_sections(path, text, err)) < 0)
        return r;
    if (c->n == 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: empty: no settings (see appbox.conf(5))", path);
    return 0;
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

int conf_to_container(const struct conf *c, const char *path, struct container_conf *cc, ab_error *err)
{
    memset(cc, 0, sizeof(*cc));
    spec_init(&cc->spec);
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
        if (!repeatable)
            for (size_t j = 0; j < i; j++)
                if (strcmp(c->e[j].section, e->section) == 0 && strcmp(c->e[j].key, e->key) == 0)
                    return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: given twice (also on line %d); it takes one value",
                                        where, c->e[j].line);

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

int conf_write(const char *path, const struct conf *c, const char *header, ab_error *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, getpid()) < 0)
        return ab_fail(err, ENOMEM, "cannot write %s", path);
    _cleanup_fclose_ FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return ab_fail(err, errno, "cannot write %s", tmp);
    }
    for (size_t i = 0; i < c->n; i++)
        if (strpbrk(c->e[i].value, "\n\r")) {
            unlink(tmp);
            return ab_error_set(err, AB_ERR_USAGE, 0, "[%s] %s: a value may not contain a line break", c->e[i].section,
                                c->e[i].key);
        }
    if (header)
        fputs(header, f);
    for (size_t s = 0; sections[s]; s++) {
        bool any = false;
        for (size_t i = 0; i < c->n; i++) {
            if (strcmp(c->e[i].section, sections[s]) != 0)
                continue;
            if (!any)
                fprintf(f, "%s[%s]\n", s && header ? "\n" : (s ? "\n" : ""), sections[s]);
            any = true;
            fprintf(f, "%s=%s\n", c->e[i].key, c->e[i].value);
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", tmp);
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
