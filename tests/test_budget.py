from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.budget import KEPT_FRAMES, MIN_EVENT_BYTES, encode_event
from tripwire.options import Options
from tripwire.serializer import serialize_event

EVENT_ID = "5f0c9b7e2d8a4c1e9b3a7d6f1e2c4b8a"


def frame(index: int, in_app: bool = True, vars_size: int = 10) -> dict[str, Any]:
    return {
        "filename": f"app/mod{index}.py",
        "function": f"handler{index}",
        "module": f"app.mod{index}",
        "lineno": index + 1,
        "context_line": "    return charge(order)",
        "vars": {"blob": "'" + "v" * vars_size + "'"},
        "in_app": in_app,
    }


def event_with(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": EVENT_ID,
        "timestamp": 1714564800.25,
        "platform": "python",
        "level": "error",
        **fields,
    }


def exception(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return {"values": [{"type": "ValueError", "value": "bad", "stacktrace": {"frames": frames}}]}


def decoded(body: bytes, max_bytes: int) -> dict[str, Any]:
    assert len(body) <= max(max_bytes, MIN_EVENT_BYTES)
    event: dict[str, Any] = json.loads(body)
    assert_valid_event(event)
    return event


def frames_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = event["exception"]["values"][0]["stacktrace"]["frames"]
    return frames


def test_an_event_within_the_budget_is_encoded_compactly_and_unchanged() -> None:
    event = event_with(message="héllo", extra={"a": [1, 2]})

    body = encode_event(event, 10_000)

    assert b'"extra":{"a":[1,2]}' in body
    assert "héllo".encode() in body  # UTF-8, not \\u escapes: fewer bytes
    assert event == json.loads(body)


def test_vars_outside_the_app_go_first() -> None:
    frames = [frame(i, in_app=i % 2 == 0, vars_size=2000) for i in range(10)]
    event = event_with(exception=exception(frames))

    result = decoded(encode_event(event, 14_000), 14_000)

    kept = frames_of(result)
    assert all(f["vars"] is not None for f in kept if f["in_app"])
    assert any(f["vars"] is None for f in kept if not f["in_app"])
    dropped = [i for i, f in enumerate(kept) if f["vars"] is None]
    meta = result["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"]
    assert meta[str(dropped[0])]["vars"][""] == {"rem": [["!limit", "x"]]}
    assert frames[0]["vars"] is not None  # the caller's event is untouched


def test_the_oldest_breadcrumbs_go_before_any_vars_of_the_app() -> None:
    crumbs = [{"timestamp": float(i), "message": f"crumb {i} " + "x" * 500} for i in range(40)]
    event = event_with(
        exception=exception([frame(0, vars_size=3000)]),
        breadcrumbs={"values": crumbs},
        _meta={"breadcrumbs": {"values": {"39": {"message": {"": {"len": 9000}}}}}},
    )

    result = decoded(encode_event(event, 12_000), 12_000)

    kept = result["breadcrumbs"]["values"]
    assert kept[-1]["message"].startswith("crumb 39 ")
    assert kept[0]["message"] != crumbs[0]["message"]
    assert frames_of(result)[0]["vars"] is not None
    meta = result["_meta"]["breadcrumbs"]["values"]
    assert meta[""] == {"len": 40}
    assert meta[str(len(kept) - 1)]["message"] == {"": {"len": 9000}}  # renumbered


def test_the_middle_of_a_long_stack_trace_goes_and_is_marked_omitted() -> None:
    frames = [frame(i, vars_size=0) for i in range(300)]
    for each in frames:
        each["context_line"] = "x" * 300
    event = event_with(exception=exception(frames))

    result = decoded(encode_event(event, 30_000), 30_000)

    kept = [f["function"] for f in frames_of(result)]
    functions = [f["function"] for f in frames]
    assert functions[:KEPT_FRAMES] == kept[:KEPT_FRAMES]
    assert functions[-KEPT_FRAMES:] == kept[-KEPT_FRAMES:]
    start, stop = result["exception"]["values"][0]["stacktrace"]["frames_omitted"]
    assert start == KEPT_FRAMES
    assert 300 - len(kept) == stop - start
    assert result["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"][""] == {"len": 300}


def test_long_strings_in_extra_are_cut_before_the_message() -> None:
    event = event_with(message="m" * 3000, extra={"dump": "d" * 50_000, "small": "keep me"})

    result = decoded(encode_event(event, 8_000), 8_000)

    assert result["message"] == "m" * 3000
    assert result["extra"]["small"] == "keep me"
    assert result["extra"]["dump"].endswith("...")
    assert result["_meta"]["extra"]["dump"][""]["len"] == 50_000


def test_an_event_too_big_everywhere_still_fits_and_keeps_what_was_raised() -> None:
    event = event_with(
        exception=exception([frame(0)]),
        tags={f"t{i}": "v" for i in range(5000)},
        contexts={"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
        fingerprint=[str(i) for i in range(5000)],
    )

    result = decoded(encode_event(event, MIN_EVENT_BYTES), MIN_EVENT_BYTES)

    assert result["event_id"] == EVENT_ID
    assert result["exception"]["values"][0]["type"] == "ValueError"


def test_a_budget_below_the_minimum_is_raised_to_it() -> None:
    body = encode_event(event_with(message="x" * 5000), 10)

    assert MIN_EVENT_BYTES >= len(body) > 500


def test_values_that_are_not_json_are_converted_not_raised() -> None:
    loop: list[object] = []
    loop.append(loop)
    event = event_with(extra={"nan": math.nan, "object": object(), "loop": loop})

    result = decoded(encode_event(event, 10_000), 10_000)

    assert result["extra"]["nan"] == "nan"


def test_lone_surrogates_become_replacement_characters() -> None:
    result = decoded(encode_event(event_with(message="a\ud800b"), 10_000), 10_000)

    assert result["message"] == "a?b"


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=3000),
    st.binary(max_size=3000),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=30),
        st.dictionaries(st.text(max_size=20), children, max_size=30),
    ),
    max_leaves=150,
)


@settings(max_examples=40, deadline=None)
@given(
    value=values,
    text=st.text(max_size=5000),
    frames=st.integers(0, 120),
    crumbs=st.integers(0, 60),
    max_bytes=st.integers(MIN_EVENT_BYTES, 60_000),
)
def test_any_event_comes_out_valid_and_within_the_budget(
    value: object, text: str, frames: int, crumbs: int, max_bytes: int
) -> None:
    source = event_with(
        message=text,
        exception=exception(
            [{**frame(i, in_app=i % 3 == 0), "vars": {"v": text}} for i in range(frames)]
        ),
        breadcrumbs={
            "values": [
                {"timestamp": 1.0, "message": text, "data": {"v": value}} for _ in range(crumbs)
            ]
        },
        extra={"v": value, "t": text},
        tags={"t": text[:100] or "x"},
        request={"url": "http://example.com/", "data": value},
        contexts={"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}, "c": {"v": value}},
    )
    event = serialize_event(source, Options())  # type: ignore[arg-type]

    decoded(encode_event(event, max_bytes), max_bytes)  # type: ignore[arg-type]


def test_long_strings_under_any_key_of_extra_can_be_cut() -> None:
    event = event_with(extra={"type": "t" * 20_000, "function": "f" * 20_000})

    result = decoded(encode_event(event, 8_000), 8_000)

    assert result["extra"]["type"].endswith("...")
    assert result["extra"]["function"].endswith("...")
