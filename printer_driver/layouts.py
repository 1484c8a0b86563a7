"""The slips, as pure functions: plain data (a dict, as stored with a print job) → Document.

Each function takes `lang` ("zh-CN" default, "en") for its fixed texts and `reprint`, which puts
the 补打 (reprint) marker on top. Names, matters and reasons are printed as given; applicant
names are masked here (王小明 → 王*明) so a slip never shows a full name.

Common fields:
  hall_name    str                       the hall (衡阳市政务服务中心)
  timezone     str, optional             IANA zone: aware times are printed in it (Asia/Shanghai)
  footer       list, optional            lines at the bottom, each a str printed as is or
                                         {"key": translation key, **params}, e.g.
                                         {"key": "footer.hotline", "hotline": "12345"},
                                         {"key": "footer.missed", "n": 3}, {"key": "footer.keep"}
Times are datetimes or ISO-8601 strings, dates dates or "YYYY-MM-DD".
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from printer_driver.document import Document
from printer_driver.i18n import DEFAULT_LANG, t
from printer_driver.text import display_width

Data = Mapping[str, Any]


def ticket_slip(data: Data, *, lang: str = DEFAULT_LANG, reprint: bool = False) -> Document:
    """The queue ticket a kiosk prints.

    number            str                the ticket number (A001), printed in large type
    zone              str | {"name"}     the service zone
    matter            str | {"name"} | None
    priority          "normal" | "priority", optional
    waiting_ahead     int                people waiting ahead
    estimated_wait_s  int | None         estimated wait in seconds
    issued_at         datetime | str
    status_url        str | None         the QR code's target (the ticket's status page)
    and the common fields. The server's ticket answer (`zone`, `matter` as objects) fits as is.
    """
    doc = _header(data, lang, reprint)
    doc.text(_name(data["zone"]), "center", bold=True)
    doc.big(str(data["number"]), 4)
    if data.get("priority") == "priority":
        doc.text(t("ticket.priority", lang), "center", width=2, bold=True)
    doc.rule()
    if data.get("matter"):
        doc.text(t("ticket.matter", lang, matter=_name(data["matter"])))
    ahead = int(data["waiting_ahead"])
    doc.text(t("ticket.ahead", lang, n=ahead), bold=True)
    if ahead and data.get("estimated_wait_s") is not None:
        doc.text(t("ticket.wait", lang, minutes=max(1, math.ceil(int(data["estimated_wait_s"]) / 60))))
    doc.text(t("ticket.issued", lang, time=_time(data["issued_at"], data)))
    if data.get("status_url"):
        doc.feed(1).qr(str(data["status_url"])).text(t("ticket.scan", lang), "center")
    return _footer(doc, data, lang)


def acceptance_receipt(data: Data, *, lang: str = DEFAULT_LANG, reprint: bool = False) -> Document:
    """受理回执: proof that an application was accepted.

    application_number  str              printed, and as a CODE128 barcode when it is ASCII
    matter              str | {"name"}
    applicant_name      str              masked on the slip
    materials_received  list             each a str or {"name", "copies", "original": bool, "note"}
    promised_date       date | str | None  promised completion; None or absent: completed on the spot
    window              str, optional    the window that accepted it
    accepted_at         datetime | str
    status_url          str, optional    QR code to track the application
    and the common fields.
    """
    doc = _header(data, lang, reprint)
    _title(doc, t("receipt.title", lang))
    number = str(data["application_number"])
    doc.text(t("doc.number", lang, number=number))
    if number.isascii() and number.isprintable():
        doc.barcode(number, height=48)
    doc.text(t("doc.matter", lang, matter=_name(data["matter"])))
    doc.text(t("doc.applicant", lang, name=mask_name(str(data["applicant_name"]))))
    if data.get("window"):
        doc.text(t("doc.window", lang, window=data["window"]))
    doc.text(t("receipt.materials", lang))
    _materials(doc, data.get("materials_received") or [], lang)
    if data.get("promised_date"):
        doc.text(t("receipt.promised", lang, date=_date(data["promised_date"])), bold=True)
    else:
        doc.text(t("receipt.immediate", lang), bold=True)
    doc.text(t("doc.time", lang, time=_time(data["accepted_at"], data)))
    if data.get("status_url"):
        doc.feed(1).qr(str(data["status_url"])).text(t("doc.scan", lang), "center")
    return _footer(doc, data, lang)


def missing_materials_notice(data: Data, *, lang: str = DEFAULT_LANG, reprint: bool = False) -> Document:
    """一次性告知书: everything missing from an application, told at once.

    matter             str | {"name"}
    applicant_name     str               masked on the slip
    missing            list              each a str or {"name", "copies", "original": bool, "note"}
    application_number str, optional
    window             str, optional
    issued_at          datetime | str
    and the common fields.
    """
    doc = _header(data, lang, reprint)
    _title(doc, t("missing.title", lang))
    if data.get("application_number"):
        doc.text(t("doc.number", lang, number=data["application_number"]))
    doc.text(t("doc.applicant", lang, name=mask_name(str(data["applicant_name"]))))
    doc.text(t("missing.intro", lang, matter=_name(data["matter"])))
    _materials(doc, data["missing"], lang)
    doc.text(t("missing.outro", lang), bold=True)
    if data.get("window"):
        doc.text(t("doc.window", lang, window=data["window"]))
    return _signature(doc, data, data["issued_at"], lang)


def refusal_notice(data: Data, *, lang: str = DEFAULT_LANG, reprint: bool = False) -> Document:
    """不予受理通知书: an application is not accepted, with the reason and the citizen's remedies.

    matter             str | {"name"}
    applicant_name     str               masked on the slip
    reason             str
    application_number str, optional
    window             str, optional
    issued_at          datetime | str
    and the common fields.
    """
    doc = _header(data, lang, reprint)
    _title(doc, t("refusal.title", lang))
    if data.get("application_number"):
        doc.text(t("doc.number", lang, number=data["application_number"]))
    doc.text(t("doc.applicant", lang, name=mask_name(str(data["applicant_name"]))))
    doc.text(t("refusal.intro", lang, matter=_name(data["matter"])))
    doc.text(t("refusal.reason", lang, reason=data["reason"]), bold=True)
    doc.text(t("refusal.remedy", lang))
    if data.get("window"):
        doc.text(t("doc.window", lang, window=data["window"]))
    return _signature(doc, data, data["issued_at"], lang)


Layout = Callable[..., Document]
LAYOUTS: dict[str, Layout] = {
    "ticket": ticket_slip,
    "receipt": acceptance_receipt,
    "missing_materials": missing_materials_notice,
    "refusal": refusal_notice,
}


def build_document(kind: str, data: Data, *, lang: str = DEFAULT_LANG, reprint: bool = False) -> Document:
    """The document of a print job: `kind` is a key of LAYOUTS."""
    try:
        layout = LAYOUTS[kind]
    except KeyError:
        raise ValueError(f"unknown slip kind {kind!r}; known: {', '.join(LAYOUTS)}") from None
    return layout(data, lang=lang, reprint=reprint)


def mask_name(name: str) -> str:
    """王 → 王, 王明 → 王*, 王小明 → 王*明, 欧阳小明 → 欧**明 (the server's masking rule)."""
    n = name.strip()
    if len(n) <= 1:
        return n
    if len(n) == 2:
        return n[0] + "*"
    return n[0] + "*" * (len(n) - 2) + n[-1]


# ---------------------------------------------------------------------- parts


def _header(data: Data, lang: str, reprint: bool) -> Document:
    doc = Document()
    if reprint:
        doc.text(t("reprint", lang), "center", width=2, bold=True)
    return doc.text(str(data["hall_name"]), "center", height=2, bold=True)


def _title(doc: Document, title: str) -> None:
    wide = display_width(title) * 2 <= 32  # fits the narrowest paper at double width
    doc.text(title, "center", width=2 if wide else 1, height=2, bold=True).rule()


def _materials(doc: Document, items: Sequence[str | Mapping[str, Any]], lang: str) -> None:
    for i, item in enumerate(items, 1):
        mark = chr(0x245F + i) if i <= 10 else f"{i}."  # ①–⑩ are in GB2312, ⑪ is not
        if isinstance(item, str):
            doc.text(mark + item)
            continue
        if "copies" in item or "original" in item:
            kind = t("material.original" if item.get("original") else "material.copy", lang)
            line = t("material.item", lang, mark=mark, name=item["name"], kind=kind, copies=item.get("copies", 1))
        else:
            line = mark + str(item["name"])
        if item.get("note"):
            line += t("material.note", lang, note=item["note"])
        doc.text(line)


def _signature(doc: Document, data: Data, when: Any, lang: str) -> Document:
    doc.rule().text(str(data["hall_name"]), "right").text(_time(when, data), "right")
    return _footer(doc, data, lang)


def _footer(doc: Document, data: Data, lang: str) -> Document:
    lines = data.get("footer") or []
    if lines:
        doc.rule()
    for entry in lines:
        if isinstance(entry, str):
            doc.text(entry, "center")
        else:
            params = {k: v for k, v in entry.items() if k != "key"}
            doc.text(t(entry["key"], lang, **params), "center")
    return doc.cut()


def _name(value: Any) -> str:
    return str(value["name"]) if isinstance(value, Mapping) else str(value)


def _time(value: Any, data: Data) -> str:
    """A time as "YYYY-MM-DD HH:MM" (in data["timezone"] when aware), a bare date as "YYYY-MM-DD"."""
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is not None and data.get("timezone"):
            moment = moment.astimezone(ZoneInfo(data["timezone"]))
        return moment.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a time: {value!r}")


def _date(value: Any) -> str:
    if isinstance(value, str):
        return date.fromisoformat(value[:10]).isoformat()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a date: {value!r}")
