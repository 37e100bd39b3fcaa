"""Solve ITC2007 Track 3 instances with the CP-SAT timetable solver and print the figures.

For each instance: hard violations, soft cost (UD2) with its breakdown as the scorer computes it, seconds,
and the best-known cost and the competition winner's 60 s result where known (Bonutti, De Cesco,
Di Gaspero, Schaerf, "Benchmarking curriculum-based course timetabling", Annals of OR 2012; the
ITC2007 Track 3 results). Writes <out-dir>/<stem>.sol in the validator's format, then prints one line
holding a JSON object of the figures.

Usage: uv run python bench/itc2007.py [--time-limit 60] [--out-dir DIR] [--seed 0] [--workers 2] FILE.ctt ...
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.timetable.itc2007 import parse_ctt, write_sol
from domain.timetable.solver import solve

BEST_KNOWN = {"comp01": 5, "comp05": 284, "comp07": 6}
WINNER_60S = {"comp01": 5, "comp05": 315, "comp07": 20}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the given .ctt files and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="itc2007-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"solutions in {out_dir}; time limit {args.time_limit:g} s, seed {args.seed}, workers {args.workers}")
    print(f"{'instance':<10} {'status':<10} {'hard':>4} {'soft':>5}  {'cap mwd cc stab':<17} {'seconds':>7} "
          f"{'bound':>5} {'best':>5} {'winner60':>8}")
    figures: dict[str, object] = {"time_limit_s": args.time_limit, "seed": args.seed}
    for path in args.files:
        stem = path.stem
        problem = parse_ctt(path.read_text())
        result = solve(problem, time_limit_s=args.time_limit, seed=args.seed, workers=args.workers)
        if result.solution is not None:
            (out_dir / f"{stem}.sol").write_text(write_sol(problem, result.solution))
        s = result.score
        hard = s.hard_violations if s else None
        soft = s.soft_cost if s else None
        breakdown = (f"{s.soft.room_capacity} {s.soft.min_working_days} {s.soft.curriculum_compactness} "
                     f"{s.soft.room_stability}" if s else "-")
        print(f"{stem:<10} {result.status:<10} {hard if hard is not None else '-':>4} "
              f"{soft if soft is not None else '-':>5}  {breakdown:<17} {result.seconds:>7.1f} "
              f"{result.lower_bound if result.lower_bound is not None else '-':>5} "
              f"{BEST_KNOWN.get(stem, '-'):>5} {WINNER_60S.get(stem, '-'):>8}", flush=True)
        if result.explanation:
            print(f"  {result.explanation}")
        figures[f"{stem}_status"] = result.status
        figures[f"{stem}_hard"] = hard
        figures[f"{stem}_soft_cost"] = soft
        if s:
            figures[f"{stem}_room_capacity"] = s.soft.room_capacity
            figures[f"{stem}_min_working_days"] = s.soft.min_working_days
            figures[f"{stem}_curriculum_compactness"] = s.soft.curriculum_compactness
            figures[f"{stem}_room_stability"] = s.soft.room_stability
        figures[f"{stem}_seconds"] = result.seconds
        figures[f"{stem}_lower_bound"] = result.lower_bound
        if stem in BEST_KNOWN:
            figures[f"{stem}_best_known"] = BEST_KNOWN[stem]
            figures[f"{stem}_winner_60s"] = WINNER_60S[stem]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
