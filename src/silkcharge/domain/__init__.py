"""The pure model: plain Python, no I/O, no framework imports."""
