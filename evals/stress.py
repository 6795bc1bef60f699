"""Stress tests: crash safety under SIGKILL, and chat sessions while an ingest runs.

    python -m evals.stress crash --trials 20 --articles 300
    python -m evals.stress concurrency --sessions 8 --articles 300

The harness lives in :mod:`harness.stress` (the hardening tests run it at a small size); this is
its command line.
"""

from __future__ import annotations

import sys

from harness.stress import main

if __name__ == "__main__":
    sys.exit(main())
