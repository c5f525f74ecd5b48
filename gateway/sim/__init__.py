"""The SIM as a living contract: the line, its credit and validity, who it is, what the operator says.

A prepaid SIM in an unattended box runs out of credit, reaches its validity date, gets barred
(a SIM moved into a new device must be re-verified by its owner within about two hours), or
is cut off for looking like a spam line; the operator says so by SMS and nobody reads it.
This area makes the post watch its own line end to end and say, in words, what to do:

- ``line``: refusals of the line (barred, no credit, refused) as a state with probes, not
  per message; ``keeper``: the modem worker's side (identity, USSD, calls, the line, caps);
- ``ussd`` and ``balance``: credit and validity read by USSD, the reserve kept for replies;
- ``identity``: ICCID, IMSI, IMEI at every connect, the re-verification alert;
- ``notices``: SMS from operators, filed and turned into alerts;
- ``loop``: the daily SMS to the gateway's own number that must come back;
- ``calls``: missed calls answered with the menu, or put on the call-back list;
- ``pacing``: caps on what is not a reply, and how long a broadcast will take;
- ``service``: the ``sim-watch`` thread; ``status``: ``/healthz``'s ``sim``; ``doctor``.

Importing this package opens nothing and starts nothing (``lines`` is read by the transport).
"""
