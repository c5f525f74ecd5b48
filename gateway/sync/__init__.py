"""Store and forward: the sync queue, the Zalo OA mirror, the district hub client.

- ``schema``: the tables (``sync_queue``, ``zalo_deliveries``, ``zalo_tokens``, ``sync_exports``).
- ``queue``: the queue's rows and their status words; ``hooks``: the router's tip hook and the sweep.
- ``worker``: ``SyncWorker(config, dbs, clock)``, one thread ("lane") per destination.
- ``zalo`` + ``zalo_tokens``: the OA consultation messages and the single-use refresh token.
- ``district``: batches to the hub and its decisions back; ``sneakernet``: the USB file.
- ``http``: one kept-alive connection per destination; ``report``: the state the page shows.
"""
