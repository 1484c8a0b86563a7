"""Request bodies (validated) and response shapes (documented in /openapi.json)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    # The zone may be left out with an appointment_code: the booking names it (when given, it must match).
    zone: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    matter: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    priority: Literal["normal", "priority"] = "normal"
    appointment_code: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[0-9]+$")

    @model_validator(mode="after")
    def _zone_or_booking(self) -> TicketCreate:
        if self.zone is None and self.appointment_code is None:
            raise ValueError("zone is required (or an appointment_code)")
        return self
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
    appointment: AppointmentRef | None = None  # a checked-in booking's slot


class AppointmentRef(BaseModel):
    code: str
    start: str
    end: str


class AppointmentCreate(Body):
    zone: str = Code
    matter: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    date: date
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, the hall's local time")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    source: str | None = Field(default=None, max_length=64, description="the booking channel")


class AppointmentOut(BaseModel):
    code: str
    zone: str
    matter: str | None
    date: date
    start: str
    end: str
    status: Literal["booked", "checked_in", "cancelled", "missed"]
    source: str | None
    ticket_id: int | None
    checked_in_at: datetime | None


class CheckInIn(Body):
    code: str = Field(min_length=1, max_length=16, pattern=r"^[0-9]+$")


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


class ProblemOut(BaseModel):
    path: str       # the key path in the configuration, e.g. "zones.0.prefix"
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[ProblemOut] | None = None  # config import: every problem with its key path


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS = {s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422, 429)}


# ---------------------------------------------------------------- administration (operator)
# Create bodies give every field (defaults as in the configuration file); update bodies (PATCH)
# give only the fields that change. In an update, null is accepted only where the field itself
# may be null (`NULLABLE`): a zone's opening_hours (null: the hall's), a matter's department,
# fee and joint_departments, a window's led_address, a device's zones and printer.

Name = Field(min_length=1, max_length=200)
Day = date  # for models with a field named `date`
DeviceCodeField = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


def _deep_no_nul(v: Any, depth: int = 0) -> Any:
    """Nested text (opening hours, printer settings) may not hold U+0000 either, nor nest deeply."""
    if depth > 8:
        raise ValueError("nested too deeply")
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("must not contain NUL characters")
    elif isinstance(v, dict):
        for k, x in v.items():
            _deep_no_nul(k, depth + 1)
            _deep_no_nul(x, depth + 1)
    elif isinstance(v, list):
        for x in v:
            _deep_no_nul(x, depth + 1)
    return v


def _hours(v: list[list[str]] | None) -> list[list[str]] | None:
    from kiosk_server.config import _check_hours
    return _check_hours(_deep_no_nul(v))


def _not_blank(v: str | None) -> str | None:
    if v is not None and not v.strip():
        raise ValueError("must not be blank")
    return v


def _unique(v: list[str] | None) -> list[str] | None:
    if v is not None and len(set(v)) != len(v):
        raise ValueError("a code is listed twice")
    return v


class Patch(Body):
    """An update: only the fields sent change; null only where the field may be null."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _nulls(self) -> Patch:
        bad = sorted(f for f in self.model_fields_set if getattr(self, f) is None and f not in self.NULLABLE)
        if bad:
            raise ValueError(f"may not be null: {', '.join(bad)}")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ZoneCreate(Body):
    code: str = Code
    name: str = Name
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$", description="ticket number prefix, one or two capitals")
    daily_quota: int = Field(default=999, ge=1, le=9999)
    opening_hours: list[list[str]] | None = Field(default=None, max_length=12,
                                                  description='[["HH:MM","HH:MM"], …]; null: the hall\'s')
    position: int | None = Field(default=None, ge=0, le=100_000, description="order on the kiosk; null: last")
    enabled: bool = True

    _h = field_validator("opening_hours")(classmethod(lambda cls, v: _hours(v)))
    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))


class ZoneUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"opening_hours"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    prefix: str | None = Field(default=None, pattern=r"^[A-Z]{1,2}$")
    daily_quota: int | None = Field(default=None, ge=1, le=9999)
    opening_hours: list[list[str]] | None = Field(default=None, max_length=12)
    position: int | None = Field(default=None, ge=0, le=100_000)
    enabled: bool | None = None

    _h = field_validator("opening_hours")(classmethod(lambda cls, v: _hours(v)))
    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))


class ZoneOut(BaseModel):
    code: str
    name: str
    prefix: str
    daily_quota: int
    opening_hours: list[list[str]] | None
    position: int
    enabled: bool
    matters: int            # how many matters it offers
    windows: list[str]      # the windows serving it


class MaterialIn(Body):
    name: str = Name
    copies: int = Field(default=1, ge=1, le=99)
    original: bool = True

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))


CaseType = Literal["immediate", "promised", "review", "joint"]


class MatterCreate(Body):
    code: str = Code
    zone: str = Code
    name: str = Name
    department: str | None = Field(default=None, min_length=1, max_length=200)
    case_type: CaseType = "promised"
    promised_days: int = Field(default=0, ge=0, le=365, description="time limit in working days")
    fee: str | None = Field(default=None, min_length=1, max_length=100)
    materials: list[MaterialIn] = Field(default=[], max_length=100)
    joint_departments: list[str] | None = Field(default=None, max_length=20)
    position: int | None = Field(default=None, ge=0, le=100_000, description="order in its zone; null: last")
    enabled: bool = True

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _j = field_validator("joint_departments")(classmethod(lambda cls, v: _departments(v)))


def _departments(v: list[str] | None) -> list[str] | None:
    for d in v or []:
        if not d.strip() or len(d) > 200:
            raise ValueError("department names are 1 to 200 characters")
    return v


class MatterUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"department", "fee", "joint_departments"})
    zone: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    department: str | None = Field(default=None, min_length=1, max_length=200)
    case_type: CaseType | None = None
    promised_days: int | None = Field(default=None, ge=0, le=365)
    fee: str | None = Field(default=None, min_length=1, max_length=100)
    materials: list[MaterialIn] | None = Field(default=None, max_length=100)
    joint_departments: list[str] | None = Field(default=None, max_length=20)
    position: int | None = Field(default=None, ge=0, le=100_000)
    enabled: bool | None = None

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _j = field_validator("joint_departments")(classmethod(lambda cls, v: _departments(v)))


class MaterialOut(BaseModel):
    name: str
    copies: int
    original: bool


class MatterOut(BaseModel):
    code: str
    zone: str
    name: str
    department: str | None
    case_type: str
    promised_days: int
    fee: str | None
    materials: list[MaterialOut]
    joint_departments: list[str] | None
    position: int
    enabled: bool


ZoneCodes = Field(min_length=1, max_length=50, description="zone codes in the order served (first: preferred)")


class WindowCreate(Body):
    code: str = Code
    name: str = Name
    zones: list[str] = ZoneCodes
    led_address: int | None = Field(default=None, ge=1, le=255, description="address on the LED bus; unique")
    enabled: bool = True

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _z = field_validator("zones")(classmethod(lambda cls, v: _unique(_zone_codes(v))))


def _zone_codes(v: list[str] | None) -> list[str] | None:
    import re
    for z in v or []:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", z):
            raise ValueError("zone codes are letters, digits, - or _, at most 16")
    return v


class WindowUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"led_address"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    zones: list[str] | None = Field(default=None, min_length=1, max_length=50)
    led_address: int | None = Field(default=None, ge=1, le=255)
    enabled: bool | None = None

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _z = field_validator("zones")(classmethod(lambda cls, v: _unique(_zone_codes(v))))


class WindowAdminOut(BaseModel):
    code: str
    name: str
    zones: list[str]
    led_address: int | None
    enabled: bool
    state: Literal["closed", "open", "paused"]
    clerk: Clerk | None


def _transport(v: dict[str, Any]) -> dict[str, Any]:
    from kiosk_server.config import check_transport
    return check_transport(_deep_no_nul(v))


def _profile(v: dict[str, Any]) -> dict[str, Any]:
    from kiosk_server.config import check_profile
    return check_profile(_deep_no_nul(v))


class PrinterCreate(Body):
    code: str = Code
    name: str = Name
    transport: dict[str, Any] = Field(description='{"kind": "network", "host", "port"} | {"kind": "serial", "port", '
                                                  '"baudrate"} | {"kind": "usb", "vendor_id", "product_id"} | '
                                                  '{"kind": "file", "path": "/dev/…"}')
    profile: dict[str, Any] = Field(default={"base": "80mm"}, description='{"base": "58mm"|"80mm", "charset": '
                                                                          '"GB2312"|"GBK"|"GB18030", …}')
    enabled: bool = True

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _t = field_validator("transport")(classmethod(lambda cls, v: _transport(v)))
    _p = field_validator("profile")(classmethod(lambda cls, v: _profile(v)))


class PrinterUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    transport: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    enabled: bool | None = None

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _t = field_validator("transport")(classmethod(lambda cls, v: v if v is None else _transport(v)))
    _p = field_validator("profile")(classmethod(lambda cls, v: v if v is None else _profile(v)))


class DeviceCreate(Body):
    code: str = DeviceCodeField
    name: str = Name
    role: Literal["kiosk", "display"]
    zones: list[str] | None = Field(default=None, min_length=1, max_length=50,
                                    description="a display's zones (null: every zone)")
    printer: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$",
                                description="a kiosk's printer (code)")

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _z = field_validator("zones")(classmethod(lambda cls, v: _unique(_zone_codes(v))))


class DeviceUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"zones", "printer"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["kiosk", "display"] | None = None
    zones: list[str] | None = Field(default=None, min_length=1, max_length=50)
    printer: str | None = Field(default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))
    _z = field_validator("zones")(classmethod(lambda cls, v: _unique(_zone_codes(v))))


class DeviceOut(BaseModel):
    code: str
    name: str
    role: Literal["kiosk", "display"]
    zones: list[str] | None
    printer: str | None
    has_token: bool          # a token was issued (never the token or its hash)
    revoked: bool
    revoked_at: datetime | None
    created_at: datetime


class DeviceCreated(DeviceOut):
    token: str               # shown once: store it in the device now


class HolidayCreate(Body):
    date: Day
    kind: Literal["holiday", "workday"] = Field(default="holiday", description="holiday: closed on a weekday; "
                                                "workday: a make-up working day (调休) open on a weekend")
    name: str = Field(min_length=1, max_length=100)

    _n = field_validator("name")(classmethod(lambda cls, v: _not_blank(v)))

    @field_validator("date")
    @classmethod
    def _year(cls, v: Day) -> Day:
        if not 1900 <= v.year <= 2200:
            raise ValueError("a year from 1900 to 2200")
        return v


class HolidayOut(BaseModel):
    date: Day
    kind: Literal["holiday", "workday"]
    name: str


class Deleted(BaseModel):
    code: str | None = None
    date: Day | None = None
    deleted: bool
    matters: list[str] | None = None   # a zone's matters, deleted with it


class ImportOut(BaseModel):
    hall: str
    zones: int
    matters: int
    windows: int
    printers: int
    devices: int
    holidays: int
    ignored: list[str]   # sections of the file that an import does not apply ([server], [security], [printing])


class OverviewClerk(BaseModel):
    id: int
    display_name: str | None


class OverviewTicket(BaseModel):
    id: int
    number: str
    status: Literal["called", "serving"]
    zone: str | None
    since: datetime | None   # called at, or service started at


class OverviewWindow(BaseModel):
    code: str
    name: str
    zones: list[str]
    state: Literal["closed", "open", "paused"]
    since: datetime | None   # when it entered that state (null: not known)
    pause_reason: str | None
    clerk: OverviewClerk | None
    current_ticket: OverviewTicket | None


class OverviewZone(BaseModel):
    code: str
    name: str
    enabled: bool
    open: bool
    waiting: int
    longest_wait_s: int        # the oldest waiting ticket's wait since it was issued (0: nobody waits)
    oldest_number: str | None
    open_windows: int          # open windows serving the zone


class OverviewPrinter(BaseModel):
    code: str
    name: str
    enabled: bool
    state: Literal["online", "paper_low", "no_paper", "offline", "unknown", "disabled"]
    error: str | None          # the driver's reason: unreachable, no_response, cover_open, paper_out, …
    since: datetime | None     # when the printer reported this status
    message: str
    jobs: dict[str, int]       # queued, printing, failed


class Alarm(BaseModel):
    kind: Literal["printer", "print_jobs", "wait", "pause"]
    severity: Literal["warning", "alarm"]
    object: str                # the printer, zone or window code
    since: datetime | None
    message: str


class Overview(BaseModel):
    at: datetime
    business_date: date
    hall: Ref
    thresholds: dict[str, int]  # wait_alarm_s, pause_alarm_s
    windows: list[OverviewWindow]
    zones: list[OverviewZone]
    printers: list[OverviewPrinter]
    alarms: list[Alarm]
