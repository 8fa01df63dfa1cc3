"""What the audit trail adds to a QIDO-RS study search: Palisade as shipped against the same Palisade with
the audit write turned into a no-op (bench/asgi_without_audit.py), on the same synthetic index.

Issue 7's acceptance point: "The audit path adds under 10 % to the median latency of a QIDO study
search." Every QIDO-RS request records one hash-chained audit event (audit.services.record_access).
On PostgreSQL the web process writes it to its audit journal (audit/journal.py: a line appended and
fdatasync'd before the response) and a thread of the process chains the journal in batches; on SQLite
it goes straight into the chain (audit.chain.append: a transaction, the chain head, the hash, the
insert, the update of the head, the commit). The variant without audit still builds the event but does
not write it.

Each of `--repeat` rounds:
1. Starts both servers, each fresh in a temporary folder (bench/palisade.py), the one with audit first in
   odd rounds and the one without first in even rounds, and writes the same index into both:
   `--instances` instances of the synthetic corpus of run_dicom.py, as index rows
   (bench/palisade_index.py; no DICOM listener, no objects stored).
2. Warms both up, then measures them in alternating blocks (the first server of the block alternates
   too): each block is bench/dicom_measure.py's `qido_latency` over the study-level queries of
   `qido_queries` (PatientID, PatientName wildcard, StudyDate range, each with and without `limit`),
   `--block-rounds` interleaved rounds. Alternating blocks of a few seconds puts both servers under the
   same machine load, which matters on a shared machine where the load drifts by more than the
   difference being measured.
3. Checks with `manage.py verify_audit_chain` that the server with audit wrote one event per request
   (its chain intact; events still in the journal are waited for, 15 s at most) and the one without
   wrote none.

Reported per query and overall: the median of the blocks' p50 with and without audit, and the overhead
(with - without) / without. "Overall" is the median over every query's blocks. Every loop is bounded in
count (`--repeat`, `--blocks`, `--block-rounds`) and in time (`--round-budget`, `--load-timeout`, the
servers' start timeouts, 300 s per request); every server listens on 127.0.0.1 only.

Usage: `python bench/run_audit_overhead.py [--instances 2000] [--repeat 3] [--json FILE]
[--database-url postgres://USER@127.0.0.1:5432/DB --broker-url redis://127.0.0.1:6379/0]`.
"""

import argparse
import contextlib
import datetime
import os
import re
import statistics
import time
from pathlib import Path

import dicom_load
import dicom_measure
import runner
import synthetic
from common import machine, markdown_table
from palisade import TENANT, PalisadeServer
from run_dicom import SMALL_SEED

BENCH_DIR = Path(__file__).resolve().parent
TARGET_PERCENT = 10.0
WITH, WITHOUT = "with audit", "without audit"
VARIANTS = {
    WITH: {},
    WITHOUT: {"asgi_app": "asgi_without_audit:application", "app_dir": BENCH_DIR},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000, help="instances in the index")
    parser.add_argument("--study-size", type=int, default=100, help="instances per study")
    parser.add_argument("--series", type=int, default=4, help="series per study")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each on two fresh servers")
    parser.add_argument("--blocks", type=int, default=10, help="measured blocks per server and round")
    parser.add_argument("--block-rounds", type=int, default=10, help="rounds of every query per block")
    parser.add_argument("--warmup-rounds", type=int, default=5, help="unmeasured rounds per fresh server")
    parser.add_argument("--limit", type=int, default=10, help="QIDO-RS `limit` of the limited queries")
    parser.add_argument("--round-budget", type=float, default=180.0, help="seconds of blocks per round")
    parser.add_argument("--load-timeout", type=float, default=600.0, help="longest index load, s")
    parser.add_argument(
        "--accept-encoding", default="identity", help="Accept-Encoding of the QIDO-RS requests"
    )
    parser.add_argument("--database-url", help="PostgreSQL for Palisade (a fresh database is made on it)")
    parser.add_argument("--broker-url", help="Celery broker for Palisade, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Palisade Celery processes")
    parser.add_argument("--web-workers", type=int, default=1, help="Palisade uvicorn processes")
    parser.add_argument("--keep", action="store_true", help="keep the servers' temporary folders")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    counts = ("repeat", "blocks", "block_rounds", "limit", "series", "study_size")
    too_small = [f"--{name.replace('_', '-')}" for name in counts if getattr(args, name) < 1]
    if too_small:
        parser.error(f"{', '.join(too_small)} must be at least 1")
    if args.warmup_rounds < 0:
        parser.error("--warmup-rounds cannot be negative")
    if args.instances < args.study_size:
        parser.error("--instances must hold at least one study of --study-size")
    return args


def study_queries(corpus: synthetic.Corpus, limit: int) -> list[dicom_measure.Query]:
    """The study-level searches of dicom_measure.qido_queries (not the series of a study)."""
    return [query for query in dicom_measure.qido_queries(corpus, limit) if query.path == "studies"]


def audit_events(server: PalisadeServer) -> int:
    """How many events the clinic's audit chain holds; fails unless the chain is intact."""
    output = server.manage("verify_audit_chain", "--tenant", TENANT)
    match = re.search(r"(\d+) events, intact", output)
    if match is None:
        raise RuntimeError(f"{server.name}: verify_audit_chain said {output!r}")
    return int(match.group(1))


def chained_events(server: PalisadeServer, expected: int, timeout: float = 15.0) -> int:
    """audit_events, once it reaches `expected` or after `timeout` seconds: on PostgreSQL the events of
    reads reach their chain through the audit journal (audit/journal.py), a fraction of a second after
    the response."""
    deadline = time.monotonic() + timeout
    while (events := audit_events(server)) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return events


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def measure_round(number: int, args: argparse.Namespace, corpus: synthetic.Corpus) -> dict:
    """One round: both servers started and loaded, then measured in alternating blocks."""
    queries = study_queries(corpus, args.limit)
    order = [WITH, WITHOUT] if number % 2 == 0 else [WITHOUT, WITH]
    options = {
        "database_url": args.database_url,
        "broker_url": args.broker_url,
        "worker_concurrency": args.worker_concurrency,
        "web_workers": args.web_workers,
        "keep_dir": args.keep,
    }
    blocks: dict[str, list[dict]] = {name: [] for name in order}
    requests_sent = dict.fromkeys(order, 0)
    with contextlib.ExitStack() as stack:
        servers: dict[str, PalisadeServer] = {}
        for name in order:
            server = stack.enter_context(PalisadeServer(**options, **VARIANTS[name]))
            server.name = f"Palisade {name}"
            load = dicom_load.index_into_palisade(server, corpus, args.load_timeout)
            dicom_load.check_study_indexed(server, corpus, corpus.studies - 1)
            say(
                f"round {number + 1}: {server.name} up, "
                f"{corpus.instances} instances indexed in {load.seconds:.1f} s"
            )
            servers[name] = server
        events_before = {name: audit_events(server) for name, server in servers.items()}
        for name, server in servers.items():
            if args.warmup_rounds:
                dicom_measure.qido_latency(server, queries, args.warmup_rounds, 60.0, args.accept_encoding)
                requests_sent[name] += len(queries) * (args.warmup_rounds + 1)
        load_before = load_average()
        started = time.monotonic()
        deadline = started + args.round_budget
        for block in range(args.blocks):
            for name in order if block % 2 == 0 else order[::-1]:
                figures = dicom_measure.qido_latency(
                    servers[name],
                    queries,
                    args.block_rounds,
                    max(deadline - time.monotonic(), 0.0),
                    args.accept_encoding,
                )
                blocks[name].append(figures)
                requests_sent[name] += sum(found["samples"] + 1 for found in figures.values())
            if time.monotonic() > deadline:
                break
        seconds = time.monotonic() - started
        load_after = load_average()
        events_written = {
            name: chained_events(server, events_before[name] + requests_sent[name]) - events_before[name]
            for name, server in servers.items()
        }
    check_audit_writes(events_written, requests_sent)
    say(
        f"round {number + 1}: {len(blocks[WITH])} blocks per server in {seconds:.0f} s, load average "
        f"{load_before}-{load_after}; audit events written: {events_written[WITH]} with audit, "
        f"{events_written[WITHOUT]} without"
    )
    return {
        "order": order,
        "blocks": blocks,
        "seconds": round(seconds, 1),
        "load_average": [load_before, load_after],
        "requests": requests_sent,
        "audit_events_written": events_written,
    }


def check_audit_writes(written: dict[str, int], sent: dict[str, int]) -> None:
    """The comparison holds only if the server with audit wrote every event and the other none."""
    if written[WITHOUT] != 0:
        raise RuntimeError(f"the server without audit wrote {written[WITHOUT]} audit events")
    if written[WITH] != sent[WITH]:
        raise RuntimeError(f"the server with audit wrote {written[WITH]} events for {sent[WITH]} requests")


def summarise(rounds: list[dict], query_names: list[str]) -> dict:
    """Per query and overall: the median of the blocks' p50 for each variant, and the overhead. (A block's
    p95 is the slowest of its few samples per query, too noisy to summarise; the JSON keeps it.)"""

    def p50s(name: str, query: str | None) -> list[float]:
        return [
            figures["p50_ms"]
            for result in rounds
            for block in result["blocks"][name]
            for query_name, figures in block.items()
            if query is None or query_name == query
        ]

    rows = {}
    for query in [*query_names, None]:
        row = {}
        for name in (WITH, WITHOUT):
            row[name] = {"p50_ms": statistics.median(p50s(name, query)), "blocks": len(p50s(name, query))}
        row["overhead_percent"] = overhead(row[WITH]["p50_ms"], row[WITHOUT]["p50_ms"])
        rows[query or "overall"] = row
    per_round = []
    for result in rounds:
        medians = {
            name: statistics.median(
                figures["p50_ms"] for block in result["blocks"][name] for figures in block.values()
            )
            for name in (WITH, WITHOUT)
        }
        per_round.append(medians | {"overhead_percent": overhead(medians[WITH], medians[WITHOUT])})
    results = {query: rounds[0]["blocks"][WITH][0][query]["results"] for query in query_names}
    for result in rounds:
        for name in (WITH, WITHOUT):
            found = {query: result["blocks"][name][0][query]["results"] for query in query_names}
            if found != results:
                raise RuntimeError(f"the servers found different results: {results} and {found}")
    return {"queries": rows, "per_round": per_round, "results": results}


def overhead(with_audit: float, without_audit: float) -> float:
    return (with_audit - without_audit) / without_audit * 100


def report(summary: dict, args: argparse.Namespace, corpus: synthetic.Corpus) -> None:
    database = "PostgreSQL" if args.database_url else "SQLite"
    broker = "Redis" if args.broker_url else "file broker"
    print(
        f"\n### Audit overhead of QIDO-RS study searches ({datetime.date.today().isoformat()}, "
        f"{database}, {broker}, {corpus.instances} instances in {corpus.studies} studies)\n"
    )
    rows = []
    for query, row in summary["queries"].items():
        rows.append(
            [
                query if query != "overall" else "**overall**",
                summary["results"].get(query, ""),
                f"{row[WITH]['p50_ms']:.2f}",
                f"{row[WITHOUT]['p50_ms']:.2f}",
                f"{row['overhead_percent']:+.1f} %",
                row[WITH]["blocks"],
            ]
        )
    header = ["query", "results", "p50 ms with audit", "p50 ms without", "overhead", "blocks per variant"]
    print(markdown_table(header, rows))
    print()
    rounds = ", ".join(
        f"{index + 1}: {figures[WITH]:.2f} vs {figures[WITHOUT]:.2f} ms "
        f"({figures['overhead_percent']:+.1f} %)"
        for index, figures in enumerate(summary["per_round"])
    )
    print(f"Per round, overall p50 with vs without audit: {rounds}.")
    overall = summary["queries"]["overall"]["overhead_percent"]
    verdict = "met" if overall < TARGET_PERCENT else "NOT met"
    print(
        f"\nOverall overhead of the audit path: **{overall:+.1f} %** "
        f"(target < {TARGET_PERCENT:g} %): {verdict}."
    )


def say(line: str) -> None:
    print(f"  {line}", flush=True)


def main() -> int:
    args = parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    print(
        f"palisade database: {args.database_url or 'embedded SQLite'}, "
        f"broker: {args.broker_url or 'embedded file transport'}",
        flush=True,
    )
    corpus = synthetic.Corpus(SMALL_SEED, args.instances, args.study_size, args.series)
    rounds = [measure_round(number, args, corpus) for number in range(args.repeat)]
    query_names = [query.name for query in study_queries(corpus, args.limit)]
    summary = summarise(rounds, query_names)
    report(summary, args, corpus)
    runner.write_json(args, {"rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    runner.run_main(main)
