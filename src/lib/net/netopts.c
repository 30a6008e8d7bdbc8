#include "net/netopts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

static int set_str(char **slot, const char *value, size_t len)
{
    char *c = value ? strndup(value, len) : NULL;
    if (value && !c)
        return -ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

bool net_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 32 || !isalnum((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!(islower(ch) || isdigit(ch) || ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

bool net_iface_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]) || !isprint((unsigned char)name[i]))
            return false;
    return true;
}

#define MODES "none (off), host (on), nat[:NAME], macvlan[:IFACE] (separate[:IFACE]) or proxy"

int net_parse_mode(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct spec_network *n = &s->container.network;
    const char *colon = strchr(value, ':');
    size_t kind_len = colon ? (size_t)(colon - value) : strlen(value);
    const char *arg = colon ? colon + 1 : NULL;
#define IS(word) (kind_len == strlen(word) && strncmp(value, word, kind_len) == 0)
    enum net_mode m;
    if (IS("none") || IS("off"))
        m = NET_NONE;
    else if (IS("host") || IS("on"))
        m = NET_HOST;
    else if (IS("nat"))
        m = NET_NAT;
    else if (IS("macvlan") || IS("separate"))
        m = NET_MACVLAN;
    else if (IS("proxy"))
        m = NET_PROXY;
    else
        return ab_usage(err, "%s: '%s' is not a network mode (allowed: " MODES ")", flag, value);
#undef IS
    if (arg && m != NET_NAT && m != NET_MACVLAN)
        return ab_usage(err, "%s: '%s': only nat:NAME and macvlan:IFACE take a ':' part (allowed: " MODES ")",
                        flag, value);
    if (arg && m == NET_NAT && !net_name_valid(arg))
        return ab_usage(err, "%s: '%s': '%s' is not a network name (1-32 of a-z, 0-9, '_', '.', '-', starting "
                             "with a letter or digit)",
                        flag, value, arg);
    if (arg && m == NET_MACVLAN && !net_iface_valid(arg))
        return ab_usage(err, "%s: '%s': '%s' is not an interface name (1-15 characters, no '/', ':' or space)",
                        flag, value, arg);
    if (set_str(&n->name, m == NET_NAT ? arg : NULL, arg ? strlen(arg) : 0) < 0 ||
        set_str(&n->iface, m == NET_MACVLAN ? arg : NULL, arg ? strlen(arg) : 0) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    s->container.net = m;
    return 0;
}

const char *net_format_mode(const struct spec_container *c, char *buf, size_t n)
{
    const char *arg = c->net == NET_NAT ? c->network.name : c->net == NET_MACVLAN ? c->network.iface : NULL;
    snprintf(buf, n, "%s%s%s", net_mode_name(c->net), arg ? ":" : "", arg ? arg : "");
    return buf;
}

static int parse_port(const char *flag, const char *value, const char *text, size_t len, uint16_t *out,
                      ab_error *err)
{
    char tmp[8];
    if (len == 0 || len >= sizeof(tmp))
        goto bad;
    memcpy(tmp, text, len);
    tmp[len] = 0;
    char *end;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)tmp[i]))
            goto bad;
    unsigned long v = strtoul(tmp, &end, 10);
    if (*end || v == 0 || v > 65535)
        goto bad;
    *out = (uint16_t)v;
    return 0;
bad:
    return ab_usage(err, "%s: '%s': '%.*s' is not a port (1-65535)", flag, value, (int)len, text);
}

static int parse_addr(const char *flag, const char *value, const char *text, size_t len, struct in_addr *out,
                      ab_error *err)
{
    char tmp[INET_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(tmp))
        goto bad;
    memcpy(tmp, text, len);
    tmp[len] = 0;
    if (inet_pton(AF_INET, tmp, out) == 1)
        return 0;
bad:
    return ab_usage(err, "%s: '%s': '%.*s' is not an IPv4 address", flag, value, (int)len, text);
}

int net_parse_cidr(const char *flag, const char *value, bool prefix_optional, struct in_addr *addr, int *prefix,
                   ab_error *err)
{
    const char *slash = strchr(value, '/');
    int r = parse_addr(flag, value, value, slash ? (size_t)(slash - value) : strlen(value), addr, err);
    if (r < 0)
        return r;
    if (!slash) {
        if (!prefix_optional)
            return ab_usage(err, "%s: '%s' has no prefix length (expected A.B.C.D/N, e.g. 10.89.0.0/24)", flag,
                            value);
        *prefix = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long p = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end || errno || p < 8 || p > 30)
        return ab_usage(err, "%s: '%s': '%s' is not a prefix length (8-30)", flag, value, slash + 1);
    *prefix = (int)p;
    return 0;
}

int net_parse_publish(const char *flag, const char *value, struct net_port *out, ab_error *err)
{
    struct net_port p = { .proto = IPPROTO_TCP, .host_ip = { htonl(INADDR_ANY) } };
    const char *end = value + strlen(value);
    const char *slash = strchr(value, '/');
    if (slash) {
        if (strcmp(slash + 1, "tcp") == 0)
            p.proto = IPPROTO_TCP;
        else if (strcmp(slash + 1, "udp") == 0)
            p.proto = IPPROTO_UDP;
        else
            return ab_usage(err, "%s: '%s': '%s' is not a protocol (allowed: tcp, udp)", flag, value, slash + 1);
        end = slash;
    }
    /* split on ':' into 2 or 3 parts */
    const char *parts[3];
    size_t lens[3], n = 0;
    for (const char *q = value;;) {
        const char *c = memchr(q, ':', (size_t)(end - q));
        if (n == 3)
            goto bad;
        parts[n] = q;
        lens[n++] = c ? (size_t)(c - q) : (size_t)(end - q);
        if (!c)
            break;
        q = c + 1;
    }
    if (n < 2)
        goto bad;
    int r;
    if (n == 3 && (r = parse_addr(flag, value, parts[0], lens[0], &p.host_ip, err)) < 0)
        return r;
    if ((r = parse_port(flag, value, parts[n - 2], lens[n - 2], &p.host_port, err)) < 0 ||
        (r = parse_port(flag, value, parts[n - 1], lens[n - 1], &p.port, err)) < 0)
        return r;
    *out = p;
    return 0;
bad:
    return ab_usage(err, "%s: '%s' is not a port to publish (expected [IP:]HOSTPORT:PORT[/tcp|udp], e.g. 8080:80)",
                    flag, value);
}

void net_format_publish(const struct net_port *p, char *buf, size_t n)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
    snprintf(buf, n, "%s:%u:%u/%s", ip, p->host_port, p->port, p->proto == IPPROTO_UDP ? "udp" : "tcp");
}

int net_parse_link(const char *flag, const char *value, struct net_link *out, ab_error *err)
{
    struct net_link l = { 0 };
    const char *c1 = strchr(value, ':');
    if (!c1)
        return ab_usage(err, "%s: '%s' is not a link (expected OTHER:PORT[:LOCALPORT], e.g. db:5432)", flag, value);
    size_t name_len = (size_t)(c1 - value);
    if (name_len >= sizeof(l.other))
        name_len = sizeof(l.other) - 1;
    memcpy(l.other, value, name_len);
    l.other[name_len] = 0;
    if ((size_t)(c1 - value) != name_len || !*l.other)
        return ab_usage(err, "%s: '%s': the container's name is empty or too long", flag, value);
    const char *c2 = strchr(c1 + 1, ':');
    int r = parse_port(flag, value, c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), &l.port, err);
    if (r < 0)
        return r;
    l.local_port = l.port;
    if (c2 && (r = parse_port(flag, value, c2 + 1, strlen(c2 + 1), &l.local_port, err)) < 0)
        return r;
    *out = l;
    return 0;
}

void net_format_link(const struct net_link *l, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%u:%u", l->other, l->port, l->local_port);
}

/* A DNS name: labels of 1-63 of [a-z0-9-_], not starting or ending with
 * '-', 253 bytes at most. */
static bool dns_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = s[i];
        if (ch == '.' || ch == 0) {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_') || (label == 0 && ch == '-'))
            return false;
        label++;
    }
    return true;
}

int net_parse_allow(const char *flag, const char *value, struct net_allow *out, ab_error *err)
{
    struct net_allow a = { 0 };
    const char *host = value;
    const char *colon = strrchr(value, ':');
    size_t host_len = colon ? (size_t)(colon - value) : strlen(value);
    int r;
    if (colon && (r = parse_port(flag, value, colon + 1, strlen(colon + 1), &a.port, err)) < 0)
        return r;
    if (host_len > 2 && host[0] == '*' && host[1] == '.') {
        a.wildcard = true;
        host += 2;
        host_len -= 2;
    }
    if (host_len == 0 || host_len >= sizeof(a.host))
        goto bad;
    for (size_t i = 0; i < host_len; i++)
        a.host[i] = (char)tolower((unsigned char)host[i]);
    a.host[host_len] = 0;
    if (host_len > 1 && a.host[host_len - 1] == '.') /* the root's dot: same name */
        a.host[host_len - 1] = 0;
    if (!a.wildcard && inet_pton(AF_INET, a.host, &a.addr) == 1) {
        a.is_addr = true;
    } else {
        bool digits_and_dots = strspn(a.host, "0123456789.") == strlen(a.host);
        if (digits_and_dots || !dns_name_valid(a.host))
            goto bad;
    }
    *out = a;
    return 0;
bad:
    return ab_usage(err, "%s: '%s' is not a destination to allow (expected HOST[:PORT]: a name such as "
                         "example.org, *.example.org for the names below it, or an IPv4 address)",
                    flag, value);
}

void net_format_allow(const struct net_allow *a, char *buf, size_t n)
{
    if (a->port)
        snprintf(buf, n, "%s%s:%u", a->wildcard ? "*." : "", a->host, a->port);
    else
        snprintf(buf, n, "%s%s", a->wildcard ? "*." : "", a->host);
}

bool net_allow_matches_name(const struct net_allow *a, const char *name, uint16_t port)
{
    if (a->is_addr || (port && a->port && a->port != port))
        return false;
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    size_t h = strlen(a->host);
    if (!a->wildcard)
        return n == h && strncasecmp(name, a->host, n) == 0;
    /* *.example.org: a.example.org and a.b.example.org, not example.org */
    return n > h + 1 && name[n - h - 1] == '.' && strncasecmp(name + n - h, a->host, h) == 0;
}

int net_validate(const struct spec_container *c, ab_error *err)
{
    const struct spec_network *n = &c->network;
    const char *mode = net_mode_name(c->net);
    if (n->publish.n && c->net == NET_HOST)
        return ab_usage(err, "--publish (Publish=) needs a network of the container's own (the network is host: "
                             "its ports are the host's already)");
    if (n->links.n && c->net == NET_HOST)
        return ab_usage(err, "--link (Link=) needs a network of the container's own (the network is host: "
                             "the other container's port would land on the host's loopback)");
    if (n->allow.n && c->net != NET_PROXY)
        return ab_usage(err, "--allow (Allow=) applies to --network proxy only (the network is %s)", mode);
    if (c->net == NET_PROXY && n->allow.n == 0 && n->publish.n == 0 && n->links.n == 0)
        return ab_usage(err, "--network proxy needs at least one --allow HOST[:PORT] (Allow=): without one, "
                             "nothing may leave (use --network none for that)");
    if (n->subnet && c->net != NET_NAT)
        return ab_usage(err, "--subnet (Subnet=) applies to --network nat only (the network is %s)", mode);
    if (n->address && c->net != NET_NAT && c->net != NET_MACVLAN)
        return ab_usage(err, "--address (Address=) applies to --network nat or macvlan only (the network is %s)",
                        mode);
    if (n->allow_host_loopback && c->net != NET_NAT)
        return ab_usage(err, "--allow-host-loopback (AllowHostLoopback=) applies to --network nat only (the "
                             "network is %s)",
                        mode);
    /* one host port, one listener */
    for (size_t i = 0; i < n->publish.n; i++)
        for (size_t j = 0; j < i; j++) {
            struct net_port a, b;
            ab_error e;
            if (net_parse_publish("", n->publish.v[i], &a, &e) == 0 &&
                net_parse_publish("", n->publish.v[j], &b, &e) == 0 && a.proto == b.proto &&
                a.host_port == b.host_port)
                return ab_usage(err, "--publish: host port %u/%s is published twice ('%s' and '%s')", a.host_port,
                                a.proto == IPPROTO_UDP ? "udp" : "tcp", n->publish.v[j], n->publish.v[i]);
        }
    for (size_t i = 0; i < n->links.n; i++)
        for (size_t j = 0; j < i; j++) {
            struct net_link a, b;
            ab_error e;
            if (net_parse_link("", n->links.v[i], &a, &e) == 0 && net_parse_link("", n->links.v[j], &b, &e) == 0 &&
                a.local_port == b.local_port)
                return ab_usage(err, "--link: local port %u is used twice ('%s' and '%s')", a.local_port,
                                n->links.v[j], n->links.v[i]);
        }
    return 0;
}
