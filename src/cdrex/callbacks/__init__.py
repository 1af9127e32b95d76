"""Export-completion callbacks: DIDWW-compatible signing, destination checks, retries, delivery."""
