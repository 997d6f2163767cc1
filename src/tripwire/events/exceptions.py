"""Exception values of an event, built on the caller's thread at capture time (event.md §3).

Every exception reachable from the captured one (its ``__cause__``/``__context__`` chain and the
members of exception groups, nested or not) becomes one value, oldest first and the captured
exception last. When there is more than one, each gets ``mechanism.exception_id`` and linked
ones also ``parent_id`` (the id of the exception the link was taken from) and ``source``. The
walk is iterative, cycle-safe and capped at ``MAX_EXCEPTIONS``; a hostile exception class
(raising ``__str__``, ``__getattribute__`` or metaclass) is read through BaseException's own
descriptors and still reported.
"""

from __future__ import annotations

import builtins
import sys
from itertools import islice
from types import TracebackType
from typing import Any

from tripwire.events.frames import stacktrace_from_traceback
from tripwire.options import Options
from tripwire.safe_repr import safe_repr, safe_str, without_surrogates
from tripwire.types import Event, ExcInfo, Hint

__all__ = [
    "MAX_EXCEPTIONS",
    "MAX_NOTES",
    "ExceptionList",
    "event_from_exception",
    "exc_info_from_error",
    "exceptions_from_error",
]

MAX_EXCEPTIONS = 50  # values per event; a group of 10,000 errors keeps its first members
MAX_NOTES = 100

_BUILTIN_GROUP: type[BaseException] | None = getattr(builtins, "BaseExceptionGroup", None)

# BaseException's own descriptors, read past a hostile __getattribute__ on the exception class.
_EXCEPTION_SLOTS: dict[str, Any] = dict(vars(BaseException))
_TYPE_SLOTS: dict[str, Any] = dict(vars(type))
_OS_ERRNO: Any = vars(OSError)["errno"]


class ExceptionList(list[dict[str, Any]]):
    """Exception values as built here: ``type``, ``value`` and ``module`` plain strings, a
    ``mechanism`` of JSON values and a stack trace from events/frames.py. The serializer copies
    them without a walk when no code outside tripwire saw the event."""

    __slots__ = ()


# (exception, parent_id, source) waiting to be emitted
_Pending = tuple[BaseException, int | None, str | None]


def exc_info_from_error(error: BaseException | tuple[object, object, object]) -> ExcInfo:
    """Normalise an exception or an ``exc_info`` tuple to ``(type, value, traceback)``.

    Raises ``TypeError`` for anything else and ``ValueError`` for ``(None, None, None)``
    (no exception being handled); the public API turns both into "nothing captured".
    """
    if isinstance(error, BaseException):
        return type(error), error, _slot(error, "__traceback__")
    if isinstance(error, tuple) and len(error) == 3:
        _, value, tb = error
        if value is None:
            raise ValueError("no exception to capture: exc_info holds None")
        if not isinstance(value, BaseException):
            raise TypeError(f"exc_info must hold an exception, got {type(value).__name__}")
        if tb is not None and not isinstance(tb, TracebackType):
            raise TypeError(f"exc_info must hold a traceback, got {type(tb).__name__}")
        return type(value), value, tb
    raise TypeError(f"expected an exception or an exc_info tuple, got {type(error).__name__}")


def event_from_exception(
    exc_info_or_error: BaseException | tuple[object, object, object],
    options: Options,
    mechanism: dict[str, Any] | None = None,
) -> tuple[Event, Hint]:
    """Build ``({"level": "error", "exception": {"values": [...]}}, {"exc_info": ...})``.

    Raises ``TypeError``/``ValueError`` as ``exc_info_from_error`` does; never on hostile
    exceptions (a raising ``__str__`` or ``__repr__`` is survived).
    """
    exc_info = exc_info_from_error(exc_info_or_error)
    error = exc_info[1]
    if error is None:  # unreachable: exc_info_from_error rejects it; narrows the type
        raise ValueError("no exception to capture")
    values = exceptions_from_error(error, options, mechanism, traceback=exc_info[2])
    event: Event = {"level": "error", "exception": {"values": values}}
    return event, {"exc_info": exc_info}


def exceptions_from_error(
    error: BaseException,
    options: Options,
    mechanism: dict[str, Any] | None = None,
    *,
    traceback: TracebackType | None = None,
) -> list[dict[str, Any]]:
    """Return the exception values for ``error``, oldest first, ``error`` last (event.md §3).

    ``mechanism`` (default ``{"type": "generic", "handled": True}``) is copied onto every value;
    members other than ``error`` get ``type: "chained"``. ``traceback`` overrides
    ``error.__traceback__`` (an ``exc_info`` tuple may carry another one).
    """
    base = dict(mechanism) if mechanism else {"type": "generic", "handled": True}
    groups = _group_types()
    values = ExceptionList()
    emitted: set[int] = set()
    pending: list[_Pending] = [(error, None, None)]
    while pending and len(values) < MAX_EXCEPTIONS:
        exc, parent_id, source = pending.pop()
        if id(exc) in emitted:  # cycles, and members already reached through a link
            continue
        emitted.add(id(exc))
        exc_id = len(values)
        is_group = issubclass(type(exc), groups)  # isinstance would ask exc.__class__
        tb = traceback if exc is error and traceback is not None else _slot(exc, "__traceback__")
        values.append(
            _exception_value(
                exc, tb, options, _mechanism(base, exc, exc_id, parent_id, source, is_group)
            )
        )
        # Depth first: the link's subtree before the group members (event.md §3.2).
        if is_group:
            members = _attribute(exc, "exceptions")
            if type(members) is tuple:
                for index in reversed(range(min(len(members), MAX_EXCEPTIONS))):
                    if isinstance(members[index], BaseException):
                        pending.append((members[index], exc_id, f"exceptions[{index}]"))
        if _slot(exc, "__suppress_context__"):
            link, link_source = _slot(exc, "__cause__"), "__cause__"
        else:
            link, link_source = _slot(exc, "__context__"), "__context__"
        if isinstance(link, BaseException):
            pending.append((link, exc_id, link_source))
    if len(values) == 1:  # nothing to link: a lone exception stays as plain as sentry's
        values[0]["mechanism"].pop("exception_id")
    values.reverse()
    return values


def _group_types() -> tuple[type[BaseException], ...]:
    if _BUILTIN_GROUP is not None:
        return (_BUILTIN_GROUP,)
    # On 3.10 the `exceptiongroup` backport provides groups; use it only if the app imported it.
    backport = getattr(sys.modules.get("exceptiongroup"), "BaseExceptionGroup", None)
    return (backport,) if isinstance(backport, type) else ()


def _mechanism(
    base: dict[str, Any],
    exc: BaseException,
    exc_id: int,
    parent_id: int | None,
    source: str | None,
    is_group: bool,
) -> dict[str, Any]:
    mechanism = dict(base)
    mechanism["exception_id"] = exc_id
    if parent_id is not None:
        mechanism["type"] = "chained"
        mechanism["parent_id"] = parent_id
    if source is not None:
        mechanism["source"] = source
    if is_group:
        mechanism["is_exception_group"] = True
    errno = _errno(exc)
    if errno is not None:
        meta = base.get("meta")
        mechanism["meta"] = {**(meta if isinstance(meta, dict) else {}), "errno": {"number": errno}}
    return mechanism


def _slot(exc: BaseException, name: str) -> Any:
    return _EXCEPTION_SLOTS[name].__get__(exc)


def _attribute(exc: BaseException, name: str) -> object:
    """``exc.<name>`` or None, past the class's own ``__getattribute__`` and its errors."""
    try:
        return object.__getattribute__(exc, name)
    except Exception:
        return None


def _errno(exc: BaseException) -> int | None:
    cls = type(exc)
    if issubclass(cls, OSError):
        errno = _OS_ERRNO.__get__(exc)
    elif "errno" in _slot(exc, "__dict__") or _class_defines(cls, "errno"):
        # Another class's own errno attribute is found as getattr(exc, "errno") would.
        errno = _attribute(exc, "errno")
    else:  # the common case, without raising and catching an AttributeError
        return None
    return errno if type(errno) is int else None


def _class_defines(cls: type, name: str) -> bool:
    """Whether ``name`` is in the namespace of ``cls`` or a class it inherits from."""
    class_dict = _TYPE_SLOTS["__dict__"]
    return any(name in class_dict.__get__(base) for base in _TYPE_SLOTS["__mro__"].__get__(cls))


def _exception_value(
    exc: BaseException, tb: TracebackType | None, options: Options, mechanism: dict[str, Any]
) -> dict[str, Any]:
    cls = type(exc)
    value: dict[str, Any] = {"type": _type_name(cls), "value": _value_text(exc)}
    module = _TYPE_SLOTS["__module__"].__get__(cls)
    if type(module) is str and module != "builtins":
        value["module"] = module
    value["mechanism"] = mechanism
    if tb is not None:
        stacktrace = stacktrace_from_traceback(tb, options, full_stack=options.add_full_stack)
        if stacktrace is not None:
            value["stacktrace"] = stacktrace
    return value


def _type_name(cls: type[BaseException]) -> str:
    name = _TYPE_SLOTS["__qualname__"].__get__(cls)  # never a metaclass's property
    return without_surrogates(name) if type(name) is str and name else "Exception"


def _value_text(exc: BaseException) -> str:
    """``str(exc)`` plus its ``__notes__``, one per line (not ``.message``/``.detail``)."""
    text = safe_str(exc)
    notes = _slot(exc, "__dict__").get("__notes__")  # where add_note() puts them
    if isinstance(notes, (list, tuple)) and type(notes) in (list, tuple) and notes:
        lines = (
            note if type(note) is str else safe_repr(note) for note in islice(notes, MAX_NOTES)
        )
        text += "\n" + "\n".join(safe_str(line) for line in lines)
    return text
