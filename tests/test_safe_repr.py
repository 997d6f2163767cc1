from __future__ import annotations

import math
import sys
from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
from types import FrameType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tripwire import repr_size
from tripwire.safe_repr import DEFAULT_MAX_LENGTH, MAX_DEPTH, safe_repr, safe_reprs, safe_str


class CountingRepr:
    calls = 0

    def __repr__(self) -> str:
        CountingRepr.calls += 1
        return "<counted>"


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class SelfRecursiveRepr:
    def __repr__(self) -> str:
        return repr(self)


class NonStrRepr:
    def __repr__(self) -> Any:
        return 42


class HugeRepr:
    def __repr__(self) -> str:
        return "h" * 1_000_000


class SurrogateRepr:
    def __repr__(self) -> str:
        return "bad \udcff here"


class BrokenStrSubclass(str):
    def __repr__(self) -> str:
        raise ValueError("broken")


class SentryRepr:
    def __sentry_repr__(self) -> str:
        return "<from __sentry_repr__>"


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_small_builtin_values_look_like_builtin_repr() -> None:
    for value in [0, -7, 2.5, True, None, 1j, "abc", b"\x00b", [1, "a"], (1,), {"k": [1, 2]}]:
        assert repr(value) == safe_repr(value)


def test_sets_and_empty_containers_look_like_builtin_repr() -> None:
    for value in [set(), frozenset(), [], (), {}, {1}, frozenset({2})]:
        assert repr(value) == safe_repr(value)


def test_nan_and_infinity_are_repr_strings() -> None:
    assert safe_repr(math.nan) == "nan"
    assert safe_repr([math.inf, -math.inf]) == "[inf, -inf]"


def test_long_string_is_cut_to_max_length_with_ellipsis() -> None:
    text = safe_repr("x" * 10_000, max_length=50)
    assert len(text) == 50
    assert text.startswith("'xxx")
    assert text.endswith("...")


def test_default_length_bounds_every_result() -> None:
    assert len(safe_repr("y" * 100_000)) == DEFAULT_MAX_LENGTH
    assert len(safe_repr(b"y" * 100_000)) == DEFAULT_MAX_LENGTH


def test_huge_list_shows_its_first_items_then_ellipsis() -> None:
    text = safe_repr(list(range(1_000_000)), max_length=100)
    assert text.startswith("[0, 1, 2, 3")
    assert text.endswith("...")
    assert len(text) <= 100


def test_huge_container_asks_only_its_first_items_for_a_repr() -> None:
    CountingRepr.calls = 0
    safe_repr([CountingRepr() for _ in range(10_000)], max_length=200)
    assert 0 < CountingRepr.calls <= 30


def test_huge_dict_shows_its_first_entries() -> None:
    text = safe_repr({f"k{i}": i for i in range(100_000)}, max_length=60)
    assert text.startswith("{'k0': 0, 'k1': 1")
    assert len(text) <= 60


def test_nested_huge_lists_are_bounded() -> None:
    text = safe_repr([[0] * 1_000_000] * 3, max_length=80)
    assert text.startswith("[[0, 0, 0")
    assert len(text) <= 80


def test_raising_repr_is_named_as_broken() -> None:
    assert safe_repr(RaisingRepr()) == "<broken repr of RaisingRepr>"


def test_infinitely_recursive_repr_is_survived() -> None:
    assert safe_repr(SelfRecursiveRepr()) == "<broken repr of SelfRecursiveRepr>"


def test_repr_returning_a_non_string_is_survived() -> None:
    assert safe_repr(NonStrRepr()) == "<broken repr of NonStrRepr>"


def test_broken_item_keeps_the_rest_of_the_container() -> None:
    assert safe_repr([1, RaisingRepr(), "x"]) == "[1, <broken repr of RaisingRepr>, 'x']"


def test_str_subclass_with_broken_repr_inside_a_list_is_walked() -> None:
    text = safe_repr([BrokenStrSubclass("a"), 2])
    assert text == "[<broken repr of BrokenStrSubclass>, 2]"


def test_huge_custom_repr_is_cut() -> None:
    assert len(safe_repr(HugeRepr(), max_length=30)) == 30


def test_cyclic_list_and_dict_are_marked() -> None:
    items: list[object] = [1]
    items.append(items)
    mapping: dict[str, object] = {"a": 1}
    mapping["self"] = mapping
    assert safe_repr(items) == "[1, <cyclic>]"
    assert safe_repr(mapping) == "{'a': 1, 'self': <cyclic>}"


def test_non_string_keys_are_repr_d() -> None:
    assert safe_repr({1: "a", (2, 3): None, None: b"x"}) == "{1: 'a', (2, 3): None, None: b'x'}"


def test_containers_nested_deeper_than_max_depth_are_elided() -> None:
    value: object = 1
    for _ in range(MAX_DEPTH + 3):
        value = [value]
    text = safe_repr(value)
    assert text.startswith("[" * MAX_DEPTH + "[...]")


def test_huge_int_is_described_not_converted() -> None:
    assert safe_repr(10**10_000) == "<int of 33220 bits>"


def test_lone_surrogates_are_escaped() -> None:
    assert safe_repr("\udcff") == "'\\udcff'"
    text = safe_repr(SurrogateRepr())
    assert is_utf8(text)
    assert text == "bad \\udcff here"


def test_custom_repr_is_tried_first() -> None:
    def custom(value: object) -> str | None:
        return "<secret>" if isinstance(value, str) else None

    assert safe_repr(["pw", 2], custom_repr=custom) == "[<secret>, 2]"


def test_raising_custom_repr_falls_back_to_repr() -> None:
    def custom(value: object) -> str | None:
        raise RuntimeError("nope")

    assert safe_repr([1, "a"], custom_repr=custom) == "[1, 'a']"


def test_sentry_repr_hook_is_used() -> None:
    assert safe_repr(SentryRepr()) == "<from __sentry_repr__>"


def test_collections_keep_their_names() -> None:
    assert safe_repr(deque([1, 2])) == "deque([1, 2])"
    assert safe_repr(OrderedDict(a=1)) == "OrderedDict({'a': 1})"
    assert safe_repr(defaultdict(int, a=1)) == "defaultdict({'a': 1})"
    assert safe_repr(Counter("aa")) == "Counter({'a': 2})"


def test_namedtuple_uses_its_own_repr_and_list_subclass_is_walked() -> None:
    point = namedtuple("Point", "x y")

    class MyList(list[int]):
        pass

    assert safe_repr(point(1, 2)) == "Point(x=1, y=2)"
    assert safe_repr(MyList([1, 2])) == "[1, 2]"


def test_tiny_max_length_is_respected() -> None:
    assert safe_repr("abc", max_length=1) == "'"
    assert len(safe_repr(list(range(100)), max_length=4)) == 4


def test_safe_str_falls_back_to_repr_when_str_raises() -> None:
    class BadStr:
        def __str__(self) -> str:
            raise ValueError("x")

        def __repr__(self) -> str:
            return "<BadStr>"

    assert safe_str(BadStr()) == "<BadStr>"
    assert safe_str("ok") == "ok"


class Hostile:
    """An object whose every protocol misbehaves in one of a few ways."""

    def __init__(self, mode: int) -> None:
        self.mode = mode

    def __repr__(self) -> Any:
        if self.mode == 0:
            raise RuntimeError("repr")
        if self.mode == 1:
            return repr(self)
        if self.mode == 2:
            return b"bytes"
        if self.mode == 3:
            return "\ud800" * 3
        return "z" * 5000

    def __hash__(self) -> int:
        return self.mode

    def __eq__(self, other: object) -> bool:
        return self is other


leaves = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=4).map(Hostile),
    st.sampled_from([7, 7**100, 7**1_000, 7**3_000, -(7**500)]),
)
hashable = st.one_of(st.integers(), st.text(), st.none(), st.integers(0, 4).map(Hostile))
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=12),
        st.lists(children, max_size=6).map(tuple),
        st.dictionaries(hashable, children, max_size=8),
        st.frozensets(hashable, max_size=6),
        st.lists(children, max_size=6).map(deque),
    ),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(value=values, max_length=st.integers(min_value=1, max_value=2000))
def test_any_value_gives_a_bounded_utf8_string(value: object, max_length: int) -> None:
    text = safe_repr(value, max_length)
    assert isinstance(text, str)
    assert len(text) <= max_length
    assert is_utf8(text)


@settings(max_examples=100, deadline=None)
@given(value=values)
def test_cyclic_values_terminate(value: object) -> None:
    holder: list[object] = [value]
    holder.append(holder)
    wrapper = {"holder": holder, "value": value}
    wrapper["again"] = wrapper
    assert len(safe_repr(wrapper, 300)) <= 300


def test_values_under_secret_looking_keys_are_filtered() -> None:
    text = safe_repr({"user": "ann", "Password": "hunter2", "nested": {"api_key": "k-123"}})
    assert text == "{'user': 'ann', 'Password': [Filtered], 'nested': {'api_key': [Filtered]}}"


def test_secret_header_pairs_are_filtered() -> None:
    headers = [(b"host", b"example.org"), (b"authorization", b"Bearer hunter2"), ("Cookie", "s=1")]
    text = safe_repr({"type": "http", "headers": headers})
    assert "hunter2" not in text
    assert "s=1" not in text
    assert "(b'host', b'example.org')" in text
    assert "(b'authorization', [Filtered])" in text


def test_secret_keys_are_filtered_in_huge_dicts_too() -> None:
    mapping: dict[str, object] = {"session_id": "abc"}
    mapping.update({f"k{i}": i for i in range(10_000)})
    assert safe_repr(mapping, max_length=60).startswith("{'session_id': [Filtered], 'k0': 0")


def test_ordinary_keys_are_not_filtered() -> None:
    mapping = {"keyboard": 1, "monkey": 2, "processor": 3, "inside": 4}
    assert safe_repr(mapping) == repr(mapping)


def test_client_address_headers_are_filtered() -> None:
    headers = [(b"x-real-ip", b"198.51.100.23"), (b"x-forwarded-for", b"198.51.100.24")]
    text = safe_repr({"headers": headers, "REMOTE_ADDR": "198.51.100.25"})
    assert "198.51.100" not in text


def test_a_set_is_not_taken_for_a_name_value_pair() -> None:
    assert safe_repr(frozenset({"token"})) == "frozenset({'token'})"
    text = safe_repr(deque([("x", 1), ("password", "hunter2")]))
    assert "hunter2" not in text


class HostileMeta(type):
    def __hash__(cls) -> int:
        raise RuntimeError("no hash")

    def __eq__(cls, other: object) -> bool:
        raise RuntimeError("no eq")

    def __getattribute__(cls, name: str) -> Any:
        raise RuntimeError("no attributes")


class HostileClass(metaclass=HostileMeta):
    pass


def test_a_class_with_a_hostile_metaclass_is_survived_in_place() -> None:
    assert safe_repr(HostileClass()) == "<broken repr of object>"
    assert safe_repr([HostileClass(), 1]) == "[<broken repr of object>, 1]"
    assert safe_repr({"a": [HostileClass()]}) == "{'a': [<broken repr of object>]}"


def test_keys_with_a_hostile_eq_do_not_stop_the_filter() -> None:
    class Key:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise ValueError("no eq")

    text = safe_repr({Key(): 1, "password": "hunter2"})
    assert "hunter2" not in text
    assert text.endswith("'password': [Filtered]}")


def _estimate_calls(value: object) -> tuple[str, int]:
    """safe_repr(value) and how many times it sized a nested container."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is repr_size.estimate.__code__:
            calls += 1

    sys.setprofile(count)
    try:
        text = safe_repr(value)
    finally:
        sys.setprofile(None)
    return text, calls


def test_a_huge_nested_list_is_sized_only_until_it_is_known_to_be_too_long() -> None:
    row = [0] * 200
    cube = [[list(row) for _ in range(200)] for _ in range(200)]  # 8 million items
    text, calls = _estimate_calls(cube)
    assert text.startswith("[[[0, 0, 0")
    assert len(text) == DEFAULT_MAX_LENGTH
    assert calls < 50


def test_a_nested_list_shared_many_times_is_sized_only_until_it_is_known_to_be_too_long() -> None:
    plane = [[0] * 256] * 256  # one row, 256 times: 256 ** 3 items shown, few objects
    text, calls = _estimate_calls([plane] * 256)
    assert text.endswith("...")
    assert calls < 50


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.text(max_size=8), values), max_size=8),
    max_length=st.sampled_from([1, 20, 63, 64, 200, DEFAULT_MAX_LENGTH]),
)
def test_reprs_of_many_values_are_each_value_s_safe_repr(
    pairs: list[tuple[str, object]], max_length: int
) -> None:
    expected = {name: safe_repr(value, max_length) for name, value in pairs}
    assert safe_reprs(pairs, max_length) == expected


def test_reprs_of_many_values_filter_secrets_and_survive_hostile_values() -> None:
    pairs = [
        ("form", {"user": "ann", "password": "hunter2"}),
        ("header", ("Authorization", "Bearer abc")),
        ("broken", Hostile(0)),
        ("big", 7**3_000),
        ("text", "x" * 5_000),
    ]
    reprs = safe_reprs(pairs)
    assert reprs["form"] == "{'user': 'ann', 'password': [Filtered]}"
    assert reprs["header"] == "('Authorization', [Filtered])"
    assert reprs["broken"] == "<broken repr of Hostile>"
    assert reprs["big"] == safe_repr(7**3_000)
    assert len(reprs["text"]) == DEFAULT_MAX_LENGTH
