"""What `silkcharge demo` adds on top of the seed network so that a new user finds a working
business: illustrative tariffs, a load-managed site, a taxi depot with a plan (`business`), and
a week of charging history made by the platform's own services (`history`)."""
