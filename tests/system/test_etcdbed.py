# SPDX-License-Identifier: MIT
"""The failover tests' own instruments (etcdbed.py), on two hosts, with no
failover agent: they must be able to fail a test.

- etcd starts in a host as a transient unit, answers on the test net, and
  keeps a key across a stop and a start; wipe() empties it;
- the Sampler sees two writable servers (two independent primaries) and
  check() fails; one primary alone passes;
- the Writer's acknowledged ids are all on the primary, and missing() names
  an acknowledged id the primary does not have.
"""

import time

import pytest

from cluster import *  # noqa: F401,F403
from etcdbed import Etcd, Sampler, Writer


@pytest.fixture(scope="module")
def pair(make_hosts, install):
    hosts = make_hosts("eb1", "eb2")
    parallel(*(lambda h=h: install(h) for h in hosts))
    return hosts


def test_etcd_in_a_host(pair):
    eb1, eb2 = pair
    etcd = Etcd([eb1])
    etcd.start()
    assert etcd.endpoints == f"http://{eb1.ip}:2379"
    etcd.call("/v3/kv/put", {"key": "L3BndC9r", "value": "dg=="})        # /pgt/k = v
    assert etcd.get("/pgt/k", via=eb2) == ("v", None)      # from another host, over the test net
    assert etcd.get_prefix("/pgt/") == {"/pgt/k": "v"}
    etcd.stop()
    assert eb2.run(f"curl -sf --max-time 1 http://{eb1.ip}:2379/health", check=False).returncode != 0
    etcd.start()
    assert etcd.get("/pgt/k") == ("v", None)
    etcd.wipe()
    assert etcd.get("/pgt/k") is None
    assert eb1.unit_property("etcd.service", "ActiveState") == "inactive"   # the package's unit never runs
    etcd.stop()


def test_sampler_fails_on_two_writable_servers(pair):
    eb1, eb2 = pair
    parallel(*(lambda h=h: reset(h) for h in pair))
    start_primary(eb1)
    with Sampler(pair) as s:
        s.first_writable(after=0, timeout=30)
        time.sleep(1)
        assert s.writable_now() == ["eb1"]
    assert not s.overlaps()
    start_primary(eb2)           # a second, independent primary: what the sampler exists to catch
    s = Sampler(pair)
    s.start()
    time.sleep(1.5)
    s.stop()
    assert s.overlaps(), s.samples
    with pytest.raises(AssertionError, match="two writable servers at once"):
        s.check()


def test_writer_records_acknowledged_commits(pair):
    eb1, eb2 = pair
    parallel(*(lambda h=h: reset(h) for h in pair))
    start_primary(eb1)
    w = Writer(eb2, [eb1])
    w.setup(eb1)
    w.start()
    w.wait_acked(100, timeout=60)
    ids = w.stop()
    assert ids == list(range(1, len(ids) + 1)), ids[:20]
    assert w.missing(eb1, ids) == []
    eb1.psql(f"delete from acked where id = {ids[len(ids) // 2]}", db=DB)
    assert w.missing(eb1, ids) == [ids[len(ids) // 2]]
