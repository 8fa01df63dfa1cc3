"""scripts/annex_e_table.py reads Table E.1-1 from the standard's DocBook or HTML; the shipped JSON is
the whole table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from imaging.deid.profile import EDITION

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("annex_e_table", REPO / "scripts" / "annex_e_table.py")
annex_e_table = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(annex_e_table)

HEADER = [title for title, _ in annex_e_table.COLUMNS]
# (name, tag, retired, in IOD, basic, then the ten option columns)
ROWS = [
    ["Patient's Name", "(0010,0010)", "N", "Y", "Z"] + [""] * 10,
    ["Study Date", "(0008,\u200b0020)", "N", "Y", "Z", "", "", "", "", "", "K", "C", "", "", ""],
    ["Private Attributes", "(gggg,eeee) where gggg is odd", "N", "N", "X", "C"] + [""] * 9,
]
EXPECTED = [
    {"tag": "(0010,0010)", "name": "Patient's Name", "retired": False, "in_standard_iod": True, "basic": "Z",
     "options": {}},
    {"tag": "(0008,0020)", "name": "Study Date", "retired": False, "in_standard_iod": True, "basic": "Z",
     "options": {"retain-long-full-dates": "K", "retain-long-modified-dates": "C"}},
    {"tag": "PRIVATE", "name": "Private Attributes", "retired": False, "in_standard_iod": False, "basic": "X",
     "options": {"retain-safe-private": "C"}},
]  # fmt: skip


def test_docbook_rows_parse(tmp_path):
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f"<{tag}><para>{v}</para></{tag}>" for v in values)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in ROWS)
    (tmp_path / "part15.xml").write_text(
        '<book xmlns="http://docbook.org/ns/docbook"><chapter><table xml:id="table_E.1-1">'
        f"<caption>Application Level Confidentiality Profile Attributes</caption>"
        f"<thead><tr>{cells('th', HEADER)}</tr></thead><tbody>{body}</tbody></table></chapter></book>",
        encoding="utf-8",
    )
    assert annex_e_table.rows_from_docbook(tmp_path / "part15.xml") == EXPECTED


def test_html_rows_parse(tmp_path):
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f"<{tag}><p>{v}</p></{tag}>" for v in values)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in ROWS)
    (tmp_path / "part15.html").write_text(
        '<html><body><table><tr><td>an earlier table</td></tr></table><div class="table">'
        '<a id="table_E.1-1"></a><p class="title">Table E.1-1</p>'
        f"<table><thead><tr>{cells('th', HEADER)}</tr></thead><tbody>{body}</tbody></table></div>"
        "<table><tr><td>a later table</td></tr></table></body></html>",
        encoding="utf-8",
    )
    assert annex_e_table.rows_from_html(tmp_path / "part15.html") == EXPECTED


def test_a_table_with_other_columns_is_refused(tmp_path):
    (tmp_path / "part15.html").write_text(
        '<a id="table_E.1-1"></a><table><tr><th>Attribute Name</th><th>Tag</th></tr></table>',
        encoding="utf-8",
    )
    with pytest.raises(annex_e_table.TableError, match="columns"):
        annex_e_table.rows_from_html(tmp_path / "part15.html")


def test_the_shipped_table_is_the_whole_of_table_e1_1_of_2024b():
    table = json.loads((REPO / "imaging" / "deid" / "data" / "table_e1_1.json").read_text("utf-8"))
    assert table["edition"] == "2024b" == EDITION and table["generated_by"] == "scripts/annex_e_table.py"
    assert len(table["rows"]) == 621
    assert table["options"] == list(annex_e_table.OPTION_KEYS) and len(table["options"]) == 10
    rows = {row["tag"]: row for row in table["rows"]}
    assert rows["(0010,0010)"]["basic"] == "Z" and rows["(0010,0020)"]["basic"] == "Z/D"
    assert rows["(0008,0018)"]["basic"] == "U" and rows["(0008,0018)"]["options"] == {"retain-uids": "K"}
    assert rows["(0008,1140)"]["basic"] == "X/Z/U*"
    assert {"PRIVATE", "(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)"} <= set(rows)
