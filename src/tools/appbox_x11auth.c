/* appbox-x11auth: the X cookies of --display (desktop/display.c), run by
 * the runner as a helper.  Apart from appbox so that appbox does not load
 * libX11.
 *
 *   appbox-x11auth untrusted DISPLAY AUTHFILE OUT NUMBER
 *       connect to DISPLAY with the user's cookie (AUTHFILE; "" for the
 *       default), ask the SECURITY extension for an untrusted
 *       authorization, write it to OUT as the cookie of display NUMBER
 *       (family wild: any host name), report, and stay until stopped.
 *       The server gives such an authorization an id of its own (not the
 *       connection's), so closing the connection that made it does not
 *       revoke it: on SIGTERM (the runner's teardown) it is revoked
 *       explicitly, which also disconnects any client still using it; and
 *       a second connection made WITH the cookie keeps it "in use", so
 *       that if this process is killed outright the server's timer
 *       (REVOKE_AFTER seconds without any client using it) revokes it.
 *   appbox-x11auth trusted DISPLAY AUTHFILE OUT NUMBER
 *       the user's own cookie of DISPLAY, alone, to OUT as NUMBER's.
 *   appbox-x11auth cookie - - OUT NUMBER
 *       a fresh random cookie (for a nested server: its -auth file and
 *       the container's are the same file).
 *
 * Reports on fd 2: "ready" on success, else one line saying what failed;
 * then fd 2 is closed (the runner reads to end of file). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <X11/Xauth.h>
#include <X11/Xlib.h>
#include <X11/extensions/security.h>

#define COOKIE_NAME "MIT-MAGIC-COOKIE-1"
/* Seconds the server keeps an untrusted cookie no client uses: from its
 * making to our own connection with it (milliseconds, unless the machine
 * is very busy), and after this helper is killed without its SIGTERM. */
#define REVOKE_AFTER 10

static void report_done(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
}

static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* OUT holds exactly the one entry: the cookie of display NUMBER, for any
 * host name (the container has a host name of its own). */
static void write_cookie(const char *out, const char *number, const char *data, unsigned short len)
{
    Xauth a = {
        .family = FamilyWild,
        .address_length = 0,
        .address = (char *)"",
        .number_length = (unsigned short)strlen(number),
        .number = (char *)number,
        .name_length = (unsigned short)strlen(COOKIE_NAME),
        .name = (char *)COOKIE_NAME,
        .data_length = len,
        .data = (char *)data,
    };
    /* 0644: the directory it is in is 0700 and the caller's; inside, the
     * file alone is bound, for whichever user the app runs as */
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        fail("cannot write the container's cookie %s: %s", out, strerror(errno));
    if (len && XauWriteAuth(f, &a) != 1)
        fail("cannot write the container's cookie %s", out);
    if (fclose(f) != 0)
        fail("cannot write the container's cookie %s: %s", out, strerror(errno));
}

static int io_error(Display *d)
{
    (void)d;
    _exit(0); /* the server is gone: so is the cookie */
}

static Display *connect_to(const char *display, const char *authfile)
{
    if (*authfile)
        setenv("XAUTHORITY", authfile, 1);
    Display *d = XOpenDisplay(display);
    if (!d)
        fail("cannot connect to the X server %s with your cookie%s%s", display, *authfile ? " from " : "",
             authfile);
    return d;
}

static void untrusted(const char *display, const char *authfile, const char *out, const char *number)
{
    Display *d = connect_to(display, authfile);
    int major = 0, minor = 0;
    if (!XSecurityQueryExtension(d, &major, &minor))
        fail("the X server %s has no SECURITY extension, so no untrusted cookie can be made for the container "
             "(use --display private for a nested X server of its own, or --display x11-trusted to give it "
             "your own cookie)",
             display);
    Xauth *in = XSecurityAllocXauth();
    if (!in)
        fail("out of memory");
    in->name = strdup(COOKIE_NAME);
    in->name_length = (unsigned short)strlen(COOKIE_NAME);
    in->data = NULL;
    in->data_length = 0;
    XSecurityAuthorizationAttributes attrs = { .trust_level = XSecurityClientUntrusted, .timeout = REVOKE_AFTER };
    XSecurityAuthorization id;
    /* the stop signals wait for the loop below, where they revoke */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
        fail("cannot block the stop signals: %s", strerror(errno));
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sfd < 0)
        fail("cannot make a signalfd: %s", strerror(errno));
    Xauth *gen = XSecurityGenerateAuthorization(d, in, XSecurityTrustLevel | XSecurityTimeout, &attrs, &id);
    if (!gen)
        fail("the X server %s refused to make an untrusted cookie", display);
    XSync(d, False);
    /* our own use of the cookie: while it lasts, the server's timer does
     * not run */
    XSetAuthorization((char *)COOKIE_NAME, (int)strlen(COOKIE_NAME), gen->data, gen->data_length);
    Display *user = XOpenDisplay(display);
    XSetAuthorization(NULL, 0, NULL, 0);
    if (!user)
        fail("the X server %s did not accept the untrusted cookie it made for the container", display);
    write_cookie(out, number, gen->data, gen->data_length);
    XSecurityFreeXauth(gen);
    XSetIOErrorHandler(io_error);
    fputs("ready\n", stderr);
    report_done();
    struct pollfd p[] = {
        { .fd = sfd, .events = POLLIN },
        { .fd = ConnectionNumber(d), .events = POLLIN },
        { .fd = ConnectionNumber(user), .events = POLLIN },
    };
    for (;;) {
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            return;
        if (p[0].revents) {
            /* revoked now: the cookie is refused from here on, and the
             * server closes the connections still using it (ours too) */
            XSecurityRevokeAuthorization(d, id);
            XSync(d, False);
            exit(0);
        }
        while (XPending(d)) {
            XEvent ev;
            XNextEvent(d, &ev);
        }
        while (XPending(user)) {
            XEvent ev;
            XNextEvent(user, &ev);
        }
    }
}

static void trusted(const char *display, const char *authfile, const char *out, const char *number)
{
    if (*authfile)
        setenv("XAUTHORITY", authfile, 1);
    const char *colon = strrchr(display, ':');
    char num[16];
    snprintf(num, sizeof(num), "%s", colon ? colon + 1 : "0");
    num[strcspn(num, ".")] = '\0';
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    Xauth *a = XauGetBestAuthByAddr(FamilyLocal, (unsigned short)strlen(host), host, (unsigned short)strlen(num),
                                    num, 0, NULL, NULL);
    /* no cookie: a server without access control; the container gets an
     * empty file, and connects as the user's clients do */
    write_cookie(out, number, a ? a->data : NULL, a ? a->data_length : 0);
    if (a)
        XauDisposeAuth(a);
    fputs("ready\n", stderr);
    report_done();
}

static void fresh(const char *out, const char *number)
{
    char data[16];
    if (getrandom(data, sizeof(data), 0) != (ssize_t)sizeof(data))
        fail("cannot make a random cookie: %s", strerror(errno));
    write_cookie(out, number, data, sizeof(data));
    fputs("ready\n", stderr);
    report_done();
}

int main(int argc, char **argv)
{
    if (argc != 6)
        fail("usage: appbox-x11auth untrusted|trusted|cookie DISPLAY AUTHFILE OUT NUMBER");
    const char *mode = argv[1];
    if (strcmp(mode, "untrusted") == 0)
        untrusted(argv[2], argv[3], argv[4], argv[5]);
    else if (strcmp(mode, "trusted") == 0)
        trusted(argv[2], argv[3], argv[4], argv[5]);
    else if (strcmp(mode, "cookie") == 0)
        fresh(argv[4], argv[5]);
    else
        fail("appbox-x11auth: unknown mode '%s'", mode);
    return 0;
}
