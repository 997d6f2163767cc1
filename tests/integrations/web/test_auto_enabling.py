"""Framework integrations enable themselves only for frameworks the app imported already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import json, sys
for name in sys.argv[1:]:
    __import__(name)
import tripwire
from tripwire.testing import RecordingTransport
client = tripwire.init(transport=RecordingTransport())
import tripwire.scope
frameworks = ("flask", "django", "starlette", "fastapi", "celery")
print(json.dumps({
    "integrations": sorted(tripwire.get_client().integrations),
    "loaded": sorted(name for name in frameworks if name in sys.modules),
}))
"""


def _run(*imports: str) -> dict[str, list[str]]:
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *imports],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_init_imports_no_framework_and_enables_none_of_them() -> None:
    result = _run()

    assert result["loaded"] == []
    assert not {"flask", "django", "starlette", "fastapi", "celery"} & set(result["integrations"])


def test_imported_frameworks_get_their_integrations() -> None:
    result = _run("flask", "django", "celery", "fastapi")

    expected = {"flask", "django", "celery", "fastapi", "starlette"}
    assert set(result["integrations"]) & expected == expected
