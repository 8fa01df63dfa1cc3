"""The charts are SVG drawn on the server, without JavaScript or inline styles (the CSP has no
unsafe-inline), each with a title, a description, and its figures as a table too."""

import re

import pytest
from django.urls import reverse
from lxml import html

from accounts.roles import Role
from portal.compliance.charts import Bar, _rows


@pytest.fixture
def report(known_clinic, client) -> bytes:
    client.force_login(known_clinic.admin)
    return client.get(reverse("compliance-report", kwargs={"tenant_slug": known_clinic.tenant.slug})).content


def test_the_page_has_no_inline_script_no_inline_style_and_no_event_handler(report):
    page = report.decode()
    # Scripts from static files (the base page's session warning) are what the CSP allows.
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)


def test_each_chart_is_an_accessible_svg(report):
    doc = html.fromstring(report)
    for key, bars in (("ingestion", 30), ("storage", 2), ("access", 3)):
        (svg,) = doc.xpath("//*[@data-testid=$testid]", testid=f"chart-{key}")
        assert svg.get("role") == "img"
        assert svg.get("aria-labelledby") == f"chart-{key}-title chart-{key}-desc"
        assert svg.xpath("./title") and svg.xpath("./desc")
        assert len(svg.xpath("./rect")) == bars


def test_bars_are_as_long_as_their_figures(report):
    doc = html.fromstring(report)
    (svg,) = doc.xpath("//*[@data-testid='chart-access']")
    widths = {rect.findtext("title").split(":")[0]: float(rect.get("width")) for rect in svg.xpath("./rect")}
    # Radiologists 3, referring doctors 2, patients 1: the longest bar is the radiologists'.
    assert widths["Radiologist"] == pytest.approx(3 * widths["Patient"], rel=0.01)
    assert widths["Referring doctor"] == pytest.approx(2 * widths["Patient"], rel=0.01)


def test_labels_are_escaped_in_the_svg():
    drawn = _rows("x", "t", "d", [Bar('<script>alert("x")</script>', 1, "1")])
    assert "<script>" not in drawn
    assert "&lt;script&gt;" in drawn


def test_an_empty_clinic_draws_empty_charts(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.AUDITOR))
    doc = html.fromstring(
        client.get(reverse("compliance-report", kwargs={"tenant_slug": tenant.slug})).content
    )
    (svg,) = doc.xpath("//*[@data-testid='chart-access']")
    assert "Nothing to show yet." in svg.text_content()
