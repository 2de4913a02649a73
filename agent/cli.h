/*
 * cli.h - the file-level subcommands (kyso sign, kyso verify) and the small
 * I/O helpers they share.  main() dispatches; each returns an exit code.
 */
#ifndef KYSO_AGENT_CLI_H
#define KYSO_AGENT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "smime/base.h"

int cli_sign(int argc, char **argv);
int cli_verify(int argc, char **argv);

/* Read a whole file ("-" or NULL: stdin) into b, refusing more than max bytes. */
bool cli_read_all(const char *path, size_t max, struct buf *b, struct kerr *err);
/* Write bytes to path atomically (temp file, fsync, rename, fsync the folder);
 * "-" or NULL: stdout. */
bool cli_write_all(const char *path, const char *data, size_t len, struct kerr *err);

#endif
