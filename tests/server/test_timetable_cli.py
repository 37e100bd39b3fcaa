"""`mcs-erp timetable import-ctt` and `mcs-erp timetable solve` as a user runs them, on ITC2007 comp01."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.timetable.itc2007 import parse_ctt, parse_sol
from domain.timetable.scoring import score
from tests.conftest import itc2007_dir
from tests.server.e2e_helpers import e2e_database, run_cli

pytestmark = pytest.mark.e2e

def instance(name: str) -> Path:
    return itc2007_dir() / name


async def test_import_then_solve_writes_a_feasible_validator_file(tmp_path):
    ctt = instance("comp01.ctt")
    problem = parse_ctt(ctt.read_text())
    async with e2e_database(tmp_path) as db:
        imported = await run_cli(db, "timetable", "import-ctt", str(ctt))
        match = re.search(r"problem #(\d+) Fis0506-1: 30 courses, 160 lectures, 6 rooms, 14 curricula, "
                          r"53 unavailable periods, 5 days x 6 periods", imported.stdout)
        assert match, imported.stdout
        out = tmp_path / "comp01.sol"
        solved = await run_cli(db, "timetable", "solve", "--time-limit", "5", "--out", str(out),
                               "--problem", match.group(1))
        found = re.search(r"solution #\d+ of problem #(\d+) \((feasible|optimal), [\d.]+s\): hard=(\d+) soft=(\d+)",
                          solved.stdout)
        assert found, solved.stdout
        assert found.group(1) == match.group(1) and found.group(3) == "0"

        text = out.read_text()
        assert len(text.strip().splitlines()) == problem.total_lectures == 160
        sc = score(problem, parse_sol(problem, text))
        assert sc.hard_violations == 0 and sc.skipped == 0
        assert sc.soft_cost == int(found.group(4))

        # Without --problem the newest problem is solved; the audit chain records both writes. The same 5 s as the
        # first solve: with 2 s, CP-SAT found no first timetable on a machine at load 12 ("the solver found no
        # timetable (unknown)").
        again = await run_cli(db, "timetable", "solve", "--time-limit", "5", "--out", str(tmp_path / "b.sol"))
        assert f"of problem #{match.group(1)}" in again.stdout
        assert (await run_cli(db, "audit", "verify")).stdout.startswith("audit log intact: 3 entries")


async def test_import_rejects_a_broken_file_and_solve_needs_a_problem(tmp_path):
    bad = tmp_path / "bad.ctt"
    bad.write_text("Name: x\nCourses: many\n")
    async with e2e_database(tmp_path) as db:
        failed = await run_cli(db, "timetable", "import-ctt", str(bad), check=False)
        assert failed.returncode == 1 and "not a valid ITC2007 .ctt file: line 2" in failed.stderr, failed.stderr
        missing = await run_cli(db, "timetable", "import-ctt", str(tmp_path / "nope.ctt"), check=False)
        assert missing.returncode == 1 and "cannot read" in missing.stderr
        none = await run_cli(db, "timetable", "solve", "--time-limit", "1", "--out", str(tmp_path / "x.sol"),
                             check=False)
        assert none.returncode == 1 and "no timetable problem stored yet" in none.stderr, none.stderr
        unknown = await run_cli(db, "timetable", "solve", "--problem", "999", "--out", str(tmp_path / "x.sol"),
                                check=False)
        assert unknown.returncode == 1 and "no timetable problem with id 999" in unknown.stderr
