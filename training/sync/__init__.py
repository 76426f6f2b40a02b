"""`relatedly sync`: follow a site (WordPress REST API, Ghost Content API, RSS/Atom) and publish its changes.

`http` fetches within bounds, `sites` knows each kind of site's listings, `job` turns one poll into one
model update and the state's new cursor, `cli` is the command and its loop.
"""
