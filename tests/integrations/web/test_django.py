"""Django apps with tripwire.init(): WSGI (wsgiref), ASGI (uvicorn) and the test client."""

from __future__ import annotations

import json
from typing import Any

import django
import httpx
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="not-secret-test-key",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        DATABASES={},
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path, re_path

import tripwire
from tests.integrations.web.servers import serve_asgi, serve_wsgi, wait_for
from tripwire.integrations.django import DjangoIntegration
from tripwire.testing import capture_events


def show_order(request: HttpRequest, order_id: int) -> HttpResponse:
    tag = request.GET.get("tag")
    if tag:
        tripwire.set_tag("request", tag)
    if request.method == "POST":
        request.body if request.content_type == "application/json" else request.POST.get("x")
    raise ValueError(f"order {order_id} is broken")


def legacy(request: HttpRequest, slug: str) -> HttpResponse:
    raise KeyError(slug)


def profile(request: HttpRequest, loaded: str) -> HttpResponse:
    from django.contrib.auth.models import User
    from django.utils.functional import SimpleLazyObject

    # What AuthenticationMiddleware does, without a database: a lazily loaded user.
    request.user = SimpleLazyObject(lambda: User(pk=7, username="ada", email="ada@example.com"))
    if loaded == "yes":
        request.user.get_username()
    raise ValueError("profile broke")


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


urlpatterns = [
    path("orders/<int:order_id>", show_order),
    re_path(r"^legacy/(?P<slug>[a-z]+)$", legacy),
    path("ok", ok),
    path("profile/<str:loaded>", profile),
]

SECRETS = {"Authorization": "Bearer hunter2", "Cookie": "sessionid=cookie-secret"}


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def _django_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e for e in events if "exception" in e and _exception(e)["mechanism"]["type"] == "django"
    ]


def test_wsgi_view_error_is_reported_with_request_data_and_no_secrets() -> None:
    with capture_events() as events, serve_wsgi(WSGIHandler()) as url:
        response = httpx.post(f"{url}/orders/7?page=1", json={"item": "book"}, headers=SECRETS)

    assert response.status_code == 500
    [event] = events  # Django's own error log of the same exception is deduplicated
    assert _exception(event)["mechanism"] == {"type": "django", "handled": False}
    assert event["transaction"] == "/orders/<int:order_id>"
    assert event["transaction_info"] == {"source": "route"}
    assert event["request"]["url"] == f"{url}/orders/7"
    assert event["request"]["data"] == {"item": "book"}
    sent = json.dumps(event)
    assert "hunter2" not in sent
    assert "cookie-secret" not in sent
    assert "django" in event["sdk"]["integrations"]


def test_asgi_view_error_is_reported_with_request_data() -> None:
    with capture_events() as events, serve_asgi(ASGIHandler()) as url:
        response = httpx.post(f"{url}/orders/8", data={"x": "1", "y": "2"}, headers=SECRETS)
        assert response.status_code == 500
        wait_for(lambda: _django_events(events))

    [event] = _django_events(events)
    assert event["transaction"] == "/orders/<int:order_id>"
    assert event["request"]["method"] == "POST"
    assert event["request"]["data"] == {"x": "1", "y": "2"}
    assert event["request"]["headers"]["Authorization"] == "[Filtered]"


def test_test_client_failures_carry_the_request_too() -> None:
    integration = DjangoIntegration(transaction_style="function_name")
    with capture_events(integrations=[integration]) as events:
        with pytest.raises(KeyError):
            Client().get("/legacy/abc?tag=t1")
        Client(raise_request_exception=False).get("/orders/3?tag=t2")

    legacy_event, order_event = _django_events(events)
    assert legacy_event["transaction"] == f"{__name__}.legacy"
    assert legacy_event["request"]["url"] == "http://testserver/legacy/abc"
    assert order_event["transaction"] == f"{__name__}.show_order"
    assert order_event["tags"]["request"] == "t2"


def test_regex_routes_name_the_transaction_by_their_pattern() -> None:
    with capture_events() as events, serve_wsgi(WSGIHandler()) as url:
        httpx.get(f"{url}/legacy/abc")

    [event] = _django_events(events)
    assert event["transaction"] == "/legacy/(?P<slug>[a-z]+)"


def test_healthy_requests_send_nothing() -> None:
    with capture_events() as events, serve_wsgi(WSGIHandler()) as url:
        assert httpx.get(f"{url}/ok").content == b"ok"

    assert events == []


def test_a_loaded_user_is_sent_with_pii_and_an_unloaded_one_never_loaded() -> None:
    with capture_events(send_default_pii=True) as events:
        client = Client(raise_request_exception=False)
        client.get("/profile/yes")
        client.get("/profile/no")

    loaded, unloaded = _django_events(events)
    assert loaded["user"] == {
        "id": "7",
        "username": "ada",
        "email": "ada@example.com",
        "ip_address": "127.0.0.1",
    }
    assert "id" not in unloaded.get("user", {})


def test_no_user_without_pii() -> None:
    with capture_events() as events:
        Client(raise_request_exception=False).get("/profile/yes")

    [event] = _django_events(events)
    assert "ada" not in json.dumps(event.get("user", {}))
