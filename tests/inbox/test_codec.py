from __future__ import annotations

import math

import pytest

from tripwire.inbox import codec


def test_round_trip_is_compact_json() -> None:
    assert codec.dumps({"a": [1, "é", None]}) == '{"a":[1,"é",null]}'.encode()
    assert codec.loads(b'{"a": [1, "\\u00e9", null]}') == {"a": [1, "é", None]}


def test_what_only_the_standard_library_accepts_still_works() -> None:
    assert codec.dumps({1: "x"}) == b'{"1":"x"}'
    assert codec.dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'
    assert math.isnan(codec.loads(b'{"v": NaN}')["v"])
    assert codec.loads(b'"\\ud800"') == "\ud800"


def test_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        codec.loads(b"{nope}")
