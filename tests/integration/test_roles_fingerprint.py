# SPDX-License-Identifier: MIT
"""The roles' fingerprint (services/primary-setup/roles.c): a keyed hash in
the primary's state directory, never in the data directory the clone copies
to every standby; an old pgrepl.roles there is removed and the roles applied
once more."""

import os
import stat

from pgrepl_testlib import PGUSER

OLD_FORMAT = "0123456789abcdef01234567 md5e5b8d8a2c7c2a0c0b8f9d3e1a6c4b2f0\n"


def login(node, password, user="postgres"):
    """Whether user logs in over TCP with password."""
    r = node.psql("select 1", user=user, password=password, host="127.0.0.1", check=False)
    return r.returncode == 0


def state_files(node):
    fp, key = node.state / "roles.fingerprint", node.state / "roles.key"
    for f in (fp, key):
        st = f.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, f"{f} is {oct(st.st_mode)}"
        assert st.st_uid == PGUSER.pw_uid
    return fp.read_text(), key.read_text()


def test_fingerprint_is_keyed_in_the_state_directory_and_follows_the_password(cluster):
    p = cluster.primary(env={"POSTGRESQL_PASSWORD": "first-pw"})
    p.start()
    p.wait_ready()
    assert not (p.datadir / "pgrepl.roles").exists()
    fp, key = state_files(p)
    assert fp.startswith("hmac-sha256 ") and len(fp.split()[1]) == 64, fp
    assert "first-pw" not in fp and "first-pw" not in key
    assert login(p, "first-pw")

    # Nothing changed: the same fingerprint, the same key.
    assert p.stop() == 0
    p.start()
    p.wait_ready()
    assert state_files(p) == (fp, key)

    # A new password: the roles are applied again, the old password stops working.
    assert p.stop() == 0
    p.env["POSTGRESQL_PASSWORD"] = "second-pw"
    p.start()
    p.wait_ready()
    fp2, key2 = state_files(p)
    assert key2 == key and fp2 != fp
    assert login(p, "second-pw")
    assert not login(p, "first-pw")
    assert not (p.datadir / "pgrepl.roles").exists()


def test_old_fingerprint_in_the_data_directory_is_removed_and_roles_applied_once(cluster):
    p = cluster.primary(env={"POSTGRESQL_PASSWORD": "configured-pw"})
    p.start()
    p.wait_ready()
    # Drift the server from the configuration behind pgrepl's back: only role work brings it back.
    p.psql("alter role postgres password 'drifted-pw'")
    assert p.stop() == 0
    legacy = p.datadir / "pgrepl.roles"
    legacy.write_text(OLD_FORMAT)
    os.chown(legacy, PGUSER.pw_uid, PGUSER.pw_gid)
    legacy.chmod(0o600)
    p.start()
    p.wait_ready()
    assert not legacy.exists()
    assert login(p, "configured-pw") and not login(p, "drifted-pw")
    state_files(p)


def test_clone_carries_no_fingerprint_nor_key(cluster):
    p = cluster.primary()
    p.start()
    p.wait_ready()
    fp, key = state_files(p)
    # As a primary of an older pgrepl would have it: the standby must not keep it.
    legacy = p.datadir / "pgrepl.roles"
    legacy.write_text(OLD_FORMAT)
    os.chown(legacy, PGUSER.pw_uid, PGUSER.pw_gid)
    s = cluster.standby(primary=p)
    s.start()
    s.wait_ready(timeout=120)
    names = {f.name for f in s.datadir.rglob("*")}
    assert not names & {"pgrepl.roles", "roles.fingerprint", "roles.key"}, names
    secrets = [fp.split()[1].encode(), key.strip().encode(), OLD_FORMAT.split()[1].encode(), b"repl-pw",
               b"secret-pw"]
    for f in s.datadir.rglob("*"):
        if f.is_file() and not f.is_symlink() and "pg_wal" not in f.parts and f.stat().st_size < 1 << 20:
            data = f.read_bytes()
            assert not any(x in data for x in secrets), f
