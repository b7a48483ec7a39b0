# SPDX-License-Identifier: MIT
"""pgrepl-standby-bootstrap against real PostgreSQL 15, by hand (no systemd):
the wait for the primary, the clone, streaming, restarts, re-pointing, a
promoted data directory, secrets and bad configurations."""

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from pgrepl_testlib import PG_BIN, PGUSER, postmaster_cmdline, postmaster_env

NASTY = "pa'ss\\wo rd:\"ü€;$x"
PROGRESS = re.compile(r"^cloning from '[^']+': (\d+)/(\d+) MB, (\d+)%$")


def wait_until(fn, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def descendants(pid):
    """Every process below pid, depth first."""
    out = []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in map(int, kids):
        out.append(k)
        out.extend(descendants(k))
    return out


def kill_tree(pid):
    """SIGKILL a postmaster and all its children at once, as a power cut would."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def statuses(node, since=0):
    return [f["STATUS"] for f in node.notify.all()[since:] if "STATUS" in f]


def replay_count(standby, table, expect, timeout=30):
    wait_until(lambda: standby.psql(f"select count(*) from {table}", check=False).stdout.strip() == str(expect),
               timeout, f"{expect} rows of {table} on {standby.name}")


def pgbench_init(primary, scale):
    r = subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(scale), "-h", str(primary.sockdir),
                        "-p", str(primary.port), "-U", "postgres", "postgres"],
                       env={"PATH": "/usr/bin:/bin"}, user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[],
                       capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr


def started_primary(cluster, name="primary", env=None, args=()):
    p = cluster.primary(name, env=env)
    p.start(args)
    p.wait_ready()
    return p


def test_waits_for_primary_then_clones_streams_and_refuses_writes(cluster):
    p = cluster.primary(env={"POSTGRESQL_MAX_CONNECTIONS": "200"})
    s = cluster.standby("sb1", p, env={"POSTGRESQL_CLUSTER_APP_NAME": "sb_one"})
    s.start()
    # No primary yet: it keeps saying why it waits, and does not exit.
    wait_until(lambda: len([x for x in statuses(s) if "waiting for primary" in x]) >= 3, 15, "waiting STATUS")
    assert s.proc.poll() is None
    assert any(f"waiting for primary '127.0.0.1:{p.port}': connection refused, retry in" in x for x in statuses(s))
    assert not s.datadir.exists()

    p.start()
    p.wait_ready()
    p.psql("create table t(x int); insert into t values (1)")
    s.wait_ready(60)
    assert any(x.startswith(f"cloning from '127.0.0.1:{p.port}'") for x in statuses(s)), statuses(s)
    assert s.notify.all("EXTEND_TIMEOUT_USEC")

    p.psql("insert into t values (2)")
    replay_count(s, "t", 2)
    r = s.psql("insert into t values (3)", check=False)
    assert r.returncode != 0 and "read-only transaction" in r.stderr
    wait_until(lambda: p.psql("select application_name, state from pg_stat_replication") == "sb_one|streaming",
               30, "streaming in pg_stat_replication")
    slot, active = p.psql("select slot_name, active from pg_replication_slots").split("|")
    assert re.fullmatch(r"pgrepl_[a-z0-9_]+_sb1", slot) and active == "t"
    # The primary runs with max_connections=200; a hot standby needs at least that.
    assert s.psql("show max_connections") == "200"

    assert (s.datadir / "standby.signal").exists()
    conf = (s.datadir / "pgrepl.auto.conf").read_text()
    assert f"passfile=''{s.state}/passfile''" in conf and f"primary_slot_name = '{slot}'" in conf
    assert "repl-pw" not in conf
    st = (s.state / "passfile").stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == PGUSER.pw_uid
    assert not Path(str(s.datadir) + ".pgrepl-clone").exists()


def test_restart_does_not_clone_again_and_catches_up_through_its_slot(cluster):
    # No wal_keep_size on the primary: only the slot keeps the WAL the absent standby needs.
    conf = cluster.root / "primary.conf"
    conf.write_text('settings = { wal_keep_size = "0"; min_wal_size = "32MB"; max_wal_size = "64MB"; };\n')
    conf.chmod(0o644)
    p = started_primary(cluster, args=[f"--config={conf}"])
    p.psql("create table t(x int); insert into t values (1)")
    s = cluster.standby("sb1", p)
    s.start()
    s.wait_ready(60)
    replay_count(s, "t", 1)
    assert s.stop() == 0
    before = s.output()

    # Several WAL segments and checkpoints while it is down.
    for i in range(4):
        p.psql(f"insert into t select generate_series(1, 20000); select pg_switch_wal(); checkpoint")
    assert p.psql("select active from pg_replication_slots") == "f"
    s.start()
    s.wait_ready(60)
    after = s.output()[len(before):]
    assert "Cloning" not in after and "First start" not in after
    replay_count(s, "t", 80001)


def test_wrong_password_or_unknown_user_waits_with_reason_then_exits_69(cluster):
    p = started_primary(cluster)
    a = cluster.standby("sba", p, env={"POSTGRESQL_REPLICATION_PASSWORD": "Wrong-Pw-1",
                                       "POSTGRESQL_INIT_MAX_TIMEOUT": "5"})
    b = cluster.standby("sbb", p, env={"POSTGRESQL_REPLICATION_USER": "nobody",
                                       "POSTGRESQL_INIT_MAX_TIMEOUT": "5"})
    t0 = time.monotonic()
    a.start()
    b.start()
    assert a.proc.wait(30) == 69
    assert b.proc.wait(30) == 69
    assert 4.5 <= time.monotonic() - t0 < 20
    sa = [x for x in statuses(a) if x.startswith("waiting for primary")]
    assert len(sa) >= 3 and all("authentication failed" in x for x in sa), sa
    # The primary's pg_hba.conf names its replication user only.
    assert any("not allowed by the primary's pg_hba.conf" in x for x in statuses(b)), statuses(b)
    assert "POSTGRESQL_INIT_MAX_TIMEOUT=5" in a.output()
    assert "Wrong-Pw-1" not in a.output()
    assert not a.datadir.exists() and not b.datadir.exists()


@pytest.mark.parametrize("host,port,reason", [("127.0.0.1", "1", "connection refused"),
                                               ("no-such-host.invalid", "5432", "host unknown")])
def test_reason_for_waiting_is_in_status(cluster, host, port, reason):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_HOST": host, "POSTGRESQL_MASTER_PORT_NUMBER": port,
                                    "POSTGRESQL_INIT_MAX_TIMEOUT": "1"})
    s.start()
    assert s.proc.wait(30) == 69
    assert any(x.startswith(f"waiting for primary '{host}:{port}': {reason}, retry in") for x in statuses(s)), \
        statuses(s)


def test_stop_while_waiting_ends_at_once_by_the_signal(cluster):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1"})
    s.start()
    s.notify.wait_for("STATUS", timeout=10)
    wait_until(lambda: any("retry in" in x for x in statuses(s)), 10, "a pause")
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(10) == -signal.SIGINT
    assert time.monotonic() - t0 < 3


def test_primary_killed_mid_clone_leaves_nothing_startable_then_clone_completes(cluster):
    p = started_primary(cluster)
    pgbench_init(p, 5)
    # Slow the copy down (test-only knob) so the kill lands in the middle of it.
    s = cluster.standby("sb1", p, env={"PGREPL_TEST_BASEBACKUP_MAX_RATE": "12M"})
    s.start()

    def progressing():
        for x in statuses(s):
            m = PROGRESS.match(x)
            if m and 0 < int(m.group(3)) < 90:
                return True
        return False

    wait_until(progressing, 60, "clone progress in STATUS")
    assert s.notify.all("EXTEND_TIMEOUT_USEC"), "no EXTEND_TIMEOUT_USEC during the clone"
    # pg_basebackup's argv and environment: passfile=, never the password.
    bb = [pid for pid in descendants(s.proc.pid) if postmaster_cmdline(pid)[0].endswith("/pg_basebackup")]
    assert bb
    argv = " ".join(postmaster_cmdline(bb[0]))
    assert "passfile=" in argv and "repl-pw" not in argv and "--slot=pgrepl_" in argv
    assert "repl-pw" not in str(postmaster_env(bb[0])) and "PGPASSWORD" not in postmaster_env(bb[0])

    mark = s.notify.mark()
    kill_tree(p.proc.pid)
    p.stop()
    wait_until(lambda: any("waiting for primary" in x for x in statuses(s, mark)), 30, "waiting again")
    assert s.proc.poll() is None
    # Nothing PostgreSQL could start from: the data directory was never created, the side copy is gone.
    assert not (s.datadir / "PG_VERSION").exists() and not (s.datadir / "global" / "pg_control").exists()
    wait_until(lambda: not Path(str(s.datadir) + ".pgrepl-clone").exists(), 10, "side directory removed")

    p.start()
    p.wait_ready(60)
    s.wait_ready(120)
    assert s.psql("select count(*) from pgbench_accounts") == "500000"
    assert not Path(str(s.datadir) + ".pgrepl-clone").exists()


def test_leftover_side_directory_is_removed_at_start(cluster):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1", "POSTGRESQL_INIT_MAX_TIMEOUT": "1"})
    side = Path(str(s.datadir) + ".pgrepl-clone")
    (side / "base").mkdir(parents=True)
    (side / "PG_VERSION").write_text("15\n")
    for f in (side, side / "base", side / "PG_VERSION"):
        os.chown(f, PGUSER.pw_uid, PGUSER.pw_gid)
    r = s.run_once()
    assert r.returncode == 69, r.stderr
    assert not side.exists()
    assert "left over from an interrupted clone" in r.stderr


def test_repoint_to_promoted_clone_with_reload_follows_new_timeline(cluster):
    p1 = started_primary(cluster, "p1")
    p1.psql("create table t(x int); insert into t values (1)")
    s1 = cluster.standby("s1", p1)
    s2 = cluster.standby("s2", p1, env={"POSTGRESQL_CLUSTER_APP_NAME": "s_two"})
    s1.start()
    s2.start()
    s1.wait_ready(60)
    s2.wait_ready(60)
    replay_count(s1, "t", 1)
    replay_count(s2, "t", 1)

    # The old primary goes away cleanly; s1 becomes the new primary on timeline 2.
    assert p1.stop() == 0
    assert s1.psql("select pg_promote()") == "t"
    s1.psql("insert into t values (2)")
    pid = s2.proc.pid
    r = s2.run_once(["--reload"], extra_env={"POSTGRESQL_MASTER_PORT_NUMBER": str(s1.port)})
    assert r.returncode == 0, r.stderr
    replay_count(s2, "t", 2, timeout=60)
    assert s2.psql("select received_tli from pg_stat_wal_receiver") == "2"
    wait_until(lambda: s1.psql("select application_name, state from pg_stat_replication") == "s_two|streaming",
               30, "s2 streaming from s1")
    assert s2.proc.pid == pid and s2.proc.poll() is None
    assert s1.psql("select count(*) from pg_replication_slots where active") == "1"

    # The promoted node restarts as the primary it now is, not as a standby of p1.
    assert s1.stop() == 0
    before = s1.output()
    s1.start()
    s1.wait_ready(60)
    assert "was promoted" in s1.output()[len(before):]
    assert s1.psql("select pg_is_in_recovery()") == "f"
    assert not (s1.datadir / "standby.signal").exists()
    assert "primary_conninfo" not in (s1.datadir / "pgrepl.auto.conf").read_text()
    s1.psql("insert into t values (3)")
    replay_count(s2, "t", 3)


def test_reload_refuses_a_primary_of_another_cluster(cluster):
    p = started_primary(cluster)
    other = started_primary(cluster, "other")
    s = cluster.standby("sb1", p)
    s.start()
    s.wait_ready(60)
    conf = (s.datadir / "pgrepl.auto.conf").read_text()
    passfile = (s.state / "passfile").read_bytes()
    r = s.run_once(["--reload"], extra_env={"POSTGRESQL_MASTER_PORT_NUMBER": str(other.port)})
    assert r.returncode == 78, r.stderr
    assert "is another cluster" in r.stderr
    # Nothing changed: the standby keeps following its primary.
    assert (s.datadir / "pgrepl.auto.conf").read_text() == conf
    assert (s.state / "passfile").read_bytes() == passfile
    p.psql("create table t(x int); insert into t values (1)")
    replay_count(s, "t", 1)


def test_standby_that_cannot_follow_a_new_primary_says_so(cluster):
    p1 = started_primary(cluster, "p1")
    p1.psql("create table t(x int); insert into t values (1)")
    s1 = cluster.standby("s1", p1)
    s2 = cluster.standby("s2", p1)
    s1.start()
    s2.start()
    s1.wait_ready(60)
    s2.wait_ready(60)
    replay_count(s2, "t", 1)
    # s1 is promoted while p1 goes on: s2 replays past the fork and can never follow s1.
    assert s1.psql("select pg_promote()") == "t"
    p1.psql("insert into t select generate_series(1, 1000)")
    replay_count(s2, "t", 1001)
    conf = (s2.datadir / "pgrepl.auto.conf").read_text()
    r = s2.run_once(["--reload"], extra_env={"POSTGRESQL_MASTER_PORT_NUMBER": str(s1.port)})
    assert r.returncode == 78, r.stderr
    assert "cannot be followed: its timeline 2 forked off timeline 1 at" in r.stderr, r.stderr
    assert (s2.datadir / "pgrepl.auto.conf").read_text() == conf
    p1.psql("insert into t values (2)")
    replay_count(s2, "t", 1002)

    # Started with that primary anyway, it says so in STATUS= and the log rather than looping in silence.
    assert s2.stop() == 0
    s2.env["POSTGRESQL_MASTER_PORT_NUMBER"] = str(s1.port)
    s2.start()
    s2.wait_ready(60)
    assert any(f"standby of '127.0.0.1:{s1.port}', which it cannot follow: its timeline 2 forked off" in x
               for x in statuses(s2, s2.started_at)), statuses(s2)
    assert "cannot be followed" in s2.output()


def test_nasty_password_works_and_no_secret_leaks(cluster):
    creds = {"POSTGRESQL_REPLICATION_USER": "re pl\"x", "POSTGRESQL_REPLICATION_PASSWORD": NASTY}
    p = started_primary(cluster, env=creds)
    p.psql("create table t(x int); insert into t values (1)")
    s = cluster.standby("sb1", p, env=creds)
    s.start()
    s.wait_ready(60)
    replay_count(s, "t", 1)
    wait_until(lambda: p.psql("select usename, state from pg_stat_replication") == 're pl"x|streaming',
               30, "streaming")
    r = s.run_once(["--reload"])
    assert r.returncode == 0, r.stderr

    secrets = [NASTY, NASTY.replace("\\", "\\\\").replace(":", "\\:")]
    pid = s.proc.pid
    blob = " ".join(postmaster_cmdline(pid)) + str(postmaster_env(pid))
    for child in descendants(pid):
        blob += " ".join(postmaster_cmdline(child))
    blob += s.output() + r.stderr + r.stdout
    for x in secrets:
        assert x not in blob
    assert not any(k.startswith("POSTGRESQL_") for k in postmaster_env(pid))
    # No file of the data directory holds it, whatever its mode: only the passfile does.
    for f in s.datadir.rglob("*"):
        if f.is_file() and not f.is_symlink():
            data = f.read_bytes()
            for x in secrets:
                assert x.encode() not in data, f
    passfile = s.state / "passfile"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert secrets[1].encode() in passfile.read_bytes()


BAD = [
    ({"POSTGRESQL_MASTER_HOST": None}, "POSTGRESQL_MASTER_HOST"),
    ({"POSTGRESQL_REPLICATION_USER": None, "POSTGRESQL_REPLICATION_PASSWORD": None},
     "POSTGRESQL_REPLICATION_USER"),
    ({"POSTGRESQL_REPLICATION_PASSWORD": None}, "POSTGRESQL_REPLICATION_PASSWORD"),
    ({"POSTGRESQL_REPLICATION_MODE": "master"}, "POSTGRESQL_REPLICATION_MODE='master'"),
    ({"POSTGRESQL_REPLICATION_SLOT": "Bad-Slot"}, "POSTGRESQL_REPLICATION_SLOT='Bad-Slot'"),
    ({"POSTGRESQL_MASTER_PORT_NUMBER": "70000"}, "POSTGRESQL_MASTER_PORT_NUMBER='70000'"),
    ({"POSTGRESQL_INIT_MAX_TIMEOUT": "soon"}, "POSTGRESQL_INIT_MAX_TIMEOUT='soon'"),
    ({"POSTGRESQL_REPLICATION_PASSWORD": "two\nlines"}, "line break"),
]


@pytest.mark.parametrize("env,expect", BAD, ids=[e for _, e in BAD])
def test_bad_configuration_exits_78_before_touching_anything(cluster, env, expect):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1", **env})
    for mode in ([], ["--reload"]):
        r = s.run_once(mode, timeout=30)
        assert r.returncode == 78, (mode, r.stderr)
        errors = [line for line in r.stderr.splitlines() if line.startswith("<3>")]
        assert errors and expect in errors[0], r.stderr
    assert not s.datadir.exists()
    assert list(s.state.iterdir()) == []


@pytest.mark.parametrize("content", ["foreign", "partial"])
def test_foreign_or_partial_data_directory_is_refused_and_kept(cluster, content):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1"})
    s.datadir.mkdir()
    f = s.datadir / ("precious.txt" if content == "foreign" else "PG_VERSION")
    f.write_text("15\n")
    for x in (s.datadir, f):
        os.chown(x, PGUSER.pw_uid, PGUSER.pw_gid)
    r = s.run_once(timeout=30)
    assert r.returncode == 78, r.stderr
    assert [x.name for x in s.datadir.iterdir()] == [f.name] and f.read_text() == "15\n"
    assert not Path(str(s.datadir) + ".pgrepl-clone").exists()
    assert list(s.state.iterdir()) == []


def test_check_hides_the_password(cluster):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "6543",
                                    "POSTGRESQL_REPLICATION_PASSWORD": "Visible-No"})
    r = s.run_once(["--check"])
    assert r.returncode == 0, r.stderr
    assert "Visible-No" not in r.stdout
    assert "POSTGRESQL_REPLICATION_PASSWORD=(set)\t(environment)" in r.stdout
    assert "POSTGRESQL_REPLICATION_MODE=slave" in r.stdout
    assert not s.datadir.exists()


def test_symlinked_data_directory_is_cloned_where_it_points(cluster):
    p = started_primary(cluster)
    p.psql("create table t(x int); insert into t values (1)")
    s = cluster.standby("sb1", p)
    disk = make_owned(s.root / "disk")
    real = make_owned(disk / "data")
    s.datadir.symlink_to(real)
    s.start()
    s.wait_ready(60)
    replay_count(s, "t", 1)
    # The link stays; the copy went where it points, by way of a side directory beside it.
    assert s.datadir.is_symlink() and (real / "PG_VERSION").exists()
    assert not Path(str(real) + ".pgrepl-clone").exists() and not Path(str(s.datadir) + ".pgrepl-clone").exists()


def test_side_directory_a_server_ran_in_is_left_alone(cluster):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1", "POSTGRESQL_INIT_MAX_TIMEOUT": "1"})
    side = make_owned(Path(str(s.datadir) + ".pgrepl-clone"))
    pid = side / "postmaster.pid"
    pid.write_text("12345\n")
    r = s.run_once()
    assert r.returncode == 73, r.stderr
    assert "not an interrupted clone" in r.stderr and "postmaster.pid" in r.stderr
    assert pid.read_text() == "12345\n"


def test_second_bootstrap_leaves_the_first_ones_clone_alone(cluster):
    s = cluster.standby("sb1", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1"})
    s.start()
    wait_until(lambda: any("retry in" in x for x in statuses(s)), 10, "the first one waiting")
    side = make_owned(Path(str(s.datadir) + ".pgrepl-clone"))    # as if its copy had begun
    r = s.run_once(timeout=30)
    assert r.returncode == 75, r.stderr
    assert "Another pgrepl-standby-bootstrap" in r.stderr and f"pid {s.proc.pid}" in r.stderr
    assert side.exists() and s.proc.poll() is None


def test_reload_never_signals_a_process_that_took_a_stale_pid(cluster):
    p = started_primary(cluster)
    s = cluster.standby("sb1", p)
    s.start()
    s.wait_ready(60)
    s.stop()
    # The server is gone but its postmaster.pid is back, naming another process of the service user.
    other = subprocess.Popen(["sleep", "60"], user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[], cwd="/")
    try:
        pidfile = s.datadir / "postmaster.pid"
        pidfile.write_text(f"{other.pid}\n{s.datadir}\n")
        os.chown(pidfile, PGUSER.pw_uid, PGUSER.pw_gid)
        r = s.run_once(["--reload"])
        assert r.returncode != 0 and "No server runs" in r.stderr, r.stderr
        time.sleep(0.2)
        assert other.poll() is None, "the unrelated process got SIGHUP"
    finally:
        other.kill()
        other.wait()


def make_owned(path):
    path.mkdir(parents=True, mode=0o700)
    os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    return path
