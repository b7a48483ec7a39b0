# SPDX-License-Identifier: MIT
"""One signal model: pgrepl-standby-bootstrap blocks SIGINT and SIGTERM and
reads them where it waits (a signalfd), so a stop during the clone ends it
at once, by the signal, with pg_basebackup gone and no copy left behind;
its children (pg_basebackup) and the postmaster it execs start with nothing
blocked, so they get their signals."""

import re
import signal
import subprocess
import time
from pathlib import Path

from pgrepl_testlib import PG_BIN, PGUSER

PROGRESS = re.compile(r"^cloning from '[^']+': (\d+)/(\d+) MB, (\d+)%$")


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def proc_status(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def basebackups():
    """pids of every pg_basebackup running now."""
    out = subprocess.run(["pgrep", "-x", "pg_basebackup"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def started_primary(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    return p


def test_sigterm_during_the_clone_ends_it_at_once(cluster):
    p = started_primary(cluster)
    r = subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", "5", "-h", str(p.sockdir), "-p", str(p.port),
                        "-U", "postgres", "postgres"], env={"PATH": "/usr/bin:/bin"}, user=PGUSER.pw_uid,
                       group=PGUSER.pw_gid, extra_groups=[], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    s = cluster.standby("sb1", p, env={"PGREPL_TEST_BASEBACKUP_MAX_RATE": "4M"})
    before = set(basebackups())
    s.start()
    wait_until(lambda: any((m := PROGRESS.match(x)) and int(m.group(3)) > 0
                           for x in s.notify.all("STATUS")), 60, "clone progress")
    ours = set(basebackups()) - before
    assert ours, "no pg_basebackup running"
    # Children start with nothing blocked, whatever the bootstrap blocks for itself.
    assert all(int(proc_status(pid, "SigBlk"), 16) == 0 for pid in ours)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == -signal.SIGTERM
    assert time.monotonic() - t0 < 3
    wait_until(lambda: not (set(basebackups()) - before), 5, "pg_basebackup to end")
    assert not Path(str(s.datadir) + ".pgrepl-clone").exists()
    assert not (s.datadir / "PG_VERSION").exists()
    assert "<5>Stopping on SIGTERM" in s.output()


def test_the_postmaster_blocks_nothing_it_did_not_block_itself(cluster):
    p = started_primary(cluster)
    s = cluster.standby("sb1", p)
    s.start()
    s.wait_ready(60)
    # The bootstrap became the postmaster (exec): same pid; idle, it blocks nothing (it masks signals
    # itself only while it handles one), and SIGINT is a fast shutdown.
    assert Path(f"/proc/{s.proc.pid}/exe").resolve() == (PG_BIN / "postgres").resolve()
    wait_until(lambda: int(proc_status(s.proc.pid, "SigBlk"), 16) == 0, 10, "an idle postmaster blocking nothing")
    assert s.stop(30) == 0
