"""Every string printed on a slip, zh-CN first, en second. The server passes the slip's `lang`."""
from __future__ import annotations

from typing import Any

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")

TEXTS: dict[str, dict[str, str]] = {
    "reprint": {"zh-CN": "【补打】", "en": "[REPRINT]"},
    # queue ticket
    "ticket.priority": {"zh-CN": "优先", "en": "PRIORITY"},
    "ticket.matter": {"zh-CN": "办理事项：{matter}", "en": "Service: {matter}"},
    "ticket.ahead": {"zh-CN": "前面还有 {n} 人等候", "en": "{n} people ahead of you"},
    "ticket.ahead.one": {"zh-CN": "前面还有 1 人等候", "en": "1 person ahead of you"},
    "ticket.ahead.none": {"zh-CN": "前面无人等候，请留意叫号", "en": "No one ahead of you; watch for your number"},
    "ticket.wait": {"zh-CN": "预计等候约 {minutes} 分钟", "en": "Estimated wait: about {minutes} min"},
    "ticket.issued": {"zh-CN": "取号时间：{time}", "en": "Issued: {time}"},
    "ticket.scan": {"zh-CN": "扫码查看排队进度", "en": "Scan to follow your place in the queue"},
    # footer lines the server may ask for by key
    "footer.hotline": {"zh-CN": "咨询电话：{hotline}", "en": "Hotline: {hotline}"},
    "footer.missed": {"zh-CN": "过号后将顺延{n}位再次呼叫", "en": "If you miss your call, you will be called again after {n} more tickets"},
    "footer.keep": {"zh-CN": "请妥善保管本票，凭票办理", "en": "Keep this slip and show it at the window"},
    # documents handed over at the window
    "doc.number": {"zh-CN": "受理编号：{number}", "en": "Application no.: {number}"},
    "doc.matter": {"zh-CN": "办理事项：{matter}", "en": "Matter: {matter}"},
    "doc.applicant": {"zh-CN": "申请人：{name}", "en": "Applicant: {name}"},
    "doc.window": {"zh-CN": "办理窗口：{window}", "en": "Window: {window}"},
    "doc.time": {"zh-CN": "时间：{time}", "en": "Date: {time}"},
    "doc.scan": {"zh-CN": "扫码查询办理进度", "en": "Scan to track your application"},
    "material.original": {"zh-CN": "原件", "en": "original"},
    "material.copy": {"zh-CN": "复印件", "en": "copy"},
    "material.item": {"zh-CN": "{mark}{name}（{kind}{copies}份）", "en": "{mark}{name} ({kind} x{copies})"},
    "material.note": {"zh-CN": "（{note}）", "en": " ({note})"},
    "receipt.title": {"zh-CN": "受理回执", "en": "Acceptance Receipt"},
    "receipt.materials": {"zh-CN": "已收材料：", "en": "Materials received:"},
    "receipt.promised": {"zh-CN": "承诺办结日期：{date}", "en": "Promised completion: {date}"},
    "receipt.immediate": {"zh-CN": "即办件，当场办结", "en": "Completed on the spot"},
    "missing.title": {"zh-CN": "一次性告知书", "en": "One-time Notice of Missing Materials"},
    "missing.intro": {"zh-CN": "您申请办理的「{matter}」事项，经审查，尚需补齐以下材料：",
                      "en": "Your application for \"{matter}\" needs the following materials:"},
    "missing.outro": {"zh-CN": "请一次性补齐上述全部材料后再来办理。",
                      "en": "Please bring all of the above together when you return."},
    "refusal.title": {"zh-CN": "不予受理通知书", "en": "Notice of Refusal to Accept"},
    "refusal.intro": {"zh-CN": "您申请办理的「{matter}」事项，经审查，决定不予受理。",
                      "en": "Your application for \"{matter}\" has been examined and is not accepted."},
    "refusal.reason": {"zh-CN": "理由：{reason}", "en": "Reason: {reason}"},
    "refusal.remedy": {"zh-CN": "如对本决定不服，可自收到本通知书之日起六十日内依法申请行政复议，"
                                "或者六个月内依法提起行政诉讼。",
                       "en": "If you disagree with this decision, you may apply for administrative reconsideration "
                             "within 60 days of receiving this notice, or bring an administrative lawsuit within "
                             "six months."},
    # printer status, for the server's screens and alarms
    "status.ready": {"zh-CN": "正常", "en": "ready"},
    "status.unreachable": {"zh-CN": "无法连接打印机", "en": "printer unreachable"},
    "status.no_response": {"zh-CN": "打印机无响应", "en": "printer not responding"},
    "status.offline": {"zh-CN": "打印机离线", "en": "printer offline"},
    "status.cover_open": {"zh-CN": "打印机盖未关", "en": "printer cover open"},
    "status.paper_out": {"zh-CN": "打印机缺纸", "en": "printer out of paper"},
    "status.paper_near_end": {"zh-CN": "打印纸即将用完", "en": "paper roll nearly empty"},
    "status.printer_error": {"zh-CN": "打印机故障", "en": "printer error"},
}


def t(key: str, lang: str = DEFAULT_LANG, /, **params: Any) -> str:
    """The text for `key` in `lang` (zh-CN when the language or the key's translation is missing).

    With an integer `n`, a `key.one` (n == 1) or `key.none` (n == 0) variant is used when present.
    """
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool):
        variant = {0: "none", 1: "one"}.get(n)
        if variant and f"{key}.{variant}" in TEXTS:
            key = f"{key}.{variant}"
    entry = TEXTS[key]
    return (entry.get(lang) or entry[DEFAULT_LANG]).format(**params)
