"""Stress tests: crash safety under SIGKILL, and chat sessions while an ingest runs.

    python -m evals.stress crash --trials 20 --articles 300
    python -m evals.stress concurrency --sessions 8 --articles 300

``crash`` runs a worker process that ingests (a fresh store, or one holding older versions of the
same articles) or deletes, kills it with SIGKILL at a random moment of its write phase, and
checks the store it leaves: it opens, every stored article is one whole version with exactly its
chunks, no uncommitted chunk reaches a reader, everything the worker reported done is there, and
a re-run ends with exactly the expected article and chunk counts.

``concurrency`` runs chat sessions in threads of one process, first alone (baseline) and then
while an ingest of the other half of the articles runs, and checks that no answer failed, no
article was lost or duplicated, and each session's history holds its own questions only; it
reports answer latency p50/p95 for both phases.

Articles are the first ``--chars`` characters of RealTimeQA-dev articles (short, to keep the
embedding cost low on a shared machine), written to a temporary folder; the embedder is the real
packaged model. Both print a summary and write JSON to evals/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.index.ingest import EMBED_GROUP_CHUNKS
from chatbot.index.store import ArticleStore, version_of
from chatbot.models.embeddings import Embedder, create_embedder
from tests.concurrency import (
    run_concurrency,
    source_articles,
    stress_settings,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parents[1] / "evals" / "results"
READY = "ready"
DONE = "done"


# --- articles ------------------------------------------------------------------------------


def older_versions(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same articles (same URLs, so the same ids) with different, shorter text."""
    return [{**r, "text": "Earlier version. " + r["text"][: len(r["text"]) // 2]} for r in rows]


# --- the worker that gets killed -----------------------------------------------------------


def worker(op: str, store: Path, items: Path, group_chunks: int | None = None) -> int:
    """Ingest ``items`` (a JSONL file) or delete the ids listed in it, printing a line after
    each article is committed; the parent kills this process at some point. ``group_chunks``
    makes the ingest's groups smaller, so that a few short articles still make several
    groups (one embedding while the one before it is written)."""
    bot = Chatbot(stress_settings(store, store.parent))
    if group_chunks:
        bot.ingestor.group_chunks = group_chunks
    if op == "ingest":
        bot.embedder.embed(["warm up"])  # load the model now: kills should land in the ingest
        write_many = bot.store.write_articles

        def traced(items: Any) -> None:  # lets the parent aim kills at the writes themselves
            print(f"writing {len(items)}", flush=True)
            write_many(items)

        bot.store.write_articles = traced  # type: ignore[method-assign]
    print(READY, flush=True)
    if op == "ingest":

        def progress(event: Any) -> None:
            if event.status in ("added", "updated"):
                print(f"committed {event.detail}", flush=True)  # after the commit record

        report = bot.ingest([items], progress=progress)
        if report.failed:
            print(f"failed {report.failed}", file=sys.stderr, flush=True)
            return 1
    else:
        for article_id in items.read_text(encoding="utf-8").split():
            bot.delete(article_id)
            print(f"committed {article_id}", flush=True)
    print(DONE, flush=True)
    return 0


def _worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        CHATBOT_CONFIG=os.devnull,  # no chatbot.toml from the current folder
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",  # a shared 2-core machine: one thread for the worker's model
        TOKENIZERS_PARALLELISM="false",
    )
    return env


@dataclass
class Kill:
    """Where a worker was killed: ``delay`` seconds after its ``after``-th line starting with
    ``wait_for`` ("committed": an article or deletion done; "writing": a group write begins;
    count 0: as soon as it is ready)."""

    wait_for: str
    after: int
    delay: float
    seconds_after_ready: float = 0.0
    reported: list[str] = field(default_factory=list)  # ids the worker said were committed
    finished_first: bool = False  # the worker completed before the kill moment


def run_and_kill(
    op: str,
    store: Path,
    items: Path,
    wait_for: str,
    after: int,
    delay: float,
    timeout: float = 900,
    group_chunks: int | None = None,
) -> Kill:
    """Start a worker, wait for its ``after``-th ``wait_for`` line (0: for it to be ready),
    sleep ``delay`` seconds while it keeps working, then SIGKILL it."""
    kill = Kill(wait_for, after, delay)
    errors = store.parent / f"worker-{op}.err"
    command = [sys.executable, "-m", "harness.stress", "worker", op, str(store), str(items)]
    if group_chunks:
        command += ["--group-chunks", str(group_chunks)]
    with errors.open("w") as err:  # a file, not a pipe: a full pipe would stall the worker
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)  # a hung worker must not hang the run
    watchdog.start()
    lines: list[str] = []
    ready_at = None
    try:
        # Read until the kill point; a thread then drains what the worker prints meanwhile.
        for raw in proc.stdout:
            line = raw.strip()
            lines.append(line)
            if line == READY:
                ready_at = time.monotonic()
            if line == DONE:
                kill.finished_first = True
                kill.seconds_after_ready = time.monotonic() - (ready_at or 0.0)
                break
            seen = sum(1 for x in lines if x.startswith(wait_for + " "))
            if ready_at is not None and seen >= after:
                break
        reader = threading.Thread(target=lambda: lines.extend(_lines(proc.stdout)), daemon=True)
        reader.start()
        if not kill.finished_first and ready_at is not None:
            time.sleep(delay)
            kill.finished_first = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            kill.seconds_after_ready = time.monotonic() - ready_at
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if ready_at is None:
        raise RuntimeError(f"worker {op} never became ready: {errors.read_text()[-2000:]}")
    kill.reported = [x.split(" ", 1)[1] for x in lines if x.startswith("committed ")]
    if kill.finished_first and proc.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"worker {op} failed: {errors.read_text()[-2000:]}")
    return kill


def _lines(stream: Any) -> Iterator[str]:
    for line in stream:
        yield line.strip()


# --- checking a store ----------------------------------------------------------------------


@dataclass
class StoreCheck:
    articles: int
    chunks_raw: int  # every chunk record, including what a crash left uncommitted
    chunks_committed: int
    orphans_invisible: bool  # no uncommitted chunk reached a reader (iteration and queries)
    problems: list[str]


def check_store(
    store: ArticleStore,
    acceptable: dict[str, set[str]],
    chunk_counts: dict[str, int],
    probe: np.ndarray,
) -> StoreCheck:
    """Every stored article is one acceptable whole version with exactly its chunks (count from
    a clean run of the same text), and readers see committed chunks only."""
    problems: list[str] = []
    raw = store.chunk_inventory()  # article -> version -> chunk numbers, committed or not
    chunks_raw = sum(len(ns) for versions in raw.values() for ns in versions.values())
    committed = 0
    stored = store.list_articles()
    for art in stored:
        have = raw.get(art.id, {}).get(version_of(art.content_hash), set())
        committed += len(have)  # what readers may see, whatever else is wrong with it
        full = store.get_article(art.id)
        if art.id not in acceptable:
            problems.append(f"{art.id}: an article nobody wrote")
            continue
        if full is None or full.text not in acceptable[art.id]:
            problems.append(f"{art.id}: text is not one of its whole versions")
            continue
        expected = chunk_counts[art.content_hash]
        if art.chunks != expected or have != set(range(expected)):
            problems.append(
                f"{art.id}: {len(have)} chunks {sorted(have)[:5]}…, record says {art.chunks}, "
                f"a clean run has {expected}"
            )
    ids = [a.id for a in stored]
    if len(ids) != len(set(ids)):
        problems.append("duplicated article records")
    seen = list(store.iter_chunks())
    visible_ok = len(seen) == committed
    hits = store.query_chunks(probe, k=50)
    versions = store.versions()
    visible_ok &= all(versions.get(h.article_id) == h.chunk_id.split(":")[1] for h in hits)
    if not visible_ok:
        problems.append(f"readers saw {len(seen)} chunks, {committed} are committed")
    return StoreCheck(len(stored), chunks_raw, committed, visible_ok, problems)


# --- crash trials --------------------------------------------------------------------------


@dataclass
class Trial:
    n: int
    op: str  # ingest (fresh store) | update (older versions stored) | delete
    kill: dict[str, Any]
    after_kill: dict[str, Any]
    rerun: dict[str, Any]
    ok: bool
    problems: list[str]


@dataclass
class CrashResult:
    articles: int
    chars: int
    expected_articles: int
    expected_chunks: int
    delete_targets: int
    trials: list[Trial]
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.trials) and all(t.ok for t in self.trials)


def _open(path: Path, embedder: Embedder) -> ArticleStore:
    return ArticleStore.open(path=path, embedding_model=embedder.name, dimension=embedder.dimension)


def _build(path: Path, work: Path, embedder: Embedder, jsonl: Path) -> dict[str, int]:
    """A clean store of ``jsonl``, made in this process; returns chunks per content hash."""
    bot = Chatbot(stress_settings(path, work), embedder=embedder)
    try:
        report = bot.ingest([jsonl])
        if report.failed:
            raise RuntimeError(f"clean ingest failed: {report.failed[:3]}")
        return {a.content_hash: a.chunks for a in bot.articles()}
    finally:
        bot.store.close()


def run_crash(
    trials: int = 20,
    articles: int = 300,
    *,
    chars: int = 600,
    ops: Sequence[str] = ("ingest", "update", "delete"),
    seed: int = 8,
    aim: str = "mixed",
    embedder: Embedder | None = None,
    work: Path | None = None,
    log: Callable[[str], None] = print,
    group_chunks: int = EMBED_GROUP_CHUNKS,
) -> CrashResult:
    """``trials`` ingest kills and ``trials`` delete kills; see the module docstring. ``aim``
    places the ingest kills: "anytime" (uniformly over a whole run), "writes" (just after a
    group write begins) or "mixed" (half each). ``group_chunks``: the killed ingests' group
    size (small: many groups, each written while the next one embeds)."""
    started = time.monotonic()
    rng = random.Random(seed)
    embedder = embedder or create_embedder(Settings())
    owned = work is None
    work = work or Path(tempfile.mkdtemp(prefix="chatbot-stress-"))
    try:
        rows = source_articles(articles, chars)
        new = write_jsonl(rows, work / "articles.jsonl")
        old = write_jsonl(older_versions(rows), work / "older.jsonl")
        log(f"{len(rows)} articles of <= {chars} characters in {work}")
        began = time.monotonic()
        counts = _build(work / "clean-new", work, embedder, new)
        # How long a full ingest takes here: the span of "any moment" kills (refined by
        # workers that finish before their kill).
        estimates = {"ingest": time.monotonic() - began}
        if "update" in ops:  # the older versions' store is only needed to update from
            began = time.monotonic()
            counts |= _build(work / "clean-old", work, embedder, old)
            estimates["update"] = time.monotonic() - began
        with _open(work / "clean-new", embedder) as clean:
            listed = clean.list_articles()
            expected_articles, expected_chunks = len(listed), clean.count_chunks()
            new_text = {a.id: clean.get_article(a.id).text for a in listed}  # type: ignore[union-attr]
            by_id = {a.id: a.chunks for a in listed}
        old_text: dict[str, str] = {}
        if "update" in ops:
            with _open(work / "clean-old", embedder) as clean:
                old_text = {a.id: clean.get_article(a.id).text for a in clean.list_articles()}  # type: ignore[union-attr]
        targets = sorted(new_text)[::2]  # delete every other article
        (work / "targets.txt").write_text("\n".join(targets), encoding="utf-8")
        log(f"clean store: {expected_articles} articles, {expected_chunks} chunks")
        probe = embedder.embed_query(rows[0]["title"])
        result = CrashResult(
            articles, chars, expected_articles, expected_chunks, len(targets), [], 0.0
        )
        plan = _plan(trials, ops)
        for n, op in enumerate(plan, 1):
            trial = _crash_trial(
                n,
                op,
                work,
                rng,
                embedder,
                probe,
                new,
                targets,
                new_text,
                old_text,
                counts,
                by_id,
                estimates,
                aim,
                group_chunks,
            )
            result.trials.append(trial)
            k = trial.kill
            log(
                f"trial {n:>2} {op:<6} kill {k['delay'] * 1000:>5.0f} ms after "
                f"{k['wait_for']} #{k['after']:<3} ({k['seconds_after_ready']:.1f} s in"
                f"{', had finished' if k['finished_first'] else ''}): "
                f"{trial.after_kill['articles']} articles, {trial.after_kill['chunks_raw']} raw / "
                f"{trial.after_kill['chunks_committed']} committed chunks; re-run -> "
                f"{trial.rerun['articles']} articles, {trial.rerun['chunks']} chunks "
                f"{'OK' if trial.ok else 'FAILED: ' + '; '.join(trial.problems[:3])}"
            )
        result.seconds = time.monotonic() - started
        return result
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


def _plan(trials: int, ops: Sequence[str]) -> list[str]:
    """``trials`` ingest kills (alternating between a fresh store and updates, as ``ops``
    allows) and ``trials`` delete kills, interleaved."""
    writes = [op for op in ("ingest", "update") if op in ops]
    plan: list[str] = []
    for i in range(trials):
        if writes:
            plan.append(writes[i % len(writes)])
        if "delete" in ops:
            plan.append("delete")
    return plan


def _crash_trial(
    n: int,
    op: str,
    work: Path,
    rng: random.Random,
    embedder: Embedder,
    probe: np.ndarray,
    new: Path,
    targets: list[str],
    new_text: dict[str, str],
    old_text: dict[str, str],
    counts: dict[str, int],
    by_id: dict[str, int],
    estimates: dict[str, float],
    aim: str,
    group_chunks: int = EMBED_GROUP_CHUNKS,
) -> Trial:
    trial_dir = work / f"trial-{n}"
    store = trial_dir / "vs"
    if op == "update":
        acceptable = {i: {new_text[i], old_text[i]} for i in new_text}
    else:
        acceptable = {i: {t} for i, t in new_text.items()}
    clean = {"update": work / "clean-old", "delete": work / "clean-new"}.get(op)

    def fresh_store() -> None:
        shutil.rmtree(trial_dir, ignore_errors=True)
        trial_dir.mkdir()
        if clean is not None:
            shutil.copytree(clean, store)

    total = len(targets)
    # A random moment of the write phase: after a random number of commits (0 = as soon as the
    # worker has opened the store: during repair, chunking, the first embedding), plus a random
    # fraction of a second, which often lands inside an article's write.
    if op == "delete":
        # Deletions commit one by one: after a random number of them, plus a fraction of one.
        aimed = ("delete", targets_file(work), "committed", rng.randrange(total),
                 rng.uniform(0.0, 0.1))  # fmt: skip
    elif aim == "anytime" or (aim == "mixed" and n % 4 in (1, 2)):
        # Any moment of the run (repair, loading, chunking, embedding, writing), uniformly.
        span = estimates.get(op, 30.0)
        aimed = ("ingest", new, "committed", 0, rng.uniform(0.0, span))
    else:
        # Aimed at the writes: a random group's write has just begun (chunks, then the commit
        # records, then stale chunks), killed within its first half second.
        groups = max(1, -(-sum(by_id.values()) // group_chunks))
        aimed = ("ingest", new, "writing", rng.randint(1, groups), rng.uniform(0.0, 0.5))
    worker, items, wait_for, after, delay = aimed
    fresh_store()
    kill = run_and_kill(worker, store, items, wait_for, after, delay, group_chunks=group_chunks)
    # A kill aimed at a moment of the writes that came after the worker had finished tests
    # nothing (a fast machine writes a small group in under the delay): again, sooner.
    for _ in range(3):
        if not (kill.finished_first and wait_for in ("writing", "committed") and after):
            break
        delay /= 4
        fresh_store()
        kill = run_and_kill(worker, store, items, wait_for, after, delay, group_chunks=group_chunks)
    if kill.finished_first and op != "delete":  # now the real length of a run is known
        estimates[op] = kill.seconds_after_ready
    problems: list[str] = []
    try:
        handle = _open(store, embedder)
    except Exception as exc:  # the first thing that must hold: the store opens
        return Trial(n, op, asdict(kill), {}, {}, False, [f"store does not open: {exc}"])
    try:
        check = check_store(handle, acceptable, counts, probe)
        problems += check.problems
        present = {a.id for a in handle.list_articles()}
        if op == "delete":
            back = [i for i in kill.reported if i in present]
            if back:
                problems.append(f"{len(back)} reported deletions came back")
        else:
            lost = [i for i in kill.reported if i not in present]
            wrong = [
                i
                for i in kill.reported
                if i in present and handle.get_article(i).text != new_text[i]
            ]  # type: ignore[union-attr]
            if lost or wrong:
                problems.append(f"{len(lost)} reported articles lost, {len(wrong)} not updated")
    finally:
        handle.close()
    # The re-run: the same command again, to completion, in this process.
    bot = Chatbot(stress_settings(store, trial_dir), embedder=embedder)
    try:
        if op == "delete":
            for article_id in targets:
                bot.delete(article_id)
            want_articles = len(new_text) - len(targets)
            want_chunks = sum(by_id.values()) - sum(by_id[i] for i in targets)
        else:
            report = bot.ingest([new])
            if report.failed:
                problems.append(f"re-run failed items: {report.failed[:3]}")
            want_articles, want_chunks = len(new_text), sum(by_id.values())
        final = check_store(bot.store, {i: {t} for i, t in new_text.items()}, counts, probe)
        problems += [f"after re-run: {p}" for p in final.problems]
        rerun = {"articles": final.articles, "chunks": final.chunks_raw}
        if (final.articles, final.chunks_raw) != (want_articles, want_chunks):
            problems.append(
                f"re-run ended with {final.articles} articles / {final.chunks_raw} chunks, "
                f"expected {want_articles} / {want_chunks}"
            )
    finally:
        bot.store.close()
    shutil.rmtree(trial_dir, ignore_errors=True)
    kill_info = asdict(kill)
    kill_info["reported"] = len(kill.reported)
    return Trial(n, op, kill_info, asdict(check), rerun, not problems, problems)


def targets_file(work: Path) -> Path:
    return work / "targets.txt"


# --- concurrency ---------------------------------------------------------------------------


# --- command line --------------------------------------------------------------------------


def _save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.stress", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    crash = sub.add_parser("crash", help="SIGKILL ingest/delete workers and check the store")
    crash.add_argument(
        "--trials",
        type=int,
        default=20,
        help="ingest kills (fresh/update alternating), and as many delete kills",
    )
    crash.add_argument("--articles", type=int, default=300)
    crash.add_argument("--chars", type=int, default=600, help="characters kept per article")
    crash.add_argument(
        "--ops", default="ingest,update,delete", help="comma-separated: ingest,update,delete"
    )
    crash.add_argument("--seed", type=int, default=8)
    crash.add_argument(
        "--group-chunks",
        type=int,
        default=EMBED_GROUP_CHUNKS,
        help="chunks per ingest group in the killed workers",
    )
    crash.add_argument("--out", default="stress_crash", help="name of the JSON in evals/results")
    conc = sub.add_parser("concurrency", help="chat sessions in threads while an ingest runs")
    conc.add_argument("--sessions", type=int, default=8)
    conc.add_argument("--articles", type=int, default=300)
    conc.add_argument("--turns", type=int, default=4, help="questions per session and phase")
    conc.add_argument("--chars", type=int, default=600)
    work = sub.add_parser("worker", help=argparse.SUPPRESS)
    work.add_argument("op", choices=["ingest", "delete"])
    work.add_argument("store", type=Path)
    work.add_argument("items", type=Path)
    work.add_argument("--group-chunks", type=int, default=None)
    args = parser.parse_args(argv)

    if args.command == "worker":
        return worker(args.op, args.store, args.items, args.group_chunks)
    if args.command == "crash":
        ops = [o.strip() for o in args.ops.split(",") if o.strip()]
        result = run_crash(
            args.trials,
            args.articles,
            chars=args.chars,
            ops=ops,
            seed=args.seed,
            group_chunks=args.group_chunks,
        )
        failed = [t for t in result.trials if not t.ok]
        for op in ops:
            mine = [t for t in result.trials if t.op == op]
            mid = sum(1 for t in mine if not t.kill["finished_first"])
            orphans = sum(
                t.after_kill.get("chunks_raw", 0) - t.after_kill.get("chunks_committed", 0)
                for t in mine
            )
            print(
                f"{op:<6} {len(mine)} trials, {mid} killed mid-way, "
                f"{orphans} uncommitted chunks found after kills (none visible to readers), "
                f"{sum(1 for t in mine if t.ok)} passed"
            )
        print(
            f"expected after re-run: {result.expected_articles} articles / "
            f"{result.expected_chunks} chunks (delete: {result.delete_targets} targets); "
            f"{len(result.trials) - len(failed)}/{len(result.trials)} trials passed "
            f"in {result.seconds:.0f} s"
        )
        data = {**asdict(result), "ok": result.ok}
        print(f"written {_save(args.out, data)}")
        return 0 if result.ok else 1
    res = run_concurrency(args.sessions, args.articles, args.turns, chars=args.chars)
    b50, b95 = res.percentiles(res.baseline_latencies)
    l50, l95 = res.percentiles(res.load_latencies)
    print(
        f"{res.sessions} sessions, {res.articles} articles: baseline {len(res.baseline_latencies)} "
        f"answers p50 {b50:.2f} s p95 {b95:.2f} s; during ingest ({res.ingest_seconds:.1f} s) "
        f"{len(res.load_latencies)} answers ({res.answers_during_ingest} finished while it ran) "
        f"p50 {l50:.2f} s p95 {l95:.2f} s; store {res.final_articles} articles, "
        f"{res.final_chunks} chunks; {'OK' if res.ok else 'PROBLEMS: ' + '; '.join(res.problems)}"
    )
    data = {**asdict(res), "ok": res.ok, "p50_p95": {"baseline": (b50, b95), "load": (l50, l95)}}
    print(f"written {_save('stress_concurrency', data)}")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
