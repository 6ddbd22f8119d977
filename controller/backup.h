/* SPDX-License-Identifier: MIT */
/*
 * backup: the controller's operator commands on its database, run instead of the daemon
 * (`xdrop-controller --config FILE --backup OUT | --restore IN`;
 * docs/dqlite.md#backup-restore-conversion).
 *
 * - backup: a consistent copy (one read transaction: store/db_copy.h) of the database the
 *   config names, the cluster's (reached through the leader, with the cluster's TLS) or the
 *   SQLite file, written to OUT as a single-controller SQLite database, mode 0600, complete
 *   or absent (written beside OUT, then renamed over it). A backup of a cluster is therefore
 *   also its conversion into a single-controller database.
 * - restore: IN (a backup or any single-controller database, checked to be an XDrop
 *   database of a schema version this controller knows) becomes the database of a new
 *   cluster: the config must be controller 1's (cluster.id 1) with an empty cluster.dir; its
 *   node bootstraps alone, takes the copy and stops; then the controllers are started as
 *   usual (2, 3, ... join with empty directories and receive it). Without a cluster section
 *   IN becomes the SQLite file named by the config (or --database), which must not exist.
 *
 * Both print one line with the copy's revision and content hash and return 0, or log why
 * not and return -errno.
 */
#ifndef XDROP_CONTROLLER_BACKUP_H
#define XDROP_CONTROLLER_BACKUP_H

struct ctl_config;

/* database: --database (NULL: the config's); out, in: the file. */
int backup_run(const struct ctl_config *cfg, const char *database, const char *out);
int restore_run(const struct ctl_config *cfg, const char *database, const char *in);

#endif
