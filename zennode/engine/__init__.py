"""Pure, deterministic BPMN engine: no sockets, threads, clocks or LMDB in here."""
