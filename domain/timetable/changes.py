"""Changes to a published timetable's problem, and what a new timetable moves: pure rules, no I/O.

After publication the school changes under the timetable: a teacher leaves (their classes go to other qualified
teachers), a room closes, a class or a whole section is added. `changed_problem` turns the published problem and
such a change into the new problem; domain.timetable.perturbation re-solves it moving as few published lessons as
it can (the minimal perturbation problem: T. Müller, H. Rudová, R. Barták, "Minimal perturbation problem in course
timetabling", PATAT 2004, LNCS 3616, Springer 2005; T. Müller, "Constraint-based timetabling", PhD thesis, Charles
University, Prague, 2005, ch. 5). `compare` says which published lessons a new timetable moves.

A lesson is one lecture of a course (a class: one subject, one section, one teacher). A published lesson is
**kept** when the new timetable has a lesson of the same course in the same (day, period) and room with the same
teacher; otherwise it is **moved** (or **removed**, when its course is gone). Lessons of a course are
interchangeable, so a course's kept lessons are the multiset intersection of its old and new
(day, period, room) placements, none when its teacher changed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from domain.kernel.errors import InvalidInput
from domain.timetable.problem import Course, Curriculum, Problem, Solution, Unavailability
from domain.timetable.school import SchoolClassLoad

MAX_CHANGED_TEACHERS = 20
MAX_CLOSED_ROOMS = 50
MAX_ADDED_CLASSES = 200


@dataclass(frozen=True)
class TimetableChange:
    """What changed since publication.

    `teachers_leaving`: employee codes of teachers who teach no more; `reassign`: class code -> the teacher who
    takes it (every class of a leaving teacher needs one: `choose_replacements` proposes them; any other class may
    change teacher too); `rooms_closed`: room codes no lesson may use any more; `classes_added`: new classes (a new
    section is its classes), with `added_unavailable`: (class code, day, period)s an added class may not take."""

    teachers_leaving: tuple[str, ...] = ()
    reassign: Mapping[str, str] = field(default_factory=dict)
    rooms_closed: tuple[str, ...] = ()
    classes_added: tuple[SchoolClassLoad, ...] = ()
    added_unavailable: tuple[tuple[str, int, int], ...] = ()


def describe(problem: Problem, change: TimetableChange) -> list[str]:
    """Return one line per change of `problem` for a person: 'E0042 leaves: 7B-MATH to E0017, ...',
    '7C-ART to E0020', 'room LAB2 closes', 'class 9D-MATH added (9D, E0003, 5 lessons a week)'."""
    out = []
    leavers = set(change.teachers_leaving)
    for t in change.teachers_leaving:
        mine = [f"{c} to {n}" for c, n in sorted(change.reassign.items())
                if c in problem.course_by_id and problem.course_by_id[c].teacher == t]
        out.append(f"{t} leaves" + (f": {', '.join(mine)}" if mine else ""))
    out += [f"{c} to {n}" for c, n in sorted(change.reassign.items())
            if c not in problem.course_by_id or problem.course_by_id[c].teacher not in leavers]
    out += [f"room {r} closes" for r in change.rooms_closed]
    out += [f"class {c.code} added ({c.section}, {c.teacher}, {c.weekly_lessons} lessons a week)"
            for c in change.classes_added]
    return out


def teacher_absences(problem: Problem, teacher: str) -> frozenset[tuple[int, int]]:
    """Return the (day, period)s in which every class of `teacher` is unavailable: the teacher's own absences as
    domain.timetable.school.school_problem made them (a class block touches one class only). Empty for a teacher
    with no classes."""
    courses = [c.id for c in problem.courses if c.teacher == teacher]
    if not courses:
        return frozenset()
    per = [{(d, p) for cid, d, p in problem.unavailable if cid == course} for course in courses]
    return frozenset(set.intersection(*per))


def changed_problem(problem: Problem, change: TimetableChange) -> Problem:
    """Return the problem after `change`.

    A reassigned class takes its new teacher and that teacher's absences instead of the old teacher's (class
    blocks stay); a closed room leaves the problem; an added class joins its section's curriculum (a new
    curriculum for a new section). Raises InvalidInput (field teachers_leaving, reassign, rooms_closed or
    classes_added) naming the teacher, class or room that is unknown, a leaving teacher's class with no new
    teacher, a class given to a leaving teacher, too few rooms left, or a class code already used.
    """
    teachers = {c.teacher for c in problem.courses}
    for t in change.teachers_leaving:
        if t not in teachers:
            raise InvalidInput(f"teacher {t!r} teaches no class in this timetable", field="teachers_leaving")
    leaving = set(change.teachers_leaving)
    leaver_classes = {t: tuple(c.id for c in problem.courses if c.teacher == t) for t in change.teachers_leaving}
    for t, classes in leaver_classes.items():
        missing = [c for c in classes if c not in change.reassign]
        if missing:
            raise InvalidInput(f"{t} leaves but classes {', '.join(missing)} have no new teacher; give each one "
                               "(reassign)", field="reassign")
    for course, teacher in change.reassign.items():
        if course not in problem.course_by_id:
            raise InvalidInput(f"class {course!r} is not in this timetable", field="reassign")
        if teacher in leaving:
            raise InvalidInput(f"class {course} cannot go to {teacher}, who is leaving", field="reassign")
    rooms = {r.id for r in problem.rooms}
    for r in change.rooms_closed:
        if r not in rooms:
            raise InvalidInput(f"room {r!r} is not in this timetable (rooms: {', '.join(sorted(rooms)[:20])})",
                               field="rooms_closed")
    codes = set(problem.course_by_id)
    for c in change.classes_added:
        if c.code in codes:
            raise InvalidInput(f"class {c.code} is already in this timetable", field="classes_added")
        codes.add(c.code)

    absences = {t: teacher_absences(problem, t) for t in teachers | set(change.reassign.values())}
    unavailable = set(problem.unavailable)
    courses: list[Course] = []
    for c in problem.courses:
        new = change.reassign.get(c.id)
        if new is not None and new != c.teacher:
            unavailable -= {(c.id, d, p) for d, p in absences[c.teacher]}
            unavailable |= {(c.id, d, p) for d, p in absences.get(new, ())}
            c = replace(c, teacher=new)
        courses.append(c)
    for load in change.classes_added:
        courses.append(Course(id=load.code, teacher=load.teacher, lectures=load.weekly_lessons,
                              min_working_days=min(load.weekly_lessons, problem.days), students=load.students))
        unavailable |= {(load.code, d, p) for d, p in absences.get(load.teacher, ())}
    for code, d, p in change.added_unavailable:
        if code not in {c.code for c in change.classes_added}:
            raise InvalidInput(f"{code!r} is not an added class", field="classes_added")
        unavailable.add((code, d, p))
    curricula = {q.id: list(q.course_ids) for q in problem.curricula}
    for load in change.classes_added:
        curricula.setdefault(load.section, []).append(load.code)
    open_rooms = tuple(r for r in problem.rooms if r.id not in set(change.rooms_closed))
    if not open_rooms:
        raise InvalidInput("closing every room leaves nowhere to teach", field="rooms_closed")
    new = replace(problem, courses=tuple(courses), rooms=open_rooms,
                  curricula=tuple(Curriculum(id=k, course_ids=tuple(v)) for k, v in curricula.items()),
                  unavailability=tuple(Unavailability(cid, d, p) for cid, d, p in sorted(unavailable)))
    if new.total_lectures > new.periods * len(open_rooms):
        raise InvalidInput(f"{new.total_lectures} lessons a week do not fit in the {len(open_rooms)} rooms left x "
                           f"{new.periods} periods", field="rooms_closed")
    return new


def choose_replacements(problem: Problem, published: Solution, *, teacher: str,
                        qualified: Mapping[str, frozenset[str]], given: Mapping[str, str] | None = None
                        ) -> dict[str, str]:
    """Propose a new teacher for each class of `teacher` not in `given` (class code -> employee code; `given`
    holds classes already reassigned, counted in their new teachers' weeks) among `qualified[class]` (teachers of
    the class's subject, the leaver excluded): the one free in most of the class's published periods (so its
    lessons can stay where they are), then the one with the fewest lessons a week, then by code. A teacher never
    gets more lessons than the week has periods they can teach. Raises InvalidInput (field reassign) naming a
    class no qualified teacher can take."""
    given = given or {}
    periods_of: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for a in published.assignments:
        periods_of[a.course_id].append((a.day, a.period))
    at: dict[str, set[tuple[int, int]]] = defaultdict(set)
    load: Counter[str] = Counter()
    for c in problem.courses:
        now = given.get(c.id, c.teacher)
        load[now] += c.lectures
        at[now] |= set(periods_of[c.id])
    out: dict[str, str] = {}
    mine = [c for c in problem.courses if c.teacher == teacher and c.id not in given]
    for c in sorted(mine, key=lambda c: (-c.lectures, c.id)):
        candidates = sorted(t for t in qualified.get(c.id, frozenset()) if t != teacher)
        fitting = [t for t in candidates
                   if load[t] + c.lectures <= problem.periods - len(teacher_absences(problem, t))]
        if not fitting:
            raise InvalidInput(f"no qualified teacher can take {c.id} ({c.lectures} lessons a week)"
                               + (f": {', '.join(candidates)} have no room in their week" if candidates else
                                  ": nobody else teaches its subject this year"), field="reassign")
        best = min(fitting, key=lambda t: (sum(1 for s in periods_of[c.id] if s in at[t]), load[t], t))
        out[c.id] = best
        load[best] += c.lectures
        at[best] |= set(periods_of[c.id])
    return out


@dataclass(frozen=True)
class MovedLesson:
    """A published lesson the new timetable places differently: course, section(s), teacher before and after,
    and (day, period, room) before and after."""

    course_id: str
    sections: tuple[str, ...]
    teacher_before: str
    teacher_after: str
    day_before: int
    period_before: int
    room_before: str
    day_after: int
    period_after: int
    room_after: str


@dataclass(frozen=True)
class Comparison:
    """What a new timetable changes against the published one: lessons kept, moved (listed), removed and added,
    and moved lessons per section and per teacher (a reassigned lesson counts for both teachers)."""

    lessons_published: int
    kept: int
    moved: tuple[MovedLesson, ...]
    removed: int
    added: int
    by_section: dict[str, int]
    by_teacher: dict[str, int]


def compare(before_problem: Problem, before: Solution, after_problem: Problem, after: Solution) -> Comparison:
    """Compare a published timetable with a new one (of the same or a changed problem), lesson by lesson (see the
    module docstring). Moved lessons pair each course's leftover old and new placements in (day, period) order."""
    sections: dict[str, list[str]] = defaultdict(list)
    for q in (*before_problem.curricula, *after_problem.curricula):
        for cid in q.course_ids:
            if q.id not in sections[cid]:
                sections[cid].append(q.id)
    old: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    new: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for a in before.assignments:
        old[a.course_id].append((a.day, a.period, a.room_id))
    for a in after.assignments:
        if a.course_id in after_problem.course_by_id:
            new[a.course_id].append((a.day, a.period, a.room_id))
    kept = removed = added = published = 0
    moved: list[MovedLesson] = []
    for cid in sorted(set(old) | set(new)):
        teacher_before = before_problem.course_by_id[cid].teacher if cid in before_problem.course_by_id else None
        teacher_after = after_problem.course_by_id[cid].teacher if cid in after_problem.course_by_id else None
        olds, news = sorted(old.get(cid, [])), sorted(new.get(cid, []))
        published += len(olds)
        if teacher_before is None or not olds:
            added += len(news)
            continue
        if teacher_after is None:
            removed += len(olds)
            continue
        same = Counter(olds) & Counter(news) if teacher_before == teacher_after else Counter()
        kept += sum(same.values())
        left_old = sorted((Counter(olds) - same).elements())
        left_new = sorted((Counter(news) - same).elements())
        for (d, p, r), (d2, p2, r2) in zip(left_old, left_new, strict=False):
            moved.append(MovedLesson(cid, tuple(sections.get(cid, ())), teacher_before, teacher_after, d, p, r,
                                     d2, p2, r2))
        removed += max(0, len(left_old) - len(left_new))
        added += max(0, len(left_new) - len(left_old))
    by_section: Counter[str] = Counter()
    by_teacher: Counter[str] = Counter()
    for m in moved:
        by_section.update(m.sections)
        by_teacher.update({m.teacher_before, m.teacher_after})
    return Comparison(lessons_published=published, kept=kept, moved=tuple(moved), removed=removed, added=added,
                      by_section=dict(sorted(by_section.items())), by_teacher=dict(sorted(by_teacher.items())))


def total_moved(comparison: Comparison) -> int:
    """Return the published lessons not kept: moved plus removed."""
    return len(comparison.moved) + comparison.removed


def check_sizes(change: TimetableChange) -> None:
    """Raise InvalidInput when a change lists more than the bounds allow (MAX_CHANGED_TEACHERS, MAX_CLOSED_ROOMS,
    MAX_ADDED_CLASSES)."""
    if len(change.teachers_leaving) > MAX_CHANGED_TEACHERS:
        raise InvalidInput(f"at most {MAX_CHANGED_TEACHERS} teachers leave in one change", field="teachers_leaving")
    if len(change.rooms_closed) > MAX_CLOSED_ROOMS:
        raise InvalidInput(f"at most {MAX_CLOSED_ROOMS} rooms close in one change", field="rooms_closed")
    if len(change.classes_added) > MAX_ADDED_CLASSES:
        raise InvalidInput(f"at most {MAX_ADDED_CLASSES} classes are added in one change", field="classes_added")

