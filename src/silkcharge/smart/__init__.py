"""Smart charging: charging profiles, composite schedules, site limits, load management and
depot scheduling. Pure Python (NumPy/SciPy for the optimiser), no I/O, no protocol sockets.

See docs/smart-charging.md for the model, the algorithms and what each one guarantees.
"""
