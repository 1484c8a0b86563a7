"""Accounts, sign-in with lockout, bearer sessions with idle and absolute expiry, devices."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kiosk_server.config import SecurityConfig
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, Forbidden, Invalid, NotFound
from kiosk_server.domain.model import check_roles
from kiosk_server.services import audit
from kiosk_server.services.context import Actor
from kiosk_server.services.security import Keys, hash_password, new_token, password_problem, verify_password


def user_public(u: dict[str, Any]) -> dict[str, Any]:
    return {"id": u["id"], "username": u["username"], "display_name": u["display_name"],
            "roles": list(u["roles"]), "active": u["active"]}


def create_user(conn: Connection, *, username: str, display_name: str, password: str, roles: list[str],
                actor: Actor, now: datetime, security: SecurityConfig) -> dict[str, Any]:
    problem = check_roles(set(roles))
    if problem:
        raise Invalid(problem)
    if password_problem(password, security.password_min_length):
        raise Invalid("password_weak", min=security.password_min_length)
    if conn.execute(select(T.users.c.id).where(T.users.c.username == username)).scalar() is not None:
        raise Conflict("username_taken", username=username)
    uid = conn.execute(insert(T.users).values(
        username=username, display_name=display_name, password_hash=hash_password(password),
        roles=sorted(set(roles)), active=True, created_at=now).returning(T.users.c.id)).scalar_one()
    audit.record(conn, actor=actor, action="user.create", at=now, object_type="user", object_id=uid,
                 detail={"username": username, "roles": sorted(set(roles))})
    return user_public(conn.execute(select(T.users).where(T.users.c.id == uid)).mappings().one())


def update_user(conn: Connection, *, user_id: int, actor: Actor, now: datetime, security: SecurityConfig,
                roles: list[str] | None = None, display_name: str | None = None, active: bool | None = None,
                password: str | None = None) -> dict[str, Any]:
    u = conn.execute(select(T.users).where(T.users.c.id == user_id).with_for_update()).mappings().first()
    if u is None:
        raise NotFound("user_not_found")
    values: dict[str, Any] = {}
    if roles is not None:
        if actor.user_id == user_id:
            raise Forbidden("self_role_change")
        problem = check_roles(set(roles))
        if problem:
            raise Invalid(problem)
        values["roles"] = sorted(set(roles))
    if active is not None:
        if actor.user_id == user_id:
            raise Forbidden("self_role_change")
        values["active"] = active
    if display_name is not None:
        values["display_name"] = display_name
    if password is not None:
        if password_problem(password, security.password_min_length):
            raise Invalid("password_weak", min=security.password_min_length)
        values["password_hash"] = hash_password(password)
    if values:
        conn.execute(update(T.users).where(T.users.c.id == user_id).values(**values))
        if "roles" in values or "active" in values or "password_hash" in values:
            # Changed rights or credentials end every session of that account.
            conn.execute(update(T.auth_sessions).where(T.auth_sessions.c.user_id == user_id,
                                                       T.auth_sessions.c.revoked_at.is_(None)).values(revoked_at=now))
        audit.record(conn, actor=actor, action="user.update", at=now, object_type="user", object_id=user_id,
                     detail={k: v for k, v in values.items() if k != "password_hash"}
                     | ({"password": "changed"} if "password_hash" in values else {}))
    return user_public(conn.execute(select(T.users).where(T.users.c.id == user_id)).mappings().one())


@dataclass
class LoginResult:
    ok: bool
    token: str | None = None
    user: dict[str, Any] | None = None
    expires_at: datetime | None = None
    retry_after: int | None = None  # set when locked out


def _locked(conn: Connection, key: str, now: datetime) -> int | None:
    r = conn.execute(select(T.login_failures.c.locked_until).where(T.login_failures.c.key == key)).scalar()
    if r is not None and r > now:
        return int((r - now).total_seconds()) + 1
    return None


def _fail(conn: Connection, key: str, now: datetime, security: SecurityConfig) -> None:
    window = timedelta(minutes=security.lockout_minutes)
    r = conn.execute(select(T.login_failures).where(T.login_failures.c.key == key).with_for_update()).mappings().first()
    if r is None or r["first_at"] + window < now or (r["locked_until"] is not None and r["locked_until"] <= now):
        conn.execute(delete(T.login_failures).where(T.login_failures.c.key == key))
        failures, first = 1, now
    else:
        failures, first = r["failures"] + 1, r["first_at"]
        conn.execute(delete(T.login_failures).where(T.login_failures.c.key == key))
    locked = now + window if failures >= security.lockout_failures else None
    conn.execute(insert(T.login_failures).values(key=key, failures=failures, first_at=first, locked_until=locked))


def login(conn: Connection, *, username: str, password: str, client_addr: str | None, keys: Keys,
          now: datetime, security: SecurityConfig) -> LoginResult:
    """Never raises for bad credentials: the failure count must be committed, so the caller
    commits and then answers 401 or 429."""
    ukey, akey = f"user:{username.lower()}", f"addr:{client_addr or '-'}"
    actor = Actor(name=username[:80], roles=frozenset(), client_addr=client_addr)
    retry = max(filter(None, [_locked(conn, ukey, now), _locked(conn, akey, now)]), default=None)
    if retry is not None:
        audit.record(conn, actor=actor, action="auth.login", at=now, result="locked", object_type="user")
        return LoginResult(False, retry_after=retry)
    u = conn.execute(select(T.users).where(T.users.c.username == username)).mappings().first()
    ok = verify_password(u["password_hash"] if u else None, password) and u is not None and u["active"]
    if not ok:
        _fail(conn, ukey, now, security)
        _fail(conn, akey, now, security)
        audit.record(conn, actor=actor, action="auth.login", at=now, result="denied", object_type="user")
        return LoginResult(False)
    assert u is not None
    conn.execute(delete(T.login_failures).where(T.login_failures.c.key == ukey))
    token = new_token()
    expires = now + timedelta(hours=security.session_absolute_hours)
    conn.execute(insert(T.auth_sessions).values(token_hash=keys.token_hash(token), user_id=u["id"], created_at=now,
                                                last_seen_at=now, expires_at=expires, client_addr=client_addr))
    audit.record(conn, actor=Actor(name=u["username"], roles=frozenset(u["roles"]), user_id=u["id"],
                                   client_addr=client_addr),
                 action="auth.login", at=now, object_type="user", object_id=u["id"])
    return LoginResult(True, token=token, user=user_public(u), expires_at=expires)


@dataclass
class Authenticated:
    actor: Actor
    expires_at: datetime | None  # the earlier of idle and absolute expiry; None for devices
    token_hash: str
    last_seen_at: datetime | None = None
    absolute_expires_at: datetime | None = None

    def needs_touch(self, now: datetime, every: timedelta) -> bool:
        return self.last_seen_at is not None and now - self.last_seen_at >= every

    def touched(self, now: datetime, idle: timedelta) -> None:
        self.last_seen_at = now
        assert self.absolute_expires_at is not None
        self.expires_at = min(self.absolute_expires_at, now + idle)


def authenticate(conn: Connection, *, token_hash: str, now: datetime, security: SecurityConfig,
                 client_addr: str | None) -> Authenticated | None:
    s = T.auth_sessions
    r = conn.execute(select(s.c.id, s.c.user_id, s.c.last_seen_at, s.c.expires_at, s.c.revoked_at,
                            T.users.c.username, T.users.c.display_name, T.users.c.roles, T.users.c.active)
                     .join(T.users, T.users.c.id == s.c.user_id).where(s.c.token_hash == token_hash)).mappings().first()
    if r is not None:
        idle = timedelta(minutes=security.session_idle_minutes)
        if r["revoked_at"] is not None or not r["active"] or r["expires_at"] <= now or r["last_seen_at"] + idle <= now:
            return None
        actor = Actor(name=r["username"], roles=frozenset(r["roles"]), user_id=r["user_id"], session_id=r["id"],
                      client_addr=client_addr)
        return Authenticated(actor, min(r["expires_at"], r["last_seen_at"] + idle), token_hash,
                             last_seen_at=r["last_seen_at"], absolute_expires_at=r["expires_at"])
    d = conn.execute(select(T.devices).where(T.devices.c.token_hash == token_hash)).mappings().first()
    if d is not None and d["revoked_at"] is None:
        actor = Actor(name=f"device:{d['code']}", roles=frozenset({d["role"]}), device_id=d["id"],
                      client_addr=client_addr, zones=tuple(d["zones"]) if d["zones"] else None,
                      printer_id=d["printer_id"])
        return Authenticated(actor, None, token_hash)
    return None


def touch(conn: Connection, *, session_id: int, now: datetime) -> None:
    conn.execute(update(T.auth_sessions).where(T.auth_sessions.c.id == session_id).values(last_seen_at=now))


def logout(conn: Connection, *, actor: Actor, token_hash: str, now: datetime) -> None:
    conn.execute(update(T.auth_sessions).where(T.auth_sessions.c.token_hash == token_hash,
                                               T.auth_sessions.c.revoked_at.is_(None)).values(revoked_at=now))
    audit.record(conn, actor=actor, action="auth.logout", at=now, object_type="user", object_id=actor.user_id)


def _update_device(conn: Connection, hall_id: int, device_code: str, **values: Any) -> None:
    n = conn.execute(update(T.devices).where(T.devices.c.hall_id == hall_id, T.devices.c.code == device_code)
                     .values(**values)).rowcount
    if n != 1:
        raise NotFound("not_found")


def set_device_token(conn: Connection, *, device_code: str, hall_id: int, keys: Keys, actor: Actor,
                     now: datetime) -> dict[str, str]:
    """A new token for a device (the old one stops working); the token is shown once."""
    token = new_token()
    _update_device(conn, hall_id, device_code, token_hash=keys.token_hash(token), revoked_at=None)
    audit.record(conn, actor=actor, action="device.token", at=now, object_type="device", object_id=device_code)
    return {"code": device_code, "token": token}


def revoke_device(conn: Connection, *, device_code: str, hall_id: int, actor: Actor, now: datetime) -> dict[str, Any]:
    _update_device(conn, hall_id, device_code, revoked_at=now)
    audit.record(conn, actor=actor, action="device.revoke", at=now, object_type="device", object_id=device_code)
    return {"code": device_code, "revoked": True}


