# SPDX-License-Identifier: MIT
"""SPEC 11 on real hosts: automatic failover on a real etcd (issue #17).

Three pgrepl nodes (pg1 primary, pg2 and pg3 standbys), POSTGRESQL_PARTNER_NODES
the same on all, POSTGRESQL_FAILOVER=etcd with a TTL of 6 s, each with its
pgrepl-failover@main beside its server unit; etcd (Debian's etcd-server) is
one member on a fourth host, cl, which also runs the writer, or three
members, one on each pg host. Throughout every test a sampler asks each
node, on its own socket, whether it is writable every 50 ms: it fails the
test if two nodes were ever writable at once.

- election at start: pg1's member name holds the leader key under a lease of
  the TTL; every member publishes its state; pgreplctl status shows the key;
- host crash of the primary: another node is writable within a bound (the
  time is printed; tests/bench/failover measures it), the sibling streams
  from it, the leader key names it; the crashed host boots again as its
  standby;
- link cut of the primary: it stops being writable before its lease can
  expire (never two writable) and rejoins as a standby once the link is back;
- etcd down: the primary fences itself, the standbys stay standbys; etcd
  back: one primary again, the others streaming from it;
- kill-and-failover loop with synchronous commit and a writer on cl: no
  acknowledged commit missing (PGREPL_FAILOVER_LOOPS, default 3);
- pgreplctl promote pg2 in etcd mode is a switchover: pg1 becomes a standby;
- three etcd members on the pg hosts: a host crash (one member gone too)
  fails over, and the host returns as a standby;
- POSTGRESQL_FAILOVER unset: the agent's unit exits 0 saying failover is
  manual, and nothing is written to etcd.
"""

import json
import os
import time

import harness
import pytest

from cluster import *  # noqa: F401,F403 - the shared cluster vocabulary
from etcdbed import Etcd, Sampler, Writer

NAMES = ("pg1", "pg2", "pg3")
CLIENT = "cl"
TTL = 6
AGENT = "pgrepl-failover@main"
PARTNERS = ",".join(f"{n}:5432" for n in NAMES)
REPL = {"POSTGRESQL_REPLICATION_USER": "my_repl_user", "POSTGRESQL_REPLICATION_PASSWORD": "my_repl_password"}
# How long a failover may take here (2 shared cores, a 6 s TTL); the bench measures it precisely.
FAILOVER_BOUND = 3 * TTL


def member(host):
    return f"{host.name}:5432"


@pytest.fixture(scope="module")
def bed(make_hosts, install):
    hosts = make_hosts(*NAMES, CLIENT, persist=True)
    parallel(*(lambda h=h: install(h) for h in hosts[:3]))
    etcd = Etcd([hosts[3]])
    etcd.start()
    return hosts[:3], hosts[3], etcd


_count = [0]


@pytest.fixture
def nodes(bed):
    """Clean pg hosts (no unit, no data) and a fresh key prefix in etcd for each test."""
    pgs, client, etcd = bed
    for h in pgs:
        if not h.running:
            h.start()
    parallel(*(lambda h=h: h.systemctl("disable", "--now", AGENT, check=False, timeout=120) for h in pgs))
    parallel(*(lambda h=h: reset(h) for h in pgs))
    _count[0] += 1
    return pgs


def cluster_name():
    return f"t{_count[0]}"


def prefix():
    return f"/pgrepl/{cluster_name()}/"


def failover_env(mode, etcd, **extra):
    env = dict(MASTER) if mode == "master" else {"POSTGRESQL_REPLICATION_MODE": "slave", **REPL}
    env.update({
        "POSTGRESQL_PARTNER_NODES": PARTNERS,
        "POSTGRESQL_FAILOVER": "etcd",
        "POSTGRESQL_ETCD_HOSTS": etcd.endpoints,
        "POSTGRESQL_CLUSTER_NAME": cluster_name(),
        "POSTGRESQL_FAILOVER_TTL": str(TTL),
    })
    env.update({f"POSTGRESQL_{k}": v for k, v in extra.items()})
    return env


def start_cluster(pgs, etcd, **extra):
    """pg1 primary, pg2 and pg3 standbys, every agent running; until pg1 holds the leader key."""
    pg1, pg2, pg3 = pgs
    write_env(pg1, failover_env("master", etcd, **extra))
    pg1.systemctl("enable", "--now", PRIMARY, timeout=180)
    for s in (pg2, pg3):
        write_env(s, failover_env("slave", etcd, **extra))
    parallel(*(lambda s=s: s.systemctl("enable", "--now", STANDBY, timeout=180) for s in (pg2, pg3)))
    parallel(*(lambda h=h: h.systemctl("enable", "--now", AGENT, timeout=120) for h in pgs))
    eventually(lambda: ensure(leader(etcd) == member(pg1), f"leader key: {leader(etcd)!r}"), 60)
    pg1.psql("create table fo(id int primary key, note text); insert into fo values (1, 'before')", db=DB)
    wait_caught_up(pg1, [pg2, pg3])
    return pg1, pg2, pg3


def leader(etcd):
    got = etcd.get(prefix() + "leader")
    return got[0] if got else None


def members(etcd):
    out = {}
    for k, v in etcd.get_prefix(prefix() + "members/").items():
        try:
            out[k.rsplit("/", 1)[1]] = json.loads(v)
        except ValueError:
            out[k.rsplit("/", 1)[1]] = v
    return out


def streams_from(standby, primary):
    def check():
        r = receiver(standby)
        assert r and r[0] == "streaming" and r[1] in (primary.name, primary.ip), f"{standby.name}: {r}"
        return r
    return check


def rejoined(standby, primary, timeout=180):
    """Until standby streams from primary; else the journals that say why not."""
    try:
        return eventually(streams_from(standby, primary), timeout)
    except (AssertionError, harness.CommandFailed) as e:
        units = (AGENT, "pgrepl-failover-act@main", PRIMARY, STANDBY)
        logs = "\n".join(f"--- {u} on {standby.name} ---\n{standby.journal(u, lines=25)}" for u in units)
        raise AssertionError(f"{standby.name} does not stream from {primary.name}: {e}\n{logs}") from None


def node_named(pgs, name):
    return next(h for h in pgs if h.name == name)


def wait_healthy(primary, standbys, sync=False, timeout=180):
    """Every standby streams from primary (and, with sync, one of them is synchronous)."""
    for s in standbys:
        eventually(streams_from(s, primary), timeout)
    if sync:
        eventually(lambda: ensure(primary.psql("select count(*) from pg_stat_replication "
                                               "where sync_state in ('sync', 'quorum')") != "0",
                                  f"no synchronous standby on {primary.name}"), timeout)


def agent_log(*hosts):
    return "\n".join(f"--- {h.name} ---\n{h.journal(AGENT, lines=40)}" for h in hosts if h.running)


def test_election_at_start(nodes, bed):
    etcd = bed[2]
    with Sampler(nodes) as s:
        pg1, pg2, pg3 = start_cluster(nodes, etcd)
        value, lease = etcd.get(prefix() + "leader")
        assert value == member(pg1)
        remaining, granted = etcd.lease_ttl(lease)
        assert granted == TTL and 0 < remaining <= TTL, (remaining, granted)
        got = eventually(lambda: ensure(set(members(etcd)) == {member(h) for h in nodes}, members(etcd))
                         and members(etcd), 30)
        assert got[member(pg1)]["role"] == "primary", got
        assert got[member(pg2)]["role"] == "standby" and got[member(pg3)]["role"] == "standby", got
        sysid = pg1.psql("select system_identifier from pg_control_system()")
        assert all(str(m.get("system")) == sysid for m in got.values()), got
        assert s.writable_now() == ["pg1"]
        # pgreplctl status, on any node, shows the leader key and its lease as etcd has them.
        r = pg2.run(["pgreplctl", "status", "main"], check=False)
        assert any(l.split()[:2] == ["leader", f"{member(pg1)},"] and f"lease {int(lease):x}" in l
                   for l in r.stdout.splitlines()), r.stdout + r.stderr


def test_host_crash_fails_over_and_the_host_returns_as_a_standby(nodes, bed):
    etcd = bed[2]
    pg1, pg2, pg3 = start_cluster(nodes, etcd)
    with Sampler(nodes) as s:
        time.sleep(1)
        t0 = time.monotonic()
        pg1.crash()
        first = s.first_writable(after=t0, exclude=[pg1], timeout=60)
        took = first.got - t0
        new = node_named(nodes, first.host)
        sibling = pg3 if new is pg2 else pg2
        follow = s.first_streaming(sibling, {new.name, new.ip}, after=t0, timeout=60).got - t0
        print(f"\nhost crash of pg1: {new.name} writable after {took:.2f} s, {sibling.name} streaming from "
              f"it after {follow:.2f} s (ttl {TTL} s)")
        assert took <= FAILOVER_BOUND, f"{new.name} writable only {took:.1f} s after the crash\n" + agent_log(pg2, pg3)
        assert leader(etcd) == member(new)
        new.psql("insert into fo values (2, 'after')", db=DB)

        # The crashed host boots: its enabled units start; it comes back as a standby of the new primary.
        pg1.start()
        rejoined(pg1, new)
        assert pg1.psql("select pg_is_in_recovery()") == "t"
        eventually(lambda: ensure(pg1.psql("select count(*) from fo", db=DB) == "2", "row 2 not on pg1"), 60)
        eventually(lambda: ensure(members(etcd).get(member(pg1), {}).get("role") == "standby",
                                  members(etcd)), 30)


def test_link_cut_primary_fences_itself_before_its_lease_can_expire(nodes, bed):
    etcd = bed[2]
    pg1, pg2, pg3 = start_cluster(nodes, etcd)
    with Sampler(nodes) as s:
        time.sleep(1)
        t0 = time.monotonic()
        pg1.cut_link()
        try:
            first = s.first_writable(after=t0, exclude=[pg1], timeout=60)
            last = s.last_writable(pg1)
            fenced = last.got - t0
            print(f"\nlink cut of pg1: its last writable answer {fenced:.2f} s after the cut, "
                  f"{first.host} writable after {first.got - t0:.2f} s (ttl {TTL} s)")
            # The lease it held lasts at most TTL from its last renewal, which was before the cut.
            assert fenced < TTL, f"pg1 still writable {fenced:.1f} s after the cut\n" + agent_log(pg1)
            assert last.got < first.sent, (last, first)
            time.sleep(1)
            assert pg1.name not in s.writable_now()
        finally:
            pg1.restore_link()
        new = node_named(nodes, first.host)
        rejoined(pg1, new)
        sibling = pg3 if new is pg2 else pg2
        eventually(streams_from(sibling, new), 60)
        assert leader(etcd) == member(new)


def test_etcd_down_primary_fences_itself_and_standbys_wait(nodes, bed):
    etcd = bed[2]
    pg1, pg2, pg3 = start_cluster(nodes, etcd)
    with Sampler(nodes) as s:
        time.sleep(1)
        t0 = time.monotonic()
        etcd.stop()
        try:
            time.sleep(2 * TTL)             # standbys keep waiting: none promotes without etcd
            fenced = s.last_writable(pg1).got - t0
            print(f"\netcd down: pg1's last writable answer {fenced:.2f} s after (ttl {TTL} s)")
            assert fenced < TTL, f"pg1 writable {fenced:.1f} s after etcd went down\n" + agent_log(pg1)
            assert s.writable_now() == [], s.writable_now()
            for h in (pg2, pg3):
                assert h.psql("select pg_is_in_recovery()") == "t"
                assert not any(x.writable for x in s.samples[h.name] if x.sent >= t0)
        finally:
            etcd.start()

        def one_primary():
            up = [h for h in nodes if psql_run(h, "select pg_is_in_recovery()").stdout.strip() == "f"]
            assert len(up) == 1, [h.name for h in up]
            return up[0]
        primary = eventually(one_primary, 120)
        for h in nodes:
            if h is not primary:
                rejoined(h, primary)
        assert leader(etcd) == member(primary)


def test_kill_and_failover_loop_with_synchronous_commit_loses_no_acknowledged_commit(nodes, bed):
    loops = int(os.environ.get("PGREPL_FAILOVER_LOOPS", "3"))
    client, etcd = bed[1], bed[2]
    sync = dict(SYNCHRONOUS_COMMIT_MODE="on", NUM_SYNCHRONOUS_REPLICAS="1")
    primary = start_cluster(nodes, etcd, **sync)[0]
    writer = Writer(client, nodes)
    writer.setup(primary)
    writer.start()
    with Sampler(nodes) as s:
        for loop in range(loops):
            standbys = [n for n in nodes if n is not primary]
            wait_healthy(primary, standbys, sync=True)
            writer.wait_acked(50, timeout=60)
            t0 = time.monotonic()
            primary.crash()
            first = s.first_writable(after=t0, exclude=[primary], timeout=60)
            new = node_named(nodes, first.host)
            acked = writer.acked()
            missing = writer.missing(new, acked)
            print(f"\nloop {loop + 1}: {primary.name} crashed, {new.name} writable after {first.got - t0:.2f} s; "
                  f"{len(acked)} acknowledged commits so far, {len(missing)} missing on {new.name}")
            assert not missing, f"loop {loop + 1}: acknowledged commits missing on {new.name}: {missing[:20]}"
            old, primary = primary, new
            old.start()
            rejoined(old, primary)
        ids = writer.stop()
        missing = writer.missing(primary, ids)
        print(f"{loops} loops, {len(ids)} acknowledged commits, {len(missing)} missing")
        assert not missing, missing[:20]
        assert len(ids) > 50 * loops


def test_pgreplctl_promote_is_a_switchover(nodes, bed):
    etcd = bed[2]
    pg1, pg2, pg3 = start_cluster(nodes, etcd)
    with Sampler(nodes) as s:
        time.sleep(1)
        r = pg2.run(["pgreplctl", "promote", "main", "--wait=60"], check=False, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + agent_log(pg1, pg2)
        assert pg2.psql("select pg_is_in_recovery()") == "f"
        eventually(lambda: ensure(leader(etcd) == member(pg2), leader(etcd)), 30)
        rejoined(pg1, pg2)
        eventually(streams_from(pg3, pg2), 60)
        assert s.writable_now() == ["pg2"]
    # Nothing was lost on the way: the old primary stepped down first.
    assert pg2.psql("select count(*) from fo", db=DB) == "1"


def test_three_etcd_members_on_the_pg_hosts(nodes, bed):
    etcd3 = Etcd(nodes, token=f"three{_count[0]}")
    etcd3.start()
    try:
        pg1, pg2, pg3 = start_cluster(nodes, etcd3)
        with Sampler(nodes) as s:
            time.sleep(1)
            t0 = time.monotonic()
            pg1.crash()                 # its etcd member goes with it: two of three are left
            first = s.first_writable(after=t0, exclude=[pg1], timeout=60)
            took = first.got - t0
            print(f"\n3 etcd members, host crash of pg1: {first.host} writable after {took:.2f} s")
            assert took <= FAILOVER_BOUND + 3, agent_log(pg2, pg3)
            new = node_named(nodes, first.host)
            sibling = pg3 if new is pg2 else pg2
            eventually(streams_from(sibling, new), 60)
            pg1.start()
            etcd3.start([pg1])
            rejoined(pg1, new)
            assert leader(etcd3) == member(new)
    finally:
        etcd3.stop([h for h in nodes if h.running])


def test_failover_unset_the_agent_exits_saying_it_is_manual(nodes, bed):
    etcd = bed[2]
    pg1 = nodes[0]
    env = dict(MASTER, POSTGRESQL_ETCD_HOSTS=etcd.endpoints, POSTGRESQL_CLUSTER_NAME=cluster_name())
    write_env(pg1, env)
    pg1.systemctl("enable", "--now", PRIMARY, timeout=180)
    pid = pg1.unit_property(PRIMARY, "MainPID")
    # The server unit wants the agent: it ran, said why it has nothing to do and ended.
    eventually(lambda: ensure(pg1.unit_property(AGENT, "ActiveState") in ("inactive", "failed"),
                              pg1.unit_property(AGENT, "ActiveState")), 30)
    assert pg1.unit_property(AGENT, "ExecMainStatus") == "0"
    assert pg1.unit_property(AGENT, "Result") == "success"
    assert "manual" in pg1.journal(AGENT).lower(), pg1.journal(AGENT)
    time.sleep(3)                       # no restart loop either
    assert pg1.unit_property(AGENT, "ActiveState") in ("inactive", "failed")
    assert journal_count(pg1, AGENT, "is manual") == 1, pg1.journal(AGENT)
    assert pg1.unit_property(PRIMARY, "MainPID") == pid
    assert pg1.psql("select pg_is_in_recovery()") == "f"
    assert etcd.get_prefix(prefix()) == {}
