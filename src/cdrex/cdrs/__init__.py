"""CDRs: the record format they arrive in, and a generator of realistic ones."""
