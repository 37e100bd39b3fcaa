"""compute_run lowers the interpreter's switch interval while a run computes, and puts it back after."""

from __future__ import annotations

import sys

import pytest

from domain.payroll import service


def test_switch_interval_lowered_while_computing_and_restored() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        with service._prompt_gil_switching():
            assert sys.getswitchinterval() == pytest.approx(service.SWITCH_INTERVAL_S, rel=0.05)
            with service._prompt_gil_switching():  # a second run at once shares the lowering
                assert sys.getswitchinterval() == pytest.approx(service.SWITCH_INTERVAL_S, rel=0.05)
            assert sys.getswitchinterval() == pytest.approx(service.SWITCH_INTERVAL_S, rel=0.05)
        assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.05)
    finally:
        sys.setswitchinterval(before)


def test_switch_interval_restored_after_an_error() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        with pytest.raises(RuntimeError), service._prompt_gil_switching():
            raise RuntimeError("a batch failed")
        assert sys.getswitchinterval() == pytest.approx(0.004, rel=0.05)
    finally:
        sys.setswitchinterval(before)


def test_a_lower_interval_is_kept() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.0001)
        with service._prompt_gil_switching():
            assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.05)
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.05)
    finally:
        sys.setswitchinterval(before)
