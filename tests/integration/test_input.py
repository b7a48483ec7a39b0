# SPDX-License-Identifier: MIT
"""Input as systemd gives it: --env-file reads an env file exactly as the units' EnvironmentFile= does
(no shell: '$' and '`' are characters), and the root --stage-secrets step never blocks on a FIFO."""

import os
import subprocess
import tempfile
from pathlib import Path

from pgrepl_testlib import PGUSER, binary, free_port


def write_env(node, text):
    path = node.root / "node.env"
    path.write_text(text)
    path.chmod(0o600)
    os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    return str(path)


def test_env_file_is_read_as_systemd_reads_it(cluster):
    p = cluster.primary()
    password = "pa$word`id`\\x"
    path = write_env(p, f"# as the unit reads it\n"
                        f"POSTGRESQL_DATA_DIR={p.datadir}\nPOSTGRESQL_PORT_NUMBER={p.port}\n"
                        f"POSTGRESQL_SOCKET_DIR={p.sockdir}\n"
                        f"POSTGRESQL_PASSWORD='{password}'\nPOSTGRESQL_DATABASE=app$db\n")
    # The process environment's values are not read with --env-file: only the file counts.
    p.env.update({"POSTGRESQL_PASSWORD": "from-the-shell", "POSTGRESQL_DATABASE": "shelldb"})

    r = p.run_once(["--check", "--env-file", path])
    assert r.returncode == 0, r.stderr
    assert f"POSTGRESQL_DATABASE=app$db\t(env file '{path}')\n" in r.stdout
    assert "POSTGRESQL_PASSWORD=(set)\t(env file" in r.stdout

    p.start(["--env-file", path])
    p.wait_ready()
    assert p.psql("SELECT current_database()", password=password, host="127.0.0.1", db="app$db") == "app$db"
    r = p.psql("SELECT 1", password="from-the-shell", host="127.0.0.1", check=False)
    assert r.returncode != 0


def test_env_file_that_is_a_fifo_is_refused(cluster):
    p = cluster.primary()
    fifo = p.root / "env.fifo"
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, PGUSER.pw_uid, PGUSER.pw_gid)
    r = p.run_once(["--check", "--env-file", str(fifo)], timeout=10)
    assert r.returncode == 78, r.stderr
    assert f"--env-file='{fifo}': cannot read the file: not a regular file" in r.stderr


def test_stage_secrets_skips_a_fifo_without_blocking(cluster):
    """The unit's ExecStartPre=+ step runs as root with no start timeout to save it."""
    p = cluster.primary()
    # Where only root may write, or --stage-secrets would not even look at it (see the next test).
    fifo = Path(tempfile.mkdtemp(prefix="pgrepl-fifo-")) / "pw.fifo"
    os.mkfifo(fifo, 0o600)
    env = p.command_env({"POSTGRESQL_PASSWORD_FILE": str(fifo), "POSTGRESQL_PASSWORD": None}, notify=False)
    env = {k: v for k, v in env.items() if v is not None}
    r = subprocess.run([binary("pgrepl-primary-setup"), "--stage-secrets"], env=env, capture_output=True,
                       text=True, timeout=10, cwd="/")
    assert f"POSTGRESQL_PASSWORD_FILE='{fifo}': cannot read the secret file: not a regular file" in r.stderr
    assert not (p.run / "secrets" / "POSTGRESQL_PASSWORD_FILE").exists()


def data_files(node):
    return {name: ((node.datadir / name).read_bytes(), (node.datadir / name).stat().st_mtime_ns)
            for name in ("pg_hba.conf", "pgrepl.auto.conf", "postgresql.conf")}


def test_second_start_on_a_running_primary_writes_nothing(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    before = data_files(p)
    # Another configuration for the same directory: it would render trust rules and another port.
    r = p.run_once([], extra_env={"POSTGRESQL_PASSWORD": None, "ALLOW_EMPTY_PASSWORD": "yes",
                                  "POSTGRESQL_PORT_NUMBER": str(free_port())}, timeout=30)
    assert r.returncode == 75, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("<3>")]
    assert len(errors) == 1 and f"already runs on '{p.datadir}': nothing was written into it" in errors[0], r.stderr
    assert data_files(p) == before
    # The instance's own reload still re-renders and signals it.
    r = p.run_once(["--reload"], extra_env={"POSTGRESQL_MAX_CONNECTIONS": "77"}, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "max_connections = 77" in (p.datadir / "pgrepl.auto.conf").read_text()
    assert p.proc.poll() is None


def test_second_start_on_a_running_standby_writes_nothing(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    s = cluster.standby(primary=p)
    s.start()
    s.wait_ready()
    before = data_files(s)
    r = s.run_once([], extra_env={"POSTGRESQL_MASTER_HOST": "192.0.2.1"}, timeout=30)
    assert r.returncode == 75, r.stderr
    assert f"already runs on '{s.datadir}': nothing was written into it" in r.stderr
    assert data_files(s) == before


def test_stale_postmaster_pid_does_not_block_a_start(cluster):
    """After a crash postmaster.pid stays, and its pid may be any other process now (here: this test's)."""
    p = cluster.primary()
    p.start()
    p.wait_ready()
    p.stop()
    pid_file = p.datadir / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{p.datadir}\n")
    os.chown(pid_file, PGUSER.pw_uid, PGUSER.pw_gid)
    p.start()
    p.wait_ready()


def test_failed_first_start_leaves_no_half_made_cluster(cluster):
    """The first start fails after initdb (ssl = on without a certificate: postgres -C accepts it, the
    setup server does not start): the data directory stays as it was, nothing is left beside it, and
    the next start with the mistake fixed initializes it."""
    p = cluster.primary()
    p_conf = p.root / "pgrepl.conf"
    p_conf.write_text("settings = { ssl = true; };\n")
    p.datadir.mkdir(mode=0o700)
    os.chown(p.datadir, PGUSER.pw_uid, PGUSER.pw_gid)
    r = p.run_once(["--config", str(p_conf)], timeout=120)
    assert r.returncode != 0 and r.returncode != 78, r.stderr
    assert "server.crt" in r.stderr
    assert list(p.datadir.iterdir()) == []
    assert sorted(x.name for x in p.root.iterdir() if x.name.startswith("data")) == ["data"]

    p_conf.write_text("")
    p.start(["--config", str(p_conf)])
    p.wait_ready()
    assert p.psql("SELECT 1", password="secret-pw", host="127.0.0.1") == "1"


def test_start_on_a_busy_port_writes_nothing(cluster):
    """Another process listens on the port: the start says so and exits 75 (systemd tries again) before
    initdb, instead of a postmaster that dies after it; once the port is free it starts."""
    import socket
    p = cluster.primary()
    busy = socket.socket(socket.AF_INET6)
    busy.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # both families: listen_addresses='*'
    busy.bind(("::", p.port))
    busy.listen()
    try:
        r = p.run_once([], timeout=60)
    finally:
        busy.close()
    assert r.returncode == 75, r.stderr
    assert f"Port {p.port} is in use by another process" in r.stderr
    assert not p.datadir.exists()
    assert not (p.root / "data.pgrepl-initdb").exists()
    p.start()
    p.wait_ready()
    assert p.psql("SELECT 1", password="secret-pw", host="127.0.0.1") == "1"


def test_first_start_removes_its_own_leftover_and_nothing_else(cluster):
    p = cluster.primary()
    side = p.root / "data.pgrepl-initdb"
    side.write_text("not pgrepl's\n")
    r = p.run_once([], timeout=60)
    assert r.returncode == 73, r.stderr
    assert "is in the way of the first start" in r.stderr
    assert side.read_text() == "not pgrepl's\n" and not p.datadir.exists()

    # What a killed first start leaves: initdb's work, half done.
    side.unlink()
    side.mkdir(mode=0o700)
    (side / "PG_VERSION").write_text("15\n")
    for x in (side, side / "PG_VERSION"):
        os.chown(x, PGUSER.pw_uid, PGUSER.pw_gid)
    p.start()
    p.wait_ready()
    assert not side.exists()
    assert "left over from an interrupted first start" in p.output()


def test_stage_secrets_never_copies_through_a_path_the_service_user_can_change(cluster):
    """A secret file in a directory postgres may write (its data or state directory, say): postgres
    could swap in a link to any root-only file, which root would copy for it. Not staged."""
    p = cluster.primary()
    link = p.root / "pw"                      # p.root is postgres's
    os.symlink("/etc/shadow", link)
    env = p.command_env({"POSTGRESQL_PASSWORD_FILE": str(link), "POSTGRESQL_PASSWORD": None}, notify=False)
    env = {k: v for k, v in env.items() if v is not None}
    r = subprocess.run([binary("pgrepl-primary-setup"), "--stage-secrets"], env=env, capture_output=True,
                       text=True, timeout=10, cwd="/")
    assert "is not root's alone" in r.stderr and "not staged" in r.stderr, r.stderr
    assert not (p.run / "secrets" / "POSTGRESQL_PASSWORD_FILE").exists()
