"""Accounts: users, their profile, customer record, addresses and the waitlist.

- ``tables``: the peewee models;
- ``tokens``: JWTs and the single-use links sent by email;
- ``sessions``: sessions, refresh rotation, logout, the per-request user lookup;
- ``passwords``: hashing, strength rules, the reset flow;
- ``actions``: registration, login (password and Google), email verification, staff accounts;
- ``profiles``, ``addresses``, ``waitlist``: one use case each; ``seed``: the demo admin.
"""
