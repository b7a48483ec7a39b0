# SPDX-License-Identifier: MIT
"""What failover tests (and tests/bench/failover) need beside the hosts: a real
etcd inside test hosts, a Sampler that fails a test when two servers were ever
writable at once, and a Writer that records every commit a primary
acknowledged, to check none is missing after a failover.

- `Etcd(hosts)`: one etcd member per host (1 or 3), each a transient unit
  `pgt-etcd` started with systemd-run inside its host; `endpoints` is the
  client URL list (POSTGRESQL_ETCD_HOSTS); `stop()`/`start()` take the whole
  cluster (or one member) down and up again with its data; `wipe()` starts
  over empty; `get(key)`, `get_prefix(prefix)`, `lease_ttl(id)` read it
  through the v3 JSON gateway with curl from a host.
- `Sampler(hosts)`: one thread per host keeps a psql session open on the
  host's own socket (so a host whose link is cut is still seen) and asks
  `pg_is_in_recovery()` and the WAL receiver's state every `interval`
  (50 ms). Each answer is stamped with the test's monotonic clock, before
  the question and after the answer. `overlaps()` lists every time two hosts
  were certainly writable at once; `check()` fails the test with them.
- `Writer(client, nodes)`: on a client host, `pgt-writer` (python3 + libpq by
  ctypes, a multi-host conninfo with target_session_attrs=read-write) commits
  numbered rows, one per transaction, and appends each id to a file only
  once the server acknowledged its COMMIT. `missing(primary)` lists the
  acknowledged ids a primary does not have.

Python 3.11 standard library; psql and curl from the hosts.
"""

import base64
import json
import os
import select
import subprocess
import threading
import time
from pathlib import Path

import harness

ETCD_UNIT = "pgt-etcd"
ETCD_DIR = "/var/lib/pgt-etcd"
WRITER_UNIT = "pgt-writer"
WRITER_SCRIPT = Path(__file__).resolve().parent / "pgt-writer"
HERE = Path(__file__).resolve().parent


# --- etcd --------------------------------------------------------------------

def _b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s):
    return base64.b64decode(s).decode(errors="replace")


def _prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


class Etcd:
    """An etcd cluster of one member per host (Debian's etcd-server 3.4)."""

    def __init__(self, hosts, token="pgt"):
        self.hosts = list(hosts)
        self.token = token
        self.generation = 0

    @property
    def endpoints(self):
        return ",".join(f"http://{h.ip}:2379" for h in self.hosts)

    def _argv(self, h):
        cluster = ",".join(f"{m.name}=http://{m.ip}:2380" for m in self.hosts)
        return ["etcd", "--name", h.name, "--data-dir", f"{ETCD_DIR}/data",
                "--listen-client-urls", f"http://{h.ip}:2379,http://127.0.0.1:2379",
                "--advertise-client-urls", f"http://{h.ip}:2379",
                "--listen-peer-urls", f"http://{h.ip}:2380",
                "--initial-advertise-peer-urls", f"http://{h.ip}:2380",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"{self.token}-{self.generation}",
                "--logger", "zap", "--log-outputs", "stderr"]

    def start(self, hosts=None, timeout=60):
        """Start the members (all by default) and wait until each answers healthy."""
        hosts = self.hosts if hosts is None else list(hosts)
        for h in hosts:
            h.systemctl("reset-failed", ETCD_UNIT, check=False)
            h.run(["mkdir", "-p", "-m", "0700", ETCD_DIR])
            h.run(["systemd-run", f"--unit={ETCD_UNIT}", "--collect", "-p", "Restart=no",
                   "--setenv=ETCD_UNSUPPORTED_ARCH=", *self._argv(h)])
        for h in hosts:
            h.wait_for(f"curl -sf --max-time 2 http://{h.ip}:2379/health | grep -q '\"health\":\"true\"'",
                       timeout=timeout, interval=0.3, what=f"etcd on {h.name} healthy")

    def stop(self, hosts=None):
        """Stop the members (all by default); their data stays."""
        hosts = self.hosts if hosts is None else list(hosts)
        harness_parallel(*(lambda h=h: h.systemctl("stop", ETCD_UNIT, check=False) for h in hosts))

    def kill(self, hosts=None):
        """SIGKILL the members (all by default): no goodbye to the clients."""
        hosts = self.hosts if hosts is None else list(hosts)
        for h in hosts:
            h.systemctl("kill", "-s", "KILL", ETCD_UNIT, check=False)

    def wipe(self):
        """A new, empty cluster on the same hosts (no key, no lease of earlier tests)."""
        self.stop()
        for h in self.hosts:
            h.run(["rm", "-rf", f"{ETCD_DIR}/data"])
        self.generation += 1
        self.start()

    # The v3 JSON gateway, through curl in a host that is up.
    def call(self, path, body, via=None, timeout=3):
        """POST body to path on the first member that answers; curl runs in via (default: the member)."""
        last = None
        for h in self.hosts:
            runner = via or h
            if not runner.running:
                continue
            r = runner.run(["curl", "-sS", "--max-time", str(timeout), "-X", "POST", "--data-binary", "@-",
                            f"http://{h.ip}:2379{path}"], check=False, input=json.dumps(body),
                           timeout=timeout + 10)
            if r.returncode == 0:
                return json.loads(r.stdout or "{}")
            last = r.stderr.strip()
        raise harness.HarnessError(f"etcd {path}: no member answered ({last})")

    def get(self, key, via=None):
        """(value, lease id as str or None) of a key, or None when it does not exist."""
        doc = self.call("/v3/kv/range", {"key": _b64(key)}, via)
        kvs = doc.get("kvs") or []
        if not kvs:
            return None
        return _unb64(kvs[0].get("value", "")), kvs[0].get("lease")

    def get_prefix(self, prefix, via=None):
        """{key: value} of every key under prefix."""
        doc = self.call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))}, via)
        return {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in doc.get("kvs") or []}

    def lease_ttl(self, lease, via=None):
        """(remaining TTL, granted TTL) of a lease; remaining -1 when it is gone."""
        doc = self.call("/v3/lease/timetolive", {"ID": lease}, via)
        return int(doc.get("TTL", -1)), int(doc.get("grantedTTL", 0))

    def delete_prefix(self, prefix, via=None):
        self.call("/v3/kv/deleterange", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))}, via)


def harness_parallel(*calls):
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- the sampler -------------------------------------------------------------

SAMPLE_SQL = ("select pg_is_in_recovery(), coalesce((select status || ' ' || coalesce(sender_host, '') "
              "from pg_stat_wal_receiver), '');\n")


class Sample:
    __slots__ = ("host", "sent", "got", "value", "receiver")

    def __init__(self, host, sent, got, value, receiver=""):
        self.host, self.sent, self.got, self.value, self.receiver = host, sent, got, value, receiver

    @property
    def writable(self):
        return self.value == "f"

    def __repr__(self):
        return f"<{self.host} {self.value} {self.sent:.3f}-{self.got:.3f} {self.receiver}>"


class _Poller(threading.Thread):
    """One host: a psql session on its socket, asked every interval; reconnects when it is lost."""

    def __init__(self, sampler, host):
        super().__init__(daemon=True, name=f"sampler-{host.name}")
        self.s, self.host = sampler, host
        self.proc = None

    def spawn(self):
        h = self.host
        if not h.running or h.pid1 is None:
            return None
        argv = [h.tb.tools["nsenter"], "-t", str(h.pid1), "-m", "-u", "-i", "-n", "-p", "--",
                "runuser", "-u", "postgres", "--", "stdbuf", "-oL", "psql", "-XAtq",
                "-d", "postgres", "-p", "5432", "-v", "ON_ERROR_STOP=0"]
        try:
            proc = subprocess.Popen(argv, env={**harness.HOST_ENV, "PGCONNECT_TIMEOUT": "2"},
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    start_new_session=True, bufsize=0)
        except OSError:
            return None
        h._commands.add(proc)      # a host's stop() kills it, as it does Host.run's commands
        return proc

    def drop(self):
        if self.proc is not None:
            harness._kill_command(self.proc)
            self.host._commands.discard(self.proc)
            self.proc = None

    def run(self):
        buf = b""
        while not self.s._stop.is_set():
            if self.proc is None:
                self.proc, buf = self.spawn(), b""
                if self.proc is None:
                    self.s._record(Sample(self.host.name, time.monotonic(), time.monotonic(), "down"))
                    self.s._stop.wait(self.s.interval)
                    continue
            sent = time.monotonic()
            try:
                self.proc.stdin.write(SAMPLE_SQL.encode())
            except OSError:
                self.drop()
                self.s._record(Sample(self.host.name, sent, time.monotonic(), "down"))
                continue
            line, deadline = None, sent + self.s.answer_timeout
            while line is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([self.proc.stdout], [], [], left)
                if not ready:
                    break
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                if b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
            got = time.monotonic()
            if line is None:
                # EOF (no server, connection lost) or no answer in time: a new session next time.
                self.drop()
                self.s._record(Sample(self.host.name, sent, got, "down"))
                self.s._stop.wait(self.s.interval)
                continue
            value, _, receiver = line.decode(errors="replace").partition("|")
            self.s._record(Sample(self.host.name, sent, got, value.strip(), receiver.strip()))
            self.s._stop.wait(max(0, self.s.interval - (got - sent)))
        self.drop()


class Sampler:
    """Polls every host for writability; fails a test when two were writable at once.

    with Sampler(hosts) as s: ...  # check() runs at the end of the block
    """

    def __init__(self, hosts, interval=0.05, answer_timeout=1.0):
        self.hosts = list(hosts)
        self.interval, self.answer_timeout = interval, answer_timeout
        self.samples = {h.name: [] for h in self.hosts}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._cond = threading.Condition(self._lock)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.check()

    def start(self):
        self._threads = [_Poller(self, h) for h in self.hosts]
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _record(self, sample):
        with self._cond:
            self.samples[sample.host].append(sample)
            self._cond.notify_all()

    def latest(self, host):
        with self._lock:
            got = self.samples[host.name if hasattr(host, "name") else host]
            return got[-1] if got else None

    def writable_now(self):
        """Names of the hosts whose last answer was 'writable'."""
        with self._lock:
            return sorted(n for n, ss in self.samples.items() if ss and ss[-1].writable)

    def first(self, predicate, after, timeout, what="condition"):
        """The first sample taken after `after` (monotonic) for which predicate(sample) holds; waits."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [s for ss in self.samples.values() for s in ss if s.sent >= after and predicate(s)]
                if hits:
                    return min(hits, key=lambda s: s.got)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no sample showed {what} within {timeout}s; last: "
                                         f"{ {n: ss[-1] if ss else None for n, ss in self.samples.items()} }")
                self._cond.wait(min(left, 0.5))

    def first_writable(self, after, exclude=(), timeout=60):
        names = {getattr(h, "name", h) for h in exclude}
        return self.first(lambda s: s.writable and s.host not in names, after, timeout,
                          f"a writable host other than {sorted(names)}")

    def first_streaming(self, host, sources, after, timeout=60):
        """The first sample of host streaming from one of sources (names or addresses)."""
        name = getattr(host, "name", host)
        return self.first(lambda s: s.host == name and s.value == "t"
                          and s.receiver.split(" ")[0] == "streaming"
                          and s.receiver.partition(" ")[2] in sources, after, timeout,
                          f"{name} streaming from {sorted(sources)}")

    def last_writable(self, host, before=None):
        name = getattr(host, "name", host)
        with self._lock:
            hits = [s for s in self.samples[name] if s.writable and (before is None or s.got <= before)]
        return hits[-1] if hits else None

    def runs(self, name):
        """Runs of consecutive writable answers of one host, as lists of samples."""
        out, cur = [], []
        for s in self.samples[name]:
            if s.writable:
                cur.append(s)
            elif cur:
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
        return out

    def overlaps(self):
        """Every moment two hosts were certainly writable together.

        A writable answer means the server was writable at some instant
        between the question and the answer; a run of consecutive writable
        answers means it was writable from the first answer's arrival to the
        last question (nothing else was seen in between: a server that went
        down or into recovery would have broken the session or the run).
        An overlap: a writable answer of one host whose whole question-answer
        window lies inside another host's run, or two runs that overlap.
        """
        with self._lock:
            names = list(self.samples)
            spans = {n: [(r[0].got, r[-1].sent, r) for r in self.runs(n)] for n in names}
        found = []
        for a in names:
            for b in names:
                if a >= b:
                    continue
                for a0, a1, ra in spans[a]:
                    for b0, b1, rb in spans[b]:
                        if max(a0, b0) < min(a1, b1):
                            found.append(f"{a} writable {a0:.3f}..{a1:.3f} and {b} writable "
                                         f"{b0:.3f}..{b1:.3f}")
                        else:
                            for x, (s0, s1), y, r in ((a, (a0, a1), b, rb), (b, (b0, b1), a, ra)):
                                inside = [s for s in r if s0 < s.sent and s.got < s1]
                                if inside:
                                    found.append(f"{x} writable {s0:.3f}..{s1:.3f} while {y} answered "
                                                 f"writable {inside[0].sent:.3f}..{inside[0].got:.3f}")
        return found

    def check(self):
        found = self.overlaps()
        assert not found, "two writable servers at once:\n  " + "\n  ".join(found[:20])
        counted = {n: len(ss) for n, ss in self.samples.items()}
        assert all(counted.values()), f"the sampler never asked some host: {counted}"


# --- the writer --------------------------------------------------------------

class Writer:
    """Numbered commits on whichever node is writable, from a client host.

    The table is made by setup() on the primary. The writer runs in the
    client host as the transient unit pgt-writer (pgt-writer, libpq by
    ctypes); the password goes in a passfile only root reads, never in argv.
    """

    ACKED = "/root/pgt-writer.acked"

    def __init__(self, client, nodes, user="my_user", password="password123", db="my_database",
                 table="acked", port=5432, pause=0.01):
        self.client, self.nodes = client, list(nodes)
        self.user, self.password, self.db, self.table, self.port = user, password, db, table, port
        self.pause = pause

    def conninfo(self):
        hosts = ",".join(n.ip for n in self.nodes)
        return (f"host={hosts} port={self.port} user={self.user} dbname={self.db} connect_timeout=2 "
                f"target_session_attrs=read-write keepalives_idle=2 keepalives_interval=1 keepalives_count=2 tcp_user_timeout=4000")

    def setup(self, primary, psql=None):
        sql = (f"drop table if exists {self.table}; create table {self.table}(id bigint primary key); "
               f"grant insert, select on {self.table} to {self.user}")
        if psql is not None:
            psql(sql)
        else:
            primary.psql(sql, db=self.db)

    def start(self):
        c = self.client
        c.systemctl("stop", WRITER_UNIT, check=False)
        c.systemctl("reset-failed", WRITER_UNIT, check=False)
        c.run(["rm", "-f", self.ACKED])
        c.write_file("/root/pgt-writer.pgpass", f"*:*:*:{self.user}:{self.password}\n", mode=0o600)
        # A copy in the host: the source tree may be where the host does not see it (a clone in /tmp).
        c.write_file("/root/pgt-writer", WRITER_SCRIPT.read_text(), mode=0o755)
        c.run(["systemd-run", f"--unit={WRITER_UNIT}", "--collect", "-p", "Restart=no",
               "--setenv=PGPASSFILE=/root/pgt-writer.pgpass",
               "/usr/bin/python3", "/root/pgt-writer", "--conninfo", self.conninfo(),
               "--table", self.table, "--out", self.ACKED, "--pause", str(self.pause)])

    def acked(self):
        """The ids acknowledged so far."""
        out = self.client.run(f"cat {self.ACKED} 2>/dev/null || true").stdout
        # A line is written whole with its newline; ignore a last one cut short.
        lines = out.split("\n")
        return [int(x) for x in lines[:-1] if x.strip().isdigit()]

    def wait_acked(self, n, timeout=60):
        """Until at least n more commits than now were acknowledged."""
        base = len(self.acked())
        self.client.wait_for(lambda: len(self.acked()) >= base + n, timeout=timeout, interval=0.5,
                             what=f"the writer to commit {n} rows")

    def stop(self):
        """Stop the writer; the ids it had acknowledged."""
        self.client.systemctl("stop", WRITER_UNIT, check=False)
        return self.acked()

    def log(self):
        return self.client.journal(WRITER_UNIT, lines=30)

    def missing(self, primary, acked=None, psql=None):
        """Acknowledged ids that are not in the table on primary (sorted)."""
        acked = self.acked() if acked is None else acked
        out = psql(f"select id from {self.table}") if psql else primary.psql(f"select id from {self.table}",
                                                                             db=self.db, timeout=120)
        present = {int(x) for x in out.split()}
        return sorted(set(acked) - present)
