"""Flask apps with tripwire.init(): the integration enables itself when Flask is imported."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask, request

import tripwire
from tests.integrations.web.servers import serve_wsgi
from tripwire.integrations.flask import FlaskIntegration
from tripwire.testing import Collector, capture_events


def _app() -> Flask:
    app = Flask(__name__)

    @app.route("/orders/<int:order_id>", methods=["GET", "POST"])
    def show_order(order_id: int) -> str:
        tag = request.args.get("tag")
        if tag:
            tripwire.set_tag("request", tag)
            tripwire.set_user({"id": tag})
        if request.is_json:
            request.get_json()
        elif request.method == "POST":
            request.form.get("name")
        raise ValueError(f"order {order_id} is broken")

    @app.route("/ok")
    def ok() -> str:
        return "ok"

    return app


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def test_flask_error_is_reported_with_request_data_and_no_secrets() -> None:
    with capture_events() as events, serve_wsgi(_app()) as url:
        response = httpx.post(
            f"{url}/orders/7?page=1",
            json={"item": "book"},
            headers={
                "Authorization": "Bearer hunter2",
                "Cookie": "session=cookie-secret",
                "X-Forwarded-For": "203.0.113.9",
            },
        )

    assert response.status_code == 500
    [event] = events
    assert _exception(event)["type"] == "ValueError"
    assert _exception(event)["mechanism"] == {"type": "flask", "handled": False}
    assert event["transaction"] == "show_order"
    assert event["transaction_info"] == {"source": "component"}
    req = event["request"]
    assert req["url"] == f"{url}/orders/7"
    assert req["method"] == "POST"
    assert req["query_string"] == "page=1"
    assert req["data"] == {"item": "book"}
    sent = json.dumps(event)
    for secret in ("hunter2", "cookie-secret", "203.0.113.9"):
        assert secret not in sent
    assert "flask" in event["sdk"]["integrations"]


def test_propagated_exception_is_reported_once() -> None:
    app = _app()
    app.testing = True  # Flask re-raises the view's exception through the WSGI layer
    with capture_events() as events, pytest.raises(ValueError, match="order 3"):
        app.test_client().get("/orders/3")

    [event] = events
    assert _exception(event)["mechanism"]["type"] == "flask"
    assert event["request"]["url"] == "http://localhost/orders/3"


def test_url_transaction_style_names_the_rule() -> None:
    integration = FlaskIntegration(transaction_style="url")
    with capture_events(integrations=[integration]) as events:
        _app().test_client().get("/orders/3")

    assert events[0]["transaction"] == "/orders/<int:order_id>"
    assert events[0]["transaction_info"] == {"source": "route"}


def test_form_fields_are_attached_but_not_uploaded_files() -> None:
    with capture_events() as events:
        client = _app().test_client()
        client.post("/orders/1", data={"name": "ada", "role": "admin"})
        client.post("/orders/2", data={"name": "bob", "upload": (_file(), "notes.txt")})

    plain, multipart = events
    assert plain["request"]["data"] == {"name": "ada", "role": "admin"}
    assert multipart["request"]["data"] == {"name": "bob"}
    assert "notes" not in json.dumps(multipart)


def _file() -> Any:
    import io

    return io.BytesIO(b"private notes")


def test_with_pii_cookies_and_client_ip_are_collected() -> None:
    with capture_events(send_default_pii=True) as events, serve_wsgi(_app()) as url:
        httpx.get(f"{url}/orders/5", headers={"Cookie": "theme=dark", "X-Real-Ip": "192.0.2.4"})

    [event] = events
    assert event["request"]["cookies"] == {"theme": "dark"}
    assert event["user"]["ip_address"] == "192.0.2.4"


def test_concurrent_flask_requests_keep_their_own_tags_and_users() -> None:
    names = [f"r{i}" for i in range(16)]
    with (
        capture_events() as events,
        serve_wsgi(_app()) as url,
        httpx.Client() as client,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(lambda n: client.get(f"{url}/orders/1?tag={n}"), names))

    assert len(events) == len(names)
    for event in events:
        name = event["tags"]["request"]
        assert event["user"] == {"id": name}
        assert event["request"]["query_string"] == f"tag={name}"


def test_healthy_requests_send_nothing() -> None:
    with capture_events() as events:
        assert _app().test_client().get("/ok").data == b"ok"

    assert events == []


def test_flask_app_with_init_sends_its_failure_over_http(collector: Collector) -> None:
    """The whole path: init() with a DSN, a real server, the event as the collector got it."""
    tripwire.init(dsn=collector.dsn)
    with serve_wsgi(_app()) as url:
        httpx.post(
            f"{url}/orders/9",
            json={"item": "lamp"},
            headers={"Authorization": "Bearer hunter2", "Cookie": "session=cookie-secret"},
        )
    tripwire.flush(timeout=10)
    assert collector.wait_for_events(1)

    [event] = collector.events
    assert _exception(event)["mechanism"] == {"type": "flask", "handled": False}
    assert event["request"]["url"] == f"{url}/orders/9"
    assert event["request"]["data"] == {"item": "lamp"}
    sent = json.dumps(event)
    assert "hunter2" not in sent
    assert "cookie-secret" not in sent


def test_secret_query_values_stay_out_of_framework_reprs_in_frame_variables() -> None:
    """Flask's frames hold ``<Request 'http://...?token=...' [GET]>`` under names such as
    ``req``, which the scrubber's key rules cannot see; with PII on too."""
    with capture_events(send_default_pii=True) as events, serve_wsgi(_app()) as url:
        httpx.get(f"{url}/orders/7?page=1&token=s3cr3t-query-value")

    [event] = events
    sent = json.dumps(event)
    assert "s3cr3t-query-value" not in sent
    frame_vars = [
        text
        for frame in _exception(event)["stacktrace"]["frames"]
        for text in frame.get("vars", {}).values()
        if isinstance(text, str)
    ]
    assert any("<Request" in text and "token=[Filtered]" in text for text in frame_vars)
    assert event["request"]["query_string"] == "page=1&token=[Filtered]"
