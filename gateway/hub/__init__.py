"""The upstream hub: receives the tips of every commune gateway (``python app.py hub``).

Same codebase and config keys as a gateway (``web.*``, ``storage.path``) plus ``hub.*``; its
own database file and its own migration set (``gateway/hub/schema.py``).
"""
