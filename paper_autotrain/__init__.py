"""paper_autotrain: from a recommender-systems paper to a trained, benchmarked reproduction."""

__version__ = "0.1.0"
