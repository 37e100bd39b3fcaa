"""Bulk import of a class's scores from CSV: every row is checked first, and nothing is written if any is wrong.

The file has a header line and one score per line:

    student_code,assessment,score,comment
    S2026-0001,Unit test 1,42.5,
    S2026-0002,17,38,"late, accepted"

`assessment` is the assessment's id or its title (case-insensitive) within the class; `score` is points
(0..the assessment's maximum, at most two decimals); `comment` is optional (the column may be absent).
A row may only add a first score: a score already recorded with the same value is left as it is (so an
import can be repeated), a different one is an error (changing a score is change_grade, through the gate),
and scores of a published term are locked. Errors name the line (the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import repository as repo
from domain.academics.models import Assessment, Grade, SchoolClass
from domain.academics.rules import format_x100
from domain.academics.service import ensure_teaches, touch_class
from domain.kernel.actor import Actor
from domain.kernel.errors import InvalidInput

REQUIRED_COLUMNS = ("student_code", "assessment", "score")
OPTIONAL_COLUMNS = ("comment",)
MAX_ROWS = 5000
MAX_COMMENT = 2000
MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class RowError:
    """What is wrong with one cell: the line (header = 1), the column name and a message."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True)
class ImportRow:
    """A parsed line: the student code, the assessment as written, the score in hundredths, a comment."""

    line: int
    student_code: str
    assessment: str
    score_x100: int
    comment: str | None


def parse_grades_csv(text: str) -> tuple[list[ImportRow], list[RowError]]:
    """Parse the CSV text into rows and the errors of the lines that cannot be read (pure)."""
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [RowError(1, "header", f"the file is empty; the first line must be the header "
                                          f"{','.join(REQUIRED_COLUMNS)}[,comment]")]
    except csv.Error as exc:
        return [], [RowError(1, "header", f"not readable as CSV: {exc}")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        what = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                       f"unknown {', '.join(unknown)}" if unknown else "",
                                       "a column is repeated" if len(set(header)) != len(header) else ""]))
        return [], [RowError(1, "header", f"{what}: the columns are {','.join(REQUIRED_COLUMNS)} and optionally "
                                          "comment")]
    at = {name: i for i, name in enumerate(header)}
    rows: list[ImportRow] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(rows) >= MAX_ROWS:
                errors.append(RowError(line, "score", f"more than {MAX_ROWS} rows; split the file"))
                break
            if len(values) != len(header):
                errors.append(RowError(line, "line", f"{len(values)} values for {len(header)} columns"))
                continue
            cell = {name: values[i].strip() for name, i in at.items()}
            row_errors = []
            if not cell["student_code"]:
                row_errors.append(RowError(line, "student_code", "empty; give the student's code, e.g. S2026-0001"))
            if not cell["assessment"]:
                row_errors.append(RowError(line, "assessment", "empty; give the assessment's id or title"))
            score_x100 = _score_x100(cell["score"], line, row_errors)
            comment = cell.get("comment") or None
            if comment is not None and len(comment) > MAX_COMMENT:
                row_errors.append(RowError(line, "comment", f"{len(comment)} characters; at most {MAX_COMMENT}"))
            errors.extend(row_errors)
            if not row_errors and score_x100 is not None:
                rows.append(ImportRow(line, cell["student_code"].upper(), cell["assessment"], score_x100, comment))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "line", f"not readable as CSV: {exc}"))
    if not rows and not errors:
        errors.append(RowError(2, "line", "the file has a header but no scores"))
    return rows, errors


def _score_x100(raw: str, line: int, errors: list[RowError]) -> int | None:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        errors.append(RowError(line, "score", f"{raw!r} is not a number; write points like 42 or 42.5"))
        return None
    if not value.is_finite() or value < 0:
        errors.append(RowError(line, "score", f"{raw!r} is not a score; scores are 0 or more points"))
        return None
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        errors.append(RowError(line, "score", f"{raw} has more than 2 decimal places"))
        return None
    return int(scaled)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: rows read, scores created, and rows whose identical score was already there."""

    cls: SchoolClass
    rows: int
    created: int
    unchanged: int


async def import_grades(session: AsyncSession, actor: Actor, *, class_id: int, text: str) -> ImportResult:
    """Check every row of `text` against the class (enrolled students, its assessments, maxima, locks), then
    record all the new scores, or raise InvalidInput (field "csv", details.errors: line, column, message)
    listing every wrong row and write nothing. Raises NotFound / PermissionDenied for the class.
    """
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    ensure_teaches(actor, cls)
    rows, errors = parse_grades_csv(text)
    assessments = await repo.assessments_of(session, class_id)
    by_id = {str(a.id): a for a in assessments}
    by_title: dict[str, list[Assessment]] = {}
    for a in assessments:
        by_title.setdefault(a.title.strip().lower(), []).append(a)
    students = {s.code.upper(): s for s in await repo.active_students_of_class(session, class_id)}
    existing = {(g.assessment_id, g.student_id): g
                for g in await repo.grades_for_assessments(session, [a.id or 0 for a in assessments])}
    published_terms = {t for t in {a.term_id for a in assessments} if await repo.is_published(session, class_id, t)}
    seen: dict[tuple[int, int], int] = {}
    new: list[Grade] = []
    unchanged = 0
    for row in rows:
        assessment = by_id.get(row.assessment)
        matches = by_title.get(row.assessment.lower(), [])
        if assessment is None and len(matches) > 1:
            errors.append(RowError(row.line, "assessment", f"{len(matches)} assessments of {cls.code} are titled "
                                                           f"{row.assessment!r}; write the id instead "
                                                           f"({', '.join(str(a.id) for a in matches)})"))
            continue
        assessment = assessment or (matches[0] if matches else None)
        if assessment is None:
            errors.append(RowError(row.line, "assessment", f"{row.assessment!r} is not an assessment of {cls.code} "
                                                           "(its id or title); list_assessments shows them"))
            continue
        student = students.get(row.student_code)
        if student is None:
            errors.append(RowError(row.line, "student_code", f"{row.student_code} is not enrolled in {cls.code}"))
            continue
        key = (assessment.id or 0, student.id or 0)
        if key in seen:
            errors.append(RowError(row.line, "student_code", f"{row.student_code} already has a score for "
                                                             f"{assessment.title!r} on line {seen[key]}"))
            continue
        seen[key] = row.line
        if row.score_x100 > assessment.max_score_x100:
            errors.append(RowError(row.line, "score", f"{format_x100(row.score_x100)} is above the maximum "
                                                      f"{format_x100(assessment.max_score_x100)} of "
                                                      f"{assessment.title!r}"))
            continue
        grade = existing.get(key)
        if grade is not None:
            if grade.score_x100 == row.score_x100:
                unchanged += 1
            elif grade.locked or assessment.term_id in published_terms:
                errors.append(RowError(row.line, "score", f"the score of {row.student_code} on {assessment.title!r}"
                                                          " is published and locked; change_locked_grade asks "
                                                          "for an approved change"))
            else:
                errors.append(RowError(row.line, "score", f"{row.student_code} already has "
                                                          f"{format_x100(grade.score_x100)} on {assessment.title!r};"
                                                          " change_grade changes a recorded score"))
            continue
        if assessment.term_id in published_terms:
            errors.append(RowError(row.line, "score", f"the term of {assessment.title!r} is published and locked"))
            continue
        new.append(Grade(assessment_id=assessment.id or 0, student_id=student.id or 0, score_x100=row.score_x100,
                         comment=row.comment, recorded_by=actor.id or None))
    if errors:
        errors.sort(key=lambda e: (e.line, e.column))
        shown = "; ".join(str(e) for e in errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise InvalidInput(f"nothing was imported: {len(errors)} wrong row(s): {shown}{more}", field="csv",
                           details={"errors": [{"line": e.line, "column": e.column, "message": e.message}
                                               for e in errors]})
    session.add_all(new)
    if new:
        touch_class(session, cls)
    await session.flush()
    return ImportResult(cls=cls, rows=len(rows), created=len(new), unchanged=unchanged)
