/* SPDX-License-Identifier: MIT */
/*
 * Private to the config module (config.c, config-file.c, config-env.c,
 * config-check.c): the variable table and helpers that record a value with
 * its source or report a problem with one.
 */
#pragma once

#include "config.h"
#include "macro.h"

typedef enum VarType {
        T_STRING,   /* anything */
        T_NAME,     /* role or database name: 1-63 bytes */
        T_HOST,     /* host name, address, or socket directory */
        T_PORT,
        T_UINT,
        T_BOOL,
        T_ENUM,
        T_PATH,     /* absolute path */
        T_SIZE,     /* PostgreSQL memory size: -1 or N[kB|MB|GB|TB] */
        T_SLOT,     /* boolean, or a slot name */
        T_APPNAMES, /* application names, comma separated */
        T_LIBS,     /* shared_preload_libraries list */
        T_PARTNERS, /* host[:port] list (partners.h) */
} VarType;

typedef struct VarInfo {
        const char *suffix;
        const char *alias;
        VarType type;
        const char *def;
        const char *const *choices; /* T_ENUM: canonical spellings */
        unsigned max;               /* T_UINT */
        bool secret;
        const char *guc;            /* a plain postgresql.conf parameter: rendered as is when set */
} VarInfo;

extern const VarInfo config_vars[_VAR_MAX];
extern const char *const config_owned_settings[];

int config_set_value(Config *c, VarId id, const char *value, const char *source);
void config_problem(const Config *c, VarId id, const char *allowed);
/* Lower-case libconfig key of a variable ("port_number"). */
void config_var_key(VarId id, char *buf, size_t n);
/* Closest known variable name to an unknown one, or NULL. */
const char *config_closest(const char *name, bool as_key);

int config_load_file(Config *c, const char *path, bool explicit_path);
int config_load_env(Config *c, char *const *envp);
int config_check(Config *c);
/* POSTGRESQL_ENABLE_TLS and its files (config-tls.c); sets c->tls and c->tls_key. */
int config_check_tls(Config *c);
/* Rules of the image's plain settings that span variables or look at the host (config-image.c). */
int config_check_image(Config *c);
/* "must be one of a, b, c" for a T_ENUM variable. */
const char *config_enum_allowed(VarId id);
