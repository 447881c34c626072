"""GS1 keys and GS1 Digital Link URIs as farmtrace prints and reads them (pure, no database)."""
