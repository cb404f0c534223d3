"""API credentials (moved to :mod:`tailcfg.apiclient`, shared with gitops); re-exported here."""

from tailcfg.apiclient import Credentials

__all__ = ["Credentials"]
