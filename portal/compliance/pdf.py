"""The compliance report as a PDF, drawn by WeasyPrint from the page's own HTML.

WeasyPrint needs Pango at import time: it is imported when a PDF is asked for, so that the portal
starts (and every other page works) on a host without it. The renderer fetches nothing: its stylesheet
is handed to it, and its fetcher allows no protocol, so no address in the HTML can make the server
reach out (THREATS.md, server-side requests)."""

from django.contrib.staticfiles import finders

PRINT_STYLESHEET = "compliance/report.css"


def render_pdf(html: str) -> bytes:
    import weasyprint

    stylesheet = finders.find(PRINT_STYLESHEET)
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[weasyprint.CSS(filename=stylesheet, url_fetcher=fetcher)]
    )
