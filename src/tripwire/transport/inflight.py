"""Requests in flight: a few kept-alive connections to the DSN's host, each carrying at most
one request whose answer has not been read yet.

When envelopes queue up, the worker writes the next request on another connection before
reading the first answer, so the server's time and the wake-ups between the processes
overlap with the worker's own (bench scenario 8: about 440 us of the 490 us a request took
on a loaded two-core machine were spent waiting). Worker side; nothing here raises: errors
become ``Retry`` outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tripwire.transport.connection import Connection
from tripwire.transport.outbound import Outcome, Retry

__all__ = ["Connections", "InFlight"]

AnswerReader = Callable[[int, Mapping[str, str], bytes], Outcome]


class InFlight:
    """One request: written on ``connection`` and awaiting its answer, or already decided."""

    def __init__(
        self,
        outcome: Outcome | None = None,
        owner: Connections | None = None,
        connection: Connection | None = None,
        read_answer: AnswerReader | None = None,
    ) -> None:
        self._outcome = outcome
        self._owner = owner
        self._connection = connection
        self._read_answer = read_answer

    def finish(self, meanwhile: Callable[[], object] | None = None) -> Outcome:
        """Read the answer (running ``meanwhile`` first, while the server works on it)."""
        if self._outcome is not None:
            return self._outcome
        assert self._connection is not None
        assert self._owner is not None
        assert self._read_answer is not None
        connection, self._connection = self._connection, None
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException:
            connection.close()  # the answer stays unread: no later request may read it
            self._owner.put_back(connection)
            raise
        try:
            reply = connection.receive()
        except OSError as exc:
            self._outcome = Retry(f"{type(exc).__name__}: {exc}", is_network=True)
        else:
            self._outcome = self._read_answer(reply.status, reply.headers, reply.body)
        self._owner.put_back(connection)
        return self._outcome

    def abandon(self) -> None:
        """Forget the answer: the connection is closed, so no later request reads it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            if self._owner is not None:
                self._owner.put_back(connection)


class Connections:
    """Kept-alive connections, made by ``make`` when none is idle (the worker has at most
    ``Sender.parallel`` requests in flight, so that many at most)."""

    def __init__(self, make: Callable[[], Connection]) -> None:
        self._make = make
        self._idle: list[Connection] = []
        self._all: list[Connection] = []

    def start(
        self, target: str, body: bytes, headers: Mapping[str, str], read_answer: AnswerReader
    ) -> InFlight:
        """Write a request on an idle connection (a new one if none is idle)."""
        if self._idle:
            connection = self._idle.pop()
        else:
            try:
                connection = self._make()
            except (OSError, ValueError) as exc:  # ValueError: e.g. a bad certificate file
                return InFlight(Retry(f"{type(exc).__name__}: {exc}", is_network=True))
            self._all.append(connection)
        try:
            connection.send(target, body, headers)
        except OSError as exc:
            self._idle.append(connection)  # closed by the failure; it reconnects next time
            return InFlight(Retry(f"{type(exc).__name__}: {exc}", is_network=True))
        return InFlight(None, self, connection, read_answer)

    def put_back(self, connection: Connection) -> None:
        self._idle.append(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
