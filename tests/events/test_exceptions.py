from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.events.exceptions import (
    MAX_EXCEPTIONS,
    event_from_exception,
    exc_info_from_error,
    exceptions_from_error,
)
from tripwire.events.pending import finish_reprs
from tripwire.options import Options

OPTIONS = Options(project_root="/nowhere", include_local_variables=False)

needs_groups = pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is 3.11+")


class PaymentFailed(Exception):
    class Declined(Exception):
        pass


def raised(make: Any) -> BaseException:
    """Raise what ``make()`` raises and return it, traceback attached."""
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


def wrap(values: list[dict[str, Any]]) -> dict[str, Any]:
    event = {"event_id": uuid4().hex, "platform": "python", "level": "error"}
    return {**event, "exception": {"values": values}}


def mechanisms(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [value["mechanism"] for value in values]


def raise_from(outer: BaseException, inner: BaseException) -> None:
    raise outer from inner


def raise_while_handling(outer: BaseException, inner: BaseException) -> None:
    try:
        raise inner
    except BaseException:
        raise outer  # noqa: B904 (the implicit __context__ is what is tested)


def test_single_exception_has_type_value_and_generic_handled_mechanism() -> None:
    [value] = exceptions_from_error(raised(lambda: {}["k"]), OPTIONS)
    assert value["type"] == "KeyError"
    assert value["value"] == "'k'"
    assert "module" not in value
    assert value["mechanism"] == {"type": "generic", "handled": True}
    assert value["stacktrace"]["frames"][-1]["function"].endswith("<lambda>")


def test_type_is_the_qualified_name_and_module_is_kept_for_non_builtins() -> None:
    [value] = exceptions_from_error(PaymentFailed.Declined("no"), OPTIONS)
    assert value["type"] == "PaymentFailed.Declined"
    assert __name__ == value["module"]


def test_never_raised_exception_has_no_stacktrace() -> None:
    [value] = exceptions_from_error(ValueError("x"), OPTIONS)
    assert "stacktrace" not in value


def test_cause_chain_is_listed_oldest_first_with_parent_ids() -> None:
    error = raised(lambda: raise_from(PaymentFailed("charge"), ConnectionError("refused")))
    values = exceptions_from_error(error, OPTIONS)
    assert [v["type"] for v in values] == ["ConnectionError", "PaymentFailed"]
    assert values[0]["mechanism"] == {
        "type": "chained",
        "handled": True,
        "exception_id": 1,
        "parent_id": 0,
        "source": "__cause__",
    }
    assert values[1]["mechanism"] == {"type": "generic", "handled": True, "exception_id": 0}


def test_each_exception_carries_only_its_own_frames() -> None:
    def inner() -> None:
        raise ConnectionError("refused")

    def outer() -> None:
        try:
            inner()
        except ConnectionError as exc:
            raise PaymentFailed("x") from exc

    values = exceptions_from_error(raised(outer), OPTIONS)
    cause_functions = [f["function"] for f in values[0]["stacktrace"]["frames"]]
    assert cause_functions[-1].endswith("inner")
    assert not any(f.endswith("raised") for f in cause_functions)
    assert values[1]["stacktrace"]["frames"][0]["function"] == "raised"


def test_context_is_followed_when_there_is_no_cause() -> None:
    error = raised(lambda: raise_while_handling(TypeError("t"), ValueError("v")))
    values = exceptions_from_error(error, OPTIONS)
    assert [v["type"] for v in values] == ["ValueError", "TypeError"]
    assert values[0]["mechanism"]["source"] == "__context__"


def test_raise_from_none_hides_the_context() -> None:
    def suppressed() -> None:
        try:
            raise ValueError("hidden")
        except ValueError:
            raise TypeError("shown") from None

    values = exceptions_from_error(raised(suppressed), OPTIONS)
    assert [v["type"] for v in values] == ["TypeError"]


def test_long_chain_numbers_every_exception_with_its_parent() -> None:
    error: BaseException = ValueError("0")
    for index in range(1, 4):
        outer = ValueError(str(index))
        outer.__cause__ = error
        error = outer
    values = exceptions_from_error(error, OPTIONS)
    assert [v["value"] for v in values] == ["0", "1", "2", "3"]
    assert [(m["exception_id"], m["parent_id"]) for m in mechanisms(values)[:3]] == [
        (3, 2),
        (2, 1),
        (1, 0),
    ]


def test_cyclic_chain_terminates() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__ = second
    second.__context__ = first
    values = exceptions_from_error(first, OPTIONS)
    assert [v["value"] for v in values] == ["b", "a"]


def test_huge_chain_is_capped() -> None:
    error: BaseException = ValueError("root")
    for index in range(10_000):
        outer = ValueError(str(index))
        outer.__context__ = error
        error = outer
    values = exceptions_from_error(error, OPTIONS)
    assert len(values) == MAX_EXCEPTIONS
    assert values[-1]["value"] == "9999"


@needs_groups
def test_exception_group_tree_matches_event_md_with_fixed_parent_ids() -> None:
    """event.md §3.2's example, except that ValueError's parent is TypeError (id 1)."""
    type_error = raised(lambda: raise_from(TypeError("t"), ValueError("v")))

    def raise_group() -> None:
        try:
            raise type_error
        except TypeError:
            raise ExceptionGroup("group msg", [type_error, OSError(2, "no file")])  # noqa: B904, F821

    values = exceptions_from_error(raised(raise_group), OPTIONS)
    assert [v["type"] for v in values] == [
        "FileNotFoundError",
        "ValueError",
        "TypeError",
        "ExceptionGroup",
    ]
    assert values[0]["mechanism"] == {
        "type": "chained",
        "handled": True,
        "exception_id": 3,
        "source": "exceptions[1]",
        "parent_id": 0,
        "meta": {"errno": {"number": 2}},
    }
    assert {"exception_id": 2, "parent_id": 1, "source": "__cause__"}.items() <= values[1][
        "mechanism"
    ].items()
    assert {"exception_id": 1, "parent_id": 0, "source": "__context__"}.items() <= values[2][
        "mechanism"
    ].items()
    assert values[3]["mechanism"] == {
        "type": "generic",
        "handled": True,
        "exception_id": 0,
        "is_exception_group": True,
    }
    assert_valid_event(wrap(values))


@needs_groups
def test_nested_groups_point_at_their_own_parent() -> None:
    inner = ExceptionGroup("inner", [KeyError("k")])  # noqa: F821
    outer = ExceptionGroup("outer", [ValueError("v"), inner])  # noqa: F821
    values = exceptions_from_error(outer, OPTIONS)
    by_type = {v["type"]: v["mechanism"] for v in values}
    assert by_type["ValueError"]["parent_id"] == 0
    assert by_type["ExceptionGroup"]["exception_id"] == 0  # the last one with this type wins
    assert by_type["KeyError"]["parent_id"] == next(
        m["exception_id"] for m in mechanisms(values) if m.get("source") == "exceptions[1]"
    )
    assert by_type["KeyError"]["source"] == "exceptions[0]"


@needs_groups
def test_huge_group_is_capped() -> None:
    group = ExceptionGroup("many", [ValueError(str(i)) for i in range(5_000)])  # noqa: F821
    values = exceptions_from_error(group, OPTIONS)
    assert len(values) == MAX_EXCEPTIONS
    assert values[-1]["type"] == "ExceptionGroup"


@needs_groups
def test_group_inside_a_plain_chain_lists_its_members() -> None:
    group = ExceptionGroup("g", [KeyError("k")])  # noqa: F821
    error = raised(lambda: raise_from(RuntimeError("outer"), group))
    values = exceptions_from_error(error, OPTIONS)
    assert [v["type"] for v in values] == ["KeyError", "ExceptionGroup", "RuntimeError"]


def test_notes_are_appended_one_per_line() -> None:
    error = ValueError("bad input")
    error.__notes__ = ["while parsing row 3", 42]  # type: ignore[attr-defined]
    [value] = exceptions_from_error(error, OPTIONS)
    assert value["value"] == "bad input\nwhile parsing row 3\n42"


def test_value_comes_from_str_not_message_or_detail() -> None:
    class ApiError(Exception):
        message = "from .message"
        detail = "from .detail"

        def __str__(self) -> str:
            return "from str"

    [value] = exceptions_from_error(ApiError(), OPTIONS)
    assert value["value"] == "from str"


def test_broken_str_is_survived() -> None:
    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    [value] = exceptions_from_error(raised(lambda: (_ for _ in ()).throw(Hostile())), OPTIONS)
    assert value["value"] == "<broken repr of test_broken_str_is_survived.<locals>.Hostile>"
    assert_valid_event(wrap([value]))


def test_hostile_errno_and_notes_attributes_are_ignored() -> None:
    class Weird(OSError):
        @property
        def __notes__(self) -> list[str]:
            raise RuntimeError("notes")

    error = Weird("not a number", "x")
    [value] = exceptions_from_error(error, OPTIONS)
    assert "meta" not in value["mechanism"]
    assert value["value"] == "[Errno not a number] x"


def test_errno_of_other_exceptions_is_read_as_getattr_would() -> None:
    class WithClassErrno(ValueError):
        errno = 5

    class WithProperty(ValueError):
        @property
        def errno(self) -> int:
            return 7

    own = ValueError("x")
    own.errno = 3  # type: ignore[attr-defined]
    errnos = [
        exceptions_from_error(error, OPTIONS)[0]["mechanism"].get("meta", {}).get("errno")
        for error in (ValueError("x"), WithClassErrno("x"), WithProperty("x"), own)
    ]
    assert errnos == [None, {"number": 5}, {"number": 7}, {"number": 3}]


def test_errno_goes_into_mechanism_meta_next_to_given_meta() -> None:
    mechanism = {"type": "excepthook", "handled": False, "meta": {"signal": {"number": 9}}}
    [value] = exceptions_from_error(ConnectionRefusedError(111, "refused"), OPTIONS, mechanism)
    assert value["mechanism"]["meta"] == {"signal": {"number": 9}, "errno": {"number": 111}}
    assert mechanism["meta"] == {"signal": {"number": 9}}  # the caller's dict is untouched


def test_given_mechanism_is_copied_to_every_member() -> None:
    error = raised(lambda: raise_from(PaymentFailed("x"), ValueError("y")))
    mechanism = {"type": "excepthook", "handled": False}
    values = exceptions_from_error(error, OPTIONS, mechanism)
    assert [m["handled"] for m in mechanisms(values)] == [False, False]
    assert [m["type"] for m in mechanisms(values)] == ["chained", "excepthook"]
    assert mechanism == {"type": "excepthook", "handled": False}


def test_exc_info_from_error_accepts_exceptions_and_tuples() -> None:
    error = raised(lambda: 1 / 0)
    assert (ZeroDivisionError, error, error.__traceback__) == exc_info_from_error(error)
    assert (ZeroDivisionError, error, None) == exc_info_from_error((None, error, None))


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ("text", TypeError),
        ((None, None, None), ValueError),
        ((1, 2, 3), TypeError),
        ((1,), TypeError),
    ],
)
def test_exc_info_from_error_rejects_other_values(bad: Any, kind: type[Exception]) -> None:
    with pytest.raises(kind):
        exc_info_from_error(bad)


def test_event_from_exception_builds_an_error_event_and_hint(
    shop: ModuleType, tmp_path: Path
) -> None:
    error = raised(lambda: shop.pay(3))
    options = Options(project_root=str(tmp_path))
    event, hint = event_from_exception(error, options)
    assert event["level"] == "error"
    [value] = event["exception"]["values"]
    assert value["type"] == "ConnectionRefusedError"
    assert value["mechanism"]["meta"]["errno"] == {"number": 111}
    assert (ConnectionRefusedError, error, error.__traceback__) == hint["exc_info"]
    frames = value["stacktrace"]["frames"]
    assert frames[-1]["in_app"] is True
    finish_reprs(event)  # type: ignore[arg-type]  # the worker's step
    assert frames[-1]["vars"]["token"] == "'tttttttttt'"
    normalized = assert_valid_event({**wrap(event["exception"]["values"])})
    assert normalized["exception"]["values"][0]["type"] == "ConnectionRefusedError"


def test_event_from_exc_info_uses_the_tuples_traceback() -> None:
    first = raised(lambda: 1 / 0)
    second = raised(lambda: [][1])
    event, _ = event_from_exception((type(second), second, first.__traceback__), OPTIONS)
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames[-1]["context_line"].strip().endswith("1 / 0)")


def test_full_stack_option_prepends_callers() -> None:
    error = raised(lambda: 1 / 0)
    plain = exceptions_from_error(error, OPTIONS)[0]["stacktrace"]["frames"]
    options = Options(project_root="/nowhere", include_local_variables=False, add_full_stack=True)
    full = exceptions_from_error(error, options)[0]["stacktrace"]["frames"]
    assert len(full) > len(plain)
    assert [f["function"] for f in plain] == [f["function"] for f in full[-len(plain) :]]


messages = st.text() | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape"))


@settings(max_examples=100, deadline=None)
@given(
    message=messages, notes=st.lists(messages, max_size=3), errno=st.none() | st.integers(0, 200)
)
def test_any_message_gives_a_valid_event(message: str, notes: list[str], errno: int | None) -> None:
    error = OSError(errno, message) if errno is not None else ValueError(message)
    error.__notes__ = notes  # type: ignore[attr-defined]
    event, _ = event_from_exception(raised(lambda: (_ for _ in ()).throw(error)), OPTIONS)
    assert_valid_event(wrap(event["exception"]["values"]))


@st.composite
def exception_trees(draw: st.DrawFn) -> BaseException:
    """Exceptions linked at random by causes, contexts and (on 3.11+) groups, cycles included."""
    count = draw(st.integers(min_value=1, max_value=12))
    pool: list[BaseException] = [ValueError(str(index)) for index in range(count)]
    for exc in pool:
        link = draw(st.sampled_from([None, *pool]))
        if draw(st.booleans()):
            exc.__cause__ = link
        else:
            exc.__context__ = link
    if sys.version_info >= (3, 11) and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5))
        group = ExceptionGroup("g", members)  # noqa: F821
        group.__context__ = draw(st.sampled_from(pool))
        return group
    return draw(st.sampled_from(pool))


@settings(max_examples=150, deadline=None)
@given(error=exception_trees())
def test_any_exception_tree_gives_a_consistent_valid_list(error: BaseException) -> None:
    values = exceptions_from_error(error, OPTIONS)
    assert 1 <= len(values) <= MAX_EXCEPTIONS
    assert values[-1]["value"] == str(error)
    if len(values) > 1:
        ids = [m["exception_id"] for m in mechanisms(values)]
        assert sorted(ids) == list(range(len(values)))
        assert values[-1]["mechanism"]["exception_id"] == 0
        for mechanism in mechanisms(values)[:-1]:
            assert mechanism["parent_id"] in ids
            assert mechanism["parent_id"] < mechanism["exception_id"]
    assert_valid_event(wrap(values))


def test_exception_with_hostile_attribute_access_is_captured() -> None:
    class Hostile(Exception):
        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

    def fail() -> None:
        try:
            raise KeyError("inner")
        except KeyError:
            raise Hostile("outer")  # noqa: B904

    event, hint = event_from_exception(raised(fail), OPTIONS)
    assert hint["exc_info"][2] is not None
    values = event["exception"]["values"]
    assert [v["type"] for v in values] == [
        "KeyError",
        "test_exception_with_hostile_attribute_access_is_captured.<locals>.Hostile",
    ]
    assert values[-1]["stacktrace"]["frames"][-1]["function"].endswith("fail")
    assert_valid_event(wrap(values))


def test_exception_class_with_hostile_metaclass_is_named() -> None:
    class Meta(type):
        def __getattribute__(cls, name: str) -> Any:
            raise RuntimeError(f"no {name}")

    class Odd(Exception, metaclass=Meta):
        pass

    [value] = exceptions_from_error(Odd("x"), OPTIONS)
    assert value["type"].endswith("Odd")
    assert value["module"] == __name__
