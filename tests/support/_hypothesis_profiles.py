"""The hypothesis settings of the property tests, in one place.

Deterministic on CI (``MAILTRACK_HYPOTHESIS_PROFILE=ci``, or ``$CI`` set: the same examples on
every run, no example database) and random otherwise; no deadline (conversions of large
generated messages vary in time). Not loaded globally: a module starts its tests from
:data:`BASE` and keeps its own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["BASE", "PROFILE"]

#: ``"ci"`` or ``"dev"``.
PROFILE = os.environ.get("MAILTRACK_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "mailtrack-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile("mailtrack-dev", deadline=None, suppress_health_check=_SLOW_IS_FINE)

#: The settings the property tests start from.
BASE = settings.get_profile(f"mailtrack-{PROFILE}")
