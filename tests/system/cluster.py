# SPDX-License-Identifier: MIT
"""What the system tests of a pgrepl cluster share: the guide's configuration,
and helpers that drive hosts the way an operator would (env files, systemctl,
psql, touch) and wait, with a deadline, for what a user would see."""

import concurrent.futures
import hashlib
import hmac
import threading
import time

import harness

ENV_FILE = "/etc/pgrepl/main.env"
PRIMARY, STANDBY, TRIGGER = "pgrepl-primary@main", "pgrepl-standby@main", "pgrepl-trigger@main"
UNITS = (TRIGGER, STANDBY, PRIMARY)
TRIGGER_FILE = "/tmp/postgresql.trigger.5432"
DATA_DIR = "/var/lib/pgrepl/main/data"
SECRETS = "/etc/pgrepl/secrets"

# The guide's master, verbatim.
MASTER = {
    "POSTGRESQL_REPLICATION_MODE": "master",
    "POSTGRESQL_USERNAME": "my_user",
    "POSTGRESQL_PASSWORD": "password123",
    "POSTGRESQL_DATABASE": "my_database",
    "POSTGRESQL_REPLICATION_USER": "my_repl_user",
    "POSTGRESQL_REPLICATION_PASSWORD": "my_repl_password",
}
# The application's login, over TCP with its password, as a client of the image would.
APP = dict(user="my_user", db="my_database", host="127.0.0.1", password="password123")
SEED_QUERY = ("select client_addr, usename, application_name, state, sync_state "
              "from pg_stat_replication order by client_addr")
# The guide's own variant (its synchronous-commit section), for the printed tables.
SEED_PRIORITY_QUERY = ("select application_name as server, state, sync_priority as priority, sync_state "
                       "from pg_stat_replication order by client_addr")
DB = "my_database"
CLONE_MESSAGE = "Cloning primary"          # what pgrepl-standby-bootstrap logs when it clones
INITDB_MESSAGE = "First start: initializing"

# --- setup -------------------------------------------------------------------

def parallel(*calls):
    """Run the calls concurrently (hosts are independent); return their results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


def reset(host):
    """Back to an installed host with no pgrepl instance: units off, no config, no data."""
    for unit in UNITS:
        host.systemctl("disable", "--now", unit, check=False, timeout=120)
    host.systemctl("reset-failed", check=False)
    host.run(f"rm -rf /var/lib/pgrepl/main {ENV_FILE} {SECRETS} /tmp/postgresql.trigger.* /tmp/seed-*")


# --- helpers -----------------------------------------------------------------

def write_env(host, env):
    host.write_file(ENV_FILE, "".join(f"{k}={v}\n" for k, v in env.items()), mode=0o600)


def standby_env(primary, **extra):
    """The guide's slave: MODE=slave, the master's host and port, the replication credentials."""
    env = {
        "POSTGRESQL_REPLICATION_MODE": "slave",
        "POSTGRESQL_MASTER_HOST": primary.name,
        "POSTGRESQL_MASTER_PORT_NUMBER": "5432",
        "POSTGRESQL_REPLICATION_USER": "my_repl_user",
        "POSTGRESQL_REPLICATION_PASSWORD": "my_repl_password",
    }
    env.update({f"POSTGRESQL_{k}": v for k, v in extra.items()})
    return env


def start_primary(host, env=None):
    write_env(host, MASTER if env is None else env)
    host.systemctl("start", PRIMARY, timeout=180)


def start_standby(host, primary, **extra):
    write_env(host, standby_env(primary, **extra))
    host.systemctl("start", STANDBY, timeout=180)


def psql_run(host, sql, user="postgres", db="postgres", tcp=False, password=None, timeout=60):
    """psql with its exit status and stderr (host.psql raises or hides them)."""
    argv = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
            "-U", user, "-d", db, "-c", sql] + (["-h", "127.0.0.1"] if tcp else [])
    return host.run(argv, check=False, timeout=timeout,
                    env={"PGPASSWORD": password} if password is not None else None)


def eventually(check, timeout=60, interval=0.25):
    """Call check() until it passes (no AssertionError, no failed command); at the deadline, its error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, harness.CommandFailed):
            if time.monotonic() + interval > deadline:
                raise
        time.sleep(interval)


def replication(primary):
    """The seed's query on pg_stat_replication, as (client_addr, usename, app, state, sync_state)."""
    out = primary.psql(SEED_QUERY)
    return [tuple(line.split("|")) for line in out.splitlines()]


def wait_replication(primary, expected, timeout=60):
    """Until the seed's query shows exactly these (client_addr, application_name, state, sync_state)."""
    def check():
        rows = replication(primary)
        got = sorted((r[0], r[2], r[3], r[4]) for r in rows)
        assert got == sorted(expected), f"pg_stat_replication on {primary.name}: {rows}"
        return rows
    return eventually(check, timeout)


def wait_caught_up(primary, standbys, timeout=60):
    """Until every standby has replayed what the primary has written so far."""
    lsn = primary.psql("select pg_current_wal_lsn()")
    for s in standbys:
        def check(s=s):
            got = s.psql("select pg_last_wal_replay_lsn()")
            assert s.psql(f"select coalesce(pg_last_wal_replay_lsn() >= '{lsn}', false)") == "t", \
                f"{s.name} replayed {got}, primary {primary.name} is at {lsn}"
        eventually(check, timeout)


def receiver(standby):
    """pg_stat_wal_receiver on a standby: status, sender_host, slot_name, received_tli."""
    out = standby.psql("select status, sender_host, slot_name, received_tli from pg_stat_wal_receiver")
    return tuple(out.split("|")) if out else None


# The application id pgrepl-standby-bootstrap names default slots with (services/standby-bootstrap/upstream.c).
SLOT_APP_ID = bytes.fromhex("36ab5b3a20c64492bd43bbd970b445df")


def slot_name(standby):
    """The default slot of a standby of instance main: pgrepl_<machine>_main, <machine> the first 16 hex
    digits of sd_id128_get_machine_app_specific() of the host's machine id (computed here, as the host
    may be gone)."""
    mac = bytearray(hmac.new(bytes.fromhex(standby.machine_id), SLOT_APP_ID, hashlib.sha256).digest()[:16])
    mac[6] = (mac[6] & 0x0F) | 0x40  # a v4 UUID, as systemd makes it
    mac[8] = (mac[8] & 0x3F) | 0x80
    return f"pgrepl_{mac.hex()[:16]}_main"


def journal_count(host, unit, text):
    """How often text occurs in the unit's journal of this boot."""
    return host.run(["journalctl", "--no-pager", "-o", "cat", "-b", "-u", unit], check=False).stdout.count(text)


def journal_cursor(host):
    """Where the host's journal ends now (for --after-cursor)."""
    out = host.run(["journalctl", "--no-pager", "-n", "1", "--show-cursor", "-o", "cat"]).stdout
    return out.rsplit("-- cursor: ", 1)[1].strip()


def inode(host, path):
    return host.run(["stat", "-c", "%i", path]).stdout.strip()


def roles(host):
    return host.psql("select string_agg(rolname || ':' || rolcanlogin || rolreplication || rolsuper, ',' "
                     "order by rolname) from pg_roles where rolname !~ '^pg_'")


def databases(host):
    return host.psql("select string_agg(datname, ',' order by datname) from pg_database")


class Background:
    """A command in a host that must keep running (or block) while the test goes on."""

    def __init__(self, fn):
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as e:     # reported by join()
            self.error = e

    def done(self):
        return not self.thread.is_alive()

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"still running after {timeout}s"
        if self.error:
            raise self.error
        return self.result


def ensure(cond, msg):
    assert cond, msg
    return True


# --- promotion -------------------------------------------------------------------

def promote_by_touch(standby, write="insert into promo(note) values ('first write')"):
    """touch the trigger file as root; milliseconds until the node takes the write (in my_database)."""
    script = f"""
        touch {TRIGGER_FILE}; t0=$(date +%s%N)
        for i in $(seq 1 1500); do
            if runuser -u postgres -- psql -XAtq -d my_database \
                    -c "{write}" 2>/dev/null; then
                echo $(( ($(date +%s%N) - t0) / 1000000 )); exit 0
            fi
            sleep 0.02
        done
        exit 1"""
    return int(standby.run(script, timeout=90).stdout.strip())


def check_promoted(node, mainpid):
    assert node.psql("select pg_is_in_recovery()") == "f"
    # The watcher removed the trigger, reported, and exited 0; the server was not restarted.
    node.wait_for(["test", "!", "-e", TRIGGER_FILE], timeout=10)
    node.wait_unit(TRIGGER, "inactive", timeout=30)
    assert node.unit_property(TRIGGER, "Result") == "success"
    assert "promot" in node.journal(TRIGGER).lower()
    assert node.unit_property(STANDBY, "ActiveState") == "active"
    assert node.unit_property(STANDBY, "MainPID") == mainpid
    assert node.psql("select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") == "00000002"
