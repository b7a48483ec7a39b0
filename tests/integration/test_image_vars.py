# SPDX-License-Identifier: MIT
"""Every variable of the image's environment (its README's table) is either
implemented, with its effect visible on the running server, or refused with
exit status 78 and one line that says pgrepl does not support it, under
--check and at a real start. None is ignored."""

import os
from pathlib import Path

import pytest

from pgrepl_testlib import PGUSER

# The image's variables (bitnami/postgresql README, "Customizable environment variables").
IMAGE_VARS = """
VOLUME_DIR DATA_DIR EXTRA_FLAGS INIT_MAX_TIMEOUT PGCTLTIMEOUT SHUTDOWN_MODE CLUSTER_APP_NAME DATABASE
INITDB_ARGS INITDB_WAL_DIR MASTER_HOST MASTER_PORT_NUMBER NUM_SYNCHRONOUS_REPLICAS SYNCHRONOUS_REPLICAS_MODE
PORT_NUMBER ALLOW_REMOTE_CONNECTIONS REPLICATION_MODE REPLICATION_USER REPLICATION_USE_PASSFILE
REPLICATION_PASSFILE_PATH SR_CHECK SR_CHECK_USERNAME SR_CHECK_DATABASE SYNCHRONOUS_COMMIT_MODE FSYNC USERNAME
ENABLE_LDAP LDAP_URL LDAP_PREFIX LDAP_SUFFIX LDAP_SERVER LDAP_PORT LDAP_SCHEME LDAP_TLS LDAP_BASE_DN LDAP_BIND_DN
LDAP_BIND_PASSWORD LDAP_SEARCH_ATTR LDAP_SEARCH_FILTER INITSCRIPTS_USERNAME PASSWORD POSTGRES_PASSWORD
REPLICATION_PASSWORD SR_CHECK_PASSWORD INITSCRIPTS_PASSWORD ENABLE_TLS TLS_CERT_FILE TLS_KEY_FILE TLS_CA_FILE
TLS_CRL_FILE TLS_PREFER_SERVER_CIPHERS SHARED_PRELOAD_LIBRARIES PGAUDIT_LOG PGAUDIT_LOG_CATALOG
PGAUDIT_LOG_PARAMETER LOG_CONNECTIONS LOG_DISCONNECTIONS LOG_HOSTNAME CLIENT_MIN_MESSAGES LOG_LINE_PREFIX
LOG_TIMEZONE TIMEZONE MAX_CONNECTIONS TCP_KEEPALIVES_IDLE TCP_KEEPALIVES_INTERVAL TCP_KEEPALIVES_COUNT
STATEMENT_TIMEOUT PGHBA_REMOVE_FILTERS USERNAME_CONNECTION_LIMIT POSTGRES_CONNECTION_LIMIT WAL_LEVEL
DEFAULT_TOAST_COMPRESSION PASSWORD_ENCRYPTION DEFAULT_TRANSACTION_ISOLATION REPLICATION_NODES PERFORM_RESTORE
AUTOCTL_CONF_DIR AUTOCTL_MODE AUTOCTL_MONITOR_HOST AUTOCTL_HOSTNAME
""".split()

REFUSED = """
VOLUME_DIR PGCTLTIMEOUT SR_CHECK SR_CHECK_USERNAME SR_CHECK_DATABASE SR_CHECK_PASSWORD REPLICATION_NODES PERFORM_RESTORE AUTOCTL_CONF_DIR AUTOCTL_MODE AUTOCTL_MONITOR_HOST
AUTOCTL_HOSTNAME
""".split()

# Implemented plain settings: the value set, and what SHOW says on the running server.
SHOWN = {
    "TIMEZONE": ("Europe/Berlin", "timezone", "Europe/Berlin"),
    "LOG_TIMEZONE": ("Asia/Tokyo", "log_timezone", "Asia/Tokyo"),
    "LOG_LINE_PREFIX": ("%m [%p] pgrepl-it: ", "log_line_prefix", "%m [%p] pgrepl-it:"),
    "LOG_CONNECTIONS": ("true", "log_connections", "on"),
    "LOG_DISCONNECTIONS": ("yes", "log_disconnections", "on"),
    "LOG_HOSTNAME": ("on", "log_hostname", "on"),
    "CLIENT_MIN_MESSAGES": ("warning", "client_min_messages", "warning"),
    "TCP_KEEPALIVES_IDLE": ("61", "tcp_keepalives_idle", "61"),
    "TCP_KEEPALIVES_INTERVAL": ("7", "tcp_keepalives_interval", "7"),
    "TCP_KEEPALIVES_COUNT": ("4", "tcp_keepalives_count", "4"),
    "STATEMENT_TIMEOUT": ("30s", "statement_timeout", "30s"),
    "DEFAULT_TOAST_COMPRESSION": ("lz4", "default_toast_compression", "lz4"),
    "DEFAULT_TRANSACTION_ISOLATION": ("repeatable read", "default_transaction_isolation", "repeatable read"),
    "SHARED_PRELOAD_LIBRARIES": ("pgaudit", "shared_preload_libraries", "pgaudit"),
    "PGAUDIT_LOG": ("ddl,role", "pgaudit.log", "ddl,role"),
    "PGAUDIT_LOG_CATALOG": ("off", "pgaudit.log_catalog", "off"),
    "PGAUDIT_LOG_PARAMETER": ("yes", "pgaudit.log_parameter", "on"),
}


def errors(r):
    return [l for l in r.stderr.splitlines() if l.startswith("<3>")]


def test_the_lists_cover_the_image():
    # The README's table: the 77 of the image's own scripts and pg_auto_failover's 4 (ALLOW_EMPTY_PASSWORD,
    # without the prefix, is left out here).
    assert len(IMAGE_VARS) == len(set(IMAGE_VARS)) == 80
    assert set(REFUSED) <= set(IMAGE_VARS) and set(SHOWN) <= set(IMAGE_VARS)


@pytest.mark.parametrize("name", REFUSED)
def test_unsupported_variable_is_refused_with_one_line(cluster, name):
    var = f"POSTGRESQL_{name}"
    p = cluster.primary(env={var: "yes"})
    r = p.run_once(["--check"])
    assert r.returncode == 78, r.stderr
    assert len(errors(r)) == 1 and errors(r)[0].startswith(f"<3>{var} (from environment): pgrepl does not "
                                                            "support this variable of the image"), r.stderr
    assert "Unknown variable" not in r.stderr


def test_unsupported_variable_stops_a_real_start_and_touches_nothing(cluster):
    p = cluster.primary(env={"POSTGRESQL_SR_CHECK": "yes"})
    p.start()
    assert p.proc.wait(60) == 78
    assert "POSTGRESQL_SR_CHECK (from environment): pgrepl does not support" in p.output()
    assert not p.datadir.exists()


def test_every_implemented_variable_is_known(cluster):
    """Set to a valid value, no implemented variable draws an "Unknown variable" warning."""
    env = {f"POSTGRESQL_{k}": v for k, (v, _, _) in SHOWN.items()}
    env.update({"POSTGRESQL_SHUTDOWN_MODE": "fast", "POSTGRESQL_PGHBA_REMOVE_FILTERS": "::1",
                "POSTGRESQL_ENABLE_TLS": "no", "POSTGRESQL_ENABLE_LDAP": "no", "POSTGRESQL_SR_CHECK": "no",
                "POSTGRESQL_INITSCRIPTS_USERNAME": "postgres", "POSTGRESQL_USERNAME_CONNECTION_LIMIT": "5",
                "POSTGRESQL_PERFORM_RESTORE": "no"})
    implemented = set(IMAGE_VARS) - set(REFUSED)
    r = cluster.primary(env=env).run_once(["--check"])
    assert r.returncode == 0, r.stderr
    assert "Unknown variable" not in r.stderr
    for name in implemented:
        assert f"POSTGRESQL_{name}=" in r.stdout or name == "ALLOW_EMPTY_PASSWORD", name


def test_plain_settings_take_effect_on_the_server(cluster):
    env = {f"POSTGRESQL_{k}": v for k, (v, _, _) in SHOWN.items()}
    env["POSTGRESQL_PGHBA_REMOVE_FILTERS"] = "::1, 0.0.0.0/0"
    p = cluster.primary(env=env)
    p.start()
    p.wait_ready()
    for name, (_, guc, shown) in SHOWN.items():
        # Keepalives apply to TCP connections only (a socket shows 0).
        tcp = {"host": "127.0.0.1", "password": "secret-pw"} if name.startswith("TCP_") else {}
        assert p.psql(f'show "{guc}"', **tcp) == shown, name
    hba = (p.datadir / "pg_hba.conf").read_text()
    assert "::1/128" not in hba and "0.0.0.0/0" not in hba and "127.0.0.1/32" in hba and "::/0" in hba
    assert "local   all          postgres" in hba


def test_connection_limits_are_set_on_the_roles(cluster):
    p = cluster.primary(env={"POSTGRESQL_USERNAME": "app", "POSTGRESQL_DATABASE": "appdb",
                             "POSTGRESQL_USERNAME_CONNECTION_LIMIT": "5",
                             "POSTGRESQL_POSTGRES_CONNECTION_LIMIT": "7"})
    p.start()
    p.wait_ready()
    assert p.psql("select rolname || '=' || rolconnlimit from pg_roles where rolname in ('app', 'postgres') "
                  "order by 1").splitlines() == ["app=5", "postgres=7"]
    # A change is applied at the next start.
    p.stop()
    p.env["POSTGRESQL_USERNAME_CONNECTION_LIMIT"] = "9"
    p.start()
    p.wait_ready()
    assert p.psql("select rolconnlimit from pg_roles where rolname = 'app'") == "9"


def test_ldap_as_the_image_lays_out_pg_hba(cluster):
    env = {"POSTGRESQL_ENABLE_LDAP": "yes", "POSTGRESQL_LDAP_SERVER": "127.0.0.1", "POSTGRESQL_LDAP_PORT": "1",
           "POSTGRESQL_LDAP_BASE_DN": "dc=example, dc=org", "POSTGRESQL_LDAP_BIND_DN": "cn=reader, dc=example, dc=org",
           "POSTGRESQL_LDAP_SEARCH_ATTR": "uid", "POSTGRESQL_USERNAME": "app", "POSTGRESQL_POSTGRES_PASSWORD": "su-pw"}
    p = cluster.primary(env=env)
    p.start()
    p.wait_ready()
    rules = p.psql("select type || ' ' || array_to_string(user_name, ',') || ' ' || coalesce(address, '') || ' ' "
                   "|| auth_method from pg_hba_file_rules where array_to_string(database, ',') = 'all' "
                   "and type = 'host' order by line_number").splitlines()
    assert rules[:2] == ["host postgres 127.0.0.1 scram-sha-256", "host postgres ::1 scram-sha-256"], rules
    assert "host all 0.0.0.0 ldap" in rules and "host all 127.0.0.1 ldap" in rules, rules
    assert p.psql("select count(*) from pg_hba_file_rules where error is not null") == "0"
    assert 'ldapbinddn="cn=reader, dc=example, dc=org"' in (p.datadir / "pg_hba.conf").read_text()
    # postgres keeps its password over TCP; everyone else asks LDAP (none answers here).
    assert p.psql("select 1", host="127.0.0.1", password="su-pw") == "1"
    r = p.psql("select 1", user="app", db="postgres", host="127.0.0.1", password="secret-pw", check=False)
    assert r.returncode != 0 and "LDAP authentication failed" in r.stderr, r.stderr


def test_ldap_bind_password_is_refused_because_postgresql_would_log_it(cluster):
    pw_file = Path(cluster.root) / "ldap-bind-pw"
    pw_file.write_text("bind-s3cret\n")
    p = cluster.primary(env={"POSTGRESQL_ENABLE_LDAP": "yes", "POSTGRESQL_LDAP_SERVER": "ldap.example",
                             "POSTGRESQL_LDAP_BIND_PASSWORD_FILE": str(pw_file)})
    os.chown(pw_file, PGUSER.pw_uid, PGUSER.pw_gid)
    pw_file.chmod(0o600)
    r = p.run_once(["--check"])
    assert r.returncode == 78 and len(errors(r)) == 1, r.stderr
    assert "POSTGRESQL_LDAP_BIND_PASSWORD (from file" in r.stderr and "into its log" in r.stderr, r.stderr
    assert "bind-s3cret" not in r.stderr + r.stdout
