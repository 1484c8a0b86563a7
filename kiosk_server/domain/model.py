"""Statuses, roles and the rules of the ticket life cycle. Standard library only."""
from __future__ import annotations

from enum import IntEnum, StrEnum


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    SERVED = "served"
    MISSED = "missed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ACTIVE_STATUSES = (TicketStatus.CALLED, TicketStatus.SERVING)
OPEN_STATUSES = (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING, TicketStatus.MISSED)


class Priority(StrEnum):
    NORMAL = "normal"
    PRIORITY = "priority"


class WindowState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"


class Role(StrEnum):
    OPERATOR = "operator"
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"
    CLERK = "clerk"
    KIOSK = "kiosk"
    DISPLAY = "display"


ADMIN_ROLES = frozenset({Role.OPERATOR, Role.SECURITY_ADMIN, Role.AUDITOR})
DEVICE_ROLES = frozenset({Role.KIOSK, Role.DISPLAY})
USER_ROLES = frozenset(Role) - DEVICE_ROLES


class QueueRank(IntEnum):
    """Order of classes in a window's queue (lower is called first)."""

    TRANSFERRED = 0
    APPOINTMENT = 1
    PRIORITY = 2
    NORMAL = 3


# Allowed transitions: action -> (from statuses, to status)
TRANSITIONS: dict[str, tuple[tuple[TicketStatus, ...], TicketStatus]] = {
    "call": ((TicketStatus.WAITING,), TicketStatus.CALLED),
    "start": ((TicketStatus.CALLED,), TicketStatus.SERVING),
    "no_show": ((TicketStatus.CALLED,), TicketStatus.MISSED),
    "requeue": ((TicketStatus.MISSED,), TicketStatus.WAITING),
    "transfer": ((TicketStatus.CALLED, TicketStatus.SERVING), TicketStatus.WAITING),
    "finish": ((TicketStatus.SERVING,), TicketStatus.SERVED),
    "cancel": ((TicketStatus.WAITING, TicketStatus.CALLED), TicketStatus.CANCELLED),
    "expire": ((TicketStatus.WAITING, TicketStatus.MISSED, TicketStatus.CALLED), TicketStatus.EXPIRED),
}


def check_roles(roles: set[str] | frozenset[str]) -> str | None:
    """Return an error code when a set of roles breaks the separation of duties, else None."""
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        return "role_unknown"
    if not roles:
        return "role_required"
    if len(set(roles) & ADMIN_ROLES) > 1:
        return "roles_not_separated"
    if set(roles) & DEVICE_ROLES:
        return "role_device_only"
    return None


def format_number(prefix: str, seq: int, width: int = 3) -> str:
    return f"{prefix}{seq:0{width}d}"
