# SPDX-License-Identifier: MIT
"""Smoke test of the harness itself, with no pgrepl code involved.

Proves what later scenarios rely on: hosts have their own name and address
and nothing else to talk to, reach each other until a link is cut, never run
the machine's own PostgreSQL, keep their disk and persist_dir over reboots,
and get a meson install in their own writable layer only.
"""

import subprocess
from pathlib import Path

import pytest

import harness

PORT = 7000
# A listener that answers every connection with its host name.
LISTENER = f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT}))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(socket.gethostname().encode())
    c.close()
"""
CONNECT = (f"import socket, sys; c = socket.create_connection((sys.argv[1], {PORT}), timeout=2); "
           "print(c.recv(64).decode())")


def test_each_host_has_its_own_name_address_and_nothing_else(host_pair):
    for host in host_pair:
        assert host.run(["hostname"]).stdout.strip() == host.name
        assert f"inet {host.ip}/24" in host.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
        routes = host.run(["ip", "-4", "route"]).stdout.strip().splitlines()
        assert [r.split()[0] for r in routes] == [f"{harness.SUBNET}.0/24"]
        assert host.run(["ip", "route", "get", "192.0.2.1"], check=False).returncode != 0
        assert host.run(["findmnt", "-n", "-o", "FSTYPE", "/tmp"]).stdout.split()[-1] == "tmpfs"
        for other in host_pair:
            assert host.run(["getent", "hosts", other.name]).stdout.split()[0] == other.ip
    ids = {h.read_file("/etc/machine-id").strip() for h in host_pair}
    assert len(ids) == len(host_pair)


def test_machine_postgresql_never_starts(host_pair):
    for host in host_pair:
        for unit in harness.POSTGRESQL_UNITS:
            assert host.run(["systemctl", "is-enabled", unit], check=False).stdout.startswith("masked")
            assert host.unit_property(unit, "ActiveState") == "inactive"
            assert host.unit_property(unit, "InactiveExitTimestampMonotonic") == "0"
        assert host.run(["ss", "-Hltn", "sport = :5432"]).stdout.strip() == ""


def test_hosts_reach_each_other_until_the_link_is_cut(host_pair):
    a, b = host_pair
    a.systemctl("reset-failed", check=False)
    a.run(["systemd-run", "--unit=pgt-listener", "python3", "-c", LISTENER])
    try:
        a.wait_for(["sh", "-c", f"ss -Hltn 'sport = :{PORT}' | grep -q ."], timeout=10)
        assert b.run(["python3", "-c", CONNECT, a.ip]).stdout.strip() == a.name
        assert b.run(["python3", "-c", CONNECT, a.name]).stdout.strip() == a.name
        a.cut_link()
        try:
            assert b.run(["python3", "-c", CONNECT, a.ip], check=False).returncode != 0
        finally:
            a.restore_link()
        b.wait_for(["python3", "-c", CONNECT, a.ip], timeout=20)
    finally:
        a.systemctl("stop", "pgt-listener.service", check=False)


def test_psql_locally_and_over_tcp_with_a_password(host_pair):
    """A throwaway server (not the machine's cluster) to exercise Host.psql."""
    a, b = host_pair
    data = "/var/lib/pgt-pg"
    a.run(["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", data])
    a.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/initdb", "-D", data,
           "--auth-local=peer", "--auth-host=scram-sha-256"], timeout=120)
    a.write_file(f"{data}/pg_hba.conf", "local all postgres peer\n"
                 f"host all all {harness.SUBNET}.0/24 scram-sha-256\n", mode=0o600, owner="postgres")
    a.run(["systemd-run", "--unit=pgt-pg", "-p", "User=postgres", "-p", "Type=notify",
           "-p", "RuntimeDirectory=postgresql", "-p", "RuntimeDirectoryPreserve=yes",
           "/usr/lib/postgresql/15/bin/postgres", "-D", data, "-p", "5433",
           "-c", "listen_addresses=*", "-c", "unix_socket_directories=/run/postgresql"])
    try:
        assert a.psql("SELECT 1", port=5433) == "1"
        a.psql("CREATE ROLE \"u 1\" LOGIN PASSWORD 'p w';\nCREATE DATABASE d OWNER \"u 1\";", port=5433)
        assert b.psql("SELECT current_user, current_database()", port=5433, host=a.ip,
                      user="u 1", db="d", password="p w") == "u 1|d"
        with pytest.raises(subprocess.CalledProcessError):
            b.psql("SELECT 1", port=5433, host=a.ip, user="u 1", db="d", password="wrong")
    finally:
        a.systemctl("stop", "pgt-pg.service", check=False)


def test_reboot_keeps_disk_and_persist_dir(make_hosts, testbed):
    (host,) = make_hosts("pg3", persist=True)
    host.write_file("/var/lib/pgrepl/marker", "data\n", owner="postgres")
    host.write_file("/etc/pgt-marker", "etc\n")
    assert (testbed.persist_dir("pg3") / "marker").read_text() == "data\n"

    for hard in (False, True):
        before = host.pid1
        host.reboot(hard=hard)
        print(f"reboot(hard={hard}) of {host.name}: {host.boot_seconds:.1f}s to running")
        assert host.pid1 != before
        assert host.read_file("/var/lib/pgrepl/marker") == "data\n"
        assert host.read_file("/etc/pgt-marker") == "etc\n"
        assert host.run(["hostname"]).stdout.strip() == host.name

    host.reboot(reset_root=True)
    assert host.run(["test", "-e", "/etc/pgt-marker"], check=False).returncode == 1
    assert host.run(["stat", "-c", "%U", "/var/lib/pgrepl/marker"]).stdout.strip() == "postgres"
    assert host.read_file("/var/lib/pgrepl/marker") == "data\n"


TOY_MESON = """project('pgt-toy', version: '0')
install_data('toy.sh', rename: 'pgt-toy', install_mode: 'rwxr-xr-x',
             install_dir: get_option('libexecdir') / 'pgrepl')
install_data('pgt-toy.service', install_dir: '/usr/lib/systemd/system')
install_data('pgt-toy.conf', install_dir: get_option('prefix') / 'lib/tmpfiles.d')
"""
TOY_FILES = {
    "meson.build": TOY_MESON,
    "toy.sh": "#!/bin/sh\necho installed-ok >/run/pgt-toy/ok\n",
    "pgt-toy.service": "[Service]\nType=oneshot\nUser=postgres\nExecStart=/usr/libexec/pgrepl/pgt-toy\n",
    "pgt-toy.conf": "d /run/pgt-toy 0750 postgres postgres -\n",
}


def test_install_build_lands_in_the_hosts_own_layer(host_pair, testbed):
    a, b = host_pair
    src, build = testbed.run_dir / "toy", testbed.run_dir / "toy-build"
    src.mkdir()
    for name, text in TOY_FILES.items():
        (src / name).write_text(text)
    subprocess.run(["meson", "setup", "--prefix=/usr", str(build), str(src)], check=True,
                   capture_output=True, timeout=120)

    installed = a.install_build(build)
    assert "/usr/libexec/pgrepl/pgt-toy" in installed
    assert "/usr/lib/systemd/system/pgt-toy.service" in installed
    a.systemctl("start", "pgt-toy.service")
    assert a.read_file("/run/pgt-toy/ok") == "installed-ok\n"

    for path in ("/usr/libexec/pgrepl/pgt-toy", "/usr/lib/systemd/system/pgt-toy.service"):
        assert not Path(path).exists(), f"{path} leaked onto the machine"
        assert b.run(["test", "-e", path], check=False).returncode == 1, f"{path} leaked into {b.name}"
    assert not (build / "meson-logs" / "install-log.txt").exists()


def test_real_build_installs(host_pair, builddir):
    """The project's own build, when there is one (skipped otherwise)."""
    host = host_pair[1]
    installed = host.install_build(builddir)
    assert installed
    for path in installed:
        assert host.run(["test", "-e", path], check=False).returncode == 0, path
    for unit in (Path(p).name for p in installed if p.endswith(".service")):
        host.systemctl("cat", unit)
