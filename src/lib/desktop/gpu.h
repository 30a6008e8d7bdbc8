/* What --gpu and --webcam give a container, computed from a host root
 * path (normally "/"; a fake driver layout in a temporary directory in
 * the tests): device nodes, and for the NVIDIA driver its user-space
 * files, as nvidia-container-toolkit finds them.
 *
 * Nodes: dev/dri/renderD* (and dev/dri/card* with --gpu all), NVIDIA's
 * dev/nvidia[0-9]*, nvidiactl, nvidia-uvm, nvidia-uvm-tools and
 * nvidia-modeset; for the webcam dev/video* and everything below
 * dev/v4l.  Only character devices count.
 *
 * Libraries (only where dev/nvidiactl is there): libcuda, libnvidia-*,
 * libGLX_nvidia, libEGL_nvidia, libGLESv*_nvidia, libnvcuvid, libnvoptix
 * and libcudadebugger, found in the library directories distributions use
 * (multiarch /usr/lib/<triplet>, its nvidia/current, /usr/lib64,
 * /usr/lib/nvidia, /usr/lib64/nvidia, /usr/lib); each regular file under
 * its own name, and each ".so.N" link (the name the loader asks for) to the
 * file it names.  Files: nvidia-smi and nvidia-debugdump, the EGL, Vulkan
 * and OpenCL ICD files. */
#pragma once

#include <stdbool.h>

#include "util/error.h"
#include "util/strv.h"

struct gpu_set {
    strv nodes;       /* host paths of device nodes, under HOSTROOT, as "/dev/..." */
    strv lib_src;     /* host files (absolute, under HOSTROOT) */
    strv lib_name;    /* the name each is bound as, in the container's library directory */
    strv file_src;    /* other files: host path */
    strv file_dst;    /* and where they go (the same path inside) */
};

void gpu_set_free(struct gpu_set *g);

/* Collect into G (zeroed by the caller) what HOSTROOT offers: GPU nodes
 * (ALL: card nodes too) and NVIDIA's files when GPU; video nodes when
 * WEBCAM.  Paths in G are as seen from HOSTROOT ("/dev/dri/renderD128"),
 * sources are HOSTROOT-prefixed.  Returns 0 or a negative errno. */
int gpu_collect(const char *hostroot, bool gpu, bool all, bool webcam, struct gpu_set *g, ab_error *err);

/* The directory of ROOT (a container root directory) where its loader
 * finds libraries by name without a cache: the multiarch directory
 * (Debian, Ubuntu), else /usr/lib64 (Fedora, openSUSE), else /usr/lib. */
const char *gpu_lib_dir(const char *root);
