"""Sources → records.

Every module here turns one outside source (Hugging Face daily papers, the arXiv Atom API, OAI-PMH,
the Kaggle metadata snapshot, arXiv listing files) into :mod:`dailypapers.ingest.records`. Nothing here
touches the database: :mod:`dailypapers.store.importer` writes the records.
"""
