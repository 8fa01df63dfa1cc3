"""The report as a PDF: WeasyPrint draws the page's own HTML, A4, dated, the clinic named, numbered."""

import pypdfium2
import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent

A4_POINTS = (595, 842)


@pytest.fixture
def pdf(known_clinic, client) -> bytes:
    client.force_login(known_clinic.auditor)
    response = client.get(reverse("compliance-report-pdf", kwargs={"tenant_slug": known_clinic.tenant.slug}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'inline; filename="compliance-alpha-{known_clinic.today.isoformat()}.pdf"'
    )
    return response.content


def test_the_pdf_renders_a4_pages_whose_first_is_not_blank(pdf, tmp_path):
    assert pdf.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(pdf)
    assert len(document) >= 2
    width, height = document[0].get_size()
    assert (round(width), round(height)) == A4_POINTS
    for number in range(len(document)):
        document[number].render(scale=1.5).to_pil().save(
            tmp_path / f"compliance-report-page-{number + 1}.png"
        )
    image = document[0].render(scale=1.5).to_pil().convert("L")
    dark = sum(1 for value in image.tobytes() if value < 200)
    # Text, tables and status badges: a blank or nearly blank page has far fewer dark pixels.
    assert dark / (image.width * image.height) > 0.02, dark


def test_each_page_names_the_clinic_and_the_date_and_is_numbered(known_clinic, pdf):
    document = pypdfium2.PdfDocument(pdf)
    pages = len(document)
    for number in range(pages):
        text = document[number].get_textpage().get_text_range()
        assert "Alpha Imaging" in text
        assert known_clinic.today.isoformat() in text
        assert f"Page {number + 1} of {pages}" in text


def test_the_pdf_carries_the_same_figures_as_the_page(pdf):
    text = " ".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(pdf))
    # Lines wrap anywhere in a table cell: compare without the white space.
    squeezed = "".join(text.split())
    for reference in ("164.312(a)(1)", "164.312(a)(2)(iv)", "164.312(b)", "164.312(c)(1)", "164.312(d)"):
        assert reference in squeezed
    assert "164.312(e)(1)" in squeezed
    for article in ("Art.5", "Art.17", "Art.30", "Art.32"):
        assert article in squeezed
    assert "Objectsingestedperday" in squeezed
    # No patient names or IDs: the samples' and the factories' patients.
    for phi in ("Doe^Jane", "Doe", "1CT1", "4MR1", "123456"):
        assert phi not in text


def test_printing_the_pdf_is_audited(known_clinic, pdf):
    event = AuditEvent.objects.get(tenant=known_clinic.tenant, action=AuditAction.COMPLIANCE_REPORT_VIEWED)
    assert event.actor == known_clinic.auditor
    assert event.actor_role == "auditor"
    assert event.details["format"] == "pdf"
    assert event.details["statuses"]["hipaa-encryption"] == "met"
