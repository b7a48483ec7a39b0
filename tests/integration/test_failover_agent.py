# SPDX-License-Identifier: MIT
"""pgrepl-failover-agent (SPEC 11) against a real etcd and real PostgreSQL 15,
by hand on loopback, without systemd: a primary and two standbys, partners of
each other, each with its agent. The agent holds the leader key for its
primary, publishes each member, elects and promotes a standby when the
primary's key goes, fences a primary that cannot renew its lease, and turns
the watcher's switchover request into a switchover. What needs root and
systemd (the rejoin through pgrepl-failover-act@) is in the system tests."""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from pgrepl_testlib import free_port, make_dir
from test_partners import partner_line, watcher
from test_standby import kill_tree, wait_until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
TTL = 4

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd (Debian's etcd-server) is not installed")


class Etcd:
    """One etcd member on loopback, in a directory of its own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pgrepl-etcd-")
        self.client, self.peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client}"
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-cluster", f"t=http://127.0.0.1:{self.peer}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.healthy(), 30, "etcd to answer")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def healthy(self):
        try:
            self.range("/")
            return True
        except OSError:
            return False

    def call(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)

    def range(self, prefix):
        """Every key under prefix, decoded: {key: (value, lease)}."""
        p = prefix.encode()
        end = p[:-1] + bytes([p[-1] + 1])
        r = self.call("/v3/kv/range", {"key": base64.b64encode(p).decode(),
                                       "range_end": base64.b64encode(end).decode()})
        return {base64.b64decode(kv["key"]).decode(): (base64.b64decode(kv.get("value", "")).decode(),
                                                         int(kv.get("lease", 0)))
                for kv in r.get("kvs", [])}

    def put(self, key, value):
        self.call("/v3/kv/put", {"key": base64.b64encode(key.encode()).decode(),
                                 "value": base64.b64encode(value.encode()).decode()})

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def etcd():
    e = Etcd()
    yield e
    e.close()


def agent_for(cluster, node, etcd, extra=None):
    env = {k: node.env[k] for k in ("POSTGRESQL_DATA_DIR", "POSTGRESQL_PORT_NUMBER", "POSTGRESQL_SOCKET_DIR",
                                     "POSTGRESQL_PARTNER_NODES", "STATE_DIRECTORY")}
    env.update({"POSTGRESQL_FAILOVER": "etcd", "POSTGRESQL_ETCD_HOSTS": etcd.url, "POSTGRESQL_CLUSTER_NAME": "it",
                "POSTGRESQL_FAILOVER_TTL": str(TTL),
                "POSTGRESQL_REPLICATION_MODE": "master" if node.binary_name == "pgrepl-primary-setup" else "slave"})
    env.update(extra or {})
    a = cluster.node(node.name + "-agent", "pgrepl-failover-agent", env)
    return a


@pytest.fixture
def trio(cluster, etcd):
    ports = [free_port() for _ in range(3)]
    env = {"POSTGRESQL_PARTNER_NODES": partner_line(*ports), "POSTGRESQL_FENCE_TIMEOUT": "3",
           "POSTGRESQL_FAILOVER": "etcd", "POSTGRESQL_ETCD_HOSTS": etcd.url}
    p = cluster.primary("p", env=dict(env), port=ports[0])
    s1 = cluster.standby("s1", env=dict(env, POSTGRESQL_MASTER_HOST="127.0.0.1",
                                         POSTGRESQL_MASTER_PORT_NUMBER=str(ports[0])), port=ports[1])
    s2 = cluster.standby("s2", env=dict(env, POSTGRESQL_MASTER_HOST="127.0.0.1",
                                         POSTGRESQL_MASTER_PORT_NUMBER=str(ports[0])), port=ports[2])
    for n in (p, s1, s2):
        n.start()
        n.wait_ready(timeout=120)
    # The watchers keep every partner's slot on the standbys, so that a promoted one has them.
    for n in (s1, s2):
        watcher(cluster, n)
    agents = [agent_for(cluster, n, etcd) for n in (p, s1, s2)]
    for a in agents:
        a.start()
        a.wait_ready(timeout=30)
    return (p, s1, s2), agents, ports


def name(port):
    return f"127.0.0.1:{port}"


def leader(etcd):
    return etcd.range("/pgrepl/it/leader").get("/pgrepl/it/leader", (None, 0))[0]


def member(etcd, port):
    v = etcd.range("/pgrepl/it/members/").get(f"/pgrepl/it/members/{name(port)}")
    return json.loads(v[0]) if v else None


def writable(node):
    r = node.psql("select not pg_is_in_recovery()", check=False, timeout=5)
    return r.returncode == 0 and r.stdout.strip() == "t"


def postmaster_pid(node):
    return int((node.datadir / "postmaster.pid").read_text().split()[0])


def test_manual_mode_exits_at_once(cluster, etcd):
    n = cluster.primary("m", env={"POSTGRESQL_PARTNER_NODES": "127.0.0.1:5999"})
    a = agent_for(cluster, n, etcd, {"POSTGRESQL_FAILOVER": None})
    r = a.run_once()
    assert r.returncode == 0, r.stderr
    assert "POSTGRESQL_FAILOVER is manual" in r.stderr
    assert etcd.range("/pgrepl/") == {}


def test_bad_etcd_hosts_is_a_configuration_error(cluster, etcd):
    n = cluster.primary("b", env={"POSTGRESQL_PARTNER_NODES": "127.0.0.1:5999"})
    a = agent_for(cluster, n, etcd, {"POSTGRESQL_ETCD_HOSTS": "ftp://x"})
    r = a.run_once()
    assert r.returncode == 78, r.stderr
    assert "POSTGRESQL_ETCD_HOSTS" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_election_at_start_and_members(trio, etcd):
    (p, s1, s2), agents, ports = trio
    wait_until(lambda: leader(etcd) == name(ports[0]), 20, "the primary's agent to take the leader key")
    wait_until(lambda: all(member(etcd, port) for port in ports), 20, "every member published")
    assert member(etcd, ports[0])["role"] == "primary"
    assert member(etcd, ports[1])["role"] == "standby"
    wait_until(lambda: member(etcd, ports[1])["streaming"], 20, "the standby to publish that it streams")
    keys = etcd.range("/pgrepl/it/")
    # Every key is under a lease, an agent that dies takes its keys with it; but the leader's list of
    # synchronous standbys, which outlives it for an agent that starts later.
    sync = keys.pop("/pgrepl/it/sync")
    assert sync[1] == 0 and json.loads(sync[0])["leader"] == name(ports[0]), sync
    assert all(lease for _, lease in keys.values()), keys


def test_primary_crash_fails_over_and_the_sibling_follows(trio, etcd):
    (p, s1, s2), agents, ports = trio
    wait_until(lambda: leader(etcd) == name(ports[0]), 20, "the primary's agent to take the leader key")
    wait_until(lambda: member(etcd, ports[1]) and member(etcd, ports[2]), 20, "members")
    p.psql("create table t(i int); insert into t values (1)")
    wait_until(lambda: s1.psql("select count(*) from pg_class where relname = 't'", check=False).stdout.strip() == "1"
               and s2.psql("select count(*) from pg_class where relname = 't'", check=False).stdout.strip() == "1",
               20, "both standbys to replay")
    time.sleep(1.5)  # the standbys' positions published
    crash = time.monotonic()
    agents[0].proc.kill()
    kill_tree(postmaster_pid(p))
    new = wait_until(lambda: (s1 if writable(s1) else s2 if writable(s2) else None), TTL + 10,
                     "a standby to become writable")
    took = time.monotonic() - crash
    other = s2 if new is s1 else s1
    new_port = new.port
    assert leader(etcd) == name(new_port)
    wait_until(lambda: other.psql("select sender_port from pg_stat_wal_receiver where status = 'streaming'",
                                  check=False).stdout.strip() == str(new_port), TTL + 10,
               "the sibling to stream from the new primary")
    followed = time.monotonic() - crash
    print(f"writable after {took:.2f} s, sibling streaming after {followed:.2f} s (TTL {TTL} s)")
    assert not writable(other)
    new.psql("insert into t values (2)")
    wait_until(lambda: other.psql("select count(*) from t", check=False).stdout.strip() == "2", 20,
               "the sibling to replay the new primary's write")
    assert member(etcd, new_port)["role"] == "primary"


def test_primary_fences_itself_when_etcd_goes(trio, etcd):
    (p, s1, s2), agents, ports = trio
    wait_until(lambda: leader(etcd) == name(ports[0]), 20, "the primary's agent to take the leader key")
    assert writable(p)
    gone = time.monotonic()
    etcd.stop()
    wait_until(lambda: not writable(p), TTL + 2, "the primary to fence itself")
    fenced = time.monotonic() - gone
    assert fenced < TTL, f"fenced after {fenced:.2f} s: the lease ({TTL} s) could have expired first"
    assert "Fenced" in agents[0].output()
    # Standbys stay standbys: nobody can be elected without etcd.
    time.sleep(1)
    assert not writable(s1) and not writable(s2)
    # etcd comes back with every lease renewed: the fenced primary still holds the key, nobody took over,
    # and its agent asks root (pgrepl-failover-act@, not here) to start its server again.
    etcd.start()
    request = p.state / "failover-request"
    wait_until(lambda: request.exists(), 20, "the agent's request")
    assert request.read_text() == "start\n"
    assert oct(request.stat().st_mode & 0o777) == "0o600"
    assert leader(etcd) == name(ports[0])
    assert not writable(s1) and not writable(s2)


def test_switchover_request(trio, etcd):
    (p, s1, s2), agents, ports = trio
    wait_until(lambda: leader(etcd) == name(ports[0]), 20, "the primary's agent to take the leader key")
    wait_until(lambda: (member(etcd, ports[1]) or {}).get("streaming"), 20, "s1 streaming, published")
    # What the watcher writes on a trigger in etcd mode.
    (s1.state / "switchover-request").write_text("")
    os.chown(s1.state / "switchover-request", *owner(s1.state))
    wait_until(lambda: writable(s1), TTL + 10, "s1 to become the primary")
    assert leader(etcd) == name(ports[1])
    wait_until(lambda: not p.proc or p.proc.poll() is not None or not writable(p), 10, "the old primary to step down")
    assert not writable(p)
    assert not (s1.state / "switchover-request").exists()


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid


def test_a_primary_does_not_start_while_another_member_holds_the_key(cluster, etcd):
    port, other = free_port(), free_port()
    env = {"POSTGRESQL_PARTNER_NODES": partner_line(port, other), "POSTGRESQL_FENCE_TIMEOUT": "1",
           "POSTGRESQL_FAILOVER": "etcd", "POSTGRESQL_ETCD_HOSTS": etcd.url, "POSTGRESQL_CLUSTER_NAME": "it"}
    p = cluster.primary("p", env=env, port=port)
    p.start()
    p.wait_ready(timeout=120)
    p.stop()
    # Its own name in the key, or a free key: it starts.
    etcd.put("/pgrepl/it/leader", name(port))
    p.start()
    p.wait_ready(timeout=60)
    p.stop()
    etcd.put("/pgrepl/it/leader", name(other))
    r = p.run_once(timeout=60)
    assert r.returncode == 79, r.stderr
    assert f"Member '{name(other)}' holds the leader key" in r.stderr, r.stderr
    assert not (p.datadir / "postmaster.pid").exists()
