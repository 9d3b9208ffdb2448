"""Corpora: the synthetic singer (``data.singer``)."""
