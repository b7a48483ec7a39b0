# SPDX-License-Identifier: MIT
"""System-test harness: real systemd "hosts" on one machine (see TESTBED.md).

A `Testbed` boots containers with systemd-nspawn from the machine's own root
file system, each in its own network namespace on a private bridge, and a
`Host` drives one of them with nsenter.  Conventions:

- Everything the harness creates is named `pgt-*` (netns, links, mounts,
  cgroups) and addressed in 10.231.0.0/24, which has no route anywhere else:
  traffic only ever goes to loopback or to other test hosts.
- Each host's root is an overlay of the machine's `/` (or, for a host of
  another Debian release, of that release's root that make-root caches under
  /var/tmp/pgrepl-roots) with a writable layer on
  a tmpfs that lives until the host is removed, so a `reboot()` keeps what a
  real disk keeps (installed files, /etc, enabled units); `persist_dir` is
  bind-mounted at /var/lib/pgrepl and survives even `reboot(reset_root=True)`.
- Every wait has a deadline; failures carry the console log tail or journal.
- Teardown undoes everything, also after a crash: a new run first sweeps what
  an earlier run left behind under the same names (holding a lock, so two
  runs never sweep each other).

Python 3.11 standard library only.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger("pgrepl.testbed")

PREFIX = "pgt-"
SUBNET = "10.231.0"                     # /24 used only by the test namespaces
FIRST_OCTET, LAST_OCTET = 11, 254
BRIDGE = "pgt-br0"
ROOT_DIR = Path("/tmp/pgt-root")        # bind mount of /: every host's lower layer
HOSTS_DIR = Path("/tmp/pgt-hosts")      # tmpfs: per-host upper/, work/, root/
RUN_DIR = Path("/var/tmp/pgt-run")      # logs, state, persist dirs; on the root fs,
                                        # so hosts see it at the same path
NSPAWN_RUNTIME = Path("/run/systemd/nspawn")
LOCK_PATH = Path("/run/lock/pgt-testbed.lock")
PGREPL_STATE = "/var/lib/pgrepl"

# The machine's own cluster would take port 5432 in every host, and timers
# would run apt/man-db jobs mid-test.  Masked at boot through PID 1's command
# line (systemd-debug-generator reads it in a container), so they never start.
MASKED_UNITS = (
    "postgresql@15-main.service", "postgresql@17-main.service", "postgresql.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer",
    "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer",
    # etcd-server and patroni (tests/install-deps): failover tests start their own.
    "etcd.service", "patroni.service",
)
POSTGRESQL_UNITS = MASKED_UNITS[:3]

# Debian releases a host can run: the machine's own (its root) and others from a
# root tests/system/make-root builds and caches; each with its PostgreSQL major.
PG_MAJORS = {"bookworm": 15, "trixie": 17}
MAKE_ROOT = Path(__file__).resolve().parent / "make-root"


def machine_release() -> str:
    """The machine's Debian release (VERSION_CODENAME in /etc/os-release)."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    return m.group(1) if m else ""

BOOT_TIMEOUT = float(os.environ.get("PGT_BOOT_TIMEOUT", "120"))
STOP_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
LOCK_TIMEOUT = float(os.environ.get("PGT_LOCK_TIMEOUT", "600"))

OUTER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
# What commands inside a host see: Debian's tools first, no pager, no colour.
HOST_ENV = {**OUTER_ENV, "HOME": "/root", "TERM": "dumb", "PAGER": "cat",
            "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0",
            "DEBIAN_FRONTEND": "noninteractive"}

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class HarnessError(RuntimeError):
    """The test bed itself failed (not the product under test)."""


class HarnessTimeout(HarnessError):
    """A wait reached its deadline."""


class CommandFailed(subprocess.CalledProcessError):
    """A command inside a host exited non-zero; str() shows its output."""

    def __init__(self, host: str, cmd: list[str], returncode: int,
                 stdout: str, stderr: str, note: str = ""):
        super().__init__(returncode, cmd, stdout, stderr)
        self.host, self.note = host, note

    def __str__(self) -> str:
        text = (f"{self.host}: {shlex.join(self.cmd)} exited {self.returncode}"
                f"\n--- stdout ---\n{_tail(self.stdout, 40)}"
                f"\n--- stderr ---\n{_tail(self.stderr, 40)}")
        return text + (f"\n{self.note}" if self.note else "")


def missing_prerequisites() -> str | None:
    """Why the test bed cannot run here, or None (conftest skips with it)."""
    if os.geteuid() != 0:
        return "system tests need root (netns, mounts, systemd-nspawn)"
    for tool in ("systemd-nspawn", "nsenter", "ip", "mount", "umount"):
        if not _which(tool):
            return f"'{tool}' not found (apt-get install systemd-container iproute2)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay file system"
    return None


# --- small helpers -----------------------------------------------------------

def _which(tool: str) -> str | None:
    return shutil.which(tool, path=OUTER_ENV["PATH"])


def _tail(text: str | None, lines: int) -> str:
    if not text:
        return "(empty)"
    return "\n".join(_ANSI_RE.sub("", text).rstrip().splitlines()[-lines:])


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _outer(argv: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command on the machine itself (network, mounts), never in a host."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=OUTER_ENV, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise HarnessError(f"{shlex.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def _mountpoints() -> list[str]:
    """Mount points in this mount namespace, in mount order."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


def _umount_tree(path: Path) -> None:
    """Unmount path and everything below it, deepest first, lazily as last resort."""
    prefix = str(path)
    for point in reversed(_mountpoints()):
        if point == prefix or point.startswith(prefix + "/"):
            if _outer(["umount", point], check=False).returncode != 0:
                log.warning("umount %s busy, detaching lazily", point)
                _outer(["umount", "-l", point], check=False)
    if any(p == prefix or p.startswith(prefix + "/") for p in _mountpoints()):
        raise HarnessError(f"could not unmount {prefix}")


def _is_mounted(path: Path) -> bool:
    return str(path) in _mountpoints()


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("left %s in place: %s", path, e)


def _safe_rmtree(path: Path) -> None:
    """rmtree that refuses to descend into anything mounted (a bind of / !)."""
    prefix = str(path)
    if any(p == prefix or p.startswith(prefix + "/") for p in _mountpoints()):
        raise HarnessError(f"refusing to delete {prefix}: something is mounted there")
    shutil.rmtree(path, ignore_errors=True)


def _proc_starttime(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (tells a recorded PID from a reused one); None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _proc_starttime(pid) is None:
            return True
        time.sleep(0.1)
    return False


# --- cgroups -----------------------------------------------------------------

def _cgroup_bases() -> list[Path]:
    """Our own cgroup in the hierarchies nspawn uses (cgroup2, name=systemd).

    Without systemd as PID 1, nspawn --keep-unit puts every container in
    '<own cgroup>/payload'; started from the same cgroup, all hosts would
    share one cgroup tree and each host's systemd would see (and kill) the
    others' services.  So each nspawn starts in its own pgt-NAME cgroup.
    """
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3]
        if fstype == "cgroup2":
            mounts.setdefault("", Path(fields[4]))
        elif fstype == "cgroup" and "name=systemd" in options.split(","):
            mounts.setdefault("name=systemd", Path(fields[4]))
    bases = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        key = "" if controllers == "" else ("name=systemd" if "name=systemd" in controllers else None)
        if key is not None and key in mounts:
            bases.append(mounts[key] / path.lstrip("/"))
    return bases


def _cgroup_remove(path: Path, timeout: float = 10) -> None:
    """Kill whatever is left in one of our cgroups, then remove it bottom-up."""
    if not path.exists():
        return
    if (path / "cgroup.kill").exists():
        (path / "cgroup.kill").write_text("1")
    else:
        for procs in path.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                _kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        for d in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _rmdir_quiet(d)
        _rmdir_quiet(path)
        if not path.exists():
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"cgroup {path} still busy after {timeout}s")
        time.sleep(0.1)


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _kill_command(proc: subprocess.Popen) -> None:
    """SIGKILL a command run through nsenter: its processes first, then nsenter.

    In that order nsenter, which is outside the host, reaps its child.  A
    child orphaned by nsenter's death is re-parented to the machine's init,
    not the host's, and stays a zombie in the host that its shutdown waits on.
    """
    if proc.poll() is not None:
        return
    for pid in _group_members(proc.pid):    # start_new_session: pgid == nsenter's pid
        if pid != proc.pid:
            _kill(pid, signal.SIGKILL)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --- one host ----------------------------------------------------------------

class Host:
    """One systemd container with its own netns, address and overlay root."""

    def __init__(self, tb: "Testbed", name: str, ip: str, persist_dir: Path | None,
                 release: str | None = None):
        self.tb, self.name, self.ip = tb, name, ip
        # The Debian release it runs, its root (the lower layer) and its PostgreSQL major.
        self.release = release or tb.machine_release
        self.lower = tb.release_root(self.release)
        self.pg_major = PG_MAJORS.get(self.release)
        self.persist_dir = persist_dir
        self.netns = PREFIX + name
        self.veth = f"{PREFIX}v{ip.rsplit('.', 1)[1]}"
        self.dir = HOSTS_DIR / name
        self.root = self.dir / "root"
        self.log_dir = tb.run_dir / name
        self.console_log = self.log_dir / "console.log"
        self.machine_id = uuid.uuid4().hex
        self.cgroups = [base / (PREFIX + name) for base in tb.cgroup_bases]
        self.pid1: int | None = None
        self.boot_seconds: float | None = None
        self.failed_units: list[str] = []
        self.installed: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._commands: set[subprocess.Popen] = set()     # nsenter processes in flight
        self._closed = False
        self._boots = 0

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.release} {self.ip} pid1={self.pid1}>"

    # --- lifecycle -------------------------------------------------------

    def start(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Boot the container and return once systemd is up and PostgreSQL masked."""
        started = time.monotonic()
        deadline = started + timeout
        self._spawn()
        self.pid1 = self._wait_pid1(deadline)
        self._wait_running(deadline)
        self._ensure_postgresql_masked()
        self.boot_seconds = time.monotonic() - started
        log.info("%s booted in %.1fs", self.name, self.boot_seconds)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Power off cleanly (SIGTERM to nspawn), escalating to SIGKILL."""
        with self._lock:
            proc = self._proc
        self._kill_commands()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not power off in %ss, killing it\n%s",
                            self.name, timeout, self.console_tail())
                self._kill_container(proc)
        self._after_exit()

    def crash(self) -> None:
        """Pull the plug: SIGKILL the container's PID 1 (no shutdown at all)."""
        with self._lock:
            proc = self._proc
        self._kill_commands()
        if proc is not None and proc.poll() is None:
            self._kill_container(proc)
        self._after_exit()

    def reboot(self, hard: bool = False, reset_root: bool = False,
               timeout: float = BOOT_TIMEOUT) -> None:
        """Stop (cleanly, or crash() when hard) and boot again.

        Same netns, address and persist_dir.  The root's writable layer is
        kept like a disk unless reset_root, which gives a freshly installed
        OS (then only persist_dir survives, as with --volatile=overlay).
        """
        if hard:
            self.crash()
        else:
            self.stop()
        if reset_root:
            self._reset_root()
        self.start(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- commands inside the host ---------------------------------------

    def run(self, cmd: list[str] | str, check: bool = True, input: str | bytes | None = None,
            timeout: float = RUN_TIMEOUT, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        """Run cmd inside the host (a str runs under bash -c); output as text."""
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]
        if not self.running or self.pid1 is None:
            raise HarnessError(f"{self.name} is not running; cannot run {shlex.join(argv)}")
        nsenter = [self.tb.tools["nsenter"], "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p", "--"]
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.Popen(nsenter + argv, env={**HOST_ENV, **(env or {})},
                                stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        self._commands.add(proc)
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_command(proc)
            out, err = proc.communicate()
            raise HarnessTimeout(f"{self.name}: {shlex.join(argv)} still running after {timeout}s\n"
                                 f"--- stdout ---\n{_tail(_decode(out), 20)}\n"
                                 f"--- stderr ---\n{_tail(_decode(err), 20)}") from None
        except BaseException:       # Ctrl-C: leave no command behind in the host
            _kill_command(proc)
            raise
        finally:
            self._commands.discard(proc)
        result = subprocess.CompletedProcess(argv, proc.returncode, _decode(out), _decode(err))
        if check and result.returncode != 0:
            raise CommandFailed(self.name, argv, result.returncode, result.stdout, result.stderr)
        return result

    def systemctl(self, *args: str, check: bool = True, timeout: float = RUN_TIMEOUT
                  ) -> subprocess.CompletedProcess:
        """systemctl in the host; a failed start/stop/... shows the units' journals."""
        try:
            return self.run(["systemctl", *args], check=check, timeout=timeout)
        except CommandFailed as e:
            units = [a for a in args[1:] if not a.startswith("-")]
            e.note = "\n".join(f"--- journal of {u} ---\n{self.journal(u, lines=40)}" for u in units)
            raise

    def write_file(self, path: str, content: str | bytes, mode: int = 0o644,
                   owner: str = "root") -> None:
        """Write a file atomically (temp file + rename), creating its directory."""
        owner = owner if ":" in owner else owner + ":"
        script = ('set -e; mkdir -p "$(dirname "$1")"; t=$(mktemp "$1.pgt-XXXXXX"); '
                  'cat >"$t"; chown "$2" "$t"; chmod "$3" "$t"; mv -f "$t" "$1"')
        self.run(["sh", "-c", script, "sh", path, owner, f"{mode:o}"], input=content)

    def read_file(self, path: str) -> str:
        return self.run(["cat", "--", path]).stdout

    def journal(self, unit: str, lines: int | None = None) -> str:
        """The unit's journal (all boots the host's writable layer has kept)."""
        argv = ["journalctl", "--no-pager", "-o", "short-precise", "-u", unit]
        r = self.run(argv + (["-n", str(lines)] if lines else []), check=False)
        return r.stdout + r.stderr

    def unit_property(self, unit: str, prop: str) -> str:
        return self.run(["systemctl", "show", "-p", prop, "--value", unit]).stdout.strip()

    def wait_for(self, predicate: list[str] | str | Callable[[], object], timeout: float = 60,
                 interval: float = 0.5, what: str | None = None) -> object:
        """Poll until a command exits 0 (or a callable returns truthy); return its result."""
        deadline = time.monotonic() + timeout
        what = what or (predicate if isinstance(predicate, str) else
                        shlex.join(predicate) if isinstance(predicate, list) else
                        getattr(predicate, "__name__", "condition"))
        last = ""
        while True:
            if callable(predicate):
                value = predicate()
                if value:
                    return value
                last = repr(value)
            else:
                r = self.run(predicate, check=False, timeout=max(1, deadline - time.monotonic()))
                if r.returncode == 0:
                    return r
                last = (f"exit {r.returncode}\n--- stdout ---\n{_tail(r.stdout, 10)}"
                        f"\n--- stderr ---\n{_tail(r.stderr, 10)}")
            if time.monotonic() + interval > deadline:
                raise HarnessTimeout(f"{self.name}: waited {timeout}s for {what}; last: {last}")
            time.sleep(interval)

    def wait_unit(self, unit: str, state: str = "active", timeout: float = 60) -> None:
        """Wait for ActiveState=state; on timeout, say where it is and show its journal."""
        try:
            self.wait_for(lambda: self.unit_property(unit, "ActiveState") == state,
                          timeout=timeout, what=f"{unit} to be {state}")
        except HarnessTimeout as e:
            now = self.unit_property(unit, "ActiveState")
            raise HarnessTimeout(f"{e} (it is {now})\n--- journal of {unit} ---\n"
                                 f"{self.journal(unit, lines=60)}") from None

    def psql(self, sql: str, port: int = 5432, user: str = "postgres", db: str = "postgres",
             host: str | None = None, password: str | None = None, check: bool = True,
             timeout: float = 60) -> str:
        """Run SQL with psql as the OS user postgres; unaligned tuples-only output.

        SQL goes on stdin (several statements, CREATE DATABASE included);
        the password, if any, travels in PGPASSWORD, never in argv.
        """
        argv = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                "-p", str(port), "-U", user, "-d", db, "-f", "-"]
        if host is not None:
            argv += ["-h", host]
        env = {"PGPASSWORD": password} if password is not None else {}
        r = self.run(argv, check=check, input=sql, timeout=timeout, env=env)
        return r.stdout.rstrip("\n")

    # --- links -----------------------------------------------------------

    def cut_link(self) -> None:
        """Partition this host: its veth on the bridge goes down."""
        _outer(["ip", "link", "set", self.veth, "down"])

    def restore_link(self) -> None:
        _outer(["ip", "link", "set", self.veth, "up"])

    # --- installing software ---------------------------------------------

    def install_build(self, builddir: str | os.PathLike) -> list[str]:
        """Install a meson build into this host, as `meson install` would on a real one.

        Runs inside the host, so everything lands in the host's writable
        layer (the machine and the build dir are untouched).  Then applies
        the sysusers.d/tmpfiles.d files it installed, as a package's
        postinst would, and reloads systemd.  Returns the installed paths.
        """
        builddir = Path(builddir).resolve()
        if self.release != self.tb.machine_release:
            raise HarnessError(f"{self.name} runs Debian {self.release}: a build of this machine "
                               f"({self.tb.machine_release}) does not fit its libraries; install "
                               f"that release's .deb (packaging/build-in-root) with install_deb()")
        _forget_cached_lookups()
        _warn_unless_system_prefix(builddir)
        if self.run(["test", "-e", str(builddir / "meson-private" / "install.dat")], check=False).returncode == 0:
            self.run(["meson", "install", "--no-rebuild", "-C", str(builddir)], timeout=300)
            log = self.read_file(str(builddir / "meson-logs" / "install-log.txt"))
        else:
            # A build dir hosts cannot see (a checkout under /tmp): install into a staging
            # directory on the machine, in the run dir hosts share, and copy that in.
            stage = self.tb.run_dir / "stage" / uuid.uuid4().hex
            subprocess.run(["meson", "install", "--no-rebuild", "--destdir", str(stage), "-C", str(builddir)],
                           check=True, capture_output=True, timeout=300, env=OUTER_ENV)
            log = (builddir / "meson-logs" / "install-log.txt").read_text()
            self._require_visible(stage, f"staged install of {builddir}")
            try:
                # tar, not cp: /lib and friends are symlinks into /usr on Debian 12.
                self.run(f"tar -C {shlex.quote(str(stage))} -cf - . | tar -C / -xf - --keep-directory-symlink",
                         timeout=120)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
        installed = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith("#")]
        self._apply_system_config(installed)
        self.systemctl("daemon-reload")
        self.installed += installed
        return installed

    def install_deb(self, path: str | os.PathLike) -> None:
        """Install a .deb (packaging issue): dpkg -i inside the host, then daemon-reload."""
        path = Path(path).resolve()
        _forget_cached_lookups()
        if self.run(["test", "-e", str(path)], check=False).returncode != 0:
            # Under /tmp, say (a checkout there): hosts have their own. The run dir is shared.
            shared = self.tb.run_dir / "packages" / path.name
            shared.parent.mkdir(parents=True, exist_ok=True)
            tmp = shared.with_name(f".{shared.name}.{uuid.uuid4().hex}")
            shutil.copyfile(path, tmp)
            os.replace(tmp, shared)     # whole, whichever host copies it concurrently
            path = shared
        self._require_visible(path, f"package {path}")
        self.run(["dpkg", "-i", str(path)], timeout=300)
        self.systemctl("daemon-reload")
        self.installed.append(str(path))

    def _apply_system_config(self, installed: list[str]) -> None:
        sysusers = [p for p in installed if "/sysusers.d/" in p and p.endswith(".conf")]
        tmpfiles = [p for p in installed if "/tmpfiles.d/" in p and p.endswith(".conf")]
        if sysusers:
            self.run(["systemd-sysusers", *sysusers])
        if tmpfiles:
            self.run(["systemd-tmpfiles", "--create", *tmpfiles])

    def _require_visible(self, path: Path, what: str) -> None:
        if self.run(["test", "-e", str(path)], check=False).returncode != 0:
            raise HarnessError(f"{what}: {path} is not visible inside {self.name}; it must be on "
                               f"the machine's root fs and not under /tmp, /run, /proc, /sys or "
                               f"/dev (nspawn mounts its own there)")

    # --- diagnostics -----------------------------------------------------

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return f"--- console of {self.name} ({self.console_log}) ---\n{_tail(text, lines)}"

    # --- internals -------------------------------------------------------

    def _nspawn_argv(self) -> list[str]:
        argv = [self.tb.tools["systemd-nspawn"], "--quiet", "--link-journal=no", "--register=no",
                "--keep-unit", "--console=read-only", "-D", str(self.root),
                f"--machine={self.name}", f"--uuid={self.machine_id}",
                f"--network-namespace-path=/run/netns/{self.netns}",
                f"--bind-ro={self.tb.hosts_file}:/etc/hosts"]
        if self.persist_dir is not None:
            argv.append(f"--bind={self.persist_dir}:{PGREPL_STATE}")
        if self.lower != ROOT_DIR:
            # Another release's root has none of the machine's files: the run dir
            # (packages, staged installs) is shared like on the machine's own hosts.
            argv.append(f"--bind={self.tb.run_dir}")
        return argv + ["--boot"] + [f"systemd.mask={u}" for u in MASKED_UNITS]

    def _spawn(self) -> None:
        """Mount the root, make the cgroups, start nspawn in them (recorded at once)."""
        with self._lock:
            if self._closed:
                raise HarnessError(f"{self.name} was removed")
            if self.running:
                raise HarnessError(f"{self.name} is already running")
            self._mount_root()
            for cg in self.cgroups:
                cg.mkdir(exist_ok=True)
            self._boots += 1
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.console_log, "a") as console:
                console.write(f"\n=== pgt boot {self._boots} of {self.name} at "
                              f"{time.strftime('%H:%M:%S')} ===\n")
                console.flush()
                # sh joins the cgroups and execs nspawn: same PID, already in place.
                enter = 'for cg in $PGT_CGROUPS; do echo $$ >"$cg/cgroup.procs" || exit 125; done; exec "$@"'
                self._proc = subprocess.Popen(
                    ["sh", "-c", enter, "pgt-nspawn", *self._nspawn_argv()],
                    env={**OUTER_ENV, "PGT_CGROUPS": " ".join(map(str, self.cgroups))},
                    stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                    start_new_session=True)
            self.tb._record(self.name, self._proc.pid)

    def _wait_pid1(self, deadline: float) -> int:
        """The container's PID 1: nspawn's child that is PID 1 in its pid ns and runs systemd."""
        while time.monotonic() < deadline:
            self._check_alive("while starting")
            for child in self._children(self._proc.pid):
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                    comm = Path(f"/proc/{child}/comm").read_text().strip()
                except OSError:
                    continue
                nspid = re.search(r"^NSpid:\s+(.*)$", status, re.M)
                if nspid and nspid.group(1).split()[-1] == "1" and comm == "systemd":
                    return child
            time.sleep(0.05)
        raise HarnessTimeout(f"{self.name}: no systemd PID 1 under nspawn {self._proc.pid}\n"
                             f"{self.console_tail()}")

    @staticmethod
    def _children(pid: int) -> list[int]:
        kids: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                pass
        return kids

    def _wait_running(self, deadline: float) -> None:
        """systemctl is-system-running --wait, retried until PID 1 answers at all."""
        state = ""
        while time.monotonic() < deadline:
            self._check_alive("while booting")
            try:
                r = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                             timeout=max(1, deadline - time.monotonic()))
            except HarnessTimeout:
                break
            state = r.stdout.strip()
            if state == "running":
                return
            if state == "degraded":
                self.failed_units = self.run(["systemctl", "--failed", "--plain", "--no-legend"],
                                             check=False).stdout.splitlines()
                log.warning("%s is degraded; failed units:\n  %s", self.name,
                            "\n  ".join(self.failed_units))
                return
            if state in ("maintenance", "stopping"):
                break
            time.sleep(0.2)     # PID 1 not reachable yet ("offline", bus errors)
        jobs = self.run(["systemctl", "list-jobs", "--no-legend"], check=False).stdout
        raise HarnessTimeout(f"{self.name}: not running before the deadline (state '{state}')\n"
                             f"--- pending jobs ---\n{_tail(jobs, 20)}\n{self.console_tail()}")

    def _ensure_postgresql_masked(self) -> None:
        """The machine's cluster must never run in a host; mask it now if boot did not."""
        for unit in POSTGRESQL_UNITS:
            enabled = self.run(["systemctl", "is-enabled", unit], check=False).stdout.strip()
            if not enabled.startswith("masked"):
                log.warning("%s: %s was '%s', masking it now", self.name, unit, enabled)
                self.run(["systemctl", "mask", "--runtime", "--now", unit])
            active = self.unit_property(unit, "ActiveState")
            if active not in ("inactive", "failed"):
                self.run(["systemctl", "stop", unit])
                raise HarnessError(f"{self.name}: {unit} was {active} despite the mask")

    def _check_alive(self, when: str) -> None:
        if self._closed:
            raise HarnessError(f"{self.name} was removed {when}")
        if self._proc.poll() is not None:
            raise HarnessError(f"{self.name}: systemd-nspawn exited {self._proc.returncode} {when}\n"
                               f"{self.console_tail()}")

    def _kill_commands(self) -> None:
        """Kill commands still running in the host before it goes down.

        Shutdown SIGSTOPs every process; nsenter, outside the container,
        sees its child stop, stops itself in turn and never reaps the
        child, so the host's final stage would wait up to 90s for a zombie.
        """
        for proc in list(self._commands):
            _kill_command(proc)

    def _kill_container(self, proc: subprocess.Popen) -> None:
        """SIGKILL PID 1 (the whole pid namespace dies); nspawn then exits by itself.

        Without a known PID 1 nspawn itself is killed; _after_exit() then
        kills whatever is left in the host's cgroups.
        """
        if self.pid1 is not None and _proc_starttime(self.pid1) is not None:
            _kill(self.pid1, signal.SIGKILL)
            try:
                proc.wait(15)
                return
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
        proc.wait(15)

    def _after_exit(self) -> None:
        """Once nspawn is gone: drop its cgroups, the root mount and the record."""
        with self._lock:
            self.pid1 = None
            for cg in self.cgroups:
                _cgroup_remove(cg)
            if _is_mounted(self.root):
                _umount_tree(self.root)
            self.tb._record(self.name, None)

    def _mount_root(self) -> None:
        """Overlay: the machine's / below, this host's persistent writable layer above."""
        if _is_mounted(self.root):
            return
        upper, work = self.dir / "upper", self.dir / "work"
        for d in (upper, work, self.root):
            d.mkdir(parents=True, exist_ok=True)
        etc = upper / "etc"
        etc.mkdir(exist_ok=True)
        # First boot of this layer: a static host name and an id of its own
        # (the machine's /etc/machine-id would otherwise be shared by all).
        for name, text in (("hostname", self.name), ("machine-id", self.machine_id)):
            if not (etc / name).exists():
                (etc / name).write_text(text + "\n")
        _outer(["mount", "-t", "overlay", self.netns, "-o",
                f"lowerdir={self.lower},upperdir={upper},workdir={work}", str(self.root)])

    def _reset_root(self) -> None:
        if _is_mounted(self.root):
            raise HarnessError(f"{self.name}: cannot reset a mounted root")
        for d in ("upper", "work"):
            _safe_rmtree(self.dir / d)

    def _close(self) -> None:
        """Stop for good and forget: root layer, netns (and with it the veth)."""
        self._closed = True
        self.stop()
        _safe_rmtree(self.dir)
        _outer(["ip", "netns", "del", self.netns], check=False)


# --- the test bed ------------------------------------------------------------

class Testbed:
    """Owns the shared pieces (root bind, nspawn tmpfs, bridge) and all hosts.

    Use as a context manager; close() is idempotent and also runs atexit and
    on SIGTERM (turned into KeyboardInterrupt so finalizers run).
    """

    def __init__(self, run_dir: Path = RUN_DIR, keep_run_dir: bool | None = None):
        self.run_dir = Path(run_dir)
        self.hosts_file = self.run_dir / "hosts"
        self.state_file = self.run_dir / "state.json"
        self.keep_run_dir = (os.environ.get("PGT_KEEP") == "1") if keep_run_dir is None else keep_run_dir
        self.hosts: dict[str, Host] = {}
        self.tools: dict[str, str] = {}
        self.cgroup_bases: list[Path] = []
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._state: dict = {"hosts": {}}
        self._open = False
        self._old_sigterm = None
        self.machine_release = machine_release()
        self._roots: dict[str, Path] = {}

    def release_root(self, release: str) -> Path:
        """The lower layer of a host of this Debian release: the machine's / for its own, else the
        root make-root keeps under /var/tmp (built on first use, ~2 min; rebuilt when stale)."""
        if release == self.machine_release:
            return ROOT_DIR
        if release not in PG_MAJORS:
            raise HarnessError(f"unknown Debian release '{release}' (known: {', '.join(PG_MAJORS)})")
        with self._lock:
            if release not in self._roots:
                r = subprocess.run([str(MAKE_ROOT), release], capture_output=True, text=True,
                                   timeout=1800, env=OUTER_ENV)
                if r.returncode != 0:
                    raise HarnessError(f"make-root {release} failed ({r.returncode}):\n{_tail(r.stderr, 30)}")
                self._roots[release] = Path(r.stdout.strip().splitlines()[-1])
            return self._roots[release]

    def __enter__(self) -> "Testbed":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep_run_dir=True if exc_type is not None else None)

    # --- setup -----------------------------------------------------------

    def open(self) -> None:
        """Take the lock, sweep an earlier run's leftovers, build the shared pieces."""
        reason = missing_prerequisites()
        if reason:
            raise HarnessError(reason)
        self.tools = {t: _which(t) for t in ("systemd-nspawn", "nsenter")}
        self.cgroup_bases = _cgroup_bases()
        self._acquire_lock()
        self._open = True
        atexit.register(self.close)
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        try:
            self._sweep(self._load_state())
            _safe_rmtree(self.run_dir)          # the previous run's logs
            self.run_dir.mkdir(parents=True)
            self.hosts_file.write_text("")
            self._write_hosts_file()
            self._setup_mounts()
            self._setup_bridge()
        except BaseException:
            self.close(keep_run_dir=True)
            raise

    def _setup_mounts(self) -> None:
        ROOT_DIR.mkdir(parents=True, exist_ok=True)
        _outer(["mount", "--bind", "/", str(ROOT_DIR)])     # nspawn refuses / itself
        HOSTS_DIR.mkdir(parents=True, exist_ok=True)
        _outer(["mount", "-t", "tmpfs", "-o", "mode=0700", "pgt-hosts", str(HOSTS_DIR)])
        if not _is_mounted(NSPAWN_RUNTIME):
            # nspawn cleans up in here and refuses to rm -rf on a disk fs.
            self._state["nspawn_tmpfs"] = True
            self._state["nspawn_dir_made"] = not NSPAWN_RUNTIME.exists()
            self._save_state()
            NSPAWN_RUNTIME.mkdir(parents=True, exist_ok=True)
            _outer(["mount", "-t", "tmpfs", "-o", "mode=0755", "pgt-nspawn", str(NSPAWN_RUNTIME)])

    def _setup_bridge(self) -> None:
        _outer(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _disable_ipv6(BRIDGE)        # the machine itself takes no part in the test net
        _outer(["ip", "link", "set", BRIDGE, "up"])

    # --- hosts -----------------------------------------------------------

    def boot(self, name: str, ip: str | None = None, persist_dir: str | os.PathLike | None = None,
             timeout: float = BOOT_TIMEOUT, release: str | None = None) -> Host:
        """Create the host's netns and veth, boot it, return when it is running.
        release: a Debian release (PG_MAJORS); default the machine's own."""
        host = self._add(name, ip, persist_dir, release)
        host.start(timeout)
        return host

    def boot_many(self, specs: Iterable[str | dict], timeout: float = BOOT_TIMEOUT) -> list[Host]:
        """Boot several hosts concurrently; specs are names or boot() keyword dicts."""
        hosts = [self._add(**({"name": s} if isinstance(s, str) else s)) for s in specs]
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts)))
        try:
            futures = [pool.submit(h.start, timeout) for h in hosts]
            errors = [f.exception() for f in futures]
        finally:
            pool.shutdown(wait=False)   # on Ctrl-C, close() kills what is still booting
        failed = [e for e in errors if e is not None]
        if failed:
            raise HarnessError(f"{len(failed)} of {len(hosts)} hosts failed to boot:\n"
                               + "\n".join(str(e) for e in failed)) from failed[0]
        return hosts

    def persist_dir(self, name: str) -> Path:
        """A directory under the run dir for a host's /var/lib/pgrepl (deleted at close)."""
        path = self.run_dir / "persist" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self, host: Host) -> None:
        """Stop a host and delete everything of it except its persist_dir."""
        with self._lock:
            self.hosts.pop(host.name, None)
            self._write_hosts_file()
        host._close()

    def _add(self, name: str, ip: str | None = None,
             persist_dir: str | os.PathLike | None = None, release: str | None = None) -> Host:
        """Validate, pick the address, plug the netns in; the host is not booted yet."""
        with self._lock:
            if not self._open:
                raise HarnessError("the test bed is not open")
            if not _NAME_RE.match(name):
                raise HarnessError(f"bad host name '{name}' (want [a-z][a-z0-9-]{{0,19}})")
            if name in self.hosts:
                raise HarnessError(f"host '{name}' exists already")
            ip = self._pick_ip(ip)
            persist = Path(persist_dir).resolve() if persist_dir is not None else None
            if persist is not None:
                persist.mkdir(parents=True, exist_ok=True)
            host = Host(self, name, ip, persist, release)
            self._plug(host)
            self.hosts[name] = host
            self._write_hosts_file()
            return host

    def _pick_ip(self, ip: str | None) -> str:
        used = {h.ip for h in self.hosts.values()}
        if ip is None:
            free = (f"{SUBNET}.{n}" for n in range(FIRST_OCTET, LAST_OCTET + 1))
            ip = next((a for a in free if a not in used), None)
            if ip is None:
                raise HarnessError("no free address left in the test subnet")
        octet = ip.rsplit(".", 1)[-1]
        if not ip.startswith(SUBNET + ".") or not octet.isdigit() or not 1 < int(octet) < 255:
            raise HarnessError(f"address {ip} is outside the test subnet {SUBNET}.0/24")
        if ip in used:
            raise HarnessError(f"address {ip} is taken")
        return ip

    def _plug(self, host: Host) -> None:
        """netns + veth pair: host side on the bridge, eth0 inside with the address."""
        n = host.netns
        _outer(["ip", "netns", "add", n])
        _outer(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", n])
        _disable_ipv6(host.veth)
        _outer(["ip", "link", "set", host.veth, "master", BRIDGE, "up"])
        _outer(["ip", "-n", n, "addr", "add", f"{host.ip}/24", "dev", "eth0"])
        _outer(["ip", "-n", n, "link", "set", "eth0", "up"])
        _outer(["ip", "-n", n, "link", "set", "lo", "up"])

    def _write_hosts_file(self) -> None:
        """Names of all hosts for every host's /etc/hosts (bind-mounted, rewritten in place)."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{h.ip}\t{h.name}" for h in self.hosts.values()]
        with open(self.hosts_file, "r+") as f:     # same inode: the bind mounts follow
            f.truncate(0)
            f.write("\n".join(lines) + "\n")

    # --- teardown --------------------------------------------------------

    def close(self, keep_run_dir: bool | None = None) -> None:
        """Stop every host and remove everything the harness made; safe to call twice."""
        if not self._open:
            return
        self._open = False
        if self._old_sigterm is not None:     # a second SIGTERM must not cut teardown short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        hosts = list(self.hosts.values())
        for h in hosts:
            h._closed = True
        threads = [threading.Thread(target=_quietly, args=(h.stop,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(STOP_TIMEOUT + 40)
        self.hosts.clear()
        try:
            self._sweep(self._state)
            keep = self.keep_run_dir if keep_run_dir is None else keep_run_dir
            if keep:
                print(f"pgt: logs kept in {self.run_dir}", file=sys.stderr)
            else:
                _safe_rmtree(self.run_dir)
        finally:
            self._release_lock()
            atexit.unregister(self.close)
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
                self._old_sigterm = None

    def _sweep(self, state: dict) -> None:
        """Remove every pgt-* thing: recorded nspawns, cgroups, mounts, netns, links."""
        for name, rec in state.get("hosts", {}).items():
            pid = rec["pid"]
            if _proc_starttime(pid) == rec["starttime"]:
                log.warning("stopping leftover host %s (nspawn %d)", name, pid)
                _kill(pid, signal.SIGTERM)
                if not _wait_pid_gone(pid, 20):
                    _kill(pid, signal.SIGKILL)
                    _wait_pid_gone(pid, 10)
        for base in self.cgroup_bases:
            for cg in base.glob(PREFIX + "*"):
                _cgroup_remove(cg)
        _umount_tree(HOSTS_DIR)
        _rmdir_if_empty(HOSTS_DIR)
        if state.get("nspawn_tmpfs") and _is_mounted(NSPAWN_RUNTIME):
            _umount_tree(NSPAWN_RUNTIME)
        if state.get("nspawn_dir_made"):
            _rmdir_if_empty(NSPAWN_RUNTIME)
        _umount_tree(ROOT_DIR)
        _rmdir_if_empty(ROOT_DIR)
        for ns in _outer(["ip", "netns", "list"]).stdout.split("\n"):
            if ns.startswith(PREFIX):
                _outer(["ip", "netns", "del", ns.split()[0]], check=False)
        for link in _outer(["ip", "-o", "link", "show"]).stdout.splitlines():
            ifname = link.split(":")[1].strip().split("@")[0]
            if ifname.startswith(PREFIX):
                _outer(["ip", "link", "del", ifname], check=False)
        self._state = {"hosts": {}}
        if self.state_file.exists():
            self.state_file.unlink()

    # --- lock and state --------------------------------------------------

    def _acquire_lock(self) -> None:
        """One test bed per machine: a second run waits, then fails with who holds it."""
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + LOCK_TIMEOUT
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise HarnessError(f"another test bed (pid {holder}) holds {LOCK_PATH}")
                if not said:
                    print(f"pgt: waiting for the test bed of pid {holder}", file=sys.stderr)
                    said = True
                time.sleep(1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _load_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {"hosts": {}}

    def _save_state(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state))
        tmp.replace(self.state_file)

    def _record(self, name: str, pid: int | None) -> None:
        """Note a running nspawn (PID + start time) so a crashed run can be swept."""
        with self._lock:
            if pid is None:
                self._state["hosts"].pop(name, None)
            else:
                self._state["hosts"][name] = {"pid": pid, "starttime": _proc_starttime(pid)}
            self._save_state()


def _warn_unless_system_prefix(builddir: Path) -> None:
    """A build set up without --prefix=/usr installs into /usr/local (and /usr/local/etc)."""
    try:
        options = json.loads((builddir / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return
    prefix = next((o["value"] for o in options if o["name"] == "prefix"), None)
    if prefix != "/usr":
        log.warning("%s is set up with prefix '%s', not /usr: files land under %s "
                    "(meson setup --prefix=/usr for what a package installs)", builddir, prefix, prefix)


def _forget_cached_lookups() -> None:
    """Make hosts see the machine's files as they are now (a rebuilt build dir).

    A host's overlay caches what it looked up in the lower layer: a file
    replaced by rename (as ninja and dpkg-deb write) keeps its old content
    inside, a file created after a failed lookup stays invisible.  Dropping
    the kernel's unused dentries (machine-wide, cheap) clears that.
    """
    Path("/proc/sys/vm/drop_caches").write_text("2")


def _disable_ipv6(ifname: str) -> None:
    knob = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if knob.exists():
        knob.write_text("1")


def _quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as e:     # teardown goes on; the sweep catches the rest
        log.warning("teardown: %s", e)


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
