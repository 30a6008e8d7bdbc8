/* Sound: the container's programs play through the host's sound server.
 *
 *   pulseaudio  the PulseAudio protocol (a PulseAudio server, or PipeWire's
 *               pulse server): appbox's proxy (pulse_proxy.h) listens on a
 *               socket of its own, in a directory bound read-only at
 *               SOUND_DIR_INSIDE; PULSE_SERVER names it.  The host's socket,
 *               runtime directory and cookie stay outside.  Playback only
 *               unless --microphone yes.
 *   pipewire    PipeWire's native socket bound at SOUND_DIR_INSIDE/pipewire-0
 *               (PIPEWIRE_RUNTIME_DIR, PIPEWIRE_REMOTE).  PipeWire's native
 *               protocol lets every client record (only a portal's
 *               permission store restricts it), so it needs --microphone yes.
 *   alsa        the /dev/snd device nodes; with --microphone no, not the
 *               capture PCMs (pcmC*D*c).
 *   host        (--sound alone) the host's server: the pulse socket where
 *               there is one (PulseAudio's, or PipeWire's pulse), else
 *               PipeWire's native socket.
 *
 * sound_resolve() runs at start, next to spec_resolve(): it finds the
 * server, makes the mode concrete, and adds the bind (or device nodes) and
 * the environment to the spec, so that spec.json gives every session the
 * same (exec, run, launchers).  The module starts the proxy (prepare: a
 * runner helper, dead with the runner) and removes its socket (teardown). */
#pragma once

#include "context.h"
#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/error.h"

#define SOUND_DIR_INSIDE "/run/appbox/sound"

/* Resolve S's sound (nothing for none, or a resolved spec).  NAME: the
 * named container (its runtime dir keeps the proxy's socket), or NULL for a
 * throwaway sandbox.  Errors say which server is missing where. */
int sound_resolve(struct spec *s, struct ab_ctx *ctx, const char *name, ab_error *err);

extern const struct module sound_module;
