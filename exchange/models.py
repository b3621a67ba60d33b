"""Datasets, versions, access policies, requests and grants (built by the exchange issue)."""
