from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk_server.domain.calendar import business_date, is_open
from kiosk_server.domain.model import check_roles, format_number
from kiosk_server.domain.privacy import mask_id_number, mask_name, mask_phone
from kiosk_server.i18n import MESSAGES, pick_language, t
from kiosk_server.services.security import Keys, password_problem

SH = ZoneInfo("Asia/Shanghai")


def test_business_day_follows_the_hall_time_zone():
    # 16:30 UTC is 00:30 the next day in Shanghai
    assert business_date(datetime(2026, 11, 23, 16, 30, tzinfo=timezone.utc), SH) == date(2026, 11, 24)
    with pytest.raises(ValueError):
        business_date(datetime(2026, 11, 23, 16, 30), SH)


def test_opening_hours_weekdays_holidays_and_makeup_days():
    hours = [["09:00", "12:00"], ["13:30", "17:30"]]
    mon_10 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 local
    mon_1230 = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)  # lunch break
    sat_10 = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
    wd = {1, 2, 3, 4, 5}
    assert is_open(mon_10, SH, hours, open_weekdays=wd)
    assert not is_open(mon_1230, SH, hours, open_weekdays=wd)
    assert not is_open(sat_10, SH, hours, open_weekdays=wd)
    assert is_open(sat_10, SH, hours, open_weekdays=wd, extra_open_dates={date(2026, 11, 21)})
    assert not is_open(mon_10, SH, hours, closed_dates={date(2026, 11, 23)}, open_weekdays=wd)


def test_masks_show_only_what_a_public_surface_may():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_number("430101199001011234") == "4301**********1234"
    assert mask_name("张三") == "张*"
    assert mask_name("张小明") == "张*明"


def test_administrative_roles_are_kept_apart():
    assert check_roles({"operator"}) is None
    assert check_roles({"operator", "clerk"}) is None
    assert check_roles({"operator", "auditor"}) == "roles_not_separated"
    assert check_roles({"security_admin", "auditor"}) == "roles_not_separated"
    assert check_roles({"kiosk"}) == "role_device_only"
    assert check_roles({"root"}) == "role_unknown"
    assert check_roles(set()) == "role_required"


def test_numbers_are_prefix_and_zero_padded_sequence():
    assert format_number("A", 7) == "A007"
    assert format_number("B", 1234, 4) == "B1234"


def test_password_policy():
    assert password_problem("short1A!", 10)
    assert password_problem("alllowercaseletters", 10)
    assert not password_problem("Good-Password-1", 10)


def test_every_message_has_both_languages_and_language_negotiation():
    for key, entry in MESSAGES.items():
        assert entry.get("zh-CN") and entry.get("en"), key
    assert pick_language(None) == "zh-CN"
    assert pick_language("en-US,en;q=0.9") == "en"
    assert pick_language("fr, zh-CN;q=0.5") == "zh-CN"
    assert t("quota_reached", "en", zone="A") == "A has reached today's quota"
    assert t("ticket_state", "zh-CN", number="A001", status="served", action="call") == "号票 A001 当前状态为「已办结」，不能呼叫"


def test_phone_encryption_round_trip_and_keyed_lookup_hash():
    k = Keys("x" * 40, "11" * 32)
    blob = k.encrypt("13812345678", b"ticket.phone")
    assert b"13812345678" not in blob
    assert k.decrypt(blob, b"ticket.phone") == "13812345678"
    assert k.lookup_hash("phone", "13812345678") == k.lookup_hash("phone", "13812345678")
    assert Keys("y" * 40, "11" * 32).lookup_hash("phone", "13812345678") != k.lookup_hash("phone", "13812345678")
