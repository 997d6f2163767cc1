from __future__ import annotations

import gc
import linecache
import os
import sys
import weakref
from pathlib import Path
from types import FrameType, ModuleType, TracebackType
from typing import Any
from uuid import uuid4

import pytest

from tests.events.conftest import line_of
from tests.relay import assert_valid_event
from tripwire.events.frames import (
    CONTEXT_LINES,
    frames_from_stack,
    frames_from_traceback,
    is_in_app,
    mark_in_app,
    stacktrace_from_stack,
    stacktrace_from_traceback,
)
from tripwire.events.pending import finish_reprs
from tripwire.options import Options
from tripwire.safe_repr import PendingRepr
from tripwire.serializer import serialize_event


def function(qualname: str) -> str:
    """A frame's function as reported: the qualified name from Python 3.11 (co_qualname)."""
    return qualname if sys.version_info >= (3, 11) else qualname.rpartition(".")[2]


def traceback_of(call: Any, *args: object) -> TracebackType:
    try:
        call(*args)
    except BaseException as exc:
        tb = exc.__traceback__
    else:
        raise AssertionError("expected an exception")
    assert tb is not None
    return tb


def options_for(root: Path | str, **overrides: Any) -> Options:
    return Options(project_root=str(root), **overrides)


def as_event(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "event_id": uuid4().hex,
        "platform": "python",
        "level": "error",
        "exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]},
    }


def test_traceback_frames_are_listed_oldest_first(shop: ModuleType, tmp_path: Path) -> None:
    frames = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))
    assert [f["function"] for f in frames] == ["traceback_of", "pay", function("Gateway.charge")]
    assert [line_of("CALL"), line_of("RAISE")] == [f["lineno"] for f in frames[1:]]


def test_frame_names_its_file_relative_to_the_import_root(shop: ModuleType, tmp_path: Path) -> None:
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))[-1]
    assert frame["filename"] == "shop/payments.py"
    assert str(tmp_path / "shop" / "payments.py") == frame["abs_path"]
    assert frame["module"] == "shop.payments"


def test_function_is_the_qualified_name(shop: ModuleType, tmp_path: Path) -> None:
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))[-1]
    expected = "Gateway.charge" if sys.version_info >= (3, 11) else "charge"
    assert expected == frame["function"]


def test_source_context_is_five_lines_around_the_current_one(
    shop: ModuleType, tmp_path: Path
) -> None:
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))[-1]
    lines = shop.__loader__.get_source("shop.payments").splitlines()
    index = line_of("RAISE") - 1
    assert lines[index] == frame["context_line"]
    assert lines[index - CONTEXT_LINES : index] == frame["pre_context"]
    assert lines[index + 1 : index + 1 + CONTEXT_LINES] == frame["post_context"]


def test_repeated_captures_get_their_own_context_lists(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path)
    first = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    expected = list(first["pre_context"])
    first["pre_context"][0] = "[Filtered]"  # what a scrubber or before_send may do in place
    second = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert expected == second["pre_context"]


def test_context_follows_a_source_file_that_linecache_reloaded(
    shop: ModuleType, tmp_path: Path
) -> None:
    options = options_for(tmp_path)
    before = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    path = tmp_path / "shop" / "payments.py"
    edited = path.read_text().replace("# RAISE", "# RAISE, edited")
    path.write_text(edited)
    os.utime(path, (1, 1))  # a different mtime even on a coarse clock
    linecache.checkcache(str(path))
    after = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert before["context_line"].endswith("# RAISE")
    assert after["context_line"].endswith("# RAISE, edited")


def test_source_context_is_left_out_when_disabled(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path, include_source_context=False)
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert not {"pre_context", "context_line", "post_context"} & frame.keys()


def test_context_lines_are_cut_to_max_value_length(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path, max_value_length=20)
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert len(frame["context_line"]) == 20
    assert frame["context_line"].endswith("...")
    assert all(len(line) <= 20 for line in frame["pre_context"] + frame["post_context"])


def test_locals_are_bounded_reprs(shop: ModuleType, tmp_path: Path) -> None:
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))[-1]
    assert type(frame["vars"]["limits"]) is PendingRepr  # a list of ints: made on the worker
    finish_reprs(as_event([frame]))
    assert frame["vars"]["token"] == "'tttttttttt'"
    assert frame["vars"]["amount"] == "5"
    assert frame["vars"]["limits"].startswith("[0, 1, 2")
    assert frame["vars"]["self"].startswith("<shop.payments.Gateway object at")


def test_locals_respect_max_value_length_and_custom_repr(shop: ModuleType, tmp_path: Path) -> None:
    def custom(value: object) -> str | None:
        return "<redacted>" if value == "t" * 10 else None

    options = options_for(tmp_path, max_value_length=10, custom_repr=custom)
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert frame["vars"]["token"] == "<redacted>"
    assert len(frame["vars"]["limits"]) == 10


def test_locals_are_left_out_when_disabled(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path, include_local_variables=False)
    frames = frames_from_traceback(traceback_of(shop.pay, 5), options)
    assert all("vars" not in frame for frame in frames)


def test_module_level_locals_leave_out_dunders_and_modules() -> None:
    code = compile("import os\nanswer = 42\nraise ValueError('x')\n", "<module-test>", "exec")
    namespace: dict[str, object] = {"__name__": "modtest"}
    frames = frames_from_traceback(traceback_of(exec, code, namespace), options_for("/nowhere"))
    assert frames[-1]["vars"] == {"answer": "42"}


def test_snapshot_keeps_no_frame_or_local_alive(shop: ModuleType, tmp_path: Path) -> None:
    class Witness:
        pass

    def fail() -> None:
        witness = Witness()
        raise ValueError(witness)

    def capture() -> tuple[weakref.ref[Witness], list[dict[str, Any]]]:
        try:
            fail()
        except ValueError as exc:
            frames = frames_from_traceback(exc.__traceback__, options_for(tmp_path))
            return weakref.ref(exc.args[0]), frames
        raise AssertionError("expected an exception")

    probe, frames = capture()
    gc.collect()
    assert probe() is None
    assert frames[-1]["vars"]["witness"].startswith("<")


def test_tripwire_frames_are_hidden(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "tripwire.fake"}
    exec("def inner(call):\n    return call()\n", namespace)

    def boom() -> None:
        raise ValueError("x")

    frames = frames_from_traceback(traceback_of(namespace["inner"], boom), options_for(tmp_path))
    assert [f["function"] for f in frames] == [
        "traceback_of",
        function("test_tripwire_frames_are_hidden.<locals>.boom"),
    ]


def test_traceback_hide_locals_hide_their_frame(shop: ModuleType, tmp_path: Path) -> None:
    def hide_me() -> None:
        __tracebackhide__ = True
        shop.pay(1)

    frames = frames_from_traceback(traceback_of(shop.hidden_pay, 1), options_for(tmp_path))
    assert "hidden_pay" not in [f["function"] for f in frames]
    frames = frames_from_traceback(traceback_of(hide_me), options_for(tmp_path))
    assert not any(f["function"].endswith("hide_me") for f in frames)


def test_false_traceback_hide_keeps_the_frame(tmp_path: Path) -> None:
    def shown() -> None:
        __traceback_hide__ = False
        raise ValueError("x")

    frames = frames_from_traceback(traceback_of(shown), options_for(tmp_path))
    assert frames[-1]["function"].endswith("shown")


def test_deep_recursion_keeps_head_and_tail_and_says_what_was_left_out(
    shop: ModuleType, tmp_path: Path
) -> None:
    options = options_for(tmp_path, max_stack_frames=20)
    tb = traceback_of(shop.recurse, 0)
    stacktrace = stacktrace_from_traceback(tb, options)
    assert stacktrace is not None
    total = 0
    while tb is not None:
        total, tb = total + 1, tb.tb_next
    frames = stacktrace["frames"]
    assert len(frames) == 20
    assert frames[0]["function"] == "traceback_of"
    assert [10, 10 + total - 20] == stacktrace["frames_omitted"]
    assert all(f["lineno"] == line_of("RECURSE") for f in frames[1:])


def test_left_out_frames_are_noted_on_the_frames_list_and_the_note_survives_relay(
    shop: ModuleType, tmp_path: Path
) -> None:
    options = options_for(tmp_path, max_stack_frames=20)
    tb = traceback_of(shop.recurse, 0)
    stacktrace = stacktrace_from_traceback(tb, options)
    assert stacktrace is not None
    start, end = stacktrace["frames_omitted"]
    event = as_event([])
    event["exception"]["values"][0]["stacktrace"] = stacktrace
    normalized = assert_valid_event(dict(serialize_event(event, options)))
    note = normalized["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"][""]
    assert note == {"len": 20 + end - start}
    assert len(normalized["exception"]["values"][0]["stacktrace"]["frames"]) == 20


def test_short_stack_has_no_frames_omitted(shop: ModuleType, tmp_path: Path) -> None:
    stacktrace = stacktrace_from_traceback(traceback_of(shop.deep, 10), options_for(tmp_path))
    assert stacktrace is not None
    assert "frames_omitted" not in stacktrace
    assert len(stacktrace["frames"]) == 14


def test_full_stack_prepends_the_callers_of_the_catching_frame(
    shop: ModuleType, tmp_path: Path
) -> None:
    tb = traceback_of(shop.pay, 1)
    options = options_for(tmp_path, add_full_stack=True, max_stack_frames=500)
    stacktrace = stacktrace_from_traceback(tb, options, full_stack=True)
    assert stacktrace is not None
    functions = [f["function"] for f in stacktrace["frames"]]
    assert functions[-4:] == [
        "test_full_stack_prepends_the_callers_of_the_catching_frame",
        "traceback_of",
        "pay",
        function("Gateway.charge"),
    ]
    assert len(functions) > 4


def test_current_stack_ends_with_the_capturing_frame(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path)
    frames = shop.current_stack(lambda frame: frames_from_stack(frame, options))
    assert frames[-1]["function"] == "current_stack"
    assert line_of("STACK") == frames[-1]["lineno"]
    assert frames[-1]["vars"]["marker"] == "'here'"
    assert frames[-2]["function"] == "test_current_stack_ends_with_the_capturing_frame"


def test_stack_source_context_can_be_forced_on(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(tmp_path, include_source_context=False)

    def capture(frame: FrameType) -> Any:
        return stacktrace_from_stack(frame, options, include_source_context=True)

    stacktrace = shop.current_stack(capture)
    assert "STACK" in stacktrace["frames"][-1]["context_line"]


def test_frames_pass_relay(shop: ModuleType, tmp_path: Path) -> None:
    frames = frames_from_traceback(traceback_of(shop.deep, 3), options_for(tmp_path))
    event = as_event(frames)
    finish_reprs(event)
    normalized = assert_valid_event(event)
    assert len(normalized["exception"]["values"][0]["stacktrace"]["frames"]) == 7


def test_project_frames_are_in_app(shop: ModuleType, tmp_path: Path) -> None:
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options_for(tmp_path))[-1]
    assert frame["in_app"] is True


def test_project_root_matches_whole_directories_only() -> None:
    options = options_for("/srv/app")
    assert is_in_app("x", "/srv/app/x.py", options) is True
    assert is_in_app("x", "/srv/application/x.py", options) is None
    assert is_in_app("x", "/srv/app/x.py", options_for("/srv/app/")) is True


def test_in_app_include_and_exclude_match_module_prefixes() -> None:
    options = options_for("/srv/app", in_app_include=("lib",), in_app_exclude=("app.vendor",))
    assert is_in_app("lib.sub", "/x/site-packages/lib/sub.py", options) is True
    assert is_in_app("libfoo", "/x/site-packages/libfoo.py", options) is False
    assert is_in_app("app.vendor.x", "/srv/app/app/vendor/x.py", options) is False
    assert is_in_app("app.core", "/srv/app/app/core.py", options) is True


def test_vendored_packages_are_not_in_app_even_under_the_project_root() -> None:
    options = options_for("/srv/app")
    assert is_in_app("req", "/srv/app/.venv/lib/site-packages/req.py", options) is False
    assert is_in_app("req", "C:\\app\\dist-packages\\req.py", options) is False


def test_frames_without_path_and_stdlib_frames_stay_undecided() -> None:
    options = options_for("/srv/app")
    assert is_in_app("json", None, options) is None
    assert is_in_app("json.decoder", "/usr/lib/python3.11/json/decoder.py", options) is None


def test_mark_in_app_covers_every_stacktrace_and_keeps_existing_values() -> None:
    options = options_for("/srv/app")
    frame = {"module": "app", "abs_path": "/srv/app/app.py"}
    event: dict[str, Any] = {
        "exception": {"values": [{"stacktrace": {"frames": [dict(frame)]}}]},
        "threads": {"values": [{"stacktrace": {"frames": [dict(frame)]}}]},
        "stacktrace": {"frames": [dict(frame), {**frame, "in_app": False}, {"module": "m"}]},
    }
    mark_in_app(event, options)
    assert event["exception"]["values"][0]["stacktrace"]["frames"][0]["in_app"] is True
    assert event["threads"]["values"][0]["stacktrace"]["frames"][0]["in_app"] is True
    top = event["stacktrace"]["frames"]
    assert [top[0]["in_app"], top[1]["in_app"]] == [True, False]
    assert "in_app" not in top[2]


def test_mark_in_app_survives_malformed_events() -> None:
    event: dict[str, Any] = {
        "exception": {"values": [None, {"stacktrace": {"frames": "nope"}}, {"stacktrace": 3}]},
        "threads": [],
        "stacktrace": {"frames": [1, {"abs_path": 7, "module": None}]},
    }
    mark_in_app(event, options_for("/srv/app"))
    assert event["stacktrace"]["frames"][1] == {"abs_path": 7, "module": None}


def test_in_app_follows_the_options_in_use(shop: ModuleType, tmp_path: Path) -> None:
    tb = traceback_of(shop.pay, 5)
    assert frames_from_traceback(tb, options_for(tmp_path))[-1]["in_app"] is True
    excluded = options_for(tmp_path, in_app_exclude=("shop",))
    assert frames_from_traceback(tb, excluded)[-1]["in_app"] is False


def test_no_traceback_gives_no_frames(tmp_path: Path) -> None:
    assert frames_from_traceback(None, options_for(tmp_path)) == []
    assert stacktrace_from_traceback(None, options_for(tmp_path)) is None


@pytest.mark.parametrize("name", ["<string>", "<stdin>"])
def test_pseudo_file_names_are_kept_verbatim(name: str) -> None:
    code = compile("def f():\n    raise ValueError('x')\n", name, "exec")
    namespace: dict[str, Any] = {"__name__": "pseudo"}
    exec(code, namespace)
    frame = frames_from_traceback(traceback_of(namespace["f"]), options_for(os.getcwd()))[-1]
    assert name == frame["abs_path"]
    assert name == frame["filename"]
    assert "in_app" not in frame
    assert "context_line" not in frame


def test_package_init_frames_name_the_package_directory(tmp_path: Path) -> None:
    code = compile(
        "def f():\n    raise ValueError('x')\n", str(tmp_path / "pkg" / "__init__.py"), "exec"
    )
    namespace: dict[str, Any] = {"__name__": "pkg"}
    exec(code, namespace)
    frame = frames_from_traceback(traceback_of(namespace["f"]), options_for(tmp_path))[-1]
    assert frame["filename"] == os.path.join("pkg", "__init__.py")


def test_module_name_that_does_not_match_the_path_keeps_the_absolute_path(tmp_path: Path) -> None:
    path = str(tmp_path / "somewhere" / "else.py")
    code = compile("def f():\n    raise ValueError('x')\n", path, "exec")
    namespace: dict[str, Any] = {"__name__": "app.views"}
    exec(code, namespace)
    frame = frames_from_traceback(traceback_of(namespace["f"]), options_for(tmp_path))[-1]
    assert frame["filename"] == path
    assert frame["in_app"] is True


def test_relative_project_root_is_resolved(shop: ModuleType, tmp_path: Path) -> None:
    options = options_for(os.path.relpath(tmp_path))
    frame = frames_from_traceback(traceback_of(shop.pay, 5), options)[-1]
    assert frame["in_app"] is True
