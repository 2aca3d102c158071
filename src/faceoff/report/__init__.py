"""The HTML report (:mod:`~faceoff.report.html`) and the captions it shares with Snakemake's report."""
