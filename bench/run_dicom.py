"""DICOM networking and DICOMweb reads, Palisade next to Orthanc in one run: C-STORE ingest with dcmtk's
storescu, QIDO-RS latency and WADO-RS retrieval, on a small index and again on a large one.

A fresh server of each system is started with its DICOM listener on (Palisade: `dicom_scp` with the
calling AE registered; Orthanc: its listener with the calling AE as a registered modality), loaded,
and left running, so that the reads are measured side by side, each request going to each system in
turn (a machine whose speed wanders over the minutes slows both alike):
1. storescu: the small corpus (`--instances`, 512 x 512 CT, studies of `--study-size`) is sent with
   `storescu +sd -R` in one association, to one system after the other (the other idle). The clock runs
   from storescu's start until QIDO-RS shows every instance of every study. This is also how the small
   index is loaded, so it always runs.
2. qido: each kind of query (bench/dicom_measure.py) is asked in rounds, `--qido-repeat` of them (or
   `--qido-budget` seconds); p50/p95 per kind and system.
3. wado: study 0 (the first study of the corpus) is retrieved whole, then frame 1 of some of its
   instances; MB/s and time to the first byte.
4. The index is grown to `--large-instances` with small images of another corpus: Orthanc through its
   REST API (the only way it indexes), Palisade by writing index rows (bench/palisade_index.py). Then
   qido and wado again, with the same queries and the same study.

Usage: `python bench/run_dicom.py [--instances 2000] [--large-instances 100000] [--json FILE]`.
"""

import argparse
import contextlib
import datetime
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import dicom_load
import dicom_measure
import runner
import synthetic
from common import DicomServer, markdown_table
from orthanc import OrthancServer
from palisade import PalisadeServer

SMALL_SEED = "palisade-bench-corpus-v1"
LARGE_SEED = "palisade-bench-large-v1"
PHASES = ("storescu", "qido", "wado")
# The targets, printed beside the measured ratios (Palisade / Orthanc).
TARGET_STORESCU = 2.0
TARGET_WADO = 1.5
# Retrievals from the loopback server (bench/loopback_server.py), median.
CEILING_REPEAT = 10
TARGET_QIDO_SMALL, TARGET_QIDO_LARGE = 1.0, 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances", type=int, default=2000, help="small index: instances sent with storescu"
    )
    parser.add_argument("--study-size", type=int, default=100, help="instances per study of the small index")
    parser.add_argument("--series", type=int, default=4, help="series per study of the small index")
    parser.add_argument(
        "--large-instances", type=int, default=100_000, help="large index: instances in all (0: none)"
    )
    parser.add_argument("--large-study-size", type=int, default=20, help="instances per added study")
    parser.add_argument("--large-series", type=int, default=2, help="series per added study")
    parser.add_argument("--large-pixels", type=int, default=8, help="rows and columns of added images")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated: storescu,qido,wado")
    parser.add_argument("--limit", type=int, default=10, help="QIDO-RS `limit` of the limited queries")
    parser.add_argument("--qido-repeat", type=int, default=200, help="rounds of QIDO-RS queries")
    parser.add_argument("--qido-budget", type=float, default=90.0, help="seconds of QIDO rounds per index")
    parser.add_argument("--wado-repeat", type=int, default=5, help="retrievals of the study (median)")
    parser.add_argument("--frame-samples", type=int, default=20, help="instances whose frame 1 is fetched")
    parser.add_argument(
        "--accept-encoding", default="identity", help="Accept-Encoding of QIDO-RS and WADO-RS requests"
    )
    parser.add_argument(
        "--tcp-nodelay",
        action="store_true",
        help="set TCP_NODELAY=1 for storescu and Orthanc: DCMTK then disables Nagle's algorithm",
    )
    parser.add_argument("--storescu-args", default="", help="more storescu options, e.g. '--max-pdu 65536'")
    parser.add_argument(
        "--orthanc-option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override an Orthanc configuration key, e.g. SyncStorageArea=false (repeatable)",
    )
    parser.add_argument("--load-concurrency", type=int, default=4, help="Orthanc REST uploads in flight")
    parser.add_argument("--load-timeout", type=float, default=1800.0, help="longest large-index load, s")
    parser.add_argument("--timeout", type=float, default=1200.0, help="longest storescu ingest, s")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between visibility checks")
    runner.add_system_arguments(parser)
    args = parser.parse_args()
    args.system_names = runner.selected_systems(parser, args)
    args.phase_names = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(args.phase_names) - set(PHASES):
        parser.error(f"--phases: choose among {', '.join(PHASES)}")
    if "storescu" not in args.phase_names:
        parser.error("--phases: storescu loads the small index, so it cannot be left out")
    try:
        args.orthanc_options = dict(map(orthanc_option, args.orthanc_option))
    except ValueError as error:
        parser.error(f"--orthanc-option: {error}")
    if args.instances < args.study_size:
        parser.error("--instances must hold at least one study of --study-size")
    counts = ("limit", "qido_repeat", "wado_repeat", "frame_samples", "load_concurrency", "series")
    too_small = [f"--{name.replace('_', '-')}" for name in counts if getattr(args, name) < 1]
    if too_small:
        parser.error(f"{', '.join(too_small)} must be at least 1")
    return args


def orthanc_option(text: str) -> tuple[str, object]:
    """KEY=JSON, e.g. `StorageCompression=true` or `MaximumPduLength=131072`."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise ValueError(f"{text!r} is not KEY=JSON")
    return key, json.loads(value)


def make_server(name: str, args: argparse.Namespace) -> PalisadeServer | OrthancServer:
    if name == "palisade":
        return PalisadeServer(**runner.palisade_options(args), dimse=True)
    return OrthancServer(keep_dir=args.keep, dicom=True, options=args.orthanc_options)


def measure_reads(
    servers: dict[str, DicomServer], small: synthetic.Corpus, args: argparse.Namespace, size: int
) -> dict[str, dict]:
    """The qido and wado phases asked for, on the indexes as they are (`size` instances each), of all
    the servers side by side: per server, its figures."""
    figures: dict[str, dict] = {name: {} for name in servers}
    if "qido" in args.phase_names:
        queries = dicom_measure.qido_queries(small, args.limit)
        found = dicom_measure.qido_side_by_side(
            servers, queries, args.qido_repeat, args.qido_budget, args.accept_encoding
        )
        for name in servers:
            figures[name]["qido"] = found[name]
    if "wado" in args.phase_names:
        found = dicom_measure.wado(servers, small, args.wado_repeat, args.frame_samples, args.accept_encoding)
        for name in servers:
            figures[name]["wado"] = found[name]
    if "qido" in args.phase_names or "wado" in args.phase_names:
        say(f"reads measured at {size} instances, side by side")
    return figures


def ingest(server: DicomServer, small: synthetic.Corpus, small_dir: Path, args: argparse.Namespace) -> dict:
    loaded = dicom_load.ingest_with_storescu(
        server, small_dir, small, args.storescu_args, args.timeout, args.poll
    )
    say(
        f"{server.name}: storescu {loaded.instances} instances in {loaded.seconds:.2f} s "
        f"({loaded.instances_per_s:.1f}/s; storescu done at {loaded.sent_seconds:.2f} s)"
    )
    return asdict(loaded) | {"instances_per_s": loaded.instances_per_s, "mb_per_s": loaded.mb_per_s}


def grow_index(
    name: str, server: DicomServer, large: synthetic.Corpus, payloads: list[bytes], args: argparse.Namespace
) -> dict:
    say(f"{server.name}: adding {large.instances} instances to the index")
    if name == "orthanc":
        load = dicom_load.post_to_orthanc(server, payloads, args.load_concurrency, args.load_timeout)
        method = f"REST POST /instances, {args.load_concurrency} in flight"
    else:
        load = dicom_load.index_into_palisade(server, large, args.load_timeout)
        method = "index rows written directly"
    dicom_load.check_study_indexed(server, large, large.studies - 1)
    say(f"{server.name}: {load.instances} instances added in {load.seconds:.1f} s ({method})")
    return {"method": method, "instances": load.instances, "seconds": load.seconds}


def run_systems(
    args: argparse.Namespace,
    small: synthetic.Corpus,
    small_dir: Path,
    large: synthetic.Corpus | None,
    payloads: list[bytes],
) -> dict[str, dict]:
    """A fresh server of each system, loaded one after the other and left running, so that the reads
    are measured side by side; `large` is None when there is no large index."""
    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        servers: dict[str, DicomServer] = {}
        for name in args.system_names:
            server = stack.enter_context(make_server(name, args))
            servers[name] = server
            results[name] = {
                "system": server.name,
                "indexes": {},
                "storescu": ingest(server, small, small_dir, args),
            }
        sizes = [small.instances]
        reads = [measure_reads(servers, small, args, small.instances)]
        if large is not None:
            for name, server in servers.items():
                results[name]["large_load"] = grow_index(name, server, large, payloads, args)
            sizes.append(small.instances + large.instances)
            reads.append(measure_reads(servers, small, args, sizes[-1]))
    for size, figures in zip(sizes, reads, strict=True):
        for name in results:
            results[name]["indexes"][size] = figures[name]
    return results


def say(line: str) -> None:
    print(f"  {line}", flush=True)


def ratio(palisade: float | None, orthanc: float | None) -> str:
    return f"{palisade / orthanc:.2f}x" if palisade and orthanc else "-"


def storescu_table(results: dict[str, dict]) -> str:
    rows = []
    for result in results.values():
        ingest = result["storescu"]
        rows.append(
            [
                result["system"],
                ingest["instances"],
                f"{ingest['bytes'] / 1e6:.1f}",
                f"{ingest['sent_seconds']:.2f}",
                f"{ingest['seconds']:.2f}",
                f"{ingest['instances_per_s']:.1f}",
                f"{ingest['mb_per_s']:.1f}",
            ]
        )
    header = ["system", "instances", "MB", "storescu done, s", "all visible, s", "instances/s", "MB/s"]
    text = markdown_table(header, rows)
    if len(results) == 2:
        speed = ratio(
            results["palisade"]["storescu"]["instances_per_s"],
            results["orthanc"]["storescu"]["instances_per_s"],
        )
        text += (
            f"\n\nPalisade/Orthanc C-STORE ingest throughput: **{speed}** (target >= {TARGET_STORESCU:g}x)"
        )
    return text


def qido_table(results: dict[str, dict], size: int, target: float) -> str:
    per_system = {name: result["indexes"][size]["qido"] for name, result in results.items()}
    names = list(next(iter(per_system.values())))
    rows = []
    for query in names:
        row, p95 = [query], {}
        counts = {name: figures[query]["results"] for name, figures in per_system.items()}
        for name, figures in per_system.items():
            found = figures[query]
            row += [str(found["results"]), f"{found['p50_ms']:.1f}", f"{found['p95_ms']:.1f}"]
            p95[name] = found["p95_ms"]
        verdict = ratio(p95.get("palisade"), p95.get("orthanc"))
        if len(set(counts.values())) > 1:
            verdict += " (results differ)"
        rows.append([*row, verdict])
    header = ["query"]
    for result in results.values():
        header += [f"{result['system']} results", "p50 ms", "p95 ms"]
    header.append(f"p95 Palisade/Orthanc (target <= {target:g}x)")
    return markdown_table(header, rows)


def wado_table(results: dict[str, dict], size: int, ceiling: float | None) -> str:
    rows, figures = [], {}
    for name, result in results.items():
        wado = result["indexes"][size]["wado"]
        figures[name] = wado
        rows.append(
            [
                result["system"],
                f"{wado['study_bytes'] / 1e6:.1f}",
                wado["study_content_coding"],
                f"{wado['study_mb_per_s']:.1f}",
                f"{wado['first_frame_p50_ms']:.1f}",
                f"{wado['first_frame_p95_ms']:.1f}",
                f"{wado['frame_complete_p50_ms']:.1f}",
            ]
        )
    header = [
        "system",
        "study MB",
        "coding",
        "study MB/s",
        "frame 1 first byte p50 ms",
        "p95 ms",
        "whole p50 ms",
    ]
    text = markdown_table(header, rows)
    if len(figures) == 2:
        speed = ratio(figures["palisade"]["study_mb_per_s"], figures["orthanc"]["study_mb_per_s"])
        first = ratio(figures["palisade"]["first_frame_p50_ms"], figures["orthanc"]["first_frame_p50_ms"])
        text += (
            f"\n\nPalisade/Orthanc WADO-RS study MB/s: **{speed}** (target >= {TARGET_WADO:g}x); "
            f"first-frame p50: {first}"
        )
    if ceiling is not None:
        shares = ", ".join(
            f"{result['system']} {figures[name]['study_mb_per_s'] / ceiling:.0%}"
            for name, result in results.items()
        )
        text += (
            f"\n\nLoopback ceiling: this client retrieves the same bytes at {ceiling:.0f} MB/s from a server "
            f"that sends them from memory (bench/loopback_server.py), the most any server can show here; "
            f"{shares} of it."
        )
        if "orthanc" in figures:
            needed = TARGET_WADO * figures["orthanc"]["study_mb_per_s"]
            text += f" The target needs {needed:.0f} MB/s ({needed / ceiling:.0%} of the ceiling)."
    return text


def load_table(results: dict[str, dict]) -> str:
    rows = [
        [
            result["system"],
            result["large_load"]["method"],
            result["large_load"]["instances"],
            f"{result['large_load']['seconds']:.1f}",
            f"{result['large_load']['instances'] / result['large_load']['seconds']:.0f}",
        ]
        for result in results.values()
    ]
    return markdown_table(["system", "how", "instances added", "seconds", "instances/s"], rows)


def report(results: dict[str, dict], args: argparse.Namespace, ceiling: float | None) -> None:
    print(f"\n### C-STORE with storescu ({datetime.date.today().isoformat()})\n")
    print(storescu_table(results))
    sizes = list(next(iter(results.values()))["indexes"])
    for number, size in enumerate(sizes):
        target = TARGET_QIDO_SMALL if number == 0 else TARGET_QIDO_LARGE
        if "qido" in args.phase_names:
            print(f"\n### QIDO-RS at {size} indexed instances\n")
            print(qido_table(results, size, target))
        if "wado" in args.phase_names:
            print(f"\n### WADO-RS at {size} indexed instances\n")
            print(wado_table(results, size, ceiling))
    if all("large_load" in result for result in results.values()) and len(sizes) > 1:
        print("\n### Loading the large index (not a comparison: Palisade's rows skip ingest)\n")
        print(load_table(results))


def main() -> int:
    args = parse_args()
    if args.tcp_nodelay:
        # DCMTK (storescu, Orthanc's listener) reads it when it opens a connection (config/docs/envvars.txt);
        # the child processes inherit it. Palisade's pynetdicom ignores it.
        os.environ["TCP_NODELAY"] = "1"
    runner.print_setup(args)
    small = synthetic.Corpus(SMALL_SEED, args.instances, args.study_size, args.series)
    extra = args.large_instances - args.instances
    large = (
        synthetic.Corpus(LARGE_SEED, extra, args.large_study_size, args.large_series, args.large_pixels)
        if extra > 0
        else None
    )
    with tempfile.TemporaryDirectory(prefix="bench-dicom-") as data_dir:
        small_dir = Path(data_dir) / "small"
        paths = synthetic.generate_corpus(small_dir, small)
        print(
            f"small index: {len(paths)} CT instances 512x512 in {small.studies} studies of {args.study_size} "
            f"({args.series} series); large index: {args.large_instances if large else 'none'}",
            flush=True,
        )
        # Orthanc's large index is made of real objects, generated before the clock starts.
        payloads = list(synthetic.corpus_instances(large)) if large and "orthanc" in args.system_names else []
        results = run_systems(args, small, small_dir, large, payloads)
    ceiling = None
    if "wado" in args.phase_names:
        study_bytes = next(iter(results.values()))["indexes"][small.instances]["wado"]["study_bytes"]
        ceiling = dicom_measure.loopback_ceiling(study_bytes, CEILING_REPEAT)
    report(results, args, ceiling)
    runner.write_json(args, {"results": results, "wado_loopback_ceiling_mb_per_s": ceiling})
    return 0


if __name__ == "__main__":
    runner.run_main(main)
