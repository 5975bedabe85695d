"""How long a test waits for what should happen before it calls the wait hung.

Tests wait on events (a reply, a row, a log entry), never on time; this only bounds a wait
that would otherwise never end. It is long on purpose: CI is a 2-core machine running several
test workers (and whatever else shares it), where what takes milliseconds alone can take
seconds. A bound that short would fail a correct test on a busy machine; this one only delays
the report of a test that fails anyway.
"""

HANG_GUARD = 60.0
