"""Shared test setup. Qt runs offscreen in every test process."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
