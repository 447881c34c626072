"""Entry types farmtrace records, dotted lowercase as the ledger requires."""

from __future__ import annotations

# Reserved chains of the registry (batch chains are "B" + 12 characters, so never clash).
ORGS_CHAIN = "orgs"
PLACES_CHAIN = "places"
PRODUCTS_CHAIN = "products"

ORG_REGISTERED = "org.registered"
PLACE_REGISTERED = "place.registered"
PRODUCT_REGISTERED = "product.registered"
PRODUCT_CERTIFIED = "product.certified"

BATCH_REGISTERED = "batch.registered"
FARMING_INPUT = "farming.input"
HARVESTED = "farming.harvested"
PROCESSED = "processing.recorded"
LAB_TESTED = "lab.tested"
CERTIFICATION_ATTACHED = "certification.attached"
CONFORMITY_DECIDED = "conformity.decided"
PACKED = "packing.packed"
PICKED_UP = "logistics.picked_up"
WAREHOUSE_IN = "logistics.warehouse_in"
WAREHOUSE_OUT = "logistics.warehouse_out"
HANDED_OFF = "logistics.handed_off"
DELIVERED = "logistics.delivered"
TEMPERATURE = "logistics.temperature"
SOLD = "sale.recorded"
RECALL_ISSUED = "recall.issued"
RECALL_LIFTED = "recall.lifted"
CORRECTED = "record.corrected"
SPLIT_OUT = "lineage.split"
MERGED_OUT = "lineage.merged"
TRANSFORMED_OUT = "lineage.transformed"

LOGISTICS = (PICKED_UP, WAREHOUSE_IN, WAREHOUSE_OUT, HANDED_OFF, DELIVERED, TEMPERATURE)
LINEAGE_OUT = (SPLIT_OUT, MERGED_OUT, TRANSFORMED_OUT)
LINEAGE_KIND_OF_OUT = {SPLIT_OUT: "split", MERGED_OUT: "merge", TRANSFORMED_OUT: "transform"}
OUT_OF_LINEAGE_KIND = {kind: entry_type for entry_type, kind in LINEAGE_KIND_OF_OUT.items()}

# Events anyone may send to EventRecorder.record; the others are written by the services
# that own them (batches, lineage, recalls, corrections) because they span several chains.
RECORDABLE = (
    FARMING_INPUT,
    HARVESTED,
    PROCESSED,
    LAB_TESTED,
    CERTIFICATION_ATTACHED,
    CONFORMITY_DECIDED,
    PACKED,
    *LOGISTICS,
    SOLD,
)

# A correction may restate the payload of these; custody moves, lineage and recalls are
# corrected by new events of their own kind, never rewritten.
CORRECTABLE = (
    FARMING_INPUT,
    HARVESTED,
    PROCESSED,
    LAB_TESTED,
    CERTIFICATION_ATTACHED,
    PACKED,
    WAREHOUSE_IN,
    WAREHOUSE_OUT,
    TEMPERATURE,
    SOLD,
)
