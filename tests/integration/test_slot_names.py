# SPDX-License-Identifier: MIT
"""The standby's default slot name (no partners, no POSTGRESQL_REPLICATION_SLOT
name): from this machine's id and the instance, recorded in the state
directory at the first clone and read back after, so two cloned machines
with one host name (and one instance name) get two slots, and a renamed host
keeps its slot. Each standby runs as on a machine of its own: a private
mount and UTS namespace with its own /etc/machine-id and host name."""

import re
import subprocess
import time

from pgrepl_testlib import PGUSER, binary

SHARED_HOST = "cloned-host"


def start_on_machine(node, machine_id, hostname):
    """node's binary as postgres, in a mount namespace whose /etc/machine-id is machine_id and a UTS
    namespace named hostname."""
    mid = node.root / "machine-id"
    mid.write_text(machine_id + "\n")
    node.logf = open(node.log, "ab")
    node.started_at = node.notify.mark()
    script = ('mount --bind "$1" /etc/machine-id && hostname "$2" && shift 2 && '
              f'exec setpriv --reuid={PGUSER.pw_uid} --regid={PGUSER.pw_gid} --clear-groups "$@"')
    node.proc = subprocess.Popen(
        ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-ec", script, "sh", str(mid), hostname,
         binary(node.binary_name)],
        env=node.command_env(), stdout=node.logf, stderr=subprocess.STDOUT, cwd="/")
    node.wait_ready(timeout=60)


def slots(primary):
    """{slot name: active} on the primary."""
    out = primary.psql("select slot_name, active from pg_replication_slots order by 1")
    return dict(line.split("|") for line in out.splitlines() if line)


def wait_slots_active(primary, names, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = slots(primary)
        if all(s.get(n) == "t" for n in names):
            return s
        time.sleep(0.1)
    raise AssertionError(f"slots {names} not all active: {slots(primary)}")


def test_two_machines_with_one_host_name_get_two_slots_kept_across_restarts(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    machines = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]
    standbys = [cluster.standby(name=f"sb{i}", primary=p, env={"PGREPL_INSTANCE": "main"}) for i in (1, 2)]
    for s, m in zip(standbys, machines):
        start_on_machine(s, m, SHARED_HOST)
    names = [(s.state / "slot").read_text().strip() for s in standbys]
    assert names[0] != names[1], names
    for n in names:
        assert re.fullmatch(r"pgrepl_[0-9a-f]{16}_main", n), n
        assert "cloned" not in n
    assert set(wait_slots_active(p, names)) == set(names)
    for s, n in zip(standbys, names):
        assert f"primary_slot_name = '{n}'" in (s.datadir / "pgrepl.auto.conf").read_text()

    # A restart, then a restart on a renamed host: the same slot each time, no new one.
    s1 = standbys[0]
    for host in (SHARED_HOST, "renamed-host"):
        assert s1.stop() == 0
        start_on_machine(s1, machines[0], host)
        assert (s1.state / "slot").read_text().strip() == names[0]
        assert f"primary_slot_name = '{names[0]}'" in (s1.datadir / "pgrepl.auto.conf").read_text()
        assert set(wait_slots_active(p, names)) == set(names)
