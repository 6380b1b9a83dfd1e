"""Gateway backends, one per way of delivering a message (Meta, a terminal, memory, nowhere)."""
