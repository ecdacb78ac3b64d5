"""Text and data from outside memlens: secrets redacted and control characters made
visible, each by one rule set (see docs/security.md)."""
