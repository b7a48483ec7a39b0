# SPDX-License-Identifier: MIT
"""`pgreplctl failover-act NAME` (SPEC 11): what root does about the failover agent's one-word
request in the instance's state directory, against real PostgreSQL 15 servers run by pgrepl's
binaries, without systemd: PGREPL_SYSTEMCTL names the fake of test_pgreplctl, which records the
calls and plays the units' part. The request is always moved aside (failover-request →
failover-seen), read only when it is a small regular file of root or postgres with one name."""

import os
import subprocess

from pgrepl_testlib import PG_BIN, PGUSER, binary, free_port, make_dir
from test_pgreplctl import Conf, FakeSystemctl, primary_and_standby, wait_until


def request(state, text, owner=PGUSER.pw_uid, mode=0o600):
    """Write the request as the agent does (atomic rename, 0600, owner postgres)."""
    tmp = state / ".failover-request.tmp"
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    os.chown(tmp, owner, PGUSER.pw_gid)
    tmp.chmod(mode)
    os.rename(tmp, state / "failover-request")


def act(conf, name, state, fake, **kw):
    return conf.run("failover-act", name, env={"PGREPL_SYSTEMCTL": str(fake.path), "STATE_DIRECTORY": str(state)},
                    **kw)


def test_start_and_restart_by_mode_and_nothing_without_a_request(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(p, "master")
    conf.write(s, "slave")
    fake = FakeSystemctl(cluster.root)
    state = make_dir(cluster.root / "act-state")

    # No request: nothing said, nothing done.
    r = act(conf, "standby", state, fake)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    assert fake.calls() == []
    r = act(conf, "standby", cluster.root / "no-such-state", fake)
    assert r.returncode == 0 and r.stderr == "", r.stderr

    # Only root acts; the request stays for it.
    request(state, "start\n")
    r = act(conf, "standby", state, fake, user="postgres")
    assert r.returncode == 77 and (state / "failover-request").exists(), r.stderr

    # start: the node's unit for its mode; the request is moved aside.
    r = act(conf, "standby", state, fake)
    assert r.returncode == 0, r.stdout + r.stderr
    assert fake.calls() == ["start pgrepl-standby@standby"]
    assert not (state / "failover-request").exists() and (state / "failover-seen").read_text() == "start\n"
    assert "systemctl start pgrepl-standby@standby" in r.stderr
    request(state, "start")
    r = act(conf, "primary", state, fake)
    assert r.returncode == 0 and fake.calls()[-1] == "start pgrepl-primary@primary", r.stderr

    # rejoin of a node already in slave mode: a start of its standby unit (its start rewinds; a start
    # already under way is not cut short).
    request(state, "rejoin\n")
    r = act(conf, "standby", state, fake)
    assert r.returncode == 0 and fake.calls()[-1] == "start pgrepl-standby@standby", r.stderr
    assert not (state / "failover-request").exists()

    # Any other word: one line, nothing done, exit 0.
    request(state, "promote\x1b[31m\n")
    r = act(conf, "standby", state, fake)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "'promote?[31m?' is neither 'rejoin' nor 'start'" in r.stderr, r.stderr
    assert len(fake.calls()) == 3 and not (state / "failover-request").exists()


def test_requests_that_are_not_small_files_of_the_agent_are_refused(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(s, "slave")
    fake = FakeSystemctl(cluster.root)
    state = make_dir(cluster.root / "act-state")
    secret = cluster.root / "root-secret"
    secret.write_text("start\n")
    secret.chmod(0o600)

    def refused(why):
        r = act(conf, "standby", state, fake)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"Refusing the failover request '{state}/failover-seen': it {why}" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1, r.stderr
        # Moved aside all the same: the path unit does not start us again for it.
        assert not os.path.lexists(state / "failover-request")
        assert fake.calls() == []

    os.symlink(secret, state / "failover-request")
    refused("is a symbolic link")
    assert secret.read_text() == "start\n"
    os.mkfifo(state / "failover-request")
    refused("is not a regular file")
    request(state, "start\n", owner=65534)
    refused("is owned by neither root nor postgres")
    request(state, "start" + " " * 64)
    refused("is too long")
    os.link(secret, state / "failover-request")
    refused("has other names (hard links)")
    # A request as root leaves it is taken.
    request(state, "start", owner=0)
    r = act(conf, "standby", state, fake)
    assert r.returncode == 0 and fake.calls() == ["start pgrepl-standby@standby"], r.stderr


def test_rejoin_of_a_primary_mode_node_is_pgreplctl_rejoin(cluster):
    """The agent's rejoin on the old primary's host: stopped, switched to slave, rewound, streaming."""
    pport, sport = free_port(), free_port()
    partners = {"POSTGRESQL_PARTNER_NODES": f"127.0.0.1:{pport},127.0.0.1:{sport}", "POSTGRESQL_FENCE_TIMEOUT": "3"}
    p, s = primary_and_standby(cluster, partners, dict(partners), pport, sport)
    p.psql("create table t(x int); insert into t values (1)")
    wait_until(lambda: s.psql("select count(*) from t", check=False).stdout.strip() == "1", 30, "replay")
    conf = Conf(cluster)
    text = conf.write(p, "master")
    fake = FakeSystemctl(cluster.root)
    state = p.state

    # Not superseded: the newest primary is never turned, and its file stays as it is.
    request(state, "rejoin\n")
    r = act(conf, "primary", state, fake)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "No other node is past 'primary' (timeline 1): it is the newest primary" in r.stderr, r.stderr
    assert fake.calls() == [] and conf.path(p).read_text() == text

    # The failover: the standby is promoted; the old primary still runs until the rejoin stops it.
    assert s.psql("select pg_promote()") == "t"
    s.psql("insert into t values (2)")
    fake.unit("pgrepl-primary@primary")
    start_env = {k: v for k, v in p.command_env(notify=False).items() if not k.startswith("POSTGRESQL_")}
    fake.action("stop pgrepl-primary@primary", ["kill", str(p.datadir)])
    fake.action("enable --now pgrepl-standby@primary",
                ["spawn", [binary("pgrepl-standby-bootstrap")], start_env, str(conf.path(p)), str(p.log)])
    request(state, "rejoin\n")
    try:
        r = act(conf, "primary", state, fake)
        assert r.returncode == 0, r.stdout + r.stderr + p.output()
        assert f"Rejoining 'primary' (timeline 1) as a standby of '127.0.0.1:{sport}' (timeline 2), by rewind" in r.stdout
        assert f"'primary' is a standby of '127.0.0.1:{sport}' now" in r.stdout
        assert fake.calls() == ["stop pgrepl-standby@primary", "stop pgrepl-primary@primary",
                                "disable pgrepl-primary@primary", "enable --now pgrepl-standby@primary"]
        assert "POSTGRESQL_REPLICATION_MODE=slave\n" in conf.path(p).read_text()
        assert "Rewound" in p.output()
        wait_until(lambda: p.psql("select count(*) from t") == "2", 30, "rows from the new primary")
    finally:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(p.datadir), "stop", "-m", "fast", "-s"],
                       user="postgres", capture_output=True, cwd="/", timeout=60)
