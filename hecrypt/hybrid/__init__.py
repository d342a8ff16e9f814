"""Hybrid Paillier / additive secret sharing protocols."""
