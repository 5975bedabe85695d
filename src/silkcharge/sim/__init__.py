"""Virtual charging stations speaking real OCPP 1.6J and 2.0.1, for the demo, tests and load."""
