"""Remote tracing on NDIF, checked against the strict local stand-in (emovec_nnsight.Sandbox)."""
