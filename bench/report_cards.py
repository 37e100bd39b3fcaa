"""Render report cards with realistic data and print how many cards per second one process renders.

Each card has 10 subjects with percentages, letters and teacher comments of 80-400 characters, a 5-band
grading scale, attendance and an overall comment; most names carry accents (José Ñúñez, Đặng Thị Hương).
The cut-down font path is the one measured, as for nearly every real card. The target for
the term-end batch job is at least 20 cards/s on the 2-core machine. Prints a table, then one line holding a
JSON object of the figures.

Usage: uv run python bench/report_cards.py [--cards 200] [--subjects 10] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.academics.report_card import (
    AttendanceSummary,
    GradingBand,
    ReportCardData,
    StudentLine,
    SubjectLine,
    render_report_card,
)

SUBJECTS = ("Mathematics", "English Language", "Biology", "Chemistry", "Physics", "History", "Geography",
            "Spanish", "Art & Design", "Physical Education", "Music", "Computer Science")
FIRST = ("José", "Zoë", "Đặng Thị", "Amelia", "Noah", "Liam", "Sofía", "Björn", "Chloé", "Mateo", "Aisha",
         "Ethan")
LAST = ("Ñúñez", "Ødegård", "Hương", "Smith", "Okafor", "García", "Kowalski", "Nguyễn", "Müller", "Brown")
PHRASES = ("Shows steady progress and participates actively in class discussions.",
           "Homework is complete and carefully presented.",
           "Needs to revise the unit on fractions before the next assessment.",
           "An excellent practical report on enzyme activity; data analysis was thorough.",
           "Should read the feedback on each essay and act on it.",
           "Works well with others and helps classmates during group tasks.",
           "Test results are below the level shown in class work; more revision is advised.")
SCALE = (GradingBand("90.00", "A", "4.0"), GradingBand("80.00", "B", "3.0"), GradingBand("70.00", "C", "2.0"),
         GradingBand("60.00", "D", "1.0"), GradingBand("0.00", "F", "0.0"))


def letter(percentage: float) -> str:
    """Return the letter of the bench's scale for a percentage."""
    return next(band.letter for band in SCALE if percentage >= float(band.min_percentage))


def make_card(i: int, *, subjects: int, rng: random.Random) -> ReportCardData:
    """Build the i-th student's card with `subjects` graded classes (one in 20 not graded yet)."""
    lines = []
    for j in range(subjects):
        name = SUBJECTS[j % len(SUBJECTS)]
        graded = rng.random() > 0.05
        pct = round(rng.uniform(52, 99.9), 2)
        comment = " ".join(rng.sample(PHRASES, rng.randint(1, 5))) if rng.random() > 0.1 else None
        section = f"{7 + i % 6}{'ABCD'[i % 4]}"
        lines.append(SubjectLine(class_code=f"{section}-{name[:4].upper()}", subject_name=name,
                                 teacher_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                                 percentage=f"{pct:.2f}" if graded else None,
                                 letter=letter(pct) if graded else None, comment=comment))
    present = rng.randint(50, 62)
    absent = 62 - present
    return ReportCardData(
        school_name="Mount Carmel School", academic_year="2026-27", term="Term 1",
        issued_on=date(2026, 12, 18),
        student=StudentLine(code=f"S2026-{i + 1:04d}", full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                            year_level=f"Year {7 + i % 6}", section=f"{7 + i % 6}{'ABCD'[i % 4]}",
                            homeroom_teacher=f"{rng.choice(FIRST)} {rng.choice(LAST)}"),
        subjects=tuple(lines),
        attendance=AttendanceSummary(days_present=present, days_absent=absent, days_late=rng.randint(0, 5),
                                     days_excused=rng.randint(0, absent),
                                     attendance_rate=f"{present / 62 * 100:.2f}"),
        grading_scale=SCALE, gpa=f"{rng.uniform(1.5, 4.0):.2f}",
        overall_comment=" ".join(rng.sample(PHRASES, 3)),
    )


def main(argv: list[str] | None = None) -> int:
    """Render the cards one by one, time each, and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--out-dir", type=Path, default=None, help="also write each PDF here")
    args = parser.parse_args(argv)
    rng = random.Random(2026)
    cards = [make_card(i, subjects=args.subjects, rng=rng) for i in range(args.cards)]

    started = time.perf_counter()
    render_report_card(cards[0])  # the first card pays for loading the fonts; reported apart
    first_s = time.perf_counter() - started

    seconds: list[float] = []
    sizes: list[int] = []
    t0 = time.perf_counter()
    for i, card in enumerate(cards):
        t = time.perf_counter()
        pdf = render_report_card(card)
        seconds.append(time.perf_counter() - t)
        sizes.append(len(pdf))
        if args.out_dir:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            (args.out_dir / f"{card.student.code}.pdf").write_bytes(pdf)
    total_s = time.perf_counter() - t0

    per_s = len(cards) / total_s
    ms = sorted(s * 1000 for s in seconds)
    figures = {
        "report_cards": len(cards),
        "subjects_per_card": args.subjects,
        "report_cards_per_s": round(per_s, 1),
        "seconds": round(total_s, 3),
        "first_card_ms": round(first_s * 1000, 1),
        "ms_median": round(statistics.median(ms), 2),
        "ms_p95": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "kb_mean": round(statistics.fmean(sizes) / 1024, 1),
        "target_per_s": 20,
    }
    print(f"{'cards':>8} {'seconds':>8} {'cards/s':>8} {'first ms':>9} {'median ms':>10} {'p95 ms':>8} "
          f"{'kB':>6}")
    print(f"{len(cards):>8} {total_s:>8.2f} {per_s:>8.1f} {first_s * 1000:>9.1f} "
          f"{figures['ms_median']:>10.2f} {figures['ms_p95']:>8.2f} {figures['kb_mean']:>6.1f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
