"""``newsmon serve``: the archive in a browser, as a JSON API, and as Atom feeds.

Everything is server-rendered (FastAPI + Jinja2, no JavaScript build chain),
every stored string is escaped, and stored HTML is never rendered: article
text is plain text from extraction. Off loopback the server needs a token or
password. The only query API underneath is :mod:`storage.search`.
"""

from monitor.web.app import create_app

__all__ = ["create_app"]
