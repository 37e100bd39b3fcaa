"""import_grades: a class's scores from CSV, all lines checked first, nothing written when one is wrong."""

from __future__ import annotations

import pytest

from domain.academics.grade_import import parse_grades_csv
from domain.kernel.errors import InvalidInput, NotFound, PermissionDenied
from tests.factories import make_school
from tools.invoke import invoke


async def codes(rt, school) -> list[str]:
    out = []
    for sid in school.student_ids:
        out.append((await invoke(rt, "get_student", {"student_id": sid}, school.registrar)).code)
    return out


async def book(rt, school) -> dict[tuple[str, str], float | None]:
    """(student code, assessment title) -> score, from get_gradebook."""
    gb = await invoke(rt, "get_gradebook", {"class_id": school.class_id, "term_id": school.term_id}, school.teacher)
    titles = {str(a.id): a.title for a in gb.assessments}
    return {(row.student_code, titles[aid]): score for row in gb.rows for aid, score in row.scores.items()}


async def test_a_file_with_one_bad_line_writes_nothing_then_the_fixed_file_imports(runtime):
    school = await make_school(runtime, students=3)
    s1, s2, s3 = await codes(runtime, school)
    def csv_with(score: str) -> str:
        return ("student_code,assessment,score,comment\n"
                f"{s1},Unit test 1,42.5,good work\n"
                f"{s2},{school.assessment_id},{score},\n"
                f"{s3},Term exam,40,\n")

    bad = csv_with("101")  # the maximum of Unit test 1 is 100
    before = await book(runtime, school)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "import_grades", {"class_id": school.class_id, "csv": bad}, school.teacher)
    exc = info.value
    assert exc.field == "csv" and "nothing was imported: 1 wrong row(s)" in exc.message
    assert "line 3, column score: 101 is above the maximum 100 of 'Unit test 1'" in exc.message
    assert exc.details["errors"] == [{"line": 3, "column": "score",
                                      "message": "101 is above the maximum 100 of 'Unit test 1'"}]
    assert await book(runtime, school) == before  # nothing written

    fixed = csv_with("88")  # (not bad.replace(",101,", ...): the assessment's id may be 101 too)
    out = await invoke(runtime, "import_grades", {"class_id": school.class_id, "csv": fixed}, school.teacher)
    assert (out.rows, out.created, out.unchanged) == (3, 3, 0)
    after = await book(runtime, school)
    assert after[(s1, "Unit test 1")] == 42.5 and after[(s2, "Unit test 1")] == 88
    assert after[(s3, "Term exam")] == 40
    # Repeating the same import changes nothing; a different score on a recorded one is refused.
    again = await invoke(runtime, "import_grades", {"class_id": school.class_id, "csv": fixed}, school.teacher)
    assert (again.created, again.unchanged) == (0, 3)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "import_grades", {"class_id": school.class_id,
                                                "csv": f"student_code,assessment,score\n{s1},unit TEST 1,50\n"},
                     school.teacher)
    assert "line 2, column score: " in info.value.message and "change_grade" in info.value.message


async def test_every_wrong_line_is_named(runtime):
    school = await make_school(runtime, students=2)
    s1, s2 = await codes(runtime, school)
    text = ("student_code,assessment,score\n"
            f"{s1},Unit test 1,abc\n"
            f"S9999-0001,Unit test 1,10\n"
            f"{s2},No such test,10\n"
            f"{s2},Term exam,10.555\n"
            f"{s1},Term exam,5\n"
            f"{s1},Term exam,6\n"
            f"{s2},Unit test 1\n")
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "import_grades", {"class_id": school.class_id, "csv": text}, school.registrar)
    found = [(e["line"], e["column"]) for e in info.value.details["errors"]]
    assert found == [(2, "score"), (3, "student_code"), (4, "assessment"), (5, "score"), (7, "student_code"),
                     (8, "line")], info.value.message
    assert "S9999-0001 is not enrolled" in info.value.message and "already has a score" in info.value.message


async def test_scope_and_unknown_class(runtime):
    school = await make_school(runtime, students=1)
    (s1,) = await codes(runtime, school)
    text = f"student_code,assessment,score\n{s1},Unit test 1,10\n"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "import_grades", {"class_id": school.class_id, "csv": text}, school.other_teacher)
    with pytest.raises(NotFound):
        await invoke(runtime, "import_grades", {"class_id": 99_999_999, "csv": text}, school.registrar)


async def test_a_published_term_is_locked_against_import(runtime):
    school = await make_school(runtime, students=1)
    (s1,) = await codes(runtime, school)
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": school.student_ids[0],
                                           "score": 70}, school.teacher)
    pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.registrar)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    done = await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin)
    assert done.status == "executed"
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "import_grades", {"class_id": school.class_id,
                                                "csv": f"student_code,assessment,score\n{s1},Term exam,40\n"},
                     school.teacher)
    assert "published and locked" in info.value.message


@pytest.mark.parametrize("text,where", [
    ("", "line 1, column header: the file is empty"),
    ("student,assessment,score\n", "missing student_code"),
    ("student_code,assessment,score,grade\n", "unknown grade"),
    ("student_code,assessment,score,score\n", "a column is repeated"),
    ("student_code,assessment,score\n", "no scores"),
    ("student_code,assessment,score\nS1,A,-1\n", "line 2, column score: '-1' is not a score"),
    ("student_code,assessment,score\n,A,1\n", "line 2, column student_code: empty"),
])
def test_unreadable_files_are_named(text, where):
    rows, errors = parse_grades_csv(text)
    assert rows == [] and errors and where in "; ".join(str(e) for e in errors)


def test_a_good_file_parses_with_a_bom_blank_lines_and_quotes():
    rows, errors = parse_grades_csv('\ufeffStudent_Code,Assessment,Score,Comment\n\ns2026-0001,Quiz 1,7.25,"late, ok"\n')
    assert errors == []
    assert [(r.line, r.student_code, r.assessment, r.score_x100, r.comment) for r in rows] == [
        (3, "S2026-0001", "Quiz 1", 725, "late, ok")]
