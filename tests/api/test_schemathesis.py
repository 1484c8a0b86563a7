"""Property-based run of Schemathesis against the app's own /openapi.json.

For every operation (except POST /api/v1/auth/logout, which would revoke the token in use; the
display websocket is not in the OpenAPI document), Hypothesis generates requests from the schema,
in positive mode (valid by the schema) and, where the operation takes any input, negative mode
(invalid by the schema), and sends them authenticated as a principal the operation's `x-roles`
allows: op for most, sec for accounts, aud for the audit log, clerk1 for opening a window, and
anonymous for public operations. Operations that clerks may call run a second pass as clerk1.
Path parameters are drawn partly from the schema and partly from the real objects of the hall
(windows 06/07, ticket ids, user ids, device codes), so generated bodies and queries also reach
the use cases behind a valid path.

The properties: no 5xx, ever; every 4xx is in the error shape {"error": {"code", "message"}}.

Deterministic: `derandomize=True` fixes Hypothesis's seed, the clock is fixed, and the hall is
restored to the same template before every example (so each example sees the same state and a
failure shrinks and replays exactly). Bounded: MAX_EXAMPLES per operation and mode (25, about
a minute for the file; FUZZ_EXAMPLES=150 in the environment runs a deeper search, ~5 minutes).

At the end, the inputs this fuzzing found to fail (here and against PostgreSQL) are pinned.
"""
from __future__ import annotations

import os
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.api.harness import PRINCIPAL_ROLES, PUBLIC, Harness, Template, assert_error_shape, route_table_app

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
EXCLUDED = {("POST", "/api/v1/auth/logout")}
PREFERENCE = ["op", "clerk1", "sec", "aud", "K1", "S1"]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}

DOC = route_table_app().openapi()


def _who(x_roles: list[str]) -> str | None:
    if PUBLIC in x_roles:
        return None
    if "any" in x_roles:
        return "op"
    return next(p for p in PREFERENCE if PRINCIPAL_ROLES[p] & set(x_roles))


def _negatable(op: dict[str, Any]) -> bool:
    """Whether anything about the input can be invalid: a body, or a parameter that is more than
    a free string (a free string path parameter has no invalid value: negative mode is unsatisfiable)."""
    if op.get("requestBody"):
        return True
    for p in op.get("parameters", []):
        schema = p.get("schema", {})
        if p.get("in") != "path" and p.get("required"):
            return True
        if schema.get("type") != "string" or set(schema) - {"type", "title", "description"}:
            return True
    return False


def _cases() -> list[Any]:
    out = []
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS or (method.upper(), path) in EXCLUDED:
                continue
            roles = op.get("x-roles") or []
            modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _negatable(op) else [])
            first = _who(roles)
            whos = [first] + (["clerk1"] if "clerk" in roles and first != "clerk1" else [])
            for who in whos:
                for mode in modes if who == first else [GenerationMode.POSITIVE]:
                    out.append(pytest.param(method.upper(), path, who, mode,
                                            id=f"{method.upper()} {path} as {who or 'anonymous'} {mode.value}"))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def schema(harness: Harness) -> Any:
    """The schema as the app serves it, loaded through the ASGI app under test."""
    return schemathesis.openapi.from_asgi("/openapi.json", harness.app)


def _real_path_values(path: str, name: str, t: Template) -> list[Any] | None:
    """Objects of the prepared hall: window 06 (busy), 07 (open, free), 08 (closed); the called and
    the waiting tickets; every account; the display S2 and kiosk K1; ticket 1's public token."""
    segments = path.strip("/").split("/")
    before = segments[segments.index("{" + name + "}") - 1]
    return {
        ("windows", "code"): ["06", "07", "07", "08"],
        ("devices", "code"): ["S2", "K1"],
        ("tickets", "ticket_id"): [t.ticket_called, t.ticket_waiting, t.ticket_waiting_b],
        ("users", "user_id"): sorted(t.user_ids.values()),
        ("tickets", "public_token"): [t.public_token],
        ("zones", "code"): ["A", "C", "F"], ("matters", "code"): ["A01", "C01"], ("printers", "code"): ["P1"],
        ("holidays", "day"): ["2027-01-01"],
    }.get((before, name))


def _strategy(operation: Any, path: str, mode: GenerationMode, t: Template) -> Any:
    """Positive mode: three examples in four use real path parameters, so that generated bodies and
    queries reach the use cases; the fourth generates the path too. Negative mode: all generated."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p["name"] for p in DOC["paths"][path][operation.method.lower()].get("parameters", []) if p["in"] == "path"]
    real = {n: _real_path_values(path, n, t) for n in names}
    if not names or any(v is None for v in real.values()) or mode is not GenerationMode.POSITIVE:
        return generated
    with_real_path = st.fixed_dictionaries({n: st.sampled_from(v) for n, v in real.items()}).flatmap(
        lambda pp: operation.as_strategy(generation_mode=mode, path_parameters=pp))
    return st.integers(0, 3).flatmap(lambda i: generated if i == 0 else with_real_path)


def _describe(case: Any) -> str:
    return f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"


@pytest.mark.parametrize("method,path,who,mode", CASES)
def test_schemathesis(schema: Any, harness: Harness, method: str, path: str, who: str | None,
                      mode: GenerationMode) -> None:
    operation = schema[path][method]
    headers = harness.h(who)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=_strategy(operation, path, mode, harness.template))
    def run(case: Any) -> None:
        harness.reset()
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{_describe(case)} -> {response.status_code} {response.text}"
        if 400 <= response.status_code < 500:
            assert response.headers.get("content-type", [""])[0].startswith("application/json"), \
                f"{_describe(case)} -> {response.status_code} {response.headers}"
            assert_error_shape(response.status_code, response.json(), _describe(case))

    run()


# ---------------------------------------------------------------- findings, pinned

@pytest.mark.parametrize("value", [2**62 + 1, 2**63, 2**64])
def test_out_of_range_ticket_id_in_a_body_is_a_validation_error(hall_api: Harness, value: int) -> None:
    """Found by the run above: POST /windows/{code}/call {"ticket_id": 9223372036854775808} at a
    free window reached SQLite, which cannot bind an integer past 2**63-1 (OverflowError -> 500).
    The body is now bounded like the ticket_id path parameter."""
    r = hall_api.post("/api/v1/windows/07/call", "op", json={"ticket_id": value})
    assert r.status_code == 422, r.text
    assert_error_shape(422, r.json())
    assert r.json()["error"]["code"] == "validation"
    r = hall_api.post("/api/v1/windows/07/call", "op", json={"ticket_id": 2**62})
    assert r.status_code == 404 and r.json()["error"]["code"] == "ticket_not_found", r.text


@pytest.mark.parametrize("since", [2**63, 2**64])
def test_out_of_range_stream_since_is_refused_not_an_internal_error(hall_api: Harness, since: int) -> None:
    """The same unbounded integer on the display stream's `since`: the replay query raised
    OverflowError and the stream closed with 1011 (internal error) after logging a traceback.
    Now it is a parameter error: 1008 before the connection is accepted."""
    from starlette.websockets import WebSocketDisconnect
    with pytest.raises(WebSocketDisconnect) as e:
        with hall_api.client.websocket_connect(f"/api/v1/display/stream?since={since}", headers=hall_api.h("S1")) as ws:
            ws.receive_text()
    assert e.value.code == 1008
    with hall_api.client.websocket_connect(f"/api/v1/display/stream?since={2**62}", headers=hall_api.h("S1")) as ws:
        assert ws.receive_json()["type"] == "snapshot"  # past the newest event: a snapshot


def _edge_cases(user_ids: dict[str, int]) -> list[tuple[str, str, str | None, Any]]:
    """Inputs that passed validation and failed in the database with a 500 on PostgreSQL (found
    by running this fuzzing against a PostgreSQL hall): text with U+0000, which PostgreSQL text
    cannot hold, and a user id past the 32-bit users.id column."""
    nul = "x\x00y"
    return [
        ("POST", "/api/v1/auth/login", None, {"username": nul, "password": "whatever-1A"}),
        ("POST", "/api/v1/tickets", "op", {"zone": "A", "appointment_code": nul}),
        ("POST", "/api/v1/tickets", "op", {"zone": "A", "application_number": nul}),
        ("POST", "/api/v1/windows/07/pause", "op", {"reason": nul}),
        ("POST", "/api/v1/tickets/1/transfer", "op", {"to_zone": "B", "reason": nul}),
        ("POST", "/api/v1/admin/users", "sec", {"username": "new.user", "display_name": nul,
                                                "password": "Test-Passw0rd-Hall", "roles": ["clerk"]}),
        ("POST", "/api/v1/admin/users", "sec", {"username": "new.user", "display_name": "N",
                                                "password": "Test-Passw0rd-Hall", "roles": [f"clerk{nul}"]}),
        ("PATCH", f"/api/v1/admin/users/{user_ids['clerk3']}", "sec", {"display_name": nul}),
        ("PATCH", f"/api/v1/admin/users/{2**31}", "sec", {"display_name": "x"}),
        ("GET", "/api/v1/public/tickets/x%00y", None, None),
        ("GET", "/api/v1/display/snapshot?zones=A%00", "op", None),
    ]


def _check_edge_cases(send: Any, user_ids: dict[str, int]) -> None:
    for method, url, who, body in _edge_cases(user_ids):
        r = send(method, url, who, body)
        assert r.status_code == 422, f"{method} {url} {body!r}: {r.status_code} {r.text}"
        assert_error_shape(422, r.json(), url)
        assert r.json()["error"]["code"] == "validation"


def test_nul_text_and_int4_overflow_are_validation_errors(hall_api: Harness) -> None:
    _check_edge_cases(lambda m, url, who, body: hall_api.request(m, url, who, json=body), hall_api.template.user_ids)


@pytest.mark.postgres
def test_nul_text_and_int4_overflow_are_validation_errors_on_postgresql(pg_url: str) -> None:
    """The same inputs against a real PostgreSQL hall, where they used to be 500s."""
    from fastapi.testclient import TestClient

    from kiosk_server.main import create_app
    from tests.support.hall import PASSWORD, FakeClock, prepare
    hall = prepare(pg_url)
    app = create_app(hall.settings, clock=FakeClock(), run_sweeper=False)
    # Without the lifespan (no `with`): these requests need no event listener, and the
    # listener's shutdown can hang (PgFanout.run cancelled inside its wait; reported).
    client = TestClient(app, raise_server_exceptions=False)
    try:
        tokens = {who: client.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD}).json()["token"]
                  for who in ("op", "sec")}

        def send(method: str, url: str, who: str | None, body: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return client.request(method, url, headers=headers, json=body)

        _check_edge_cases(send, hall.users)
        # and the valid neighbours still work there
        assert send("GET", "/api/v1/display/snapshot?zones=A,B", "op", None).status_code == 200
        assert send("PATCH", f"/api/v1/admin/users/{2**31 - 1}", "sec", {"display_name": "x"}).status_code == 404
    finally:
        client.close()
        app.state.container.db.dispose()
        hall.db.dispose()
