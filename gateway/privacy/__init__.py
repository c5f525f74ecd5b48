"""Personal data kept only as long as needed, and a person's requests answered in time.

Law 91/2025/QH15 (with Decree 356/2025) applies since 1 January 2026: a phone number is
personal data, a tip held by the police is sensitive. This area decides; the tables' owners
delete (``inbox.delete``, ``outbox.delete``, ``tips.detach_numbers``...): the area writes only
its own table.

- ``retention``: the retention rules (``privacy.*`` keys) as a plan of what would go, and the
  purge that carries it out, audited with its counts;
- ``worker``: ``PurgeWorker``, the nightly purge at ``privacy.purge_hour`` under the trusted
  clock, and ``python app.py purge [--dry-run]``;
- ``requests``: a person's requests (see, correct, delete, withdraw consent) with their
  deadlines (``deadlines``: working days, Vietnamese public holidays);
- ``held``: everything held for one number, its export, and its erasure;
- ``consent``: the seam to the subscribers' consent ledger (withdraw, erase a subscriber).
"""
