"""One number, however it is written (pipeline/numbers.py)."""

import pytest

from pipeline.calls.numbers import canonical, parse_number, same_number


@pytest.mark.parametrize("written", ["+8613900002222", "13900002222", "008613900002222",
                                     "+86 139 0000 2222", "139-0000-2222", "8613900002222",
                                     "(+86) 139 0000 2222"])
def test_spellings_of_a_mainland_mobile_are_one_number(written):
    n = parse_number(written)
    assert (n.canonical, n.placed, n.written) == ("+8613900002222", True, written.strip())


def test_international_numbers_are_e164():
    assert canonical("+1 (415) 555-0123") == "+14155550123"
    assert canonical("0044 20 7946 0018") == "+442079460018"


@pytest.mark.parametrize("written, stored", [("95555", "95555"), ("010-12345678", "01012345678"),
                                             ("4155550123", "4155550123")])
def test_a_number_that_cannot_be_placed_keeps_its_digits_and_says_so(written, stored):
    n = parse_number(written)
    assert (n.canonical, n.placed, n.written) == (stored, False, written)


def test_no_digits_is_no_number():
    assert canonical(None) is None and canonical("") is None and canonical("unknown") is None


def test_same_number_goes_through_the_canonical_form():
    assert same_number("008613900002222", "+86 139 0000 2222")
    assert same_number("4155550123", "+14155550123")  # country unknown on one side: last digits
    assert not same_number("13900002222", "13900002223")
    assert not same_number("12", "12") and not same_number(None, "13900002222")
