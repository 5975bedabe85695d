"""The web console's built files live in ``static/`` (made by ``make web`` from ``web/``)."""
