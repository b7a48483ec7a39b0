/* SPDX-License-Identifier: MIT */
/*
 * Secret files the service user cannot read. The units run as postgres,
 * but an operator's POSTGRESQL_PASSWORD_FILE may be root-only. The units'
 * `ExecStartPre=+... --stage-secrets` (the one step that runs as root)
 * copies each *_FILE secret into $RUNTIME_DIRECTORY/secrets/ (tmpfs, 0700,
 * files 0600, owned by the service user, gone when the unit stops); the
 * loader falls back to that copy when the original is not readable. The
 * TLS key (POSTGRESQL_TLS_KEY_FILE) is copied the same way, and its copy is
 * the one PostgreSQL and libpq read whenever it exists (config-tls.c).
 */
#pragma once

/* Stage every *_FILE secret named in envp. Must run as root. It is the whole --stage-secrets step, so
 * it logs what it could not do; secrets_staged_path() never logs. */
int secrets_stage(char *const *envp);
/* Path of the staged copy of variable NAME_FILE, or NULL when there is none. */
char *secrets_staged_path(const char *file_var);
