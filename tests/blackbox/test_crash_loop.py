"""Crash durability under load (issue 13 §8): changes, `kill -9` at random moments, checks.

The driver and what it checks are in crashloop.py; the long run is `scripts/crash-soak`
(docs/testing.md). Here a short loop runs on each backend, and a second test proves that the
check fails when acknowledged changes are lost: it puts the database back as it was before a
round and expects the check to say so.

`PORTCULLIS_CRASH_KILLS` (default 6) sets the short loop's kills, `PORTCULLIS_CRASH_SEED` its
seed (otherwise random; a failure names it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from conftest import _with_database
from crashloop import OP_KINDS, CrashLoop, CrashLoopFailure

KILLS = int(os.environ.get("PORTCULLIS_CRASH_KILLS", "6"))
SEED = int(os.environ["PORTCULLIS_CRASH_SEED"]) if os.environ.get("PORTCULLIS_CRASH_SEED") else None


def test_acknowledged_changes_survive_kill_9_under_load(portcullis):
    loop = CrashLoop(portcullis, seed=SEED)
    totals = loop.run(KILLS)
    print(f"\n{portcullis.backend}, seed {loop.seed}:\n{totals.summary()}")
    assert totals.kills == KILLS and totals.rounds_checked == KILLS
    # the loop did what it is for: every kind of operation acknowledged, and checked
    assert all(totals.acked[kind] for kind in OP_KINDS), totals.summary()
    for check in ("version", "role", "last secret works, scope of its role", "earlier secret refused",
                  "token active", "token revoked", "change events", "deletion kept"):
        assert totals.checks[check], f"no `{check}` check ran:\n{totals.summary()}"


def _pg(admin: str, sql: str) -> None:
    subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, timeout=60)


class Snapshot:
    """The deployment's database, copied while no server runs, and put back."""

    def __init__(self, portcullis):
        self.pc = portcullis
        if portcullis.backend == "sqlite":
            self.db = portcullis.database_url.removeprefix("sqlite:")
            self.files = [self.db + suffix for suffix in ("", "-wal", "-shm")]
        else:
            self.db = urlsplit(portcullis.database_url).path.lstrip("/")
            self.snapshot = self.db + "_snap"
            self.maintenance = _with_database(portcullis.database_url, "postgres")

    def take(self) -> None:
        if self.pc.backend == "sqlite":
            for f in self.files:
                if os.path.exists(f):
                    shutil.copyfile(f, f + ".snap")
        else:
            _pg(self.maintenance, f'CREATE DATABASE "{self.snapshot}" TEMPLATE "{self.db}"')

    def restore(self) -> None:
        if self.pc.backend == "sqlite":
            for f in self.files:
                if os.path.exists(f):
                    os.remove(f)
                if os.path.exists(f + ".snap"):
                    shutil.copyfile(f + ".snap", f)
        else:
            _pg(self.maintenance, f'DROP DATABASE "{self.db}" WITH (FORCE)')
            _pg(self.maintenance, f'CREATE DATABASE "{self.db}" TEMPLATE "{self.snapshot}"')
            _pg(self.maintenance, f'DROP DATABASE "{self.snapshot}"')


def test_the_check_finds_lost_acknowledged_changes(portcullis):
    """A database that lost a round's acknowledged changes fails the check, which names each loss."""
    loop = CrashLoop(portcullis, seed=SEED)
    loop.setup()
    loop.one_round()  # a random round, killed

    made = {}

    def make_four(lp):
        made["clients"] = [lp.clients[lp.act("create").client_id] for _ in range(4)]
        lp.act("token", made["clients"][1])

    loop.scripted_round(make_four)  # checked after the restart: passes
    snapshot = Snapshot(portcullis)
    snapshot.take()

    def change_them(lp):
        a, b, c, d = made["clients"]
        lp.act("regenerate", a)  # the old secret must fail
        lp.act("revoke", b)  # b's token must be inactive
        lp.act("role", c)
        lp.act("delete", d)
        lp.act("create")

    loop.scripted_round(change_them)  # acknowledged, then killed
    snapshot.restore()  # as far as the database knows, they never happened
    with pytest.raises(CrashLoopFailure) as failure:
        loop.restart_and_check()
    text = "\n".join(failure.value.failures)
    for symptom in (
        "acknowledged client missing",  # the creation
        "acknowledged history lost or invented",  # a, b, c: an older version
        "an earlier secret is not refused",  # a's old secret works again
        "a token answered before a revoke-tokens was sent is still active",  # b's
        ": role '",  # c's old role
        "acknowledged deletion undone",  # d
        "event(s) in round 3, expected 1",  # and their change events are gone
    ):
        assert symptom in text, f"the check did not report `{symptom}`:\n{text}"
    portcullis.stop_all()
