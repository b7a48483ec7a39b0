# SPDX-License-Identifier: MIT
"""--check and a real start agree (SPEC section 5): every configuration a
start refuses with 78 is refused by --check with the same one-line reason,
the start refuses it before touching anything, and --check touches nothing
either. One table of refused configurations, each run against the binaries
it concerns."""

import hashlib
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from pgrepl_testlib import PGUSER, binary

EX_CONFIG = 78
EX_NOPERM = 77


def cluster_files(datadir, major="15", standby=False):
    """A data directory that looks like a cluster to pgrepl (it is never started)."""
    (datadir / "global").mkdir(parents=True)
    (datadir / "PG_VERSION").write_text(f"{major}\n")
    (datadir / "global" / "pg_control").write_bytes(b"\0" * 64)
    if standby:
        (datadir / "standby.signal").touch()


def own(path):
    """chown -R postgres, without following links."""
    for p in [path, *path.rglob("*")]:
        os.lchown(p, PGUSER.pw_uid, PGUSER.pw_gid)


def set_env(**env):
    return lambda node: env


def only_self_partner(node):
    return {"POSTGRESQL_PARTNER_NODES": f"127.0.0.1:{node.port}", "POSTGRESQL_MASTER_HOST": None}


def root_dir(node):
    return {"POSTGRESQL_DATA_DIR": "/"}


def other_major(node):
    cluster_files(node.datadir, "14")
    own(node.datadir)


def standby_dir(node):
    cluster_files(node.datadir, standby=True)
    own(node.datadir)


def interrupted_promotion(node):
    standby_dir(node)
    (node.state / "promotion").write_text("promoted\n")
    own(node.state)


def foreign_dir(node):
    node.datadir.mkdir()
    (node.datadir / "precious.txt").write_text("mine\n")
    own(node.datadir)


def partial_cluster(node):
    node.datadir.mkdir()
    (node.datadir / "PG_VERSION").write_text("15\n")
    own(node.datadir)


def dangling_link(node):
    node.datadir.symlink_to(node.root / "gone" / "data")


def link_to_root(node):
    node.datadir.symlink_to("/")


def not_a_directory(node):
    node.datadir.write_text("a file\n")
    own(node.datadir)


def below_a_file(node):
    (node.root / "file").write_text("a file\n")
    return {"POSTGRESQL_DATA_DIR": str(node.root / "file" / "data")}


def mount_point(node):
    node.datadir.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"mode=0700,uid={PGUSER.pw_uid},gid={PGUSER.pw_gid}",
                        "pgrepl-test", str(node.datadir)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    node.mounted = node.datadir


def env_file(text):
    """The variables given as an env file, read with --env-file as the unit's EnvironmentFile= reads it:
    the node's own variables first, then text as written (systemd's quoting, not a shell's)."""
    return lambda node: {"--env-file": text}


def fifo(node, name="fifo"):
    path = node.root / name
    if not path.exists():
        os.mkfifo(path, 0o600)
        os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    return str(path)


def secret_file(node, mode, name="secret"):
    path = node.root / name
    path.write_text("topsecret-file\n")
    path.chmod(mode)
    os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    return str(path)


def config_file(node, text, mode=0o600, name="pgrepl.conf"):
    path = node.root / name
    path.write_text(text)
    path.chmod(mode)
    os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    return str(path)


def fifo_secret(var):
    return lambda node: {var: fifo(node)}


def fifo_config(node):
    return {"--config": fifo(node)}


def include_fifo(node):
    return {"--config": config_file(node, f'@include "{fifo(node)}"\n')}


def include_readable_secret(node):
    inc = config_file(node, 'password = "topsecret-inc";\n', 0o644, "inc.conf")
    return {"--config": config_file(node, f'@include "{inc}"\n'), "POSTGRESQL_PASSWORD": None}


def readable_secret_file(node):
    return {"POSTGRESQL_PASSWORD_FILE": secret_file(node, 0o644)}


def secret_file_is_dir(node):
    return {"POSTGRESQL_PASSWORD_FILE": str(node.sockdir)}


def settings_file(text):
    return lambda node: {"--config": config_file(node, text)}


BOTH = ("pgrepl-primary-setup", "pgrepl-standby-bootstrap")
PRIMARY = ("pgrepl-primary-setup",)
STANDBY = ("pgrepl-standby-bootstrap",)

# (name, binaries, setup(node) -> extra env or None, what the one error line must say)
REFUSED = [
    ("data dir is /", BOTH, root_dir, "POSTGRESQL_DATA_DIR='/' (from environment): not a data directory"),
    ("data dir is relative", BOTH, set_env(POSTGRESQL_DATA_DIR="data"), "must be an absolute path"),
    ("data dir of another major", BOTH, other_major, "is a PostgreSQL 14 cluster but the server"),
    ("data dir is a dangling link", BOTH, dangling_link, "is a symbolic link that leads nowhere"),
    ("data dir links to /", BOTH, link_to_root, "leads to '/': not a data directory"),
    ("data dir is a file", BOTH, not_a_directory, "is not a directory"),
    ("data dir below a file", BOTH, below_a_file, "is not a directory"),
    ("data dir is not empty, no cluster", BOTH, foreign_dir, "holds no PostgreSQL cluster"),
    ("data dir holds a partial cluster", BOTH, partial_cluster, "holds an incomplete cluster"),
    ("bin dir without a server", BOTH, set_env(POSTGRESQL_BIN_DIR="/nonexistent/bin"),
     "POSTGRESQL_BIN_DIR='/nonexistent/bin' (from environment): no executable 'postgres' there"),
    ("too many initdb arguments", BOTH, set_env(POSTGRESQL_INITDB_ARGS=" ".join(["--no-sync"] * 41)),
     "at most 40 arguments"),
    ("bad port", BOTH, set_env(POSTGRESQL_PORT_NUMBER="0"), "POSTGRESQL_PORT_NUMBER='0'"),
    ("bad boolean", BOTH, set_env(POSTGRESQL_FSYNC="perhaps"), "POSTGRESQL_FSYNC='perhaps'"),
    ("standby dir given to the primary", PRIMARY, standby_dir, "is a standby (standby.signal exists)"),
    ("interrupted promotion given to the primary", PRIMARY, interrupted_promotion,
     "is a standby (standby.signal exists)"),
    ("primary without a password", PRIMARY, set_env(POSTGRESQL_PASSWORD=None), "POSTGRESQL_PASSWORD is not set"),
    ("standby mode for the primary unit", PRIMARY, set_env(POSTGRESQL_REPLICATION_MODE="slave"),
     "contradicts the primary unit"),
    ("unreadable password file", PRIMARY, set_env(POSTGRESQL_PASSWORD_FILE="/nonexistent/pw"),
     "POSTGRESQL_PASSWORD_FILE='/nonexistent/pw'"),
    ("replication password with a line break", STANDBY, set_env(POSTGRESQL_REPLICATION_PASSWORD="two\nlines"),
     "must not contain a line break"),
    ("empty mount point as a standby's data dir", STANDBY, mount_point, "is a mount point"),
    ("standby without a primary", STANDBY, set_env(POSTGRESQL_MASTER_HOST=None), "POSTGRESQL_MASTER_HOST is not set"),
    ("primary mode for the standby unit", STANDBY, set_env(POSTGRESQL_REPLICATION_MODE="master"),
     "contradicts the standby unit"),
    ("bad slot name", STANDBY, set_env(POSTGRESQL_REPLICATION_SLOT="Bad-Slot"), "POSTGRESQL_REPLICATION_SLOT='Bad-Slot'"),
    ("partners naming only this standby, no master host", STANDBY, only_self_partner, "names no node but this one"),
    # An unbalanced quote: systemd joins the following lines, secrets included, into the value.
    ("app name with an unbalanced quote", BOTH,
     env_file('POSTGRESQL_CLUSTER_APP_NAME="pgslave1\nPOSTGRESQL_REPLICATION_PASSWORD=topsecret-repl\n'),
     "POSTGRESQL_CLUSTER_APP_NAME (from env file '"),
    ("database with an unbalanced quote", BOTH,
     env_file("POSTGRESQL_DATABASE='appdb\nPOSTGRESQL_PASSWORD=topsecret-pw\nPOSTGRESQL_FSYNC=on\n"),
     "the value spans several lines (not shown; an unbalanced quote in the env file?): must be a name without "
     "control characters"),
    ("user name with an unbalanced quote", BOTH,
     env_file('POSTGRESQL_REPLICATION_USER="repl\nPOSTGRESQL_REPLICATION_PASSWORD=topsecret-repl\n'),
     "POSTGRESQL_REPLICATION_USER (from env file '"),
    ("user name with a control character", BOTH, set_env(POSTGRESQL_USERNAME="ad\x1bmin"),
     "POSTGRESQL_USERNAME (from environment): the value holds control characters (not shown)"),
    ("password file path with an unbalanced quote", PRIMARY,
     env_file('POSTGRESQL_PASSWORD_FILE="/etc/pw\nPOSTGRESQL_REPLICATION_PASSWORD=topsecret-repl\n'),
     "POSTGRESQL_PASSWORD_FILE (from env file '"),
    ("password file is a FIFO", PRIMARY, fifo_secret("POSTGRESQL_PASSWORD_FILE"),
     "cannot read the secret file: not a regular file"),
    ("replication password file is a FIFO", STANDBY, fifo_secret("POSTGRESQL_REPLICATION_PASSWORD_FILE"),
     "cannot read the secret file: not a regular file"),
    ("password file is a directory", PRIMARY, secret_file_is_dir, "cannot read the secret file: not a regular file"),
    ("password file others can read", PRIMARY, readable_secret_file,
     "a secret in a file others can read (mode 0644)"),
    ("--config is a FIFO", BOTH, fifo_config, "cannot read the configuration file: not a regular file"),
    ("--config includes a FIFO", BOTH, include_fifo, ':1: @include "'),
    ("secret in an included file others can read", PRIMARY, include_readable_secret,
     "inc.conf:1: password: a secret in a file others can read (mode 0644)"),
    # What PostgreSQL would refuse after initdb, asked of the server itself first.
    ("unknown setting", BOTH, settings_file('settings = { work_mme = "4MB"; };\n'),
     "settings.work_mme = '4MB': PostgreSQL 15 refuses it: unrecognized configuration parameter \"work_mme\""),
    ("setting of the wrong type", BOTH, settings_file('settings = { work_mem = "lots"; };\n'),
     "settings.work_mem = 'lots': PostgreSQL 15 refuses it: invalid value for parameter \"work_mem\": \"lots\""),
    ("setting outside its enumeration", BOTH, settings_file('settings = { log_min_messages = "loud"; };\n'),
     "(Available values: debug5"),
    ("incomplete hba rule", BOTH, settings_file('hba = [ "host all all" ];\n'), "hba[0]: 'host all all' is incomplete"),
    ("hba rule without a known method", BOTH, settings_file('hba = [ "host all all 10.0.0.0/8 sesame" ];\n'),
     "is incomplete"),
    ("max_connections of 1", BOTH, set_env(POSTGRESQL_MAX_CONNECTIONS="1"),
     "POSTGRESQL_MAX_CONNECTIONS='1' (from environment): must be more than superuser_reserved_connections (3)"),
    ("preload library that is not installed", BOTH, set_env(POSTGRESQL_SHARED_PRELOAD_LIBRARIES="pg_stat_statements,nosuchlib"),
     "no library 'nosuchlib' in '/usr/lib/postgresql/15/lib'"),
    ("extra flags setting the port", BOTH, set_env(POSTGRESQL_EXTRA_FLAGS="-c port=1"),
     "POSTGRESQL_EXTRA_FLAGS='-c port=1' (from environment): must not set what pgrepl renders"),
    ("extra flags setting the hba file", BOTH, set_env(POSTGRESQL_EXTRA_FLAGS="--hba-file=/tmp/trust"),
     "must not set what pgrepl renders"),
    ("extra flags with -p", BOTH, set_env(POSTGRESQL_EXTRA_FLAGS="-p 1"), "must not set what pgrepl renders"),
    ("extra flags with a bad value", BOTH, set_env(POSTGRESQL_EXTRA_FLAGS="-c work_mem=lots"),
     "POSTGRESQL_EXTRA_FLAGS='-c work_mem=lots' (from environment): PostgreSQL 15 refuses it: invalid value"),
    ("extra flags with an unknown option", BOTH, set_env(POSTGRESQL_EXTRA_FLAGS="-Z"),
     "PostgreSQL 15 refuses it: /usr/lib/postgresql/15/bin/postgres: invalid option -- 'Z'"),
    ("port the service user cannot bind", BOTH, set_env(POSTGRESQL_PORT_NUMBER="80"),
     "POSTGRESQL_PORT_NUMBER='80' (from environment): is below 1024 (net.ipv4.ip_unprivileged_port_start)"),
    ("socket directory that does not exist", BOTH, set_env(POSTGRESQL_SOCKET_DIR="/nonexistent/sock"),
     "POSTGRESQL_SOCKET_DIR='/nonexistent/sock' (from environment): does not exist or is not a directory"),
    ("reserved role name", BOTH, set_env(POSTGRESQL_USERNAME="pg_app"),
     "POSTGRESQL_USERNAME='pg_app' (from environment): must not start with 'pg_'"),
    ("initdb superuser", BOTH, set_env(POSTGRESQL_INITDB_ARGS="-U root"),
     "POSTGRESQL_INITDB_ARGS='-U root' (from environment): must not set what pgrepl passes to initdb"),
    ("initdb data directory", BOTH, set_env(POSTGRESQL_INITDB_ARGS="--data-checksums --pgdata=/tmp/x"),
     "must not set what pgrepl passes to initdb"),
    ("partners with a slot name", STANDBY, set_env(POSTGRESQL_PARTNER_NODES="127.0.0.1:1,127.0.0.1:2",
                                                   POSTGRESQL_REPLICATION_SLOT="myslot"),
     "must be on or off with POSTGRESQL_PARTNER_NODES"),
]

CASES = [(name, b, setup, expect) for name, binaries, setup, expect in REFUSED for b in binaries]


def snapshot(root):
    """Everything below root: type, mode, owner, size, mtime, content or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.name == "notify.sock" or p.name == "log.txt":
                continue
            st = p.lstat()
            if p.is_symlink():
                what = "link:" + os.readlink(p)
            elif p.is_file():
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = "dir"
            out[str(p.relative_to(root))] = (what, st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
    return out


def errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("<3>")]


def make_node(cluster, binary_name):
    # No primary ever answers: a start that got past its checks would wait, not clone.
    if binary_name == "pgrepl-primary-setup":
        return cluster.primary("node")
    return cluster.standby("node", env={"POSTGRESQL_MASTER_PORT_NUMBER": "1", "POSTGRESQL_INIT_MAX_TIMEOUT": "1"})


@pytest.mark.parametrize("name,binary_name,setup,expect", CASES,
                         ids=[f"{b.split('-')[1]}: {n}" for n, b, _, _ in CASES])
def test_check_and_start_refuse_alike(cluster, name, binary_name, setup, expect):
    node = make_node(cluster, binary_name)
    node.mounted = None
    try:
        args = []
        for k, v in (setup(node) or {}).items():
            if k == "--env-file":
                path = node.root / "node.env"
                path.write_text("".join(f"{k}={v}\n" for k, v in node.env.items()
                                        if v is not None and (k.startswith("POSTGRESQL_") or k == "ALLOW_EMPTY_PASSWORD"))
                                + v)
                path.chmod(0o600)
                os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
                args += ["--env-file", str(path)]
            elif k.startswith("--"):
                args += [k, v]
            else:
                node.env[k] = v
        before = snapshot(node.root)
        check = node.run_once(["--check", *args], timeout=30)
        start = node.run_once(args, timeout=60)
        after = snapshot(node.root)
    finally:
        if node.mounted:
            subprocess.run(["umount", str(node.mounted)], check=True)
    assert check.returncode == EX_CONFIG, check.stderr
    assert start.returncode == EX_CONFIG, start.stderr
    assert len(errors(check)) == 1 and expect in errors(check)[0], check.stderr
    assert errors(start) == errors(check), (start.stderr, check.stderr)
    assert "topsecret" not in check.stderr + start.stderr
    assert check.stdout == ""
    assert after == before


def test_check_describes_what_a_start_finds(cluster):
    p = cluster.primary()
    r = p.run_once(["--check"])
    assert r.returncode == 0, r.stderr
    assert f"data directory {p.datadir}: empty\n" in r.stdout
    assert "server /usr/lib/postgresql/15/bin: PostgreSQL 15\n" in r.stdout
    p.start()
    p.wait_ready()
    r = p.run_once(["--check"])
    assert r.returncode == 0, r.stderr
    assert f"data directory {p.datadir}: primary, PostgreSQL 15\n" in r.stdout


def test_check_as_another_user_says_it_could_not_inspect(cluster):
    """Neither fine nor refused: the values are shown, the directory is said not to be inspected, and
    the exit status is the one a start by that user would get."""
    p = cluster.primary()
    p.datadir.mkdir(mode=0o700)
    cluster_files(p.datadir / "sub")
    own(p.datadir)
    nobody = pwd.getpwnam("nobody")
    r = subprocess.run([binary("pgrepl-primary-setup"), "--check"], env=p.command_env(notify=False),
                       user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], capture_output=True, text=True,
                       timeout=30, cwd="/")
    assert r.returncode == EX_NOPERM, r.stderr
    assert f"data directory {p.datadir}: not inspected\n" in r.stdout
    assert "POSTGRESQL_PASSWORD=(set)" in r.stdout
    assert "could not be inspected as uid" in r.stderr
