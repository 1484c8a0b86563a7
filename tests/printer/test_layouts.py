"""Every slip rendered for both papers and read back from its ESC/POS bytes."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from printer_driver.decode import Slip, decode_slips
from printer_driver.glyphs import load_font
from printer_driver.i18n import TEXTS
from printer_driver.layouts import (
    acceptance_receipt,
    build_document,
    mask_name,
    missing_materials_notice,
    refusal_notice,
    ticket_slip,
)
from printer_driver.profiles import PAPER_58MM, PAPER_80MM, PrinterProfile
from printer_driver.render import Renderer
from tests.printer.conftest import ticket_data

PAPERS = pytest.mark.parametrize("profile", [PAPER_58MM, PAPER_80MM], ids=["58mm", "80mm"])


def read_back(doc: Any, profile: PrinterProfile) -> Slip:
    slips = decode_slips(Renderer(profile).render(doc))
    assert len(slips) == 1 and slips[0].cut, "one slip, cut at the end"
    slip = slips[0]
    assert max(line.columns for line in slip.lines) <= profile.columns
    assert "?" not in slip.text and "\ufffd" not in slip.text
    return slip


@PAPERS
def test_ticket(profile: PrinterProfile) -> None:
    slip = read_back(ticket_slip(ticket_data(1)), profile)
    assert slip.lines[0].text == "衡阳市政务服务中心"
    number = next(line for line in slip.lines if line.text == "A001")
    assert number.width >= 2 and number.height >= 2 and number.bold and number.align == "center"
    assert slip.text.split("\n")[1:] == [
        "商事登记区", "A001", "-" * profile.columns, "办理事项：公司设立登记", "前面还有 5 人等候",
        "预计等候约 15 分钟", "取号时间：2024-11-21 09:03", "扫码查看排队进度", "-" * profile.columns,
        "咨询电话：12345", "过号后将顺延3位再次呼叫"]
    assert [q.data for q in slip.qr_codes] == ["http://192.0.2.10:8080/t/tok00001"]
    assert slip.qr_codes[0].ec == "M"


def test_ticket_in_english_with_the_reprint_marker() -> None:
    slip = read_back(ticket_slip(ticket_data(12, waiting_ahead=1, estimated_wait_s=30, priority="priority"),
                                 lang="en", reprint=True), PAPER_58MM)
    assert slip.lines[0].text == "[REPRINT]" and slip.lines[0].bold
    assert slip.lines[1].text == "衡阳市政务服务中心"
    for line in ("A012", "PRIORITY", "1 person ahead of you", "Estimated wait: about 1 min", "Issued: 2024-11-21 09:03",
                 "Hotline: 12345"):
        assert line in slip.text.split("\n")
    assert "If you miss your call, you will\nbe called again after 3 more\ntickets" in slip.text


def test_ticket_with_no_one_ahead_and_plain_values() -> None:
    data = ticket_data(3, zone="不动产登记区", matter=None, waiting_ahead=0, estimated_wait_s=0, status_url=None,
                       issued_at=datetime(2024, 11, 21, 14, 5), footer=["请妥善保管", {"key": "footer.keep"}])
    slip = read_back(ticket_slip(data), PAPER_80MM)
    assert "前面无人等候，请留意叫号" in slip.text and "预计" not in slip.text and "办理事项" not in slip.text
    assert "取号时间：2024-11-21 14:05" in slip.text and slip.qr_codes == []
    assert slip.text.endswith("请妥善保管\n请妥善保管本票，凭票办理")


@PAPERS
def test_acceptance_receipt(profile: PrinterProfile) -> None:
    data = {"hall_name": "衡阳市政务服务中心", "application_number": "HY241121-0007", "matter": {"name": "公司设立登记"},
            "applicant_name": "王小明", "window": "3号窗口",
            "materials_received": ["公司章程", {"name": "公司登记（备案）申请书", "copies": 1, "original": True},
                                   {"name": "住所使用证明", "copies": 2, "original": False, "note": "加盖公章"}],
            "promised_date": date(2024, 11, 28), "accepted_at": "2024-11-21T09:30:00",
            "status_url": "http://192.0.2.10:8080/a/HY241121-0007"}
    slip = read_back(acceptance_receipt(data), profile)
    title = next(line for line in slip.lines if line.text == "受理回执")
    assert title.width == 2 and title.height == 2
    text = slip.text.replace("\n", "")  # the 58 mm paper wraps long lines
    for part in ("受理编号：HY241121-0007", "办理事项：公司设立登记", "申请人：王*明", "办理窗口：3号窗口", "已收材料：",
                 "①公司章程", "②公司登记（备案）申请书（原件1份）", "③住所使用证明（复印件2份）（加盖公章）",
                 "承诺办结日期：2024-11-28", "时间：2024-11-21 09:30"):
        assert part in text
    assert "王小明" not in text
    assert [b.data for b in slip.barcodes] == ["HY241121-0007"]
    assert [q.data for q in slip.qr_codes] == [data["status_url"]]


def test_receipt_of_an_immediate_matter_in_english() -> None:
    data = {"hall_name": "Hall", "application_number": "受理-1", "matter": "Licence", "applicant_name": "Li Ming",
            "materials_received": [{"name": "Form", "copies": 1, "original": True}], "accepted_at": "2024-11-21T09:30"}
    slip = read_back(acceptance_receipt(data, lang="en"), PAPER_80MM)
    assert slip.barcodes == []  # not ASCII
    for part in ("Acceptance Receipt", "Application no.: 受理-1", "Applicant: L*****g", "①Form (original x1)",
                 "Completed on the spot"):
        assert part in slip.text


@PAPERS
def test_one_time_notice_lists_everything_missing(profile: PrinterProfile) -> None:
    missing = [f"材料{i}" for i in range(1, 13)]
    data = {"hall_name": "衡阳市政务服务中心", "matter": "食品经营许可", "applicant_name": "欧阳小明", "missing": missing,
            "issued_at": "2024-11-21T10:00:00+08:00", "window": "5"}
    slip = read_back(missing_materials_notice(data), profile)
    text = slip.text.replace("\n", "")
    assert "一次性告知书" in slip.text and "申请人：欧**明" in text
    assert "您申请办理的「食品经营许可」事项，经审查，尚需补齐以下材料：" in text
    assert [line.text for line in slip.lines if line.text.startswith(("①", "⑩", "11.", "12."))] == [
        "①材料1", "⑩材料10", "11.材料11", "12.材料12"]
    assert sum(1 for line in slip.lines if line.text[:1] in "①②③④⑤⑥⑦⑧⑨⑩") == 10
    assert "请一次性补齐上述全部材料后再来办理。" in text
    assert slip.lines[-2].align == "right" and slip.lines[-1].text == "2024-11-21 10:00"


@PAPERS
def test_refusal_notice_with_rare_characters(profile: PrinterProfile) -> None:
    reason = "申请人李䶮、张堃提交的材料不属于本机关职责范围"
    data = {"hall_name": "衡阳市政务服务中心", "matter": "道路运输经营许可", "applicant_name": "张喆",
            "reason": reason, "application_number": "HY-9", "issued_at": "2024-11-21"}
    renderer = Renderer(profile)
    slip = read_back(refusal_notice(data), profile)
    assert "不予受理通知书" in slip.text and "申请人：张*" in slip.text
    assert "决定不予受理。" in slip.text.replace("\n", "")
    assert "行政复议" in slip.text.replace("\n", "") and "行政诉讼" in slip.text.replace("\n", "")
    assert [line.text for line in slip.lines[-2:]] == ["衡阳市政务服务中心", "2024-11-21"]  # a date, no time
    # the reason's lines holding 䶮 and 堃 come out as pictures of exactly those lines, the others as text
    from printer_driver.text import wrap
    wrapped = wrap(f"理由：{reason}", profile.columns)
    rare = [line for line in wrapped if renderer.encode(line) is None]
    assert rare and all(("䶮" in line or "堃" in line) for line in rare)
    font = load_font()
    pictures = [r.image.tobytes() for r in slip.rasters]
    for line in rare:
        assert font.line(line, dots=profile.dots, bold=True, line_dots=profile.line_dots).tobytes() in pictures
    for line in wrapped:
        if line not in rare:
            assert line in slip.text


def test_all_layouts_by_kind_and_every_text_in_both_languages() -> None:
    assert build_document("ticket", ticket_data(1)).elements
    with pytest.raises(ValueError, match="unknown slip kind 'poster'"):
        build_document("poster", {})
    assert all(set(entry) == {"zh-CN", "en"} for entry in TEXTS.values())


def test_mask_name() -> None:
    assert [mask_name(n) for n in ("王", "王明", "王小明", "欧阳小明", " 李䶮 ")] == ["王", "王*", "王*明", "欧**明", "李*"]
