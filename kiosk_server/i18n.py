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
    "appointment_not_found": {"zh-CN": "未找到预约码 {booking}，请核对后重新输入", "en": "No booking with code {booking}; please check it"},
    "appointment_used": {"zh-CN": "预约码 {booking} 已签到取号", "en": "Booking {booking} has already been checked in"},
    "appointment_state": {"zh-CN": "预约 {booking} 当前状态为「{status}」", "en": "Booking {booking} is {status}"},
    "appointment_not_today": {"zh-CN": "该预约是 {date} 的，不是今天", "en": "This booking is for {date}, not today"},
    "appointment_too_early": {"zh-CN": "预约时段 {start} 开始，请于开始前{minutes}分钟内签到",
                              "en": "Your slot starts at {start}; check-in opens {minutes} minutes before"},
    "appointment_expired": {"zh-CN": "预约时段已于 {end} 结束，请重新取号或重新预约",
                            "en": "Your slot ended at {end}; please take a ticket or book again"},
    "appointment_other_zone": {"zh-CN": "预约码 {booking} 不属于所选区域", "en": "Booking {booking} is for another zone"},
    "appointment_slot_invalid": {"zh-CN": "预约时段无效（HH:MM，开始早于结束）",
                                 "en": "Invalid slot (HH:MM, start before end)"},
    "appointment_in_past": {"zh-CN": "不能预约已过去的日期", "en": "Cannot book a past day"},
    "appointment_code_exhausted": {"zh-CN": "暂时无法生成预约码，请重试", "en": "Could not make a booking code; try again"},
    "already_evaluated": {"zh-CN": "已评价过", "en": "Already rated"},
    "personal_data_in_event": {"zh-CN": "公开显示的内容不能包含手机号或身份证号",
                               "en": "Text shown in the hall must not contain a phone or ID number"},
    "idempotency_key_reused": {"zh-CN": "该请求编号已用于另一请求，请重新操作",
                              "en": "This Idempotency-Key was used for another request; please try again"},
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
    # printing
    "printer_not_found": {"zh-CN": "未找到打印机 {printer}", "en": "No printer {printer}"},
    "printer_disabled": {"zh-CN": "打印机 {printer} 已停用", "en": "Printer {printer} is disabled"},
    "no_printer": {"zh-CN": "该号票没有打印过，请指定打印机", "en": "This ticket was never printed; name a printer"},
    "print_job_not_found": {"zh-CN": "未找到该打印任务", "en": "No such print job"},
    "print_job_state": {"zh-CN": "打印任务当前状态为「{job_status}」，不能{action}",
                        "en": "The print job is {job_status}; cannot {action}"},
    "preview_unavailable": {"zh-CN": "无法生成预览：{reason}", "en": "No preview: {reason}"},
    "print.unavailable": {"zh-CN": "打印机暂不可用，请扫描屏幕上的二维码查看排队进度；打印机恢复后号票将自动打出",
                          "en": "The printer is unavailable: scan the QR code on the screen to follow your place; "
                                "the slip prints when the printer is back"},
    "print_test.title": {"zh-CN": "打印测试", "en": "Print test"},
    "print_test.printer": {"zh-CN": "打印机：{printer} {name}", "en": "Printer: {printer} {name}"},
    "print_test.transport": {"zh-CN": "连接：{transport}", "en": "Connection: {transport}"},
    "print_test.profile": {"zh-CN": "纸宽：{paper} 毫米，字库：{charset}", "en": "Paper: {paper} mm, font: {charset}"},
    "print_test.time": {"zh-CN": "时间：{time}", "en": "Time: {time}"},
    "print_test.sample": {"zh-CN": "中文示例：政务服务中心 排队叫号 堃 喆", "en": "Sample: 政务服务中心 排队叫号 堃 喆"},
    "print_test.ok": {"zh-CN": "测试页已打印到 {printer}（{transport}），打印机状态：{status}",
                      "en": "Test slip printed on {printer} ({transport}); printer status: {status}"},
    "print_test.unreachable": {"zh-CN": "打印机 {printer}（{transport}）无法连接：{error}",
                               "en": "Printer {printer} ({transport}) cannot be reached: {error}"},
    "print_test.not_ready": {"zh-CN": "打印机 {printer} 不能打印：{status}", "en": "Printer {printer} cannot print: {status}"},
    "print_test.unknown": {"zh-CN": "未配置打印机 {printer}（已配置：{known}）",
                           "en": "No printer {printer} is configured (configured: {known})"},
    "action.reprint": {"zh-CN": "补打", "en": "reprint it"},
    "action.retry": {"zh-CN": "重试", "en": "retry it"},
    "job_status.queued": {"zh-CN": "排队中", "en": "queued"},
    "job_status.printing": {"zh-CN": "打印中", "en": "printing"},
    "job_status.done": {"zh-CN": "已打印", "en": "printed"},
    "job_status.failed": {"zh-CN": "打印失败", "en": "failed"},
    "job_status.cancelled": {"zh-CN": "已取消", "en": "cancelled"},
    "printer.state.ready": {"zh-CN": "打印机正常", "en": "printer ready"},
    # printer faults as the driver names them (PrinterStatus.error); the same wording as
    # printer_driver/i18n.py's status.* (a test keeps them equal; importing the driver here would
    # load it, PIL and python-escpos into every worker)
    "printer.status.ready": {"zh-CN": "正常", "en": "ready"},
    "printer.status.unreachable": {"zh-CN": "无法连接打印机", "en": "printer unreachable"},
    "printer.status.no_response": {"zh-CN": "打印机无响应", "en": "printer not responding"},
    "printer.status.offline": {"zh-CN": "打印机离线", "en": "printer offline"},
    "printer.status.cover_open": {"zh-CN": "打印机盖未关", "en": "printer cover open"},
    "printer.status.paper_out": {"zh-CN": "打印机缺纸", "en": "printer out of paper"},
    "printer.status.paper_near_end": {"zh-CN": "打印纸即将用完", "en": "paper roll nearly empty"},
    "printer.status.printer_error": {"zh-CN": "打印机故障", "en": "printer error"},
    "printer.state.unknown": {"zh-CN": "打印机状态未知", "en": "printer status unknown"},
    "printer.state.disabled": {"zh-CN": "打印机已停用", "en": "printer disabled"},
    # administration (operator): the hall layout
    "zone_exists": {"zh-CN": "服务区代码 {zone} 已存在", "en": "Zone code {zone} is taken"},
    "zone_unknown": {"zh-CN": "没有服务区 {zone}", "en": "There is no zone {zone}"},
    "prefix_taken": {"zh-CN": "号码前缀 {prefix} 已由服务区 {zone} 使用", "en": "Prefix {prefix} is used by zone {zone}"},
    "zone_in_use": {"zh-CN": "服务区 {zone} 已有号票，不能删除；可将其停用（enabled=false）",
                    "en": "Zone {zone} has tickets and cannot be deleted; it can be disabled (enabled=false)"},
    "zone_served": {"zh-CN": "服务区 {zone} 仍由窗口 {windows} 办理，请先从这些窗口中移除",
                    "en": "Zone {zone} is still served by windows {windows}; remove it from them first"},
    "zone_shown": {"zh-CN": "服务区 {zone} 仍在设备 {devices} 的服务区列表中，请先从中移除",
                   "en": "Zone {zone} is still listed by devices {devices}; remove it from them first"},
    "matter_exists": {"zh-CN": "事项代码 {matter} 已存在", "en": "Matter code {matter} is taken"},
    "matter_in_use": {"zh-CN": "事项 {matter} 已有号票或办件，不能删除；可将其停用（enabled=false）",
                      "en": "Matter {matter} has tickets or applications and cannot be deleted; it can be disabled "
                            "(enabled=false)"},
    "window_exists": {"zh-CN": "窗口编号 {window} 已存在", "en": "Window code {window} is taken"},
    "led_address_taken": {"zh-CN": "LED 地址 {address} 已由{window}号窗口使用",
                          "en": "LED address {address} is used by window {window}"},
    "window_in_use": {"zh-CN": "{window}号窗口已办理过业务，不能删除；可将其停用（enabled=false）",
                      "en": "Window {window} has served tickets and cannot be deleted; it can be disabled (enabled=false)"},
    "printer_exists": {"zh-CN": "打印机代码 {printer} 已存在", "en": "Printer code {printer} is taken"},
    "printer_unknown": {"zh-CN": "没有打印机 {printer}", "en": "There is no printer {printer}"},
    "printer_in_use": {"zh-CN": "打印机 {printer} 仍是取号机 {devices} 的打印机，请先修改这些取号机",
                       "en": "Printer {printer} is still the printer of kiosks {devices}; change them first"},
    "printer_has_jobs": {"zh-CN": "打印机 {printer} 有打印记录，不能删除；可将其停用（enabled=false）",
                         "en": "Printer {printer} has print jobs and cannot be deleted; it can be disabled (enabled=false)"},
    "printer_file_path": {"zh-CN": "通过管理界面配置的文件方式打印机只能指向 /dev/ 下的设备文件",
                          "en": "A file printer set up through administration must be a device file under /dev/"},
    "device_exists": {"zh-CN": "设备代码 {device} 已存在", "en": "Device code {device} is taken"},
    "device_not_found": {"zh-CN": "未找到设备 {device}", "en": "No device {device}"},
    "device_printer_kiosk_only": {"zh-CN": "只有取号机可以配置打印机", "en": "Only a kiosk has a printer"},
    "holiday_exists": {"zh-CN": "{date} 已设置为节假日或调休工作日，请先删除", "en": "{date} is already in the calendar; delete it first"},
    "holiday_not_found": {"zh-CN": "日历中没有 {date}", "en": "{date} is not in the calendar"},
    "config_invalid": {"zh-CN": "配置有 {count} 处问题，未作任何修改", "en": "The configuration has {count} problem(s); nothing was changed"},
    "config_hall_mismatch": {"zh-CN": "导入的配置属于大厅 {hall}，本服务器的大厅是 {expected}",
                             "en": "The configuration is for hall {hall}; this server's hall is {expected}"},
    "config_too_large": {"zh-CN": "配置文件超过 {max} 字节", "en": "The configuration is larger than {max} bytes"},
    "config_conflict": {"zh-CN": "配置正被同时修改，请刷新后重试", "en": "The configuration was changed at the same time; reload and try again"},
    # supervision alarms
    "alarm.printer": {"zh-CN": "打印机 {printer}（{name}）：{reason}", "en": "Printer {printer} ({name}): {reason}"},
    "alarm.print_jobs": {"zh-CN": "打印机 {printer} 有 {n} 个打印失败的任务", "en": "Printer {printer} has {n} failed print job(s)"},
    "alarm.wait": {"zh-CN": "{zone}最长已等候 {minutes} 分钟（{number}）",
                   "en": "{zone}: the longest wait is {minutes} min ({number})"},
    "alarm.pause": {"zh-CN": "{window}号窗口已暂停 {minutes} 分钟", "en": "Window {window} has been paused for {minutes} min"},
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
