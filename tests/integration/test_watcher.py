# SPDX-License-Identifier: MIT
"""pgrepl-trigger-watcher by hand (no systemd) against a real PostgreSQL 15
primary and a streaming standby made with pg_basebackup: the watcher is
what is under test. Trigger files live in a sticky, world-writable
directory like /tmp. The watcher runs as postgres, like the unit, either
with no capabilities or (fowner=True) with the unit's ambient CAP_FOWNER."""

import os
import pwd
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pgrepl_testlib import PGUSER, Cluster, Node, RawStandby, binary, make_dir

EX_CONFIG = 78


class Watcher(Node):
    """pgrepl-trigger-watcher for a server (standby or primary)."""

    def __init__(self, root, name, server, trigger, lock_dir, env=None, fowner=False):
        base = {"POSTGRESQL_PORT_NUMBER": str(server.port), "POSTGRESQL_SOCKET_DIR": str(server.sockdir),
                "POSTGRESQL_PROMOTE_TRIGGER_FILE": str(trigger), "RUNTIME_DIRECTORY": str(lock_dir)}
        base.update(env or {})
        super().__init__(root, name, "pgrepl-trigger-watcher", base)
        self.fowner = fowner

    def start(self, args=(), extra_env=None):
        if not self.fowner:
            return super().start(args, extra_env)
        return self.start_with_fowner(args, extra_env)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"watcher still running after {timeout}s: {self.output()}") from None

    def record(self):
        path = self.state / "promotion"
        assert path.exists(), f"no promotion record: {self.output()}"
        assert path.stat().st_mode & 0o777 == 0o600
        return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.fixture(scope="module")
def primary():
    c = Cluster()
    p = c.primary(env={"POSTGRESQL_FSYNC": "off"})
    p.start()
    p.wait_ready()
    yield c, p
    c.close()


@pytest.fixture
def env(primary):
    """Per test: a sticky trigger directory, a lock directory, and makers for standbys and watchers."""
    cluster, p = primary
    made = []

    class Env:
        root = make_dir(tempfile.mkdtemp(prefix="t-", dir=cluster.root), 0o755)
        tdir = root / "trig"
        locks = make_dir(root / "locks", 0o755)
        trigger = tdir / "postgresql.trigger"

        def standby(self, name="standby", start=True, conf=None):
            """A streaming standby of the module's primary (start=False: cloned, not started)."""
            full = f"{self.root.name}-{name}"
            s = cluster.raw_standby(p, name=full, conf=conf) if start else RawStandby(cluster.root, full, p, conf)
            made.append(s)
            return s

        def watcher(self, server, name="watcher", **kw):
            w = Watcher(self.root, name, server, kw.pop("trigger", self.trigger), self.locks, **kw)
            made.append(w)
            return w

    e = Env()
    e.tdir.mkdir()
    e.tdir.chmod(0o1777)
    e.primary = p
    yield e
    for n in reversed(made):
        n.close()


def as_user(user, *argv):
    subprocess.run(list(argv), user=user, check=True, cwd="/")


def in_recovery(s):
    return s.psql("select pg_is_in_recovery()") == "t"


def assert_not_promoted_for(w, s, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert w.proc.poll() is None, f"watcher exited with {w.proc.returncode}: {w.output()}"
        time.sleep(0.1)
    assert in_recovery(s), w.output()


def wait_log(w, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in w.output():
            return
        time.sleep(0.05)
    raise AssertionError(f"'{text}' not logged within {timeout}s: {w.output()}")


def test_ignores_foreign_symlink_directory_then_root_trigger_promotes(env):
    s = env.standby()
    w = env.watcher(s, fowner=True)
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    assert "streaming" in w.notify.all("STATUS")[-1]

    # Any local user can create files in /tmp: nobody's file must not promote.
    as_user("nobody", "touch", str(env.trigger))
    assert_not_promoted_for(w, s, 3)
    assert "<4>Ignoring '" in w.output() and "'nobody', uid 65534" in w.output()
    assert "ignoring" in w.notify.all("STATUS")[-1]
    env.trigger.unlink()

    # A symlink to a root-owned file, and a directory: ignored too.
    os.symlink("/etc/hostname", env.trigger)
    assert_not_promoted_for(w, s, 1)
    assert "symbolic link" in w.output()
    env.trigger.unlink()
    env.trigger.mkdir()
    assert_not_promoted_for(w, s, 1)
    assert "is a directory" in w.output()
    env.trigger.rmdir()
    assert w.output().count("<4>Ignoring") == 3, w.output()

    # Root's touch promotes, and the unit's CAP_FOWNER lets postgres remove it from the sticky directory.
    env.trigger.touch()
    assert w.wait_exit() == 0, w.output()
    assert not env.trigger.exists(), w.output()
    rec = w.record()
    assert rec["timeline"] == "2" and "/" in rec["lsn"] and rec["trigger_path"] == str(env.trigger)
    assert abs(int(rec["time"]) - time.time()) < 60
    assert "<5>Promoted: the local server is a primary on timeline 2" in w.output()
    assert w.notify.all("STATUS")[-1].startswith("promoted: primary on timeline 2")
    assert not in_recovery(s)
    s.psql("create table after_promotion(x int); insert into after_promotion values (1)")
    assert s.psql("select count(*) from after_promotion") == "1"


def test_root_trigger_without_cap_fowner_stays_and_record_blocks_reuse(env):
    s1 = env.standby("s1")
    w = env.watcher(s1)
    w.start()
    w.wait_ready()
    env.trigger.touch()
    assert w.wait_exit() == 0, w.output()
    assert not in_recovery(s1)
    # postgres may not remove root's file from a sticky directory without CAP_FOWNER.
    assert env.trigger.exists()
    assert "<4>Cannot remove trigger" in w.output()
    st = env.trigger.stat()
    rec = w.record()
    assert (rec["trigger_dev"], rec["trigger_ino"]) == (str(st.st_dev), str(st.st_ino))
    assert rec["trigger_ctime"] == f"{st.st_ctime_ns // 10**9}.{st.st_ctime_ns % 10**9:09d}"

    # A new standby with the same state directory: the leftover trigger does not promote it...
    s2 = env.standby("s2")
    w2 = env.watcher(s2, name="watcher2")
    w2.state = w.state
    w2.env["STATE_DIRECTORY"] = str(w.state)
    w2.start()
    w2.wait_ready()
    assert_not_promoted_for(w2, s2, 2)
    assert "already promoted by this very file" in w2.output()
    # ...but touching it again (a new ctime) is a new request.
    os.utime(env.trigger)
    assert w2.wait_exit() == 0, w2.output()
    assert not in_recovery(s2)


def test_trigger_present_before_start_promotes_and_postgres_file_is_removed(env):
    s = env.standby()
    as_user("postgres", "touch", str(env.trigger))
    w = env.watcher(s)
    w.start()
    assert w.wait_exit() == 0, w.output()
    assert w.notify.all("READY") == ["1"]
    assert not env.trigger.exists(), w.output()
    assert not in_recovery(s)
    assert w.record()["timeline"] == "2"


def test_on_a_primary_exits_zero_and_touches_nothing(env):
    env.trigger.touch()
    w = env.watcher(env.primary)
    w.start()
    assert w.wait_exit() == 0, w.output()
    assert w.notify.all("READY") == ["1"]
    assert "not in recovery" in w.output()
    assert env.trigger.exists()
    assert not (w.state / "promotion").exists()
    assert env.primary.psql("select pg_is_in_recovery()") == "f"


def test_watchdog_cadence_no_other_wakeups_second_watcher_and_sigterm(env):
    s = env.standby()
    w = env.watcher(s, env={"WATCHDOG_USEC": "4000000"})
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)

    # A second watcher on the same trigger path refuses, naming path and holder.
    w2 = env.watcher(s, name="second")
    w2.start()
    assert w2.wait_exit(10) == EX_CONFIG, w2.output()
    assert str(env.trigger) in w2.output() and "already watched by another" in w2.output()
    assert f"pid {w.proc.pid}" in w2.output()
    assert w2.notify.all("READY") == []

    def switches():
        text = Path(f"/proc/{w.proc.pid}/status").read_text()
        return sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches" in line)

    mark = w.notify.mark()
    before = switches()
    time.sleep(10)
    woke = switches() - before
    pings = [t for t, f in w.notify.messages[mark:] if f.get("WATCHDOG") == "1"]
    # WatchdogSec=4s: a ping every 2 s, 5 in 10 s, each with a STATUS= of the standby.
    assert 4 <= len(pings) <= 6, pings
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert all(1.7 < g < 2.3 for g in gaps), gaps
    statuses = [f["STATUS"] for _, f in w.notify.messages[mark:] if "STATUS" in f]
    assert len(statuses) >= 4 and all("streaming, replay lag" in x for x in statuses), statuses
    # Each beat is one wake-up plus the status query's round trip on the held connection; nothing else.
    # Polling every 100 ms would alone cost 100.
    assert woke <= 8 * len(pings), (woke, len(pings))

    w.proc.send_signal(signal.SIGTERM)
    assert w.wait_exit(10) == 0, w.output()
    assert w.notify.all("STOPPING") == ["1"]
    assert in_recovery(s)


def test_waits_for_a_server_that_is_not_up_yet(env):
    s = env.standby(start=False)
    w = env.watcher(s)
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    assert "not reachable" in w.notify.all("STATUS")[-1]
    # A trigger while the server is still down (cloning, starting): kept, retried.
    env.trigger.touch()
    wait_log(w, "is not reachable")
    assert w.proc.poll() is None, w.output()
    s.start()
    assert w.wait_exit(60) == 0, w.output()
    assert not in_recovery(s)
    assert not env.trigger.exists() or "Cannot remove trigger" in w.output()


def test_directory_missing_then_replaced_is_watched_again(env):
    """No server needed: a nobody-owned file's warning shows the watch is armed."""
    d = env.root / "later" / "deeper"
    trig = d / "trigger"
    w = env.watcher(env.primary, trigger=trig, env={"POSTGRESQL_PORT_NUMBER": "1"})
    w.start()
    w.wait_ready()
    wait_log(w, "does not exist; waiting for it to appear")
    d.mkdir(parents=True)
    d.chmod(0o1777)
    wait_log(w, "is there again")
    as_user("nobody", "touch", str(trig))
    wait_log(w, "'nobody', uid 65534")
    # Replace the directory: the old watch goes, the new directory is watched.
    os.rename(d, env.root / "old")
    d.mkdir()
    d.chmod(0o1777)
    as_user("nobody", "mkdir", str(trig))
    wait_log(w, "is a directory")
    assert w.proc.poll() is None, w.output()


def test_trigger_directory_behind_another_users_symlink_is_warned_about(env):
    s = env.standby()
    link = env.root / "nobody-link"
    link.symlink_to(env.tdir)
    nobody = pwd.getpwnam("nobody")
    os.lchown(link, nobody.pw_uid, nobody.pw_gid)
    w = env.watcher(s, trigger=link / "postgresql.trigger")
    w.start()
    w.wait_ready()
    wait_log(w, f"Trigger directory '{link}' is a symbolic link owned by uid {nobody.pw_uid}")


def watcher_backends(s):
    """The server processes serving the watcher's connections."""
    pids = s.psql("select pid from pg_stat_activity where application_name = 'pgrepl-trigger-watcher'")
    return [int(x) for x in pids.split()]


def wait_backends(s, want, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = watcher_backends(s)
        if len(got) == want:
            return got
        time.sleep(0.05)
    raise AssertionError(f"expected {want} watcher connection(s), have {watcher_backends(s)}")


def test_holds_one_connection_through_server_timeouts_and_a_server_restart(env):
    """A trigger goes straight to pg_promote() on a connection held while idle:
    one backend, the same across status beats, kept despite the server's
    idle_session_timeout, and opened again when the server comes back."""
    s = env.standby(conf={"idle_session_timeout": "1s", "log_line_prefix": "%p ", "log_connections": "on",
                          "log_statement": "all"})
    # A beat every 2 s: each one queries on the held connection.
    w = env.watcher(s, fowner=True, env={"WATCHDOG_USEC": "4000000"})
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    [held] = wait_backends(s, 1)
    mark = w.notify.mark()
    time.sleep(5)
    assert len([f for f in w.notify.all()[mark:] if f.get("WATCHDOG") == "1"]) >= 2
    assert watcher_backends(s) == [held], w.output()
    assert "Lost the connection" not in w.output()

    # The server restarts under it (as after a crash): the watcher notices at once, no beat needed.
    s.stop()
    wait_log(w, "Lost the connection to the local server")
    s.start()
    s.wait_streaming()
    [again] = wait_backends(s, 1)
    assert again != held
    assert w.proc.poll() is None, w.output()

    env.trigger.touch()
    assert w.wait_exit() == 0, w.output()
    assert not in_recovery(s)
    assert not env.trigger.exists(), w.output()
    # pg_promote() ran on the held connection: no connection was opened for it.
    log = s.output()
    promote = [line for line in log.splitlines() if "pg_promote(" in line]
    assert promote and all(line.startswith(f"{again} ") for line in promote), promote
    tail = log[log.rindex("database system is ready to accept read-only connections"):]
    assert tail.count("application_name=pgrepl-trigger-watcher") == 1, tail
    assert w.output().count("Lost the connection") == 1, w.output()


def test_trigger_directory_removed_and_made_again_is_watched_again(env):
    """rmdir (not a rename) of the watched directory: its removal must reach the
    watcher, so nothing may hold the directory open between looks."""
    s = env.standby()
    w = env.watcher(s, fowner=True)
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    env.tdir.rmdir()
    wait_log(w, "does not exist; waiting for it to appear")
    env.tdir.mkdir()
    env.tdir.chmod(0o1777)
    wait_log(w, "is there again")
    env.trigger.touch()
    assert w.wait_exit() == 0, w.output()
    assert not in_recovery(s)
    assert not env.trigger.exists(), w.output()


def test_a_server_that_stops_answering_does_not_stall_the_watchdog(env):
    """The status query is collected by the event loop: a backend that hangs
    (stopped here) leaves the watchdog beating and is reported, without a new
    backend started every beat; a trigger then goes on a connection of its
    own and promotes."""
    s = env.standby()
    w = env.watcher(s, fowner=True, env={"WATCHDOG_USEC": "2000000"})
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    [held] = wait_backends(s, 1)
    os.kill(held, signal.SIGSTOP)
    try:
        mark = w.notify.mark()
        wait_log(w, "has not answered the status query", timeout=15)
        time.sleep(4)
        pings = [t for t, f in w.notify.messages[mark:] if f.get("WATCHDOG") == "1"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert len(pings) >= 5 and max(gaps) < 1.5, gaps
        assert "not answering for" in w.notify.all("STATUS")[-1]
        assert watcher_backends(s) == [held], "a new backend while the old one hangs"
        assert w.output().count("has not answered the status query") == 1, w.output()

        env.trigger.touch()
        assert w.wait_exit() == 0, w.output()
        assert "promoting on a new connection" in w.output()
        assert not in_recovery(s)
    finally:
        os.kill(held, signal.SIGCONT)


def test_a_relinked_trigger_directory_is_watched_where_the_path_now_leads(env):
    """Each look opens the directory afresh and checks it is the watched one:
    after a link in the path is re-pointed, the next look arms the watch on
    the new target, and the trigger there promotes (and is what is removed)."""
    s = env.standby()
    other = make_dir(env.root / "other", 0o1777)
    link = env.root / "trigdir"
    link.symlink_to(env.tdir)
    w = env.watcher(s, fowner=True, trigger=link / "postgresql.trigger")
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)

    tmp = env.root / "trigdir.new"
    tmp.symlink_to(other)
    os.rename(tmp, link)
    # Any event in the old directory makes the watcher look, and find the path leads elsewhere.
    as_user("nobody", "touch", str(env.trigger))
    wait_log(w, f"Trigger directory '{link}' is not the one watched any more")
    assert_not_promoted_for(w, s, 1)
    (other / "postgresql.trigger").touch()
    assert w.wait_exit() == 0, w.output()
    assert not in_recovery(s)
    assert not (other / "postgresql.trigger").exists(), w.output()
    assert env.trigger.exists(), "nobody's file in the old directory was removed"


def test_reported_promotion_time_is_when_the_server_became_writable(env):
    """The watcher's "N ms after trigger ... was touched" is measured to the moment the server is
    writable, not to the next 100 ms tick of pg_promote(wait => true)'s own polling."""
    import re
    import threading

    s = env.standby()
    w = env.watcher(s)
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)
    # An observer in the server itself: the wall-clock time at which it first sees the server out of
    # recovery, polling every millisecond as the watcher now does.
    seen = {}

    def observe():
        seen["at"] = float(s.psql("DO $$ BEGIN WHILE pg_is_in_recovery() LOOP PERFORM pg_sleep(0.001); "
                                  "END LOOP; END $$; SELECT extract(epoch FROM clock_timestamp())",
                                  timeout=60))

    observer = threading.Thread(target=observe)
    observer.start()
    deadline = time.monotonic() + 10
    while s.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO $$ BEGIN WHILE%'") != "1":
        assert time.monotonic() < deadline, "the observer did not start"
        time.sleep(0.05)
    # The trigger as postgres; its ctime is where the watcher's figure starts.
    made = subprocess.run(
        ["python3", "-c", "import os,sys; fd=os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o644); "
         "print(os.fstat(fd).st_ctime_ns)", str(env.trigger)],
        user="postgres", check=True, capture_output=True, text=True, cwd="/")
    touched = int(made.stdout) / 1e9
    assert w.wait_exit() == 0, w.output()
    around_ms = (time.time() - touched) * 1000
    observer.join(60)
    assert w.record()["timeline"] == "2"

    m = re.search(r"Promoted: .*, (\d+) ms after trigger '.*' was touched", w.output())
    assert m, w.output()
    reported_ms = int(m.group(1))
    writable_ms = (seen["at"] - touched) * 1000
    status = w.notify.all("STATUS")[-1]
    assert f"{reported_ms} ms after the trigger" in status, status
    # Within what the test itself measured around the whole promotion...
    assert reported_ms <= around_ms, (reported_ms, around_ms)
    # ... and close to when the observer saw it writable: pg_promote(wait => true) would answer only
    # at its next 100 ms check, ~85 ms after a ~15 ms promotion (the margin is for a loaded machine).
    print(f"reported {reported_ms} ms, writable at {writable_ms:.1f} ms, measured around {around_ms:.1f} ms")
    assert reported_ms <= writable_ms + 60, (reported_ms, writable_ms, w.output())
