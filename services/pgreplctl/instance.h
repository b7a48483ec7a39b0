/* SPDX-License-Identifier: MIT */
/*
 * The local instances: NAME for each CONFDIR/NAME.env (/etc/pgrepl), read as systemd reads the
 * unit's EnvironmentFile= and loaded with the units' own loader, for the role the file's
 * POSTGRESQL_REPLICATION_MODE gives; and the edits the commands make to those files.
 */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "envfile.h"

typedef struct Instance {
        char *name;
        char *path;              /* CONFDIR/NAME.env */
        EnvFile env;
        Role role;               /* the unit the file is for: ROLE_PRIMARY or ROLE_STANDBY */
        Config *config;
        bool secrets_unreadable; /* a *_PASSWORD_FILE this user cannot read was stood in for */
} Instance;

/* $PGREPL_CONFDIR (for tests), else the configured directory. */
const char *instance_confdir(void);
/* The names of the local instances, sorted; an empty list when there are none. */
int instance_list(char ***ret);
/* The role an env file's mode gives: master/primary → ROLE_PRIMARY, slave/standby → ROLE_STANDBY;
 * unset: a standby when it names a master host, else a primary. */
Role instance_role(const EnvFile *env);

/*
 * Read NAME's env file and load its configuration as its unit would. reading (status): a secret
 * file this user may not read is stood in for, so that whoever may read the env file sees the
 * rest. Logs what is wrong; -ENOENT (no such instance), -EACCES, -PGREPL_E_CONFIG, -ENOMEM.
 */
int instance_load(const char *name, const char *config_file, bool reading, Instance *ret);
void instance_done(Instance *i);

/*
 * Set names to values (NULL-terminated lists) in the env file, every other byte kept; check that
 * the unit for role accepts the result, then write it atomically with its mode and owner, and load
 * it into i (i->role becomes role). Nothing is written when a check fails, nor with dry_run (the
 * checks only). Logs.
 */
int instance_edit(Instance *i, Role role, const char *config_file, const char *const *names,
                  const char *const *values, bool dry_run);
