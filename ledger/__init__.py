"""The signed append-only ledger: entries, Merkle tree, receipts, checkpoints, proofs and verification."""
