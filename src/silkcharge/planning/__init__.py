"""Network planning: corridor coverage gaps, where to build next, and adequacy.

Pure models on plain inputs (``network.ChargingSite``, routed ``corridors``); the store loader
(``store.load_store_sites``), the CLI (``cli.planning_app``), the API
(``silkcharge.api.planning``) and ``scripts/planning_report.py`` feed them.
"""

from silkcharge.planning.corridors import CorridorError, PlanningInputError
from silkcharge.planning.frlm import CandidateOffNetwork

__all__ = ["CandidateOffNetwork", "CorridorError", "PlanningInputError"]
