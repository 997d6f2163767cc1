from __future__ import annotations

import json
import math
from collections import OrderedDict, deque
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.converter import (
    CYCLIC,
    MAX_DATABAG_BREADTH,
    MAX_DATABAG_DEPTH,
    MAX_DATABAG_ITEMS,
)
from tripwire.meta import merge_meta
from tripwire.options import Options
from tripwire.serializer import serialize_event
from tripwire.types import Event

EVENT_ID = "5f0c9b7e2d8a4c1e9b3a7d6f1e2c4b8a"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def base_event(**fields: Any) -> Event:
    event: dict[str, Any] = {
        "event_id": EVENT_ID,
        "timestamp": 1714564800.25,
        "platform": "python",
        "level": "error",
        "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "b7ad6b7169203331"}},
    }
    event.update(fields)
    return event  # type: ignore[return-value]


def serialized(event: Event, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = serialize_event(event, Options(**options))  # type: ignore[assignment]
    json.dumps(result, allow_nan=False)  # JSON-safe, or this raises
    assert_valid_event(result)
    return result


def frame(index: int, **fields: Any) -> dict[str, Any]:
    return {
        "filename": f"app/mod{index}.py",
        "abs_path": f"/srv/app/mod{index}.py",
        "function": f"handler{index}",
        "module": f"app.mod{index}",
        "lineno": index + 1,
        "context_line": "    return charge(order)",
        "pre_context": ["def handler(order):"],
        "post_context": [],
        "vars": {"order": "<Order id=17>", "amount": "4200"},
        "in_app": True,
        **fields,
    }


def exception_event(frames: list[dict[str, Any]]) -> Event:
    return base_event(
        exception={
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad",
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {"frames": frames},
                }
            ]
        }
    )


class Point:
    def __repr__(self) -> str:
        return "Point(1, 2)"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class SentryRepr:
    def __sentry_repr__(self) -> str:
        return "<shown by __sentry_repr__>"


def test_python_values_become_json_values() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 250731, tzinfo=timezone(timedelta(hours=2)))
    event = serialized(
        base_event(
            extra={
                "bytes": b"caf\xc3\xa9 \xff",
                "when": moment,
                "set": {3},
                "tuple": (1, "a"),
                "nan": math.nan,
                "inf": -math.inf,
                "keys": {1: "int", (1, 2): "tuple", None: "none"},
                "object": Point(),
                "sentry": SentryRepr(),
                "deque": deque([1, 2]),
                "ordered": OrderedDict(a=1),
            }
        )
    )
    extra = event["extra"]
    assert extra["bytes"] == "café \ufffd"
    assert extra["when"] == "2024-05-01T12:00:00.250731Z"
    assert extra["set"] == [3]
    assert extra["tuple"] == [1, "a"]
    assert extra["nan"] == "nan"
    assert extra["inf"] == "-inf"
    assert extra["keys"] == {"1": "int", "(1, 2)": "tuple", "None": "none"}
    assert extra["object"] == "Point(1, 2)"
    assert extra["sentry"] == "<shown by __sentry_repr__>"
    assert extra["deque"] == [1, 2]
    assert extra["ordered"] == {"a": 1}


def test_a_broken_repr_becomes_a_placeholder_string() -> None:
    event = serialized(base_event(extra={"thing": BrokenRepr()}))

    assert "broken repr" in event["extra"]["thing"]


def test_custom_repr_is_tried_before_repr() -> None:
    event = serialize_event(
        base_event(extra={"p": Point(), "n": 3}),
        Options(custom_repr=lambda value: "custom!" if isinstance(value, Point) else None),
    )

    assert event["extra"] == {"p": "custom!", "n": 3}


def test_a_cycle_is_cut_where_it_closes() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    shared = ["s"]
    event = serialized(base_event(extra={"loop": loop, "twice": [shared, shared]}))

    assert event["extra"]["loop"] == [1, CYCLIC]
    assert event["extra"]["twice"] == [["s"], ["s"]]  # a shared list is no cycle


def test_integers_beyond_64_bits_travel_as_strings() -> None:
    event = serialized(base_event(extra={"big": 2**70, "fits": 2**63}))

    assert str(2**70) == event["extra"]["big"]
    assert event["extra"]["fits"] == 2**63


def test_a_databag_deeper_than_the_limit_is_cut_and_noted() -> None:
    deep = {"l1": {"l2": {"l3": {"l4": {"l5": "gone"}}}}}
    event = serialized(base_event(extra={"deep": deep}))

    assert MAX_DATABAG_DEPTH == 5
    assert event["extra"]["deep"]["l1"]["l2"]["l3"]["l4"] == "{'l5': 'gone'}"
    remark = {"": {"rem": [["!limit", "x"]]}}
    assert remark == event["_meta"]["extra"]["deep"]["l1"]["l2"]["l3"]["l4"]


def test_a_databag_wider_than_the_limit_keeps_its_first_items_and_notes_the_length() -> None:
    items = list(range(MAX_DATABAG_BREADTH + 7))
    event = serialized(base_event(extra={"items": items}))

    assert items[:MAX_DATABAG_BREADTH] == event["extra"]["items"]
    assert event["_meta"]["extra"]["items"] == {"": {"len": MAX_DATABAG_BREADTH + 7}}


def test_a_databag_converts_a_bounded_number_of_items_in_total() -> None:
    rows = [[f"{row}.{col}" for col in range(MAX_DATABAG_BREADTH)] for row in range(40)]
    event = serialized(base_event(extra={"rows": rows}))

    kept = sum(len(row) for row in event["extra"]["rows"] if isinstance(row, list))
    assert kept <= MAX_DATABAG_ITEMS + MAX_DATABAG_BREADTH
    assert event["_meta"]["extra"]["rows"]


def test_frame_vars_over_the_breadth_limit_are_noted_in_meta() -> None:
    many = {f"v{i}": repr(i) for i in range(MAX_DATABAG_BREADTH + 3)}
    event = serialized(exception_event([frame(0, vars=many)]))

    kept = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert len(kept) == MAX_DATABAG_BREADTH
    meta = event["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"]["0"]["vars"]
    assert meta == {"": {"len": MAX_DATABAG_BREADTH + 3}}


def test_frame_vars_strings_are_kept_as_they_are() -> None:
    event = serialized(exception_event([frame(0, vars={"name": "'abc'", "n": "42"})]))

    assert event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"] == {
        "name": "'abc'",
        "n": "42",
    }


def test_each_breadcrumb_is_its_own_databag() -> None:
    crumb = {"timestamp": 1.0, "message": "m", "data": {"a": {"b": {"c": {"d": {"e": 1}}}}}}
    event = serialized(base_event(breadcrumbs={"values": [crumb]}))

    data = event["breadcrumbs"]["values"][0]["data"]
    assert data["a"]["b"]["c"]["d"] == "{'e': 1}"  # crumb, data, a, b, c: five levels
    assert event["_meta"]["breadcrumbs"]["values"]["0"]["data"]["a"]["b"]["c"]["d"]


def test_long_strings_are_cut_to_max_value_length_with_a_note() -> None:
    event = serialized(base_event(message="x" * 50, extra={"s": "é" * 30}), max_value_length=20)

    assert event["message"] == "x" * 17 + "..."
    assert event["_meta"]["message"] == {"": {"len": 50, "rem": [["!limit", "x", 17, 20]]}}
    assert event["extra"]["s"] == "é" * 8 + "..."  # 17 bytes hold 8 two-byte characters
    assert event["_meta"]["extra"]["s"][""]["len"] == 60


def test_identifiers_and_enum_fields_are_never_cut() -> None:
    crumb = {"timestamp": "2024-05-01T12:00:00.101002Z", "category": "c" * 30, "type": "http"}
    source = base_event(
        release="shop@" + "1" * 40,
        environment="e" * 30,
        breadcrumbs={"values": [crumb]},
    )
    source["contexts"]["trace"]["op"] = "o" * 30
    event = serialized(
        {**exception_event([frame(0, abs_path="/srv/" + "p" * 40 + ".py")]), **source},
        max_value_length=20,
    )

    assert event["event_id"] == EVENT_ID
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert event["contexts"]["trace"]["op"] == "o" * 30
    assert source["release"] == event["release"]
    assert event["breadcrumbs"]["values"][0]["category"] == "c" * 30
    assert event["breadcrumbs"]["values"][0]["timestamp"] == "2024-05-01T12:00:00.101002Z"
    frame_out = event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame_out["abs_path"].endswith("p.py")
    assert frame_out["context_line"].endswith("...")  # source lines are not identifiers


def test_meta_the_event_already_had_is_kept_and_merged() -> None:
    crumbs = {"values": [{"timestamp": 1.0, "message": "m" * 30}]}
    event = serialized(
        base_event(breadcrumbs=crumbs, _meta={"breadcrumbs": {"": {"len": 140}}}),
        max_value_length=10,
    )

    assert event["_meta"]["breadcrumbs"][""]["len"] == 140
    assert event["_meta"]["breadcrumbs"]["values"]["0"]["message"][""]["rem"]


def test_merge_meta_adds_remarks_on_the_same_path() -> None:
    first = {"extra": {"s": {"": {"len": 50, "rem": [["!limit", "x", 7, 10]]}}}}
    second = {"extra": {"s": {"": {"rem": [["!config", "s", 0, 10]]}}}}

    merged = merge_meta(first, second)

    assert merged["extra"]["s"][""]["rem"] == [["!limit", "x", 7, 10], ["!config", "s", 0, 10]]
    assert merged["extra"]["s"][""]["len"] == 50


def test_the_result_shares_no_container_with_the_input() -> None:
    data = {"nested": {"k": "v"}}
    source = exception_event([frame(0)])
    source["extra"] = {"data": data}
    event = serialize_event(source, Options())

    event["extra"]["data"]["nested"]["k"] = "changed"
    event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["order"] = "changed"

    assert data["nested"]["k"] == "v"
    assert (
        source["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["order"]
        == "<Order id=17>"
    )


def test_a_frame_with_odd_values_is_converted_field_by_field() -> None:
    odd = frame(0, lineno=3.0, vars={"x": 1, "when": datetime(2024, 1, 1)}, pre_context=("a",))
    event = serialized(exception_event([odd]))

    out = event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert out["vars"] == {"x": 1, "when": "2024-01-01T00:00:00.000000Z"}
    assert out["pre_context"] == ["a"]


def test_frame_values_an_event_processor_changed_are_converted_after_plain_ones_passed() -> None:
    plain = frame(0)
    assert (
        serialized(exception_event([plain]))["exception"]["values"][0]["stacktrace"]["frames"][0]
        == plain
    )
    changed = frame(0, extra_key=Point())
    changed["vars"] = {"order": Point(), 7: "seven", "amount": "4200"}
    event = serialized(exception_event([changed]))

    out = event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert out["vars"] == {"order": "Point(1, 2)", "7": "seven", "amount": "4200"}
    assert out["extra_key"] == "Point(1, 2)"


def test_an_invalid_event_id_is_replaced_and_a_dashed_one_compacted() -> None:
    dashed = serialized(base_event(event_id="5F0C9B7E-2D8A-4C1E-9B3A-7D6F1E2C4B8A"))
    invalid = serialized(base_event(event_id="not an id"))

    assert dashed["event_id"] == EVENT_ID
    assert len(invalid["event_id"]) == 32


def test_contexts_and_tags_get_the_shapes_relay_accepts() -> None:
    event = serialized(
        base_event(
            contexts={"trace": {"trace_id": TRACE_ID, "span_id": "b7ad6b7169203331"}, "odd": "x"},
            tags={"list": [1, 2], "n": 3, "none": None},
        )
    )

    assert event["contexts"]["odd"] == {"value": "x"}
    assert event["tags"]["list"] == "[1, 2]"
    assert event["tags"]["n"] == "3"


class HostileMapping(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("no items")


def test_a_value_that_fails_to_convert_becomes_a_placeholder() -> None:
    event = serialized(base_event(extra={"bad": HostileMapping(a=1), "good": 1}))

    assert "failed to serialize" in event["extra"]["bad"]
    assert event["extra"]["good"] == 1


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=50),
    st.datetimes(),
    st.builds(Point),
    st.builds(BrokenRepr),
)
hostile_keys = st.one_of(st.text(max_size=10), st.integers(), st.binary(max_size=5), st.none())
hostile = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=60),
        st.dictionaries(hostile_keys, children, max_size=60),
        st.tuples(children, children),
        st.frozensets(st.integers(), max_size=5),
    ),
    max_leaves=200,
)


@settings(max_examples=60, deadline=None)
@given(value=hostile, text=st.text(), max_value_length=st.one_of(st.none(), st.integers(4, 64)))
def test_hostile_values_anywhere_give_a_valid_event(
    value: object, text: str, max_value_length: int | None
) -> None:
    cyclic: list[object] = [value]
    cyclic.append(cyclic)
    source = exception_event([frame(0, vars={"v": value})])
    source.update(
        message=text,  # type: ignore[typeddict-item]
        extra={"v": value, "cyclic": cyclic, text: value},
        tags={"t": value, text: text},
        user={"id": text, "data": value},
        request={"url": "http://example.com/", "data": value, "headers": {"X": text}},
        breadcrumbs={"values": [{"timestamp": 1.0, "message": text, "data": {"v": value}}]},
    )
    source["contexts"]["custom"] = {"v": value}
    source["logentry"] = {"message": text, "params": [value]}

    serialized(source, max_value_length=max_value_length)


flat_items = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.none(),
    st.booleans(),
)
extras = st.dictionaries(
    st.one_of(st.text(max_size=8), st.integers()),
    st.one_of(
        flat_items,
        st.lists(flat_items, max_size=60),
        st.lists(flat_items, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), flat_items, max_size=3),
    ),
    max_size=55,
)


@settings(max_examples=200, deadline=None)
@given(extra=extras, max_value_length=st.sampled_from([None, 20, 100]))
@example(extra={"sys.argv": list(range(60))}, max_value_length=None)
@example(extra={f"k{i}": list(range(40)) for i in range(30)}, max_value_length=None)
@example(extra={str(i): i for i in range(60)}, max_value_length=None)
def test_a_flat_extra_is_copied_as_the_converter_converts_it(
    extra: dict[Any, Any], max_value_length: int | None
) -> None:
    from tripwire.converter import Converter

    converter = Converter(max_value_length, None)
    expected = converter.databag(extra)
    event = serialize_event(base_event(extra=extra), Options(max_value_length=max_value_length))
    assert event["extra"] == expected
    assert event.get("_meta", {}).get("extra") == converter.pending
