# SPDX-License-Identifier: MIT
"""POSTGRESQL_PARTNER_NODES (SPEC 8) against real PostgreSQL 15, by hand, on
loopback: every node is 127.0.0.1 with a port of its own, and recognises its
own entry by that port. Standbys follow whoever is primary, a superseded
primary never starts writable, and a superseded node rejoins by pg_rewind."""

import os
import signal
import time

import pytest

from pgrepl_testlib import PGUSER, free_port
from test_standby import kill_tree, wait_until


def partner_line(*ports):
    return ",".join(f"127.0.0.1:{p}" for p in ports)


@pytest.fixture
def trio(cluster):
    """A primary and two standbys, all partners; the standbys name no master host."""
    ports = [free_port() for _ in range(3)]
    env = {"POSTGRESQL_PARTNER_NODES": partner_line(*ports), "POSTGRESQL_FENCE_TIMEOUT": "3"}
    p = cluster.primary("p", env=dict(env), port=ports[0])
    s1 = cluster.standby("s1", env=dict(env, POSTGRESQL_MASTER_HOST=None), port=ports[1])
    s2 = cluster.standby("s2", env=dict(env, POSTGRESQL_MASTER_HOST=None), port=ports[2])
    return p, s1, s2, ports


def slot(port):
    return f"pgrepl_127_0_0_1_{port}"


def start(node):
    node.start()
    node.wait_ready(timeout=120)


def watcher(cluster, standby):
    """The standby's trigger watcher, which keeps the other partners' slots in it; started."""
    w = cluster.node(standby.name + "-watcher", "pgrepl-trigger-watcher", {
        "POSTGRESQL_PORT_NUMBER": str(standby.port), "POSTGRESQL_SOCKET_DIR": str(standby.sockdir),
        "POSTGRESQL_PARTNER_NODES": standby.env["POSTGRESQL_PARTNER_NODES"],
        "POSTGRESQL_PROMOTE_TRIGGER_FILE": str(standby.root / "trigger"),
        "STATE_DIRECTORY": str(standby.state)})
    w.start()
    w.wait_ready(timeout=30)
    return w


def slots_on(node):
    return node.psql("select coalesce(string_agg(slot_name, ',' order by slot_name), '') from pg_replication_slots")


def sender_port(standby):
    return standby.psql("select sender_port from pg_stat_wal_receiver where status = 'streaming'", check=False) \
        .stdout.strip()


def test_check_shows_partners_and_this_node(trio):
    p, s1, _, ports = trio
    r = s1.run_once(["--check"])
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("partner ")]
    assert lines == [f"partner 127.0.0.1:{ports[0]}\tslot {slot(ports[0])}",
                     f"partner 127.0.0.1:{ports[1]}\tslot {slot(ports[1])}\t(this node)",
                     f"partner 127.0.0.1:{ports[2]}\tslot {slot(ports[2])}"], r.stdout


def test_partner_line_errors_are_configuration_errors(cluster):
    for i, (bad, says) in enumerate([("127.0.0.1:5432,,x", "POSTGRESQL_PARTNER_NODES"),
                                     ("127.0.0.1:5432,127.0.0.1:5432", "the same node twice"),
                                     ("2001:db8::1", "brackets")]):
        n = cluster.standby(f"bad{i}", env={"POSTGRESQL_PARTNER_NODES": bad})
        r = n.run_once(["--check"])
        assert r.returncode == 78, r.stderr
        assert says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    n = cluster.standby("slotname", env={"POSTGRESQL_PARTNER_NODES": "127.0.0.1:5432,127.0.0.1:5433",
                                         "POSTGRESQL_REPLICATION_SLOT": "myslot"})
    r = n.run_once(["--check"])
    assert r.returncode == 78 and "POSTGRESQL_REPLICATION_SLOT" in r.stderr, r.stderr


def test_standbys_clone_from_the_primary_among_partners_and_follow_a_promotion(trio, cluster):
    p, s1, s2, ports = trio
    start(p)
    # The primary keeps a slot for every other partner from its first start.
    slots = p.psql("select string_agg(slot_name, ',' order by slot_name) from pg_replication_slots")
    assert slots == ",".join(sorted([slot(ports[1]), slot(ports[2])])), slots
    start(s1)
    start(s2)
    conf = (s1.datadir / "pgrepl.auto.conf").read_text()
    assert "target_session_attrs=primary" in conf.replace("'", ""), conf
    assert f"primary_slot_name = '{slot(ports[1])}'" in conf, conf
    wait_until(lambda: sender_port(s1) == str(ports[0]), 30, "s1 streaming from p")
    wait_until(lambda: sender_port(s2) == str(ports[0]), 30, "s2 streaming from p")
    # Each standby's watcher keeps a slot for every other partner in its own server.
    watcher(cluster, s1)
    watcher(cluster, s2)
    wait_until(lambda: slots_on(s1) == ",".join(sorted([slot(ports[0]), slot(ports[2])])), 30, "slots on s1")
    p.psql("create table t(id int primary key); insert into t values (1)")

    # The old primary stops; s1 is promoted; s2 follows it with no edit and no reload.
    p.stop()
    s1.psql("select pg_promote()")
    wait_until(lambda: sender_port(s2) == str(ports[1]), 30, "s2 streaming from the promoted s1")
    s1.psql("insert into t values (2)")
    wait_until(lambda: s2.psql("select count(*) from t") == "2", 30, "row 2 on s2")
    assert s2.psql("select received_tli from pg_stat_wal_receiver") == "2"
    # Through the slot s1 kept for it before it was promoted.
    assert s1.psql(f"select active from pg_replication_slots where slot_name = '{slot(ports[2])}'") == "t"


def test_superseded_primary_refuses_to_start_and_rejoins_by_rewind(trio, cluster):
    p, s1, _, ports = trio
    start(p)
    start(s1)
    wait_until(lambda: sender_port(s1) == str(ports[0]), 30, "s1 streaming")
    watcher(cluster, s1)
    wait_until(lambda: slot(ports[0]) in slots_on(s1), 30, "a slot for p on s1")
    p.psql("create table t(id int primary key, note text); insert into t values (1, 'before')")
    wait_until(lambda: s1.psql("select count(*) from t") == "1", 30, "row 1 on s1")

    # s1 is away while the old primary writes a row, then crashes; s1 comes back and is promoted.
    s1.stop()
    p.psql("insert into t values (666, 'split brain')")
    kill_tree(p.proc.pid)
    p.proc.wait()
    start(s1)
    s1.psql("select pg_promote()")
    s1.psql("insert into t values (2, 'after')")

    # Restarted (as Restart=on-failure would), the old primary does not start writable.
    r = p.run_once(timeout=60)
    assert r.returncode == 79, (r.returncode, r.stderr)
    assert f"127.0.0.1:{ports[1]}" in r.stderr and "timeline 2" in r.stderr, r.stderr
    assert "pgreplctl rejoin" in r.stderr, r.stderr
    assert p.psql("select 1", check=False).returncode != 0  # nothing runs there

    # The standby unit on that data directory rewinds it and starts it as a standby of s1.
    old = cluster.standby("p-again", env={"POSTGRESQL_PARTNER_NODES": p.env["POSTGRESQL_PARTNER_NODES"],
                                    "POSTGRESQL_MASTER_HOST": None, "POSTGRESQL_DATA_DIR": str(p.datadir),
                                    "STATE_DIRECTORY": str(p.state), "POSTGRESQL_FENCE_TIMEOUT": "3"},
                          port=ports[0])
    start(old)
    out = old.output()
    assert "Rewound" in out and "discarded" in out, out
    assert "Cloning primary" not in out
    wait_until(lambda: sender_port(old) == str(ports[1]), 30, "old primary streaming from s1")
    assert old.psql("select string_agg(note, ',' order by id) from t") == "before,after"


def test_unfinished_rewind_is_never_started_as_a_primary(trio):
    p, _, _, ports = trio
    start(p)
    p.stop()
    marker = p.state / "rewind"
    marker.write_text("source=127.0.0.1:1\n")
    os.chown(marker, PGUSER.pw_uid, PGUSER.pw_gid)
    for args in ([], ["--check"]):
        r = p.run_once(args, timeout=60)
        assert r.returncode == 80, (args, r.returncode, r.stderr)
        assert "began and did not finish" in r.stderr and "--reclone" in r.stderr, r.stderr
