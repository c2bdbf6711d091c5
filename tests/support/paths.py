"""Where a test run keeps its files (imported before ``settings``: conftest.py
points DATA_DIR here)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEST_DATA = ROOT / ".test-data"
RUN_DIR = TEST_DATA / "runs" / str(os.getpid())
