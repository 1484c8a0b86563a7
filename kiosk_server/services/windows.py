"""Window use cases: a clerk opens (signs in to) a window, pauses, resumes, closes it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from kiosk_server.db import queries
from kiosk_server.db import tables as T
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import Conflict, Forbidden
from kiosk_server.domain.model import Role, WindowState
from kiosk_server.services.context import Actor, Clock, Hall
from kiosk_server.services.events import Event, append_event
from kiosk_server.services.tickets import _active_ticket, _check_window_actor, _window, _window_ref


def _set_state(conn: Connection, hall: Hall, w: dict[str, Any], *, clock: Clock, event_type: str,
               **values: Any) -> tuple[dict[str, Any], list[Event]]:
    now = clock.now()
    conn.execute(update(T.windows).where(T.windows.c.id == w["id"]).values(**values))
    w.update(values)
    payload: dict[str, Any] = {"window": {**_window_ref(w), "state": w["state"]}}
    if w.get("pause_reason") and w["state"] == WindowState.PAUSED:
        payload["window"]["reason"] = w["pause_reason"]
    ev = append_event(conn, hall_id=hall.id, type=event_type, at=now, payload=payload)
    return w, [ev]


def open_window(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str):
    if not actor.has(Role.CLERK) or actor.user_id is None:
        raise Forbidden("forbidden")
    w = _window(conn, hall, window_code, lock=True)
    if w["state"] != WindowState.CLOSED:
        if w["clerk_id"] == actor.user_id:
            return w, []  # already signed in here: idempotent
        raise Conflict("window_taken", window=w["code"])
    other = conn.execute(select(T.windows.c.code).where(
        T.windows.c.hall_id == hall.id, T.windows.c.clerk_id == actor.user_id,
        T.windows.c.state != WindowState.CLOSED)).scalar()
    if other is not None:
        raise Conflict("clerk_has_window", window=other)
    return _set_state(conn, hall, w, clock=clock, event_type="window.opened", state=WindowState.OPEN,
                      clerk_id=actor.user_id, pause_reason=None, consecutive_priority=0)


def close_window(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str):
    w = _window(conn, hall, window_code, lock=True)
    _check_window_actor(w, actor)
    active = _active_ticket(conn, w["id"])
    if active is not None:
        raise Conflict("window_busy", window=w["code"], number=active["number"])
    return _set_state(conn, hall, w, clock=clock, event_type="window.closed", state=WindowState.CLOSED,
                      clerk_id=None, pause_reason=None)


def pause_window(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str, reason: str):
    w = _window(conn, hall, window_code, lock=True)
    _check_window_actor(w, actor)
    if w["state"] != WindowState.OPEN:
        raise Conflict("window_state", window=w["code"])
    active = _active_ticket(conn, w["id"])
    if active is not None:
        raise Conflict("window_busy", window=w["code"], number=active["number"])
    return _set_state(conn, hall, w, clock=clock, event_type="window.paused", state=WindowState.PAUSED,
                      pause_reason=reason)


def resume_window(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str):
    w = _window(conn, hall, window_code, lock=True)
    _check_window_actor(w, actor)
    if w["state"] != WindowState.PAUSED:
        raise Conflict("window_state", window=w["code"])
    return _set_state(conn, hall, w, clock=clock, event_type="window.resumed", state=WindowState.OPEN,
                      pause_reason=None)


def today_at_window(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str) -> dict[str, Any]:
    """Read: the window's day for its console (queries.window_today). A clerk sees only the
    window it holds; operators any."""
    w = _window(conn, hall, window_code)
    _check_window_actor(w, actor)
    return queries.window_today(conn, hall, w, business_date(clock.now(), hall.tz))
