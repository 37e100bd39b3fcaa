"""Read and write the ITC2007 Track 3 files: instances (.ctt) and solutions (.sol).

Formats as published for the competition and described in Bonutti, De Cesco, Di Gaspero, Schaerf,
"Benchmarking curriculum-based course timetabling", Annals of OR 2012; see also
tests/data/itc2007/FORMAT.md. Parsing splits on whitespace, so trailing blanks and CRLF are accepted. A file
over domain.timetable.problem.SIZE_LIMITS is refused naming the limits, from its header before the rest is read.
"""

from __future__ import annotations

from domain.timetable.problem import (
    SIZE_LIMITS,
    Assignment,
    Course,
    Curriculum,
    Problem,
    Room,
    Solution,
    Unavailability,
    Weights,
    size_problems,
)

MAX_CTT_CHARS = 5_000_000
"""The longest .ctt text read: a problem at SIZE_LIMITS is about 2 MB (100,000 constraint lines of about 15
characters, 2,000 courses and curricula); the competition's are 20 KB."""

_HEADER_KEYS = ("Name", "Courses", "Rooms", "Days", "Periods_per_day", "Curricula", "Constraints")


class _Lines:
    """Non-blank lines with their 1-based line numbers, consumed in order."""

    def __init__(self, text: str) -> None:
        self._items = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        self._pos = 0

    def next(self, expecting: str) -> tuple[int, list[str]]:
        if self._pos >= len(self._items):
            raise ValueError(f"unexpected end of file: expected {expecting}")
        item = self._items[self._pos]
        self._pos += 1
        return item

    def rest(self) -> list[tuple[int, list[str]]]:
        return self._items[self._pos :]


def _int(token: str, *, line: int, what: str, minimum: int = 0) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ValueError(f"line {line}: {what} must be an integer, got {token!r}") from None
    if value < minimum:
        raise ValueError(f"line {line}: {what} must be at least {minimum}, got {value}")
    return value


def parse_ctt(text: str) -> Problem:
    """Parse an ITC2007 Track 3 .ctt instance into a Problem with UD2 weights; ValueError names the bad line, or
    the limit exceeded (MAX_CTT_CHARS, SIZE_LIMITS)."""
    if len(text) > MAX_CTT_CHARS:
        raise ValueError(f"the file has {len(text):,} characters (at most {MAX_CTT_CHARS:,})")
    lines = _Lines(text)
    header: dict[str, str] = {}
    for key in _HEADER_KEYS:
        n, tokens = lines.next(f"header '{key}:'")
        if not tokens or tokens[0] != f"{key}:" or len(tokens) != 2:
            raise ValueError(f"line {n}: expected '{key}: <value>', got {' '.join(tokens)!r}")
        header[key] = tokens[1]
        if key != "Name":
            _int(tokens[1], line=n, what=key, minimum=1 if key in ("Days", "Periods_per_day") else 0)
    n_courses, n_rooms = int(header["Courses"]), int(header["Rooms"])
    days, ppd = int(header["Days"]), int(header["Periods_per_day"])
    n_curricula, n_constraints = int(header["Curricula"]), int(header["Constraints"])
    too_large = size_problems(days=days, periods_per_day=ppd, courses=n_courses, rooms=n_rooms,
                              curricula=n_curricula, constraints=n_constraints)
    if too_large:  # before reading further: the file declares a problem no solve could take
        raise ValueError(f"the header declares a problem too large: {', '.join(too_large)}")

    def section(keyword: str, count: int, arity: str) -> list[tuple[int, list[str]]]:
        n, tokens = lines.next(f"'{keyword}'")
        if tokens != [keyword]:
            raise ValueError(f"line {n}: expected section '{keyword}', got {' '.join(tokens)!r}")
        rows = []
        for i in range(count):
            n, tokens = lines.next(f"{count} lines in {keyword} ({arity}), got {i}")
            rows.append((n, tokens))
        return rows

    courses: list[Course] = []
    for n, t in section("COURSES:", n_courses, "CourseID TeacherID NumLectures MinWorkingDays NumStudents"):
        if len(t) != 5:
            raise ValueError(f"line {n}: a course line needs 5 fields "
                             f"(CourseID TeacherID NumLectures MinWorkingDays NumStudents), got {len(t)}")
        courses.append(Course(
            id=t[0], teacher=t[1],
            lectures=_int(t[2], line=n, what="NumLectures"),
            min_working_days=_int(t[3], line=n, what="MinWorkingDays"),
            students=_int(t[4], line=n, what="NumStudents"),
        ))
    lectures = sum(c.lectures for c in courses)
    if lectures > SIZE_LIMITS["Lectures"]:
        raise ValueError(f"COURSES: {lectures:,} lectures in all (at most {SIZE_LIMITS['Lectures']:,})")
    course_ids = {c.id for c in courses}
    if len(course_ids) != len(courses):
        raise ValueError("COURSES: duplicate course id")

    rooms: list[Room] = []
    for n, t in section("ROOMS:", n_rooms, "RoomID Capacity"):
        if len(t) != 2:
            raise ValueError(f"line {n}: a room line needs 2 fields (RoomID Capacity), got {len(t)}")
        rooms.append(Room(id=t[0], capacity=_int(t[1], line=n, what="Capacity")))

    curricula: list[Curriculum] = []
    for n, t in section("CURRICULA:", n_curricula, "CurriculumID k Course_1 ... Course_k"):
        if len(t) < 2:
            raise ValueError(f"line {n}: a curriculum line needs 'CurriculumID k Course_1 ... Course_k'")
        k = _int(t[1], line=n, what="the number of courses k")
        if len(t) != 2 + k:
            raise ValueError(f"line {n}: curriculum {t[0]} announces {k} courses but lists {len(t) - 2}")
        for cid in t[2:]:
            if cid not in course_ids:
                raise ValueError(f"line {n}: curriculum {t[0]} names unknown course {cid!r}")
        curricula.append(Curriculum(id=t[0], course_ids=tuple(t[2:])))

    unavailability: list[Unavailability] = []
    for n, t in section("UNAVAILABILITY_CONSTRAINTS:", n_constraints, "CourseID Day Period"):
        if len(t) != 3:
            raise ValueError(f"line {n}: an unavailability line needs 3 fields (CourseID Day Period), got {len(t)}")
        if t[0] not in course_ids:
            raise ValueError(f"line {n}: unavailability names unknown course {t[0]!r}")
        day = _int(t[1], line=n, what="Day")
        period = _int(t[2], line=n, what="Period")
        if day >= days or period >= ppd:
            raise ValueError(f"line {n}: day {day} period {period} is outside {days} days x {ppd} periods")
        unavailability.append(Unavailability(course_id=t[0], day=day, period=period))

    rest = lines.rest()
    if not rest or rest[0][1] != ["END."]:
        where = f"line {rest[0][0]}" if rest else "end of file"
        raise ValueError(f"{where}: expected 'END.' after {n_constraints} unavailability lines")
    problem = Problem(
        name=header["Name"], days=days, periods_per_day=ppd,
        courses=tuple(courses), rooms=tuple(rooms), curricula=tuple(curricula),
        unavailability=tuple(unavailability), weights=Weights(),
    )
    too_large = problem.size_problems()
    if too_large:
        raise ValueError(f"the problem is too large: {', '.join(too_large)}")
    return problem


def write_sol(problem: Problem, solution: Solution) -> str:
    """Render a solution in the ITC2007 validator's format: one `course room day period` line per lecture."""
    del problem  # room ids are the instance's own; kept in the signature for symmetry with parse_sol
    return "".join(f"{a.course_id} {a.room_id} {a.day} {a.period}\n" for a in solution.assignments)


def parse_sol(problem: Problem, text: str) -> Solution:
    """Parse a .sol text (`course room day period` per line) against `problem`; ValueError names the bad line."""
    assignments: list[Assignment] = []
    for n, line in enumerate(text.splitlines(), start=1):
        t = line.split()
        if not t:
            continue
        if len(t) != 4:
            raise ValueError(f"line {n}: expected 'CourseID RoomID Day Period', got {line.strip()!r}")
        if t[0] not in problem.course_by_id:
            raise ValueError(f"line {n}: unknown course {t[0]!r}")
        if t[1] not in problem.room_by_id:
            raise ValueError(f"line {n}: unknown room {t[1]!r}")
        day = _int(t[2], line=n, what="Day")
        period = _int(t[3], line=n, what="Period")
        if day >= problem.days or period >= problem.periods_per_day:
            raise ValueError(f"line {n}: day {day} period {period} is outside "
                             f"{problem.days} days x {problem.periods_per_day} periods")
        assignments.append(Assignment(course_id=t[0], room_id=t[1], day=day, period=period))
    return Solution(assignments=tuple(assignments))
