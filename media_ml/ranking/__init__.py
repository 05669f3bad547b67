"""Artwork candidates per context: contexts, crops, scoring and diversity."""
