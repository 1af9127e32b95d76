"""Building an export file: source -> CSV -> (gzip) -> sink, streaming in constant memory."""
