"""Synthetic tables: reading files (``io``), column types (``schema``), codes (``codes``), mode-specific
normalisation (``bgm``, ``encoding``), marginals (``marginals``), ``--where`` conditions (``conditions``),
metrics (``metrics``), and the evaluation with its HTML report (``evaluate``, ``report``).
The models live in ``genlab/models/tabular/``; the loader in ``genlab/data/tables.py``."""
