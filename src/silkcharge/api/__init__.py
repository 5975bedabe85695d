"""The REST API, by audience. Everything the console can do goes through here."""
