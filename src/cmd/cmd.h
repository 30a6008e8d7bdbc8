/* One function per verb; each parses its own arguments and prints. */
#pragma once

int cmd_sandbox(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Print "appbox: error: MSG" and return the exit code for ERR. */
struct ab_error;
int cmd_report(const struct ab_error *err);
