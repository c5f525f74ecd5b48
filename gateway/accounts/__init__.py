"""Officers' accounts, the audit log and login throttling: the accounts area.

Both the gateway's page and the hub's log officers in, so the area lives beside the others,
not inside the web package: ``schema`` (migration set ``tinbao-web``, tables ``users``,
``audit_log``, ``login_attempts``), ``users`` (accounts, roles, passwords, the
``create-user`` command), ``audit`` (who did what, when) and ``security`` (failed logins
counted in the database). Importing the package loads nothing: ``gateway.database`` takes
the schema from here without loading Flask or hashing a password.
"""
