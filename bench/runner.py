"""What the run_*.py benchmarks share: the options that pick and configure the systems compared, the
setup they print, the JSON file they write, and their exit on an HTTP error."""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import requests
from common import machine
from orthanc import orthanc_version

SYSTEMS = ("palisade", "orthanc")


def add_system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", default="palisade,orthanc", help="comma-separated: palisade,orthanc")
    parser.add_argument("--database-url", help="PostgreSQL for Palisade (a fresh database is made on it)")
    parser.add_argument("--broker-url", help="Celery broker for Palisade, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Palisade Celery processes")
    parser.add_argument("--web-workers", type=int, default=1, help="Palisade uvicorn processes")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' folders (and Palisade's PostgreSQL database)"
    )
    parser.add_argument("--json", type=Path, help="write every figure to this file")


def selected_systems(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    systems = [s.strip().lower() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return systems


def palisade_options(args: argparse.Namespace) -> dict:
    """PalisadeServer's keyword arguments from the options of add_system_arguments."""
    return {
        "database_url": args.database_url,
        "broker_url": args.broker_url,
        "worker_concurrency": args.worker_concurrency,
        "web_workers": args.web_workers,
        "keep_dir": args.keep,
    }


def print_setup(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(
        f"orthanc: {orthanc_version()}; palisade database: {args.database_url or 'embedded SQLite'}, "
        f"broker: {args.broker_url or 'embedded file transport'}",
        flush=True,
    )


def write_json(args: argparse.Namespace, payload: dict) -> None:
    if args.json:
        document = {"args": vars(args) | {"json": str(args.json)}, "machine": machine(), **payload}
        args.json.write_text(json.dumps(document, indent=2, default=str))


def run_main(main: Callable[[], int]) -> None:
    try:
        sys.exit(main())
    except requests.HTTPError as exc:
        sys.exit(f"HTTP error: {exc} {exc.response.text[:500] if exc.response is not None else ''}")
