# SPDX-License-Identifier: MIT
"""The standby and trigger units on two real hosts (issues 3 and 4).

sb1 runs `pgrepl-primary@main`, sb2 `pgrepl-standby@main` (which pulls in
`pgrepl-trigger@main`) with POSTGRESQL_MASTER_HOST = sb1's address, across
the test bridge.  Each test starts from clean hosts (see cluster.reset).
"""

import re
import time

import pytest

from cluster import *  # noqa: F401,F403 - the shared cluster vocabulary


@pytest.fixture(scope="module")
def pair_hosts(make_hosts, install):
    hosts = make_hosts("sb1", "sb2")
    parallel(*(lambda h=h: install(h) for h in hosts))
    return hosts


@pytest.fixture
def pair(pair_hosts):
    """sb1 a primary with a table `t`, sb2 its streaming standby (by address, not name)."""
    primary, standby = pair_hosts
    parallel(*(lambda h=h: reset(h) for h in pair_hosts))
    start_primary(primary)
    primary.psql("create table t(id int primary key, at text)", **APP)
    start_standby(standby, primary, MASTER_HOST=primary.ip)
    wait_replication(primary, [(standby.ip, "walreceiver", "streaming", "async")])
    return primary, standby


def insert_rows(primary, first, last, at):
    primary.psql(f"insert into t select g, '{at}' from generate_series({first}, {last}) g", **APP)


def rows(host, at):
    return host.psql(f"select count(*) from t where at = '{at}'", db=DB)


def test_units_are_active_verify_clean_and_hardened(pair):
    primary, standby = pair
    for unit in (STANDBY, TRIGGER):
        assert standby.unit_property(unit, "ActiveState") == "active", unit
        r = standby.run(["systemd-analyze", "verify", "--man=no", f"{unit}.service"], check=False)
        assert r.returncode == 0 and r.stderr.strip() == "", (unit, r.stderr)
        r = standby.run(["systemd-analyze", "security", "--no-pager", f"{unit}.service"], check=False)
        level = [line for line in r.stdout.splitlines() if "Overall exposure level" in line]
        assert level, r.stdout + r.stderr
        print(f"\n{unit}: {level[0].strip()}")
        assert float(level[0].split(":")[1].split()[0]) <= 3.0, level[0]
    # The watcher's idle STATUS= names the upstream and says it streams.
    status = standby.wait_for(lambda: (lambda s: s if "streaming" in s else None)(
        standby.unit_property(TRIGGER, "StatusText")), timeout=40, what="watcher STATUS= with the standby's state")
    assert primary.ip in status and TRIGGER_FILE in status, status
    # The watcher needs no password (peer authentication on the local socket): the unit's
    # UnsetEnvironment= leaves none in its environment, and it is not dumpable (/proc/PID/environ is root's).
    pid = standby.unit_property(TRIGGER, "MainPID")
    environ = standby.run(["cat", f"/proc/{pid}/environ"]).stdout.split("\0")
    assert environ and not [v for v in environ if re.match(r"\w*_PASSWORD(_FILE)?=", v)], environ
    assert standby.run(["stat", "-c", "%u", f"/proc/{pid}/environ"]).stdout.strip() == "0"
    assert standby.unit_property(STANDBY, "StatusText") != ""
    # Read-only, over the network too.
    r = psql_run(standby, "insert into t values (0, 'x')", user="my_user", db=DB, tcp=True, password="password123")
    assert r.returncode != 0 and "read-only transaction" in r.stderr, r.stderr


def test_cut_link_for_20s_resumes_streaming_with_nothing_lost(pair):
    primary, standby = pair
    mainpid = standby.unit_property(STANDBY, "MainPID")
    clones = journal_count(standby, STANDBY, CLONE_MESSAGE)     # this boot's, earlier tests' too
    insert_rows(primary, 1, 100, "before")
    wait_caught_up(primary, [standby])
    standby.cut_link()
    try:
        # The primary keeps taking writes while its standby is unreachable.
        for i in range(4):
            insert_rows(primary, 101 + i * 100, 200 + i * 100, "during")
            time.sleep(5)
        assert rows(standby, "during") == "0"
    finally:
        standby.restore_link()
    insert_rows(primary, 1001, 1100, "after")
    wait_replication(primary, [(standby.ip, "walreceiver", "streaming", "async")], timeout=120)
    wait_caught_up(primary, [standby], timeout=60)
    assert (rows(standby, "before"), rows(standby, "during"), rows(standby, "after")) == ("100", "400", "100")
    # Survived in place: the same postmaster, no restart, no second clone.
    assert standby.unit_property(STANDBY, "MainPID") == mainpid
    assert standby.unit_property(STANDBY, "NRestarts") == "0"
    assert journal_count(standby, STANDBY, CLONE_MESSAGE) == clones


def test_stop_and_start_catches_up_through_the_slot_without_cloning(pair):
    primary, standby = pair
    data_inode = inode(standby, DATA_DIR)
    clones = journal_count(standby, STANDBY, CLONE_MESSAGE)
    standby.systemctl("stop", STANDBY, timeout=120)
    standby.wait_unit(TRIGGER, "inactive", timeout=30)       # bound to the standby
    # While it is down, its slot on the primary keeps the WAL it has not received.
    primary.psql("select pg_switch_wal()")
    insert_rows(primary, 1, 500, "while down")
    primary.psql("select pg_switch_wal(); checkpoint")
    slot = primary.psql(f"select active, wal_status from pg_replication_slots where slot_name = '{slot_name(standby)}'")
    assert slot == "f|reserved", slot
    standby.systemctl("start", STANDBY, timeout=180)
    standby.wait_unit(TRIGGER, "active", timeout=30)          # pulled in again
    wait_caught_up(primary, [standby])
    assert rows(standby, "while down") == "500"
    assert journal_count(standby, STANDBY, CLONE_MESSAGE) == clones
    assert inode(standby, DATA_DIR) == data_inode
    assert receiver(standby)[2] == slot_name(standby)


def test_trigger_promotes_only_for_root_and_the_service_user(pair):
    primary, standby = pair
    insert_rows(primary, 1, 10, "before")
    wait_caught_up(primary, [standby])
    primary.systemctl("stop", PRIMARY, timeout=120)       # the guide: promote once the old master is gone
    mainpid = standby.unit_property(STANDBY, "MainPID")

    # Planted by another local user, a symlink to a root-owned file, a directory: ignored, with a warning.
    planted = (
        ("another user's file", "runuser -u nobody -- touch {p}", "owned by neither root nor the service user"),
        ("a symlink", "ln -s /etc/hostname {p}", "is a symbolic link"),
        ("a directory", "mkdir {p}", "is a directory"),
    )
    for what, cmd, said in planted:
        standby.run(cmd.format(p=TRIGGER_FILE))
        time.sleep(3)
        assert standby.psql("select pg_is_in_recovery()") == "t", f"{what} promoted the standby"
        assert standby.unit_property(TRIGGER, "ActiveState") == "active", what
        journal = standby.journal(TRIGGER, lines=20)
        assert said in journal, f"{what}: no warning naming it\n{journal}"
        standby.run(["rm", "-rf", TRIGGER_FILE])

    # The seed's command, as root: promoted in place, the watcher done and saying so.
    ms = promote_by_touch(standby, write="insert into t values (11, 'first write')")
    print(f"\n{standby.name} took a write {ms} ms after `touch {TRIGGER_FILE}`")
    check_promoted(standby, mainpid)
    status = standby.run(["systemctl", "status", "--no-pager", "-n", "0", TRIGGER], check=False).stdout
    assert "promoted: primary on timeline 2" in status, status
    assert standby.unit_property(TRIGGER, "ExecMainStatus") == "0"

    # Restarting the standby unit keeps it the primary it now is, with its data.
    standby.systemctl("restart", STANDBY, timeout=180)
    assert standby.psql("select pg_is_in_recovery()") == "f"
    assert standby.psql("select count(*) from t", db=DB) == "11"
    standby.psql("insert into t values (12, 'after restart')", **APP)
    journal = standby.journal(STANDBY, lines=30)
    assert "was promoted: starting it as the primary it now is" in journal, journal
    # The watcher it pulls in finds a primary: nothing to do, a clean exit.
    standby.wait_unit(TRIGGER, "inactive", timeout=30)
    assert standby.unit_property(TRIGGER, "Result") == "success"
    assert "nothing to do" in standby.unit_property(TRIGGER, "StatusText")

