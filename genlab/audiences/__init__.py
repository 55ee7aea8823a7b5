"""Audiences: the users (events) a new item will attract, generated from the item's features.

* ``context.py``: an item's context vector (content features, a recommendation-based embedding, or both);
* ``model.py``: what the ``audience-*`` models share (``genlab/models/tabular/audience_*.py``);
* ``metrics.py``: RMSE and RSM of per-item category shares, exact copies;
* ``protocol.py``: the novel-item protocol (hold items out, retrain, generate, score, repeat);
* ``report.py``: the HTML report (real vs generated bar charts per held-out item).

Data: ``genlab/data/grouped.py`` (events + items tables) and ``genlab/data/movielens.py``. See docs/audiences.md.
"""
