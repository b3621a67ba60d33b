"""The exchange: datasets, versions, tiered access policies, access requests, grants and usage."""
