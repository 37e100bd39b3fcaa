"""domain.kernel.text: the one folding of names and queries (no database)."""

from __future__ import annotations

import pytest

from domain.kernel.text import fold, like_escaped


@pytest.mark.parametrize(("text", "folded"), [
    ("Hernández", "hernandez"), ("Zoë", "zoe"), ("  Léa   BERNARD ", "lea bernard"), ("Straße", "strasse"),
    ("Ångström", "angstrom"), ("Çelik", "celik"), ("O'Neil", "o'neil"), ("ﬁona", "fiona"), ("", ""), (None, ""),
])
def test_fold_drops_case_accents_and_extra_spaces(text: str | None, folded: str) -> None:
    assert fold(text) == folded


def test_letters_that_carry_their_mark_fold_to_their_base_letter_and_folding_is_idempotent() -> None:
    assert fold(fold("Đorđe Łukasz Øystein Ærø")) == fold("Đorđe Łukasz Øystein Ærø") == "dorde lukasz oystein aero"


def test_like_wildcards_are_escaped() -> None:
    assert like_escaped("100%_a\\b") == "100\\%\\_a\\\\b"
