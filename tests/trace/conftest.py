"""Trace fixtures; the helpers they use live in trace_env.py.

Tests import helpers from `trace_env`, never from `conftest`: every test folder has a
conftest.py, and which one `import conftest` finds depends on collection order.
"""

from trace_env import county, trace_clock, trace_env

__all__ = ["county", "trace_clock", "trace_env"]
