"""Figures and tables of the paper: the item catalog, the builders, and run summaries."""
