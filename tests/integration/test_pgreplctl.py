# SPDX-License-Identifier: MIT
"""pgreplctl against real PostgreSQL 15 servers run by pgrepl's binaries, without systemd. Each
node's settings go into an env file of a test confdir (PGREPL_CONFDIR), as /etc/pgrepl/NAME.env
would hold them. With no systemd as PID 1 the units are "unknown"; where a command must run
systemctl, PGREPL_SYSTEMCTL names a fake that records its calls and plays the unit's part
(stopping a server, reloading or starting the standby binary by hand)."""

import json
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from pgrepl_testlib import BUILDDIR, PG_BIN, PGUSER, Node, binary, free_port, make_dir, note_output, sanitizer_env

CTL = str(BUILDDIR / "services" / "pgreplctl" / "pgreplctl")


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout}s")


class Conf:
    """A confdir of env files, and pgreplctl run on it (as root unless user is given)."""

    def __init__(self, cluster):
        self.dir = make_dir(cluster.root / "conf", 0o755)
        self.env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PGREPL_CONFDIR": str(self.dir)}

    def path(self, node):
        return self.dir / f"{node.name}.env"

    def write(self, node, mode, head="", tail=""):
        lines = [f"{k}={v}" for k, v in node.env.items() if k.startswith("POSTGRESQL_")]
        text = head + "\n".join(lines) + f"\nPOSTGRESQL_REPLICATION_MODE={mode}\n" + tail
        self.path(node).write_text(text)
        self.path(node).chmod(0o644)
        return text

    def run(self, *args, env=None, user=None, timeout=120):
        e = dict(self.env, **sanitizer_env())
        e.update(env or {})
        r = subprocess.run([CTL, *args], env=e, capture_output=True, text=True, timeout=timeout, user=user,
                           cwd="/")
        note_output(f"pgreplctl {' '.join(args)}", r.stdout + r.stderr)
        return r

    def status(self, *args, **kw):
        r = self.run("status", "--json", *args, **kw)
        return r, json.loads(r.stdout) if r.stdout else None


def started(node, timeout=60):
    node.start()
    node.wait_ready(timeout)
    return node


def primary_and_standby(cluster, penv=None, senv=None, pport=None, sport=None):
    p = started(cluster.primary(env={"POSTGRESQL_FSYNC": "off", **(penv or {})}, port=pport))
    s = started(cluster.standby(primary=p, env={"POSTGRESQL_FSYNC": "off", **(senv or {})}, port=sport))
    wait_until(lambda: p.psql("select state from pg_stat_replication") == "streaming", 30, "streaming")
    return p, s


def instance(doc, name):
    return next(i for i in doc["instances"] if i["name"] == name)


def test_status_of_a_primary_and_its_standby_as_text_and_json(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(p, "master", head="# the primary\n")
    conf.write(s, "slave")

    r = conf.run("status")
    assert r.returncode == 0, r.stdout + r.stderr
    text = r.stdout
    assert re.search(r"^primary \(primary, .*/conf/primary\.env\)$", text, re.M), text
    assert "  units      unknown (systemd is not running)\n" in text
    assert "  server     primary, timeline 1, write 0/" in text
    assert re.search(r"^  slots      NAME +ACTIVE +WAL STATUS +RETAINED\n +pgrepl_\w+_standby +yes +reserved ", text,
                     re.M), text
    assert re.search(r"^  replicas   NAME +CLIENT +STATE +SYNC +REPLAY +LAG\n +walreceiver +127\.0\.0\.1 +streaming"
                     r" +async ", text, re.M), text
    assert f"  upstream   127.0.0.1:{p.port}, streaming\n" in text
    assert re.search(r"^  lag        \d+ B, \d+\.\d s$", text, re.M), text
    assert "warning" not in text and "\033[" not in text

    r, doc = conf.status()
    assert r.returncode == 0 and doc["schema"] == 1 and doc["verdict"] == "healthy" and doc["warnings"] == []
    pi, si = instance(doc, "primary"), instance(doc, "standby")
    assert [u["active_state"] for u in pi["units"]] == ["unknown"] * 3
    assert [u["name"] for u in si["units"]] == ["pgrepl-primary@standby", "pgrepl-standby@standby",
                                                "pgrepl-trigger@standby"]
    assert pi["mode"] == "primary" and si["mode"] == "standby"
    ps, ss = pi["server"], si["server"]
    assert ps["role"] == "primary" and ss["role"] == "standby" and ps["timeline"] == ss["timeline"] == 1
    assert ps["system_identifier"] == ss["system_identifier"] and ps["replay_lsn"] is None
    assert ss["upstream"] == {"host": "127.0.0.1", "port": p.port, "status": "streaming", "streaming": True}
    assert ss["lag_bytes"] >= 0 and ss["lag_seconds"] >= 0 and ss["replay_lsn"]
    assert ps["slots"][0]["active"] is True and ps["slots"][0]["wal_status"] == "reserved"
    assert ps["replicas"][0]["sync_state"] == "async" and ps["replicas"][0]["slot"] == ps["slots"][0]["name"]
    assert pi["partners"] == [] and pi["promotion"] is None

    # One instance only.
    r, doc = conf.status("standby")
    assert r.returncode == 0 and [i["name"] for i in doc["instances"]] == ["standby"]


def test_status_for_other_users_and_unreadable_secrets(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    secret = cluster.root / "repl-secret"
    secret.write_text("repl-pw\n")
    secret.chmod(0o600)
    conf.write(p, "master")
    # The standby reads its replication password from a root-only file, as operators keep it.
    s_text = conf.write(s, "slave").replace("POSTGRESQL_REPLICATION_PASSWORD=repl-pw\n",
                                            f"POSTGRESQL_REPLICATION_PASSWORD_FILE={secret}\n")
    conf.path(s).write_text(s_text)

    # The service user may look at everything.
    r, doc = conf.status(user="postgres")
    assert r.returncode == 0, r.stderr
    assert instance(doc, "standby")["server"]["role"] == "standby"

    # Another user who may read the env files: the rest of the picture, no false alarm.
    r, doc = conf.status(user="nobody")
    assert r.returncode == 0, r.stdout + r.stderr
    for i in doc["instances"]:
        assert i["error"] is None
        assert i["server"]["checked"] is False and "run pgreplctl as root or postgres" in i["server"]["reason"]
    r = conf.run("status", user="nobody")
    assert "not checked: this user may not connect as postgres" in r.stdout

    # An env file this user cannot read is an error (2), named.
    conf.path(p).chmod(0o600)
    r, doc = conf.status(user="nobody")
    assert r.returncode == 2 and doc["verdict"] == "error"
    assert "permission denied" in instance(doc, "primary")["error"]
    # Not an instance at all.
    r = conf.run("status", "nope")
    assert r.returncode == 2 and "does not exist" in r.stdout


def test_stopped_standby_is_named_and_degrades(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(p, "master")
    conf.write(s, "slave")
    assert s.stop() == 0

    r = conf.run("status")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "  server     not reachable: no server on that socket\n" in r.stdout
    assert "warning: 'standby': server not reachable (no server on that socket)\n" in r.stdout
    r, doc = conf.status()
    assert r.returncode == 1 and doc["verdict"] == "degraded"
    assert doc["warnings"] == [{"instance": "standby", "text": "'standby': server not reachable (no server on that socket)"}]
    assert instance(doc, "primary")["server"]["slots"][0]["active"] is False


def test_slot_holding_wal_and_missing_synchronous_standby(cluster):
    p = started(cluster.primary(env={"POSTGRESQL_FSYNC": "off", "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS": "1"}))
    conf = Conf(cluster)
    conf.write(p, "master")
    p.psql("select pg_create_physical_replication_slot('held', true)")
    p.psql("set synchronous_commit = local; create table t1(); select pg_switch_wal(); create table t2();"
           " select pg_switch_wal(); create table t3()")

    r = conf.run("status")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^warning: 'primary': inactive slot 'held' holds \d+\.\d MiB of WAL$", r.stdout, re.M), r.stdout
    assert ("warning: 'primary': 1 synchronous standby wanted (POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS), 0 connected: "
            "commits wait\n") in r.stdout
    r, doc = conf.status()
    slot = instance(doc, "primary")["server"]["slots"][0]
    assert slot["name"] == "held" and slot["active"] is False and slot["retained_bytes"] > 16 * 1024 * 1024


def test_partners_one_row_each_then_two_primaries_then_one_gone(cluster):
    pport, sport = free_port(), free_port()
    partners = {"POSTGRESQL_PARTNER_NODES": f"127.0.0.1:{pport},127.0.0.1:{sport}"}
    p, s = primary_and_standby(cluster, partners, partners, pport, sport)
    conf = Conf(cluster)
    conf.write(p, "master")
    conf.write(s, "slave")
    wait_until(lambda: p.psql("select count(*) from pg_stat_replication where state = 'streaming'") == "1", 30,
               "streaming")

    r, doc = conf.status("primary")
    assert r.returncode == 0, r.stdout + r.stderr
    members = instance(doc, "primary")["partners"]
    assert [(m["member"], m["self"], m["role"], m["timeline"]) for m in members] == [
        (f"127.0.0.1:{pport}", True, "primary", 1), (f"127.0.0.1:{sport}", False, "standby", 1)]
    # On the primary's host its pg_stat_replication gives the standby's state and sync state.
    assert members[1]["state"] == "streaming" and members[1]["sync_state"] == "async"
    assert members[1]["lag_bytes"] >= 0 and members[0]["lag_bytes"] is None
    r = conf.run("status", "standby")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^  partners +MEMBER +ROLE +STATE +TL +LSN +LAG +SYNC\n +127\.0\.0\.1:{pport} +primary +running +1 ",
                     r.stdout, re.M), r.stdout
    assert re.search(rf"^ +\* +127\.0\.0\.1:{sport} +standby ", r.stdout, re.M), r.stdout

    # Any user who may read the env files sees the members (a passfile is made for the run).
    r, doc = conf.status("primary", user="nobody")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [m["role"] for m in instance(doc, "primary")["partners"]] == ["primary", "standby"]

    # The standby promoted while the primary still runs: two writable primaries.
    assert s.psql("select pg_promote()") == "t"
    r = conf.run("status")
    assert r.returncode == 1
    assert (f"warning: two writable primaries: '127.0.0.1:{pport}' (timeline 1) and '127.0.0.1:{sport}' "
            "(timeline 2)\n") in r.stdout, r.stdout

    # The promoted one stopped: named as unreachable by the others.
    assert s.stop() == 0
    r, doc = conf.status("primary")
    assert r.returncode == 1
    assert {"instance": None, "text": f"partner '127.0.0.1:{sport}' is unreachable: connection refused"} in doc["warnings"]
    m = instance(doc, "primary")["partners"][1]
    assert m["reachable"] is False and m["reason"] == "connection refused" and m["role"] is None


class Watcher(Node):
    """The trigger watcher of a standby, run by hand as its unit runs it (postgres, CAP_FOWNER)."""

    def __init__(self, root, standby, trigger):
        base = {"POSTGRESQL_PORT_NUMBER": str(standby.port), "POSTGRESQL_SOCKET_DIR": str(standby.sockdir),
                "POSTGRESQL_PROMOTE_TRIGGER_FILE": str(trigger)}
        super().__init__(root, standby.name + "-watcher", "pgrepl-trigger-watcher", base)
        self.env["RUNTIME_DIRECTORY"] = str(make_dir(self.root / "locks", 0o755))

    def start(self, args=(), extra_env=None):
        return self.start_with_fowner(args, extra_env)


def promotable(cluster):
    """A primary, its standby with a trigger path in a sticky directory, and the env files."""
    tdir = make_dir(cluster.root / "trig", 0o1777)
    trigger = tdir / "postgresql.trigger"
    p, s = primary_and_standby(cluster, senv={"POSTGRESQL_PROMOTE_TRIGGER_FILE": str(trigger)})
    conf = Conf(cluster)
    conf.write(p, "master")
    conf.write(s, "slave")
    return p, s, conf, trigger


def test_promote_refuses_beside_the_primary_then_promotes_and_waits(cluster):
    p, s, conf, trigger = promotable(cluster)
    w = Watcher(cluster.root, s, trigger)
    cluster.nodes.append(w)
    w.start()
    w.wait_ready()

    r = conf.run("promote", "standby", "--wait=20")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"Refusing to promote 'standby': '127.0.0.1:{p.port}' is a writable primary (timeline 1)" in r.stderr
    assert not trigger.exists() and s.psql("select pg_is_in_recovery()") == "t"

    # As the seed does it: the old primary is gone first.
    assert p.stop() == 0
    r = conf.run("promote", "standby", "--wait=30")
    assert r.returncode == 0, r.stdout + r.stderr + w.output()
    m = re.fullmatch(r"Promoted 'standby': writable after (\d+) ms, timeline 2, LSN [0-9A-F]+/[0-9A-F]+\n", r.stdout)
    assert m and int(m.group(1)) < 30000, r.stdout
    assert s.psql("select pg_is_in_recovery()") == "f"
    assert w.proc.wait(30) == 0

    # The watcher's record, as status shows it.
    record = dict(line.split("=", 1) for line in (w.state / "promotion").read_text().splitlines())
    assert record["trigger_path"] == str(trigger) and record["timeline"] == "2"
    r, doc = conf.status("standby", env={"STATE_DIRECTORY": str(w.state)})
    promo = instance(doc, "standby")["promotion"]
    assert promo["timeline"] == 2 and promo["trigger_path"] == str(trigger) and promo["lsn"] == record["lsn"]
    r = conf.run("status", "standby", env={"STATE_DIRECTORY": str(w.state)})
    assert re.search(r"^  promotion  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, timeline 2, LSN ", r.stdout, re.M), r.stdout
    assert "  server     primary, timeline 2, write " in r.stdout

    # Once more: already a primary.
    r = conf.run("promote", "standby")
    assert r.returncode == 0 and "'standby' is already a primary: timeline 2" in r.stdout


def test_promote_force_without_a_watcher_times_out_and_says_why(cluster):
    p, s, conf, trigger = promotable(cluster)
    r = conf.run("promote", "standby", "--force", "--wait=2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'standby' is still in recovery after 2 s; the trigger file is still there" in r.stderr
    st = trigger.lstat()
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    # A leftover root trigger is replaced (a new file: the inode may be reused, the change time is
    # new); anyone else's is refused, not followed.
    r = conf.run("promote", "standby", "--force", "--wait=0")
    assert r.returncode == 1 and trigger.lstat().st_ctime_ns != st.st_ctime_ns
    trigger.unlink()
    trigger.symlink_to("/etc/passwd")
    r = conf.run("promote", "standby", "--force", "--wait=0")
    assert r.returncode == 2 and "is not a trigger file of root or postgres (a symbolic link" in r.stderr


def test_promote_needs_root_and_a_standby(cluster):
    p, s, conf, trigger = promotable(cluster)
    r = conf.run("promote", "standby", user="postgres")
    assert r.returncode == 77 and "run it as root" in r.stderr
    r = conf.run("promote", "primary")
    assert r.returncode == 1 and "'primary' is a primary instance" in r.stderr
    assert not trigger.exists()
    r = conf.run("promote")
    assert r.returncode == 64


FAKE_SYSTEMCTL = r'''#!/usr/bin/python3
# A systemctl for pgreplctl's tests: records each call, answers `show` from a state file, and
# plays the units' part where the test asked it to (actions keyed by "VERB UNIT").
import json, os, signal, subprocess, sys, time
STATE = @STATE@
args = [a for a in sys.argv[1:] if a not in ("--no-ask-password", "--no-pager")]
with open(STATE) as f:
    st = json.load(f)
st["calls"].append(args)
units = st["units"]
def unit(name):
    return units.setdefault(name.removesuffix(".service"), {"ActiveState": "inactive", "SubState": "dead",
                                                           "UnitFileState": "disabled", "StatusText": ""})
rc = 0
if args[0] == "show":
    names = args[args.index("--") + 1:]
    print("\n\n".join("Id=%s.service\n" % n + "\n".join("%s=%s" % kv for kv in unit(n).items()) for n in names))
else:
    name = args[-1]
    for action in st["actions"].get(" ".join(args), []):
        if action[0] == "kill":             # the server of a data directory, as KillSignal=SIGINT does
            pid = int(open(action[1] + "/postmaster.pid").readline())
            os.kill(pid, signal.SIGINT)
            while os.path.exists(action[1] + "/postmaster.pid"):
                time.sleep(0.05)
        elif action[0] in ("run", "spawn"):  # argv, environment (the env file's lines added), as postgres
            env = dict(action[2])
            for line in open(action[3]):
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    env[k.strip()] = v.strip()
            kw = dict(env=env, user="postgres", group="postgres", extra_groups=[], cwd="/")
            if action[0] == "run":
                rc = subprocess.run(action[1], **kw).returncode
            else:
                subprocess.Popen(action[1], stdout=open(action[4], "ab"), stderr=subprocess.STDOUT,
                                 start_new_session=True, **kw)
    u = unit(name)
    if args[0] in ("stop",):
        u.update(ActiveState="inactive", SubState="dead")
    if args[0] in ("start", "restart") or "--now" in args and args[0] == "enable":
        u.update(ActiveState="active", SubState="running")
    if args[0] == "enable":
        u["UnitFileState"] = "enabled"
    if args[0] == "disable":
        u["UnitFileState"] = "disabled"
with open(STATE, "w") as f:
    json.dump(st, f)
sys.exit(rc)
'''


class FakeSystemctl:
    def __init__(self, root):
        self.state = root / "systemctl.json"
        self.path = root / "systemctl"
        self.path.write_text(FAKE_SYSTEMCTL.replace("@STATE@", repr(str(self.state))))
        self.path.chmod(0o755)
        self.data = {"calls": [], "units": {}, "actions": {}}
        self.save()

    def save(self):
        self.state.write_text(json.dumps(self.data))

    def load(self):
        self.data = json.loads(self.state.read_text())
        return self.data

    def unit(self, name, active="active", status=""):
        self.data["units"][name] = {"ActiveState": active, "SubState": "running" if active == "active" else "dead",
                                    "UnitFileState": "enabled", "StatusText": status}
        self.save()

    def action(self, key, *steps):
        self.data["actions"][key] = list(steps)
        self.save()

    def calls(self):
        return [" ".join(c) for c in self.load()["calls"] if c[0] != "show"]


def test_follow_edits_the_env_file_byte_for_byte_without_systemd(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    head = "# standby of the old primary\r\n  ; spaced comment \\\n\nPOSTGRESQL_MASTER_HOST = 'old'  \n"
    text = conf.write(s, "slave", head=head, tail="EXTRA='a b' # not a comment\n")
    os.chown(conf.path(s), 0, PGUSER.pw_gid)
    conf.path(s).chmod(0o640)

    r = conf.run("follow", "standby", "[::1]:6543")
    assert r.returncode == 1 and "systemd is not running here" in r.stderr, r.stderr
    assert f"Set the master host of 'standby' to '::1' port 6543 in '{conf.path(s)}'" in r.stdout
    new = conf.path(s).read_bytes().decode()
    expected = text.replace(f"POSTGRESQL_MASTER_HOST=127.0.0.1\n", "POSTGRESQL_MASTER_HOST=::1\n").replace(
        f"POSTGRESQL_MASTER_PORT_NUMBER={p.port}\n", "POSTGRESQL_MASTER_PORT_NUMBER=6543\n")
    assert new == expected
    st = conf.path(s).stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (0, PGUSER.pw_gid)

    # Refused: what the unit would refuse, a primary, another user; nothing written.
    r = conf.run("follow", "standby", "bad/host")
    assert r.returncode == 64
    conf.write(p, "master")
    r = conf.run("follow", "primary", "h")
    assert r.returncode == 1 and "use pgreplctl rejoin primary" in r.stderr
    r = conf.run("follow", "standby", "h", user="postgres")
    assert r.returncode == 77
    assert conf.path(s).read_bytes().decode() == expected


def test_follow_reloads_and_streams_from_the_new_primary_or_says_why(cluster):
    p = started(cluster.primary(env={"POSTGRESQL_FSYNC": "off"}))
    s1 = started(cluster.standby("s1", p, env={"POSTGRESQL_FSYNC": "off"}))
    s2 = started(cluster.standby("s2", p, env={"POSTGRESQL_FSYNC": "off", "POSTGRESQL_CLUSTER_APP_NAME": "s_two"}))
    conf = Conf(cluster)
    conf.write(s2, "slave", head="# s2\n")
    fake = FakeSystemctl(cluster.root)
    fake.unit("pgrepl-standby@s2")
    reload_env = {k: v for k, v in s2.command_env(notify=False).items() if not k.startswith("POSTGRESQL_")}
    fake.action("reload pgrepl-standby@s2",
                ["run", [binary("pgrepl-standby-bootstrap"), "--reload"], reload_env, str(conf.path(s2))])
    env = {"PGREPL_SYSTEMCTL": str(fake.path)}

    # The seed's failover: the primary goes, s1 is promoted, s2 is told to follow it.
    assert p.stop() == 0
    assert s1.psql("select pg_promote()") == "t"
    r = conf.run("follow", "s2", f"127.0.0.1:{s1.port}", env=env)
    assert r.returncode == 0, r.stdout + r.stderr + s2.output()
    assert f"'s2' streams from '127.0.0.1' port {s1.port}\n" in r.stdout
    assert fake.calls() == ["reload pgrepl-standby@s2"]
    assert s1.psql("select application_name, state from pg_stat_replication") == "s_two|streaming"

    # Nothing listens there: not streaming after the wait, and why.
    dead = free_port()
    r = conf.run("follow", "s2", f"127.0.0.1:{dead}", "--wait=2", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"'s2' is not streaming from '127.0.0.1' after 2 s" in r.stderr
    assert f"'127.0.0.1:{dead}' does not answer: connection refused" in r.stderr
    assert "pgrepl-standby@s2: active (running)" in r.stderr

    # A stopped unit: the file is set, the standby follows when it starts.
    fake.unit("pgrepl-standby@s2", active="inactive")
    r = conf.run("follow", "s2", f"127.0.0.1:{s1.port}", env=env)
    assert r.returncode == 1 and "pgrepl-standby@s2 is inactive: it follows the new master host when it starts" in r.stderr
    assert f"POSTGRESQL_MASTER_PORT_NUMBER={s1.port}\n" in conf.path(s2).read_text()


def test_rejoin_refusals(cluster):
    p, s = primary_and_standby(cluster)
    conf = Conf(cluster)
    conf.write(p, "master")
    fake = FakeSystemctl(cluster.root)
    env = {"PGREPL_SYSTEMCTL": str(fake.path)}
    before = conf.path(p).read_text()

    assert conf.run("rejoin", "primary", user="postgres").returncode == 77
    r = conf.run("rejoin", "primary")
    assert r.returncode == 1 and "systemd is not running here" in r.stderr
    r = conf.run("rejoin", "primary", env=env)
    assert r.returncode == 64 and "name the current primary with --master=HOST[:PORT]" in r.stderr
    # Its standby is not past it: this is the newest primary, never demoted.
    r = conf.run("rejoin", "primary", f"--master=127.0.0.1:{s.port}", env=env)
    assert r.returncode == 1 and "No other node is past 'primary' (timeline 1): it is the newest primary" in r.stderr
    r = conf.run("rejoin", "primary", f"--master=127.0.0.1:{free_port()}", env=env)
    assert r.returncode == 1 and "No other node answers" in r.stderr
    assert fake.calls() == [] and conf.path(p).read_text() == before
    assert p.psql("select pg_is_in_recovery()") == "f"


def test_rejoin_reclone_turns_the_old_primary_into_a_standby(cluster):
    p, s = primary_and_standby(cluster)
    p.psql("create table t(x int); insert into t values (1)")
    wait_until(lambda: s.psql("select count(*) from t", check=False).stdout.strip() == "1", 30, "replay")
    conf = Conf(cluster)
    head = "# was the primary\n"
    text = conf.write(p, "master", head=head)
    # The failover: the standby is promoted; the old primary still runs (it will be stopped by rejoin).
    assert s.psql("select pg_promote()") == "t"
    s.psql("insert into t values (2)")

    fake = FakeSystemctl(cluster.root)
    fake.unit("pgrepl-primary@primary")
    start_env = {k: v for k, v in p.command_env(notify=False).items() if not k.startswith("POSTGRESQL_")}
    fake.action("stop pgrepl-primary@primary", ["kill", str(p.datadir)])
    fake.action("enable --now pgrepl-standby@primary",
                ["spawn", [binary("pgrepl-standby-bootstrap")], start_env, str(conf.path(p)), str(p.log)])
    env = {"PGREPL_SYSTEMCTL": str(fake.path)}
    try:
        # Without partners the standby unit cannot rewind: only --reclone may go on, and nothing is touched.
        r = conf.run("rejoin", "primary", f"--master=127.0.0.1:{s.port}", env=env)
        assert r.returncode == 64 and "add --reclone" in r.stderr, r.stdout + r.stderr
        assert conf.path(p).read_text() == text
        r = conf.run("rejoin", "primary", f"--master=127.0.0.1:{s.port}", "--reclone", env=env)
        assert r.returncode == 0, r.stdout + r.stderr + p.output()
        assert (f"Rejoining 'primary' (timeline 1) as a standby of '127.0.0.1:{s.port}' (timeline 2), by a new clone"
                in r.stdout)
        assert f"'primary' is a standby of '127.0.0.1:{s.port}' now, WAL receiver streaming\n" in r.stdout
        assert fake.calls() == ["stop pgrepl-standby@primary", "stop pgrepl-primary@primary",
                                "disable pgrepl-primary@primary", "enable --now pgrepl-standby@primary"]
        # Every other line kept; the old data kept beside the new clone.
        new = conf.path(p).read_text()
        assert new == text.replace("POSTGRESQL_REPLICATION_MODE=master\n", "POSTGRESQL_REPLICATION_MODE=slave\n") + (
            f"POSTGRESQL_MASTER_HOST=127.0.0.1\nPOSTGRESQL_MASTER_PORT_NUMBER={s.port}\n")
        aside = [d for d in p.datadir.parent.iterdir() if d.name.startswith("data.pgrepl-old-")]
        assert len(aside) == 1 and (aside[0] / "PG_VERSION").exists(), aside
        assert p.psql("select pg_is_in_recovery()") == "t"
        wait_until(lambda: p.psql("select count(*) from t") == "2", 30, "rows from the new primary")
    finally:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(p.datadir), "stop", "-m", "fast", "-s"],
                       user="postgres", capture_output=True, cwd="/", timeout=60)
