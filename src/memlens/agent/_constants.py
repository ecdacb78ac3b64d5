"""Numbers that the agent's modules share, in a leaf that imports nothing, so that the
registry entry, the wire format, the server and its connections can each name them
without importing one another (and a starting agent loads no more than it needs)."""

# The wire protocol's version; the registry entry that a starting agent writes names it.
PROTOCOL_VERSION = 1

FRAME_TIMEOUT_S = 10.0  # to finish a frame once begun, or to take an answer
HOUSEKEEP_S = 10.0  # how often an idle connection's thread looks at idle gc viewers
