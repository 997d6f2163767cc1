"""Secret shapes: each cheap necessary condition must hold for every secret its pattern finds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.options import Options
from tripwire.scrubber import DEFAULT_VALUE_PATTERNS, FILTERED, EventScrubber
from tripwire.secrets import ValueShapes, is_card_number
from tripwire.serializer import serialize_event

SHAPES = ValueShapes(DEFAULT_VALUE_PATTERNS)
CARD = "4111111111111111"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def scrubbed_strings(*texts: str, scrubber: EventScrubber | None = None) -> list[str]:
    """Scrub ``texts`` as the values of an event's ``extra`` and frame locals."""
    source: dict[str, Any] = {
        "event_id": "5f0c9b7e2d8a4c1e9b3a7d6f1e2c4b8a",
        "timestamp": 1714564800.25,
        "platform": "python",
        "extra": {f"v{index}": text for index, text in enumerate(texts)},
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "f",
                                "lineno": 1,
                                "vars": {f"v{index}": t for index, t in enumerate(texts)},
                            }
                        ]
                    },
                }
            ]
        },
    }
    event: dict[str, Any] = serialize_event(source, Options())  # type: ignore[arg-type, assignment]
    (scrubber or EventScrubber()).scrub_event(event)  # type: ignore[arg-type]
    assert_valid_event(event)
    local_vars = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    found = [event["extra"][f"v{index}"] for index in range(len(texts))]
    assert found == [local_vars[f"v{index}"] for index in range(len(texts))]
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amex 3782 822463 10005 paid", f"amex {FILTERED} paid"),  # 4-6-5 groups
        ("4111 1111-1111 1111", FILTERED),  # mixed separators
        ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", FILTERED),  # a separator after each digit
        (f"{CARD}", FILTERED),
        (f"x {CARD}", f"x {FILTERED}"),
        (f"{CARD}.5", f"{CARD}.5"),  # a decimal, not a card
        (f"v1.{CARD}", f"v1.{CARD}"),
        ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn
    ],
)
def test_card_numbers_are_found_however_their_digits_are_grouped(text: str, expected: str) -> None:
    assert scrubbed_strings(text) == [expected]


def test_a_card_among_long_digit_runs_that_are_no_cards_is_found() -> None:
    stamps = " ".join(str(1714564800250731 + step) for step in range(30))
    found = scrubbed_strings(stamps, f"{stamps} {CARD}", "10167460866457")

    assert found == [stamps, f"{stamps} {FILTERED}", "10167460866457"]


@pytest.mark.parametrize("word", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_tokens_are_found_in_any_case(word: str) -> None:
    assert scrubbed_strings(f"Authorization: {word} abc.def-123456") == [
        f"Authorization: {word} {FILTERED}"
    ]


def test_secrets_after_many_look_alike_characters_are_found() -> None:
    """Past many anchors that start no literal, the literals themselves are searched."""
    noise = "A g k x - J @ V I b " * 40
    secrets = [AWS_KEY, "ghp_" + "a" * 36, "xoxb-" + "1" * 12, "sk-" + "f" * 40,
               "glpat-" + "c" * 20, "Bearer abcdefgh12"]  # fmt: skip
    found = scrubbed_strings(*(f"{noise}{secret}" for secret in secrets))

    assert [text[len(noise) :] for text in found] == [FILTERED] * 5 + [f"Bearer {FILTERED}"]


def test_secrets_after_wide_characters_and_nul_are_found_where_they_are() -> None:
    found = scrubbed_strings("😀\x00İ" * 20, f"😀\x00{CARD}", f"İ{AWS_KEY}", "plain")

    assert found == ["😀\x00İ" * 20, f"😀\x00{FILTERED}", f"İ{FILTERED}", "plain"]


def test_a_string_repeated_in_an_event_is_replaced_everywhere() -> None:
    assert scrubbed_strings(f"key {AWS_KEY}", f"key {AWS_KEY}") == [f"key {FILTERED}"] * 2


def test_a_value_seen_clean_does_not_hide_a_secret_in_the_next_event() -> None:
    scrubber = EventScrubber()
    assert scrubbed_strings("plain", "token-free", scrubber=scrubber) == ["plain", "token-free"]

    found = scrubbed_strings("plain", f"now {CARD}", scrubber=scrubber)

    assert found == ["plain", f"now {FILTERED}"]


def test_user_patterns_are_matched_against_each_string_alone() -> None:
    scrubber = EventScrubber(value_patterns=[re.compile(r"^EMP-\d{6}$")])

    found = scrubbed_strings("first", "EMP-123456", "x EMP-654321", scrubber=scrubber)

    assert found == ["first", FILTERED, "x EMP-654321"]


def test_card_numbers_are_ascii_digits() -> None:
    assert is_card_number(CARD)
    assert not is_card_number("٤١١١١١١١١١١١١١١١")  # Arabic-Indic digits
    assert SHAPES.replace("٤١١١١١١١١١١١١١١١") is None


def test_adjacent_secrets_are_replaced_in_turn() -> None:
    """A secret replaced can end where the next one needs a word boundary."""
    assert SHAPES.replace("sk_live_" + "d" * 16 + "ghp_" + "a" * 36) == (
        f"{FILTERED}{FILTERED}",
        [["!config", "s", 0, 10], ["!config", "s", 10, 20]],
    )


_PIECES = st.sampled_from(
    [CARD, "3782 822463 10005", "4111-1111", " ", "-", ".", "7", "\x00", "😀", "A", AWS_KEY,
     "@", "://u:p@h", "bEaReR abcdefgh12", "eyJ", "ghp_" + "a" * 36, "x", "1714564800250731"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.lists(_PIECES).map("".join) | st.text(max_size=20), max_size=5))
def test_the_strings_found_are_exactly_those_an_exact_search_changes(texts: list[str]) -> None:
    exact = {text for text in texts if SHAPES.replace(text) is not None}

    assert SHAPES.found(texts) == exact


def test_digits_next_to_a_dot_are_not_reported_as_a_card() -> None:
    assert SHAPES.found([f"{CARD}.5", f"v1.{CARD}", f"{CARD} "]) == {f"{CARD} "}


def test_every_string_holding_a_secret_is_found_among_look_alikes() -> None:
    emails = [f"user{index}@example.com" for index in range(60)]
    texts = [*emails, "postgres://app:pw@db/x", *emails[:5], f"{CARD} {CARD}", f"x {CARD}"]
    texts += [f"{AWS_KEY} {AWS_KEY}", f"y {AWS_KEY}", "AAAA" * 100, f"z {AWS_KEY}"]

    assert SHAPES.found(texts) == {
        "postgres://app:pw@db/x", f"{CARD} {CARD}", f"x {CARD}",
        f"{AWS_KEY} {AWS_KEY}", f"y {AWS_KEY}", f"z {AWS_KEY}",
    }  # fmt: skip
