"""Store and forward: the sync queue, the Zalo OA mirror, the district hub client."""
