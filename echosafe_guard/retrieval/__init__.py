"""Retrieval: search, re-ranking and the verdict model that tells twin requests apart."""
