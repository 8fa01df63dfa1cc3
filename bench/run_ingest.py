"""End-to-end ingest, Palisade next to Orthanc in one run: STOW-RS in, until QIDO shows every instance.

For each system and each repeat, a fresh server is started (a fresh temporary folder and database),
warmed up with a 2-instance study of another seed, then the synthetic CT study (bench/synthetic.py)
is sent with dicomweb-client's `store_instances`, in batches of `--batch` instances per request,
from this one process (`--concurrency` requests in flight, the same for both systems). The clock
starts right before the first STOW-RS request and stops when the visibility check first sees every
instance of the study:
- Orthanc: QIDO-RS `GET /dicom-web/studies/{study}/instances`;
- Palisade: QIDO-RS `GET /dicomweb/<tenant>/studies/{study}/instances` when it answers, otherwise the
  REST study list `GET /api/v1/tenants/<tenant>/studies/` (number_of_instances, set by the worker).
Both are polled every `--poll` seconds. Peak memory is the highest sum of resident memory of the
server's processes (Orthanc: one; Palisade: uvicorn + the Celery worker and its children), sampled
every 0.1 s from server start to the end of the run.

Usage: `python bench/run_ingest.py [--instances 200] [--batch 20] [--repeat 3] [--database-url URL]`.
The table shows the median of the repeats; `--json FILE` keeps every run.
"""

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import runner
import synthetic
from common import MemorySampler, wait_until
from dicomweb_client import DICOMwebClient
from orthanc import OrthancServer
from palisade import PalisadeServer, wait_for_stow

WARMUP_SEED = "palisade-bench-warmup"


def store(server, datasets: list, batch: int, concurrency: int) -> tuple[int, int]:
    """Send `datasets` in batches; return (stored, failed) from the STOW-RS responses."""
    batches = [datasets[i : i + batch] for i in range(0, len(datasets), batch)]

    def send(chunk: list) -> tuple[int, int]:
        client = DICOMwebClient(server.store_url(), session=server.session())
        response = client.store_instances(chunk)
        stored = len(response.get("ReferencedSOPSequence", []) or [])
        failed = len(response.get("FailedSOPSequence", []) or [])
        return stored, failed

    if concurrency == 1:
        results = [send(chunk) for chunk in batches]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(send, batches))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def wait_visible(server, study_uid: str, expected: int, timeout: float, poll: float) -> float:
    """Poll until `expected` instances of the study are visible; return the monotonic time then."""
    session = server.session()

    def all_visible() -> float | None:
        return time.monotonic() if server.visible_instances(session, study_uid) >= expected else None

    return wait_until(f"{server.name}: all {expected} instances visible", all_visible, timeout, poll)


def run_one(server_factory, files: list[Path], warmup: list[Path], args) -> dict:
    datasets = [pydicom.dcmread(path) for path in files]
    warm = [pydicom.dcmread(path) for path in warmup]
    study_uid = datasets[0].StudyInstanceUID
    size = sum(path.stat().st_size for path in files)
    server = server_factory()
    with server, MemorySampler(server.pids) as memory:
        if warm:
            store(server, warm, args.batch, 1)
            wait_visible(server, warm[0].StudyInstanceUID, len(warm), args.timeout, args.poll)
        started = time.monotonic()
        stored, failed = store(server, datasets, args.batch, args.concurrency)
        stowed = time.monotonic()
        if failed or stored != len(datasets):
            raise RuntimeError(f"{server.name}: STOW-RS stored {stored}, failed {failed} of {len(datasets)}")
        visible = wait_visible(server, study_uid, len(datasets), args.timeout, args.poll)
    seconds = visible - started
    return {
        "system": server.name,
        "instances": len(datasets),
        "bytes": size,
        "seconds": seconds,
        "stow_seconds": stowed - started,
        "instances_per_s": len(datasets) / seconds,
        "mb_per_s": size / 1e6 / seconds,
        "peak_rss_mb": memory.peak_rss_mb,
        "hwm_sum_mb": memory.hwm_sum_mb,
        "processes": memory.processes,
        "visibility": getattr(server, "visibility_mode", "qido"),
    }


def median_row(runs: list[dict]) -> dict:
    row = dict(runs[0])
    for key in ("seconds", "stow_seconds", "peak_rss_mb", "hwm_sum_mb"):
        row[key] = statistics.median(r[key] for r in runs)
    row["instances_per_s"] = row["instances"] / row["seconds"]
    row["mb_per_s"] = row["bytes"] / 1e6 / row["seconds"]
    row["repeats"] = len(runs)
    row["seconds_all"] = [round(r["seconds"], 2) for r in runs]
    return row


def table(rows: list[dict]) -> str:
    header = (
        f"{'system':<10} {'instances':>9} {'MB':>7} {'seconds':>8} {'STOW s':>7} {'inst/s':>7} "
        f"{'MB/s':>7} {'peak RSS MB':>11} {'sum HWM MB':>10}  runs (s)"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['system']:<10} {r['instances']:>9} {r['bytes'] / 1e6:>7.1f} {r['seconds']:>8.2f} "
            f"{r['stow_seconds']:>7.2f} {r['instances_per_s']:>7.1f} {r['mb_per_s']:>7.1f} "
            f"{r['peak_rss_mb']:>11.0f} {r['hwm_sum_mb']:>10.0f}  {r['seconds_all']}"
        )
    by_name = {r["system"]: r for r in rows}
    if "Palisade" in by_name and "Orthanc" in by_name:
        ratio = by_name["Palisade"]["instances_per_s"] / by_name["Orthanc"]["instances_per_s"]
        memory = by_name["Palisade"]["peak_rss_mb"] / by_name["Orthanc"]["peak_rss_mb"]
        lines.append(f"Palisade/Orthanc end-to-end ingest throughput: {ratio:.2f}x (target >= 1.5x, aim 2x)")
        lines.append(f"Palisade/Orthanc peak RSS: {memory:.2f}x")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=synthetic.DEFAULT_INSTANCES)
    parser.add_argument("--series", type=int, default=synthetic.DEFAULT_SERIES)
    parser.add_argument("--batch", type=int, default=20, help="instances per STOW-RS request")
    parser.add_argument("--concurrency", type=int, default=1, help="STOW-RS requests in flight")
    parser.add_argument("--repeat", type=int, default=1, help="runs per system; the table shows medians")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between visibility checks")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for visibility, s")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument(
        "--wait-for-palisade", type=float, default=0, help="seconds to wait for the STOW-RS route to exist"
    )
    runner.add_system_arguments(parser)
    args = parser.parse_args()
    if args.repeat < 1 or args.batch < 1 or args.concurrency < 1:
        parser.error("--repeat, --batch and --concurrency must be at least 1")

    systems = runner.selected_systems(parser, args)
    if "palisade" in systems and not wait_for_stow(args.wait_for_palisade):
        print(
            "Palisade's STOW-RS route (imaging/dicomweb/urls.py) or create_api_token is missing: "
            "running Orthanc alone.",
            file=sys.stderr,
        )
        systems.remove("palisade")
    if not systems:
        return 1

    factories = {
        "palisade": lambda: PalisadeServer(**runner.palisade_options(args)),
        "orthanc": lambda: OrthancServer(keep_dir=args.keep),
    }
    runner.print_setup(args)
    runs: dict[str, list[dict]] = {name: [] for name in systems}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        files = synthetic.generate(Path(data_dir) / "study", args.instances, args.series)
        warmup = [] if args.no_warmup else synthetic.generate(Path(data_dir) / "warmup", 2, 1, WARMUP_SEED)
        size = sum(p.stat().st_size for p in files)
        print(
            f"dataset: {len(files)} CT instances 512x512x16 bit in {args.series} series, "
            f"{size / 1e6:.1f} MB; {args.batch} per STOW-RS request, {args.concurrency} in flight, "
            f"{args.repeat} repeat(s)"
        )
        for repeat in range(args.repeat):
            # Alternate the order so that neither system always runs on a machine warmed by the other.
            order = systems if repeat % 2 == 0 else list(reversed(systems))
            for name in order:
                result = run_one(factories[name], files, warmup, args)
                runs[name].append(result)
                print(
                    f"  run {repeat + 1}/{args.repeat} {result['system']:<8}: {result['seconds']:.2f} s "
                    f"(STOW done at {result['stow_seconds']:.2f} s), {result['instances_per_s']:.1f} inst/s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB, visibility by {result['visibility']}",
                    flush=True,
                )
    rows = [median_row(runs[name]) for name in ("palisade", "orthanc") if name in runs]
    print()
    print(f"End-to-end ingest, median of {args.repeat} ({datetime.date.today().isoformat()}):")
    print(table(rows))
    runner.write_json(args, {"runs": runs, "medians": rows})
    return 0


if __name__ == "__main__":
    runner.run_main(main)
