# SPDX-License-Identifier: MIT
"""pgrepl-primary-setup against real PostgreSQL 15, by hand (no systemd)."""

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from pgrepl_testlib import PGUSER, postmaster_cmdline, postmaster_env

NASTY = "pa'ss\\wo rd:\"ü€;$x"


def test_first_start_status_then_ready_and_roles_exist(cluster):
    p = cluster.primary(env={"POSTGRESQL_USERNAME": "my_user", "POSTGRESQL_PASSWORD": NASTY,
                             "POSTGRESQL_DATABASE": "my_database"})
    p.start()
    p.wait_ready()
    statuses = p.notify.all("STATUS")
    assert any("initializing" in s for s in statuses), statuses
    assert any("roles" in s for s in statuses), statuses
    # READY=1 comes after every STATUS= of the setup stages.
    kinds = [list(f) for f in p.notify.all()]
    assert kinds.index(["READY"]) > 0 if ["READY"] in kinds else True
    # At READY the user and database exist: log in over TCP with the nasty password.
    out = p.psql("select current_user, current_database()", user="my_user", password=NASTY,
                 db="my_database", host="127.0.0.1")
    assert out == "my_user|my_database"
    bad = p.psql("select 1", user="my_user", password=NASTY + "x", db="my_database", host="127.0.0.1",
                 check=False)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr
    # Checksums on, UTF8.
    assert p.psql("show data_checksums") == "on"
    assert p.psql("show server_encoding") == "UTF8"


def test_replication_user_can_identify_system(cluster):
    p = cluster.primary(env={"POSTGRESQL_REPLICATION_USER": "re pl\"x", "POSTGRESQL_REPLICATION_PASSWORD": NASTY})
    p.start()
    p.wait_ready()
    out = p.psql("IDENTIFY_SYSTEM", user="re pl\"x", password=NASTY, host="127.0.0.1",
                 extra="replication=true")
    assert out.split("|")[1] == "1"
    # Not a superuser, can't log in to a database as a normal session via the replication rule only.
    assert p.psql("select rolreplication from pg_roles where rolname = 're pl\"x'") == "t"


def test_restart_keeps_data_and_skips_initdb_and_roles(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    p.psql("create table t(x int); insert into t values (42)")
    assert p.stop() == 0
    before = p.output()
    p.start()
    p.wait_ready()
    after = p.output()[len(before):]
    assert "initializing" not in after
    assert "Roles and database are in line" not in after
    assert p.psql("select x from t") == "42"


def test_reload_changes_sync_names_without_restart(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    pid = p.proc.pid
    assert p.psql("show synchronous_standby_names") == ""
    r = p.run_once(["--reload"], extra_env={"POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS": "1",
                                           "POSTGRESQL_SYNCHRONOUS_REPLICAS_MODE": "any",
                                           "POSTGRESQL_CLUSTER_APP_NAME": "a,b\"c"})
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while p.psql("show synchronous_standby_names") == "" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.psql("show synchronous_standby_names") == 'ANY 1 ("a","b""c")'
    assert p.proc.pid == pid and p.proc.poll() is None


def test_bad_configuration_exits_78_and_leaves_empty_datadir_empty(cluster):
    p = cluster.primary(env={"POSTGRESQL_PORT_NUMBER": "99999"})
    p.datadir.mkdir()
    os.chown(p.datadir, PGUSER.pw_uid, PGUSER.pw_gid)
    p.start()
    assert p.proc.wait(30) == 78
    assert "POSTGRESQL_PORT_NUMBER='99999'" in p.output()
    assert list(p.datadir.iterdir()) == []


def test_no_password_reaches_argv_env_log_or_readable_files(cluster):
    p = cluster.primary(env={"POSTGRESQL_USERNAME": "u1", "POSTGRESQL_PASSWORD": "Sekr3t-One",
                             "POSTGRESQL_POSTGRES_PASSWORD": "Sekr3t-Two",
                             "POSTGRESQL_REPLICATION_PASSWORD": "Sekr3t-Three",
                             "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS": "1"})
    p.start()
    p.wait_ready()
    # Change a password later: the ALTER must not log the plaintext either.
    r = p.run_once(["--reload"], extra_env={"POSTGRESQL_PASSWORD": "Sekr3t-Four"})
    assert r.returncode == 0, r.stderr
    secrets = ["Sekr3t-One", "Sekr3t-Two", "Sekr3t-Three", "Sekr3t-Four"]
    pid = p.proc.pid
    blob = " ".join(postmaster_cmdline(pid)) + " ".join(f"{k}={v}" for k, v in postmaster_env(pid).items())
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        blob += " ".join(postmaster_cmdline(int(child)))
    blob += p.output() + r.stderr + r.stdout
    for s in secrets:
        assert s not in blob
    assert "NOTIFY_SOCKET" in postmaster_env(pid)
    assert not any(k.startswith("POSTGRESQL_") for k in postmaster_env(pid))
    for f in p.datadir.rglob("*"):
        if f.is_file() and not f.is_symlink():
            mode = f.stat().st_mode
            if mode & (stat.S_IROTH | stat.S_IRGRP):
                data = f.read_bytes()
                for s in secrets:
                    assert s.encode() not in data, f
    # The new password works.
    assert p.psql("select 1", user="u1", password="Sekr3t-Four", host="127.0.0.1") == "1"


def test_standby_data_directory_is_refused(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    p.stop()
    (p.datadir / "standby.signal").touch()
    p.start()
    assert p.proc.wait(30) == 78
    assert "standby.signal" in p.output()


def test_check_prints_sources_and_hides_secrets(cluster):
    p = cluster.primary(env={"POSTGRESQL_PASSWORD": "Visible-No"})
    r = p.run_once(["--check"])
    assert r.returncode == 0, r.stderr
    assert "Visible-No" not in r.stdout
    assert "POSTGRESQL_PASSWORD=(set)\t(environment)" in r.stdout
    assert "POSTGRESQL_MASTER_PORT_NUMBER=5432\t(default)" in r.stdout
    assert not p.datadir.exists()


BAD = [
    ({"POSTGRESQL_PORT_NUMBER": "0"}, "POSTGRESQL_PORT_NUMBER='0'"),
    ({"POSTGRESQL_REPLICATION_MODE": "slave"}, "POSTGRESQL_REPLICATION_MODE='slave'"),
    ({"POSTGRESQL_SYNCHRONOUS_COMMIT_MODE": "always"}, "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE='always'"),
    ({"POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS": "x"}, "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS='x'"),
    ({"ALLOW_EMPTY_PASSWORD": "perhaps"}, "ALLOW_EMPTY_PASSWORD='perhaps'"),
    ({"POSTGRESQL_PASSWORD": None}, "POSTGRESQL_PASSWORD is not set"),
    ({"POSTGRESQL_REPLICATION_PASSWORD": None}, "POSTGRESQL_REPLICATION_PASSWORD is not set"),
    ({"POSTGRESQL_DATA_DIR": "data"}, "POSTGRESQL_DATA_DIR='data'"),
    ({"POSTGRESQL_WAL_LEVEL": "minimal"}, "POSTGRESQL_WAL_LEVEL='minimal'"),
    ({"POSTGRESQL_PASSWORD_FILE": "/nonexistent/secret"}, "POSTGRESQL_PASSWORD_FILE='/nonexistent/secret'"),
]


@pytest.mark.parametrize("env,expect", BAD, ids=[e for _, e in BAD])
def test_bad_value_is_one_line_exit_78_nothing_touched(cluster, env, expect):
    p = cluster.primary(env=env)
    for mode in ([], ["--check"], ["--reload"]):
        r = p.run_once(mode)
        assert r.returncode == 78, (mode, r.stderr)
        errors = [line for line in r.stderr.splitlines() if line.startswith("<3>")]
        assert len(errors) == 1 and expect in errors[0], r.stderr
        assert "secret-pw" not in r.stderr
    assert not p.datadir.exists()


def test_usage_errors_exit_64(cluster):
    p = cluster.primary()
    assert p.run_once(["--bogus"]).returncode == 64
    assert p.run_once(["--check", "--reload"]).returncode == 64
    assert p.run_once(["--instance=../x"]).returncode == 64
    assert p.run_once(["--config=/nonexistent.conf"]).returncode == 78
    v = p.run_once(["--version"])
    assert v.returncode == 0 and "pgrepl-primary-setup" in v.stdout


def test_a_new_cluster_gets_its_roles_whatever_an_earlier_one_left(cluster):
    """The roles' fingerprint lives in the state directory: a data directory removed and made anew
    (the state directory kept) must still get its user, database and replication role."""
    import shutil

    p = cluster.primary(env={"POSTGRESQL_USERNAME": "appuser", "POSTGRESQL_PASSWORD": "app-pw",
                             "POSTGRESQL_DATABASE": "appdb"})
    p.start()
    p.wait_ready()
    p.stop()
    shutil.rmtree(p.datadir)
    p.logf = None
    p.start()
    p.wait_ready()
    assert p.psql("select count(*) from pg_roles where rolname = 'appuser'") == "1"
    assert p.psql("select count(*) from pg_database where datname = 'appdb'") == "1"
