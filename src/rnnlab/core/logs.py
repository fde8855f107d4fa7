"""rnnlab's messages go through ``logging.getLogger("rnnlab...")``.

The ``rnnlab`` logger prints INFO and above to stderr by itself (so that ``verbose=1`` messages
of callbacks, and download notices, are seen without any setup) and does not pass them on to
the root logger. To route them through your own logging configuration instead::

    logging.getLogger("rnnlab").handlers.clear()
    logging.getLogger("rnnlab").propagate = True

``logging.getLogger("rnnlab").setLevel(logging.WARNING)`` silences the notices.
"""

from __future__ import annotations

import logging

ROOT = "rnnlab"


def configure() -> logging.Logger:
    """Give the library logger its stderr handler once (idempotent)."""
    logger = logging.getLogger(ROOT)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
