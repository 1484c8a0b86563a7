"""The hall-screen page and its static files, served from the display_client package.

    GET /display                           the page (public: it holds no data; the page reads the
                                           display token from ?token= or localStorage and opens
                                           WS /api/v1/display/stream with it)
    GET /static/display/{name}             display.js, display.css (display_client/web/)
    GET /static/display/fonts/{name}       the vendored Noto Sans SC web font (display_client/web/fonts/)
    GET /static/voice/zh-CN/{name}         the voice pack clips, one per announcement token (<token>.wav)
    GET /kiosk, /clerk, /admin             the ticket machine, the clerk's console, the operator's admin
    GET /t/{public_token}                  the public status page a ticket's QR code opens
    GET /static/web/{folder}/{name}        their files (kiosk_server/web/<folder>/): common (shared module
                                           and style), i18n (translation tables), kiosk, clerk, admin, status

Every route is public (declared, as every route must be, in `x-roles`). Names are looked up in
one folder only: no separators, no leading dot, and the resolved file must sit in that folder;
anything else is a 404 in the usual error shape. Nothing here touches the database.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi import Path as FastPath
from fastapi.responses import FileResponse

import display_client
from kiosk_server.api.deps import PUBLIC, roles
from kiosk_server.api.schemas import ERRORS
from kiosk_server.domain.errors import NotFound

router = APIRouter(tags=["pages"], responses=ERRORS)

PACKAGE = Path(display_client.__file__).resolve().parent
WEB = PACKAGE / "web"
FONTS = WEB / "fonts"
VOICE = PACKAGE / "voice" / "zh-CN"
PAGES = Path(__file__).resolve().parents[2] / "web"
PAGE_FOLDERS = ("common", "i18n", "kiosk", "clerk", "admin", "status")

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".json": "application/json; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".woff2": "font/woff2", ".wav": "audio/wav",
         ".txt": "text/plain; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
# The page and its code may change with an upgrade: revalidate. Fonts and clips barely change.
NO_CACHE = "no-cache"
LONG_CACHE = "public, max-age=86400"
PAGE_HEADERS = {
    # The URL may carry the device token (?token=): never send it anywhere as a referrer.
    "Referrer-Policy": "no-referrer",
    # Everything comes from this server; the stream is a same-origin websocket.
    "Content-Security-Policy": ("default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
                                "img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
}
PUBLIC_ROUTE = roles(PUBLIC)


def _file(folder: Path, name: str, allowed: set[str]) -> Path:
    """`name` inside `folder`, or NotFound: one path segment, a known suffix, an existing file."""
    name = unicodedata.normalize("NFC", name)
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise NotFound()
    path = folder / name
    if path.suffix.lower() not in allowed:
        raise NotFound()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound() from None
    if resolved.parent != folder.resolve() or not resolved.is_file():
        raise NotFound()
    return resolved


def _send(path: Path, cache: str, extra: dict[str, str] | None = None) -> FileResponse:
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **(extra or {})}
    return FileResponse(path, media_type=TYPES.get(path.suffix.lower(), "application/octet-stream"),
                        headers=headers)


@lru_cache(maxsize=1)
def _voice_index() -> dict[str, str]:
    """NFC token -> file name, for clips stored under another normalisation form."""
    return {unicodedata.normalize("NFC", p.stem): p.name for p in VOICE.glob("*.wav")} if VOICE.is_dir() else {}


@router.get("/display", openapi_extra=PUBLIC_ROUTE, summary="The hall-screen page (HTML)",
            response_class=FileResponse)
async def display_page() -> FileResponse:
    return _send(_file(WEB, "display.html", {".html"}), NO_CACHE, PAGE_HEADERS)


@router.get("/static/display/{name}", openapi_extra=PUBLIC_ROUTE, summary="A file of the hall-screen page",
            response_class=FileResponse)
async def display_static(name: str) -> FileResponse:
    return _send(_file(WEB, name, {".js", ".css", ".png", ".svg"}), NO_CACHE)


@router.get("/static/display/fonts/{name}", openapi_extra=PUBLIC_ROUTE, summary="The hall-screen web font",
            response_class=FileResponse)
async def display_font(name: str) -> FileResponse:
    return _send(_file(FONTS, name, {".woff2", ".css", ".txt"}), LONG_CACHE)


@router.get("/static/voice/zh-CN/{name}", openapi_extra=PUBLIC_ROUTE,
            summary="A voice-pack clip: <token>.wav, one per announcement token", response_class=FileResponse)
async def voice_clip(name: str) -> FileResponse:
    nfc = unicodedata.normalize("NFC", name)
    if nfc.lower().endswith(".wav"):
        stored = _voice_index().get(nfc[:-4])
        if stored is not None:
            nfc = stored
    return _send(_file(VOICE, nfc, {".wav"}), LONG_CACHE)


async def _page(folder: str) -> FileResponse:
    return _send(_file(PAGES / folder, "index.html", {".html"}), NO_CACHE, PAGE_HEADERS)


@router.get("/kiosk", openapi_extra=PUBLIC_ROUTE, summary="The ticket machine page (HTML; the kiosk device token "
            "comes from ?token= or localStorage)", response_class=FileResponse)
async def kiosk_page() -> FileResponse:
    return await _page("kiosk")


@router.get("/clerk", openapi_extra=PUBLIC_ROUTE, summary="The clerk's window console (HTML; sign in on the page)",
            response_class=FileResponse)
async def clerk_page() -> FileResponse:
    return await _page("clerk")


@router.get("/admin", openapi_extra=PUBLIC_ROUTE, summary="The operator's administration (HTML; sign in on the page)",
            response_class=FileResponse)
async def admin_page() -> FileResponse:
    return await _page("admin")


@router.get("/t/{public_token}", openapi_extra=PUBLIC_ROUTE, summary="A ticket's public status page (HTML)",
            response_class=FileResponse)
async def status_page(public_token: str = FastPath(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
                      ) -> FileResponse:
    return await _page("status")


@router.get("/static/web/{folder}/{name}", openapi_extra=PUBLIC_ROUTE, summary="A file of the kiosk, clerk, "
            "admin or status page", response_class=FileResponse)
async def page_static(folder: str, name: str) -> FileResponse:
    if folder not in PAGE_FOLDERS:
        raise NotFound()
    return _send(_file(PAGES / folder, name, {".js", ".css", ".json", ".png", ".svg"}), NO_CACHE)
