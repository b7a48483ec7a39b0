# SPDX-License-Identifier: MIT
"""pgreplctl with POSTGRESQL_FAILOVER=etcd (SPEC 11) against real PostgreSQL 15 servers run by pgrepl's
binaries, without systemd: `promote` is a switchover through etcd (never refused because another
node is the primary), carried out by the trigger watcher and the failover agent, whose part is
played here by the test; `status` shows the leader key, its lease and each member as a real etcd
(started by the test, Debian's etcd-server) has them."""

import base64
import json
import re
import threading
import time

from pgrepl_testlib import make_dir
from test_failover_agent import Etcd, etcd  # noqa: F401
from test_pgreplctl import Conf, Watcher, instance, primary_and_standby


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


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_status_shows_the_leader_key_its_lease_and_the_members(cluster, etcd):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(p, "master", tail=etcd_tail(p, s, etcd.url) + "POSTGRESQL_CLUSTER_NAME=main\n")
    conf.write(s, "slave", tail=etcd_tail(p, s, etcd.url) + "POSTGRESQL_CLUSTER_NAME=main\n")
    pm, sm = f"127.0.0.1:{p.port}", f"127.0.0.1:{s.port}"

    # No keys yet: no leader, no members. (The nodes themselves run without partners: the verdict is
    # degraded, and stays what it is whatever etcd says.)
    r = conf.run("status", "primary")
    verdict = r.returncode
    assert verdict in (0, 1) and r.stderr == "", r.stdout + r.stderr
    assert f"  etcd       {etcd.url}, keys under /pgrepl/main/\n" in r.stdout, r.stdout
    assert "  leader     none (no member holds the leader key)\n" in r.stdout
    assert "  members    none published\n" in r.stdout

    # As the agents lay them out: the leader key and each member under their own leases.
    lease = int(etcd.call("/v3/lease/grant", {"TTL": 30})["ID"])
    other = int(etcd.call("/v3/lease/grant", {"TTL": 30})["ID"])
    primary = {"role": "primary", "timeline": 1, "lsn": "0/3000148", "system": "7312345678901234567",
               "sync": [sm], "time": int(time.time())}
    standby = {"role": "standby", "timeline": 1, "lsn": "0/3000000", "system": "7312345678901234567",
               "streaming": True, "time": int(time.time())}
    for key, value, lid in [("/pgrepl/main/leader", pm, lease),
                            (f"/pgrepl/main/members/{pm}", json.dumps(primary), lease),
                            (f"/pgrepl/main/members/{sm}", json.dumps(standby), other),
                            ("/pgrepl/main/members/junk", "not \"json\"", 0),
                            ("/pgrepl/other/leader", "elsewhere", 0)]:
        body = {"key": b64(key), "value": b64(value)}
        if lid:
            body["lease"] = str(lid)
        etcd.call("/v3/kv/put", body)

    r = conf.run("status", "primary")
    assert r.returncode == verdict, r.stdout + r.stderr
    m = re.search(rf"^  leader     {pm}, lease {lease:x}, (\d+) s left of 30$", r.stdout, re.M)
    assert m and 25 <= int(m.group(1)) <= 30, r.stdout
    # In key order (the ports are random).
    rows = {pm: rf" +{pm} +primary +1 +0/3000148 +{sm}\n", sm: rf" +{sm} +standby +1 +0/3000000\n"}
    assert re.search(r"^  members    MEMBER +ROLE +TL +LSN +SYNC\n" + "".join(rows[k] for k in sorted(rows)) +
                     r" +junk +\? +- +- +not a member record\n", r.stdout, re.M), r.stdout
    assert "elsewhere" not in r.stdout
    # The rest of status as without etcd.
    assert "  server     primary, timeline 1, write 0/" in r.stdout

    r = conf.run("status", "--json")
    assert r.returncode == verdict, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    e = instance(doc, "standby")["etcd"]
    assert e["error"] is None and e["endpoint"] == etcd.url and e["prefix"] == "/pgrepl/main/"
    assert e["leader"]["member"] == pm and e["leader"]["lease"] == f"{lease:x}"
    assert 25 <= e["leader"]["ttl"] <= 30 and e["leader"]["granted_ttl"] == 30
    assert e["switchover"] is None
    assert [x["member"] for x in e["members"]] == sorted([pm, sm]) + ["junk"]
    members = {x["member"]: x for x in e["members"]}
    assert members[pm]["role"] == "primary" and members[pm]["timeline"] == 1 and members[pm]["lsn"] == "0/3000148"
    assert members[pm]["sync"] == [sm] and members[pm]["lease"] == f"{lease:x}"
    assert json.loads(members[pm]["value"]) == primary
    assert members[sm]["role"] == "standby" and members[sm]["sync"] == [] and members[sm]["lease"] == f"{other:x}"
    assert members["junk"]["parsed"] is False and members["junk"]["role"] is None
    assert members["junk"]["value"] == 'not "json"' and members["junk"]["lease"] is None
    assert instance(doc, "primary")["etcd"]["leader"]["member"] == pm

    # A switchover request is shown; the leader's lease revoked takes its keys with it.
    etcd.call("/v3/kv/put", {"key": b64("/pgrepl/main/switchover"), "value": b64(json.dumps({"to": sm, "from": pm}))})
    etcd.call("/v3/lease/revoke", {"ID": str(lease)})
    r, doc = conf.status("primary")
    e = instance(doc, "primary")["etcd"]
    assert e["leader"] is None and [x["member"] for x in e["members"]] == [sm, "junk"]
    assert json.loads(e["switchover"]) == {"to": sm, "from": pm}

    # etcd gone: one line says so, the rest of status as before, the verdict unchanged.
    etcd.stop()
    t0 = time.monotonic()
    r = conf.run("status", "primary")
    assert time.monotonic() - t0 < 15
    assert r.returncode == verdict, r.stdout + r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("  etcd ")]
    assert len(lines) == 1 and lines[0].startswith(f"  etcd       not reachable: cannot read the keys at {etcd.url}: "), \
        r.stdout
    assert "  leader " not in r.stdout and "  members " not in r.stdout
    assert "  server     primary, timeline 1, write 0/" in r.stdout
    r, doc = conf.status("primary")
    e = instance(doc, "primary")["etcd"]
    assert e["error"].startswith("cannot read the keys at ") and e["leader"] is None and e["members"] == []

    # Without etcd mode there is no etcd part at all.
    conf.write(p, "master")
    r, doc = conf.status("primary")
    assert instance(doc, "primary")["etcd"] is None
    r = conf.run("status", "primary")
    assert "  etcd " not in r.stdout
