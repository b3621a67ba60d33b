"""Incentive credit: rules as ledger entries, double-entry transfers derived from entries, epochs and audit.

The modules `rules`, `engine`, `settlement` and `sumtree` are pure (standard library only, no Django), so the
offline verifier replays credit from an export with the same code the service posts with.
"""
