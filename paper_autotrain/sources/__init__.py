"""Where papers come from: SOURCE forms, arXiv (metadata, PDF, e-print, HTML) with a cache, and readers for
LaTeX sources and arXiv's HTML rendering. Used by the fetch and parse stages; never imports a stage."""
