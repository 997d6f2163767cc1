from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from tests.relay import assert_valid_event
from tripwire.events.contexts import default_contexts


def test_runtime_context_describes_this_interpreter() -> None:
    runtime = default_contexts()["runtime"]
    assert platform.python_implementation() == runtime["name"]
    assert ".".join(map(str, sys.version_info[:3])) == runtime["version"]
    assert sys.version == runtime["build"]


def test_os_context_names_the_system() -> None:
    context = default_contexts()["os"]
    assert context["name"]
    assert context["version"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uname and os-release")
def test_linux_os_context_has_kernel_and_distribution() -> None:
    context = default_contexts()["os"]
    assert os.uname().release == context["kernel_version"]
    if Path("/etc/os-release").exists():
        text = Path("/etc/os-release").read_text()
        distribution = context["distribution_name"]
        assert isinstance(distribution, str)
        assert f"ID={distribution}" in text or f'ID="{distribution}"' in text
        assert context["distribution_pretty_name"]


def test_device_context_has_arch_processors_and_memory() -> None:
    device = default_contexts()["device"]
    assert platform.machine() == device["arch"]
    assert os.cpu_count() == device["processor_count"]
    if hasattr(os, "sysconf"):
        memory = device["memory_size"]
        assert isinstance(memory, int)
        assert memory > 1024 * 1024


def test_each_call_returns_fresh_dicts() -> None:
    first = default_contexts()
    first["runtime"]["name"] = "changed"
    first["os"].clear()
    second = default_contexts()
    assert second["runtime"]["name"] != "changed"
    assert second["os"]


def test_contexts_pass_relay_with_every_field_kept() -> None:
    contexts = default_contexts()
    event = {
        "event_id": uuid4().hex,
        "platform": "python",
        "level": "error",
        "message": "x",
        "contexts": contexts,
    }
    normalized = assert_valid_event(event)
    for name, context in contexts.items():
        kept = normalized["contexts"][name]
        assert {key: kept.get(key) for key in context} == context


def test_contexts_are_not_computed_at_import() -> None:
    code = (
        "import tripwire.events.contexts as c, tripwire\n"
        "assert c._cached is None\n"
        "c.default_contexts()\n"
        "assert c._cached is not None\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
