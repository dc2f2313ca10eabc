"""Moved to tests/support/factories.py. This name stays importable only until the other branches' tests
import from tests.support (the lead removes this file at the merge)."""

from tests.support.factories import ADSCIM, ENTERPRISE, GROUP, PATCH, USER, entra_group, entra_user, patch_body

__all__ = ["ADSCIM", "ENTERPRISE", "GROUP", "PATCH", "USER", "entra_group", "entra_user", "patch_body"]
