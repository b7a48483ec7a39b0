# SPDX-License-Identifier: MIT
"""Shared helpers for the integration tests: run pgrepl's real binaries as
the postgres user against real PostgreSQL 15, without systemd, with
NOTIFY_SOCKET pointing at a datagram socket the test binds itself so every
sd_notify message is seen exactly as systemd would receive it."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILDDIR = Path(os.environ.get("PGREPL_BUILDDIR", REPO / "build")).resolve()
# PostgreSQL 15 (Debian 12); PGREPL_PG_BIN names another (the promotion bench on 17 in a trixie root).
PG_BIN = Path(os.environ.get("PGREPL_PG_BIN", "/usr/lib/postgresql/15/bin"))
PGUSER = pwd.getpwnam("postgres")

# Where ASan, LSan and UBSan write their reports for the running test: set
# by conftest's autouse fixture (a fresh directory per test, writable by
# every user), which fails the test when a report file is left in it. The
# binaries of a -Db_sanitize build read these variables; PostgreSQL and the
# other programs they run are not instrumented and ignore them. With gcc,
# UBSan's handlers (libubsan) beside ASan's runtime write to stderr whatever
# log_path says, so the fixture also reads what the binaries printed: every
# Node's log file and every output note_output() was given.
SANITIZER_DIR = None
SANITIZER_OUTPUTS = []  # (what, path or text) the fixture scans after the test
SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "LeakSanitizer has encountered a fatal error")


def sanitizer_env():
    """ASAN_OPTIONS, LSAN_OPTIONS and UBSAN_OPTIONS writing into SANITIZER_DIR."""
    if SANITIZER_DIR is None:
        return {}
    d = SANITIZER_DIR
    return {
        "ASAN_OPTIONS": f"log_path={d}/asan:detect_leaks=1:abort_on_error=0",
        "LSAN_OPTIONS": f"suppressions={REPO}/tests/unit/lsan.supp",
        "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:log_path={d}/ubsan",
    }


def note_output(what, text):
    """Output of a binary the test captured itself, for the sanitizer check."""
    SANITIZER_OUTPUTS.append((what, text or ""))


def sanitizer_reports(directory, outputs=()):
    """(name, text) of every report a sanitizer left: the files in directory,
    and the outputs ((what, Path or text)) holding a sanitizer's error line."""
    found = []
    directory = Path(directory)
    if directory.is_dir():
        found += [(str(p), p.read_text(errors="replace")) for p in sorted(directory.iterdir()) if p.is_file()]
    for what, out in outputs:
        if isinstance(out, Path):
            out = out.read_text(errors="replace") if out.exists() else ""
        lines = [line for line in out.splitlines() if any(m in line for m in SANITIZER_MARKS)]
        if lines:
            found.append((str(what), "\n".join(lines)))
    return found


def binary(name):
    """Path of a built pgrepl binary."""
    sub = {
        "pgrepl-primary-setup": "primary-setup",
        "pgrepl-standby-bootstrap": "standby-bootstrap",
        "pgrepl-trigger-watcher": "trigger-watcher",
        "pgrepl-failover-agent": "failover-agent",
    }[name]
    return str(BUILDDIR / "services" / sub / name)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_dir(path, mode=0o700):
    """A directory owned by postgres (the tests run as root)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, PGUSER.pw_uid, PGUSER.pw_gid)
    path.chmod(mode)
    return path


class NotifySocket:
    """Receives sd_notify datagrams in a thread; keeps (time, fields) pairs."""

    def __init__(self, directory):
        self.path = str(Path(directory) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chown(self.path, PGUSER.pw_uid, PGUSER.pw_gid)
        self.messages = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            fields = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def all(self, key=None):
        """Values of key across all messages (or all field dicts)."""
        with self.lock:
            msgs = list(self.messages)
        if key is None:
            return [f for _, f in msgs]
        return [f[key] for _, f in msgs if key in f]

    def mark(self):
        """Index of the next message: wait_for(since=mark) ignores older ones."""
        with self.lock:
            return len(self.messages)

    def wait_for(self, key, value=None, timeout=30, proc=None, since=0):
        """Wait until a message carries key (=value when given); return its time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for t, f in self.messages[since:]:
                    if key in f and (value is None or f[key] == value):
                        return t
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"process exited with {proc.returncode} before {key}={value}; "
                                     f"messages: {self.all()}")
            time.sleep(0.01)
        raise AssertionError(f"no {key}={value} within {timeout}s; messages: {self.all()}")

    def close(self):
        self.closed = True
        self.sock.close()


class Node:
    """One pgrepl node run by hand: its directories, environment and process."""

    def __init__(self, root, name, binary_name, env, port=None):
        self.root = make_dir(Path(root) / name, 0o755)
        self.name = name
        self.binary_name = binary_name
        self.port = port or free_port()
        self.datadir = self.root / "data"
        self.state = make_dir(self.root / "state")
        self.run = make_dir(self.root / "run")
        self.sockdir = make_dir(self.root / "sock", 0o755)
        self.notify = NotifySocket(make_dir(self.root / "notify"))
        self.env = {
            "POSTGRESQL_DATA_DIR": str(self.datadir),
            "POSTGRESQL_PORT_NUMBER": str(self.port),
            "POSTGRESQL_SOCKET_DIR": str(self.sockdir),
            "STATE_DIRECTORY": str(self.state),
            "RUNTIME_DIRECTORY": str(self.run),
            "PGREPL_INSTANCE": name,
            "LANG": "C.UTF-8",
        }
        self.env.update(env)
        self.proc = None
        self.log = self.root / "log.txt"
        SANITIZER_OUTPUTS.append((self.log, self.log))

    def command_env(self, extra=None, notify=True):
        env = {"PATH": "/usr/bin:/bin"}
        env.update(sanitizer_env())
        env.update(self.env)
        if notify:
            env["NOTIFY_SOCKET"] = self.notify.path
        env.update(extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def start(self, args=(), extra_env=None):
        """Start the binary in the background, as postgres."""
        self.logf = open(self.log, "ab")
        self.started_at = self.notify.mark()
        self.proc = subprocess.Popen(
            [binary(self.binary_name), *args], env=self.command_env(extra_env),
            user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[],
            stdout=self.logf, stderr=subprocess.STDOUT, cwd="/")
        return self.proc

    def start_with_fowner(self, args=(), extra_env=None):
        """Start the binary as the trigger unit runs it: postgres, CAP_FOWNER ambient and nothing else
        in the bounding set."""
        self.logf = open(self.log, "ab")
        self.started_at = self.notify.mark()
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={PGUSER.pw_uid}", f"--regid={PGUSER.pw_gid}", "--clear-groups",
             "--inh-caps=-all,+fowner", "--ambient-caps=+fowner", "--bounding-set=-all,+fowner",
             binary(self.binary_name), *args],
            env=self.command_env(extra_env), stdout=self.logf, stderr=subprocess.STDOUT, cwd="/")
        return self.proc

    def run_once(self, args=(), extra_env=None, timeout=60, notify=False):
        """Run the binary to completion (e.g. --check, --reload)."""
        r = subprocess.run(
            [binary(self.binary_name), *args], env=self.command_env(extra_env, notify),
            user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[],
            capture_output=True, text=True, timeout=timeout, cwd="/")
        note_output(f"{self.binary_name} {' '.join(args)}", r.stdout + r.stderr)
        return r

    def wait_ready(self, timeout=60):
        return self.notify.wait_for("READY", "1", timeout=timeout, proc=self.proc, since=self.started_at)

    def stop(self, timeout=60):
        """Fast shutdown, as the unit's KillSignal=SIGINT does."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None
        return self.proc.returncode if self.proc else None

    def output(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def psql(self, sql, user="postgres", password=None, db="postgres", host=None, check=True, timeout=30,
             extra=None):
        """psql as postgres over the socket (peer), or over TCP with a password."""
        env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}
        if password is not None:
            env["PGPASSWORD"] = password
        conn = f"host={host or self.sockdir} port={self.port} user='{_q(user)}' dbname='{_q(db)}'"
        if extra:
            conn += " " + extra
        r = subprocess.run([str(PG_BIN / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", sql],
                           env=env, user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[],
                           capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed ({r.returncode}): {r.stderr}")
        return r.stdout.strip() if check else r

    def close(self):
        self.stop()
        self.notify.close()


def _q(s):
    return s.replace("\\", "\\\\").replace("'", "\\'")


def postmaster_env(pid):
    """The environment of a running process, as a dict."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def postmaster_cmdline(pid):
    """A process's argv; [] when it has exited meanwhile (a child listed a moment ago may have)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


class RawStandby(Node):
    """A streaming standby made with PostgreSQL's own tools (pg_basebackup -R,
    then the postmaster by hand), for tests of pieces that need a standby but
    not pgrepl's standby binary. conf: extra postgresql.auto.conf settings."""

    def __init__(self, root, name, primary, conf=None, port=None):
        super().__init__(root, name, None, {}, port)
        env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": primary.env["POSTGRESQL_REPLICATION_PASSWORD"]}
        r = subprocess.run(
            [str(PG_BIN / "pg_basebackup"), "-h", str(primary.sockdir), "-p", str(primary.port),
             "-U", primary.env["POSTGRESQL_REPLICATION_USER"], "-D", str(self.datadir),
             "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"],
            env=env, user=PGUSER.pw_uid, group=PGUSER.pw_gid, extra_groups=[],
            capture_output=True, text=True, timeout=120, cwd="/")
        if r.returncode != 0:
            raise AssertionError(f"pg_basebackup failed ({r.returncode}): {r.stderr}")
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            for k, v in (conf or {}).items():
                f.write(f"{k} = '{v}'\n")

    def start(self, args=(), extra_env=None):
        """The postmaster on this node's port and socket directory, no TCP."""
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.datadir), "-c", f"port={self.port}",
             "-c", f"unix_socket_directories={self.sockdir}", "-c", "listen_addresses=", *args],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, user=PGUSER.pw_uid, group=PGUSER.pw_gid,
            extra_groups=[], stdout=self.logf, stderr=subprocess.STDOUT, cwd="/")
        return self.proc

    def wait_streaming(self, timeout=60):
        """Until the WAL receiver streams from the primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"standby exited with {self.proc.returncode}: {self.output()}")
            r = self.psql("select status from pg_stat_wal_receiver", check=False)
            if r.returncode == 0 and r.stdout.strip() == "streaming":
                return
            time.sleep(0.05)
        raise AssertionError(f"standby not streaming within {timeout}s: {self.output()}")


class Cluster:
    """Owns every node a test makes, and stops them all at the end."""

    def __init__(self):
        self.root = make_dir(tempfile.mkdtemp(prefix="pgrepl-it-"), 0o755)
        self.nodes = []

    def node(self, name, binary_name, env, port=None):
        n = Node(self.root, name, binary_name, env, port)
        self.nodes.append(n)
        return n

    def primary(self, name="primary", env=None, port=None):
        base = {"POSTGRESQL_PASSWORD": "secret-pw", "POSTGRESQL_REPLICATION_USER": "repl",
                "POSTGRESQL_REPLICATION_PASSWORD": "repl-pw"}
        base.update(env or {})
        return self.node(name, "pgrepl-primary-setup", base, port)

    def standby(self, name="standby", primary=None, env=None, port=None):
        """A pgrepl-standby-bootstrap node of primary (a Node, or None: set
        POSTGRESQL_MASTER_PORT_NUMBER in env), over TCP on 127.0.0.1."""
        base = {"POSTGRESQL_MASTER_HOST": "127.0.0.1", "POSTGRESQL_REPLICATION_USER": "repl",
                "POSTGRESQL_REPLICATION_PASSWORD": "repl-pw"}
        if primary is not None:
            base["POSTGRESQL_MASTER_PORT_NUMBER"] = str(primary.port)
        base.update(env or {})
        return self.node(name, "pgrepl-standby-bootstrap", base, port)

    def raw_standby(self, primary, name="standby", conf=None, port=None):
        """A streaming standby of primary made with pg_basebackup (see RawStandby); started."""
        n = RawStandby(self.root, name, primary, conf, port)
        self.nodes.append(n)
        n.start()
        n.wait_streaming()
        return n

    def close(self):
        for n in reversed(self.nodes):
            n.close()
        if os.environ.get("PGREPL_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
