/* SPDX-License-Identifier: MIT */
/*
 * The env file loader: envfile_parse() and what is built on it (the environment systemd would
 * build, quoting, in-place edits), then the configuration loaded from that environment as a unit
 * loads it. Properties: every name in the environment has the value envfile_get() gives; a value
 * quoted with envfile_quote() reads back as itself; envfile_set() leaves a text that reads back
 * with the new value.
 */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "config.h"
#include "envfile.h"
#include "fuzz.h"
#include "macro.h"

static char empty_conf[] = "/tmp/pgrepl-fuzz-empty-XXXXXX.conf";

static void remove_empty_conf(void) {
        (void) unlink(empty_conf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        int fd = mkstemps(empty_conf, 5);

        if (fd < 0)
                abort();
        close(fd);
        atexit(remove_empty_conf);
        fuzz_quiet();
        return 0;
}

static void check_quote(const char *value) {
        _cleanup_free_ char *q = envfile_quote(value), *line = NULL;
        EnvFile g = {};

        fuzz_assert(q);
        fuzz_assert(asprintf(&line, "K=%s\n", q) >= 0);
        fuzz_assert(envfile_parse(line, &g, NULL) == 0);
        fuzz_assert(envfile_get(&g, "K") && streq(envfile_get(&g, "K"), value));
        envfile_done(&g);
}

static void load_config(const EnvFile *f, char **envp, Role role) {
        _cleanup_free_ char **keep = NULL;
        size_t n = 0, k = 0;
        Config *c = NULL;

        /* *_FILE names read other files, and partner entries are resolved (DNS): left out. */
        while (envp[n])
                n++;
        keep = calloc(n + 1, sizeof(char *));
        fuzz_assert(keep);
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(envp[i], '=');

                if (eq && eq - envp[i] >= 5 && strncmp(eq - 5, "_FILE", 5) == 0)
                        continue;
                if (strstr(envp[i], "PARTNER"))
                        continue;
                keep[k++] = envp[i];
        }
        if (config_load(role, "fuzz", empty_conf, keep, &c) == 0)
                config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        _cleanup_strv_free_ char **envp = NULL;
        EnvFile f = {};
        unsigned bad = 0;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);
        if (envfile_parse(text, &f, &bad) < 0)
                return 0;

        fuzz_assert(envfile_envp(&f, NULL, &envp) == 0);
        for (char **e = envp; *e; e++) {
                _cleanup_free_ char *key = strndup(*e, strcspn(*e, "="));

                fuzz_assert(key && envfile_name_valid(key));
                fuzz_assert(envfile_get(&f, key) && streq(envfile_get(&f, key), *e + strlen(key) + 1));
        }
        for (size_t i = 0; i < f.n && i < 4; i++)
                check_quote(f.entries[i].value);
        load_config(&f, envp, size > 0 && data[0] & 1 ? ROLE_STANDBY : ROLE_PRIMARY);

        if (f.n > 0) {
                _cleanup_free_ char *value = strdup(f.entries[f.n - 1].value);

                fuzz_assert(value);
                if (envfile_set(&f, "PGREPL_FUZZ", value) == 0) {
                        EnvFile g = {};

                        fuzz_assert(envfile_parse(f.text, &g, NULL) == 0);
                        fuzz_assert(streq(envfile_get(&g, "PGREPL_FUZZ"), value));
                        envfile_done(&g);
                }
        }
        envfile_done(&f);
        return 0;
}
