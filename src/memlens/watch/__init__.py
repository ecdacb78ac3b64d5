"""The live pipeline: sampler, tick consumers, the live view and the hub, assembled
by one session (see docs/architecture.md)."""
