"""FastAPI and Starlette apps with tripwire.init(): the integrations enable themselves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Mount, Route

import tripwire
from tests.integrations.web.servers import serve_asgi, wait_for
from tripwire.integrations.fastapi import FastApiIntegration
from tripwire.integrations.starlette import StarletteIntegration
from tripwire.testing import Collector, capture_events


class Order(BaseModel):
    item: str
    quantity: int


class OutOfStock(Exception):
    pass


def _fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/orders/{shop}")
    async def create_order(shop: str, order: Order, tag: str = "") -> dict[str, str]:
        if tag:
            tripwire.set_tag("request", tag)
            tripwire.set_user({"id": tag})
            await asyncio.sleep(0.01)
        raise ValueError(f"cannot order {order.item}")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=500, detail="no tea")

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(status_code=404)

    @app.get("/stock")
    def stock() -> None:
        raise OutOfStock("none left")

    @app.exception_handler(OutOfStock)
    async def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
        return JSONResponse({"error": "out of stock"}, status_code=503)

    return app


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def test_fastapi_error_is_reported_with_request_data_and_no_secrets() -> None:
    with capture_events() as events, serve_asgi(_fastapi_app()) as url:
        response = httpx.post(
            f"{url}/orders/north?page=1",
            json={"item": "book", "quantity": 2},
            headers={"Authorization": "Bearer hunter2", "Cookie": "session=cookie-secret"},
        )
        assert response.status_code == 500
        wait_for(lambda: events)

    [event] = events
    assert _exception(event)["type"] == "ValueError"
    assert _exception(event)["mechanism"] == {"type": "fastapi", "handled": False}
    assert event["transaction"] == "/orders/{shop}"
    assert event["transaction_info"] == {"source": "route"}
    request = event["request"]
    assert request["url"] == f"{url}/orders/north"
    assert request["method"] == "POST"
    assert request["query_string"] == "page=1"
    assert request["data"] == {"item": "book", "quantity": 2}
    sent = json.dumps(event)
    assert "hunter2" not in sent
    assert "cookie-secret" not in sent
    assert "fastapi" in event["sdk"]["integrations"]


def test_endpoint_transaction_style_names_the_function() -> None:
    integration = FastApiIntegration(transaction_style="endpoint")
    with capture_events(integrations=[integration]) as events, serve_asgi(_fastapi_app()) as url:
        httpx.post(f"{url}/orders/north", json={"item": "book", "quantity": 2})
        wait_for(lambda: events)

    assert events[0]["transaction"].endswith("_fastapi_app.<locals>.create_order")
    assert events[0]["transaction_info"] == {"source": "component"}


def test_exceptions_handled_into_5xx_answers_are_reported_as_handled() -> None:
    with capture_events() as events, serve_asgi(_fastapi_app()) as url:
        assert httpx.get(f"{url}/teapot").status_code == 500
        assert httpx.get(f"{url}/stock").status_code == 503
        assert httpx.get(f"{url}/missing").status_code == 404
        wait_for(lambda: len(events) >= 2)

    assert [_exception(e)["type"] for e in events] == ["HTTPException", "OutOfStock"]
    assert all(_exception(e)["mechanism"]["handled"] for e in events)
    assert events[1]["request"]["url"] == f"{url}/stock"


def test_concurrent_fastapi_requests_keep_their_own_tags() -> None:
    names = [f"r{i}" for i in range(20)]

    async def send_all(url: str) -> None:
        async with httpx.AsyncClient() as client:
            await asyncio.gather(
                *(
                    client.post(f"{url}/orders/x?tag={n}", json={"item": n, "quantity": 1})
                    for n in names
                )
            )

    with capture_events() as events, serve_asgi(_fastapi_app()) as url:
        asyncio.run(send_all(url))
        wait_for(lambda: len(events) == len(names))

    for event in events:
        name = event["tags"]["request"]
        assert event["user"] == {"id": name}
        assert event["request"]["data"] == {"item": name, "quantity": 1}


def _starlette_app() -> Starlette:
    async def boom(request: Request) -> None:
        raise RuntimeError(request.path_params["name"])

    inner = Starlette(routes=[Route("/users/{name}", boom)])
    return Starlette(routes=[Mount("/api", app=inner)])


def test_starlette_mounted_route_names_the_transaction() -> None:
    with capture_events() as events, serve_asgi(_starlette_app()) as url:
        httpx.get(f"{url}/api/users/ada")
        wait_for(lambda: events)

    [event] = events
    assert _exception(event)["mechanism"] == {"type": "starlette", "handled": False}
    assert event["transaction"] == "/api/users/{name}"
    assert event["request"]["url"] == f"{url}/api/users/ada"


def test_disabled_integration_leaves_the_app_alone() -> None:
    with (
        capture_events(disabled_integrations=[StarletteIntegration, FastApiIntegration]) as events,
        serve_asgi(_starlette_app()) as url,
    ):
        assert httpx.get(f"{url}/api/users/ada").status_code == 500

    assert events == []


def test_invalid_transaction_style_is_refused() -> None:
    with pytest.raises(ValueError, match="transaction_style"):
        StarletteIntegration(transaction_style="path")


class _HeaderAuth(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        return AuthCredentials(["authenticated"]), SimpleUser(conn.headers["x-user"])


@pytest.mark.parametrize("pii", [False, True])
def test_authenticated_user_is_sent_only_with_pii(pii: bool) -> None:
    async def boom(request: Request) -> None:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/me", boom)],
        middleware=[Middleware(AuthenticationMiddleware, backend=_HeaderAuth())],
    )
    with capture_events(send_default_pii=pii) as events, serve_asgi(app) as url:
        httpx.get(f"{url}/me", headers={"X-User": "ada-lovelace"})
        wait_for(lambda: events)

    assert events[0].get("user", {}).get("username") == ("ada-lovelace" if pii else None)


def test_fastapi_app_with_init_sends_its_failure_over_http(collector: Collector) -> None:
    """The whole path: init() with a DSN, uvicorn, the event as the collector got it."""
    tripwire.init(dsn=collector.dsn)
    with serve_asgi(_fastapi_app()) as url:
        httpx.post(
            f"{url}/orders/south",
            json={"item": "lamp", "quantity": 1},
            headers={"Authorization": "Bearer hunter2", "X-Api-Key": "api-key-secret"},
        )
        assert collector.wait_for_events(1)

    [event] = collector.events
    assert _exception(event)["mechanism"] == {"type": "fastapi", "handled": False}
    assert event["transaction"] == "/orders/{shop}"
    assert event["request"]["data"] == {"item": "lamp", "quantity": 1}
    sent = json.dumps(event)
    assert "hunter2" not in sent
    assert "api-key-secret" not in sent


def test_failures_are_reported_before_the_500_goes_out() -> None:
    """Reporting after the answer would keep each connection open meanwhile (the server
    closes it once the exception is through): a client reusing it would lose its request."""
    with capture_events() as events, serve_asgi(_fastapi_app()) as url:
        for count in (1, 2, 3):
            response = httpx.post(f"{url}/orders/x", json={"item": "a", "quantity": 1})
            assert response.status_code == 500
            assert len(events) == count  # no waiting: it was captured before the answer
