"""Regenerate imaging/deid/data/table_e1_1.json, the attribute table of PS3.15 Table E.1-1
("Application Level Confidentiality Profile Attributes") that the de-identification engine reads.

The table is never typed by hand: this script reads it from the standard as NEMA publishes it, in one
of three forms, and writes the same JSON from each:

- the DocBook source of Part 15 (the standard's own source of truth), e.g.
  https://dicom.nema.org/medical/dicom/2024b/source/docbook/part15/part15.xml
      python scripts/annex_e_table.py --docbook part15.xml --edition 2024b
- the published HTML of Part 15, e.g.
  https://dicom.nema.org/medical/dicom/2024b/output/html/part15.html
      python scripts/annex_e_table.py --html part15.html --edition 2024b
- the JSON that innolitics/dicom-standard extracts from that same HTML
  (standard/confidentiality_profile_attributes.json, one commit per edition of the standard):
      python scripts/annex_e_table.py --innolitics confidentiality_profile_attributes.json \
          --edition 2024b --source "innolitics/dicom-standard 8670abd (rev2024b)"

Download the source first (this machine has no route to dicom.nema.org, so the script never fetches);
then run the de-identification tests, which check every sample file against the new table.
Only the standard library is used so that it runs anywhere Python does.
"""

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "imaging" / "deid" / "data" / "table_e1_1.json"
TABLE_ID = "table_E.1-1"
DOCBOOK = "{http://docbook.org/ns/docbook}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

# The table's columns in the order the standard prints them, and the option name (DESIGN.md: Annex E
# option names in kebab case) each option column belongs to.
COLUMNS = (
    ("Attribute Name", "name"),
    ("Tag", "tag"),
    ("Retd.", "retired"),
    ("In Std. Comp. IOD", "in_standard_iod"),
    ("Basic Prof.", "basic"),
    ("Rtn. Safe Priv. Opt.", "retain-safe-private"),
    ("Rtn. UIDs Opt.", "retain-uids"),
    ("Rtn. Dev. Id. Opt.", "retain-device-identity"),
    ("Rtn. Inst. Id. Opt.", "retain-institution-identity"),
    ("Rtn. Pat. Chars. Opt.", "retain-patient-characteristics"),
    ("Rtn. Long. Full Dates Opt.", "retain-long-full-dates"),
    ("Rtn. Long. Modif. Dates Opt.", "retain-long-modified-dates"),
    ("Clean Desc. Opt.", "clean-descriptors"),
    ("Clean Struct. Cont. Opt.", "clean-structured-content"),
    ("Clean Graph. Opt.", "clean-graphics"),
)
OPTION_KEYS = tuple(key for _, key in COLUMNS[5:])
INNOLITICS_KEYS = {
    "name": "name",
    "tag": "tag",
    "stdCompIOD": "in_standard_iod",
    "basicProfile": "basic",
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-long-full-dates",
    "rtnLongModifDatesOpt": "retain-long-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}
ACTION = re.compile(r"^(D|Z|X|K|C|U\*?)(/(D|Z|X|K|C|U\*?))*$")
TAG = re.compile(r"^\([0-9A-FX]{4},[0-9A-FX]{4}\)$")
# The one row that names no tag but all private attributes: "(gggg,eeee) where gggg is odd".
PRIVATE_ROW = re.compile(r"^\(GGGG,EEEE\)WHEREGGGGISODD$")
PRIVATE = "PRIVATE"


class TableError(ValueError):
    """The source does not hold Table E.1-1 in the shape this script knows."""


def _clean(text: str) -> str:
    # The published table puts zero-width spaces inside long names and tags.
    return " ".join(text.replace("\u200b", "").split())


def _check_header(header: list[str]) -> None:
    expected = [title for title, _ in COLUMNS]
    if len(header) != len(expected) or any(
        not got.startswith(want) for got, want in zip(header, expected, strict=False)
    ):
        raise TableError(f"Table E.1-1 has the columns {header}, not {expected}")


def _row(cells: list[str]) -> dict:
    if len(cells) != len(COLUMNS):
        raise TableError(f"a row of Table E.1-1 has {len(cells)} cells, not {len(COLUMNS)}: {cells}")
    values = dict(zip((key for _, key in COLUMNS), cells, strict=True))
    return _normalise(values)


def _normalise(values: dict) -> dict:
    tag = values["tag"].upper().replace(" ", "")
    if PRIVATE_ROW.match(tag):
        tag = PRIVATE
    elif not TAG.match(tag):
        raise TableError(f"{values['name']!r} has the tag {values['tag']!r}")
    basic = values["basic"]
    if not ACTION.match(basic):
        raise TableError(f"{values['name']!r} has the basic action {basic!r}")
    options = {}
    for key in OPTION_KEYS:
        action = values.get(key, "")
        if action:
            if not ACTION.match(action):
                raise TableError(f"{values['name']!r} has the action {action!r} for {key}")
            options[key] = action
    return {
        "tag": tag,
        "name": values["name"],
        # None where the source does not say (the innolitics extract drops the column).
        "retired": None if values.get("retired") is None else values["retired"] == "Y",
        "in_standard_iod": values.get("in_standard_iod") == "Y",
        "basic": basic,
        "options": options,
    }


def rows_from_docbook(path: Path) -> list[dict]:
    # The input is the standard as NEMA publishes it, fetched by the maintainer running this script,
    # not data from users; the standard library's parser is enough and keeps the script dependency-free.
    root = ET.parse(path).getroot()  # noqa: S314
    table = next((t for t in root.iter(f"{DOCBOOK}table") if t.get(XML_ID) == TABLE_ID), None)
    if table is None:
        raise TableError(f"{path} has no table {TABLE_ID}")
    header = [_clean("".join(th.itertext())) for th in table.find(f"{DOCBOOK}thead").iter(f"{DOCBOOK}th")]
    _check_header(header)
    return [
        _row([_clean("".join(td.itertext())) for td in tr.findall(f"{DOCBOOK}td")])
        for tr in table.find(f"{DOCBOOK}tbody").findall(f"{DOCBOOK}tr")
    ]


class _HtmlTable(HTMLParser):
    """Collects the cells of the table that follows the anchor `table_E.1-1` in the published HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if not self.found:
            self.found = dict(attrs).get("id") == TABLE_ID
            return
        if tag == "table":
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if not self.found or self.depth == 0:
            return
        if tag == "table":
            self.depth -= 1
            if self.depth == 0:
                self.found = False
                self.depth = -1
        elif tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(_clean("".join(self.cell)))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def rows_from_html(path: Path) -> list[dict]:
    parser = _HtmlTable()
    parser.feed(path.read_text(encoding="utf-8"))
    if not parser.rows:
        raise TableError(f"{path} has no table {TABLE_ID}")
    _check_header(parser.rows[0])
    return [_row(cells) for cells in parser.rows[1:] if cells]


def rows_from_innolitics(path: Path) -> list[dict]:
    rows = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        unknown = set(entry) - set(INNOLITICS_KEYS) - {"id", "retired"}
        if unknown:
            raise TableError(f"unknown keys {sorted(unknown)} in {path}")
        values = {INNOLITICS_KEYS[k]: v for k, v in entry.items() if k in INNOLITICS_KEYS}
        values["retired"] = entry.get("retired")
        rows.append(_normalise(values))
    return rows


def build(rows: list[dict], edition: str, source: str) -> dict:
    tags = [row["tag"] for row in rows]
    duplicates = sorted({tag for tag in tags if tags.count(tag) > 1})
    if duplicates:
        raise TableError(f"tags listed twice: {duplicates}")
    if len(rows) < 300:
        raise TableError(f"only {len(rows)} rows: not the whole of Table E.1-1")
    return {
        "standard": f"DICOM PS3.15 {edition}",
        "edition": edition,
        "table": "E.1-1 Application Level Confidentiality Profile Attributes",
        "source": source,
        "generated_by": "scripts/annex_e_table.py",
        "options": list(OPTION_KEYS),
        "rows": sorted(rows, key=lambda row: row["tag"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--docbook", type=Path, help="Part 15 DocBook source (part15.xml)")
    source.add_argument("--html", type=Path, help="Part 15 published HTML (part15.html)")
    source.add_argument("--innolitics", type=Path, help="confidentiality_profile_attributes.json")
    parser.add_argument("--edition", required=True, help="edition of the standard, e.g. 2024b")
    parser.add_argument("--source", help="where the input came from, recorded in the output")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.docbook:
        rows, origin = rows_from_docbook(args.docbook), f"PS3.15 {args.edition} DocBook (part15.xml)"
    elif args.html:
        rows, origin = rows_from_html(args.html), f"PS3.15 {args.edition} HTML (part15.html)"
    else:
        rows, origin = rows_from_innolitics(args.innolitics), "innolitics/dicom-standard"
    table = build(rows, args.edition, args.source or origin)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(rows)} attributes of Table E.1-1 ({table['standard']}) written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
