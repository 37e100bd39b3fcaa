"""Build a deterministic demo school: staff, the 2026-27 year, sections, classes, students, term-1 grades and
the staff's payroll (contracts and three paid months, 2026-03..2026-05).

`build_demo_school(session, seed=42)` writes into the caller's transaction (it flushes, never commits). The
same seed always yields the same people, classes, scores and pay: every random draw comes from one
`random.Random(seed)` and every date is fixed, never today's.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy import func, insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics.models import (
    AcademicYear,
    Assessment,
    Enrollment,
    EnrollmentStatus,
    Grade,
    Guardian,
    SchoolClass,
    Section,
    Student,
    StudentStatus,
    Subject,
    Term,
    YearLevel,
)
from domain.fees import service as fees
from domain.fees.models import Family, FeeSchedule, Invoice, Payment
from domain.finance import service as finance
from domain.hr.models import Department, Employee, EmployeeStatus, EmploymentType
from domain.identity.models import User
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.clock import utcnow
from domain.payroll import service as payroll
from domain.payroll.models import (
    EmploymentContract,
    PayBasis,
    PayrollRun,
    Payslip,
    PayslipStatus,
    RunStatus,
    SalaryStructure,
)
from domain.timetable.models import Room

YEAR_CODE = "2026-27"
YEAR_NAME = "Academic year 2026-27"
YEAR_START = date(2026, 9, 1)
YEAR_END = date(2027, 6, 30)
TERMS: tuple[tuple[int, str, date, date], ...] = (
    (1, "Term 1", date(2026, 9, 1), date(2026, 12, 18)),
    (2, "Term 2", date(2027, 1, 6), date(2027, 6, 30)),
)
YEAR_LEVELS = tuple(range(7, 13))
SECTION_LETTERS = "ABCD"
STUDENTS_PER_SECTION = 25
STUDENT_CODE_PREFIX = "S2026-"
EMAIL_DOMAIN = "demo-school.example"
GUARDIAN_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
MISSING_GRADE_RATE = 0.02

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("MATH", "Mathematics"),
    ("LANG", "Languages"),
    ("SCI", "Sciences"),
    ("HUM", "Humanities"),
    ("ARTS", "Arts"),
    ("PE", "Physical Education"),
    ("COMP", "Computing"),
    ("ADMIN", "Administration"),
    ("FIN", "Finance"),
    ("FAC", "Facilities"),
)

# (subject code, subject name, department code, number of teachers): 24 sections per subject, so 3 teachers
# carry 8 classes each and 4 carry 6, well under a full timetable.
SUBJECTS: tuple[tuple[str, str, str, int], ...] = (
    ("MATH", "Mathematics", "MATH", 4),
    ("ENG", "English", "LANG", 4),
    ("SCI", "Science", "SCI", 3),
    ("HIST", "History", "HUM", 3),
    ("GEO", "Geography", "HUM", 3),
    ("ART", "Art", "ARTS", 3),
    ("MUS", "Music", "ARTS", 3),
    ("PE", "Physical Education", "PE", 3),
    ("CS", "Computer Science", "COMP", 3),
    ("FR", "French", "LANG", 3),
)

# Lessons a week per class of each subject: 30 per section in a 35-period week (5 days x 7), and at most 30 per
# teacher (MATH and ENG teachers have 6 classes x 5, the others 8 x 3 or fewer).
WEEKLY_LESSONS = {"MATH": 5, "ENG": 5, "SCI": 3, "HIST": 2, "GEO": 2, "ART": 2, "MUS": 2, "PE": 3, "CS": 3, "FR": 3}

# (room code, name, seats): a classroom per section plus two labs and a hall, so lessons can always be placed.
ROOMS: tuple[tuple[str, str, int], ...] = (
    *((f"R{100 * floor + n}", f"Classroom {100 * floor + n}", 30) for floor in (1, 2, 3) for n in range(1, 9)),
    ("LAB1", "Science laboratory", 26),
    ("LAB2", "Computer laboratory", 26),
    ("HALL", "Sports hall", 120),
)

FT, PT, CT = EmploymentType.FULL_TIME, EmploymentType.PART_TIME, EmploymentType.CONTRACT

# (role key, position, department code, employment type); the keys link the principal, registrar and HR
# officer to their users.
SUPPORT_STAFF: tuple[tuple[str, str, str, EmploymentType], ...] = (
    ("principal", "Principal", "ADMIN", FT),
    ("deputy", "Deputy principal", "ADMIN", FT),
    ("registrar", "Registrar", "ADMIN", FT),
    ("hr", "HR officer", "ADMIN", FT),
    ("receptionist", "Receptionist", "ADMIN", PT),
    ("librarian", "Librarian", "ADMIN", FT),
    ("nurse", "School nurse", "ADMIN", PT),
    ("bursar", "Bursar", "FIN", FT),
    ("payroll", "Payroll officer", "FIN", FT),
    ("accounts", "Accounts assistant", "FIN", FT),
    ("it", "IT technician", "COMP", CT),
    ("caretaker", "Caretaker", "FAC", FT),
    ("maintenance", "Maintenance technician", "FAC", FT),
    ("cleaner", "Cleaner", "FAC", PT),
)

# Payroll: every member of staff has an AUD contract paid monthly under one salary structure, and three
# months are already paid. Contracts are open-ended (no end date) and the structure has no end, so they are in
# force for any later month: "run payroll for this month" works on a fresh demo. The months after May are left
# without runs on purpose, for the user (an agent creates and calculates them). PAYG is withheld under the
# bundled ATO Schedule 1 tables (domain/payroll/tables/au_ato_schedule_1.json): the 2024 schedule for pay
# dates to 2026-06-30 (it continued unchanged for 2025-26), the 2026 schedule from 2026-07-01 to 2027-06-30;
# a month paid after that is refused with an error naming the missing table until the ATO's next schedule
# is added (add_tax_table).
PAYROLL_CURRENCY = "AUD"
OPENING_EQUITY = ("3000", "Opening balance equity")
OPENING_BANK_MINOR = 200_000_000  # AUD 2,000,000.00
PAYROLL_STRUCTURE = "AU_STAFF"
CONTRACT_START = date(2026, 1, 1)  # or the hire date, for staff who join later in 2026
FILING_STATUS = "scale_2"  # ATO scale 2: the tax-free threshold is claimed
PAID_PERIODS = ("2026-03", "2026-04", "2026-05")
PAYDAY = 26  # staff are paid on the 26th, or the working day before it when the 26th is a weekend
LEAVE_PERIOD = "2026-04"  # two or three staff took a few days of unpaid leave in this month
RAISE_FROM = date(2026, 4, 1)  # a raise agreed in May, backdated to April: May's run pays April's arrears
RAISE_RECORDED_AFTER = "2026-04"

# The engine cannot tell a teacher from other staff (a structure's inputs are per payslip, and runs give
# none), so the allowance is the same fixed amount for everyone. Superannuation guarantee: 12 % of ordinary
# time earnings (salary, allowance, paid leave and salary arrears, before salary sacrifice; not unused leave paid
# on termination: the engine's `ote`) at the super guarantee rate in force on the pay date, which the payroll
# jurisdiction dates (domain/payroll/jurisdiction.py: 12 % from 1 July 2025, Superannuation Guarantee
# (Administration) Act 1992 s 19(2)), never a constant in the structure. Each component names its STP Phase 2
# category (domain/payroll/categories.py).
PAYROLL_COMPONENTS: list[dict[str, Any]] = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "ALLOW", "name": "Professional development allowance", "kind": "earning", "method": "fixed",
     "amount_minor": 10000, "category": "allowance:OD"},
    {"code": "SALSAC", "name": "Salary sacrifice (super)", "kind": "deduction", "method": "percentage",
     "percent": 5, "of": "BASIC", "pre_tax": True, "category": "salary_sacrifice:S"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "UNION", "name": "Union fees", "kind": "deduction", "method": "formula",
     "expression": "min(3000, gross * 0.005)", "category": "deduction:F"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution",
     "method": "formula", "expression": "ote * super_guarantee_rate", "category": "super:L"},
]

# Fees (AUD, per term, illustrative): tuition by year level, a technology levy and an activities fee for
# everyone. Term 1's invoices are issued on its first day and due a month later; most families have paid, some
# in part, some late, some not at all (61-90 days overdue by early December), a few paid too much (family
# credit), and one excursion fee was credited back. Term 2 has a schedule and no invoices: generating them is
# left for the user (generate_invoices).
FEE_CURRENCY = "AUD"
TUITION_BY_LEVEL = {7: 495_000, 8: 510_000, 9: 525_000, 10: 545_000, 11: 565_000, 12: 580_000}
FEE_ITEMS = (("TUITION", "Tuition", "4100", "Tuition fees"),
             ("TECH", "Technology levy", "4130", "Technology levy income"),
             ("ACTIVITIES", "Sport and excursions", "4140", "Activity fees"))
FLAT_FEES = {"TECH": 18_000, "ACTIVITIES": 12_000}
FEE_TERMS = (("T1-2026", "Term 1 2026-27 fees", date(2026, 9, 30)), ("T2-2027", "Term 2 2026-27 fees",
                                                                        date(2027, 1, 31)))
INVOICE_DATE = date(2026, 9, 1)
SCHOLARSHIPS, STAFF_CHILDREN = 6, 3

# Full-time monthly salaries in whole AUD, (lowest, highest), by the support staff's role key: the heads
# (principal, deputy, bursar), then the office and facilities staff. Illustrative figures, not an award's.
SALARY_BANDS: dict[str, tuple[int, int]] = {
    "principal": (17_000, 18_500), "deputy": (13_400, 14_500), "bursar": (10_800, 11_800),
    "registrar": (7_700, 8_300), "hr": (7_200, 7_900), "receptionist": (5_200, 5_600),
    "librarian": (6_700, 7_500), "nurse": (7_300, 8_000), "payroll": (6_800, 7_500),
    "accounts": (5_700, 6_200), "it": (6_700, 7_600), "caretaker": (5_300, 5_800),
    "maintenance": (5_600, 6_200), "cleaner": (4_700, 5_000),
}
# Teachers climb a scale with years of service: AUD 6,650 a month for a graduate, 320 more for each year up to
# ten (about AUD 80,000 to 119,000 a year). Part-time staff are paid their fraction of full time.
TEACHER_SCALE = (6_650, 320, 10)
PART_TIME_FRACTIONS = (Fraction(2, 5), Fraction(1, 2), Fraction(3, 5), Fraction(4, 5))

# (title, category, max score, weight in hundredths of a percent, due (month, day) in 2026); each plan's
# weights sum to 10000 (100 %).
AssessmentPlan = tuple[tuple[str, str, int, int, tuple[int, int]], ...]


def _written_plans(project: str) -> tuple[AssessmentPlan, AssessmentPlan]:
    three: AssessmentPlan = (
        ("Unit test 1", "test", 20, 2500, (10, 2)),
        (project, "project", 50, 3000, (11, 20)),
        ("Term exam", "exam", 100, 4500, (12, 10)),
    )
    four: AssessmentPlan = (
        ("Unit test 1", "test", 20, 2000, (9, 25)),
        ("Homework portfolio", "homework", 50, 1500, (10, 23)),
        ("Unit test 2", "test", 20, 2000, (11, 13)),
        ("Term exam", "exam", 100, 4500, (12, 10)),
    )
    return three, four


ASSESSMENT_PLANS: dict[str, tuple[AssessmentPlan, AssessmentPlan]] = {
    "MATH": _written_plans("Problem-solving project"),
    "ENG": _written_plans("Essay"),
    "SCI": _written_plans("Lab report"),
    "HIST": _written_plans("Source analysis"),
    "GEO": _written_plans("Fieldwork report"),
    "CS": _written_plans("Programming project"),
    "FR": _written_plans("Oral presentation"),
    "ART": (
        (
            ("Sketchbook", "coursework", 50, 3000, (10, 9)),
            ("Still life study", "practical", 20, 2000, (11, 6)),
            ("Portfolio piece", "project", 100, 5000, (12, 4)),
        ),
        (
            ("Sketchbook", "coursework", 50, 2500, (10, 9)),
            ("Art history quiz", "quiz", 20, 1000, (10, 30)),
            ("Still life study", "practical", 20, 2000, (11, 6)),
            ("Portfolio piece", "project", 100, 4500, (12, 4)),
        ),
    ),
    "MUS": (
        (
            ("Listening test", "test", 20, 2500, (10, 9)),
            ("Composition", "project", 50, 3500, (11, 20)),
            ("Performance", "practical", 100, 4000, (12, 8)),
        ),
        (
            ("Theory quiz", "quiz", 20, 1500, (9, 30)),
            ("Listening test", "test", 20, 2000, (10, 21)),
            ("Composition", "project", 50, 3000, (11, 20)),
            ("Performance", "practical", 100, 3500, (12, 8)),
        ),
    ),
    "PE": (
        (
            ("Fitness assessment", "practical", 50, 3000, (9, 29)),
            ("Team sports practical", "practical", 100, 4500, (11, 17)),
            ("Theory quiz", "quiz", 20, 2500, (12, 3)),
        ),
        (
            ("Fitness assessment", "practical", 50, 2500, (9, 29)),
            ("Swimming assessment", "practical", 20, 2000, (10, 20)),
            ("Team sports practical", "practical", 100, 3500, (11, 17)),
            ("Theory quiz", "quiz", 20, 2000, (12, 3)),
        ),
    ),
}


@dataclass(frozen=True)
class _Culture:
    weight: int
    female: tuple[str, ...]
    male: tuple[str, ...]
    last: tuple[str, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


# Names are grouped by origin so a person's first and last name usually belong together, as they do in an
# international school; surnames that change with gender (Kowalski/Kowalska) are left out on purpose.
CULTURES: tuple[_Culture, ...] = (
    _Culture(6, _names("Olivia, Amelia, Isla, Charlotte, Emily, Grace, Sophie, Hannah, Lucy, Ella, Abigail, "
                       "Harriet, Rebecca, Jessica, Megan, Eleanor"),
             _names("Oliver, George, Harry, Jack, Thomas, William, James, Samuel, Daniel, Henry, Joshua, "
                    "Benjamin, Edward, Alfie, Charlie, Nathan"),
             _names("Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Evans, Walker, Wright, "
                    "Thompson, Hughes, Clarke, Baker, Harris, Mitchell, Turner, Cooper, Bennett")),
    _Culture(1, _names("Aoife, Siobhan, Niamh, Ciara, Róisín, Saoirse"),
             _names("Conor, Liam, Seán, Cian, Pádraig, Oisín"),
             _names("O'Brien, Murphy, Kelly, Byrne, Walsh, O'Connor, Ryan, Doyle, Gallagher")),
    _Culture(3, _names("Lucía, Sofía, Valentina, Camila, Martina, Isabella, Carmen, Elena, Paula, Daniela"),
             _names("Mateo, Santiago, Diego, Alejandro, Javier, Pablo, Carlos, Andrés, Sergio, Miguel"),
             _names("García, Rodríguez, Martínez, López, Hernández, González, Pérez, Sánchez, Ramírez, "
                    "Torres, Flores, Castillo, Morales, Ortega")),
    _Culture(2, _names("Beatriz, Mariana, Ana, Larissa, Gabriela, Inês, Leonor"),
             _names("João, Pedro, Rafael, Tiago, Gustavo, Rodrigo, Duarte"),
             _names("Silva, Santos, Oliveira, Costa, Ferreira, Almeida, Pereira, Carvalho, Ribeiro")),
    _Culture(2, _names("Chloé, Camille, Léa, Manon, Inès, Juliette, Élise, Margaux"),
             _names("Louis, Hugo, Théo, Antoine, Mathis, Baptiste, Julien, Étienne"),
             _names("Martin, Bernard, Dubois, Moreau, Laurent, Lefebvre, Girard, Fontaine, Rousseau, "
                    "Mercier")),
    _Culture(1, _names("Hanna, Lena, Mia, Greta, Johanna, Katharina"),
             _names("Lukas, Jonas, Felix, Maximilian, Florian, Tobias"),
             _names("Müller, Schmidt, Schneider, Fischer, Weber, Hoffmann, Becker, Wagner")),
    _Culture(1, _names("Anke, Sanne, Fenna, Lotte, Noor, Femke"),
             _names("Daan, Sem, Bram, Joris, Ruben, Thijs"),
             _names("de Jong, Jansen, van Dijk, Bakker, Visser, de Vries, Smit, Meijer")),
    _Culture(2, _names("Giulia, Chiara, Francesca, Alessia, Sara, Beatrice, Elisa"),
             _names("Luca, Marco, Matteo, Alessandro, Giovanni, Lorenzo, Davide"),
             _names("Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Ricci, Marino, Greco, Conti")),
    _Culture(1, _names("Zofia, Natalia, Katarzyna, Maja, Agnieszka, Julia"),
             _names("Jakub, Piotr, Mikołaj, Tomasz, Kacper, Wojciech"),
             _names("Nowak, Wójcik, Mazur, Krawczyk, Lis, Kaczmarek, Dudek")),
    _Culture(1, _names("Olena, Oksana, Daria, Iryna, Sofiia, Kateryna"),
             _names("Andriy, Maksym, Bohdan, Taras, Oleksandr, Dmytro"),
             _names("Shevchenko, Kovalenko, Bondarenko, Tkachenko, Kravchenko, Melnyk, Boyko")),
    _Culture(2, _names("Elif, Zeynep, Ayşe, Defne, Ece, Selin"),
             _names("Emir, Yusuf, Mehmet, Can, Kerem, Burak"),
             _names("Yılmaz, Kaya, Demir, Şahin, Çelik, Aydın, Öztürk, Arslan")),
    _Culture(3, _names("Fatima, Layla, Mariam, Noor, Yasmin, Aisha, Salma, Huda, Rania"),
             _names("Omar, Ahmed, Youssef, Karim, Hamza, Khalid, Tariq, Ibrahim, Sami"),
             _names("Haddad, Khalil, Nasser, Mansour, Saleh, Hassan, Aziz, Farouk, Abboud, Qasim")),
    _Culture(1, _names("Shirin, Parisa, Yasaman, Roya, Nazanin"),
             _names("Arash, Dariush, Kian, Reza, Kaveh"),
             _names("Hosseini, Rahimi, Karimi, Moradi, Tehrani, Sadeghi")),
    _Culture(4, _names("Priya, Ananya, Diya, Kavya, Nisha, Saanvi, Zara, Meera, Aditi, Riya"),
             _names("Arjun, Rohan, Aarav, Vikram, Rahul, Imran, Ishaan, Dev, Kabir, Nikhil"),
             _names("Patel, Sharma, Singh, Gupta, Khan, Reddy, Iyer, Chowdhury, Mehta, Nair, Kapoor, Malik, "
                    "Rao, Bose")),
    _Culture(3, _names("Mei, Xin, Yan, Jing, Lian, Hui, Xiaoling, Yuting"),
             _names("Wei, Jun, Hao, Ming, Zhiwei, Tao, Jian, Yichen"),
             _names("Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Lin, Zhou, Xu")),
    _Culture(2, _names("Yui, Aoi, Hana, Sakura, Rin, Mio"),
             _names("Haruto, Ren, Sota, Yuto, Hiroshi, Kenji"),
             _names("Sato, Suzuki, Takahashi, Tanaka, Watanabe, Ito, Nakamura, Kobayashi")),
    _Culture(2, _names("Ji-woo, Seo-yeon, Min-ji, Ha-eun, Soo-ah, Ye-jin"),
             _names("Min-jun, Seo-jun, Ji-ho, Hyun-woo, Do-yoon, Joon-young"),
             _names("Kim, Lee, Park, Choi, Jung, Kang, Yoon, Han")),
    _Culture(1, _names("Linh, Mai, Thao, Trinh, Huong, Lan"),
             _names("Minh, Duc, Quang, Bao, Khoa, Tuan"),
             _names("Nguyen, Tran, Le, Pham, Hoang, Vu, Dang")),
    _Culture(1, _names("Maricel, Angelica, Kristine, Jasmine, Bea, Camille"),
             _names("Paolo, Mark Anthony, Jericho, Miguel, Carlo, Rafael"),
             _names("Reyes, Cruz, Bautista, Mendoza, Dela Cruz, Villanueva, Aquino")),
    _Culture(2, _names("Chiamaka, Adaeze, Ngozi, Funmilayo, Temitope, Yetunde, Folake"),
             _names("Chinedu, Emeka, Oluwaseun, Tunde, Babajide, Ifeanyi, Obinna"),
             _names("Okafor, Adeyemi, Okonkwo, Balogun, Eze, Adebayo, Nwosu, Ogunleye")),
    _Culture(1, _names("Ama, Efua, Abena, Akosua, Adwoa, Esi"),
             _names("Kwame, Kofi, Kwabena, Yaw, Kojo, Kwaku"),
             _names("Mensah, Asante, Boateng, Owusu, Appiah, Ofori, Darko")),
    _Culture(1, _names("Wanjiru, Achieng, Nyambura, Wambui, Akinyi, Njeri"),
             _names("Kamau, Otieno, Baraka, Kipchoge, Omondi, Mutua"),
             _names("Mwangi, Odhiambo, Kiprono, Wanjala, Njoroge, Ochieng, Kariuki")),
    _Culture(1, _names("Hiwot, Selam, Meron, Tigist, Bethlehem, Liya"),
             _names("Tesfaye, Dawit, Yonas, Abel, Henok, Samuel"),
             _names("Bekele, Tadesse, Haile, Girma, Alemu, Tesfaye, Kebede")),
    _Culture(1, _names("Freya, Ingrid, Astrid, Sigrid, Linnea"),
             _names("Erik, Magnus, Nils, Axel, Oskar"),
             _names("Hansen, Johansson, Larsen, Nilsson, Andersen, Lindqvist, Berg")),
)

_Coded = TypeVar("_Coded", Department, Subject, YearLevel, Room)

# Letters that Unicode decomposition leaves as they are, so they need an explicit ASCII spelling.
_ASCII_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ı": "i", "æ": "ae",
                              "đ": "d", "Đ": "D"})


@dataclass(frozen=True)
class DemoSummary:
    """What the demo build wrote (or, when `created` is False, what the database already held).

    Payroll: `contracts` employment contracts, `payroll_runs` runs posted and paid (their `payroll_periods`,
    YYYY-MM, in order) holding `payslips` payslips.
    """

    created: bool
    departments: int
    employees: int
    teachers: int
    year_levels: int
    sections: int
    subjects: int
    classes: int
    students: int
    guardians: int
    enrollments: int
    assessments: int
    grades: int
    rooms: int = 0
    admin_usernames: list[str] = field(default_factory=list)
    contracts: int = 0
    payroll_runs: int = 0
    payslips: int = 0
    payroll_periods: list[str] = field(default_factory=list)
    families: int = 0
    invoices: int = 0
    fee_payments: int = 0


async def build_demo_school(session: AsyncSession, *, seed: int = 42) -> DemoSummary:
    """Write a realistic demo school for academic year 2026-27 into `session`, flushing but never committing.

    Shapes: 10 departments, ~46 staff (32 teachers, codes E0001..), 6 year levels (Y7..Y12), 24 sections
    (7A..12D) with homeroom teachers, 10 subjects, 240 classes (7A-MATH..), 600 students (S2026-0001..)
    with 1-2 guardians each, 6000 enrollments, 3-4 weighted term-1 assessments per class (weights sum to
    10000 = 100 %, scores and maxima in hundredths) with ~98 % of grades recorded, and users `admin`,
    `principal`, `registrar`, `hr` plus one `teacher` user per teacher; 27 rooms (R101..R308, two labs, a hall)
    and 30 lessons a week per section (domain.demo.builder.WEEKLY_LESSONS) for build_timetable_problem.
    Payroll (AUD): salary structure AU_STAFF (PAYROLL_COMPONENTS), one monthly contract per employee from
    2026-01-01 (or the later hire date) with salaries by position, and the runs of 2026-03, 2026-04 and
    2026-05 calculated, approved, posted to the ledger and paid by the system actor, with a few days of unpaid
    leave in April and a raise backdated to 2026-04-01 (recorded after April was paid) that May pays as
    arrears; later months have no run. Contracts and the structure have no end date, so a run for any later
    month (today's) calculates under the ATO table in force on its pay date. The paid months are left out when the database already holds payroll
    contracts or runs, or payroll accounts in another currency, so the demo never mixes with a school's own.
    Existing departments, subjects, rooms, year levels and users with the same codes or usernames are reused. When academic year 2026-27 already
    exists nothing is written and the summary (created=False) counts the rows already present.
    """
    existing_year = (await session.exec(select(AcademicYear).where(AcademicYear.code == YEAR_CODE))).first()
    if existing_year is not None:
        return await _existing_summary(session)
    return await _DemoBuilder(session, random.Random(seed)).build()


async def _count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def _existing_summary(session: AsyncSession) -> DemoSummary:
    teachers = (await session.exec(select(func.count(func.distinct(SchoolClass.teacher_id))))).one()
    periods = list((await session.exec(select(PayrollRun.period).where(
        col(PayrollRun.status).in_((RunStatus.POSTED.value, RunStatus.PAID.value))).order_by(
        col(PayrollRun.period)))).all())
    return DemoSummary(
        created=False,
        departments=await _count(session, Department),
        employees=await _count(session, Employee),
        teachers=teachers,
        year_levels=await _count(session, YearLevel),
        sections=await _count(session, Section),
        subjects=await _count(session, Subject),
        classes=await _count(session, SchoolClass),
        students=await _count(session, Student),
        guardians=await _count(session, Guardian),
        enrollments=await _count(session, Enrollment),
        assessments=await _count(session, Assessment),
        grades=await _count(session, Grade),
        rooms=await _count(session, Room),
        admin_usernames=[],
        contracts=(await session.exec(select(func.count(func.distinct(
            EmploymentContract.contract_number))))).one(),
        payroll_runs=len(periods),
        payslips=(await session.exec(select(func.count()).select_from(Payslip).where(
            col(Payslip.status).in_((PayslipStatus.DONE.value, PayslipStatus.PAID.value))))).one(),
        payroll_periods=periods,
        families=await _count(session, Family),
        invoices=await _count(session, Invoice),
        fee_payments=await _count(session, Payment),
    )


def _slug(text: str) -> str:
    """Return `text` as a lowercase ASCII token for emails and usernames (José O'Brien -> jose, obrien)."""
    plain = unicodedata.normalize("NFKD", text.translate(_ASCII_EXTRA)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum() or ch == "-")


def _weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def payday(period: str) -> date:
    """Return the demo staff's pay date for `period` ("YYYY-MM"): the 26th, or the weekday before it when the
    26th falls on a weekend. Raises InvalidInput (field `period`) for a period that is not YYYY-MM."""
    start, _ = payroll.month_bounds(period)
    return _weekday_on_or_before(start.replace(day=PAYDAY))


@dataclass
class _Person:
    first_name: str
    last_name: str
    culture: _Culture


@dataclass
class _StaffPlan:
    person: _Person
    position: str
    department: str
    employment_type: EmploymentType
    hire_date: date
    role_key: str | None = None
    subject: str | None = None


class _DemoBuilder:
    """One build: the session, the seeded random source and the full names already given out."""

    def __init__(self, session: AsyncSession, rng: random.Random):
        self.session = session
        self.rng = rng
        self.used_names: set[tuple[str, str]] = set()
        self.culture_weights = [c.weight for c in CULTURES]

    def _person(self) -> _Person:
        # Nobody in the school shares a full name, so "find Olivia Smith" always means one person.
        while True:
            culture = self.rng.choices(CULTURES, weights=self.culture_weights)[0]
            first = self.rng.choice(culture.female if self.rng.random() < 0.5 else culture.male)
            last = self.rng.choice(culture.last)
            if (first, last) not in self.used_names:
                self.used_names.add((first, last))
                return _Person(first, last, culture)

    def _hire_date(self, *, earliest: int, latest: int) -> date:
        year = self.rng.randint(earliest, latest)
        # Schools hire mostly for the start of the year; the rest arrive mid-year.
        if self.rng.random() < 0.75:
            return date(year, 8, 15) + timedelta(days=self.rng.randrange(18))
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365 if year < 2026 else 220))

    async def _reuse_by_code(self, model: type[_Coded], codes: Sequence[str]) -> dict[str, _Coded]:
        rows = (await self.session.exec(select(model).where(col(model.code).in_(codes)))).all()
        return {row.code: row for row in rows}

    async def build(self) -> DemoSummary:
        session = self.session

        departments = await self._reuse_by_code(Department, [c for c, _ in DEPARTMENTS])
        new_departments = [Department(code=c, name=n) for c, n in DEPARTMENTS if c not in departments]
        session.add_all(new_departments)
        subjects = await self._reuse_by_code(Subject, [s[0] for s in SUBJECTS])
        new_subjects = [Subject(code=c, name=n, weekly_lessons=WEEKLY_LESSONS[c])
                        for c, n, _, _ in SUBJECTS if c not in subjects]
        session.add_all(new_subjects)
        rooms = await self._reuse_by_code(Room, [c for c, _, _ in ROOMS])
        session.add_all([Room(code=c, name=n, capacity=seats) for c, n, seats in ROOMS if c not in rooms])
        levels = await self._reuse_by_code(YearLevel, [f"Y{n}" for n in YEAR_LEVELS])
        new_levels = [YearLevel(code=f"Y{n}", name=f"Year {n}", ordinal=n)
                      for n in YEAR_LEVELS if f"Y{n}" not in levels]
        session.add_all(new_levels)
        year = AcademicYear(code=YEAR_CODE, name=YEAR_NAME, start_date=YEAR_START, end_date=YEAR_END)
        session.add(year)
        await session.flush()
        departments.update({d.code: d for d in new_departments})
        subjects.update({s.code: s for s in new_subjects})
        levels.update({lv.code: lv for lv in new_levels})
        terms = [Term(academic_year_id=year.id, number=n, name=name, start_date=start, end_date=end)
                 for n, name, start, end in TERMS]
        session.add_all(terms)

        staff = self._plan_staff()
        employees = await self._add_employees(staff, departments)
        users, created_usernames = await self._add_users(staff, employees)

        teachers_by_subject: dict[str, list[int]] = {}
        for plan, employee in zip(staff, employees, strict=True):
            if plan.subject is not None:
                teachers_by_subject.setdefault(plan.subject, []).append(employee.id)
        section_keys = [(n, letter) for n in YEAR_LEVELS for letter in SECTION_LETTERS]
        teacher_of = self._assign_classes(section_keys, teachers_by_subject)
        homeroom = self._assign_homerooms(section_keys, teacher_of, teachers_by_subject)

        sections = [Section(code=f"{n}{letter}", name=f"Year {n}, section {letter}",
                            year_level_id=levels[f"Y{n}"].id, academic_year_id=year.id,
                            homeroom_teacher_id=homeroom[(n, letter)])
                    for n, letter in section_keys]
        session.add_all(sections)
        await session.flush()

        classes: dict[tuple[int, str], list[SchoolClass]] = {}
        for key, section in zip(section_keys, sections, strict=True):
            classes[key] = [SchoolClass(code=f"{section.code}-{code}", section_id=section.id,
                                        subject_id=subjects[code].id, teacher_id=teacher_of[(key, code)],
                                        academic_year_id=year.id)
                            for code, _, _, _ in SUBJECTS]
        all_classes = [c for group in classes.values() for c in group]
        session.add_all(all_classes)

        students, people = await self._add_students(section_keys, sections, levels)
        guardians = self._guardians(students, people)
        session.add_all(guardians)
        await session.flush()

        key_of_section = {s.id: key for key, s in zip(section_keys, sections, strict=True)}
        # Enrollments and grades are tens of thousands of rows whose ids nobody needs back, so they go in as
        # one executemany each instead of ORM objects (seconds instead of tens of seconds on SQLite).
        now = utcnow()
        stamp = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
        enrollments = [{**stamp, "student_id": student.id, "class_id": school_class.id,
                        "status": EnrollmentStatus.ACTIVE.value, "enrolled_on": YEAR_START}
                       for student in students
                       for school_class in classes[key_of_section[student.section_id]]]
        await session.exec(insert(Enrollment.__table__), params=enrollments)

        term1 = terms[0]
        assessments = self._assessments(classes, term1)
        session.add_all([a for _, group in assessments for a, _ in group])
        await session.flush()

        recorder = {e.id: users[u].id for u, e in self._teacher_users(staff, employees).items()}
        grades = [{**stamp, **row} for row in self._grades(students, classes, assessments, recorder)]
        await session.exec(insert(Grade.__table__), params=grades)

        # Payroll draws come after every other draw, so the school is the same as before payroll existed.
        history_fits = await self._payroll_history_fits()
        contracts = await self._add_contracts(staff, employees)
        runs = await self._add_payroll_history(staff, employees) if history_fits else []
        # Fee draws come last of all, for the same reason.
        billed = await self._add_fees(students, guardians, terms) if await self._fees_fit() else (0, 0, 0)

        return DemoSummary(
            created=True,
            departments=len(DEPARTMENTS),
            employees=len(employees),
            teachers=sum(len(t) for t in teachers_by_subject.values()),
            year_levels=len(YEAR_LEVELS),
            sections=len(sections),
            subjects=len(SUBJECTS),
            classes=len(all_classes),
            students=len(students),
            guardians=len(guardians),
            enrollments=len(enrollments),
            assessments=sum(len(group) for _, group in assessments),
            grades=len(grades),
            rooms=len(ROOMS),
            admin_usernames=created_usernames,
            contracts=len(contracts),
            payroll_runs=len(runs),
            payslips=sum(run.employees for run in runs),
            payroll_periods=[run.period for run in runs],
            families=billed[0],
            invoices=billed[1],
            fee_payments=billed[2],
        )

    def _plan_staff(self) -> list[_StaffPlan]:
        plans: list[_StaffPlan] = []
        for key, position, department, employment_type in SUPPORT_STAFF:
            earliest, latest = (2004, 2016) if key in ("principal", "deputy", "bursar") else (2008, 2026)
            plans.append(_StaffPlan(self._person(), position, department, employment_type,
                                    self._hire_date(earliest=earliest, latest=latest), role_key=key))
        for code, name, department, count in SUBJECTS:
            for _ in range(count):
                # A few music and art teachers are part-time, as peripatetic teachers usually are.
                part_time = code in ("MUS", "ART") and self.rng.random() < 0.34
                plans.append(_StaffPlan(self._person(), f"{name} teacher", department,
                                        PT if part_time else FT, self._hire_date(earliest=2006, latest=2026),
                                        subject=code))
        return plans

    async def _add_employees(self, staff: list[_StaffPlan],
                             departments: dict[str, Department]) -> list[Employee]:
        existing = (await self.session.exec(select(Employee.code, Employee.work_email))).all()
        taken_emails = {email for _, email in existing}
        numbers = [int(c[1:]) for c, _ in existing if c[:1] == "E" and c[1:].isdigit()]
        next_number = 1 + max(numbers, default=0)
        # Codes follow hiring order, as they would have been issued.
        order = sorted(range(len(staff)), key=lambda i: (staff[i].hire_date, i))
        codes = {i: f"E{next_number + rank:04d}" for rank, i in enumerate(order)}
        employees = []
        for i, plan in enumerate(staff):
            local = f"{_slug(plan.person.first_name)}.{_slug(plan.person.last_name)}"
            email, n = f"{local}@{EMAIL_DOMAIN}", 2
            while email in taken_emails:
                email, n = f"{local}{n}@{EMAIL_DOMAIN}", n + 1
            taken_emails.add(email)
            employees.append(Employee(
                code=codes[i], first_name=plan.person.first_name, last_name=plan.person.last_name,
                work_email=email, position=plan.position, department_id=departments[plan.department].id,
                hire_date=plan.hire_date, employment_type=plan.employment_type.value,
                status=EmployeeStatus.ACTIVE.value,
            ))
        self.session.add_all(employees)
        await self.session.flush()
        return employees

    def _teacher_users(self, staff: list[_StaffPlan], employees: list[Employee]) -> dict[str, Employee]:
        out: dict[str, Employee] = {}
        for plan, employee in zip(staff, employees, strict=True):
            if plan.subject is None:
                continue
            base = f"{_slug(plan.person.first_name)}.{_slug(plan.person.last_name)}"
            username, n = base, 2
            while username in out:
                username, n = f"{base}{n}", n + 1
            out[username] = employee
        return out

    async def _add_users(self, staff: list[_StaffPlan],
                         employees: list[Employee]) -> tuple[dict[str, User], list[str]]:
        by_role = {plan.role_key: e for plan, e in zip(staff, employees, strict=True) if plan.role_key}
        wanted: list[tuple[str, str, str, int | None]] = [
            ("admin", "School administrator", "admin", None),
            ("principal", by_role["principal"].full_name, "admin", by_role["principal"].id),
            ("registrar", by_role["registrar"].full_name, "registrar", by_role["registrar"].id),
            ("hr", by_role["hr"].full_name, "hr", by_role["hr"].id),
            ("bursar", by_role["bursar"].full_name, "finance", by_role["bursar"].id),
        ]
        teachers = self._teacher_users(staff, employees)
        wanted += [(u, e.full_name, "teacher", e.id) for u, e in teachers.items()]
        names = [w[0] for w in wanted]
        users = {u.username: u for u in (await self.session.exec(
            select(User).where(col(User.username).in_(names)))).all()}
        created = [User(username=u, display_name=d, roles=r, employee_id=e)
                   for u, d, r, e in wanted if u not in users]
        self.session.add_all(created)
        await self.session.flush()
        users.update({u.username: u for u in created})
        return users, [u.username for u in created]

    def _monthly_salary(self, plan: _StaffPlan) -> int:
        """A full month's pay in AUD cents for `plan`'s position, years of service and working time."""
        if plan.subject is not None:
            start, step, steps = TEACHER_SCALE
            years = max(0, CONTRACT_START.year - plan.hire_date.year)
            dollars = start + step * min(years, steps) + 10 * self.rng.randrange(5)
        else:
            low, high = SALARY_BANDS[plan.role_key or ""]
            dollars = self.rng.randrange(low, high + 1, 10)
        if plan.employment_type == PT:
            dollars = int(dollars * self.rng.choice(PART_TIME_FRACTIONS) + Fraction(1, 2))
        return dollars * 100

    async def _add_contracts(self, staff: list[_StaffPlan],
                             employees: list[Employee]) -> list[EmploymentContract]:
        await payroll.ensure_default_calendar(self.session)
        structure = (await self.session.exec(select(SalaryStructure).where(
            SalaryStructure.code == PAYROLL_STRUCTURE))).first()
        if structure is None:
            structure = await payroll.create_structure(
                self.session, SYSTEM_ACTOR, code=PAYROLL_STRUCTURE, name="School staff (Australia)",
                currency=PAYROLL_CURRENCY, components=PAYROLL_COMPONENTS)
        contracts = []
        for plan, employee in zip(staff, employees, strict=True):
            contracts.append(await payroll.create_contract(
                self.session, SYSTEM_ACTOR, employee_id=employee.id or 0,
                start_date=max(CONTRACT_START, employee.hire_date), end_date=None, pay_basis=PayBasis.MONTHLY,
                base_minor=self._monthly_salary(plan), currency=PAYROLL_CURRENCY,
                salary_structure_id=structure.id or 0, department_id=employee.department_id,
                filing_status=FILING_STATUS))
        return contracts

    async def _payroll_history_fits(self) -> bool:
        """Whether the demo's paid months can be added: no payroll contracts or runs yet (a run pays every
        contract), and no payroll account in another currency (posting would refuse it)."""
        if await _count(self.session, PayrollRun) or await _count(self.session, EmploymentContract):
            return False
        for code, _, _ in payroll.PAYROLL_ACCOUNTS.values():
            account = await finance.find_account_by_code(self.session, code)
            if account is not None and account.currency != PAYROLL_CURRENCY:
                return False
        return True

    async def _add_payroll_history(self, staff: list[_StaffPlan],
                                   employees: list[Employee]) -> list[PayrollRun]:
        session, actor = self.session, SYSTEM_ACTOR
        # Staff in post for the whole history: only they take unpaid leave or get the backdated raise.
        first_day, _ = payroll.month_bounds(PAID_PERIODS[0])
        settled = [(plan, e) for plan, e in zip(staff, employees, strict=True) if e.hire_date <= first_day]
        raised = self.rng.choice([e for plan, e in settled
                                  if plan.subject is not None and plan.employment_type == FT])
        on_leave = self.rng.sample([e for _, e in settled if e.id != raised.id], self.rng.choice((2, 3)))
        for employee in on_leave:
            await payroll.record_unpaid_leave(session, actor, employee_id=employee.id or 0,
                                              period=LEAVE_PERIOD, days=Decimal(self.rng.choice((1, 2, 3))))
        await self._opening_balance()
        runs = []
        for period in PAID_PERIODS:
            # The builder is the entry point here: it approves, posts and pays as the system actor, with no
            # confirmation gate (the gate is for tools; this is seed data).
            run = await payroll.create_run(session, actor, period=period, currency=PAYROLL_CURRENCY,
                                           pay_date=payday(period))
            # compute_run only reads, so the builder's one write session serves it as well as store_run.
            await payroll.store_run(session, await payroll.compute_run(session, run.id or 0))
            await payroll.approve_run(session, actor, run.id or 0)
            await payroll.post_run(session, actor, run.id or 0)
            runs.append(await payroll.mark_run_paid(session, actor, run.id or 0))
            if period == RAISE_RECORDED_AFTER:
                contract = (await payroll.current_contracts(session, employee_ids=[raised.id or 0]))[0]
                percent = self.rng.choice((3, 4, 5))
                # In whole tens of dollars, half up, in integers (money is never a float).
                new_base = (contract.base_minor * (100 + percent) + 50_000) // 100_000 * 1000
                await payroll.change_contract(
                    session, actor, contract_number=contract.contract_number, effective_from=RAISE_FROM,
                    base_minor=new_base,
                    reason=f"annual salary review: {percent} % raise agreed in May, backdated to "
                           f"{RAISE_FROM}")
        await session.flush()
        return runs

    async def _opening_balance(self) -> None:
        """The bank's opening balance (against opening balance equity) on the first day of the history, so the
        bank account stays in credit after three months of salaries: AUD 2,000,000.00, illustrative."""
        session, actor = self.session, SYSTEM_ACTOR
        accounts = await payroll.payroll_accounts(session, actor, PAYROLL_CURRENCY)
        equity = await finance.find_account_by_code(session, OPENING_EQUITY[0])
        if equity is None:
            equity = await finance.create_account(session, actor, code=OPENING_EQUITY[0], name=OPENING_EQUITY[1],
                                                  type="equity", currency=PAYROLL_CURRENCY)
        first_day, _ = payroll.month_bounds(PAID_PERIODS[0])
        await finance.post_entry(session, actor, date=first_day, memo="Opening balance of the operating account",
                                 source="demo", idempotency_key="demo:opening-balance", currency=PAYROLL_CURRENCY,
                                 lines=[{"account_id": accounts["bank"], "debit": OPENING_BANK_MINOR},
                                        {"account_id": equity.id, "credit": OPENING_BANK_MINOR}])

    async def _fees_fit(self) -> bool:
        """Whether the demo's fees can be added: no fee schedule yet, and no fee account in another currency."""
        if await _count(self.session, FeeSchedule):
            return False
        for code, _, _ in fees.FEE_ACCOUNTS.values():
            account = await finance.find_account_by_code(self.session, code)
            if account is not None and account.currency != FEE_CURRENCY:
                return False
        return True

    def _families(self, students: list[Student]) -> list[list[Student]]:
        """Group students into families: children who share a surname and are in different year levels are
        siblings about a third of the time (at most three to a family)."""
        by_surname: dict[str, list[Student]] = {}
        for student in students:
            by_surname.setdefault(student.last_name, []).append(student)
        families: list[list[Student]] = []
        for surname in sorted(by_surname):
            open_families: list[list[Student]] = []
            for student in by_surname[surname]:
                joinable = [f for f in open_families if len(f) < 3
                            and all(m.year_level_id != student.year_level_id for m in f)]
                if joinable and self.rng.random() < 0.35:
                    joinable[0].append(student)
                else:
                    open_families.append([student])
            families.extend(open_families)
        return sorted(families, key=lambda f: min(m.code for m in f))

    async def _add_fees(self, students: list[Student], guardians: list[Guardian],
                        terms: list[Term]) -> tuple[int, int, int]:
        """Families, fee items, the two terms' schedules, discounts, Term 1's invoices, payments and one credit
        note. Returns (families, invoices, payments)."""
        session, actor, rng = self.session, SYSTEM_ACTOR, self.rng
        first_guardian: dict[int, Guardian] = {}
        for guardian in guardians:
            first_guardian.setdefault(guardian.student_id, guardian)
        families = []
        for members in self._families(students):
            eldest = min(members, key=lambda m: (m.date_of_birth, m.code))
            contact = first_guardian.get(eldest.id or 0)
            families.append(await fees.create_family(
                session, actor, name=f"{eldest.last_name} family", billing_name=contact.name if contact else None,
                billing_email=contact.email if contact else None,
                student_ids=[m.id or 0 for m in sorted(members, key=lambda m: m.code)]))
        await fees.fee_accounts(session, actor, FEE_CURRENCY)
        items = {}
        for code, name, account_code, account_name in FEE_ITEMS:
            account = await finance.find_account_by_code(session, account_code)
            if account is None:
                account = await finance.create_account(session, actor, code=account_code, name=account_name,
                                                       type="income", currency=FEE_CURRENCY)
            items[code] = await fees.create_fee_item(session, actor, code=code, name=name,
                                                     income_account_id=account.id or 0)
        levels = {level.ordinal: level.id for level in (await session.exec(select(YearLevel))).all()}
        lines = [fees.ScheduleLineInput(fee_item_id=items["TUITION"].id or 0, amount=amount,
                                        year_level_id=levels[n]) for n, amount in TUITION_BY_LEVEL.items()]
        lines += [fees.ScheduleLineInput(fee_item_id=items[code].id or 0, amount=amount)
                  for code, amount in FLAT_FEES.items()]
        schedules = [(await fees.create_fee_schedule(session, actor, code=code, name=name, term_id=term.id or 0,
                                                     currency=FEE_CURRENCY, due_date=due, lines=lines))[0]
                     for (code, name, due), term in zip(FEE_TERMS, terms, strict=True)]
        tuition = items["TUITION"].id
        await fees.create_discount(session, actor, code="SIBLING2", name="Sibling discount (second child)",
                                   kind="sibling", percent_bp=1000, fee_item_id=tuition, sibling_position=2)
        await fees.create_discount(session, actor, code="SIBLING3", name="Sibling discount (third child)",
                                   kind="sibling", percent_bp=500, fee_item_id=tuition, sibling_position=3)
        scholarship = await fees.create_discount(session, actor, code="SCHOLAR50", name="Academic scholarship",
                                                 kind="scholarship", percent_bp=5000, fee_item_id=tuition)
        staff_rate = await fees.create_discount(session, actor, code="STAFF25", name="Staff child discount",
                                                kind="other", percent_bp=2500, fee_item_id=tuition)
        awarded = rng.sample(students, SCHOLARSHIPS + STAFF_CHILDREN)
        for i, student in enumerate(awarded):
            discount = scholarship if i < SCHOLARSHIPS else staff_rate
            await fees.award_discount(session, actor, student_id=student.id or 0, discount_id=discount.id or 0)
        result = await fees.generate_invoices(session, actor, schedule_id=schedules[0].id or 0, issue=True,
                                              issue_date=INVOICE_DATE)
        payments = 0
        methods = ("bank_transfer", "bank_transfer", "direct_debit", "card", "cheque")
        credited = False
        for family in families:
            account = await fees.family_account(session, family_id=family.id or 0, currency=FEE_CURRENCY,
                                                as_of=INVOICE_DATE)
            owed, draw = account.owed, rng.random()
            plan: list[tuple[int, date]] = []
            if draw < 0.62:  # on time, in full
                plan = [(owed, INVOICE_DATE + timedelta(days=rng.randrange(2, 29)))]
            elif draw < 0.66:  # on time, a little too much: family credit
                plan = [(owed + rng.randrange(5, 21) * 1000, INVOICE_DATE + timedelta(days=rng.randrange(2, 29)))]
            elif draw < 0.80:  # in part, some twice
                first = owed * rng.randrange(30, 71) // 100 // 1000 * 1000
                plan = [(first, INVOICE_DATE + timedelta(days=rng.randrange(5, 50)))]
                if rng.random() < 0.5:
                    plan.append(((owed - first) // 2 // 1000 * 1000, date(2026, 11, 1) + timedelta(days=rng.randrange(25))))
            elif draw < 0.92:  # late, in full
                plan = [(owed, date(2026, 10, 15) + timedelta(days=rng.randrange(40)))]
            for n, (amount, day) in enumerate(plan):
                if amount <= 0:
                    continue
                await fees.record_payment(session, actor, family_id=family.id or 0, amount=amount,
                                          currency=FEE_CURRENCY, received_on=day, method=rng.choice(methods),
                                          reference=f"{family.code}-{n + 1}",
                                          idempotency_key=f"demo:payment:{family.code}:{n + 1}")
                payments += 1
            if not credited and draw < 0.62 and len(account.open_invoices) == 1:
                invoice = account.open_invoices[0].invoice
                await fees.issue_credit_note(session, actor, invoice_id=invoice.id or 0,
                                             amount=FLAT_FEES["ACTIVITIES"], on=date(2026, 11, 20),
                                             reason="Year-group excursion cancelled: the activities fee is "
                                                    "credited back")
                credited = True
        await session.flush()
        return len(families), len(result.invoice_ids), payments

    def _assign_classes(self, section_keys: list[tuple[int, str]],
                        teachers_by_subject: dict[str, list[int]]) -> dict[tuple[tuple[int, str], str], int]:
        # Each teacher takes a contiguous run of sections, so they teach one or two year levels, not all six.
        out: dict[tuple[tuple[int, str], str], int] = {}
        for code, teachers in teachers_by_subject.items():
            order = list(teachers)
            self.rng.shuffle(order)
            for index, key in enumerate(section_keys):
                out[(key, code)] = order[index * len(order) // len(section_keys)]
        return out

    def _assign_homerooms(self, section_keys: list[tuple[int, str]],
                          teacher_of: dict[tuple[tuple[int, str], str], int],
                          teachers_by_subject: dict[str, list[int]]) -> dict[tuple[int, str], int]:
        all_teachers = [t for code, _, _, _ in SUBJECTS for t in teachers_by_subject[code]]
        taken: set[int] = set()
        out: dict[tuple[int, str], int] = {}
        for key in section_keys:
            candidates = [teacher_of[(key, code)] for code, _, _, _ in SUBJECTS
                          if teacher_of[(key, code)] not in taken]
            # Fall back to any free teacher so every section still gets its own homeroom teacher.
            pool = candidates or [t for t in all_teachers if t not in taken] or all_teachers
            chosen = self.rng.choice(pool)
            taken.add(chosen)
            out[key] = chosen
        return out

    async def _add_students(self, section_keys: list[tuple[int, str]], sections: list[Section],
                            levels: dict[str, YearLevel]) -> tuple[list[Student], list[_Person]]:
        existing = (await self.session.exec(
            select(Student.code).where(col(Student.code).startswith(STUDENT_CODE_PREFIX)))).all()
        next_number = 1 + max((int(c[len(STUDENT_CODE_PREFIX):]) for c in existing
                               if c[len(STUDENT_CODE_PREFIX):].isdigit()), default=0)
        students: list[Student] = []
        people: list[_Person] = []
        for (n, _), section in zip(section_keys, sections, strict=True):
            birth_year = 2021 - n
            for _ in range(STUDENTS_PER_SECTION):
                person = self._person()
                students.append(Student(
                    code=f"{STUDENT_CODE_PREFIX}{next_number + len(students):04d}",
                    first_name=person.first_name, last_name=person.last_name,
                    date_of_birth=date(birth_year, 1, 1) + timedelta(days=self.rng.randrange(365)),
                    year_level_id=levels[f"Y{n}"].id, section_id=section.id,
                    status=StudentStatus.ENROLLED.value,
                ))
                people.append(person)
        self.session.add_all(students)
        await self.session.flush()
        return students, people

    def _guardians(self, students: list[Student], people: list[_Person]) -> list[Guardian]:
        rng = self.rng
        guardians: list[Guardian] = []
        taken_emails: set[str] = set()

        def add(student: Student, first: str, last: str, relationship: str) -> None:
            email: str | None = None
            if rng.random() < 0.93:
                domain = rng.choice(GUARDIAN_EMAIL_DOMAINS)
                local = f"{_slug(first)}.{_slug(last)}"
                email, n = f"{local}@{domain}", 2
                while email in taken_emails:
                    email, n = f"{local}{n}@{domain}", n + 1
                taken_emails.add(email)
            # 07700 900000-900999 is Ofcom's range reserved for fiction, so no real phone is ever dialled.
            phone = f"+44 7700 900{len(guardians) % 1000:03d}"
            guardians.append(Guardian(student_id=student.id, name=f"{first} {last}",
                                      relationship=relationship, phone=phone, email=email))

        for student, person in zip(students, people, strict=True):
            culture = person.culture
            draw = rng.random()
            if draw < 0.93:
                if draw < 0.80:
                    mother_last = person.last_name if rng.random() < 0.8 else rng.choice(culture.last)
                    add(student, rng.choice(culture.female), mother_last, "mother")
                if draw < 0.62 or draw >= 0.80:
                    add(student, rng.choice(culture.male), person.last_name, "father")
            else:
                female = rng.random() < 0.6
                add(student, rng.choice(culture.female if female else culture.male), rng.choice(culture.last),
                    "guardian")
        return guardians

    def _assessments(self, classes: dict[tuple[int, str], list[SchoolClass]],
                     term: Term) -> list[tuple[SchoolClass, list[tuple[Assessment, float]]]]:
        out: list[tuple[SchoolClass, list[tuple[Assessment, float]]]] = []
        for (_, letter), group in classes.items():
            # Sections of one year sit the same assessment on nearby days, not all on one.
            shift = SECTION_LETTERS.index(letter)
            for school_class, (code, _, _, _) in zip(group, SUBJECTS, strict=True):
                plan = ASSESSMENT_PLANS[code][self.rng.random() < 0.5]
                items = []
                for title, category, max_score, weight, (month, day) in plan:
                    due = _weekday_on_or_before(date(2026, month, day) + timedelta(days=shift))
                    items.append((Assessment(class_id=school_class.id, term_id=term.id, title=title,
                                             category=category, max_score_x100=max_score * 100,
                                             weight_x100=weight, due_date=due),
                                  self.rng.gauss(0.0, 0.05)))
                out.append((school_class, items))
        return out

    def _grades(self, students: list[Student], classes: dict[tuple[int, str], list[SchoolClass]],
                assessments: list[tuple[SchoolClass, list[tuple[Assessment, float]]]],
                recorder: dict[int, int]) -> list[dict[str, object]]:
        rng = self.rng
        # Score = the student's general ability + a subject strength + the assessment's difficulty + noise.
        ability = {s.id: min(0.97, max(0.3, rng.gauss(0.70, 0.12))) for s in students}
        subject_of = {c.id: c.subject_id for group in classes.values() for c in group}
        by_section: dict[int, list[Student]] = {}
        for student in students:
            by_section.setdefault(student.section_id, []).append(student)
        strength: dict[tuple[int, int], float] = {}
        grades: list[dict[str, object]] = []
        for school_class, items in assessments:
            for assessment, difficulty in items:
                max_x100 = assessment.max_score_x100
                # Half points on short tests, whole points on the 100-point exams.
                step = 50 if max_x100 <= 5000 else 100
                for student in by_section[school_class.section_id]:
                    if rng.random() < MISSING_GRADE_RATE:
                        continue
                    key = (student.id, subject_of[school_class.id])
                    if key not in strength:
                        strength[key] = rng.gauss(0.0, 0.07)
                    share = ability[student.id] + strength[key] + difficulty + rng.gauss(0.0, 0.07)
                    score = round(min(1.0, max(0.0, share)) * max_x100 / step) * step
                    score = min(max_x100, max(0, score))
                    grades.append({"assessment_id": assessment.id, "student_id": student.id,
                                   "score_x100": score,
                                   "comment": self._comment(score / max_x100, assessment.category),
                                   "locked": False, "recorded_by": recorder.get(school_class.teacher_id)})
        return grades

    def _comment(self, share: float, category: str | None) -> str | None:
        draw = self.rng.random()
        if share >= 0.95 and draw < 0.3:
            return "Excellent work."
        if share < 0.4 and draw < 0.4:
            return "Below expectations; please see me about a catch-up plan."
        if category == "homework" and draw < 0.03:
            return "Submitted late."
        return None
