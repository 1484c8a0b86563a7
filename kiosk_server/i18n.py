"""The translation table: every user-facing string, zh-CN first, en second."""
from __future__ import annotations

from typing import Any

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    # errors
    "unauthorized": {"zh-CN": "未登录或凭证无效", "en": "Not signed in or invalid credentials"},
    "bad_credentials": {"zh-CN": "用户名或密码错误", "en": "Wrong user name or password"},
    "session_expired": {"zh-CN": "会话已过期，请重新登录", "en": "Session expired, please sign in again"},
    "forbidden": {"zh-CN": "无权执行此操作", "en": "You are not allowed to do this"},
    "window_not_yours": {"zh-CN": "您未登录到{window}号窗口", "en": "You are not signed in to window {window}"},
    "locked_out": {"zh-CN": "登录失败次数过多，请{retry_after}秒后再试",
                   "en": "Too many failed sign-ins; try again in {retry_after} s"},
    "not_found": {"zh-CN": "未找到", "en": "Not found"},
    "zone_not_found": {"zh-CN": "未找到服务区 {zone}", "en": "No zone {zone}"},
    "matter_not_found": {"zh-CN": "未找到事项 {matter}", "en": "No matter {matter}"},
    "window_not_found": {"zh-CN": "未找到窗口 {window}", "en": "No window {window}"},
    "ticket_not_found": {"zh-CN": "未找到该号票", "en": "No such ticket"},
    "user_not_found": {"zh-CN": "未找到该用户", "en": "No such user"},
    "zone_closed": {"zh-CN": "{zone}当前不在取号时间内", "en": "{zone} is not issuing tickets now"},
    "quota_reached": {"zh-CN": "{zone}今日号源已取完", "en": "{zone} has reached today's quota"},
    "window_not_open": {"zh-CN": "{window}号窗口未开启", "en": "Window {window} is not open"},
    "window_busy": {"zh-CN": "{window}号窗口还有正在呼叫或办理的号 {number}",
                    "en": "Window {window} still has ticket {number} called or in service"},
    "window_taken": {"zh-CN": "{window}号窗口已由其他工作人员登录", "en": "Window {window} is held by another clerk"},
    "clerk_has_window": {"zh-CN": "您已登录{window}号窗口，请先关闭", "en": "You already hold window {window}; close it first"},
    "window_state": {"zh-CN": "{window}号窗口当前状态不允许此操作", "en": "Window {window} cannot do this in its current state"},
    "no_active_ticket": {"zh-CN": "{window}号窗口当前没有呼叫中的号", "en": "Window {window} has no called ticket"},
    "recall_cap_reached": {"zh-CN": "已重呼{cap}次，不能再重呼", "en": "Recalled {cap} times already; no more recalls"},
    "ticket_state": {"zh-CN": "号票 {number} 当前状态为「{status}」，不能{action}",
                     "en": "Ticket {number} is {status}; cannot {action}"},
    "ticket_not_here": {"zh-CN": "号票 {number} 不在本窗口的队列中", "en": "Ticket {number} is not in this window's queue"},
    "transfer_target": {"zh-CN": "请指定转移到的窗口或服务区（二选一）", "en": "Give either a window or a zone to transfer to"},
    "transfer_same_window": {"zh-CN": "不能转移到本窗口", "en": "Cannot transfer to the same window"},
    "window_not_serving_zone": {"zh-CN": "{window}号窗口不办理该服务区业务", "en": "Window {window} does not serve that zone"},
    "already_evaluated": {"zh-CN": "已评价过", "en": "Already rated"},
    "invalid": {"zh-CN": "请求内容有误", "en": "Invalid request"},
    "validation": {"zh-CN": "请求内容有误：{detail}", "en": "Invalid request: {detail}"},
    "method_not_allowed": {"zh-CN": "不支持该请求方法", "en": "Method not allowed"},
    "password_weak": {"zh-CN": "密码至少{min}位，且包含大写字母、小写字母、数字、符号中的至少三类",
                      "en": "The password needs at least {min} characters from at least three of: upper case, lower case, digits, symbols"},
    "username_taken": {"zh-CN": "用户名 {username} 已存在", "en": "User name {username} is taken"},
    "role_unknown": {"zh-CN": "未知角色", "en": "Unknown role"},
    "role_required": {"zh-CN": "至少需要一个角色", "en": "At least one role is required"},
    "roles_not_separated": {"zh-CN": "系统管理员、安全管理员、审计员三种角色不能由同一账号兼任",
                            "en": "operator, security_admin and auditor must be held by separate accounts"},
    "role_device_only": {"zh-CN": "取号机和显示屏角色只属于设备", "en": "kiosk and display roles belong to devices"},
    "self_role_change": {"zh-CN": "不能修改自己的角色", "en": "You cannot change your own roles"},
    "internal": {"zh-CN": "服务器内部错误", "en": "Internal server error"},
    # status names, for messages
    "status.waiting": {"zh-CN": "等候中", "en": "waiting"},
    "status.called": {"zh-CN": "已呼叫", "en": "called"},
    "status.serving": {"zh-CN": "办理中", "en": "in service"},
    "status.served": {"zh-CN": "已办结", "en": "served"},
    "status.missed": {"zh-CN": "过号", "en": "missed"},
    "status.cancelled": {"zh-CN": "已取消", "en": "cancelled"},
    "status.expired": {"zh-CN": "已过期", "en": "expired"},
    "action.call": {"zh-CN": "呼叫", "en": "call it"},
    "action.start": {"zh-CN": "开始办理", "en": "start service"},
    "action.no_show": {"zh-CN": "标记过号", "en": "mark it missed"},
    "action.requeue": {"zh-CN": "重新排队", "en": "requeue it"},
    "action.transfer": {"zh-CN": "转移", "en": "transfer it"},
    "action.finish": {"zh-CN": "办结", "en": "finish it"},
    "action.cancel": {"zh-CN": "取消", "en": "cancel it"},
    # announcement
    "announce.call": {"zh-CN": "请{number}号到{window}号窗口办理", "en": "Ticket {number}, please go to window {window}"},
}


def pick_language(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header; zh-CN by default."""
    if not accept_language:
        return DEFAULT_LANG
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh-CN"
    return DEFAULT_LANG


def t(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    # Parameters that are themselves keys (a status, an action) are translated too.
    for k, v in list(params.items()):
        if isinstance(v, str) and f"{k}.{v}" in MESSAGES:
            params[k] = MESSAGES[f"{k}.{v}"].get(lang, v)
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text
