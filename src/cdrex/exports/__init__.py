"""The domain: an export is a row with a status, a filter and a file. No HTTP, no SQL."""
