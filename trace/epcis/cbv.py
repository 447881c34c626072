"""GS1 Core Business Vocabulary (CBV) 2.0 terms used by EPCIS 2.0 JSON-LD.

EPCIS 2.0 JSON writes standard vocabulary as bare strings (`"bizStep": "shipping"`); the
JSON-LD context maps each bare term to its Web URI (CBV 2.0 §6 and §7,
`https://ref.gs1.org/cbv/BizStep-shipping`). The terms are embedded here rather than read
from the context file at run time, so a document is built and hashed the same way with no
file or network access; tests compare these tables with the published context and CBV.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from farmtrace.trace.errors import EpcisInputError

CBV_WEB_PREFIX = "https://ref.gs1.org/cbv/"
GS1_VOC_PREFIX = "https://gs1.org/voc/"

# CBV 2.0 §7.1 business steps, in the order of the standard.
BIZ_STEPS: tuple[str, ...] = (
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
)

# CBV 2.0 §7.2 dispositions.
DISPOSITIONS: tuple[str, ...] = (
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_class",
    "mismatch_instance",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
)

# CBV 2.0 §7.3 business transaction types.
BIZ_TRANSACTION_TYPES: tuple[str, ...] = (
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
)

# CBV 2.0 §7.4 source/destination types.
SOURCE_DESTINATION_TYPES: tuple[str, ...] = ("owning_party", "possessing_party", "location")

# CBV 2.0 §7.5 error reasons (errorDeclaration.reason).
ERROR_REASONS: tuple[str, ...] = ("did_not_occur", "incorrect_data")

# CBV 2.0 §7.7 sensor-report components.
COMPONENTS: tuple[str, ...] = (
    "x",
    "y",
    "z",
    "axial_distance",
    "azimuth",
    "height",
    "spherical_radius",
    "polar_angle",
    "elevation_angle",
    "easting",
    "northing",
    "latitude",
    "longitude",
    "altitude",
)

# EPCIS 2.0 §7.3.8.2 measurement types and sensor alert types (GS1 Web Vocabulary terms).
MEASUREMENT_TYPES: tuple[str, ...] = (
    "AbsoluteHumidity",
    "AbsorbedDose",
    "AbsorbedDoseRate",
    "Acceleration",
    "Radioactivity",
    "Altitude",
    "AmountOfSubstance",
    "AmountOfSubstancePerUnitVolume",
    "Angle",
    "AngularAcceleration",
    "AngularMomentum",
    "AngularVelocity",
    "Area",
    "Capacitance",
    "Conductance",
    "Conductivity",
    "Count",
    "Density",
    "Dimensionless",
    "DoseEquivalent",
    "DoseEquivalentRate",
    "DynamicViscosity",
    "ElectricCharge",
    "ElectricCurrent",
    "ElectricCurrentDensity",
    "ElectricFieldStrength",
    "Energy",
    "Exposure",
    "Force",
    "Frequency",
    "Illuminance",
    "Inductance",
    "Irradiance",
    "KinematicViscosity",
    "Length",
    "LinearMomentum",
    "Luminance",
    "LuminousFlux",
    "LuminousIntensity",
    "MagneticFlux",
    "MagneticFluxDensity",
    "MagneticVectorPotential",
    "Mass",
    "MassConcentration",
    "MassFlowRate",
    "MassPerAreaTime",
    "MemoryCapacity",
    "MolalityOfSolute",
    "MolarEnergy",
    "MolarMass",
    "MolarVolume",
    "Power",
    "Pressure",
    "RadiantFlux",
    "RadiantIntensity",
    "RelativeHumidity",
    "Resistance",
    "Resistivity",
    "SolidAngle",
    "SpecificVolume",
    "Speed",
    "SurfaceDensity",
    "SurfaceTension",
    "Temperature",
    "Time",
    "Torque",
    "Voltage",
    "Volume",
    "VolumeFlowRate",
    "VolumeFraction",
    "VolumetricFlux",
    "Wavenumber",
)
SENSOR_ALERT_TYPES: tuple[str, ...] = ("ALARM_CONDITION", "ERROR_CONDITION")


def _table(prefix: str, terms: tuple[str, ...]) -> Mapping[str, str]:
    return MappingProxyType({term: prefix + term for term in terms})


BIZ_STEP_URIS = _table(CBV_WEB_PREFIX + "BizStep-", BIZ_STEPS)
DISPOSITION_URIS = _table(CBV_WEB_PREFIX + "Disp-", DISPOSITIONS)
BIZ_TRANSACTION_TYPE_URIS = _table(CBV_WEB_PREFIX + "BTT-", BIZ_TRANSACTION_TYPES)
SOURCE_DESTINATION_TYPE_URIS = _table(CBV_WEB_PREFIX + "SDT-", SOURCE_DESTINATION_TYPES)
ERROR_REASON_URIS = _table(CBV_WEB_PREFIX + "ER-", ERROR_REASONS)
COMPONENT_URIS = _table(CBV_WEB_PREFIX + "Comp-", COMPONENTS)
MEASUREMENT_TYPE_URIS = _table(GS1_VOC_PREFIX, MEASUREMENT_TYPES)
SENSOR_ALERT_TYPE_URIS = _table(GS1_VOC_PREFIX, SENSOR_ALERT_TYPES)

# CBV 2.0 §8.2: the legacy URN forms and the Web URI prefix each one maps to.
LEGACY_URN_PREFIXES: tuple[tuple[str, str], ...] = (
    ("urn:epcglobal:cbv:bizstep:", CBV_WEB_PREFIX + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV_WEB_PREFIX + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV_WEB_PREFIX + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV_WEB_PREFIX + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV_WEB_PREFIX + "ER-"),
)


def web_uri_of_legacy_urn(value: str) -> str:
    """The CBV 2.0 Web URI for a legacy `urn:epcglobal:cbv:...` term; other values unchanged."""
    for urn_prefix, web_prefix in LEGACY_URN_PREFIXES:
        if value.startswith(urn_prefix):
            return web_prefix + value[len(urn_prefix) :]
    return value


def biz_step_value(term: str) -> str:
    """Check a bizStep for a document: a CBV bare term, or a URI of the user's own vocabulary.

    EPCIS 2.0 §7.3.5 allows private business steps written as full URIs; anything else
    that is not a CBV term is a typo.
    """
    return _checked_term("bizStep", term, BIZ_STEP_URIS)


def disposition_value(term: str) -> str:
    """Check a disposition: a CBV bare term or a URI of the user's own vocabulary."""
    return _checked_term("disposition", term, DISPOSITION_URIS)


def _checked_term(field: str, term: str, table: Mapping[str, str]) -> str:
    if term in table or (":" in term and not term.startswith("urn:epcglobal:cbv:")):
        return term
    raise EpcisInputError(
        field,
        f"{field} {term!r} is neither a CBV 2.0 term (e.g. {next(iter(table))!r}) "
        "nor a URI of a private vocabulary",
    )
