"""The report's charts, drawn on the server as SVG: ingestion per day, storage per region, access per role.

Plain SVG, so that the same markup shows in a browser and in the PDF (WeasyPrint draws inline SVG), with
no JavaScript. Colours and fonts are presentation attributes, never `style=` (the Content-Security-Policy
has no unsafe-inline). Each chart has a title and a description for screen readers, and the page
prints the same figures as a table beside it.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import IngestJob
from portal.compliance.evidence import RegionStorage
from portal.models import Tenant

DAYS = 30
# What counts as accessing a study: opening it, retrieving its instances, downloading it.
STUDY_ACCESS_ACTIONS = [
    AuditAction.VIEW_STUDY,
    AuditAction.RETRIEVE,
    AuditAction.DOWNLOAD,
    AuditAction.DEIDENTIFIED_DOWNLOAD,
]
_INGESTED = [IngestJob.State.STORED, IngestJob.State.NEW_VERSION]
_BAR = "#2f6f9f"
_AXIS = "#555555"
_GRID = "#d9d9d9"
_INK = "#222222"
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    shown: str


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    svg: SafeString
    bars: list[Bar]


# --- The figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestionDay:
    day: str
    ingested: int
    duplicates: int
    rejected: int


def ingestion_per_day(tenant: Tenant, now: datetime) -> list[IngestionDay]:
    """Objects received per UTC day over the last 30 days (today included), from the ingest jobs:
    stored (new versions included), already stored, refused. Inside the tenant's scope."""
    first = (now - timedelta(days=DAYS - 1)).date()
    rows = (
        IngestJob.objects.filter(created_at__date__gte=first, created_at__lte=now)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[tuple, int] = Counter()
    for day, state, n in rows:
        kind = "ingested" if state in _INGESTED else state
        counts[(day, kind)] += n
    days = [first + timedelta(days=offset) for offset in range(DAYS)]
    return [
        IngestionDay(
            day.isoformat(),
            counts[(day, "ingested")],
            counts[(day, IngestJob.State.DUPLICATE)],
            counts[(day, IngestJob.State.REJECTED)],
        )
        for day in days
    ]


@dataclass(frozen=True)
class RoleAccess:
    role: str
    label: str
    events: int


def access_per_role(tenant: Tenant, now: datetime) -> list[RoleAccess]:
    """Successful study accesses in the clinic's audit trail over the last 30 days, by the actor's role
    when they acted (share-link visitors and others without a role under their own name)."""
    rows = (
        AuditEvent.objects.filter(
            tenant=tenant,
            action__in=STUDY_ACCESS_ACTIONS,
            outcome=Outcome.SUCCESS,
            occurred_at__gt=now - timedelta(days=DAYS),
            occurred_at__lte=now,
        )
        .values_list("actor_role")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict(rows)
    labels = dict(Role.choices)
    ordered = [role for role in Role.values if role in counts] + sorted(set(counts) - set(Role.values))
    return [RoleAccess(role, labels.get(role, role or "no role"), counts[role]) for role in ordered]


# --- The charts --------------------------------------------------------------------------------------------


def ingestion_chart(days: list[IngestionDay]) -> Chart:
    bars = [Bar(day.day, day.ingested, str(day.ingested)) for day in days]
    title = "Objects ingested per day, last 30 days"
    total = sum(bar.value for bar in bars)
    description = f"{total} objects stored in 30 days; the busiest day had {max(bar.value for bar in bars)}."
    return Chart("ingestion", title, description, _columns("ingestion", title, description, bars), bars)


def storage_chart(storage: list[RegionStorage]) -> Chart:
    bars = [
        Bar(f"{row.region} ({row.jurisdiction})", row.bytes, filesizeformat(row.bytes)) for row in storage
    ]
    title = "Encrypted bytes stored per region"
    description = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars) or "Nothing stored."
    return Chart("storage", title, description, _rows("storage", title, description, bars), bars)


def access_chart(access: list[RoleAccess]) -> Chart:
    bars = [Bar(row.label, row.events, str(row.events)) for row in access]
    title = "Study accesses per role, last 30 days"
    description = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars) or "No study was accessed."
    return Chart("access", title, description, _rows("access", title, description, bars), bars)


def _open(key: str, title: str, description: str, width: int, height: int) -> list[SafeString]:
    return [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-testid="chart-{}" role="img" '
            'viewBox="0 0 {} {}" width="{}" height="{}" aria-labelledby="chart-{}-title chart-{}-desc" '
            'font-family="{}" font-size="11">',
            key,
            width,
            height,
            width,
            height,
            key,
            key,
            _FONT,
        ),
        format_html('<title id="chart-{}-title">{}</title>', key, title),
        format_html('<desc id="chart-{}-desc">{}</desc>', key, description),
    ]


def _close(parts: list[SafeString]) -> SafeString:
    # Every part was made by format_html, which escaped what it was given.
    return format_html_join("", "{}", ((part,) for part in [*parts, SafeString("</svg>")]))


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten not below `value`: the top of the axis."""
    ceiling = 1
    while True:
        for step in (1, 2, 5):
            if step * ceiling >= value:
                return step * ceiling
        ceiling *= 10


def _columns(key: str, title: str, description: str, bars: list[Bar]) -> SafeString:
    """Vertical bars, one per day, with the axis at 0, half and the top, and a date every five days."""
    width, height, left, bottom, top = 680, 220, 40, 34, 10
    plot_width, plot_height = width - left - 10, height - top - bottom
    top_value = _nice_ceiling(max([bar.value for bar in bars] + [1]))
    slot = plot_width / len(bars)
    parts = _open(key, title, description, width, height)
    for fraction in (0, 0.5, 1):
        y = f"{top + plot_height * (1 - fraction):.1f}"
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>',
                left,
                y,
                width - 10,
                y,
                _GRID,
            )
        )
        label = top_value * fraction
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
                left - 6,
                _n(float(y) + 4),
                _AXIS,
                int(label) if label == int(label) else label,
            )
        )
    for index, bar in enumerate(bars):
        bar_height = plot_height * bar.value / top_value
        x = left + index * slot + slot * 0.15
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                _n(x),
                _n(top + plot_height - bar_height),
                _n(slot * 0.7),
                _n(bar_height),
                _BAR,
                bar.label,
                bar.shown,
            )
        )
        if index % 5 == 0 or index == len(bars) - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>',
                    _n(x + slot * 0.35),
                    height - bottom + 16,
                    _AXIS,
                    bar.label[5:],
                )
            )
    parts.append(
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>',
            left,
            top + plot_height,
            width - 10,
            top + plot_height,
            _AXIS,
        )
    )
    return _close(parts)


def _rows(key: str, title: str, description: str, bars: list[Bar]) -> SafeString:
    """Horizontal bars, one per row, the label on the left and the figure after the bar."""
    row, label_width, bar_width, value_width = 26, 190, 340, 90
    width = label_width + bar_width + value_width
    height = max(len(bars), 1) * row + 8
    top_value = max([bar.value for bar in bars] + [1])
    parts = _open(key, title, description, width, height)
    if not bars:
        parts.append(format_html('<text x="4" y="20" fill="{}">Nothing to show yet.</text>', _AXIS))
    for index, bar in enumerate(bars):
        y = 4 + index * row
        length = bar_width * bar.value / top_value
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
                label_width - 8,
                y + 16,
                _INK,
                bar.label,
            )
        )
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                label_width,
                y + 4,
                _n(length),
                row - 10,
                _BAR,
                bar.label,
                bar.shown,
            )
        )
        parts.append(
            format_html(
                '<text x="{}" y="{}" fill="{}">{}</text>',
                _n(label_width + length + 6),
                y + 16,
                _INK,
                bar.shown,
            )
        )
    return _close(parts)
