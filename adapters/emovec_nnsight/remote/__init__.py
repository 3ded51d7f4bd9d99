"""The nnsight adapter's remote client: emovec on models hosted by NDIF.

`RemoteNNsightBackend` (`_backend`) meets the same `emovec.Backend` contract as the local
adapters, one request per call. Around it: compiling edits and reducers to plain tensors
(`_compile`), the torch-only trace bodies (`_trace`, `_unembed`), the preflight that checks a
block before it is sent (`_preflight`, `_preflight_values`, `_whitelist`) in an isolated
sandbox process (`_sandbox`, `_server`, `_rules`, `_standin`), a rehearsal on a shrunken
stand-in (`_rehearsal`), transports with retries (`_transport`, `_connect`, `_errors`),
turning a remote generation back into the local loop's result (`_replay`) and capturing a
corpus in few requests (`_corpus`). The names users need are re-exported by `emovec_nnsight`.
"""
