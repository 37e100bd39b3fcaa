"""Pure JSON round-trips of problems, solutions and scores, for storage in the timetable tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from domain.timetable.problem import (
    Assignment,
    Course,
    Curriculum,
    Problem,
    Room,
    Solution,
    TeacherDayLimit,
    Unavailability,
    Weights,
)
from domain.timetable.scoring import Score


def problem_to_json(problem: Problem) -> str:
    """Return `problem` as a JSON object text (dataclass fields, tuples as lists)."""
    return json.dumps(asdict(problem), separators=(",", ":"))


def problem_from_json(text: str) -> Problem:
    """Rebuild a Problem from `problem_to_json` output."""
    d: dict[str, Any] = json.loads(text)
    w = d.get("weights") or {}
    limit = w.get("teacher_max_periods_per_day")
    weights = Weights(room_capacity=w.get("room_capacity", 1), min_working_days=w.get("min_working_days", 5),
                      curriculum_compactness=w.get("curriculum_compactness", 2),
                      room_stability=w.get("room_stability", 1),
                      teacher_max_periods_per_day=TeacherDayLimit(**limit) if limit else None)
    return Problem(name=d["name"], days=d["days"], periods_per_day=d["periods_per_day"],
                   courses=tuple(Course(**c) for c in d["courses"]), rooms=tuple(Room(**r) for r in d["rooms"]),
                   curricula=tuple(Curriculum(id=c["id"], course_ids=tuple(c["course_ids"])) for c in d["curricula"]),
                   unavailability=tuple(Unavailability(**u) for u in d.get("unavailability", ())), weights=weights,
                   period_times=tuple(d.get("period_times", ())))


def assignments_to_json(solution: Solution) -> str:
    """Return the assignments as a JSON list of [course_id, room_id, day, period], sorted."""
    rows = sorted((a.course_id, a.room_id, a.day, a.period) for a in solution.assignments)
    return json.dumps([list(r) for r in rows], separators=(",", ":"))


def assignments_from_json(text: str) -> Solution:
    """Rebuild a Solution from `assignments_to_json` output."""
    return Solution(assignments=tuple(Assignment(course_id=c, room_id=r, day=int(d), period=int(p))
                                      for c, r, d, p in json.loads(text)))


def breakdown_of(score: Score) -> dict[str, int]:
    """Return the hard violations and weighted soft costs of `score` by constraint name."""
    return {**{f"hard_{k}": v for k, v in asdict(score.hard).items()}, **asdict(score.soft)}
