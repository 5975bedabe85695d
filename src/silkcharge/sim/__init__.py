"""Virtual charging stations speaking real OCPP 1.6J, 2.0.1 and 2.1, for the demo, tests and load."""
