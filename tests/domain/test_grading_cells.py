"""A term grade computation's lines carry the stored results it graded (TermGradeLine.cells, issue 19): what
get_gradebook shows without loading a Grade row per result."""

from __future__ import annotations

from domain.academics import service as academics
from tests.factories import make_school
from tools.invoke import invoke


async def test_each_lines_cells_are_its_students_grade_rows_in_assessment_order(runtime):
    school = await make_school(runtime, students=3)
    s1, s2, s3 = school.student_ids
    for assessment_id, student_id, extra in ((school.assessment_id, s1, {"score": 80}),
                                             (school.assessment2_id, s1, {"score": 45.5}),
                                             (school.assessment_id, s2, {"status": "excused"}),
                                             (school.assessment2_id, s2, {"status": "missing"})):
        await invoke(runtime, "record_grade", {"assessment_id": assessment_id, "student_id": student_id, **extra},
                     school.teacher)
    async with runtime.db.read() as session:
        comp = await academics.compute_term_grades(session, school.teacher, class_id=school.class_id,
                                                   term_id=school.term_id)
        bare = await academics.compute_term_grades(session, school.teacher, class_id=school.class_id,
                                                   term_id=school.term_id, with_grade_rows=False)
    assert bare.grades == [] and len(comp.grades) == 4
    stored = {(g.assessment_id, g.student_id): (g.status, g.score_x100) for g in comp.grades}
    order = [a.id for a in comp.assessments]
    assert order == [school.assessment_id, school.assessment2_id]
    for computation in (comp, bare):
        cells = {line.student.id: line.cells for line in computation.lines}
        assert cells == {s: tuple(stored.get((a, s)) for a in order) for s in (s1, s2, s3)}
    assert cells[s1] == (("scored", 8000), ("scored", 4550))
    assert cells[s2] == (("excused", None), ("missing", None)) and cells[s3] == (None, None)

    gradebook = await invoke(runtime, "get_gradebook", {"class_id": school.class_id, "term_id": school.term_id},
                             school.teacher)
    rows = {row.student_id: row for row in gradebook.rows}
    a1, a2 = str(school.assessment_id), str(school.assessment2_id)
    assert (rows[s1].scores, rows[s1].statuses) == ({a1: 80.0, a2: 45.5}, {a1: "scored", a2: "scored"})
    assert (rows[s2].scores, rows[s2].statuses) == ({a1: None, a2: None}, {a1: "excused", a2: "missing"})
    assert (rows[s3].scores, rows[s3].statuses) == ({a1: None, a2: None}, {})
    assert [a.class_code for a in gradebook.assessments] == [gradebook.class_code] * 2
