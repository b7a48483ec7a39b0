# SPDX-License-Identifier: MIT
"""The trigger watcher with POSTGRESQL_FAILOVER=etcd (SPEC 11), by hand against a real PostgreSQL 15
standby: a valid trigger is handed to the failover agent (an empty switchover-request in the state
directory) and never promotes the server itself; the trigger is settled as after a promotion, in a
record of its own. The agent's part is not under test (no etcd here): it is played by pg_promote()."""

import os
import stat
import time

from pgrepl_testlib import PGUSER
from test_watcher import Watcher, assert_not_promoted_for, env, in_recovery, primary, wait_log  # noqa: F401


def etcd_env(env, s, mode="etcd"):
    return {"POSTGRESQL_FAILOVER": mode, "POSTGRESQL_ETCD_HOSTS": "127.0.0.1:2379",
            "POSTGRESQL_PARTNER_NODES": f"127.0.0.1:{s.port},127.0.0.1:{env.primary.port}",
            "WATCHDOG_USEC": "2000000"}


def record(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_trigger_asks_the_agent_and_does_not_promote(env):
    s = env.standby()
    w = env.watcher(s, env=etcd_env(env, s), fowner=True)
    w.start()
    w.wait_ready()
    w.notify.wait_for("STATUS", timeout=10, since=w.started_at)

    env.trigger.touch()
    wait_log(w, "<5>POSTGRESQL_FAILOVER=etcd: asked the failover agent for a switchover to this node (trigger "
                f"'{env.trigger}', owner 'root', uid 0)")
    req = w.state / "switchover-request"
    st = req.stat()
    assert st.st_size == 0 and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == PGUSER.pw_uid
    assert not env.trigger.exists(), w.output()
    assert any("asked the failover agent for a switchover" in t for t in w.notify.all("STATUS"))
    # Not promoted, and the watcher goes on (slots, status) as a standby's.
    assert_not_promoted_for(w, s, 3)
    assert not (w.state / "promotion").exists()
    rec = record(w.state / "switchover")
    assert rec["trigger_path"] == str(env.trigger) and rec["timeline"] == "0" and rec["lsn"] == "0/0"
    assert "pg_promote" not in w.output() and "promoting" not in w.output(), w.output()
    status = w.notify.all("STATUS")[-1]
    assert "streaming" in status and "switchover to this node asked of the failover agent" in status, status

    # The agent promotes the server: the watcher sees it at its next beat and is done.
    assert s.psql("select pg_promote()") == "t"
    assert w.wait_exit(15) == 0, w.output()
    assert "promoted by other means" in w.output()


def test_a_handed_trigger_is_not_handed_twice(env):
    s = env.standby()
    w = env.watcher(s, env=etcd_env(env, s))
    w.start()
    w.wait_ready()
    env.trigger.touch()
    # Without CAP_FOWNER postgres cannot remove root's file from the sticky directory: the record keeps it.
    wait_log(w, "asked the failover agent for a switchover")
    assert env.trigger.exists() and "<4>Cannot remove trigger" in w.output(), w.output()
    st = env.trigger.stat()
    rec = record(w.state / "switchover")
    assert (rec["trigger_dev"], rec["trigger_ino"]) == (str(st.st_dev), str(st.st_ino))
    (w.state / "switchover-request").unlink()
    assert_not_promoted_for(w, s, 2)
    assert not (w.state / "switchover-request").exists()
    w.stop()

    # A watcher started afresh on the same state directory does not hand it over again...
    w2 = env.watcher(s, name="watcher2", env=etcd_env(env, s))
    w2.state = w.state
    w2.env["STATE_DIRECTORY"] = str(w.state)
    w2.start()
    w2.wait_ready()
    wait_log(w2, "this very file was already handed to the failover agent")
    assert not (w.state / "switchover-request").exists()
    # ...but touching it again (a new ctime) is a new request; still no promotion.
    os.utime(env.trigger)
    wait_log(w2, "asked the failover agent for a switchover")
    assert (w.state / "switchover-request").exists()
    assert_not_promoted_for(w2, s, 1)


def test_manual_mode_promotes_as_before(env):
    s = env.standby()
    w = env.watcher(s, env=etcd_env(env, s, mode="manual"), fowner=True)
    w.start()
    w.wait_ready()
    env.trigger.touch()
    assert w.wait_exit() == 0, w.output()
    assert not in_recovery(s)
    assert not (w.state / "switchover-request").exists() and (w.state / "promotion").exists()
    assert "failover agent" not in w.output()
