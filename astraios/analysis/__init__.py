"""Analysis of a grid's runs: cells read from run directories (`runs`), correlations and the
scaling-law fit (`stats`), the study's figures (`figures`) and the report that puts them together
(`report`: `astraios report RUNS_DIR [--output DIR]`)."""

from astraios.analysis.report import Report, build_report

__all__ = ["Report", "build_report"]
