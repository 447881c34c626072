"""Ledger fixtures; the helpers they use live in ledger_env.py.

Tests import helpers from `ledger_env`, never from `conftest`: every test folder has a
conftest.py, and which one `import conftest` finds depends on collection order.
"""

from ledger_env import env, master

__all__ = ["env", "master"]
