"""What the tests share (fixtures stay in conftest.py; nothing imports it):

- ``client``: the API client, ``assert_envelope``, tokens, multipart bodies;
- ``factories``: one factory per object (users, catalog rows, orders, images) and read-backs;
- ``accounts``: account steps over HTTP and the links in account emails;
- ``mail``: the emails the app wrote; ``fakes``: local stand-ins for providers;
- ``database``, ``paths``: the per-run database, Redis and data dir;
- ``processes``: our server as a separate process; ``openapi_fuzz``: schemathesis runs.
"""
