"""Customers as staff manage them: the list (hand-written SQL), create with an
optional account and address, detail, statistics, updates, blocking, deletion,
bulk actions and CSV exports; plus countries/states for the forms.

- ``tables``: the customer's own address (admin-created customers without an account).
- ``queries``: read side (list, detail, statistics, transaction history, export rows).
- ``actions``: writes (create, update, delete, bulk, block).
- ``countries``: pycountry lists, built once per process.
"""
