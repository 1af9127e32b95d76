"""cdrex: DIDWW API v3 compatible CDR exports."""

__version__ = "0.1.0"
