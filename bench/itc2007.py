"""Solve ITC2007 Track 3 instances with the CP-SAT timetable solver and print the figures.

For each instance and seed: hard violations, soft cost (UD2) with its breakdown as the scorer computes it,
seconds, and the best-known cost and the competition winner's 60 s result where known (Bonutti, De Cesco,
Di Gaspero, Schaerf, "Benchmarking curriculum-based course timetabling", Annals of OR 2012; the
ITC2007 Track 3 results). With `--seeds N` each instance runs with seeds S, S+1, ..., S+N-1 (S is `--seed`,
0 by default) and the median, best and worst soft cost over those runs are reported (issue 24: the winner's
figures are to be reached as the median of 3 seeds). Writes <out-dir>/<stem>.sol (the first seed's run;
<stem>.seed<S>.sol for every other seed) in the validator's format, then prints one line holding a JSON
object of the figures.

JSON keys per instance stem: <stem>_status, _hard, _soft_cost, the soft breakdown, _seconds and
_lower_bound describe the first seed's run (the single-seed keys of earlier versions); <stem>_median,
_best, _worst are soft costs over the runs (the median of an even count is the mean of the middle two),
<stem>_hard_max is the largest hard-violation count of any run, and <stem>_runs lists every run as
{"seed", "status", "hard", "soft_cost", "seconds"}. A run without a solution has soft cost null and
makes the median, best and worst null.

Usage: uv run python bench/itc2007.py [--time-limit 60] [--out-dir DIR] [--seed 0] [--seeds 1] [--workers 2]
FILE.ctt ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.timetable.itc2007 import parse_ctt, write_sol

BEST_KNOWN = {"comp01": 5, "comp05": 284, "comp07": 6}
WINNER_60S = {"comp01": 5, "comp05": 315, "comp07": 20}


def summary(costs: list[int | None]) -> dict[str, float | int | None]:
    """Return {"median", "best", "worst"} of soft costs; all None when any run found no solution."""
    if not costs or any(c is None for c in costs):
        return {"median": None, "best": None, "worst": None}
    values = [c for c in costs if c is not None]
    median = statistics.median(values)
    return {"median": int(median) if float(median).is_integer() else median,
            "best": min(values), "worst": max(values)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the given .ctt files and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="runs per instance, seeds --seed, --seed + 1, ...")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    # Imported here, as the server's CLI and job workers import it: the solver's side annealing chain is a spawned
    # child, which imports this module again, and OR-Tools at its top cost the child about 2 s of CPU.
    from domain.timetable.solver import solve
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    seeds = list(range(args.seed, args.seed + args.seeds))
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="itc2007-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"solutions in {out_dir}; time limit {args.time_limit:g} s, seeds {seeds}, workers {args.workers}")
    print(f"{'instance':<10} {'seed':>4} {'status':<10} {'hard':>4} {'soft':>5}  {'cap mwd cc stab':<17} "
          f"{'seconds':>7} {'bound':>5} {'best':>5} {'winner60':>8}")
    figures: dict[str, object] = {"time_limit_s": args.time_limit, "seed": args.seed, "seeds": seeds}
    for path in args.files:
        stem = path.stem
        problem = parse_ctt(path.read_text())
        runs: list[dict[str, object]] = []
        for seed in seeds:
            result = solve(problem, time_limit_s=args.time_limit, seed=seed, workers=args.workers)
            if result.solution is not None:
                name = f"{stem}.sol" if seed == seeds[0] else f"{stem}.seed{seed}.sol"
                (out_dir / name).write_text(write_sol(problem, result.solution))
            s = result.score
            hard = s.hard_violations if s else None
            soft = s.soft_cost if s else None
            breakdown = (f"{s.soft.room_capacity} {s.soft.min_working_days} {s.soft.curriculum_compactness} "
                         f"{s.soft.room_stability}" if s else "-")
            print(f"{stem:<10} {seed:>4} {result.status:<10} {hard if hard is not None else '-':>4} "
                  f"{soft if soft is not None else '-':>5}  {breakdown:<17} {result.seconds:>7.1f} "
                  f"{result.lower_bound if result.lower_bound is not None else '-':>5} "
                  f"{BEST_KNOWN.get(stem, '-'):>5} {WINNER_60S.get(stem, '-'):>8}", flush=True)
            if result.explanation:
                print(f"  {result.explanation}")
            runs.append({"seed": seed, "status": result.status, "hard": hard, "soft_cost": soft,
                         "seconds": result.seconds})
            if seed != seeds[0]:
                continue
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
        stats = summary([r["soft_cost"] for r in runs])  # type: ignore[misc]
        hards = [r["hard"] for r in runs]
        for key, value in stats.items():
            figures[f"{stem}_{key}"] = value
        figures[f"{stem}_hard_max"] = None if any(h is None for h in hards) else max(hards)  # type: ignore[type-var]
        figures[f"{stem}_runs"] = runs
        if len(seeds) > 1:
            print(f"{stem:<10} median {stats['median']}, best {stats['best']}, worst {stats['worst']} "
                  f"over seeds {seeds}", flush=True)
        if stem in BEST_KNOWN:
            figures[f"{stem}_best_known"] = BEST_KNOWN[stem]
            figures[f"{stem}_winner_60s"] = WINNER_60S[stem]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
