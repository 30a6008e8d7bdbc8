/* appbox-oci: the OCI runtime command line (runc and crun compatible),
 * the same binary as appbox, chosen by the name it is run as (main.c). */
#pragma once

int oci_main(int argc, char **argv);
