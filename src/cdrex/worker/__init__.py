"""Export workers: claim a job with a lease, build its file, finish it; sweep old exports."""
