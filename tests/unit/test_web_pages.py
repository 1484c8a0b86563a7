"""The web pages' translation tables and files: every interface string is in a table, in both
languages; the page code itself holds no Chinese text."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "kiosk_server" / "web"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
TABLES = sorted((WEB / "i18n").glob("*.json"))


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.name)
def test_translation_tables_have_both_languages_with_the_same_keys(path: Path) -> None:
    table = json.loads(path.read_text(encoding="utf-8"))
    assert set(table) == {"zh-CN", "en"}
    zh, en = table["zh-CN"], table["en"]
    assert zh and set(zh) == set(en), sorted(set(zh) ^ set(en))
    for key, text in en.items():
        assert isinstance(text, str) and text.strip(), key
        assert not CJK.search(text) or key.startswith("lang_switch"), f"{path.name}: en[{key!r}] = {text!r}"
        assert re.findall(r"\{(\w+)\}", text) == re.findall(r"\{(\w+)\}", zh[key]) or \
            sorted(re.findall(r"\{(\w+)\}", text)) == sorted(re.findall(r"\{(\w+)\}", zh[key])), key


def test_no_key_is_defined_twice_across_tables() -> None:
    seen: dict[str, str] = {}
    for path in TABLES:
        for key in json.loads(path.read_text(encoding="utf-8"))["zh-CN"]:
            assert key not in seen or path.name == seen[key], f"{key} in {seen[key]} and {path.name}"
            seen[key] = path.name


@pytest.mark.parametrize("path", sorted(p for p in WEB.rglob("*") if p.suffix in {".js", ".html", ".css"}),
                         ids=lambda p: str(p.relative_to(WEB)))
def test_page_code_holds_no_chinese_text(path: Path) -> None:
    """Strings shown to people come from the translation tables, not from the code."""
    lines = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if CJK.search(line) and not line.lstrip().startswith(("//", "/*", "*"))]
    assert not lines, "\n".join(lines)
