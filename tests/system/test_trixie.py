# SPDX-License-Identifier: MIT
"""Issue 18: the seed's cluster on Debian 13 (trixie) with PostgreSQL 17 and systemd 257.

Three trixie hosts (tx1-tx3), booted from the root tests/system/make-root
caches under /var/tmp, with the .deb built inside that root
(packaging/build-in-root), and one host of the machine's Debian 12 with
PostgreSQL 15 (bk1). Each test starts from clean hosts, as in
test_seed_scenarios.py.

- the seed on 17: primary, a sync and an async standby, promotion by touch
  (on 16 and later PostgreSQL has no promote_trigger_file: the watcher is the
  only way the touch promotes, and nothing pgrepl renders names it), the
  watcher's reported time within what the test measured around it, re-point
  by reload;
- partners on 17: a touch promotes, the sibling follows with no edit, the old
  primary is refused at its next start;
- a Debian 12 standby (15) of a trixie primary (17) is refused, exit 78,
  STATUS= and the log saying both majors, before anything is copied.
"""

import re

import pytest

from cluster import *  # noqa: F401,F403 - the shared cluster vocabulary

TRIXIE = ("tx1", "tx2", "tx3")
PARTNERS = ",".join(TRIXIE)
REPL = {"POSTGRESQL_REPLICATION_USER": "my_repl_user", "POSTGRESQL_REPLICATION_PASSWORD": "my_repl_password"}


@pytest.fixture(scope="module")
def cluster_hosts(make_hosts, install):
    trixie, bookworm = parallel(lambda: make_hosts(*TRIXIE, persist=True, release="trixie"),
                                lambda: make_hosts("bk1", persist=True))
    hosts = trixie + bookworm
    parallel(*(lambda h=h: install(h) for h in hosts))
    return hosts


@pytest.fixture
def hosts(cluster_hosts):
    parallel(*(lambda h=h: reset(h) for h in cluster_hosts))
    return cluster_hosts


def test_hosts_run_what_they_say(cluster_hosts):
    for h in cluster_hosts:
        release = h.run(". /etc/os-release; echo $VERSION_CODENAME").stdout.strip()
        assert release == h.release, (h.name, release)
        assert h.run(["ls", "/usr/lib/postgresql"]).stdout.split() == [str(h.pg_major)], h.name
    assert {h.pg_major for h in cluster_hosts} == {15, 17}


def touch_and_time_first_write(standby, write):
    """ms from just before `touch` of the trigger until the node took the write and the watcher's
    promotion record is there (the time around the whole promotion, as the test sees it)."""
    script = f"""
        t0=$(date +%s%N); touch {TRIGGER_FILE}
        for i in $(seq 1 1500); do
            if runuser -u postgres -- psql -XAtq -d my_database -c "{write}" 2>/dev/null; then
                for j in $(seq 1 3000); do
                    if [ -e /var/lib/pgrepl/main/promotion ]; then
                        echo $(( ($(date +%s%N) - t0) / 1000000 )); exit 0
                    fi
                    sleep 0.01
                done
                exit 1
            fi
            sleep 0.01
        done
        exit 1"""
    return int(standby.run(script, timeout=90).stdout.strip())


def no_promote_trigger_file(host):
    """Nothing pgrepl renders names the setting 16 removed (a leftover stops 17 from starting)."""
    r = host.run(["grep", "-rl", "promote_trigger_file", DATA_DIR, "--include=*.conf"], check=False)
    assert r.returncode == 1 and not r.stdout, f"{host.name}: {r.stdout}"


def test_seed_cluster_sync_promotion_by_touch_and_repointing_on_17(hosts):
    primary, new, other = hosts[:3]
    sync = {**MASTER, "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE": "on", "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS": "1",
            "POSTGRESQL_CLUSTER_APP_NAME": "pgslave1"}
    start_primary(primary, sync)
    assert primary.psql("select current_setting('server_version_num')::int / 10000") == "17"
    parallel(lambda: start_standby(new, primary, CLUSTER_APP_NAME="pgslave1"),
             lambda: start_standby(other, primary, CLUSTER_APP_NAME="pgslave2"))
    rows = wait_replication(primary, [(new.ip, "pgslave1", "streaming", "sync"),
                                      (other.ip, "pgslave2", "streaming", "async")])
    print("\nPostgreSQL 17, the seed's sync/async table:\n" + "\n".join("|".join(r) for r in rows))
    primary.psql("create table promo(id serial primary key, note text);"
                 "insert into promo(note) values ('before')", **APP)
    assert new.psql("select count(*) from promo", **APP) == "1"     # committed through the sync standby
    for h in (primary, new, other):
        no_promote_trigger_file(h)
    assert new.psql("select count(*) from pg_settings where name = 'promote_trigger_file'") == "0"

    # The primary goes away; the touch promotes (PostgreSQL 17 itself would not notice the file).
    primary.systemctl("stop", PRIMARY, timeout=120)
    mainpid = new.unit_property(STANDBY, "MainPID")
    around_ms = touch_and_time_first_write(new, "insert into promo(note) values ('first write')")
    check_promoted(new, mainpid)
    m = re.search(r"Promoted: .*, (\d+) ms after trigger '.*' was touched", new.journal(TRIGGER))
    assert m, new.journal(TRIGGER)
    print(f"{new.name}: the watcher reports {m.group(1)} ms; the test saw the write and the record by "
          f"{around_ms} ms")
    assert int(m.group(1)) <= around_ms, (m.group(1), around_ms)
    assert "timeline=2" in new.read_file("/var/lib/pgrepl/main/promotion")     # the record is written

    # Re-point the other standby by reload: it follows timeline 2, the same process.
    other_pid = other.unit_property(STANDBY, "MainPID")
    write_env(other, standby_env(new, CLUSTER_APP_NAME="pgslave2"))
    other.systemctl("reload", STANDBY)

    def follows():
        r = receiver(other)
        assert r is not None and r[0] == "streaming" and r[1] in (new.name, new.ip) and r[3] == "2", r
    eventually(follows, timeout=60)
    new.psql("insert into promo(note) values ('after re-pointing')", **APP)
    wait_caught_up(new, [other])
    assert other.psql("select string_agg(note, ',' order by id) from promo", **APP) == \
        "before,first write,after re-pointing"
    assert other.unit_property(STANDBY, "MainPID") == other_pid


def partner_env(mode):
    env = dict(MASTER) if mode == "master" else {"POSTGRESQL_REPLICATION_MODE": "slave", **REPL}
    env["POSTGRESQL_PARTNER_NODES"] = PARTNERS
    env["POSTGRESQL_FENCE_TIMEOUT"] = "30"
    return env


def test_partners_on_17_sibling_follows_and_old_primary_is_refused_then_rewound(hosts):
    tx1, tx2, tx3 = hosts[:3]
    write_env(tx1, partner_env("master"))
    tx1.systemctl("enable", "--now", PRIMARY, timeout=180)
    for s in (tx2, tx3):
        write_env(s, partner_env("slave"))
    parallel(*(lambda s=s: s.systemctl("enable", "--now", STANDBY, timeout=180) for s in (tx2, tx3)))
    tx1.psql("create table ha(id int primary key, note text); insert into ha values (1, 'before')", db=DB)
    wait_caught_up(tx1, [tx2, tx3])
    env_before = tx3.read_file(ENV_FILE)

    # The primary's postmaster dies; a touch promotes tx2; tx3 follows it with no edit.
    tx1.run(["kill", "-9", tx1.unit_property(PRIMARY, "MainPID")])
    promote_by_touch(tx2, "insert into ha values (2, 'after')")

    def follows():
        r = receiver(tx3)
        assert r and r[0] == "streaming" and r[1] in (tx2.name, tx2.ip) and r[3] == "2", r
    eventually(follows, 60)
    eventually(lambda: ensure(tx3.psql("select count(*) from ha", db=DB) == "2", "row 2 not on tx3"), 30)
    assert tx3.read_file(ENV_FILE) == env_before

    # Restart=on-failure brings the old primary back: it refuses to run as a primary.
    def refused():
        assert tx1.unit_property(PRIMARY, "ActiveState") == "failed"
        assert tx1.unit_property(PRIMARY, "ExecMainStatus") == "79"
    eventually(refused, 60)
    log = tx1.journal(PRIMARY)
    assert f"'{tx2.name}:5432'" in log and "timeline 2" in log, log
    assert psql_run(tx1, "select 1").returncode != 0

    # pgreplctl rejoin: PostgreSQL 17's pg_rewind brings it back as a standby of tx2, no clone.
    r = tx1.run(["pgreplctl", "rejoin", "main"], check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    tx1.wait_unit(STANDBY, "active", timeout=120)
    log = tx1.journal(STANDBY)
    assert "Rewound" in log and CLONE_MESSAGE not in log, log

    def rejoined():
        r = receiver(tx1)
        assert r and r[0] == "streaming" and r[1] in (tx2.name, tx2.ip) and r[3] == "2", r
    eventually(rejoined, 60)
    assert tx1.psql("select string_agg(note, ',' order by id) from ha", db=DB) == "before,after"


def test_standby_of_another_major_is_refused_before_any_copy(hosts):
    primary, bk1 = hosts[0], hosts[3]
    assert (primary.pg_major, bk1.pg_major) == (17, 15)
    start_primary(primary)
    write_env(bk1, standby_env(primary))
    r = bk1.systemctl("start", STANDBY, check=False, timeout=180)
    assert r.returncode != 0
    assert bk1.unit_property(STANDBY, "ExecMainStatus") == "78"
    assert bk1.unit_property(STANDBY, "NRestarts") == "0"
    status = bk1.unit_property(STANDBY, "StatusText")
    assert "PostgreSQL 17" in status and "PostgreSQL 15" in status, status
    log = bk1.journal(STANDBY)
    assert re.search(r"runs PostgreSQL 17, but this standby's binaries are PostgreSQL 15", log), log
    assert CLONE_MESSAGE not in log, log
    # Nothing was copied: no file in the state directory but the unit's own (the passfile pg_basebackup
    # would have read, the clone's lock, the slot name it recorded), no data directory contents, no side
    # copy, no slot on the primary.
    left = bk1.run("find /var/lib/pgrepl/main -mindepth 1 -not -type d -not -name passfile "
                   "-not -name clone.lock -not -name slot 2>/dev/null", check=False).stdout
    assert not left.strip(), left
    assert primary.psql("select count(*) from pg_replication_slots") == "0"
