# SPDX-License-Identifier: MIT
"""The sanitizer check itself (conftest.sanitizer_check): a report a
binary leaves fails its test. Proved with a real ASan+UBSan program run the
way the test library runs pgrepl's binaries (as postgres, with
command_env()), inside a pytest run of its own that uses this directory's
conftest."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pgrepl_testlib import make_dir

HERE = Path(__file__).resolve().parent

PROGRAM = r"""
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "leak") == 0) {
                char *p = malloc(64);
                p[0] = 1;
                p = NULL;          /* lost: LeakSanitizer reports it at exit */
                return 0;
        }
        if (argc > 1 && strcmp(argv[1], "overflow") == 0) {
                int big = argc + 2147483646;   /* signed overflow: UBSan */
                return big == 0;
        }
        return 0;
}
"""

INNER = """
import subprocess
import tempfile
from pgrepl_testlib import Node, PGUSER, make_dir, note_output

def run(tmp_path, what):
    # as Node.start() (output into the node log) and Node.run_once() (output captured) run a binary
    node = Node(make_dir(tempfile.mkdtemp(dir=PROOF), 0o755), "n", None, {})
    env = node.command_env(notify=False)
    assert "log_path=" in env["ASAN_OPTIONS"] and "log_path=" in env["UBSAN_OPTIONS"]
    with open(node.log, "ab") as log:
        subprocess.run([PROG, what], env=env, user=PGUSER.pw_uid, group=PGUSER.pw_gid,
                       extra_groups=[], cwd="/", stdout=log, stderr=subprocess.STDOUT)
    r = subprocess.run([PROG, what], env=env, user=PGUSER.pw_uid, group=PGUSER.pw_gid,
                       extra_groups=[], cwd="/", capture_output=True, text=True)
    note_output(PROG, r.stdout + r.stderr)
    node.notify.close()

def test_clean(tmp_path):
    run(tmp_path, "clean")

def test_leak(tmp_path):
    run(tmp_path, "leak")

def test_overflow(tmp_path):
    run(tmp_path, "overflow")
"""


def test_a_sanitizer_report_fails_the_test():
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the instrumented program")
    tmp_path = make_dir(tempfile.mkdtemp(prefix="pgrepl-san-proof-"), 0o755)
    prog = tmp_path / "sanitized"
    src = tmp_path / "sanitized.c"
    src.write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-fsanitize=address,undefined", "-o", str(prog), str(src)], check=True)
    inner = tmp_path / "inner"
    inner.mkdir(mode=0o755)
    shutil.copy(HERE / "conftest.py", inner / "conftest.py")
    (inner / "test_inner.py").write_text(f"PROG = {str(prog)!r}\nPROOF = {str(tmp_path)!r}\n" + INNER)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(k, None)  # the inner run's binaries get theirs from the test library only
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", str(inner)],
                       env=env, capture_output=True, text=True, timeout=300, cwd=str(inner))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    # pytest counts the three calls as passed and the two teardowns as errors
    assert "3 passed, 2 error" in out, out
    assert "test_clean" not in "".join(line for line in out.splitlines() if line.startswith("ERROR")), out
    assert "ERROR test_inner.py::test_leak" in out and "detected memory leaks" in out, out
    assert "ERROR test_inner.py::test_overflow" in out and "signed integer overflow" in out, out
    assert "/log.txt:\n" in out, out  # the report a started binary printed into its node's log
    shutil.rmtree(tmp_path, ignore_errors=True)
