"""The web upload page and the clinic's ingestion list: the browser face of imaging.ingest."""
