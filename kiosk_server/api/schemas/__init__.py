"""Request bodies (validated) and response shapes (documented in /openapi.json)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Code = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        """PostgreSQL text cannot hold U+0000 (the query fails with a 500): refuse it here."""
        if any(isinstance(s, str) and "\x00" in s for s in (v if isinstance(v, list) else [v])):
            raise ValueError("must not contain NUL characters")
        return v


class LoginIn(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    roles: list[str]
    active: bool = True


class LoginOut(BaseModel):
    token: str
    user: UserOut
    expires_at: datetime


class TicketCreate(Body):
    zone: str = Code
    matter: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    priority: Literal["normal", "priority"] = "normal"
    appointment_code: str | None = Field(default=None, min_length=1, max_length=32)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{5,20}$")
    application_number: str | None = Field(default=None, min_length=1, max_length=64)


class Ref(BaseModel):
    code: str
    name: str


class PrintState(BaseModel):
    job_id: int | None
    state: Literal["queued", "unavailable"]
    message: str | None = None  # when unavailable: what the kiosk tells the citizen


class KioskPrinter(BaseModel):
    code: str
    state: Literal["ready", "unavailable", "unknown"]
    status: dict[str, Any] | None
    message: str


class KioskMenu(BaseModel):
    hall: dict[str, Any]
    zones: list[dict[str, Any]]
    printer: KioskPrinter | None


class ReprintIn(Body):
    printer: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")


class TicketRef(BaseModel):
    id: int
    number: str


class PrintQueued(BaseModel):
    job_id: int | None
    state: Literal["queued", "unavailable"]
    printer: str
    ticket: TicketRef


class PrintJobOut(BaseModel):
    id: int
    printer: str
    kind: str
    status: Literal["queued", "printing", "done", "failed", "cancelled"]
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    reprint: bool
    lang: str
    ticket: TicketRef | None
    created_at: datetime
    updated_at: datetime


class PrinterOut(BaseModel):
    code: str
    name: str
    enabled: bool
    state: Literal["ready", "unavailable", "unknown"]
    status: dict[str, Any] | None
    status_at: datetime | None
    transport: dict[str, Any]
    profile: dict[str, Any]
    kiosks: list[str]
    jobs: dict[str, int]
    message: str


class TicketIssued(BaseModel):
    id: int
    number: str
    zone: Ref
    matter: Ref | None
    priority: str
    status: str
    waiting_ahead: int
    estimated_wait_s: int
    issued_at: datetime
    business_date: date
    public_token: str
    status_url: str
    print: PrintState | None


class TicketOut(BaseModel):
    id: int
    number: str
    zone: str
    queue_zone: str
    matter: Ref | None
    priority: str
    status: str
    business_date: date
    issued_at: datetime
    called_at: datetime | None
    started_at: datetime | None
    served_at: datetime | None
    window: Ref | None
    call_count: int
    transfers: list[dict]
    applications: list[int]


class PublicTicket(BaseModel):
    number: str
    zone: Ref
    status: str
    waiting_ahead: int
    estimated_wait_s: int
    window: Ref | None


class PauseIn(Body):
    reason: str = Field(min_length=1, max_length=200)


class CallIn(Body):
    ticket_id: int = Field(ge=1, le=2**62)  # as the ticket_id path parameter: fits a 64-bit id column


class TransferIn(Body):
    to_window: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    to_zone: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    reason: str = Field(min_length=1, max_length=200)


class Clerk(BaseModel):
    id: int
    display_name: str | None


class CurrentTicket(BaseModel):
    id: int
    number: str
    status: str
    zone: str | None
    called_at: datetime | None


class WindowOut(BaseModel):
    code: str
    name: str
    zones: list[str]
    state: Literal["closed", "open", "paused"]
    pause_reason: str | None
    led_address: int | None
    clerk: Clerk | None
    current_ticket: CurrentTicket | None


class ZoneWaiting(BaseModel):
    code: str
    name: str
    waiting: int


class WindowFigures(BaseModel):
    """A window's day so far, from ticket_history."""
    called: int             # calls made at this window (recalls not counted)
    served: int             # tickets finished here
    missed: int             # no-shows marked here
    transferred_out: int    # transfers made from here
    avg_service_s: float | None  # mean of started → served of the tickets finished here


class TransferredIn(BaseModel):
    id: int
    number: str
    zone: str | None
    priority: str
    from_window: str | None
    reason: str | None
    at: datetime | None


class MissedTicket(BaseModel):
    id: int
    number: str
    zone: str | None
    queue_zone: str | None
    priority: str
    called_at: datetime | None
    miss_count: int


class WindowToday(BaseModel):
    window: dict[str, Any]            # {"code", "name", "state", "pause_reason"}
    business_date: date
    zones: list[ZoneWaiting]          # the zones this window serves, in order
    figures: WindowFigures
    transferred_in: list[TransferredIn]   # waiting tickets transferred to this window, next first
    missed: list[MissedTicket]        # today's missed tickets of those zones, newest first
    hall_zones: list[Ref]             # every zone of the hall (targets of a transfer)


class UserCreate(Body):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)
    roles: list[str] = Field(min_length=1, max_length=4)


class UserUpdate(Body):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    roles: list[str] | None = Field(default=None, min_length=1, max_length=4)
    active: bool | None = None


class DeviceToken(BaseModel):
    code: str
    token: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS = {s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422, 429)}
