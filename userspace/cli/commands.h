/* The CLI's subcommands: each cmd_X.c implements one, main.c dispatches. */
#ifndef BPFMIRROR_COMMANDS_H
#define BPFMIRROR_COMMANDS_H

/* Each returns the process exit status (0 success, 1 failure, 2 usage). */
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_verify_config(int argc, char **argv);
int cmd_tap(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_resolve(int argc, char **argv);

#endif
