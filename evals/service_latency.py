"""Time to the first streamed token: through `chatbot serve`'s OpenAI-compatible API (the
official ``openai`` client, streaming, over loopback HTTP) against the same questions asked in
Python (``Chatbot.stream``), in one process over one store, extractive backend by default.

    python -m evals.service_latency --articles 150 --questions 40 [--store DIR]

Each question is asked once unmeasured (warming the caches both ways then share), then both
ways alternate (which goes first alternates too), so machine load hits both alike. Prints
p50/p95 and writes evals/results/service_latency.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.bench import percentile, subset_file
from evals.rtqa import load_questions, write_results


def python_ttft(bot: Any, question: str) -> float:
    from chatbot.answering.chat import TokenEvent

    started = time.perf_counter()
    first = None
    for event in bot.stream(question):
        if first is None and (not isinstance(event, TokenEvent) or event.text.strip()):
            first = time.perf_counter()
    return 1000 * ((first or time.perf_counter()) - started)


def api_ttft(client: Any, question: str) -> float:
    started = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="news-desk", messages=[{"role": "user", "content": question}], stream=True
    )
    for chunk in stream:
        if first is None and chunk.choices and (chunk.choices[0].delta.content or "").strip():
            first = time.perf_counter()
    return 1000 * ((first or time.perf_counter()) - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--backend", default="extractive")
    parser.add_argument(
        "--cold", action="store_true", help="No unmeasured first ask of each question."
    )
    parser.add_argument(
        "--store", type=Path, help="Keep the store here and reuse it (default: a temporary one)."
    )
    args = parser.parse_args()

    import openai

    from chatbot.bot import Chatbot
    from chatbot.config import Settings
    from chatbot.surfaces import service

    with tempfile.TemporaryDirectory(prefix="service-latency-") as tmp:
        work = Path(tmp)
        articles = subset_file(args.articles, work)
        ids = {json.loads(line)["id"] for line in articles.open()}
        questions = [q.question for q in load_questions() if ids & set(q.retrieved_article_ids)][
            : args.questions
        ]
        settings = Settings(
            store_path=args.store or work / "vs",
            data_dir=work / "data",
            briefings_dir=work / "briefings",
            llm_backend=args.backend,
            api_rate_limit=0,
        )
        bot = Chatbot(settings)
        if bot.store.count_articles() < args.articles:
            started = time.perf_counter()
            report = bot.ingest([articles])
            print(f"ingested {report.summary()} in {time.perf_counter() - started:.0f} s")
        bot.warm_up()
        running = service.serve(bot, "127.0.0.1", 0, block=False)
        client = openai.OpenAI(base_url=running.url + "/v1", api_key="unused", max_retries=0)
        try:
            python_ttft(bot, "warm-up question about the news")
            api_ttft(client, "warm-up question about the news")
            py, api = [], []
            for i, q in enumerate(questions):
                # Asked once unmeasured first, so both ways find the same caches (the query
                # embedding) warm and the difference is the HTTP path alone.
                if not args.cold:
                    python_ttft(bot, q)
                if i % 2:
                    api.append(api_ttft(client, q))
                    py.append(python_ttft(bot, q))
                else:
                    py.append(python_ttft(bot, q))
                    api.append(api_ttft(client, q))
        finally:
            running.stop()
            bot.close()
    result = {
        "backend": args.backend,
        "cold": args.cold,
        "articles": args.articles,
        "questions": len(questions),
        "python_first_token_p50_ms": percentile(py, 50),
        "python_first_token_p95_ms": percentile(py, 95),
        "api_first_token_p50_ms": percentile(api, 50),
        "api_first_token_p95_ms": percentile(api, 95),
    }
    result["api_overhead_p50_ms"] = (
        result["api_first_token_p50_ms"] - result["python_first_token_p50_ms"]
    )
    print(
        f"first token over {len(questions)} questions ({args.backend}): Python p50 "
        f"{result['python_first_token_p50_ms']:.0f} ms / p95 "
        f"{result['python_first_token_p95_ms']:.0f} ms; API p50 "
        f"{result['api_first_token_p50_ms']:.0f} ms / p95 {result['api_first_token_p95_ms']:.0f} ms"
    )
    print(f"wrote {write_results('service_latency', result)}")


if __name__ == "__main__":
    main()
