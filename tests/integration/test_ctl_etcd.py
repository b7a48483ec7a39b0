# SPDX-License-Identifier: MIT
"""pgreplctl with POSTGRESQL_FAILOVER=etcd (SPEC 11) against real PostgreSQL 15 servers run by pgrepl's
binaries, without systemd: `promote` is a switchover through etcd (never refused because another
node is the primary), carried out by the trigger watcher and the failover agent, whose part is
played here by the test."""

import re
import threading
import time

from pgrepl_testlib import make_dir
from test_pgreplctl import Conf, Watcher, primary_and_standby


def etcd_tail(p, s, hosts="127.0.0.1:2379"):
    return (f"POSTGRESQL_FAILOVER=etcd\nPOSTGRESQL_ETCD_HOSTS={hosts}\n"
            f"POSTGRESQL_PARTNER_NODES=127.0.0.1:{p.port},127.0.0.1:{s.port}\n")


def test_promote_is_a_switchover_beside_the_running_primary(cluster):
    tdir = make_dir(cluster.root / "trig", 0o1777)
    trigger = tdir / "postgresql.trigger"
    p, s = primary_and_standby(cluster, senv={"POSTGRESQL_PROMOTE_TRIGGER_FILE": str(trigger)})
    conf = Conf(cluster)
    conf.write(p, "master", tail=etcd_tail(p, s))
    conf.write(s, "slave", tail=etcd_tail(p, s))
    w = Watcher(cluster.root, s, trigger)
    w.env.update({"POSTGRESQL_FAILOVER": "etcd", "POSTGRESQL_ETCD_HOSTS": "127.0.0.1:2379",
                  "POSTGRESQL_PARTNER_NODES": f"127.0.0.1:{p.port},127.0.0.1:{s.port}"})
    cluster.nodes.append(w)
    w.start()
    w.wait_ready()
    env = {"STATE_DIRECTORY": str(w.state)}
    request = w.state / "switchover-request"

    # Nobody acts on the watcher's request: not refused for the running primary, not promoted, and why.
    r = conf.run("promote", "standby", "--wait=3", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Refusing" not in r.stderr
    assert "asked for a switchover to 'standby' through etcd" in r.stdout, r.stdout
    assert "'standby' is still in recovery after 3 s; the watcher asked the failover agent for the switchover " \
           f"('{request}'), which has not taken the request: is pgrepl-failover@standby running?" in r.stderr, r.stderr
    assert request.exists() and not trigger.exists()
    assert s.psql("select pg_is_in_recovery()") == "t" and p.psql("select pg_is_in_recovery()") == "f"
    request.unlink()

    # The agent's part: on the request, the old primary steps down and this node is promoted.
    def agent():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not request.exists():
            time.sleep(0.05)
        if request.exists():
            request.unlink()
            p.stop()
            s.psql("select pg_promote()")

    t = threading.Thread(target=agent)
    t.start()
    r = conf.run("promote", "standby", "--wait=30", env=env)
    t.join()
    assert r.returncode == 0, r.stdout + r.stderr + w.output()
    assert re.search(r"^Promoted 'standby' by a switchover through etcd: writable after \d+ ms, timeline 2, LSN ",
                     r.stdout, re.M), r.stdout
    assert w.proc.wait(60) == 0, w.output()


def test_promote_in_manual_mode_still_refuses_beside_the_primary(cluster):
    tdir = make_dir(cluster.root / "trig", 0o1777)
    trigger = tdir / "postgresql.trigger"
    p, s = primary_and_standby(cluster, senv={"POSTGRESQL_PROMOTE_TRIGGER_FILE": str(trigger)})
    conf = Conf(cluster)
    conf.write(s, "slave", tail=etcd_tail(p, s).replace("=etcd", "=manual"))
    r = conf.run("promote", "standby", "--wait=3")
    assert r.returncode == 1 and "Refusing to promote 'standby'" in r.stderr, r.stdout + r.stderr
    assert not trigger.exists()
