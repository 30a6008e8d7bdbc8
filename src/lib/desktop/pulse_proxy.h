/* appbox's PulseAudio proxy: what the container's sound clients talk to
 * instead of the host's server (PulseAudio, or PipeWire's pulse server).
 *
 * A socket of the host's server gives a client the whole server: load a
 * module (module-ladspa-sink loads a shared object from a path: code run by
 * the user's server, outside the container), record any source, move or
 * kill other programs' streams.  The server has no per-socket permission to
 * say "playback only", so the proxy reads the native protocol's control
 * packets and passes on only the commands a player needs (see the table in
 * pulse_proxy.c); anything else is answered with "access denied" without
 * reaching the server.  Record streams pass only with --microphone yes.
 *
 * The proxy also turns off shared memory (the SHM and memfd bits of the
 * AUTH packet's version are cleared, so the server sends every sample
 * through the socket and never an fd), and authenticates itself: it sends
 * its own credentials with AUTH (the server accepts its own user) and puts
 * the host's cookie into the packet, so the container never holds the
 * cookie. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PULSE_COOKIE_LENGTH 256

/* Serve LISTENFD until killed: each connection gets a process of its own
 * (dies with the proxy) that connects to the server's socket SOCKNAME in
 * the directory SERVERDIR (an O_PATH fd, so the path is never looked up
 * again from the top) and relays filtered packets.  COOKIE is NULL or
 * PULSE_COOKIE_LENGTH bytes.  Does not return. */
_Noreturn void pulse_proxy_run(int listenfd, int serverdir, const char *sockname, const uint8_t *cookie,
                               bool microphone);

/* Whether a client command may pass (exposed for the unit test): 1 yes,
 * 0 refused, 2 only for a sink input the connection made itself. */
int pulse_proxy_command_allowed(uint32_t command, bool microphone);
