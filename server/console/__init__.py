"""The back-office web console: server-rendered pages at ``/`` for dispatchers and back-office staff.

``routes.console_router()`` is picked up by ``server.app``; ``auth`` holds staff
users (password sign-in) and console sessions; ``views`` turns service data
into what the templates show; every asset is served from ``static/``.
"""
