"""EPCIS 2.0 for farmtrace, with no database: CBV terms, the Event Hash ID, a document builder.

The domain layer maps its typed events onto `document` and asks for a JSON-LD document;
nothing here reads or writes storage.
"""
