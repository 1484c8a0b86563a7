"""Settings: TOML file + environment, validated. `load_settings` never half-loads: it returns a
complete `Settings` or raises `ConfigError` listing every problem with its key path."""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def _check_code(v: str) -> str:
    if not CODE.match(v):
        raise ValueError("letters, digits, - or _, at most 16")
    return v


Code = Annotated[str, AfterValidator(_check_code)]


class ConfigError(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{k}: {m}" for k, m in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_hours(v: list[list[str]] | None) -> list[list[str]] | None:
    if v is None:
        return v
    for period in v:
        if len(period) != 2 or not all(HHMM.match(x) for x in period):
            raise ValueError("each period is [\"HH:MM\", \"HH:MM\"]")
        if period[0] >= period[1]:
            raise ValueError(f"period {period[0]}-{period[1]} ends before it starts")
    return v


class Material(_Strict):
    name: str = Field(min_length=1)
    copies: int = Field(default=1, ge=1, le=99)
    original: bool = True


class MatterConfig(_Strict):
    code: Code
    name: str = Field(min_length=1)
    department: str | None = None
    case_type: Literal["immediate", "promised", "review", "joint"] = "promised"
    promised_days: int = Field(default=0, ge=0, le=365)
    fee: str | None = None
    materials: list[Material] = []
    joint_departments: list[str] | None = None
    enabled: bool = True


class ZoneConfig(_Strict):
    code: Code
    name: str = Field(min_length=1)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    daily_quota: int = Field(default=999, ge=1, le=9999)
    opening_hours: list[list[str]] | None = None
    matters: list[MatterConfig] = []
    enabled: bool = True

    _hours = field_validator("opening_hours")(classmethod(lambda cls, v: _check_hours(v)))


class WindowConfig(_Strict):
    code: Code
    name: str = Field(min_length=1)
    zones: list[str] = Field(min_length=1)
    led_address: int | None = Field(default=None, ge=1, le=255)
    enabled: bool = True


class PrinterConfig(_Strict):
    """A receipt printer: `transport` as printer_driver.transports.make_transport takes it
    ({kind = "network", host = "192.0.2.31", port = 9100}, {kind = "serial", port = "/dev/ttyUSB0"},
    {kind = "usb", vendor_id = "0x0416", product_id = "0x5011"}, {kind = "file", path = "/dev/usb/lp0"}),
    `profile` as printer_driver.profiles.profile_from_dict ({base = "80mm", charset = "GB18030"})."""

    code: Code
    name: str = Field(min_length=1)
    transport: dict[str, Any]
    profile: dict[str, Any] = {"base": "80mm"}
    enabled: bool = True

    _transport = field_validator("transport")(classmethod(lambda cls, v: check_transport(v)))
    _profile = field_validator("profile")(classmethod(lambda cls, v: check_profile(v)))


def check_transport(v: dict[str, Any]) -> dict[str, Any]:
    """A printer transport as make_transport takes it (the rule of [[printers]] and of the admin API)."""
    from printer_driver.transports import make_transport
    _json_only(v)
    try:
        make_transport(v)  # builds the object only: nothing is opened
    except (TypeError, ValueError) as e:
        raise ValueError(f"not a printer transport: {e}") from None
    return v


def check_profile(v: dict[str, Any]) -> dict[str, Any]:
    """A printer profile as profile_from_dict takes it (the rule of [[printers]] and of the admin API)."""
    from printer_driver.profiles import profile_from_dict
    _json_only(v)
    try:
        profile_from_dict(v)
    except (TypeError, ValueError) as e:
        raise ValueError(f"not a printer profile: {e}") from None
    return v


def _json_only(v: Any) -> None:
    """Printer settings are stored as JSON: TOML dates and times have no place in them."""
    if isinstance(v, dict):
        for x in v.values():
            _json_only(x)
    elif isinstance(v, list):
        for x in v:
            _json_only(x)
    elif not (v is None or isinstance(v, (str, int, float, bool))):
        raise ValueError(f"{v!r} is not a string, number or boolean")


class DeviceConfig(_Strict):
    code: str
    name: str
    role: Literal["kiosk", "display"]
    zones: list[str] | None = None
    token_env: str | None = Field(default=None, description="environment variable holding the token")
    printer: str | None = Field(default=None, description="a kiosk's printer: the code of one of [[printers]]")


class HallConfig(_Strict):
    code: str
    name: str
    timezone: str = "Asia/Shanghai"
    opening_hours: list[list[str]] = [["09:00", "12:00"], ["13:30", "17:30"]]
    open_weekdays: list[int] = [1, 2, 3, 4, 5]
    hotline: str | None = None
    priority_cap: int = Field(default=3, ge=1, le=100)
    recall_cap: int = Field(default=3, ge=1, le=20)
    requeue_after: int = Field(default=3, ge=0, le=100)
    default_service_s: int = Field(default=300, ge=10, le=7200)

    _hours = field_validator("opening_hours")(classmethod(lambda cls, v: _check_hours(v)))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("open_weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in v):
            raise ValueError("ISO weekdays 1 (Monday) to 7 (Sunday)")
        return v


class HolidayConfig(_Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    kind: Literal["holiday", "workday"] = "holiday"
    name: str


class Layout(_Strict):
    hall: HallConfig
    zones: list[ZoneConfig] = Field(min_length=1)
    windows: list[WindowConfig] = []
    printers: list[PrinterConfig] = []
    devices: list[DeviceConfig] = []
    holidays: list[HolidayConfig] = []


def _reference_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-references of the layout, checked on the raw document so that they are reported
    together with field errors."""
    problems: list[tuple[str, str]] = []

    def items(key: str) -> list[dict[str, Any]]:
        v = data.get(key, [])
        return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []

    def dups(values: list[Any]) -> list[Any]:
        return sorted({v for v in values if values.count(v) > 1}, key=str)

    zs = items("zones")
    zone_codes = [z.get("code") for z in zs]
    for d in dups(zone_codes):
        problems.append(("zones", f"zone code {d!r} is used twice"))
    for d in dups([z.get("prefix") for z in zs]):
        problems.append(("zones", f"prefix {d!r} is used by two zones"))
    matter_codes = [m.get("code") for z in zs for m in (z.get("matters") or []) if isinstance(m, dict)]
    for d in dups(matter_codes):
        problems.append(("zones", f"matter code {d!r} is used twice"))
    ws = items("windows")
    for d in dups([w.get("code") for w in ws]):
        problems.append(("windows", f"window code {d!r} is used twice"))
    for d in dups([w.get("led_address") for w in ws if w.get("led_address") is not None]):
        problems.append(("windows", f"LED address {d!r} is used by two windows"))
    for i, w in enumerate(ws):
        wz = w.get("zones") or []
        for z in wz:
            if z not in zone_codes:
                problems.append((f"windows.{i}.zones", f"unknown zone {z!r}"))
        if len(set(map(str, wz))) != len(wz):
            problems.append((f"windows.{i}.zones", "a zone is listed twice"))
    devs = items("devices")
    for d in dups([x.get("code") for x in devs]):
        problems.append(("devices", f"device code {d!r} is used twice"))
    ps = items("printers")
    printer_codes = [p.get("code") for p in ps]
    for d in dups(printer_codes):
        problems.append(("printers", f"printer code {d!r} is used twice"))
    for i, dv in enumerate(devs):
        for z in dv.get("zones") or []:
            if z not in zone_codes:
                problems.append((f"devices.{i}.zones", f"unknown zone {z!r}"))
        printer = dv.get("printer")
        if printer is not None:
            if printer not in printer_codes:
                problems.append((f"devices.{i}.printer", f"unknown printer {printer!r}"))
            if dv.get("role") != "kiosk":
                problems.append((f"devices.{i}.printer", "only a kiosk has a printer"))
    return problems


class ServerConfig(_Strict):
    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    database_url: str = "sqlite:///var/hall.db"
    public_base_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sqlite_synchronous: Literal["full", "normal"] = "full"
    access_log: bool = False
    sweep_interval_s: float = Field(default=30.0, gt=0, le=3600)


class SecurityConfig(_Strict):
    secret_key_env: str = "HALL_SECRET_KEY"
    data_key_env: str = "HALL_DATA_KEY"
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 7)
    lockout_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=5, ge=1, le=24 * 60)
    password_min_length: int = Field(default=10, ge=8, le=128)


class PrintingConfig(_Strict):
    """How the server drives its printers (the printers themselves are in the layout)."""

    spoolers: bool = True            # print from this server (one process of the workers does)
    poll_s: float = Field(default=2.0, gt=0, le=60)          # status poll while idle or not ready
    max_attempts: int = Field(default=5, ge=1, le=100)       # failed sends before a job fails (alarm)
    backoff_s: float = Field(default=2.0, gt=0, le=3600)     # first retry delay, doubling
    backoff_max_s: float = Field(default=300.0, gt=0, le=86400)
    leader_retry_s: float = Field(default=5.0, gt=0, le=300)  # PostgreSQL: a worker without the
                                                              # spooler lock tries again this often
    font_path: str | None = None     # CJK TrueType font for rare characters and previews


class Settings(_Strict):
    server: ServerConfig = ServerConfig()
    security: SecurityConfig = SecurityConfig()
    printing: PrintingConfig = PrintingConfig()
    layout: Layout | None = None
    # Resolved at load time, not from the file:
    demo: bool = False
    secret_key: str = ""
    data_key: str = ""
    device_tokens: dict[str, str] = {}
    base_dir: str = "."
    ignore_opening_hours: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.server.database_url.startswith("sqlite")


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def parse_config(data: dict[str, Any], *, env: dict[str, str] | None = None, base_dir: str = ".",
                 require_secrets: bool = True) -> Settings:
    """Validate a parsed TOML document. Every problem is collected with its key path."""
    env = dict(os.environ if env is None else env)
    problems: list[tuple[str, str]] = []
    layout_keys = ("hall", "zones", "windows", "printers", "devices", "holidays")
    file_server = data.get("server", {})
    file_security = data.get("security", {})
    unknown = set(data) - set(layout_keys) - {"server", "security", "printing"}
    for k in sorted(unknown):
        problems.append((k, "unknown section"))
    layout = None
    server = security = None
    printing = PrintingConfig()
    try:
        printing = PrintingConfig.model_validate(data.get("printing", {}))
    except ValidationError as e:
        problems += [(_loc(("printing",) + tuple(err["loc"])), err["msg"]) for err in e.errors()]
    try:
        server = ServerConfig(**file_server) if isinstance(file_server, dict) else ServerConfig.model_validate(file_server)
    except ValidationError as e:
        problems += [(_loc(("server",) + tuple(err["loc"])), err["msg"]) for err in e.errors()]
    try:
        security = SecurityConfig.model_validate(file_security)
    except ValidationError as e:
        problems += [(_loc(("security",) + tuple(err["loc"])), err["msg"]) for err in e.errors()]
    if "hall" in data or "zones" in data:
        try:
            layout = Layout.model_validate({k: data[k] for k in layout_keys if k in data})
        except ValidationError as e:
            problems += [(_loc(tuple(err["loc"])) or "(layout)", err["msg"].removeprefix("Value error, "))
                         for err in e.errors()]
        problems += _reference_problems(data)
        if problems:
            layout = None
    secret_key = data_key = ""
    tokens: dict[str, str] = {}
    if security is not None:
        secret_key = env.get(security.secret_key_env, "")
        data_key = env.get(security.data_key_env, "")
        if require_secrets:
            if len(secret_key) < 32:
                problems.append(("security.secret_key_env",
                                 f"environment variable {security.secret_key_env} must hold a secret of at least 32 characters"))
            elif secret_key in KNOWN_DEFAULT_SECRETS:
                problems.append(("security.secret_key_env", "a default secret is in force; set your own"))
            if not _valid_data_key(data_key):
                problems.append(("security.data_key_env",
                                 f"environment variable {security.data_key_env} must hold 32 bytes as 64 hex digits"))
            elif data_key in KNOWN_DEFAULT_SECRETS:
                problems.append(("security.data_key_env", "a default key is in force; set your own"))
    raw_devices = data.get("devices") if isinstance(data.get("devices"), list) else []
    for i, d in enumerate(raw_devices):
        name = d.get("token_env") if isinstance(d, dict) else None
        if isinstance(name, str) and name:
            tok = env.get(name, "")
            if require_secrets and len(tok) < 24:
                problems.append((f"devices.{i}.token_env",
                                 f"environment variable {name} must hold a token of at least 24 characters"))
            elif tok:
                tokens[str(d.get("code"))] = tok
    if problems:
        raise ConfigError(problems)
    assert server is not None and security is not None
    return Settings(server=server, security=security, printing=printing, layout=layout, secret_key=secret_key,
                    data_key=data_key, device_tokens=tokens, base_dir=base_dir)


# Secrets that ship in documentation: `serve` refuses them.
KNOWN_DEFAULT_SECRETS = frozenset({
    "change-me", "changeme", "secret", "0" * 64,
    "please-change-this-secret-key-0123456789",
})


def _valid_data_key(v: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{64}", v or ""))


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([("(file)", f"no such file: {p}")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([("(file)", f"not valid TOML: {e}")]) from None


def load_settings(path: str | Path, *, env: dict[str, str] | None = None, require_secrets: bool = True) -> Settings:
    data = read_toml(path)
    return parse_config(data, env=env, base_dir=str(Path(path).resolve().parent), require_secrets=require_secrets)
