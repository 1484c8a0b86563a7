"""Stream messages shaped exactly as the server sends them (see kiosk_server/services/tickets.py,
windows.py and db/queries.py:display_snapshot), for the display client's tests."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

AT = "2026-11-23T09:00:00+08:00"
WINDOW_NAMES = {"01": "综合出件窗口", "06": "商事登记窗口", "07": "商事登记首席代表", "11": "不动产登记窗口"}


def tokens(number: str, window: str) -> list[str]:
    return ["请", *number, "号", "到", *window, "号窗口", "办理"]


def window_ref(code: str) -> dict[str, str]:
    return {"code": code, "name": WINDOW_NAMES.get(code, f"{code}号窗口")}


def ticket(tid: int, number: str) -> dict[str, Any]:
    return {"id": tid, "number": number, "zone": number[0]}


def called(seq: int, tid: int, number: str, window: str, *, recall: bool = False, at: str = AT,
           waiting: int = 3) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "seq": seq, "type": "ticket.recalled" if recall else "ticket.called", "at": at,
        "ticket": ticket(tid, number), "window": window_ref(window),
        "announcement": {"text": f"请{number}号到{window}号窗口办理", "tokens": tokens(number, window)},
        "zone": number[0]}
    if recall:
        ev["call_count"] = 2
    else:
        ev["waiting"] = {number[0]: waiting}
    return ev


def ticket_event(seq: int, kind: str, tid: int, number: str, window: str | None, waiting: int = 3) -> dict[str, Any]:
    ev: dict[str, Any] = {"seq": seq, "type": f"ticket.{kind}", "at": AT, "ticket": ticket(tid, number)}
    if window is not None:
        ev["window"] = window_ref(window)
    ev["waiting"] = {number[0]: waiting}
    ev["zone"] = number[0]
    return ev


def issued(seq: int, tid: int, number: str, waiting: int) -> dict[str, Any]:
    return {"seq": seq, "type": "ticket.issued", "at": AT, "ticket": ticket(tid, number),
            "waiting": {number[0]: waiting}, "zone": number[0]}


def window_event(seq: int, kind: str, code: str, state: str, reason: str | None = None) -> dict[str, Any]:
    w: dict[str, Any] = {**window_ref(code), "state": state}
    if reason:
        w["reason"] = reason
    return {"seq": seq, "type": f"window.{kind}", "at": AT, "window": w}


def snapshot(seq: int, windows: dict[str, tuple[str, str | None]], calls: Sequence[dict[str, Any]] = (),
             waiting: dict[str, int] | None = None) -> dict[str, Any]:
    return {"type": "snapshot", "seq": seq, "hall": {"code": "HY", "name": "衡阳市政务服务中心"},
            "calls": sorted(calls, key=lambda c: -c["seq"]),
            "windows": [{"code": c, "name": WINDOW_NAMES.get(c, ""), "state": s, "current_number": n}
                        for c, (s, n) in sorted(windows.items())],
            "waiting": waiting or {"A": 0, "B": 0}}
