"""The ingest stage: bring the Oxford-IIIT Pet data (or a synthetic stand-in) into data/raw."""
