"""Experiments as files: expanding them into runs (``earnet sweep``) and tabulating runs (``earnet summarize``)."""
