"""Connector standards as the region meets them, and how the standards name them.

A China-market car has GB/T inlets; a European-spec car has CCS2 and Type 2; stations carry
either or both. One enum names a plug everywhere in silkcharge (stations, vehicles, search,
planner); the mappings below translate to and from OCPP and OCPI vocabularies at the edges.
"""

from __future__ import annotations

from enum import StrEnum


class CurrentType(StrEnum):
    AC = "AC"
    DC = "DC"


class ConnectorStandard(StrEnum):
    GBT_DC = "gbt_dc"
    GBT_AC = "gbt_ac"
    CCS2 = "ccs2"
    CCS1 = "ccs1"
    TYPE2 = "type2"
    TYPE1 = "type1"
    CHADEMO = "chademo"
    CHAOJI = "chaoji"
    NACS = "nacs"

    @property
    def current(self) -> CurrentType:
        return _CURRENT[self]

    @property
    def label(self) -> str:
        """The name drivers and operators use."""
        return _LABEL[self]

    @property
    def ocpi(self) -> str:
        """OCPI 2.2.1 ConnectorType."""
        return _OCPI[self]

    @property
    def ocpp201(self) -> str:
        """OCPP 2.0.1 ConnectorEnumType (GB/T and ChaoJi have no code there, so 'Other')."""
        return _OCPP201.get(self, "Other")


_CURRENT = {
    ConnectorStandard.GBT_DC: CurrentType.DC,
    ConnectorStandard.GBT_AC: CurrentType.AC,
    ConnectorStandard.CCS2: CurrentType.DC,
    ConnectorStandard.CCS1: CurrentType.DC,
    ConnectorStandard.TYPE2: CurrentType.AC,
    ConnectorStandard.TYPE1: CurrentType.AC,
    ConnectorStandard.CHADEMO: CurrentType.DC,
    ConnectorStandard.CHAOJI: CurrentType.DC,
    ConnectorStandard.NACS: CurrentType.DC,
}

_LABEL = {
    ConnectorStandard.GBT_DC: "GB/T DC",
    ConnectorStandard.GBT_AC: "GB/T AC",
    ConnectorStandard.CCS2: "CCS2",
    ConnectorStandard.CCS1: "CCS1",
    ConnectorStandard.TYPE2: "Type 2",
    ConnectorStandard.TYPE1: "Type 1",
    ConnectorStandard.CHADEMO: "CHAdeMO",
    ConnectorStandard.CHAOJI: "ChaoJi",
    ConnectorStandard.NACS: "NACS",
}

_OCPI = {
    ConnectorStandard.GBT_DC: "GBT_DC",
    ConnectorStandard.GBT_AC: "GBT_AC",
    ConnectorStandard.CCS2: "IEC_62196_T2_COMBO",
    ConnectorStandard.CCS1: "IEC_62196_T1_COMBO",
    ConnectorStandard.TYPE2: "IEC_62196_T2",
    ConnectorStandard.TYPE1: "IEC_62196_T1",
    ConnectorStandard.CHADEMO: "CHADEMO",
    ConnectorStandard.CHAOJI: "CHAOJI",
    ConnectorStandard.NACS: "TESLA_S",
}

_OCPP201 = {
    ConnectorStandard.CCS2: "cCCS2",
    ConnectorStandard.CCS1: "cCCS1",
    ConnectorStandard.TYPE2: "cType2",
    ConnectorStandard.TYPE1: "cType1",
    ConnectorStandard.CHADEMO: "cG105",
    ConnectorStandard.NACS: "cTesla",
}


def parse_standard(text: str) -> ConnectorStandard:
    """Accept the enum value, the label, or the OCPI name ('GB/T DC', 'gbt_dc', 'GBT_DC')."""
    key = text.strip()
    for standard in ConnectorStandard:
        if key.lower() in (standard.value, standard.label.lower(), standard.ocpi.lower()):
            return standard
    known = ", ".join(s.label for s in ConnectorStandard)
    raise ValueError(f"unknown connector standard {text!r}; known: {known}")
