# SPDX-License-Identifier: MIT
"""POSTGRESQL_INITSCRIPTS_DIR against real PostgreSQL 15: *.sh, *.sql and
*.sql.gz in name order on a primary's first start, as the init scripts user,
after the roles and database exist and before READY; never again once they
succeeded; a failing script stops the first start naming itself and leaves
no half-made cluster, so a set never runs twice on one cluster nor is
skipped."""

import gzip
import os
from pathlib import Path

from pgrepl_testlib import PGUSER, make_dir

APP = {"POSTGRESQL_USERNAME": "app", "POSTGRESQL_PASSWORD": "app-pw", "POSTGRESQL_DATABASE": "appdb"}


def scripts(root, files):
    d = make_dir(Path(root) / "initdb.d", 0o755)
    for name, content in files.items():
        p = d / name
        if name.endswith(".gz"):
            p.write_bytes(gzip.compress(content.encode()))
        else:
            p.write_text(content)
        os.chown(p, PGUSER.pw_uid, PGUSER.pw_gid)
        p.chmod(0o755 if name.endswith(".sh") else 0o644)
    return d


def errors(text):
    return [l for l in text.splitlines() if l.startswith("<3>")]


def test_scripts_run_in_name_order_once_as_the_user_before_ready(cluster):
    d = scripts(cluster.root, {
        "10-table.sql": "create table seen(n serial, what text, who text default current_user, "
                        "db text default current_database());\ninsert into seen(what) values ('sql');\n",
        "20-data.sql.gz": "insert into seen(what) values ('sql.gz');\n",
        "30-shell.sh": "#!/bin/sh\nset -e\n"
                       "env | grep -q PASSWORD && what=leaked || what=sh\n"
                       "psql -X -q -v ON_ERROR_STOP=1 -c \"insert into seen(what) values ('$what:$PGUSER:$PGDATABASE')\"\n",
        "40-plain.sh": "psql -X -q -c \"insert into seen(what) values ('bash')\"\n",
        "README.txt": "not a script\n",
    })
    (d / "40-plain.sh").chmod(0o644)
    p = cluster.primary(env={**APP, "POSTGRESQL_INITSCRIPTS_DIR": str(d)})
    p.start()
    p.wait_ready()
    rows = p.psql("select what || '|' || who || '|' || db from seen order by n", db="appdb").splitlines()
    assert rows == ["sql|app|appdb", "sql.gz|app|appdb", "sh:app:appdb|app|appdb", "bash|app|appdb"], rows
    out = p.output()
    assert "ignoring" in out and "README.txt" in out
    assert any("running init script '30-shell.sh'" in s for s in p.notify.all("STATUS"))
    assert (p.state / "initscripts.done").read_text().split() == ["10-table.sql", "20-data.sql.gz",
                                                                   "30-shell.sh", "40-plain.sh"]
    assert not (p.state / "initscripts.pending").exists()

    # A restart runs none of them again.
    p.stop()
    p.start()
    p.wait_ready()
    assert p.psql("select count(*) from seen", db="appdb") == "4"


def test_no_scripts_directory_is_fine(cluster):
    p = cluster.primary(env={"POSTGRESQL_INITSCRIPTS_DIR": str(Path(cluster.root) / "absent")})
    p.start()
    p.wait_ready()
    assert not (p.state / "initscripts.pending").exists()


def test_a_failing_script_stops_the_first_start_and_leaves_nothing_half_made(cluster):
    """The first start is made beside the data directory: a failing script leaves no cluster on
    which the set ran half way; fixed, the next first start runs every script from the first."""
    d = scripts(cluster.root, {
        "01-ok.sql": "create table t(x int);\n",
        "02-bad.sql": "insert into no_such_table values (1);\n",
        "03-never.sql": "create table never(x int);\n",
    })
    p = cluster.primary(env={**APP, "POSTGRESQL_INITSCRIPTS_DIR": str(d)})
    p.start()
    assert p.proc.wait(120) == 78
    line = [l for l in errors(p.output()) if "Init script" in l]
    assert len(line) == 1 and "02-bad.sql' failed (exit status 3)" in line[0] \
        and 'relation "no_such_table" does not exist' in line[0], p.output()
    assert "READY" not in [k for m in p.notify.all() for k in m]
    assert (p.state / "initscripts.pending").read_text() == "02-bad.sql"
    assert "03-never.sql" not in p.output()
    # No cluster on which 01 ran and 03 did not: the data directory is as it was.
    assert not (p.datadir / "PG_VERSION").exists()
    assert not Path(f"{p.datadir}.pgrepl-initdb").exists()

    (d / "02-bad.sql").write_text("create table fixed(x int);\n")
    p.logf = None
    p.start()
    p.wait_ready()
    assert p.psql("select string_agg(relname, ',' order by relname) from pg_class "
                  "where relname in ('t', 'fixed', 'never')", db="appdb") == "fixed,never,t"
    assert not (p.state / "initscripts.pending").exists()


def test_scripts_removed_after_a_failure_leave_no_marker_behind(cluster):
    """After a failed first start the operator may drop the scripts: the next first start has none
    to run, and what the failed one left in the state directory does not stop it."""
    d = scripts(cluster.root, {"01-bad.sql": "insert into no_such_table values (1);\n"})
    p = cluster.primary(env={**APP, "POSTGRESQL_INITSCRIPTS_DIR": str(d)})
    p.start()
    assert p.proc.wait(120) == 78
    assert (p.state / "initscripts.pending").read_text() == "01-bad.sql"
    (d / "01-bad.sql").unlink()
    p.logf = None
    p.start()
    p.wait_ready()
    assert not (p.state / "initscripts.pending").exists()


def test_a_failed_first_start_with_a_wal_directory_can_start_again(cluster):
    """initdb --waldir fills POSTGRESQL_INITDB_WAL_DIR: a first start that fails after it empties it
    again, or initdb would refuse it at every later start."""
    d = scripts(cluster.root, {"01-bad.sql": "insert into no_such_table values (1);\n"})
    wal = Path(cluster.root) / "wal"
    p = cluster.primary(env={**APP, "POSTGRESQL_INITSCRIPTS_DIR": str(d), "POSTGRESQL_INITDB_WAL_DIR": str(wal)})
    p.start()
    assert p.proc.wait(120) == 78
    assert not wal.exists() or not any(wal.iterdir()), list(wal.iterdir())
    (d / "01-bad.sql").write_text("create table fixed(x int);\n")
    p.logf = None
    p.start()
    p.wait_ready()
    assert (p.datadir / "pg_wal").resolve() == wal.resolve()
    assert p.psql("select count(*) from pg_class where relname = 'fixed'", db="appdb") == "1"
