"""Infrastructure around the pipeline: the cross-generator evaluation set (``tools.crossgen``)."""
