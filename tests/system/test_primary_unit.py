# SPDX-License-Identifier: MIT
"""pgrepl-primary@ under a real systemd, in a container host."""

import pytest

ENV = """POSTGRESQL_REPLICATION_MODE=master
POSTGRESQL_USERNAME=my_user
POSTGRESQL_PASSWORD=password123
POSTGRESQL_DATABASE=my_database
POSTGRESQL_REPLICATION_USER=my_repl_user
POSTGRESQL_REPLICATION_PASSWORD=my_repl_password
"""


@pytest.fixture(scope="module")
def host(make_hosts, install):
    h, = make_hosts("prim1")
    install(h)
    return h


def test_start_psql_reload_stop(host):
    host.write_file("/etc/pgrepl/main.env", ENV, mode=0o600)
    host.systemctl("start", "pgrepl-primary@main", timeout=120)
    # systemctl start returned: the unit is active and the roles exist already.
    assert host.unit_property("pgrepl-primary@main", "ActiveState") == "active"
    assert host.psql("select current_user", user="my_user", db="my_database", host="127.0.0.1",
                     password="password123") == "my_user"
    assert host.psql("select count(*) from pg_roles where rolname = 'my_repl_user' and rolreplication") == "1"
    # The main process is the postmaster, running as postgres.
    pid = host.unit_property("pgrepl-primary@main", "MainPID")
    assert host.run(["ps", "-o", "user=,comm=", "-p", pid]).stdout.split() == ["postgres", "postgres"]

    mainpid = pid
    host.write_file("/etc/pgrepl/main.env", ENV + "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=1\n", mode=0o600)
    host.systemctl("reload", "pgrepl-primary@main")
    host.wait_for(lambda: host.psql("show synchronous_standby_names") == '1 ("walreceiver")', timeout=20)
    assert host.unit_property("pgrepl-primary@main", "MainPID") == mainpid

    host.systemctl("stop", "pgrepl-primary@main", timeout=120)
    assert host.unit_property("pgrepl-primary@main", "ActiveState") == "inactive"
    assert host.unit_property("pgrepl-primary@main", "Result") == "success"
    journal = host.journal("pgrepl-primary@main")
    assert "database system is shut down" in journal
    assert "password123" not in journal and "my_repl_password" not in journal


def test_restart_keeps_data(host):
    host.write_file("/etc/pgrepl/main.env", ENV, mode=0o600)
    host.systemctl("start", "pgrepl-primary@main", timeout=120)
    host.psql("create table if not exists keep(x int); insert into keep values (7)", user="my_user",
              db="my_database", host="127.0.0.1", password="password123")
    host.systemctl("restart", "pgrepl-primary@main", timeout=120)
    assert host.psql("select count(*) from keep", user="my_user", db="my_database", host="127.0.0.1",
                     password="password123") == "1"
    host.systemctl("stop", "pgrepl-primary@main", timeout=120)


def test_broken_env_fails_with_78_and_no_restart_loop(host):
    host.write_file("/etc/pgrepl/bad.env", ENV + "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE=sometimes\n", mode=0o600)
    r = host.systemctl("start", "pgrepl-primary@bad", check=False, timeout=60)
    assert r.returncode != 0
    host.wait_unit("pgrepl-primary@bad", "failed", timeout=30)
    assert host.unit_property("pgrepl-primary@bad", "ExecMainStatus") == "78"
    assert host.unit_property("pgrepl-primary@bad", "NRestarts") == "0"
    journal = host.journal("pgrepl-primary@bad")
    assert "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE='sometimes'" in journal
    assert "env file '/etc/pgrepl/bad.env'" in journal
    # Nothing was created for the broken instance's data.
    assert host.run(["test", "-e", "/var/lib/pgrepl/bad/data"], check=False).returncode != 0


def test_unit_verifies_clean_and_is_hardened(host):
    r = host.run(["systemd-analyze", "verify", "--man=no", "pgrepl-primary@main.service"], check=False)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = host.run(["systemd-analyze", "security", "--no-pager", "pgrepl-primary@main.service"], check=False)
    exposure = [line for line in r.stdout.splitlines() if "Overall exposure level" in line]
    assert exposure, r.stdout + r.stderr
    level = float(exposure[0].split(":")[1].split()[0])
    print(f"systemd-analyze security: {level}")
    assert level <= 2.5, exposure[0]


def test_root_only_secret_files_override_plain_values(host):
    host.write_file("/etc/pgrepl/secrets/pw", "from-file-pw\n", mode=0o600)
    host.write_file("/etc/pgrepl/secrets/repl", "from-file-repl\n", mode=0o600)
    host.run(["chmod", "0700", "/etc/pgrepl/secrets"])
    host.write_file("/etc/pgrepl/sec.env", ENV + "POSTGRESQL_PASSWORD_FILE=/etc/pgrepl/secrets/pw\n"
                    "POSTGRESQL_REPLICATION_PASSWORD_FILE=/etc/pgrepl/secrets/repl\n"
                    "POSTGRESQL_PORT_NUMBER=5440\n", mode=0o600)
    host.systemctl("start", "pgrepl-primary@sec", timeout=120)
    try:
        assert host.psql("select 1", port=5440, user="my_user", db="my_database", host="127.0.0.1",
                         password="from-file-pw") == "1"
        bad = host.run("PGPASSWORD=password123 runuser -u postgres -- psql -XAtq -h 127.0.0.1 -p 5440 "
                       "-U my_user -d my_database -c 'select 1'", check=False)
        assert bad.returncode != 0 and "password authentication failed" in bad.stderr
        repl = host.run("PGPASSWORD=from-file-repl runuser -u postgres -- psql -XAtq "
                        "'host=127.0.0.1 port=5440 user=my_repl_user replication=true' -c IDENTIFY_SYSTEM",
                        check=False)
        assert repl.returncode == 0, repl.stderr
        # The staged copies are the service user's, 0600, and only while the unit runs.
        out = host.run("stat -c '%U %a' /run/pgrepl/sec/secrets/POSTGRESQL_PASSWORD_FILE").stdout.split()
        assert out == ["postgres", "600"]
        # A reload re-stages: a new password in the file applies without a restart.
        host.write_file("/etc/pgrepl/secrets/pw", "rotated-pw\n", mode=0o600)
        host.systemctl("reload", "pgrepl-primary@sec")
        assert host.psql("select 1", port=5440, user="my_user", db="my_database", host="127.0.0.1",
                         password="rotated-pw") == "1"
    finally:
        host.systemctl("stop", "pgrepl-primary@sec", timeout=120)
    assert host.run(["test", "-e", "/run/pgrepl/sec"], check=False).returncode != 0
    assert "from-file" not in host.journal("pgrepl-primary@sec")


def test_full_disk_is_said_and_the_server_death_named(host):
    """A server that died of a full disk: the unit says what it died of, refuses to start while there is
    no room (STATUS= says so, not "primary on port ..."), and starts when there is, data intact."""
    unit, mnt = "pgrepl-primary@full", "/srv/pgfull"
    host.run(["mkdir", "-p", mnt])
    host.run(["mount", "-t", "tmpfs", "-o", "size=160M,mode=0700,uid=postgres,gid=postgres", "tmpfs", mnt])
    # restart_after_crash=off: the PANIC of a backend that cannot write WAL ends the postmaster, as a
    # crash loop would in the end.
    host.write_file("/etc/pgrepl/full.env", ENV + f"POSTGRESQL_DATA_DIR={mnt}/data\nPOSTGRESQL_PORT_NUMBER=5441\n"
                    "POSTGRESQL_EXTRA_FLAGS=-c restart_after_crash=off\n", mode=0o600)
    try:
        host.systemctl("start", unit, timeout=120)
        host.psql("create table keep(x int); insert into keep values (7)", port=5441)
        host.run(["dd", "if=/dev/zero", f"of={mnt}/fill", "bs=1M"], check=False, timeout=120)
        # WAL, and only WAL, past the segment in hand: the server cannot create the next one.
        host.psql("select pg_logical_emit_message(false, 'fill', repeat('x', 1000000)) "
                  "from generate_series(1, 40)", port=5441, check=False, timeout=120)

        def refused():
            status = host.unit_property(unit, "StatusText")
            return "kB free" in status and "not started" in status
        try:
            host.wait_for(refused, timeout=90, what="STATUS= naming the lack of space")
        except Exception as e:
            raise AssertionError(f"{e}\n{host.unit_property(unit, 'StatusText')}\n{host.journal(unit, lines=60)}")
        journal = host.journal(unit)
        assert "Not starting PostgreSQL: the file system of" in journal, journal[-3000:]
        assert "The server's last run ended with: PANIC:" in journal, journal[-3000:]
        assert "No space left on device" in journal

        host.run(["rm", "-f", f"{mnt}/fill"])
        host.wait_unit(unit, "active", timeout=90)
        status = host.unit_property(unit, "StatusText")
        assert status.startswith("primary on port 5441; restarted after: PANIC:"), status
        assert "No space left on device" in status
        # What the server died of, once: the refused starts since added nothing to it.
        assert status.count("(exited") == 1 and status.endswith("(exited 1, exit-code)"), status
        assert host.psql("select x from keep", port=5441) == "7"
        # Said once: a clean restart starts with the plain STATUS= again.
        host.systemctl("restart", unit, timeout=120)
        assert host.unit_property(unit, "StatusText") == "primary on port 5441"
    finally:
        host.systemctl("stop", unit, check=False, timeout=120)
        host.run(["umount", mnt], check=False)
