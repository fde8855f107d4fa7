"""The package as users meet it: what `import rnnlab` costs, and where its messages go."""

from __future__ import annotations

import subprocess
import sys


def test_import_leaves_plotting_and_progress_bars_for_later():
    code = (
        "import sys, torch; before = set(sys.modules); import rnnlab; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('matplotlib', 'tqdm')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_messages_go_to_the_rnnlab_logger_on_stderr():
    code = "import logging, rnnlab; logging.getLogger('rnnlab.callbacks').info('hello'); print('out')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "out\n" and result.stderr == "hello\n"
    quiet = "import logging, rnnlab; logging.getLogger('rnnlab').setLevel(logging.WARNING); "
    quiet += "logging.getLogger('rnnlab.callbacks').info('hello')"
    assert subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True).stderr == ""
